// Consensus network-status documents (dir-spec §3.4.1), both the
// microdescriptor flavour (§3.9.2, what clients use) and the "ns" flavour,
// and checking their authority signatures.
//
// The document text is kept once (shared, immutable); router entries hold
// views into it (nickname, version) rather than copies.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "netdoc/cert.h"
#include "netdoc/protover.h"
#include "netdoc/tokenize.h"

namespace tc::netdoc {

// Router status flags ("s" line), as bits.
enum RelayFlag : uint16_t {
  kFlagAuthority = 1 << 0,
  kFlagBadExit = 1 << 1,
  kFlagExit = 1 << 2,
  kFlagFast = 1 << 3,
  kFlagGuard = 1 << 4,
  kFlagHSDir = 1 << 5,
  kFlagMiddleOnly = 1 << 6,
  kFlagNoEdConsensus = 1 << 7,
  kFlagRunning = 1 << 8,
  kFlagStable = 1 << 9,
  kFlagStaleDesc = 1 << 10,
  kFlagSybil = 1 << 11,
  kFlagV2Dir = 1 << 12,
  kFlagValid = 1 << 13,
};
// The bit for a flag name; 0 for flags we do not know (ignored).
uint16_t relay_flag_from_name(std::string_view name);
std::string relay_flags_to_string(uint16_t flags);

struct RouterStatus {
  std::string_view nickname;  // view into the consensus text
  Sha1Digest rsa_identity{};  // "r" identity: SHA-1 of the relay's RSA identity key
  int64_t published = 0;
  uint32_t ipv4 = 0;  // host byte order
  uint16_t or_port = 0;
  uint16_t dir_port = 0;
  bool has_ipv6 = false;  // first IPv6 "a" line (others are ignored, §3.4.1)
  uint16_t ipv6_port = 0;
  std::array<uint8_t, 16> ipv6{};
  uint16_t flags = 0;
  bool has_bandwidth = false;
  bool unmeasured = false;
  uint32_t bandwidth = 0;  // "w Bandwidth=" (kilobytes/s, used as a weight)
  bool has_microdesc_digest = false;
  Sha256Digest microdesc_digest{};  // "m" (microdesc flavour)
  Sha1Digest descriptor_digest{};   // "r" digest (ns flavour only)
  std::string_view version;         // "v" line, e.g. "Tor 0.4.7.10" (view)
  Protocols protocols;              // "pr"
  size_t line = 0;                  // of the "r" line

  bool has_flag(uint16_t f) const { return (flags & f) == f; }
};

struct DirSource {
  std::string nickname;  // "-legacy" suffix for legacy keys
  Sha1Digest identity{};  // v3 identity
  std::string hostname;
  uint32_t ipv4 = 0;
  uint16_t dir_port = 0;
  uint16_t or_port = 0;
  std::string contact;
  std::optional<Sha1Digest> vote_digest;
  bool legacy = false;
};

enum class SignatureAlgorithm : uint8_t { kSha1, kSha256, kUnknown };

struct DirectorySignature {
  SignatureAlgorithm algorithm = SignatureAlgorithm::kSha1;
  std::string algorithm_name;  // as written ("sha1" if omitted)
  Sha1Digest identity{};
  Sha1Digest signing_key_digest{};
  Bytes signature;
  size_t line = 0;
};

enum class ConsensusFlavor : uint8_t { kMicrodesc, kNs };

// Outcome for one signature.
struct SignatureCheck {
  size_t line = 0;
  Sha1Digest identity{};
  std::string authority;  // nickname from dir-source, if listed
  bool counted = false;   // valid, from a configured authority, first one from it
  std::string problem;    // why not counted
};

struct SignatureReport {
  size_t authorities = 0;  // configured v3 authorities
  size_t needed = 0;       // more than half of them
  size_t valid = 0;        // distinct authorities with a good signature
  std::vector<SignatureCheck> checks;
  std::vector<Sha1Digest> unsigned_authorities;  // configured, no counted signature
  bool enough() const { return valid >= needed && needed > 0; }
  std::string describe() const;
};

class Consensus {
 public:
  // Parses a whole consensus. Signatures are not checked here.
  static Result<Consensus> parse(std::string text);

  ConsensusFlavor flavor = ConsensusFlavor::kMicrodesc;
  int consensus_method = 0;
  int64_t valid_after = 0;
  int64_t fresh_until = 0;
  int64_t valid_until = 0;
  int vote_seconds = 0;  // voting-delay
  int dist_seconds = 0;
  std::string client_versions;
  std::string server_versions;
  std::vector<std::string> known_flags;
  Protocols recommended_client_protocols;
  Protocols recommended_relay_protocols;
  Protocols required_client_protocols;
  Protocols required_relay_protocols;
  std::map<std::string, int32_t, std::less<>> params;
  std::vector<DirSource> dir_sources;
  std::vector<RouterStatus> relays;  // sorted by identity, as in the document
  std::map<std::string, int32_t, std::less<>> bandwidth_weights;
  std::vector<DirectorySignature> signatures;

  // A consensus parameter with a default and clamping (param-spec).
  int32_t param(std::string_view name, int32_t def, int32_t min, int32_t max) const;
  // A bandwidth weight, or `def` if missing.
  int32_t weight(std::string_view name, int32_t def) const;

  // dir-spec §1.4: live between valid-after and valid-until. "Reasonably live"
  // tolerates 24 hours on either side, as tor does when nothing better exists.
  bool is_live(int64_t now) const { return valid_after <= now && now <= valid_until; }
  bool is_fresh(int64_t now) const { return valid_after <= now && now < fresh_until; }
  bool is_reasonably_live(int64_t now) const {
    return now >= valid_after - kReasonablyLive && now <= valid_until + kReasonablyLive;
  }
  static constexpr int64_t kReasonablyLive = 24 * 60 * 60;

  // The text covered by the signatures: from "network-status-version"
  // through the space after the first "directory-signature" (§3.4.1).
  std::string_view signed_part() const;
  const std::string &text() const;

  // Checks every signature against `certs`. A signature counts when a
  // certificate with its identity and signing-key digest verifies at `now`,
  // the identity is one of `authority_ids` (v3 identities), and the
  // signature over the digest is good; each authority counts once.
  SignatureReport check_signatures(std::span<const AuthorityCert> certs,
                                   std::span<const Sha1Digest> authority_ids, int64_t now) const;
  // As check_signatures, but an error (kCrypto, with the report) unless more
  // than half of the authorities signed.
  Result<SignatureReport> verify_signatures(std::span<const AuthorityCert> certs,
                                            std::span<const Sha1Digest> authority_ids, int64_t now) const;

  // Relay by RSA identity (binary search; entries are sorted).
  const RouterStatus *find_relay(const Sha1Digest &id) const;

 private:
  std::shared_ptr<const std::string> text_;
  size_t signed_end_ = 0;
};

}  // namespace tc::netdoc
