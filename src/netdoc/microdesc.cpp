#include "netdoc/microdesc.h"

#include <algorithm>
#include <cctype>

namespace tc::netdoc {

// ---- PortPolicy -----------------------------------------------------------

Result<PortPolicy> PortPolicy::parse(std::string_view summary) {
  ArgReader r(summary);
  auto verb = r.next();
  auto list = r.next();
  auto bad = [&](std::string why) {
    return Error(ErrorKind::kMalformed, "policy summary '" + std::string(summary) + "': " + why);
  };
  if (!verb || (*verb != "accept" && *verb != "reject")) return bad("must start with accept or reject");
  if (!list) return bad("missing port list");
  PortPolicy p;
  p.accept_ = *verb == "accept";
  std::string_view s = *list;
  while (true) {
    size_t comma = s.find(',');
    std::string_view part = s.substr(0, comma);
    size_t dash = part.find('-');
    int64_t lo, hi;
    if (dash == std::string_view::npos) {
      if (!parse_int64(part, 1, 65535, &lo)) return bad("bad port '" + std::string(part) + "'");
      hi = lo;
    } else if (!parse_int64(part.substr(0, dash), 1, 65535, &lo) ||
               !parse_int64(part.substr(dash + 1), 1, 65535, &hi) || hi < lo) {
      return bad("bad port range '" + std::string(part) + "'");
    }
    p.ranges_.push_back({static_cast<uint16_t>(lo), static_cast<uint16_t>(hi)});
    if (comma == std::string_view::npos) break;
    s = s.substr(comma + 1);
  }
  std::sort(p.ranges_.begin(), p.ranges_.end(), [](const Range &a, const Range &b) { return a.lo < b.lo; });
  std::vector<Range> merged;
  for (const Range &rg : p.ranges_) {
    if (!merged.empty() && rg.lo <= static_cast<uint32_t>(merged.back().hi) + 1)
      merged.back().hi = std::max(merged.back().hi, rg.hi);
    else
      merged.push_back(rg);
  }
  p.ranges_ = std::move(merged);
  return p;
}

bool PortPolicy::allows(uint16_t port) const {
  if (port == 0) return false;
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), port,
                             [](uint16_t v, const Range &r) { return v < r.lo; });
  bool listed = it != ranges_.begin() && port <= std::prev(it)->hi;
  return listed == accept_;
}

bool PortPolicy::allows_some() const {
  if (accept_) return !ranges_.empty();
  return !(ranges_.size() == 1 && ranges_[0].lo == 1 && ranges_[0].hi == 65535);
}

std::string PortPolicy::to_string() const {
  if (accept_ && ranges_.empty()) return "reject 1-65535";
  std::string out = accept_ ? "accept " : "reject ";
  for (size_t i = 0; i < ranges_.size(); ++i) {
    if (i) out.push_back(',');
    out += std::to_string(ranges_[i].lo);
    if (ranges_[i].hi != ranges_[i].lo) out.append("-").append(std::to_string(ranges_[i].hi));
  }
  return out;
}

// ---- Microdesc ------------------------------------------------------------

