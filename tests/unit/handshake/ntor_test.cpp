// ntor (tor-spec §5.1.4): known vectors, a round trip against an
// independently written server side, and forgeries.
#include <gtest/gtest.h>

#include "crypto/crypto.h"
#include "crypto/ntor.h"

using namespace tc;
using namespace tc::crypto;

namespace {
Bytes H(std::string_view hex) { return *hex_decode(hex); }

// Test-only relay side of ntor, written from the spec text. Its KDF is
// spelled out as §5.2.2 gives it (K_i = H(K_{i-1} | m_expand | INT8(i),
// KEY_SEED)), not via the library's HKDF, as an independent check.
struct NtorServerResult {
  Bytes reply;
  Bytes keys;
};
NtorServerResult ntor_server(ByteSpan b_secret, ByteSpan onionskin, ByteSpan y_secret, size_t key_len,
                             bool check_keyid = true) {
  const std::string proto = "ntor-curve25519-sha256-1";
  auto kb = X25519Keypair::from_secret(b_secret);
  auto ky = X25519Keypair::from_secret(y_secret);
  ByteSpan id = onionskin.subspan(0, 20), keyid = onionskin.subspan(20, 32), X = onionskin.subspan(52, 32);
  if (check_keyid) {
    EXPECT_EQ(hex_encode(keyid), hex_encode(kb.public_key));
  }
  Bytes si;
  Writer w(si);
  w.bytes(*x25519(ky.secret, X));
  w.bytes(*x25519(kb.secret, X));
  w.bytes(id);
  w.bytes(kb.public_key);
  w.bytes(X);
  w.bytes(ky.public_key);
  w.bytes(proto);
  auto key_seed = hmac_sha256(as_bytes(proto + ":key_extract"), si);
  auto verify = hmac_sha256(as_bytes(proto + ":verify"), si);
  Bytes ai;
  Writer a(ai);
  a.bytes(verify);
  a.bytes(id);
  a.bytes(kb.public_key);
  a.bytes(ky.public_key);
  a.bytes(X);
  a.bytes(proto);
  a.bytes(std::string_view("Server"));
  auto auth = hmac_sha256(as_bytes(proto + ":mac"), ai);
  NtorServerResult r;
  r.reply.assign(ky.public_key.begin(), ky.public_key.end());
  r.reply.insert(r.reply.end(), auth.begin(), auth.end());
  std::string m_expand = proto + ":key_expand";
  Bytes prev;
  for (uint8_t i = 1; r.keys.size() < key_len; ++i) {
    Bytes in = prev;
    in.insert(in.end(), m_expand.begin(), m_expand.end());
    in.push_back(i);
    auto k = hmac_sha256(key_seed, in);
    prev.assign(k.begin(), k.end());
    r.keys.insert(r.keys.end(), k.begin(), k.end());
  }
  r.keys.resize(key_len);
  return r;
}
}  // namespace

// Vector from arti's tor-proto ntor.rs (generated with C tor's ntor_ref.py).
TEST(Ntor, KnownVector) {
  Bytes b_pk = H("ccbc8541904d18af08753eae967874749e6149f873de937f57f8fd903a21c471");
  Bytes x_sk = H("706f6461792069207075742e2e2e2e2e2e2e2e4a454c4c59206f6e2074686973");
  Bytes id = H("69546f6c64596f7541626f75745374616972732e");
  auto c = NtorClient::start_with_secret(id, b_pk, x_sk);
  EXPECT_EQ(hex_encode(c.onionskin()),
            "69546f6c64596f7541626f75745374616972732eccbc8541904d18af08753eae967874749e6149f873de937f57f8fd903a21c"
            "471e65dfdbef8b2635837fe2cebc086a8096eae3213e6830dc407516083d412b078");
  Bytes server = H("390480a14362761d6aec1fea840f6e9e928fb2adb7b25c670be1045e35133a371cbdf68b89923e1f85e8e18ee6e805ea"
                   "333fe4849c790ffd2670bd80fec95cc8");
  auto keys = c.finish(server, 72);
  ASSERT_TRUE(keys.ok()) << keys.error().to_string();
  EXPECT_EQ(hex_encode(*keys),
            "0c62dee7f48893370d0ef896758d35729867beef1a5121df80e00f79ed349af39b51cae125719182f19d932a667dae1afbf2e3"
            "36e6910e7822223e763afad0a13342157969dc6b79");
  // The test server, fed the same secrets, produces the same reply and keys.
  auto srv = ntor_server(H("4820544f4c4420594f5520444f474954204b454550532048415050454e494e47"), c.onionskin(),
                         H("70686520737175697272656c2e2e2e2e2e2e2e2e686173206869732067616d65"), 72);
  EXPECT_EQ(hex_encode(srv.reply), hex_encode(server));
  EXPECT_EQ(hex_encode(srv.keys), hex_encode(*keys));
}

