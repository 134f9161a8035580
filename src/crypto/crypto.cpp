#include "crypto/crypto.h"

#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace tc::crypto {

namespace {
[[noreturn]] void fatal(const char *what) {
  // OpenSSL failing on valid arguments means the library is unusable; there
  // is no sane way to continue a Tor client without its primitives.
  std::fprintf(stderr, "fatal: OpenSSL failure in %s\n", what);
  std::abort();
}
const EVP_MD *md_for(Digest::Algo a) {
  switch (a) {
    case Digest::Algo::kSha1: return EVP_sha1();
    case Digest::Algo::kSha256: return EVP_sha256();
    case Digest::Algo::kSha3_256: return EVP_sha3_256();
  }
  return nullptr;
}
}  // namespace

void random_bytes(MutableByteSpan out) {
  if (out.empty()) return;
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) fatal("RAND_bytes");
}
uint32_t random_u32() {
  uint8_t b[4];
  random_bytes(b);
  return uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 | b[3];
}
uint64_t random_uniform(uint64_t bound) {
  if (bound <= 1) return 0;
  // Rejection sampling to avoid modulo bias.
  uint64_t limit = UINT64_MAX - (UINT64_MAX % bound);
  for (;;) {
    uint64_t v;
    random_bytes({reinterpret_cast<uint8_t *>(&v), sizeof v});
    if (v < limit) return v % bound;
  }
}

static void one_shot(const EVP_MD *md, ByteSpan data, uint8_t *out) {
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out, &len, md, nullptr) != 1) fatal("EVP_Digest");
}
Sha1Digest sha1(ByteSpan data) {
  Sha1Digest d;
  one_shot(EVP_sha1(), data, d.data());
  return d;
}
Sha256Digest sha256(ByteSpan data) {
  Sha256Digest d;
  one_shot(EVP_sha256(), data, d.data());
  return d;
}
Sha256Digest sha3_256(ByteSpan data) {
  Sha256Digest d;
  one_shot(EVP_sha3_256(), data, d.data());
  return d;
}
Bytes shake256(ByteSpan data, size_t out_len) {
  Bytes out(out_len);
  std::unique_ptr<EVP_MD_CTX, EvpMdCtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_shake256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinalXOF(ctx.get(), out.data(), out.size()) != 1)
    fatal("shake256");
  return out;
}
Sha256Digest hmac_sha256(ByteSpan key, ByteSpan data) {
  Sha256Digest d;
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), data.data(), data.size(), d.data(), &len))
    fatal("HMAC");
  return d;
}
Bytes hkdf_sha256(ByteSpan salt, ByteSpan ikm, ByteSpan info, size_t out_len) {
  Bytes out(out_len);
  EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr);
  if (!pctx || EVP_PKEY_derive_init(pctx) <= 0 || EVP_PKEY_CTX_set_hkdf_md(pctx, EVP_sha256()) <= 0 ||
      EVP_PKEY_CTX_set1_hkdf_salt(pctx, salt.data(), static_cast<int>(salt.size())) <= 0 ||
      EVP_PKEY_CTX_set1_hkdf_key(pctx, ikm.data(), static_cast<int>(ikm.size())) <= 0 ||
      EVP_PKEY_CTX_add1_hkdf_info(pctx, info.data(), static_cast<int>(info.size())) <= 0 ||
      EVP_PKEY_derive(pctx, out.data(), &out_len) <= 0)
    fatal("HKDF");
  EVP_PKEY_CTX_free(pctx);
  return out;
}

