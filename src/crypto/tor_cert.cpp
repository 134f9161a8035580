#include "crypto/tor_cert.h"

#include <string>

#include "crypto/crypto.h"

namespace tc::crypto {

Result<TorCert> parse_tor_cert(ByteSpan encoded) {
  Reader r(encoded, "Ed25519 certificate");
  TorCert c;
  TC_TRY(uint8_t version, r.u8());
  if (version != 1)
    return Error(ErrorKind::kMalformed, "Ed25519 certificate: unknown version " + std::to_string(version));
  TC_TRY(c.cert_type, r.u8());
  TC_TRY(c.expiration_hours, r.u32());
  TC_TRY(c.key_type, r.u8());
  TC_TRY(c.certified_key, r.array<32>());
  TC_TRY(uint8_t n_ext, r.u8());
  for (unsigned i = 0; i < n_ext; ++i) {
    size_t at = r.position();
    auto where = [&] { return "Ed25519 certificate: extension " + std::to_string(i) + " at offset " +
                              std::to_string(at); };
    auto len = r.u16();
    if (!len.ok()) return std::move(len).error().context(where());
    auto type = r.u8();
    auto flags = type.ok() ? r.u8() : Result<uint8_t>(type.error());
    if (!flags.ok()) return std::move(flags).error().context(where());
    auto data = r.take(*len);
    if (!data.ok()) return std::move(data).error().context(where());
    if (*type == kCertExtSignedWithKey) {
      if (c.signing_key)
        return Error(ErrorKind::kMalformed, where() + ": duplicate signed-with-ed25519-key extension");
      if (data->size() != 32)
        return Error(ErrorKind::kMalformed, where() + ": signed-with-ed25519-key extension is " +
                                                std::to_string(data->size()) + " bytes, expected 32");
      std::array<uint8_t, 32> k;
      std::copy(data->begin(), data->end(), k.begin());
      c.signing_key = k;
    } else if (*flags & kCertExtFlagAffectsValidation) {
      return Error(ErrorKind::kMalformed, where() + ": unknown extension type " + std::to_string(*type) +
                                              " flagged AFFECTS_VALIDATION");
    }
  }
  size_t signed_len = r.position();
  TC_TRY(c.signature, r.array<64>());
  TC_TRY_VOID(r.expect_end());
  c.signed_part.assign(encoded.begin(), encoded.begin() + static_cast<std::ptrdiff_t>(signed_len));
  return c;
}

Status verify_tor_cert(const TorCert &cert, ByteSpan signing_key32, time_t now) {
  std::string what = "Ed25519 certificate (type " + std::to_string(cert.cert_type) + ")";
  ByteSpan key = signing_key32;
  if (key.empty()) {
    if (!cert.signing_key)
      return Error(ErrorKind::kCrypto, what + ": no signing key given and none included");
    key = *cert.signing_key;
  } else if (key.size() != 32) {
    return Error(ErrorKind::kInvalidArgument, what + ": signing key must be 32 bytes");
  } else if (cert.signing_key && !ct_equal(key, *cert.signing_key)) {
    return Error(ErrorKind::kCrypto, what + ": included signing key is not the expected signing key");
  }
  if (cert.expired(now))
    return Error(ErrorKind::kCrypto, what + ": expired at " + std::to_string(cert.expires_at()) +
                                         " (now " + std::to_string(static_cast<int64_t>(now)) + ")");
  if (!ed25519_verify(key, cert.signed_part, cert.signature))
    return Error(ErrorKind::kCrypto, what + ": bad signature");
  return {};
}

}  // namespace tc::crypto
