// Test-only certificate creation (the library only parses and checks):
// Ed25519 certs per cert-spec §2.1, the RSA->Ed25519 cross-cert per §2.3,
// X.509 certificates with OpenSSL, and whole CERTS payloads (tor-spec §4.2).
#pragma once
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "crypto/crypto.h"
#include "util/bytes.h"

namespace tc::testcerts {

struct Ext {
  uint8_t type, flags;
  Bytes data;
};

// cert-spec §2.1; signed by `signer` (whose key goes in a type-4 extension
// when include_signer).
inline Bytes make_ed_cert(uint8_t cert_type, uint32_t exp_hours, uint8_t key_type, ByteSpan certified32,
                          const crypto::Ed25519Keypair &signer, bool include_signer,
                          const std::vector<Ext> &extra = {}) {
  Bytes out;
  Writer w(out);
  w.u8(1);
  w.u8(cert_type);
  w.u32(exp_hours);
  w.u8(key_type);
  w.bytes(certified32);
  w.u8(static_cast<uint8_t>((include_signer ? 1 : 0) + extra.size()));
  if (include_signer) {
    w.u16(32);
    w.u8(4);
    w.u8(0);
    w.bytes(signer.public_key);
  }
  for (const auto &e : extra) {
    w.u16(static_cast<uint16_t>(e.data.size()));
    w.u8(e.type);
    w.u8(e.flags);
    w.bytes(e.data);
  }
  auto sig = signer.sign(out);
  w.bytes(sig);
  return out;
}

struct PkeyFree {
  void operator()(EVP_PKEY *k) const { EVP_PKEY_free(k); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

inline PkeyPtr rsa_key(unsigned bits) { return PkeyPtr(EVP_RSA_gen(bits)); }

// Tor's RSA signature: PKCS#1 v1.5 padding of the raw digest, no DigestInfo.
inline Bytes rsa_sign_raw(EVP_PKEY *key, ByteSpan digest) {
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, nullptr);
  size_t len = static_cast<size_t>(EVP_PKEY_get_size(key));
  Bytes sig(len);
  bool ok = ctx && EVP_PKEY_sign_init(ctx) == 1 && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
            EVP_PKEY_sign(ctx, sig.data(), &len, digest.data(), digest.size()) == 1;
  EVP_PKEY_CTX_free(ctx);
  if (!ok) return {};
  sig.resize(len);
  return sig;
}

// cert-spec §2.3.
inline Bytes make_crosscert(ByteSpan ed_id32, uint32_t exp_hours, EVP_PKEY *rsa) {
  Bytes out;
  Writer w(out);
  w.bytes(ed_id32);
  w.u32(exp_hours);
  Bytes to_hash;
  Writer h(to_hash);
  h.bytes(std::string_view("Tor TLS RSA/Ed25519 cross-certificate"));
  h.bytes(out);
  auto digest = crypto::sha256(to_hash);
  Bytes sig = rsa_sign_raw(rsa, digest);
  w.u8(static_cast<uint8_t>(sig.size()));
  w.bytes(sig);
  return out;
}

// An X.509 certificate for `subject_key`, signed by `issuer_key`.
inline Bytes make_x509(EVP_PKEY *subject_key, EVP_PKEY *issuer_key, time_t not_before, time_t not_after,
                       const char *cn = "www.example.com") {
  X509 *x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 12345);
  ASN1_TIME_set(X509_getm_notBefore(x), not_before);
  ASN1_TIME_set(X509_getm_notAfter(x), not_after);
  X509_NAME *name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char *>(cn), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509_set_pubkey(x, subject_key);
  X509_sign(x, issuer_key, EVP_sha256());
  unsigned char *der = nullptr;
  int len = i2d_X509(x, &der);
  Bytes out(der, der + (len > 0 ? len : 0));
  OPENSSL_free(der);
  X509_free(x);
  return out;
}

inline Bytes rsa_pkcs1_der(EVP_PKEY *k) {
  unsigned char *der = nullptr;
  int len = i2d_PublicKey(k, &der);
  Bytes out(der, der + (len > 0 ? len : 0));
  OPENSSL_free(der);
  return out;
}

inline Bytes certs_payload(const std::vector<std::pair<uint8_t, Bytes>> &certs) {
  Bytes out;
  Writer w(out);
  w.u8(static_cast<uint8_t>(certs.size()));
  for (const auto &[t, body] : certs) {
    w.u8(t);
    w.u16(static_cast<uint16_t>(body.size()));
    w.bytes(body);
  }
  return out;
}

}  // namespace tc::testcerts
