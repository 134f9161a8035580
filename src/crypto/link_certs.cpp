#include "crypto/link_certs.h"

#include <openssl/x509.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "crypto/crypto.h"
#include "crypto/tor_cert.h"

namespace tc::crypto {

namespace {
constexpr std::string_view kCrossCertPrefix = "Tor TLS RSA/Ed25519 cross-certificate";
// C tor's X.509 lifetime slop (TOR_X509_PAST_SLOP, TOR_X509_FUTURE_SLOP).
constexpr time_t kX509PastSlop = 2 * 24 * 60 * 60;
constexpr time_t kX509FutureSlop = 30 * 24 * 60 * 60;

struct X509Free {
  void operator()(X509 *x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

Error cert_error(ErrorKind k, const char *which, const std::string &msg) {
  return Error(k, std::string("CERTS cell: ") + which + ": " + msg);
}

// The RSA identity certificate (type 2): DER X.509, self-signed, RSA-1024,
// currently valid. Returns the identity key.
Result<RsaPublicKey> check_rsa_id_cert(ByteSpan der, time_t now) {
  constexpr const char *kWhich = "RSA identity certificate (type 2)";
  const unsigned char *p = der.data();
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert) return cert_error(ErrorKind::kMalformed, kWhich, "not a DER X.509 certificate");
  if (p != der.data() + der.size())
    return cert_error(ErrorKind::kMalformed, kWhich, "trailing bytes after the certificate");
  EVP_PKEY *pkey = X509_get0_pubkey(cert.get());
  if (!pkey || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA)
    return cert_error(ErrorKind::kCrypto, kWhich, "key is not RSA");
  if (EVP_PKEY_get_bits(pkey) != 1024)
    return cert_error(ErrorKind::kCrypto, kWhich,
                      "RSA key is " + std::to_string(EVP_PKEY_get_bits(pkey)) + " bits, expected 1024");
  if (X509_verify(cert.get(), pkey) != 1)
    return cert_error(ErrorKind::kCrypto, kWhich, "bad self-signature");
  // notAfter may be up to 2 days past; notBefore up to 30 days ahead.
  time_t not_after_limit = now - kX509PastSlop;
  time_t not_before_limit = now + kX509FutureSlop;
  const ASN1_TIME *nb = X509_get0_notBefore(cert.get());
  const ASN1_TIME *na = X509_get0_notAfter(cert.get());
  if (!nb || !na) return cert_error(ErrorKind::kMalformed, kWhich, "missing validity dates");
  int c_after = X509_cmp_time(na, &not_after_limit);
  int c_before = X509_cmp_time(nb, &not_before_limit);
  if (c_after == 0 || c_before == 0) return cert_error(ErrorKind::kMalformed, kWhich, "unreadable validity dates");
  if (c_after < 0) return cert_error(ErrorKind::kCrypto, kWhich, "expired (notAfter is in the past)");
  if (c_before > 0) return cert_error(ErrorKind::kCrypto, kWhich, "not yet valid (notBefore is in the future)");

  // The identity digest is SHA-1 of the PKCS#1 RSAPublicKey DER (tor-spec §0.3).
  unsigned char *pkcs1 = nullptr;
  int len = i2d_PublicKey(pkey, &pkcs1);
  if (len <= 0) return cert_error(ErrorKind::kCrypto, kWhich, "cannot encode RSA key");
  Bytes key_der(pkcs1, pkcs1 + len);
  OPENSSL_free(pkcs1);
  auto key = RsaPublicKey::from_pkcs1_der(key_der);
  if (!key.ok()) return std::move(key).error().context(std::string("CERTS cell: ") + kWhich);
  return key;
}

// Parses a type-4/5 Ed25519 certificate and checks that its own CERT_TYPE
// matches the CERTS slot it came in.
Result<TorCert> parse_ed_cert(ByteSpan body, uint8_t expected_type, const char *which) {
  auto c = parse_tor_cert(body);
  if (!c.ok()) return std::move(c).error().context(std::string("CERTS cell: ") + which);
  if (c->cert_type != expected_type)
    return cert_error(ErrorKind::kMalformed, which,
                      "certificate says type " + std::to_string(c->cert_type) + ", expected " +
                          std::to_string(expected_type));
  return c;
}
}  // namespace

Result<std::vector<CertsCellEntry>> parse_certs_cell(ByteSpan certs_payload) {
  Reader r(certs_payload, "CERTS cell");
  TC_TRY(uint8_t n, r.u8());
  std::vector<CertsCellEntry> out;
  out.reserve(n);
  for (unsigned i = 0; i < n; ++i) {
    auto type = r.u8();
    auto len = type.ok() ? r.u16() : Result<uint16_t>(type.error());
    auto body = len.ok() ? r.take(*len) : Result<ByteSpan>(len.error());
    if (!body.ok()) return std::move(body).error().context("certificate " + std::to_string(i));
    out.push_back({*type, *body});
  }
  return out;
}

Result<RsaEdCrossCert> parse_rsa_ed_crosscert(ByteSpan body) {
  Reader r(body, "RSA->Ed25519 cross-certificate");
  RsaEdCrossCert c;
  TC_TRY(c.ed_key, r.array<32>());
  TC_TRY(c.expiration_hours, r.u32());
  c.signed_part = body.subspan(0, r.position());
  TC_TRY(uint8_t siglen, r.u8());
  TC_TRY(c.signature, r.take(siglen));
  TC_TRY_VOID(r.expect_end());
  return c;
}

Result<RelayLinkIdentity> validate_relay_certs(ByteSpan certs_payload, ByteSpan tls_peer_cert_der, time_t now) {
  TC_TRY(auto entries, parse_certs_cell(certs_payload));
  // At most one certificate of each known type (§4.2); C tor closes the
  // channel on a duplicate. Unknown types are ignored.
  std::optional<ByteSpan> slot[8];
  for (const auto &e : entries) {
    if (e.cert_type < 1 || e.cert_type > 7) continue;
    if (slot[e.cert_type])
      return Error(ErrorKind::kProtocol, "CERTS cell: duplicate certificate of type " + std::to_string(e.cert_type));
    slot[e.cert_type] = e.body;
  }
  static const char *const kNames[8] = {"",
                                        "",
                                        "RSA identity certificate (type 2)",
                                        "",
                                        "identity->signing certificate (type 4)",
                                        "signing->link certificate (type 5)",
                                        "",
                                        "RSA->Ed25519 cross-certificate (type 7)"};
  for (uint8_t t : {kCertsTypeRsaId, kCertsTypeEdIdSigning, kCertsTypeEdSigningLink, kCertsTypeRsaEdCross})
    if (!slot[t]) return Error(ErrorKind::kProtocol, std::string("CERTS cell: missing ") + kNames[t]);

  // Type 4: the Ed25519 identity signs the medium-term signing key, and names
  // itself in the signed-with-key extension.
  const char *w4 = kNames[kCertsTypeEdIdSigning];
  TC_TRY(TorCert id_signing, parse_ed_cert(*slot[kCertsTypeEdIdSigning], kCertTypeIdSigning, w4));
  if (!id_signing.signing_key)
    return cert_error(ErrorKind::kCrypto, w4, "no signed-with-ed25519-key extension (identity key)");
  if (id_signing.key_type != kCertKeyTypeEd25519)
    return cert_error(ErrorKind::kMalformed, w4, "certified key type " + std::to_string(id_signing.key_type) +
                                                     " is not Ed25519");
  const std::array<uint8_t, 32> ed_id = *id_signing.signing_key;
  const std::array<uint8_t, 32> signing_key = id_signing.certified_key;

  // Type 5: the signing key certifies SHA-256 of the TLS certificate. Key
  // type 03 per cert-spec A.4; relays before 0.4.5.1-alpha wrote 01.
  const char *w5 = kNames[kCertsTypeEdSigningLink];
  TC_TRY(TorCert signing_link, parse_ed_cert(*slot[kCertsTypeEdSigningLink], kCertTypeSigningLink, w5));
  if (signing_link.key_type != kCertKeyTypeSha256X509 && signing_link.key_type != kCertKeyTypeEd25519)
    return cert_error(ErrorKind::kMalformed, w5, "certified key type " + std::to_string(signing_link.key_type) +
                                                     " is not a SHA-256 of an X.509 certificate");

  // Expiry first, as C tor does, then the link binding, then signatures.
  if (id_signing.expired(now)) return cert_error(ErrorKind::kCrypto, w4, "expired");
  if (signing_link.expired(now)) return cert_error(ErrorKind::kCrypto, w5, "expired");
  Sha256Digest tls_digest = sha256(tls_peer_cert_der);
  if (!ct_equal(tls_digest, signing_link.certified_key))
    return cert_error(ErrorKind::kCrypto, w5, "certified digest does not match the TLS certificate");
  if (auto s = verify_tor_cert(id_signing, ed_id, now); !s.ok())
    return std::move(s).error().context(std::string("CERTS cell: ") + w4);
  if (auto s = verify_tor_cert(signing_link, signing_key, now); !s.ok())
    return std::move(s).error().context(std::string("CERTS cell: ") + w5);

  // Type 2: the legacy RSA identity.
  TC_TRY(RsaPublicKey rsa_id, check_rsa_id_cert(*slot[kCertsTypeRsaId], now));

  // Type 7: the RSA identity vouches for the Ed25519 identity (cert-spec §2.3).
  const char *w7 = kNames[kCertsTypeRsaEdCross];
  auto cross = parse_rsa_ed_crosscert(*slot[kCertsTypeRsaEdCross]);
  if (!cross.ok()) return std::move(cross).error().context(std::string("CERTS cell: ") + w7);
  if (!ct_equal(cross->ed_key, ed_id))
    return cert_error(ErrorKind::kCrypto, w7, "certifies a different Ed25519 identity than type 4");
  if (static_cast<int64_t>(now) > int64_t{cross->expiration_hours} * 3600)
    return cert_error(ErrorKind::kCrypto, w7, "expired");
  Digest d(Digest::Algo::kSha256);
  d.update(as_bytes(kCrossCertPrefix));
  d.update(cross->signed_part);
  Bytes digest = d.peek();
  if (!rsa_id.verify_digest(digest, cross->signature))
    return cert_error(ErrorKind::kCrypto, w7, "bad RSA signature");

  RelayLinkIdentity id;
  id.rsa_id = rsa_id.fingerprint();
  id.ed_id = ed_id;
  return id;
}

}  // namespace tc::crypto
