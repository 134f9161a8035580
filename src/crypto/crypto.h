// Thin, allocation-aware wrappers over OpenSSL 3 for the primitives Tor uses
// (tor-spec §0.3): SHA-1, SHA-256, SHA3-256, SHAKE-256, HMAC, HKDF (RFC 5869),
// AES-CTR, X25519, Ed25519, RSA-1024/2048 PKCS#1 v1.5 signatures. No I/O.
#pragma once
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <array>
#include <memory>
#include <string>

#include "util/bytes.h"
#include "util/error.h"

namespace tc::crypto {

using Sha1Digest = std::array<uint8_t, 20>;
using Sha256Digest = std::array<uint8_t, 32>;

// Cryptographically strong random bytes (OpenSSL's RAND_bytes).
void random_bytes(MutableByteSpan out);
uint32_t random_u32();
// Uniform in [0, bound).
uint64_t random_uniform(uint64_t bound);

Sha1Digest sha1(ByteSpan data);
Sha256Digest sha256(ByteSpan data);
Sha256Digest sha3_256(ByteSpan data);
Bytes shake256(ByteSpan data, size_t out_len);
Sha256Digest hmac_sha256(ByteSpan key, ByteSpan data);
// RFC 5869 HKDF-SHA256 (tor-spec §5.2.2 KDF-RFC5869).
Bytes hkdf_sha256(ByteSpan salt, ByteSpan ikm, ByteSpan info, size_t out_len);

struct EvpMdCtxFree {
  void operator()(EVP_MD_CTX *c) const { EVP_MD_CTX_free(c); }
};
struct EvpCipherCtxFree {
  void operator()(EVP_CIPHER_CTX *c) const { EVP_CIPHER_CTX_free(c); }
};

// A running digest that can be cloned: relay cells need the digest of "all
// cells so far plus this one" without committing until recognized (§6.1).
class Digest {
 public:
  enum class Algo { kSha1, kSha256, kSha3_256 };
  explicit Digest(Algo a);
  Digest(const Digest &other);
  Digest &operator=(const Digest &other);
  Digest(Digest &&) noexcept = default;
  Digest &operator=(Digest &&) noexcept = default;
  void update(ByteSpan data);
  // The digest so far, without disturbing the running state.
  Bytes peek() const;
  // Copies state from another digest of the same algorithm, reusing memory.
  void copy_from(const Digest &other);
  size_t size() const;

 private:
  std::unique_ptr<EVP_MD_CTX, EvpMdCtxFree> ctx_;
};

// A running SHA-1 held as a plain value: copying it is a memcpy and finish()
// writes into a fixed array, so the per-cell relay digests (tor-spec §6.1:
// clone, update, compare, commit only on match) allocate nothing. Digest
// (EVP) reallocates its provider context on every copy.
class Sha1State {
 public:
  Sha1State();
  void update(ByteSpan data);
  // The digest of everything so far; the running state is left unchanged.
  Sha1Digest finish() const;

 private:
  SHA_CTX ctx_;
};

// An AES-CTR keystream with its position kept across calls (tor-spec §0.3:
// AES-128 in counter mode with an all-zero IV; ntor-v3 uses AES-256-CTR).
class AesCtr {
 public:
  AesCtr() = default;
  AesCtr(ByteSpan key, ByteSpan iv = {});  // key 16 or 32 bytes; iv 16 bytes or empty (zero)
  AesCtr(AesCtr &&) noexcept = default;
  AesCtr &operator=(AesCtr &&) noexcept = default;
  // In-place encryption or decryption (the same operation in CTR mode).
  void apply(MutableByteSpan data);
  bool valid() const { return ctx_ != nullptr; }

