// ntor v3 (proposal 332): the proposal's test vectors, a round trip against
// an independently written relay side, forgeries, and the extension format.
#include <gtest/gtest.h>

#include "crypto/crypto.h"
#include "crypto/ntor_v3.h"

using namespace tc;
using namespace tc::crypto;

namespace {
Bytes H(std::string_view hex) { return *hex_decode(hex); }
const std::string kProto = "ntor3-curve25519-sha3_256-1";

Bytes encap(ByteSpan s) {
  Bytes out;
  Writer w(out);
  w.u64(s.size());
  w.bytes(s);
  return out;
}
Bytes cat(std::initializer_list<ByteSpan> parts) {
  Bytes out;
  for (auto p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
ByteSpan S(const std::string &s) { return as_bytes(s); }
// Prop 332 A.1, written out directly from the text.
Bytes h(const std::string &t, ByteSpan s) {
  auto d = sha3_256(cat({encap(S(kProto + t)), s}));
  return Bytes(d.begin(), d.end());
}
Bytes kdf(const std::string &t, ByteSpan s, size_t n) { return shake256(cat({encap(S(kProto + t)), s}), n); }
Bytes mac(const std::string &t, ByteSpan k, ByteSpan msg) {
  auto d = sha3_256(cat({encap(S(kProto + t)), encap(k), msg}));
  return Bytes(d.begin(), d.end());
}
Bytes aes(ByteSpan k, ByteSpan m) {
  Bytes out(m.begin(), m.end());
  if (!out.empty()) AesCtr(k).apply(out);
  return out;
}

// Test-only relay side. Returns the reply, the decrypted client message and
// key_len bytes of KEYSTREAM; an empty reply if the client MAC fails.
struct ServerOut {
  Bytes reply, client_message, keystream;
};
ServerOut ntor3_server(ByteSpan b_secret, ByteSpan id, ByteSpan onionskin, ByteSpan ver, ByteSpan y_secret,
                       ByteSpan server_message, size_t key_len) {
  auto kb = X25519Keypair::from_secret(b_secret);
  auto ky = X25519Keypair::from_secret(y_secret);
  ServerOut out;
  ByteSpan X = onionskin.subspan(64, 32);
  ByteSpan msg = onionskin.subspan(96, onionskin.size() - 128);
  ByteSpan got_mac = onionskin.subspan(onionskin.size() - 32);
  Bytes xb(32);
  auto xbr = x25519(kb.secret, X);
  std::copy(xbr->begin(), xbr->end(), xb.begin());
  Bytes p1 = kdf(":kdf_phase1", cat({xb, id, X, kb.public_key, S(kProto), encap(ver)}), 64);
  ByteSpan enc_k1(p1.data(), 32), mac_k1(p1.data() + 32, 32);
  Bytes expected_mac = mac(":msg_mac", mac_k1, cat({id, kb.public_key, X, msg}));
  if (expected_mac != Bytes(got_mac.begin(), got_mac.end())) return out;
  out.client_message = aes(enc_k1, msg);
  auto xy = x25519(ky.secret, X);
  Bytes si = cat({*xy, xb, id, kb.public_key, X, ky.public_key, S(kProto), encap(ver)});
  Bytes key_seed = h(":key_seed", si), verify = h(":verify", si);
  Bytes raw = kdf(":kdf_final", key_seed, 32 + key_len);
  Bytes enc = aes(ByteSpan(raw.data(), 32), server_message);
  Bytes auth = h(":auth_final", cat({verify, id, kb.public_key, ky.public_key, X, expected_mac, encap(enc),
                                     S(kProto), S("Server")}));
  out.reply = cat({ky.public_key, auth, enc});
  out.keystream.assign(raw.begin() + 32, raw.end());
  return out;
}

// Proposal 332 "X.2: Test vectors".
const char *kB = "f8307a2bc1870b00b828bb74dbb8fd88e632a6375ab3bcd1ae706aaa8b6cdd1d";
const char *kb = "4051daa5921cfa2a1c27b08451324919538e79e788a81b38cbed097a5dff454a";
const char *kId = "9fad2af287ef942632833d21f946c6260c33fae6172b60006e86e4a6911753a2";
const char *kx = "b825a3719147bcbe5fb1d0b0fcb9c09e51948048e2e3283d2ab7b45b5ef38b49";
const char *ky = "4865a5b7689dafd978f529291c7171bc159be076b92186405d13220b80e2a053";
const char *kCM = "68656c6c6f20776f726c64";
const char *kVER = "78797a7a79";
const char *kSM = "486f6c61204d756e646f";
const char *kClientHandshake =
    "9fad2af287ef942632833d21f946c6260c33fae6172b60006e86e4a6911753a2f8307a2bc1870b00b828bb74dbb8fd88e632a6375ab3"
    "bcd1ae706aaa8b6cdd1d252fe9ae91264c91d4ecb8501f79d0387e34ad8ca0f7c995184f7d11d5da4f463bebd9151fd3b47c180abc9e04"
    "4d53565f04d82bbb3bebed3d06cea65db8be9c72b68cd461942088502f67";
const char *kServerHandshake =
    "4bf4814326fdab45ad5184f5518bd7fae25dc59374062698201a50a22954246d2fc5f8773ca824542bc6cf6f57c7c29bbf4e5476461a"
    "b130c5b18ab0a91276651202c3e1e87c0d32054c";
const char *kKeystream =
    "9c19b631fd94ed86a817e01f6c80b0743a43f5faebd39cfaa8b00fa8bcc65c3bfeaa403d91acbd68a821bf6ee8504602b094a254392a"
    "07737d5662768c7a9fb1b2814bb34780eaee6e867c773e28c212ead563e98a1cd5d5b4576f5ee61c59bde025ff2851bb19b721421694"
    "f263818e3531e43a9e4e3e2c661e2ad547d8984caa28ebecd3e4525452299be26b9185a20a90ce1eac20a91f2832d731b54502b09749"
    "b5a2a2949292f8cfcbeffb790c7790ed935a9d251e7e336148ea83b063a5618fcff674a44581585fd22077ca0e52c59a24347a38d1a1c"
    "eebddbf238541f226b8f88d0fb9c07a1bcd2ea764bbbb5dacdaf5312a14c0b9e4f06309b0333b4a";
}  // namespace

TEST(NtorV3, Proposal332Vectors) {
  auto c = NtorV3Client::start_with_secret(H(kId), H(kB), H(kCM), H(kVER), H(kx));
  ASSERT_TRUE(c.status().ok());
  EXPECT_EQ(hex_encode(c.onionskin()), kClientHandshake);
  auto r = c.finish(H(kServerHandshake), 256);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(hex_encode(r->server_message), kSM);
  EXPECT_EQ(hex_encode(r->key_material), kKeystream);
  // tor1 relay crypto takes the first 72 bytes: Df(20) Db(20) Kf(16) Kb(16).
  auto r72 = c.finish(H(kServerHandshake));
  ASSERT_TRUE(r72.ok());
  EXPECT_EQ(hex_encode(r72->key_material), std::string(kKeystream).substr(0, 144));
}

TEST(NtorV3, TestServerReproducesVectors) {
  auto srv = ntor3_server(H(kb), H(kId), H(kClientHandshake), H(kVER), H(ky), H(kSM), 256);
  EXPECT_EQ(hex_encode(srv.client_message), kCM);
  EXPECT_EQ(hex_encode(srv.reply), kServerHandshake);
  EXPECT_EQ(hex_encode(srv.keystream), kKeystream);
}

TEST(NtorV3, RoundTripWithCongestionControlExtension) {
  auto b = X25519Keypair::generate();
  Bytes id(32);
  random_bytes(id);
  Bytes cm = encode_ntor_v3_extensions({{kNtorV3ExtCcRequest, {}}});
  EXPECT_EQ(hex_encode(cm), "010100");
  auto c = NtorV3Client::start(id, b.public_key, cm);
  ASSERT_EQ(c.onionskin().size(), kNtorV3OnionskinOverhead + cm.size());
  Bytes y(32);
  random_bytes(y);
  Bytes sm = encode_ntor_v3_extensions({{kNtorV3ExtCcResponse, {31}}});
  auto srv = ntor3_server(b.secret, id, c.onionskin(), as_bytes(kNtorV3CircuitVerification), y, sm, 72);
  ASSERT_FALSE(srv.reply.empty()) << "client MAC refused by test server";
  EXPECT_EQ(srv.client_message, cm);
  auto r = c.finish(srv.reply);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->key_material, srv.keystream);
  auto exts = decode_ntor_v3_extensions(r->server_message);
  ASSERT_TRUE(exts.ok());
  ASSERT_EQ(exts->size(), 1u);
  EXPECT_EQ((*exts)[0].first, kNtorV3ExtCcResponse);
  EXPECT_EQ((*exts)[0].second, Bytes{31});
}

TEST(NtorV3, RefusesForgeries) {
  auto c = NtorV3Client::start_with_secret(H(kId), H(kB), H(kCM), H(kVER), H(kx));
  Bytes good = H(kServerHandshake);
  for (size_t i : {0u, 40u, 70u}) {  // Y, AUTH, encrypted server message
    Bytes bad = good;
    bad[i] ^= 0x80;
    auto r = c.finish(bad);
    ASSERT_FALSE(r.ok()) << "byte " << i;
    EXPECT_EQ(r.error().kind(), ErrorKind::kCrypto);
  }
  EXPECT_FALSE(c.finish(ByteSpan(good).subspan(0, 63)).ok());
  Bytes zero_y = good;
  std::fill(zero_y.begin(), zero_y.begin() + 32, 0);
  EXPECT_FALSE(c.finish(zero_y).ok());
  // A different verification string gives a different handshake.
  auto c2 = NtorV3Client::start_with_secret(H(kId), H(kB), H(kCM), {}, H(kx));
  EXPECT_NE(c2.onionskin(), c.onionskin());
  EXPECT_FALSE(c2.finish(good).ok());
  // The relay refuses a tampered client message.
  Bytes skin = c.onionskin();
  skin[100] ^= 1;
  EXPECT_TRUE(ntor3_server(H(kb), H(kId), skin, H(kVER), H(ky), H(kSM), 72).reply.empty());
  // Bad inputs report errors instead of crashing.
  auto bad = NtorV3Client::start(Bytes(20), H(kB), {});
  EXPECT_FALSE(bad.status().ok());
  EXPECT_TRUE(bad.onionskin().empty());
  EXPECT_FALSE(bad.finish(good).ok());
  auto degenerate = NtorV3Client::start(H(kId), Bytes(32, 0), {});
  EXPECT_EQ(degenerate.status().error().kind(), ErrorKind::kCrypto);
}

TEST(NtorV3, ExtensionEncoding) {
  NtorV3Extensions exts{{1, {}}, {2, {0x1f}}, {9, Bytes(255, 0xaa)}};
  Bytes enc = encode_ntor_v3_extensions(exts);
  EXPECT_EQ(enc.size(), 1u + 2 + 3 + 257);
  EXPECT_EQ(hex_encode(ByteSpan(enc).subspan(0, 6)), "030100" "02011f");
  auto dec = decode_ntor_v3_extensions(enc);
  ASSERT_TRUE(dec.ok());
  EXPECT_EQ(*dec, exts);
  EXPECT_EQ(hex_encode(encode_ntor_v3_extensions({})), "00");
  EXPECT_TRUE(decode_ntor_v3_extensions({}).ok());
  EXPECT_TRUE(decode_ntor_v3_extensions(H("00"))->empty());
  // Truncated body, missing header, trailing garbage.
  auto t = decode_ntor_v3_extensions(H("010203aabb"));
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message().find("extension 0"), std::string::npos) << t.error().message();
  EXPECT_FALSE(decode_ntor_v3_extensions(H("0201")).ok());
  EXPECT_FALSE(decode_ntor_v3_extensions(H("0101001f")).ok());
}