TEST(Ntor, RoundTripWithRandomKeys) {
  auto b = X25519Keypair::generate();
  Bytes id(20);
  random_bytes(id);
  auto c = NtorClient::start(id, b.public_key);
  ASSERT_EQ(c.onionskin().size(), kNtorOnionskinLen);
  Bytes y(32);
  random_bytes(y);
  auto srv = ntor_server(b.secret, c.onionskin(), y, 92);
  auto keys = c.finish(srv.reply, 92);
  ASSERT_TRUE(keys.ok()) << keys.error().to_string();
  EXPECT_EQ(*keys, srv.keys);
  // Two clients never share an ephemeral key.
  EXPECT_NE(NtorClient::start(id, b.public_key).onionskin(), c.onionskin());
}

TEST(Ntor, RefusesForgedOrMalformedReplies) {
  auto b = X25519Keypair::generate();
  Bytes id(20, 7);
  auto c = NtorClient::start(id, b.public_key);
  Bytes y(32, 9);
  auto srv = ntor_server(b.secret, c.onionskin(), y, 72);
  Bytes bad = srv.reply;
  bad[40] ^= 1;  // AUTH
  auto r = c.finish(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kCrypto);
  bad = srv.reply;
  bad[3] ^= 1;  // Y
  EXPECT_FALSE(c.finish(bad).ok());
  // A relay holding a different onion key cannot produce a valid AUTH.
  auto other = X25519Keypair::generate();
  auto srv2 = ntor_server(other.secret, c.onionskin(), y, 72, /*check_keyid=*/false);
  EXPECT_FALSE(c.finish(srv2.reply).ok());
  // Degenerate Y (the all-zero point).
  bad = srv.reply;
  std::fill(bad.begin(), bad.begin() + 32, 0);
  EXPECT_FALSE(c.finish(bad).ok());
  EXPECT_FALSE(c.finish(ByteSpan(srv.reply).subspan(0, 63)).ok());
  EXPECT_TRUE(c.finish(srv.reply).ok());
  // Bad argument sizes do not crash; finish() says why.
  auto broken = NtorClient::start(Bytes(19), b.public_key);
  EXPECT_TRUE(broken.onionskin().empty());
  EXPECT_EQ(broken.finish(srv.reply).error().kind(), ErrorKind::kInvalidArgument);
}

// Captured from a C tor 0.4.9.11 relay on loopback (throwaway keys; see
// data/README.md): our onionskin for a fixed x went in a CREATE2 cell, the
// relay's CREATED2 HDATA came back. AUTH verifying proves interoperation.
TEST(Ntor, RealRelayCreated2) {
  auto c = NtorClient::start_with_secret(H("3553855d8f2e5cdafcd55916ec7994f1cc0c79a6"),
                                         H("6d6ed66bb7ba24f381cd79583c9697da0ac938119fbd6199042b50ce209c597b"),
                                         H("ba61ab67ec66b4482cd97ddde4b7d8663ea2c9c69ec928068696f19f27446902"));
  EXPECT_EQ(hex_encode(c.onionskin()),
            "3553855d8f2e5cdafcd55916ec7994f1cc0c79a66d6ed66bb7ba24f381cd79583c9697da0ac938119fbd6199042b50ce209c"
            "597b71dbada21a69ba0e478c665d797a3d820c59ff5368a466afcfd24c221401e250");
  Bytes reply = H("55525dcbaa88a35ac92c2ad582205ffcda28595fabf3593a4481a26082fff1170b74458e8e0cef5cdd8d3e598eca5af4"
                  "93fd8fb80fef057c7b9d82b7c15c0633");
  auto keys = c.finish(reply);
  ASSERT_TRUE(keys.ok()) << keys.error().to_string();
  EXPECT_EQ(keys->size(), 72u);
  reply[63] ^= 1;
  EXPECT_FALSE(c.finish(reply).ok());
}
