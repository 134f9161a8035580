#include "crypto/ntor.h"

#include <algorithm>
#include <string_view>

#include "crypto/crypto.h"

namespace tc::crypto {

namespace {
// tor-spec §5.1.4 constants.
constexpr std::string_view kProtoId = "ntor-curve25519-sha256-1";
constexpr std::string_view kTMac = "ntor-curve25519-sha256-1:mac";
constexpr std::string_view kTKey = "ntor-curve25519-sha256-1:key_extract";
constexpr std::string_view kTVerify = "ntor-curve25519-sha256-1:verify";
constexpr std::string_view kMExpand = "ntor-curve25519-sha256-1:key_expand";
constexpr size_t kMaxKeyLen = 255 * 32;  // RFC 5869 output limit
}  // namespace

NtorClient::~NtorClient() { secure_wipe(x_.data(), x_.size()); }

NtorClient NtorClient::start(ByteSpan relay_id20, ByteSpan ntor_onion_key32) {
  std::array<uint8_t, 32> x;
  random_bytes(x);
  NtorClient c = start_with_secret(relay_id20, ntor_onion_key32, x);
  secure_wipe(x.data(), x.size());
  return c;
}

NtorClient NtorClient::start_with_secret(ByteSpan relay_id20, ByteSpan ntor_onion_key32,
                                         ByteSpan client_secret32) {
  NtorClient c;
  if (relay_id20.size() != 20 || ntor_onion_key32.size() != 32 || client_secret32.size() != 32)
    return c;
  std::copy(relay_id20.begin(), relay_id20.end(), c.id_.begin());
  std::copy(ntor_onion_key32.begin(), ntor_onion_key32.end(), c.b_.begin());
  X25519Keypair kp = X25519Keypair::from_secret(client_secret32);
  c.x_ = kp.secret;
  c.X_ = kp.public_key;
  c.onionskin_.reserve(kNtorOnionskinLen);
  Writer w(c.onionskin_);
  w.bytes(c.id_);
  w.bytes(c.b_);
  w.bytes(c.X_);
  c.valid_ = true;
  return c;
}

Result<Bytes> NtorClient::finish(ByteSpan reply, size_t key_len) const {
  if (!valid_)
    return Error(ErrorKind::kInvalidArgument,
                 "ntor: relay identity must be 20 bytes and onion key 32 bytes");
  if (reply.size() != kNtorReplyLen)
    return Error(ErrorKind::kProtocol, "ntor: server handshake is " + std::to_string(reply.size()) +
                                           " bytes, expected " + std::to_string(kNtorReplyLen));
  if (key_len > kMaxKeyLen) return Error(ErrorKind::kInvalidArgument, "ntor: key_len too large");
  ByteSpan y_pub = reply.subspan(0, 32);
  ByteSpan auth = reply.subspan(32, 32);

  // Both DH results are computed before any check, so the failure path
  // does not depend on which one was degenerate (§5.1.4 "point at infinity").
  auto yx = x25519(x_, y_pub);
  auto bx = x25519(x_, b_);
  if (!yx.ok() || !bx.ok())
    return Error(ErrorKind::kCrypto, "ntor: degenerate Diffie-Hellman result (bad server key Y or onion key B)");

  // secret_input = EXP(Y,x) | EXP(B,x) | ID | B | X | Y | PROTOID
  Bytes secret_input;
  secret_input.reserve(32 * 5 + 20 + kProtoId.size());
  Writer si(secret_input);
  si.bytes(*yx);
  si.bytes(*bx);
  si.bytes(id_);
  si.bytes(b_);
  si.bytes(X_);
  si.bytes(y_pub);
  si.bytes(kProtoId);

  // H(x, t) is HMAC-SHA256 with message x and key t.
  Sha256Digest verify = hmac_sha256(as_bytes(kTVerify), secret_input);
  Bytes auth_input;
  auth_input.reserve(32 * 4 + 20 + kProtoId.size() + 6);
  Writer ai(auth_input);
  ai.bytes(verify);
  ai.bytes(id_);
  ai.bytes(b_);
  ai.bytes(y_pub);
  ai.bytes(X_);
  ai.bytes(kProtoId);
  ai.bytes(std::string_view("Server"));
  Sha256Digest expected = hmac_sha256(as_bytes(kTMac), auth_input);

  bool ok = ct_equal(expected, auth);
  Bytes keys;
  if (ok) {
    // KDF-RFC5869 (§5.2.2): salt = t_key, IKM = secret_input, info = m_expand.
    keys = hkdf_sha256(as_bytes(kTKey), secret_input, as_bytes(kMExpand), key_len);
  }
  secure_wipe(secret_input.data(), secret_input.size());
  secure_wipe(verify.data(), verify.size());
  secure_wipe(yx->data(), yx->size());
  secure_wipe(bx->data(), bx->size());
  if (!ok) return Error(ErrorKind::kCrypto, "ntor: server AUTH does not verify");
  return keys;
}

}  // namespace tc::crypto
