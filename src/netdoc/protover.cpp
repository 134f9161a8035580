#include "netdoc/protover.h"

#include <optional>

namespace tc::netdoc {

namespace {
constexpr const char *kNames[] = {"Cons",   "Desc",      "DirCache", "FlowCtrl", "HSDir",
                                  "HSIntro", "HSRend",   "Link",     "LinkAuth", "Microdesc",
                                  "Padding", "Relay",    "Conflux"};
static_assert(std::size(kNames) == static_cast<size_t>(Protocol::kCount));

std::optional<size_t> lookup(std::string_view name) {
  for (size_t i = 0; i < std::size(kNames); ++i)
    if (name == kNames[i]) return i;
  return std::nullopt;
}

bool parse_uint(std::string_view s, unsigned *out) {
  if (s.empty() || s.size() > 3) return false;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  *out = v;
  return true;
}

// "1-3,5" -> bitmask
Result<uint64_t> parse_ranges(std::string_view name, std::string_view s) {
  uint64_t mask = 0;
  while (!s.empty()) {
    size_t comma = s.find(',');
    std::string_view part = s.substr(0, comma);
    s = comma == std::string_view::npos ? std::string_view{} : s.substr(comma + 1);
    if (comma != std::string_view::npos && s.empty())
      return Error(ErrorKind::kMalformed, "protocol " + std::string(name) + ": trailing comma");
    size_t dash = part.find('-');
    unsigned lo, hi;
    if (dash == std::string_view::npos) {
      if (!parse_uint(part, &lo)) goto bad;
      hi = lo;
    } else if (!parse_uint(part.substr(0, dash), &lo) || !parse_uint(part.substr(dash + 1), &hi) || hi < lo) {
      goto bad;
    }
    if (hi > Protocols::kMaxVersion)
      return Error(ErrorKind::kMalformed, "protocol " + std::string(name) + ": version " + std::to_string(hi) +
                                              " above " + std::to_string(Protocols::kMaxVersion));
    mask |= (hi == 63 ? ~uint64_t{0} : ((uint64_t{1} << (hi + 1)) - 1)) & ~((uint64_t{1} << lo) - 1);
    continue;
  bad:
    return Error(ErrorKind::kMalformed,
                 "protocol " + std::string(name) + ": bad version range '" + std::string(part) + "'");
  }
  return mask;
}

std::string format_ranges(uint64_t m) {
  std::string out;
  for (unsigned v = 0; v <= 63;) {
    if (!(m >> v & 1)) {
      ++v;
      continue;
    }
    unsigned e = v;
    while (e < 63 && (m >> (e + 1) & 1)) ++e;
    if (!out.empty()) out.push_back(',');
    out += std::to_string(v);
    if (e > v) out.append("-").append(std::to_string(e));
    v = e + 1;
  }
  return out;
}

// Walks "Name=ranges" entries separated by spaces.
template <typename F>
Status for_each_entry(std::string_view s, F &&f) {
  while (!s.empty()) {
    size_t sp = s.find_first_of(" \t");
    std::string_view e = s.substr(0, sp);
    s = sp == std::string_view::npos ? std::string_view{} : s.substr(sp + 1);
    if (e.empty()) continue;
    size_t eq = e.find('=');
    if (eq == std::string_view::npos || eq == 0)
      return Error(ErrorKind::kMalformed, "protocol entry '" + std::string(e) + "' is not Name=versions");
    TC_TRY_VOID(f(e.substr(0, eq), e.substr(eq + 1), e));
  }
  return {};
}
}  // namespace

const char *protocol_name(Protocol p) {
  size_t i = static_cast<size_t>(p);
  return i < std::size(kNames) ? kNames[i] : "?";
}

Result<Protocols> Protocols::parse(std::string_view entries) {
  Protocols p;
  TC_TRY_VOID(for_each_entry(entries, [&](std::string_view name, std::string_view ranges,
                                          std::string_view whole) -> Status {
    TC_TRY(uint64_t mask, parse_ranges(name, ranges));
    if (auto i = lookup(name)) {
      p.known_[*i] |= mask;
    } else {
      if (!p.unknown_.empty()) p.unknown_.push_back(' ');
      p.unknown_.append(whole);
    }
    return {};
  }));
  return p;
}

bool Protocols::supports(std::string_view name, unsigned version) const {
  if (version > kMaxVersion) return false;
  if (auto i = lookup(name)) return (known_[*i] >> version & 1) != 0;
  bool found = false;
  (void)for_each_entry(unknown_, [&](std::string_view n, std::string_view ranges, std::string_view) -> Status {
    if (n == name) {
      auto m = parse_ranges(n, ranges);
      if (m.ok() && (*m >> version & 1)) found = true;
    }
    return {};
  });
  return found;
}

bool Protocols::supports_all(const Protocols &required, std::string *missing) const {
  bool ok = true;
  for (size_t i = 0; i < known_.size(); ++i) {
    uint64_t lack = required.known_[i] & ~known_[i];
    if (lack) {
      ok = false;
      if (missing) {
        if (!missing->empty()) missing->push_back(' ');
        *missing += std::string(kNames[i]) + "=" + format_ranges(lack);
      }
    }
  }
  (void)for_each_entry(required.unknown_, [&](std::string_view n, std::string_view ranges,
                                              std::string_view whole) -> Status {
    auto m = parse_ranges(n, ranges);
    if (!m.ok()) return {};
    for (unsigned v = 0; v <= kMaxVersion; ++v) {
      if ((*m >> v & 1) && !supports(n, v)) {
        ok = false;
        if (missing) {
          if (!missing->empty()) missing->push_back(' ');
          missing->append(whole);
        }
        break;
      }
    }
    return {};
  });
  return ok;
}

std::string Protocols::to_string() const {
  std::string out;
  for (size_t i = 0; i < known_.size(); ++i) {
    if (!known_[i]) continue;
    if (!out.empty()) out.push_back(' ');
    out += std::string(kNames[i]) + "=" + format_ranges(known_[i]);
  }
  if (!unknown_.empty()) {
    if (!out.empty()) out.push_back(' ');
    out += unknown_;
  }
  return out;
}

bool Protocols::empty() const {
  for (uint64_t k : known_)
    if (k) return false;
  return unknown_.empty();
}

}  // namespace tc::netdoc
