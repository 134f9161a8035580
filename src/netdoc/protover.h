// Subprotocol versions ("pr" lines and the recommended/required protocol
// lines; dir-spec §2.1.1 "proto", tor-spec §9): "Link=1-5 Relay=1-4 ...".
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "util/error.h"

namespace tc::netdoc {

enum class Protocol : uint8_t {
  kCons,
  kDesc,
  kDirCache,
  kFlowCtrl,
  kHSDir,
  kHSIntro,
  kHSRend,
  kLink,
  kLinkAuth,
  kMicrodesc,
  kPadding,
  kRelay,
  kConflux,
  kCount,
};
const char *protocol_name(Protocol p);

// Versions 0..63 of each known protocol, as bitmasks; entries with names we
// do not know are kept as text so that lookups by name still work.
class Protocols {
 public:
  static constexpr unsigned kMaxVersion = 63;  // as tor's protover limit
  static Result<Protocols> parse(std::string_view entries);

  uint64_t versions(Protocol p) const { return known_[static_cast<size_t>(p)]; }
  bool supports(Protocol p, unsigned version) const {
    return version <= kMaxVersion && (versions(p) >> version & 1) != 0;
  }
  // By name, including unknown protocols; false if not listed.
  bool supports(std::string_view name, unsigned version) const;
  // Every version listed in `required` is listed here; otherwise `missing`
  // (if given) names what is not, e.g. "Relay=4 Link=5".
  bool supports_all(const Protocols &required, std::string *missing = nullptr) const;
  std::string to_string() const;
  bool empty() const;
  bool operator==(const Protocols &o) const = default;

 private:
  std::array<uint64_t, static_cast<size_t>(Protocol::kCount)> known_{};
  std::string unknown_;  // "Name=ranges" entries, space-separated (rare)
};

}  // namespace tc::netdoc