Digest::Digest(Algo a) : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), md_for(a), nullptr) != 1) fatal("DigestInit");
}
Digest::Digest(const Digest &other) : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_MD_CTX_copy_ex(ctx_.get(), other.ctx_.get()) != 1) fatal("MD_CTX_copy");
}
Digest &Digest::operator=(const Digest &other) {
  if (this != &other) copy_from(other);
  return *this;
}
void Digest::copy_from(const Digest &other) {
  if (!ctx_) ctx_.reset(EVP_MD_CTX_new());
  if (EVP_MD_CTX_copy_ex(ctx_.get(), other.ctx_.get()) != 1) fatal("MD_CTX_copy");
}
void Digest::update(ByteSpan data) {
  if (EVP_DigestUpdate(ctx_.get(), data.data(), data.size()) != 1) fatal("DigestUpdate");
}
Bytes Digest::peek() const {
  std::unique_ptr<EVP_MD_CTX, EvpMdCtxFree> tmp(EVP_MD_CTX_new());
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  if (!tmp || EVP_MD_CTX_copy_ex(tmp.get(), ctx_.get()) != 1 ||
      EVP_DigestFinal_ex(tmp.get(), out.data(), &len) != 1)
    fatal("DigestFinal");
  out.resize(len);
  return out;
}
size_t Digest::size() const { return static_cast<size_t>(EVP_MD_CTX_get_size(ctx_.get())); }

// The low-level SHA1_* calls are deprecated in OpenSSL 3 but remain the only
// allocation-free way to clone a running SHA-1 (C tor uses them the same way).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
Sha1State::Sha1State() {
  if (SHA1_Init(&ctx_) != 1) fatal("SHA1_Init");
}
void Sha1State::update(ByteSpan data) {
  if (SHA1_Update(&ctx_, data.data(), data.size()) != 1) fatal("SHA1_Update");
}
Sha1Digest Sha1State::finish() const {
  SHA_CTX tmp = ctx_;
  Sha1Digest out;
  if (SHA1_Final(out.data(), &tmp) != 1) fatal("SHA1_Final");
  return out;
}
#pragma GCC diagnostic pop

AesCtr::AesCtr(ByteSpan key, ByteSpan iv) : ctx_(EVP_CIPHER_CTX_new()) {
  const EVP_CIPHER *c = key.size() == 16 ? EVP_aes_128_ctr() : key.size() == 32 ? EVP_aes_256_ctr() : nullptr;
  if (!c) fatal("AesCtr key size");
  uint8_t zero_iv[16] = {0};
  const uint8_t *ivp = iv.size() == 16 ? iv.data() : zero_iv;
  if (!ctx_ || EVP_EncryptInit_ex(ctx_.get(), c, nullptr, key.data(), ivp) != 1) fatal("AES init");
}
void AesCtr::apply(MutableByteSpan data) {
  int outl = 0;
  if (EVP_EncryptUpdate(ctx_.get(), data.data(), &outl, data.data(), static_cast<int>(data.size())) != 1)
    fatal("AES update");
}

AesCtrKeystream::AesCtrKeystream(ByteSpan key16, size_t block_len, size_t blocks_ahead, uint32_t buffer_after)
    : ctx_(EVP_CIPHER_CTX_new()),
      block_len_(block_len),
      len_(block_len * blocks_ahead),
      pos_(len_),
      unbuffered_left_(buffer_after) {
  if (key16.size() != 16 || block_len == 0 || blocks_ahead == 0) fatal("AesCtrKeystream parameters");
  const uint8_t zero_iv[16] = {0};
  if (!ctx_ || EVP_EncryptInit_ex(ctx_.get(), EVP_aes_128_ctr(), nullptr, key16.data(), zero_iv) != 1)
    fatal("AES init");
}

bool AesCtrKeystream::start_buffering(uint8_t *block) {
  if (unbuffered_left_ > 0) {
    --unbuffered_left_;
    int outl = 0;
    if (EVP_EncryptUpdate(ctx_.get(), block, &outl, block, static_cast<int>(block_len_)) != 1) fatal("AES update");
    return false;
  }
  buf_ = std::unique_ptr<uint8_t[], WipeFree>(new uint8_t[len_], WipeFree{len_});
  pos_ = len_;  // the next block refills
  return true;
}

void AesCtrKeystream::refill() {
  // Encrypting zeros gives the keystream itself.
  static const uint8_t kZeros[4096] = {};
  for (size_t off = 0; off < len_; off += sizeof(kZeros)) {
    const size_t n = std::min(sizeof(kZeros), len_ - off);
    int outl = 0;
    if (EVP_EncryptUpdate(ctx_.get(), buf_.get() + off, &outl, kZeros, static_cast<int>(n)) != 1) fatal("AES update");
  }
  pos_ = 0;
}

