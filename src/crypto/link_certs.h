// Client-side checking of a relay's CERTS cell (tor-spec §4.2, "To
// authenticate the responder as having a given Ed25519,RSA identity key
// combination"). No I/O: the caller supplies the CERTS payload and the DER of
// the TLS certificate the relay presented.
#pragma once
#include <array>
#include <ctime>
#include <vector>

#include "util/bytes.h"
#include "util/error.h"

namespace tc::crypto {

// CertType values of the CERTS cell (tor-spec §4.2).
inline constexpr uint8_t kCertsTypeRsaLink = 1;
inline constexpr uint8_t kCertsTypeRsaId = 2;
inline constexpr uint8_t kCertsTypeRsaAuth = 3;
inline constexpr uint8_t kCertsTypeEdIdSigning = 4;
inline constexpr uint8_t kCertsTypeEdSigningLink = 5;
inline constexpr uint8_t kCertsTypeEdSigningAuth = 6;
inline constexpr uint8_t kCertsTypeRsaEdCross = 7;

struct CertsCellEntry {
  uint8_t cert_type;
  ByteSpan body;  // points into the payload
};
// N [1], then N times: CertType [1], CLEN [2], body [CLEN]. Extra octets
// after the last certificate are ignored (§4.2).
Result<std::vector<CertsCellEntry>> parse_certs_cell(ByteSpan certs_payload);

struct RelayLinkIdentity {
  std::array<uint8_t, 20> rsa_id;  // SHA-1 of the PKCS#1 DER of the RSA identity key
  std::array<uint8_t, 32> ed_id;   // Ed25519 identity key
};

// The RSA->Ed25519 cross-certificate (cert-spec §2.3, CERTS type 7).
struct RsaEdCrossCert {
  std::array<uint8_t, 32> ed_key{};
  uint32_t expiration_hours = 0;
  ByteSpan signed_part;  // ED25519_KEY | EXPIRATION_DATE, into the input
  ByteSpan signature;
};
Result<RsaEdCrossCert> parse_rsa_ed_crosscert(ByteSpan body);

// Checks everything §4.2 requires of a responder's Ed25519+RSA identity:
// exactly one of each of types 2, 4, 5, 7 (and no duplicate of any type 1-7);
// type 4 signed by the identity key in its extension; type 5 certifying
// SHA-256(tls_peer_cert_der) and signed by type 4's signing key; type 2 a
// self-signed X.509 cert with a 1024-bit RSA key, within its validity (with
// C tor's slop: 2 days past notAfter, 30 days before notBefore); type 7
// signed by that RSA key, naming the same Ed25519 identity; nothing expired.
// The caller compares the returned identity with the one it expected.
Result<RelayLinkIdentity> validate_relay_certs(ByteSpan certs_payload, ByteSpan tls_peer_cert_der, time_t now);

}  // namespace tc::crypto