 private:
  std::unique_ptr<EVP_CIPHER_CTX, EvpCipherCtxFree> ctx_;
};

// AES-CTR for fixed-size blocks of one length (tor1's 509-byte relay cell
// payloads). Once a stream has carried `buffer_after` blocks, its keystream
// is made ahead, `blocks_ahead` blocks per OpenSSL call, so each block costs
// a pointer bump instead of an EVP call with its partial-AES-block
// bookkeeping, and several layers' keystreams can be XORed into a payload in
// one pass (xor_keystreams). Before that (most circuits carry a few cells:
// a build, one small fetch) no buffer is held: each block is XORed in place.
// Either way the same stream as AesCtr over the concatenated blocks. The
// buffer is wiped when freed.
class AesCtrKeystream {
 public:
  AesCtrKeystream() = default;
  AesCtrKeystream(ByteSpan key16, size_t block_len, size_t blocks_ahead, uint32_t buffer_after);
  AesCtrKeystream(AesCtrKeystream &&) noexcept = default;
  AesCtrKeystream &operator=(AesCtrKeystream &&) noexcept = default;
  // Takes the keystream for the next block (block_len bytes at `block`).
  // Buffered: returns it, valid until the next call, for the caller to XOR
  // into the block (in any order with other layers: XOR commutes).
  // Otherwise XORs it into `block` at once and returns nullptr.
  const uint8_t *next_block(uint8_t *block) {
    if (!buf_ && !start_buffering(block)) return nullptr;
    if (pos_ == len_) refill();
    const uint8_t *k = buf_.get() + pos_;
    pos_ += block_len_;
    return k;
  }
  bool buffered() const { return buf_ != nullptr; }

 private:
  struct WipeFree {
    size_t len;
    void operator()(uint8_t *p) const;
  };
  // Below the threshold: applies the keystream to `block`, returns false.
  bool start_buffering(uint8_t *block);
  void refill();
  std::unique_ptr<EVP_CIPHER_CTX, EvpCipherCtxFree> ctx_;
  std::unique_ptr<uint8_t[], WipeFree> buf_{nullptr, WipeFree{0}};
  size_t block_len_ = 0, len_ = 0, pos_ = 0;
  uint32_t unbuffered_left_ = 0;
};

// data[i] ^= ks[0][i] ^ ... ^ ks[n-1][i] for i < len: up to three streams
// in one pass.
void xor_keystreams(uint8_t *data, const uint8_t *const *ks, size_t n, size_t len);

// X25519 (curve25519 Diffie-Hellman) keys for ntor.
struct X25519Keypair {
  std::array<uint8_t, 32> secret{};
  std::array<uint8_t, 32> public_key{};
  ~X25519Keypair() { secure_wipe(secret.data(), secret.size()); }
  static X25519Keypair generate();
  static X25519Keypair from_secret(ByteSpan secret32);
};
// Shared secret; fails on an all-zero result (a small-order peer point).
Result<std::array<uint8_t, 32>> x25519(ByteSpan secret32, ByteSpan peer_public32);

// Ed25519 (cert-spec, link authentication, consensus-free relay identities).
bool ed25519_verify(ByteSpan public_key32, ByteSpan message, ByteSpan signature64);
struct Ed25519Keypair {
  std::array<uint8_t, 32> seed{};
  std::array<uint8_t, 32> public_key{};
  static Ed25519Keypair generate();
  std::array<uint8_t, 64> sign(ByteSpan message) const;
};

// RSA public keys as Tor encodes them: PKCS#1 RSAPublicKey DER
// ("-----BEGIN RSA PUBLIC KEY-----" in documents).
class RsaPublicKey {
 public:
  static Result<RsaPublicKey> from_pkcs1_der(ByteSpan der);
  static Result<RsaPublicKey> from_pem(std::string_view pem);
  RsaPublicKey(const RsaPublicKey &) ;
  RsaPublicKey &operator=(const RsaPublicKey &);
  RsaPublicKey(RsaPublicKey &&) noexcept;
  RsaPublicKey &operator=(RsaPublicKey &&) noexcept;
  ~RsaPublicKey();
  const Bytes &der() const { return der_; }
  // SHA-1 of the DER encoding: the relay/authority identity fingerprint.
  Sha1Digest fingerprint() const { return sha1(der_); }
  int bits() const;
  // Tor's RSA signature: PKCS#1 v1.5 padding of the raw digest, no DigestInfo
  // (dir-spec §1.3). Returns the recovered bytes for comparison.
  Result<Bytes> recover_signed_data(ByteSpan signature) const;
  // Checks `signature` signs exactly `digest` in Tor's scheme. A recovered
  // value that is longer than the digest but starts with it is refused.
  bool verify_digest(ByteSpan digest, ByteSpan signature) const;
  EVP_PKEY *pkey() const { return pkey_; }

 private:
  RsaPublicKey(EVP_PKEY *k, Bytes der) : pkey_(k), der_(std::move(der)) {}
  EVP_PKEY *pkey_ = nullptr;
  Bytes der_;
};

// The DER inside a PEM block with the given label; error otherwise.
Result<Bytes> pem_decode(std::string_view pem, std::string_view label);

}  // namespace tc::crypto