// Captured from a C tor 0.4.9.11 relay on loopback (throwaway keys; see
// data/README.md): CREATE2 type 3 with a congestion-control request and the
// "circuit extend" verification string; the relay answered CREATED2 with a
// congestion-control response (type 2, SENDME_INC 31).
TEST(NtorV3, RealRelayCreated2) {
  Bytes cm = encode_ntor_v3_extensions({{kNtorV3ExtCcRequest, {}}});
  auto c = NtorV3Client::start_with_secret(H("d887a098f02ed6be0dd2e1659e7e27674d08ec11207de37b04be40a7f2a7f08c"),
                                           H("6d6ed66bb7ba24f381cd79583c9697da0ac938119fbd6199042b50ce209c597b"),
                                           cm, as_bytes(kNtorV3CircuitVerification),
                                           H("0d64c2d6ba0cdf8b02f9b5ebd3e3e2d595d578610c4570e3580897a81509f2a1"));
  EXPECT_EQ(hex_encode(c.onionskin()),
            "d887a098f02ed6be0dd2e1659e7e27674d08ec11207de37b04be40a7f2a7f08c6d6ed66bb7ba24f381cd79583c9697da0ac93811"
            "9fbd6199042b50ce209c597be39a166baa41a48cc1f840537c2ac0228c23413e9dcdd5d9db108017c7062e2defd83716436fd019"
            "0d4fbab42b361619820eb18500ecb4f63ca5ed2f3d1bc3bdeb9324");
  Bytes reply = H("9287fbeea9aed9f069a6cfd834dfe4f02a1b727bac2136ccb3d9d2e83d9c265fbd86ad07d0c339eb108fbc76e2ec2f30cc57"
                  "757fb2849ae2984f19adc6f9056a2fc29556");
  auto r = c.finish(reply);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(hex_encode(r->server_message), "0102011f");
  auto exts = decode_ntor_v3_extensions(r->server_message);
  ASSERT_TRUE(exts.ok());
  ASSERT_EQ(exts->size(), 1u);
  EXPECT_EQ((*exts)[0].first, kNtorV3ExtCcResponse);
  // The default verification string is the one the relay used.
  auto d = NtorV3Client::start(H("d887a098f02ed6be0dd2e1659e7e27674d08ec11207de37b04be40a7f2a7f08c"),
                               H("6d6ed66bb7ba24f381cd79583c9697da0ac938119fbd6199042b50ce209c597b"), cm);
  EXPECT_TRUE(d.status().ok());
  auto with_empty = NtorV3Client::start_with_secret(
      H("d887a098f02ed6be0dd2e1659e7e27674d08ec11207de37b04be40a7f2a7f08c"),
      H("6d6ed66bb7ba24f381cd79583c9697da0ac938119fbd6199042b50ce209c597b"), cm, {},
      H("0d64c2d6ba0cdf8b02f9b5ebd3e3e2d595d578610c4570e3580897a81509f2a1"));
  EXPECT_FALSE(with_empty.finish(reply).ok());
}
