// Tor's Ed25519 certificates (cert-spec §2.1). Parsing and checking only;
// no I/O.
#pragma once
#include <array>
#include <ctime>
#include <optional>

#include "util/bytes.h"
#include "util/error.h"

namespace tc::crypto {

// CERT_TYPE values (cert-spec A.1) and key types (A.4).
inline constexpr uint8_t kCertTypeIdSigning = 4;     // Ed25519 signing key, signed by identity
inline constexpr uint8_t kCertTypeSigningLink = 5;   // TLS link cert digest, signed by signing key
inline constexpr uint8_t kCertTypeSigningAuth = 6;   // AUTHENTICATE key, signed by signing key
inline constexpr uint8_t kCertTypeRsaEdCross = 7;    // RSA->Ed25519 cross-cert (own format)
inline constexpr uint8_t kCertTypeNtorCrossCert = 10;
inline constexpr uint8_t kCertKeyTypeEd25519 = 1;
inline constexpr uint8_t kCertKeyTypeSha256Rsa = 2;
inline constexpr uint8_t kCertKeyTypeSha256X509 = 3;
inline constexpr uint8_t kCertExtSignedWithKey = 4;
inline constexpr uint8_t kCertExtFlagAffectsValidation = 1;

struct TorCert {
  uint8_t cert_type = 0;
  uint32_t expiration_hours = 0;  // HOURS since the epoch
  uint8_t key_type = 0;
  std::array<uint8_t, 32> certified_key{};
  std::optional<std::array<uint8_t, 32>> signing_key;  // extension type 4
  Bytes signed_part;                                   // the first N-64 bytes: what the signature covers
  std::array<uint8_t, 64> signature{};

  // Valid until expiration_hours * 3600 (inclusive, as C tor).
  int64_t expires_at() const { return int64_t{expiration_hours} * 3600; }
  bool expired(time_t now) const { return static_cast<int64_t>(now) > expires_at(); }
};

// Parses one certificate. Refuses version != 1, truncation, trailing bytes,
// a duplicated or malformed signed-with-key extension, and any unknown
// extension flagged AFFECTS_VALIDATION.
Result<TorCert> parse_tor_cert(ByteSpan encoded);

// Checks expiry against `now` and the Ed25519 signature with signing_key32.
// An empty signing_key32 means "the key in the signed-with-key extension"
// (an error if absent); if both are given they must be the same key.
Status verify_tor_cert(const TorCert &cert, ByteSpan signing_key32, time_t now);

}  // namespace tc::crypto