void AesCtrKeystream::WipeFree::operator()(uint8_t *p) const {
  if (!p) return;
  secure_wipe(p, len);
  delete[] p;
}

namespace {
template <size_t N>
void xor_n(uint8_t *data, const uint8_t *const *ks, size_t len) {
  // 16 bytes at a time (SSE2, the x86-64 baseline; other targets lower the
  // vector type themselves); memcpy keeps the loads free of alignment and
  // aliasing traps.
  using V = uint8_t __attribute__((vector_size(16)));
  size_t i = 0;
  for (; i + 16 <= len; i += 16) {
    V d, k;
    std::memcpy(&d, data + i, 16);
    for (size_t j = 0; j < N; ++j) {
      std::memcpy(&k, ks[j] + i, 16);
      d ^= k;
    }
    std::memcpy(data + i, &d, 16);
  }
  for (; i < len; ++i)
    for (size_t j = 0; j < N; ++j) data[i] ^= ks[j][i];
}
}  // namespace

void xor_keystreams(uint8_t *data, const uint8_t *const *ks, size_t n, size_t len) {
  // Three layers (a full circuit) in one pass; longer paths in threes.
  while (n >= 3) {
    xor_n<3>(data, ks, len);
    ks += 3;
    n -= 3;
  }
  if (n == 2) xor_n<2>(data, ks, len);
  if (n == 1) xor_n<1>(data, ks, len);
}

X25519Keypair X25519Keypair::generate() {
  std::array<uint8_t, 32> s;
  random_bytes(s);
  return from_secret(s);
}
X25519Keypair X25519Keypair::from_secret(ByteSpan secret32) {
  X25519Keypair kp;
  std::copy(secret32.begin(), secret32.begin() + 32, kp.secret.begin());
  EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, kp.secret.data(), 32);
  size_t len = 32;
  if (!k || EVP_PKEY_get_raw_public_key(k, kp.public_key.data(), &len) != 1) fatal("X25519 keygen");
  EVP_PKEY_free(k);
  return kp;
}
Result<std::array<uint8_t, 32>> x25519(ByteSpan secret32, ByteSpan peer_public32) {
  if (secret32.size() != 32 || peer_public32.size() != 32)
    return Error(ErrorKind::kInvalidArgument, "x25519: keys must be 32 bytes");
  EVP_PKEY *priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, secret32.data(), 32);
  EVP_PKEY *peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer_public32.data(), 32);
  std::array<uint8_t, 32> out{};
  size_t len = 32;
  EVP_PKEY_CTX *ctx = priv ? EVP_PKEY_CTX_new(priv, nullptr) : nullptr;
  bool ok = ctx && peer && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, peer) == 1 &&
            EVP_PKEY_derive(ctx, out.data(), &len) == 1 && len == 32;
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(priv);
  EVP_PKEY_free(peer);
  // OpenSSL refuses all-zero outputs itself; check anyway (tor-spec §5.1.4).
  uint8_t acc = 0;
  for (uint8_t b : out) acc |= b;
  if (!ok || acc == 0) return Error(ErrorKind::kCrypto, "x25519: degenerate shared secret");
  return out;
}

bool ed25519_verify(ByteSpan public_key32, ByteSpan message, ByteSpan signature64) {
  if (public_key32.size() != 32 || signature64.size() != 64) return false;
  EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, public_key32.data(), 32);
  if (!k) return false;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, k) == 1 &&
            EVP_DigestVerify(ctx, signature64.data(), 64, message.data(), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(k);
  return ok;
}
Ed25519Keypair Ed25519Keypair::generate() {
  Ed25519Keypair kp;
  random_bytes(kp.seed);
  EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, kp.seed.data(), 32);
  size_t len = 32;
  if (!k || EVP_PKEY_get_raw_public_key(k, kp.public_key.data(), &len) != 1) fatal("Ed25519 keygen");
  EVP_PKEY_free(k);
  return kp;
}
std::array<uint8_t, 64> Ed25519Keypair::sign(ByteSpan message) const {
  std::array<uint8_t, 64> sig{};
  EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), 32);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  size_t len = 64;
  if (!k || !ctx || EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, k) != 1 ||
      EVP_DigestSign(ctx, sig.data(), &len, message.data(), message.size()) != 1)
    fatal("Ed25519 sign");
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(k);
  return sig;
}

