#include "netdoc/consensus.h"

#include <algorithm>
#include <cstring>

#include "crypto/crypto.h"

namespace tc::netdoc {

namespace {

constexpr std::string_view kFlagNames[] = {"Authority", "BadExit", "Exit",          "Fast",    "Guard",
                                           "HSDir",     "MiddleOnly", "NoEdConsensus", "Running", "Stable",
                                           "StaleDesc", "Sybil",   "V2Dir",         "Valid"};

enum PreambleRule : int {
  kPreVersion,
  kPreVoteStatus,
  kPreMethod,
  kPreValidAfter,
  kPreFreshUntil,
  kPreValidUntil,
  kPreVotingDelay,
  kPreClientVersions,
  kPreServerVersions,
  kPreKnownFlags,
  kPreRecClient,
  kPreRecRelay,
  kPreReqClient,
  kPreReqRelay,
  kPreParams,
  kPreSrvPrev,
  kPreSrvCur,
};
constexpr KeywordRule kPreambleRules[] = {
    {"network-status-version", 1, 1, 1, ObjectRule::kNone},
    {"vote-status", 1, 1, 1, ObjectRule::kNone},
    {"consensus-method", 0, 1, 1, ObjectRule::kNone},
    {"valid-after", 1, 1, 2, ObjectRule::kNone},
    {"fresh-until", 1, 1, 2, ObjectRule::kNone},
    {"valid-until", 1, 1, 2, ObjectRule::kNone},
    {"voting-delay", 1, 1, 2, ObjectRule::kNone},
    {"client-versions", 0, 1, 0, ObjectRule::kNone},
    {"server-versions", 0, 1, 0, ObjectRule::kNone},
    {"known-flags", 1, 1, 0, ObjectRule::kNone},
    {"recommended-client-protocols", 0, 1, 0, ObjectRule::kNone},
    {"recommended-relay-protocols", 0, 1, 0, ObjectRule::kNone},
    {"required-client-protocols", 0, 1, 0, ObjectRule::kNone},
    {"required-relay-protocols", 0, 1, 0, ObjectRule::kNone},
    {"params", 0, 1, 0, ObjectRule::kNone},
    {"shared-rand-previous-value", 0, 1, 2, ObjectRule::kNone},
    {"shared-rand-current-value", 0, 1, 2, ObjectRule::kNone},
};

enum RouterRule : int { kRtR, kRtA, kRtS, kRtV, kRtPr, kRtW, kRtP, kRtM };
constexpr KeywordRule kRouterRulesMd[] = {
    {"r", 1, 1, 7, ObjectRule::kNone},  {"a", 0, KeywordRule::kAny, 1, ObjectRule::kNone},
    {"s", 1, 1, 0, ObjectRule::kNone},  {"v", 0, 1, 0, ObjectRule::kNone},
    {"pr", 0, 1, 0, ObjectRule::kNone}, {"w", 0, 1, 1, ObjectRule::kNone},
    {"p", 0, 1, 2, ObjectRule::kNone},  {"m", 1, 1, 1, ObjectRule::kNone},
};
constexpr KeywordRule kRouterRulesNs[] = {
    {"r", 1, 1, 8, ObjectRule::kNone},  {"a", 0, KeywordRule::kAny, 1, ObjectRule::kNone},
    {"s", 1, 1, 0, ObjectRule::kNone},  {"v", 0, 1, 0, ObjectRule::kNone},
    {"pr", 0, 1, 0, ObjectRule::kNone}, {"w", 0, 1, 1, ObjectRule::kNone},
    {"p", 0, 1, 2, ObjectRule::kNone},  {"m", 0, KeywordRule::kAny, 0, ObjectRule::kNone},
};

enum FooterRule : int { kFtFooter, kFtWeights, kFtSignature };
constexpr KeywordRule kFooterRules[] = {
    {"directory-footer", 0, 1, 0, ObjectRule::kNone},
    {"bandwidth-weights", 0, 1, 0, ObjectRule::kNone},
    {"directory-signature", 1, KeywordRule::kAny, 2, ObjectRule::kRequired},
};

Result<int64_t> item_time(const Item &item) {
  ArgReader r(item.args);
  auto d = r.next(), t = r.next();
  auto v = parse_iso_time(d.value_or(""), t.value_or(""));
  if (!v.ok()) return item_error(item, v.error().message());
  return *v;
}

Result<Protocols> item_protocols(const Item &item) {
  auto p = Protocols::parse(item.args);
  if (!p.ok()) return item_error(item, p.error().message());
  return std::move(p).value();
}

// "Key=Int32 Key=Int32 ..." (params, bandwidth-weights).
Status parse_int_map(const Item &item, std::map<std::string, int32_t, std::less<>> *out) {
  ArgReader r(item.args);
  while (auto a = r.next()) {
    size_t eq = a->find('=');
    int64_t v;
    if (eq == std::string_view::npos || eq == 0 ||
        !parse_int64(a->substr(eq + 1), INT32_MIN, INT32_MAX, &v))
      return item_error(item, "bad entry '" + std::string(*a) + "' (want Keyword=Int32)");
    out->insert_or_assign(std::string(a->substr(0, eq)), static_cast<int32_t>(v));
  }
  return {};
}

bool valid_nickname(std::string_view n) {
  if (n.empty() || n.size() > 19) return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

Result<uint16_t> parse_port(const Item &item, std::string_view s, const char *what) {
  int64_t v;
  if (!parse_int64(s, 0, 65535, &v)) return item_error(item, std::string("bad ") + what + " '" + std::string(s) + "'");
  return static_cast<uint16_t>(v);
}

Status parse_r_line(const Item &item, ConsensusFlavor flavor, RouterStatus *rs) {
  ArgReader r(item.args);
  std::string_view nick = *r.next();
  std::string_view ident = *r.next();
  std::optional<std::string_view> digest;
  if (flavor == ConsensusFlavor::kNs) digest = r.next();
  std::string_view date = *r.next(), time = *r.next(), ip = *r.next(), orport = *r.next(), dirport = *r.next();
  if (!valid_nickname(nick)) return item_error(item, "bad nickname '" + std::string(nick) + "'");
  rs->nickname = nick;
  if (!base64_decode_exact(ident, rs->rsa_identity.data(), 20))
    return item_error(item, "identity '" + std::string(ident) + "' is not 20 bytes of base64");
  if (digest && !base64_decode_exact(*digest, rs->descriptor_digest.data(), 20))
    return item_error(item, "descriptor digest '" + std::string(*digest) + "' is not 20 bytes of base64");
  auto t = parse_iso_time(date, time);
  if (!t.ok()) return item_error(item, t.error().message());
  rs->published = *t;
  if (!parse_ipv4(ip, &rs->ipv4)) return item_error(item, "bad IPv4 address '" + std::string(ip) + "'");
  TC_TRY(rs->or_port, parse_port(item, orport, "ORPort"));
  TC_TRY(rs->dir_port, parse_port(item, dirport, "DirPort"));
  if (rs->or_port == 0) return item_error(item, "ORPort is 0");
  return {};
}

Status parse_w_line(const Item &item, RouterStatus *rs) {
  ArgReader r(item.args);
  while (auto a = r.next()) {
    int64_t v;
    if (a->starts_with("Bandwidth=")) {
      if (!parse_int64(a->substr(10), 0, UINT32_MAX, &v))
        return item_error(item, "bad '" + std::string(*a) + "'");
      rs->bandwidth = static_cast<uint32_t>(v);
      rs->has_bandwidth = true;
    } else if (*a == "Unmeasured=1") {
      rs->unmeasured = true;
    }  // Measured= (votes) and unknown keywords: ignored (§3.4.1)
  }
  if (!rs->has_bandwidth) return item_error(item, "missing Bandwidth=");
  return {};
}

}  // namespace

uint16_t relay_flag_from_name(std::string_view name) {
  for (size_t i = 0; i < std::size(kFlagNames); ++i)
    if (kFlagNames[i] == name) return static_cast<uint16_t>(1u << i);
  return 0;
}

std::string relay_flags_to_string(uint16_t flags) {
  std::string out;
  for (size_t i = 0; i < std::size(kFlagNames); ++i) {
    if (!(flags >> i & 1)) continue;
    if (!out.empty()) out.push_back(' ');
    out.append(kFlagNames[i]);
  }
  return out;
}

Result<Consensus> Consensus::parse(std::string text_in) {
  Consensus c;
  c.text_ = std::make_shared<const std::string>(std::move(text_in));
  const std::string_view text = *c.text_;

  enum class Section { kPreamble, kAuthority, kRouters, kFooter };
  Section section = Section::kPreamble;
  Tokenizer tok(text, {.allow_annotations = false, .first_line = 1, .what = "consensus"});
  SectionChecker pre(kPreambleRules, "consensus preamble");
  SectionChecker footer(kFooterRules, "consensus footer");
  std::optional<SectionChecker> router;
  RouterStatus *rs = nullptr;
  size_t router_start_line = 0;
  size_t footer_line = 0;
  DirSource *ds = nullptr;
  bool first = true;
  bool have_signature = false;
  // Many relays share one "pr" line: parse each distinct text once in a row.
  std::string_view last_pr;
  Protocols last_pr_value;

  c.relays.reserve(std::count(text.begin(), text.end(), '\n') / 6 + 1);

  auto finish_router = [&]() -> Status {
    if (!rs) return {};
    TC_TRY_VOID(router->finish(router_start_line));
    if (c.relays.size() >= 2) {
      const auto &prev = c.relays[c.relays.size() - 2].rsa_identity;
      if (!(prev < rs->rsa_identity))
        return Error(ErrorKind::kMalformed, "consensus: line " + std::to_string(router_start_line) +
                                                ": router entries not sorted by identity (or duplicate)");
    }
    rs = nullptr;
    return {};
  };

  Item item;
  for (;;) {
    TC_TRY(bool more, tok.next(item));
    if (!more) break;
    const std::string_view kw = item.keyword;
    if (first) {
      if (kw != "network-status-version")
        return item_error(item, "a consensus must start with network-status-version");
      first = false;
    }

    // Section changes.
    if (section == Section::kPreamble && kw == "dir-source") {
      TC_TRY_VOID(pre.finish(1));
      section = Section::kAuthority;
    }
    if ((section == Section::kPreamble || section == Section::kAuthority) && kw == "r") {
      if (section == Section::kPreamble) TC_TRY_VOID(pre.finish(1));
      section = Section::kRouters;
      router.emplace(c.flavor == ConsensusFlavor::kNs ? std::span<const KeywordRule>(kRouterRulesNs)
                                                      : std::span<const KeywordRule>(kRouterRulesMd),
                     "router status entry");
    }
    if (section != Section::kFooter && (kw == "directory-footer" || kw == "directory-signature")) {
      if (section == Section::kPreamble) TC_TRY_VOID(pre.finish(1));
      TC_TRY_VOID(finish_router());
      section = Section::kFooter;
      footer_line = item.line;
    }

    switch (section) {
      case Section::kPreamble: {
        TC_TRY(int idx, pre.see(item));
        switch (idx) {
          case kPreVersion: {
            ArgReader r(item.args);
            if (r.next() != "3") return item_error(item, "unsupported network-status-version (want 3)");
            auto fl = r.next();
            if (!fl) c.flavor = ConsensusFlavor::kNs;
            else if (*fl == "microdesc") c.flavor = ConsensusFlavor::kMicrodesc;
            else if (*fl == "ns") c.flavor = ConsensusFlavor::kNs;
            else return item_error(item, "unknown consensus flavour '" + std::string(*fl) + "'");
            break;
          }
          case kPreVoteStatus:
            if (item.args != "consensus")
              return item_error(item, "vote-status is '" + std::string(item.args) + "', not 'consensus'");
            break;
          case kPreMethod: {
            int64_t v;
            if (!parse_int64(*ArgReader(item.args).next(), 1, INT32_MAX, &v))
              return item_error(item, "bad consensus method");
            c.consensus_method = static_cast<int>(v);
            break;
          }
          case kPreValidAfter: { TC_TRY(c.valid_after, item_time(item)); break; }
          case kPreFreshUntil: { TC_TRY(c.fresh_until, item_time(item)); break; }
          case kPreValidUntil: { TC_TRY(c.valid_until, item_time(item)); break; }
          case kPreVotingDelay: {
            ArgReader r(item.args);
            int64_t a, b;
            if (!parse_int64(*r.next(), 0, INT32_MAX, &a) || !parse_int64(*r.next(), 0, INT32_MAX, &b))
              return item_error(item, "bad voting-delay");
            c.vote_seconds = static_cast<int>(a);
            c.dist_seconds = static_cast<int>(b);
            break;
          }
          case kPreClientVersions: c.client_versions = item.args; break;
          case kPreServerVersions: c.server_versions = item.args; break;
          case kPreKnownFlags: {
            ArgReader r(item.args);
            while (auto f = r.next()) c.known_flags.emplace_back(*f);
            break;
          }
          case kPreRecClient: { TC_TRY(c.recommended_client_protocols, item_protocols(item)); break; }
          case kPreRecRelay: { TC_TRY(c.recommended_relay_protocols, item_protocols(item)); break; }
          case kPreReqClient: { TC_TRY(c.required_client_protocols, item_protocols(item)); break; }
          case kPreReqRelay: { TC_TRY(c.required_relay_protocols, item_protocols(item)); break; }
          case kPreParams: TC_TRY_VOID(parse_int_map(item, &c.params)); break;
          default: break;  // shared-rand values and unknown items: not needed by clients
        }
        break;
      }

      case Section::kAuthority: {
        if (kw == "dir-source") {
          auto a = item.split_args();
          if (a.size() < 6) return item_error(item, "needs 6 arguments: nickname identity address IP dirport orport");
          DirSource d;
          d.nickname = a[0];
          d.legacy = d.nickname.ends_with("-legacy");
          auto id = hex_array<20>(a[1]);
          if (!id) return item_error(item, "identity must be 40 hex digits");
          d.identity = *id;
          d.hostname = a[2];
          if (!parse_ipv4(a[3], &d.ipv4)) return item_error(item, "bad IPv4 address '" + std::string(a[3]) + "'");
          TC_TRY(d.dir_port, parse_port(item, a[4], "dirport"));
          TC_TRY(d.or_port, parse_port(item, a[5], "orport"));
          c.dir_sources.push_back(std::move(d));
          ds = &c.dir_sources.back();
        } else if (kw == "contact" || kw == "vote-digest") {
          if (!ds) return item_error(item, "before any dir-source");
          if (kw == "contact") {
            ds->contact = item.args;
          } else {
            if (ds->vote_digest) return item_error(item, "second vote-digest for one dir-source");
            auto v = hex_array<20>(item.args);
            if (!v) return item_error(item, "vote-digest must be 40 hex digits");
            ds->vote_digest = *v;
          }
        }
        break;
      }

      case Section::kRouters: {
        if (kw == "r") {
          TC_TRY_VOID(finish_router());
          router->reset();
          c.relays.emplace_back();
          rs = &c.relays.back();
          rs->line = item.line;
          router_start_line = item.line;
        }
        TC_TRY(int idx, router->see(item));
        switch (idx) {
          case kRtR: TC_TRY_VOID(parse_r_line(item, c.flavor, rs)); break;
          case kRtA: {
            AddrPort ap;
            if (!parse_addr_port(*ArgReader(item.args).next(), &ap))
              return item_error(item, "bad address:port '" + std::string(item.args) + "'");
            if (ap.is_ipv6 && !rs->has_ipv6) {  // only the first IPv6 address counts
              rs->has_ipv6 = true;
              rs->ipv6 = ap.ipv6;
              rs->ipv6_port = ap.port;
            }
            break;
          }
          case kRtS: {
            ArgReader r(item.args);
            while (auto f = r.next()) rs->flags |= relay_flag_from_name(*f);
            break;
          }
          case kRtV: rs->version = item.args; break;
          case kRtPr: {
            if (item.args != last_pr || last_pr.empty()) {
              TC_TRY(last_pr_value, item_protocols(item));
              last_pr = item.args;
            }
            rs->protocols = last_pr_value;
            break;
          }
          case kRtW: TC_TRY_VOID(parse_w_line(item, rs)); break;
          case kRtM:
            if (c.flavor == ConsensusFlavor::kMicrodesc) {
              if (!base64_decode_exact(*ArgReader(item.args).next(), rs->microdesc_digest.data(), 32))
                return item_error(item, "microdescriptor digest is not 32 bytes of base64");
              rs->has_microdesc_digest = true;
            }
            break;
          default: break;  // "p" (ns flavour) and unknown items
        }
        break;
      }

      case Section::kFooter: {
        TC_TRY(int idx, footer.see(item));
        if (have_signature && idx != kFtSignature && idx >= 0)
          return item_error(item, "after directory-signature");
        if (idx == kFtFooter) {
          if (footer.count(kFtWeights) > 0) return item_error(item, "after bandwidth-weights");
          if (!item.args.empty()) return item_error(item, "takes no arguments");
        } else if (idx == kFtWeights) {
          TC_TRY_VOID(parse_int_map(item, &c.bandwidth_weights));
        } else if (idx == kFtSignature) {
          auto a = item.split_args();
          DirectorySignature sig;
          sig.line = item.line;
          size_t i = 0;
          if (a.size() >= 3) sig.algorithm_name = a[i++];
          else sig.algorithm_name = "sha1";  // the default (§3.4.1)
          sig.algorithm = sig.algorithm_name == "sha1"     ? SignatureAlgorithm::kSha1
                          : sig.algorithm_name == "sha256" ? SignatureAlgorithm::kSha256
                                                           : SignatureAlgorithm::kUnknown;
          auto id = hex_array<20>(a[i]);
          auto sk = hex_array<20>(a[i + 1]);
          if (!id) return item_error(item, "identity must be 40 hex digits");
          if (!sk) return item_error(item, "signing-key digest must be 40 hex digits");
          sig.identity = *id;
          sig.signing_key_digest = *sk;
          if (item.object_label != "SIGNATURE")
            return item_error(item, "expected a SIGNATURE object, got '" + std::string(item.object_label) + "'");
          TC_TRY(sig.signature, item.object_bytes());
          if (!have_signature) {
            // Signed through the space after the first "directory-signature".
            static constexpr std::string_view kSig = "directory-signature ";
            if (text.substr(item.start, kSig.size()) != kSig)
              return item_error(item, "keyword not followed by a single space");
            c.signed_end_ = item.start + kSig.size();
          }
          have_signature = true;
          c.signatures.push_back(std::move(sig));
        }
        break;
      }
    }
  }
  if (first) return Error(ErrorKind::kMalformed, "consensus: empty document");
  if (section != Section::kFooter)
    return Error(ErrorKind::kMalformed, "consensus: ends at line " + std::to_string(tok.line()) +
                                            " without a footer or directory-signature");
  TC_TRY_VOID(footer.finish(footer_line));
  if (c.valid_after >= c.fresh_until || c.fresh_until >= c.valid_until)
    return Error(ErrorKind::kMalformed, "consensus: valid-after < fresh-until < valid-until does not hold");
  return c;
}

std::string_view Consensus::signed_part() const { return std::string_view(text()).substr(0, signed_end_); }

const std::string &Consensus::text() const {
  static const std::string kEmpty;
  return text_ ? *text_ : kEmpty;
}

int32_t Consensus::param(std::string_view name, int32_t def, int32_t min, int32_t max) const {
  auto it = params.find(name);
  if (it == params.end()) return def;
  return std::clamp(it->second, min, max);
}

int32_t Consensus::weight(std::string_view name, int32_t def) const {
  auto it = bandwidth_weights.find(name);
  return it == bandwidth_weights.end() ? def : it->second;
}

const RouterStatus *Consensus::find_relay(const Sha1Digest &id) const {
  auto it = std::lower_bound(relays.begin(), relays.end(), id,
                             [](const RouterStatus &r, const Sha1Digest &k) { return r.rsa_identity < k; });
  if (it == relays.end() || it->rsa_identity != id) return nullptr;
  return &*it;
}

SignatureReport Consensus::check_signatures(std::span<const AuthorityCert> certs,
                                            std::span<const Sha1Digest> authority_ids, int64_t now) const {
  SignatureReport rep;
  // Distinct configured authorities.
  std::vector<Sha1Digest> auths(authority_ids.begin(), authority_ids.end());
  std::sort(auths.begin(), auths.end());
  auths.erase(std::unique(auths.begin(), auths.end()), auths.end());
  rep.authorities = auths.size();
  rep.needed = auths.size() / 2 + 1;
  std::vector<bool> counted(auths.size(), false);

  std::optional<Bytes> sha1, sha256;
  const ByteSpan signed_bytes = as_bytes(signed_part());

  for (const DirectorySignature &sig : signatures) {
    SignatureCheck chk;
    chk.line = sig.line;
    chk.identity = sig.identity;
    for (const DirSource &d : dir_sources)
      if (d.identity == sig.identity && !d.legacy) chk.authority = d.nickname;
    auto fail = [&](std::string why) {
      chk.problem = std::move(why);
      rep.checks.push_back(chk);
    };
    auto ai = std::lower_bound(auths.begin(), auths.end(), sig.identity);
    if (ai == auths.end() || *ai != sig.identity) {
      fail("not from a configured authority");
      continue;
    }
    size_t auth_index = static_cast<size_t>(ai - auths.begin());
    if (sig.algorithm == SignatureAlgorithm::kUnknown) {
      fail("unrecognized digest algorithm '" + sig.algorithm_name + "' (ignored)");
      continue;
    }
    if (counted[auth_index]) {
      fail("a second signature from the same authority (counted once)");
      continue;
    }
    const Bytes *digest;
    if (sig.algorithm == SignatureAlgorithm::kSha1) {
      if (!sha1) {
        auto d = crypto::sha1(signed_bytes);
        sha1 = Bytes(d.begin(), d.end());
      }
      digest = &*sha1;
    } else {
      if (!sha256) {
        auto d = crypto::sha256(signed_bytes);
        sha256 = Bytes(d.begin(), d.end());
      }
      digest = &*sha256;
    }
    bool have_cert = false;
    std::string cert_problem;
    bool good = false;
    for (const AuthorityCert &cert : certs) {
      if (cert.fingerprint != sig.identity || cert.signing_key_digest != sig.signing_key_digest) continue;
      have_cert = true;
      Status cs = cert.verify(now);
      if (!cs.ok()) {
        cert_problem = cs.error().message();
        continue;
      }
      if (cert.signing_key.verify_digest(*digest, sig.signature)) {
        good = true;
        break;
      }
      cert_problem = "signature does not match the document's " + sig.algorithm_name + " digest";
    }
    if (!have_cert) {
      fail("no certificate for signing key " + hex_encode(sig.signing_key_digest, true));
      continue;
    }
    if (!good) {
      fail(cert_problem);
      continue;
    }
    counted[auth_index] = true;
    chk.counted = true;
    ++rep.valid;
    rep.checks.push_back(chk);
  }
  for (size_t i = 0; i < auths.size(); ++i)
    if (!counted[i]) rep.unsigned_authorities.push_back(auths[i]);
  return rep;
}

std::string SignatureReport::describe() const {
  std::string out = std::to_string(valid) + " valid authority signature(s), " + std::to_string(needed) +
                    " needed (more than half of " + std::to_string(authorities) + " authorities)";
  for (const SignatureCheck &c : checks) {
    if (c.counted) continue;
    out += "; line " + std::to_string(c.line) + " " + (c.authority.empty() ? "" : c.authority + " ") + "(" +
           hex_encode(c.identity, true) + "): " + c.problem;
  }
  if (!unsigned_authorities.empty()) {
    out += "; no valid signature from";
    for (const Sha1Digest &a : unsigned_authorities) out += " " + hex_encode(a, true);
  }
  return out;
}

Result<SignatureReport> Consensus::verify_signatures(std::span<const AuthorityCert> certs,
                                                     std::span<const Sha1Digest> authority_ids,
                                                     int64_t now) const {
  SignatureReport rep = check_signatures(certs, authority_ids, now);
  if (!rep.enough()) return Error(ErrorKind::kCrypto, "consensus refused: " + rep.describe());
  return rep;
}

}  // namespace tc::netdoc
