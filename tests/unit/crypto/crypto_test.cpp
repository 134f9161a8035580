#include <gtest/gtest.h>

#include <random>

#include "crypto/crypto.h"

using namespace tc;
using namespace tc::crypto;

static std::string hexs(ByteSpan b) { return hex_encode(b); }

TEST(Encoding, HexRoundTrip) {
  Bytes b = {0x00, 0xab, 0xff};
  EXPECT_EQ(hex_encode(b), "00abff");
  EXPECT_EQ(*hex_decode("00ABff"), b);
  EXPECT_FALSE(hex_decode("0g").ok());
  EXPECT_FALSE(hex_decode("abc").ok());
}

TEST(Encoding, Base64NoPadding) {
  EXPECT_EQ(base64_encode(as_bytes("foobar")), "Zm9vYmFy");
  EXPECT_EQ(base64_encode(as_bytes("fooba")), "Zm9vYmE=");
  EXPECT_EQ(base64_encode(as_bytes("fooba"), false), "Zm9vYmE");
  EXPECT_EQ(as_string_view(*base64_decode("Zm9vYmE")), "fooba");
  EXPECT_EQ(as_string_view(*base64_decode("Zm9v\nYmE=")), "fooba");
  EXPECT_FALSE(base64_decode("Zm9v!").ok());
}

TEST(Reader, RefusesReadingPastEnd) {
  Bytes b = {1, 2, 3};
  Reader r(b, "test");
  EXPECT_EQ(*r.u16(), 0x0102);
  auto x = r.u16();
  ASSERT_FALSE(x.ok());
  EXPECT_NE(x.error().message().find("truncated at offset 2"), std::string::npos);
  EXPECT_EQ(*r.u8(), 3);
  EXPECT_TRUE(r.expect_end().ok());
}

TEST(Digests, KnownAnswers) {
  EXPECT_EQ(hexs(sha1(as_bytes("abc"))), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(hexs(sha256(as_bytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hexs(sha3_256(as_bytes("abc"))),
            "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532");
  EXPECT_EQ(hexs(shake256(as_bytes(""), 32)),
            "46b9dd2b0ba88d13233b3feb743eeb243fcd52ea62b81b82b50c27646ed5762f");
}

TEST(Digests, RunningDigestPeekAndClone) {
  Digest d(Digest::Algo::kSha1);
  d.update(as_bytes("a"));
  Digest clone = d;
  clone.update(as_bytes("bc"));
  EXPECT_EQ(hexs(clone.peek()), "a9993e364706816aba3e25717850c26c9cd0d89d");
  d.update(as_bytes("bc"));
  EXPECT_EQ(d.peek(), clone.peek());
  EXPECT_EQ(d.peek(), d.peek());  // peek does not disturb the state
}

TEST(Hkdf, Rfc5869TestCase1) {
  auto ikm = *hex_decode("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
  auto salt = *hex_decode("000102030405060708090a0b0c");
  auto info = *hex_decode("f0f1f2f3f4f5f6f7f8f9");
  EXPECT_EQ(hexs(hkdf_sha256(salt, ikm, info, 42)),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST(Hmac, Rfc4231Case2) {
  EXPECT_EQ(hexs(hmac_sha256(as_bytes("Jefe"), as_bytes("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Aes, CtrKeystreamContinuesAcrossCalls) {
  // NIST SP 800-38A F.5.1 CTR-AES128.Encrypt
  auto key = *hex_decode("2b7e151628aed2a6abf7158809cf4f3c");
  auto iv = *hex_decode("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
  auto pt = *hex_decode("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51");
  AesCtr c(key, iv);
  c.apply(MutableByteSpan(pt).subspan(0, 5));
  c.apply(MutableByteSpan(pt).subspan(5));
  EXPECT_EQ(hexs(pt), "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff");
}

TEST(Aes, KeystreamBlocksAreTheCtrStream) {
  // tor1's layers: AES-128-CTR from a zero IV. Blocks XORed in place at
  // first, then made ahead, any number per refill, are the same stream as
  // AesCtr over the whole run.
  auto key = *hex_decode("2b7e151628aed2a6abf7158809cf4f3c");
  for (uint32_t buffer_after : {0u, 1u, 5u}) {
    for (size_t ahead : {1, 3, 4}) {
      AesCtr reference(key);
      AesCtrKeystream ks(key, 509, ahead, buffer_after);
      for (uint32_t block = 0; block < 13; ++block) {
        Bytes want(509, 0x5a), got(509, 0x5a);
        reference.apply(want);
        const uint8_t *k = ks.next_block(got.data());
        EXPECT_EQ(k != nullptr, block >= buffer_after);
        EXPECT_EQ(ks.buffered(), block >= buffer_after);
        if (k)
          for (size_t i = 0; i < got.size(); ++i) got[i] ^= k[i];
        ASSERT_EQ(got, want) << "buffer after " << buffer_after << ", ahead " << ahead << ", block " << block;
      }
    }
  }
  // The first bytes against an independent value: AES-128(key, 0^128).
  AesCtrKeystream ks(key, 16, 1, 0);
  uint8_t unused[16];
  EXPECT_EQ(hexs(ByteSpan(ks.next_block(unused), 16)), "7df76b0c1ab899b33e42f047b91b546f");
}

TEST(Aes, XorKeystreamsEqualsOneLayerAtATime) {
  std::mt19937 rng(324);
  for (size_t n = 0; n <= 7; ++n) {
    for (size_t len : {0, 1, 15, 16, 17, 509}) {
      std::vector<Bytes> streams(n, Bytes(len));
      for (auto &s : streams)
        for (auto &b : s) b = static_cast<uint8_t>(rng());
      Bytes data(len), want;
      for (auto &b : data) b = static_cast<uint8_t>(rng());
      want = data;
      for (auto &s : streams)
        for (size_t i = 0; i < len; ++i) want[i] ^= s[i];
      std::vector<const uint8_t *> ptrs;
      for (auto &s : streams) ptrs.push_back(s.data());
      xor_keystreams(data.data(), ptrs.data(), n, len);
      EXPECT_EQ(data, want) << n << " streams, " << len << " bytes";
    }
  }
}

TEST(X25519, Rfc7748SharedSecret) {
  auto a = *hex_decode("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  auto bpub = *hex_decode("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  auto s = x25519(a, bpub);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(hexs(*s), "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  EXPECT_EQ(hexs(X25519Keypair::from_secret(a).public_key),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  Bytes zero(32, 0);
  EXPECT_FALSE(x25519(a, zero).ok());
}

TEST(Ed25519, SignVerifyAndRefuseTampering) {
  auto kp = Ed25519Keypair::generate();
  auto sig = kp.sign(as_bytes("hello"));
  EXPECT_TRUE(ed25519_verify(kp.public_key, as_bytes("hello"), sig));
  EXPECT_FALSE(ed25519_verify(kp.public_key, as_bytes("hellO"), sig));
  sig[0] ^= 1;
  EXPECT_FALSE(ed25519_verify(kp.public_key, as_bytes("hello"), sig));
}