Result<Bytes> pem_decode(std::string_view pem, std::string_view label) {
  std::string begin = "-----BEGIN " + std::string(label) + "-----";
  std::string end = "-----END " + std::string(label) + "-----";
  size_t b = pem.find(begin);
  if (b == std::string_view::npos) return Error(ErrorKind::kMalformed, "PEM: missing '" + begin + "'");
  b += begin.size();
  size_t e = pem.find(end, b);
  if (e == std::string_view::npos) return Error(ErrorKind::kMalformed, "PEM: missing '" + end + "'");
  auto r = base64_decode(pem.substr(b, e - b));
  if (!r) return std::move(r).error().context("PEM " + std::string(label));
  return r;
}

Result<RsaPublicKey> RsaPublicKey::from_pkcs1_der(ByteSpan der) {
  EVP_PKEY *pkey = nullptr;
  OSSL_DECODER_CTX *dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "DER", "type-specific", "RSA",
                                                         EVP_PKEY_PUBLIC_KEY, nullptr, nullptr);
  const unsigned char *p = der.data();
  size_t len = der.size();
  bool ok = dctx && OSSL_DECODER_from_data(dctx, &p, &len) == 1 && pkey && len == 0;
  OSSL_DECODER_CTX_free(dctx);
  if (!ok) {
    EVP_PKEY_free(pkey);
    return Error(ErrorKind::kMalformed, "RSA public key: not a PKCS#1 RSAPublicKey");
  }
  return RsaPublicKey(pkey, Bytes(der.begin(), der.end()));
}
Result<RsaPublicKey> RsaPublicKey::from_pem(std::string_view pem) {
  TC_TRY(Bytes der, pem_decode(pem, "RSA PUBLIC KEY"));
  return from_pkcs1_der(der);
}
RsaPublicKey::RsaPublicKey(const RsaPublicKey &o) : pkey_(o.pkey_), der_(o.der_) {
  if (pkey_) EVP_PKEY_up_ref(pkey_);
}
RsaPublicKey &RsaPublicKey::operator=(const RsaPublicKey &o) {
  if (this != &o) {
    if (o.pkey_) EVP_PKEY_up_ref(o.pkey_);
    EVP_PKEY_free(pkey_);
    pkey_ = o.pkey_;
    der_ = o.der_;
  }
  return *this;
}
RsaPublicKey::RsaPublicKey(RsaPublicKey &&o) noexcept : pkey_(o.pkey_), der_(std::move(o.der_)) { o.pkey_ = nullptr; }
RsaPublicKey &RsaPublicKey::operator=(RsaPublicKey &&o) noexcept {
  if (this != &o) {
    EVP_PKEY_free(pkey_);
    pkey_ = o.pkey_;
    o.pkey_ = nullptr;
    der_ = std::move(o.der_);
  }
  return *this;
}
RsaPublicKey::~RsaPublicKey() { EVP_PKEY_free(pkey_); }
int RsaPublicKey::bits() const { return pkey_ ? EVP_PKEY_get_bits(pkey_) : 0; }

Result<Bytes> RsaPublicKey::recover_signed_data(ByteSpan signature) const {
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey_, nullptr);
  Bytes out(static_cast<size_t>(EVP_PKEY_get_size(pkey_)));
  size_t outlen = out.size();
  bool ok = ctx && EVP_PKEY_verify_recover_init(ctx) == 1 &&
            EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
            EVP_PKEY_verify_recover(ctx, out.data(), &outlen, signature.data(), signature.size()) == 1;
  EVP_PKEY_CTX_free(ctx);
  if (!ok) return Error(ErrorKind::kCrypto, "RSA signature: does not decode under this key");
  out.resize(outlen);
  return out;
}
bool RsaPublicKey::verify_digest(ByteSpan digest, ByteSpan signature) const {
  auto r = recover_signed_data(signature);
  return r.ok() && ct_equal(*r, digest);
}

}  // namespace tc::crypto
