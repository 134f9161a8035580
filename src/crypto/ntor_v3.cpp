#include "crypto/ntor_v3.h"

#include <algorithm>
#include <cassert>
#include <string_view>

#include "crypto/crypto.h"

namespace tc::crypto {

namespace {
// Prop 332 A.1/A.2 constants.
constexpr std::string_view kProtoId = "ntor3-curve25519-sha3_256-1";
constexpr std::string_view kTMsgKdf = "ntor3-curve25519-sha3_256-1:kdf_phase1";
constexpr std::string_view kTMsgMac = "ntor3-curve25519-sha3_256-1:msg_mac";
constexpr std::string_view kTKeySeed = "ntor3-curve25519-sha3_256-1:key_seed";
constexpr std::string_view kTVerify = "ntor3-curve25519-sha3_256-1:verify";
constexpr std::string_view kTFinal = "ntor3-curve25519-sha3_256-1:kdf_final";
constexpr std::string_view kTAuth = "ntor3-curve25519-sha3_256-1:auth_final";
constexpr size_t kEncKeyLen = 32;  // AES-256-CTR
constexpr size_t kMacKeyLen = 32;
constexpr size_t kMaxKeyLen = 64 * 1024;

// ENCAP(s) = htonll(len(s)) | s
void encap(Writer &w, ByteSpan s) {
  w.u64(s.size());
  w.bytes(s);
}
void encap(Writer &w, std::string_view s) { encap(w, as_bytes(s)); }

// H(s, t) = SHA3_256(ENCAP(t) | s); the caller writes s after the tweak.
Sha256Digest tweaked_sha3(std::string_view tweak, ByteSpan s) {
  Digest d(Digest::Algo::kSha3_256);
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(uint64_t{tweak.size()} >> (56 - 8 * i));
  d.update(len);
  d.update(as_bytes(tweak));
  d.update(s);
  Bytes out = d.peek();
  Sha256Digest r;
  std::copy(out.begin(), out.end(), r.begin());
  return r;
}
// KDF(s, t) = SHAKE_256(ENCAP(t) | s)
Bytes tweaked_shake(std::string_view tweak, ByteSpan s, size_t n) {
  Bytes in;
  in.reserve(8 + tweak.size() + s.size());
  Writer w(in);
  encap(w, tweak);
  w.bytes(s);
  Bytes out = shake256(in, n);
  secure_wipe(in.data(), in.size());
  return out;
}
void aes256_ctr(ByteSpan key, MutableByteSpan data) {
  if (data.empty()) return;
  AesCtr c(key);
  c.apply(data);
}
}  // namespace

NtorV3Client::~NtorV3Client() {
  secure_wipe(x_.data(), x_.size());
  secure_wipe(bx_.data(), bx_.size());
}

NtorV3Client NtorV3Client::start(ByteSpan relay_ed_id32, ByteSpan ntor_onion_key32, ByteSpan client_message,
                                 ByteSpan verification) {
  std::array<uint8_t, 32> x;
  random_bytes(x);
  NtorV3Client c = start_with_secret(relay_ed_id32, ntor_onion_key32, client_message, verification, x);
  secure_wipe(x.data(), x.size());
  return c;
}

NtorV3Client NtorV3Client::start_with_secret(ByteSpan relay_ed_id32, ByteSpan ntor_onion_key32,
                                             ByteSpan client_message, ByteSpan verification,
                                             ByteSpan client_secret32) {
  NtorV3Client c;
  if (relay_ed_id32.size() != 32 || ntor_onion_key32.size() != 32 || client_secret32.size() != 32) return c;
  std::copy(relay_ed_id32.begin(), relay_ed_id32.end(), c.id_.begin());
  std::copy(ntor_onion_key32.begin(), ntor_onion_key32.end(), c.b_.begin());
  c.verification_.assign(verification.begin(), verification.end());
  X25519Keypair kp = X25519Keypair::from_secret(client_secret32);
  c.x_ = kp.secret;
  c.X_ = kp.public_key;
  c.valid_ = true;
  auto bx = x25519(c.x_, c.b_);
  if (!bx.ok()) {
    c.degenerate_ = true;
    return c;
  }
  c.bx_ = *bx;
  secure_wipe(bx->data(), bx->size());

  // secret_input_phase1 = Bx | ID | X | B | PROTOID | ENCAP(VER)
  Bytes si1;
  si1.reserve(32 * 4 + kProtoId.size() + 8 + verification.size());
  Writer w(si1);
  w.bytes(c.bx_);
  w.bytes(c.id_);
  w.bytes(c.X_);
  w.bytes(c.b_);
  w.bytes(kProtoId);
  encap(w, verification);
  Bytes phase1_keys = tweaked_shake(kTMsgKdf, si1, kEncKeyLen + kMacKeyLen);
  secure_wipe(si1.data(), si1.size());
  ByteSpan enc_k1(phase1_keys.data(), kEncKeyLen);
  ByteSpan mac_k1(phase1_keys.data() + kEncKeyLen, kMacKeyLen);

  // onionskin = ID | B | X | ENC(ENC_K1, CM) | MAC
  c.onionskin_.reserve(kNtorV3OnionskinOverhead + client_message.size());
  Writer o(c.onionskin_);
  o.bytes(c.id_);
  o.bytes(c.b_);
  o.bytes(c.X_);
  size_t msg_at = c.onionskin_.size();
  o.bytes(client_message);
  aes256_ctr(enc_k1, MutableByteSpan(c.onionskin_).subspan(msg_at));

  // msg_mac = MAC_msgmac(MAC_K1, ID | B | X | encrypted_msg), where
  // MAC(k, msg, t) = SHA3_256(ENCAP(t) | ENCAP(k) | msg).
  Bytes mac_in;
  mac_in.reserve(8 + kMacKeyLen + c.onionskin_.size());
  Writer m(mac_in);
  encap(m, mac_k1);
  m.bytes(c.onionskin_);
  c.mac_ = tweaked_sha3(kTMsgMac, mac_in);
  secure_wipe(mac_in.data(), mac_in.size());
  secure_wipe(phase1_keys.data(), phase1_keys.size());
  o.bytes(c.mac_);
  return c;
}

Status NtorV3Client::status() const {
  if (!valid_)
    return Error(ErrorKind::kInvalidArgument,
                 "ntor-v3: relay identity, onion key and secret must be 32 bytes each");
  if (degenerate_) return Error(ErrorKind::kCrypto, "ntor-v3: degenerate onion key B");
  return {};
}

Result<NtorV3Client::Outcome> NtorV3Client::finish(ByteSpan reply, size_t key_len) const {
  TC_TRY_VOID(status());
  if (reply.size() < kNtorV3ReplyOverhead)
    return Error(ErrorKind::kProtocol, "ntor-v3: server handshake is " + std::to_string(reply.size()) +
                                           " bytes, need at least " + std::to_string(kNtorV3ReplyOverhead));
  if (key_len > kMaxKeyLen) return Error(ErrorKind::kInvalidArgument, "ntor-v3: key_len too large");
  ByteSpan y_pub = reply.subspan(0, 32);
  ByteSpan auth = reply.subspan(32, 32);
  ByteSpan msg = reply.subspan(64);

  auto yx = x25519(x_, y_pub);
  if (!yx.ok()) return Error(ErrorKind::kCrypto, "ntor-v3: degenerate Diffie-Hellman result (bad server key Y)");

  // secret_input = Yx | Bx | ID | B | X | Y | PROTOID | ENCAP(VER)
  Bytes si;
  si.reserve(32 * 6 + kProtoId.size() + 8 + verification_.size());
  Writer w(si);
  w.bytes(*yx);
  w.bytes(bx_);
  w.bytes(id_);
  w.bytes(b_);
  w.bytes(X_);
  w.bytes(y_pub);
  w.bytes(kProtoId);
  encap(w, verification_);
  Sha256Digest key_seed = tweaked_sha3(kTKeySeed, si);
  Sha256Digest verify = tweaked_sha3(kTVerify, si);
  secure_wipe(si.data(), si.size());
  secure_wipe(yx->data(), yx->size());

  // auth_input = verify | ID | B | Y | X | MAC | ENCAP(MSG) | PROTOID | "Server"
  Bytes ai;
  ai.reserve(32 * 6 + 8 + msg.size() + kProtoId.size() + 6);
  Writer a(ai);
  a.bytes(verify);
  a.bytes(id_);
  a.bytes(b_);
  a.bytes(y_pub);
  a.bytes(X_);
  a.bytes(mac_);
  encap(a, msg);
  a.bytes(kProtoId);
  a.bytes(std::string_view("Server"));
  Sha256Digest expected = tweaked_sha3(kTAuth, ai);
  secure_wipe(verify.data(), verify.size());
  if (!ct_equal(expected, auth)) {
    secure_wipe(key_seed.data(), key_seed.size());
    return Error(ErrorKind::kCrypto, "ntor-v3: server AUTH does not verify");
  }

  // RAW_KEYSTREAM = KDF_final(key_seed) = ENC_KEY(32) | KEYSTREAM
  Bytes raw = tweaked_shake(kTFinal, key_seed, kEncKeyLen + key_len);
  secure_wipe(key_seed.data(), key_seed.size());
  Outcome out;
  out.server_message.assign(msg.begin(), msg.end());
  aes256_ctr(ByteSpan(raw.data(), kEncKeyLen), out.server_message);
  out.key_material.assign(raw.begin() + kEncKeyLen, raw.end());
  secure_wipe(raw.data(), raw.size());
  return out;
}

Bytes encode_ntor_v3_extensions(const NtorV3Extensions &exts) {
  assert(exts.size() <= 255);
  Bytes out;
  Writer w(out);
  w.u8(0);
  uint8_t n = 0;
  for (const auto &[type, body] : exts) {
    assert(body.size() <= 255);
    if (body.size() > 255 || n == 255) continue;
    w.u8(type);
    w.u8(static_cast<uint8_t>(body.size()));
    w.bytes(body);
    ++n;
  }
  out[0] = n;
  return out;
}

Result<NtorV3Extensions> decode_ntor_v3_extensions(ByteSpan msg) {
  NtorV3Extensions exts;
  if (msg.empty()) return exts;
  Reader r(msg, "ntor-v3 extensions");
  TC_TRY(uint8_t n, r.u8());
  exts.reserve(n);
  for (unsigned i = 0; i < n; ++i) {
    auto type = r.u8();
    auto len = type.ok() ? r.u8() : Result<uint8_t>(type.error());
    if (!len.ok()) return std::move(len).error().context("extension " + std::to_string(i));
    auto body = r.take(*len);
    if (!body.ok()) return std::move(body).error().context("extension " + std::to_string(i) + " (type " +
                                                           std::to_string(*type) + ")");
    exts.emplace_back(*type, Bytes(body->begin(), body->end()));
  }
  TC_TRY_VOID(r.expect_end());
  return exts;
}

}  // namespace tc::crypto