namespace {

enum MdRule : int { kOnionKey, kNtor, kA, kFamily, kP, kP6, kId };
constexpr KeywordRule kMdRules[] = {
    {"onion-key", 0, 1, 0, ObjectRule::kRequired},
    {"ntor-onion-key", 0, 1, 1, ObjectRule::kNone},
    {"a", 0, KeywordRule::kAny, 1, ObjectRule::kNone},
    {"family", 0, 1, 0, ObjectRule::kNone},
    {"p", 0, 1, 2, ObjectRule::kNone},
    {"p6", 0, 1, 2, ObjectRule::kNone},
    {"id", 0, KeywordRule::kAny, 2, ObjectRule::kNone},
};

bool valid_nickname(std::string_view n) {
  if (n.empty() || n.size() > 19) return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

}  // namespace

Result<Microdesc> Microdesc::parse(std::string_view text, size_t first_line) {
  Microdesc md;
  md.line = first_line;
  Tokenizer tok(text, {.allow_annotations = false, .first_line = first_line, .what = "microdescriptor"});
  SectionChecker rules(kMdRules, "microdescriptor");
  Item item;
  bool first = true;
  bool seen_ed = false, seen_rsa = false;
  for (;;) {
    TC_TRY(bool more, tok.next(item));
    if (!more) break;
    TC_TRY(int idx, rules.see(item));
    if (first && idx != kOnionKey && idx != kNtor)
      return item_error(item, "a microdescriptor starts with onion-key or ntor-onion-key");
    if (!first && idx == kOnionKey) return item_error(item, "onion-key must be the first item");
    first = false;
    switch (idx) {
      case kOnionKey: {
        if (item.object_label != "RSA PUBLIC KEY")
          return item_error(item, "expected an RSA PUBLIC KEY object, got '" + std::string(item.object_label) + "'");
        TC_TRY(md.onion_key_der, item.object_bytes());
        break;
      }
      case kNtor: {
        auto k = base64_array<32>(*ArgReader(item.args).next());
        if (!k) return item_error(item, "not a base64 curve25519 key (32 bytes)");
        md.ntor_onion_key = *k;
        break;
      }
      case kA: {
        AddrPort ap;
        if (!parse_addr_port(*ArgReader(item.args).next(), &ap))
          return item_error(item, "bad address:port '" + std::string(item.args) + "'");
        md.addresses.push_back(ap);
        break;
      }
      case kFamily: {
        ArgReader r(item.args);
        while (auto e = r.next()) {
          std::string_view s = *e;
          if (s.starts_with("$")) {
            // "$HEX", "$HEX=name", "$HEX~name": the identity is what matters.
            auto id = hex_array<20>(s.substr(1, 40));
            if (s.size() >= 41 && id && (s.size() == 41 || s[41] == '=' || s[41] == '~'))
              md.family_ids.push_back(*id);
          } else if (valid_nickname(s)) {
            std::string n(s);
            for (char &ch : n) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            md.family_nicknames.push_back(std::move(n));
          }  // anything else: unchanged by tor's canonicalization, meaningless to us
        }
        std::sort(md.family_ids.begin(), md.family_ids.end());
        break;
      }
      case kP:
      case kP6: {
        auto p = PortPolicy::parse(item.args);
        if (!p.ok()) return item_error(item, p.error().message());
        (idx == kP ? md.ipv4_policy : md.ipv6_policy) = std::move(p).value();
        break;
      }
      case kId: {
        ArgReader r(item.args);
        std::string_view type = *r.next(), value = *r.next();
        if (type == "ed25519") {
          if (seen_ed) return item_error(item, "second 'id ed25519'");
          seen_ed = true;
          auto k = base64_array<32>(value);
          if (!k) return item_error(item, "ed25519 identity is not 32 bytes of base64");
          md.ed25519_id = *k;
        } else if (type == "rsa1024") {
          if (seen_rsa) return item_error(item, "second 'id rsa1024'");
          seen_rsa = true;
          auto k = base64_array<20>(value);
          if (!k) return item_error(item, "rsa1024 identity digest is not 20 bytes of base64");
          md.rsa1024_id = *k;
        }  // unknown key types: ignored (§3.3)
        break;
      }
      default: break;  // unknown items (family-ids, pr, ...): ignored
    }
  }
  if (first) return Error(ErrorKind::kMalformed, "microdescriptor at line " + std::to_string(first_line) + ": empty");
  TC_TRY_VOID(rules.finish(first_line));
  md.digest = crypto::sha256(as_bytes(text));
  return md;
}

Result<crypto::RsaPublicKey> Microdesc::onion_key() const {
  if (onion_key_der.empty()) return Error(ErrorKind::kNotFound, "microdescriptor has no onion-key");
  return crypto::RsaPublicKey::from_pkcs1_der(onion_key_der);
}

bool Microdesc::lists_in_family(const Sha1Digest &id, std::string_view nickname) const {
  if (std::binary_search(family_ids.begin(), family_ids.end(), id)) return true;
  if (family_nicknames.empty() || nickname.empty()) return false;
  for (const std::string &n : family_nicknames) {
    if (n.size() != nickname.size()) continue;
    bool eq = true;
    for (size_t i = 0; i < n.size() && eq; ++i)
      eq = n[i] == std::tolower(static_cast<unsigned char>(nickname[i]));
    if (eq) return true;
  }
  return false;
}

namespace {

template <typename OnMd>
Status split_microdescs(std::string_view text, OnMd &&on_md) {
  Tokenizer tok(text, {.allow_annotations = true, .first_line = 1, .what = "microdescriptors"});
  Item item;
  bool open = false;
  size_t start = 0, end = 0, start_line = 0;
  std::string_view prev_kw;
  auto close = [&]() {
    if (open) on_md(text.substr(start, end - start), start_line);
    open = false;
  };
  for (;;) {
    TC_TRY(bool more, tok.next(item));
    if (!more) break;
    if (item.keyword.starts_with("@")) {  // annotations belong to no digest
      close();
      prev_kw = item.keyword;
      continue;
    }
    bool starts = item.keyword == "onion-key" || (item.keyword == "ntor-onion-key" && prev_kw != "onion-key");
    if (starts) {
      close();
      open = true;
      start = item.start;
      start_line = item.line;
    } else if (!open) {
      return item_error(item, "expected onion-key or ntor-onion-key at the start of a microdescriptor");
    }
    end = item.end;
    prev_kw = item.keyword;
  }
  close();
  return {};
}

}  // namespace

Result<std::vector<Microdesc>> parse_microdescs(std::string_view text) {
  std::vector<Microdesc> out;
  std::optional<Error> err;
  TC_TRY_VOID(split_microdescs(text, [&](std::string_view one, size_t line) {
    if (err) return;
    auto md = Microdesc::parse(one, line);
    if (!md.ok()) {
      err = std::move(md).error();
      return;
    }
    md->text_offset = static_cast<size_t>(one.data() - text.data());
    md->text_length = one.size();
    out.push_back(std::move(md).value());
  }));
  if (err) return *err;
  return out;
}

MicrodescBatch parse_microdescs_lenient(std::string_view text) {
  MicrodescBatch b;
  Status s = split_microdescs(text, [&](std::string_view one, size_t line) {
    auto md = Microdesc::parse(one, line);
    if (!md.ok()) {
      b.errors.push_back(std::move(md).error());
      return;
    }
    md->text_offset = static_cast<size_t>(one.data() - text.data());
    md->text_length = one.size();
    b.microdescs.push_back(std::move(md).value());
  });
  if (!s.ok()) b.errors.push_back(std::move(s).error());
  return b;
}

CompactedJournal compact_microdesc_journal(std::string_view journal, std::vector<Microdesc> mds,
                                           const std::set<Sha256Digest> &keep) {
  CompactedJournal out;
  std::set<Sha256Digest> seen;
  for (auto &md : mds) {
    if (!keep.count(md.digest) || md.text_offset + md.text_length > journal.size()) continue;
    if (!seen.insert(md.digest).second) continue;
    std::string_view t = journal.substr(md.text_offset, md.text_length);
    md.text_offset = out.text.size();
    md.text_length = t.size();
    out.text.append(t);
    // The digested text ends with its last newline; keep documents apart
    // even if one was cut short (the next parse would then reject it).
    if (t.empty() || t.back() != '\n') out.text.push_back('\n');
    out.microdescs.push_back(std::move(md));
  }
  return out;
}

}  // namespace tc::netdoc
