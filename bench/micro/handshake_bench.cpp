// Client side of the circuit handshakes: ntor (tor-spec §5.1.4) and ntor v3
// (proposal 332). "start" makes the ephemeral key and the onionskin;
// "start+finish" also checks a relay reply computed once in setup by a
// relay side written here from the spec (as tests/unit/handshake do), so
// the client's x is fixed (start_with_secret) to match that reply.
#include <benchmark/benchmark.h>

#include <string>

#include "crypto/crypto.h"
#include "crypto/ntor.h"
#include "crypto/ntor_v3.h"

namespace {
using namespace tc;
using namespace tc::crypto;

Bytes cat(std::initializer_list<ByteSpan> parts) {
  Bytes out;
  for (auto p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
Bytes rnd(size_t n) {
  Bytes b(n);
  random_bytes(b);
  return b;
}
ByteSpan S(const std::string &s) { return as_bytes(s); }

// ---- ntor relay side (§5.1.4) ----
Bytes ntor_server_reply(ByteSpan b_secret, ByteSpan onionskin, ByteSpan y_secret) {
  const std::string proto = "ntor-curve25519-sha256-1";
  auto kb = X25519Keypair::from_secret(b_secret);
  auto ky = X25519Keypair::from_secret(y_secret);
  ByteSpan id = onionskin.subspan(0, 20), X = onionskin.subspan(52, 32);
  Bytes si = cat({*x25519(ky.secret, X), *x25519(kb.secret, X), id, kb.public_key, X, ky.public_key, S(proto)});
  auto verify = hmac_sha256(as_bytes(proto + ":verify"), si);
  Bytes ai = cat({verify, id, kb.public_key, ky.public_key, X, S(proto), S("Server")});
  auto auth = hmac_sha256(as_bytes(proto + ":mac"), ai);
  return cat({ky.public_key, auth});
}

void BM_Ntor_ClientStart(benchmark::State &state) {
  auto b = X25519Keypair::generate();
  Bytes id = rnd(20);
  for (auto _ : state) {
    auto c = NtorClient::start(id, b.public_key);
    benchmark::DoNotOptimize(c.onionskin().data());
  }
}
BENCHMARK(BM_Ntor_ClientStart);

void BM_Ntor_ClientStartFinish(benchmark::State &state) {
  auto b = X25519Keypair::generate();
  Bytes id = rnd(20), x = rnd(32), y = rnd(32);
  Bytes reply = ntor_server_reply(b.secret, NtorClient::start_with_secret(id, b.public_key, x).onionskin(), y);
  for (auto _ : state) {
    auto c = NtorClient::start_with_secret(id, b.public_key, x);
    auto keys = c.finish(reply, 72);
    if (!keys.ok()) return state.SkipWithError(keys.error().to_string().c_str());
    benchmark::DoNotOptimize(keys->data());
  }
}
BENCHMARK(BM_Ntor_ClientStartFinish);

// ---- ntor v3 relay side (prop 332) ----
const std::string kProto3 = "ntor3-curve25519-sha3_256-1";
Bytes encap(ByteSpan s) {
  Bytes out;
  Writer w(out);
  w.u64(s.size());
  w.bytes(s);
  return out;
}
Bytes h3(const std::string &t, ByteSpan s) {
  auto d = sha3_256(cat({encap(S(kProto3 + t)), s}));
  return Bytes(d.begin(), d.end());
}
Bytes kdf3(const std::string &t, ByteSpan s, size_t n) { return shake256(cat({encap(S(kProto3 + t)), s}), n); }
Bytes mac3(const std::string &t, ByteSpan k, ByteSpan msg) {
  auto d = sha3_256(cat({encap(S(kProto3 + t)), encap(k), msg}));
  return Bytes(d.begin(), d.end());
}
Bytes aes(ByteSpan k, ByteSpan m) {
  Bytes out(m.begin(), m.end());
  if (!out.empty()) AesCtr(k).apply(out);
  return out;
}
Bytes ntor3_server_reply(ByteSpan b_secret, ByteSpan id, ByteSpan onionskin, ByteSpan ver, ByteSpan y_secret,
                         ByteSpan server_message) {
  auto kb = X25519Keypair::from_secret(b_secret);
  auto ky = X25519Keypair::from_secret(y_secret);
  ByteSpan X = onionskin.subspan(64, 32);
  ByteSpan msg = onionskin.subspan(96, onionskin.size() - 128);
  auto xbr = x25519(kb.secret, X);
  Bytes xb(xbr->begin(), xbr->end());
  Bytes p1 = kdf3(":kdf_phase1", cat({xb, id, X, kb.public_key, S(kProto3), encap(ver)}), 64);
  ByteSpan mac_k1(p1.data() + 32, 32);
  Bytes client_mac = mac3(":msg_mac", mac_k1, cat({id, kb.public_key, X, msg}));
  auto xy = x25519(ky.secret, X);
  Bytes si = cat({*xy, xb, id, kb.public_key, X, ky.public_key, S(kProto3), encap(ver)});
  Bytes key_seed = h3(":key_seed", si), verify = h3(":verify", si);
  Bytes raw = kdf3(":kdf_final", key_seed, 32 + 72);
  Bytes enc = aes(ByteSpan(raw.data(), 32), server_message);
  Bytes auth = h3(":auth_final", cat({verify, id, kb.public_key, ky.public_key, X, client_mac, encap(enc),
                                      S(kProto3), S("Server")}));
  return cat({ky.public_key, auth, enc});
}

void BM_NtorV3_ClientStart(benchmark::State &state) {
  auto b = X25519Keypair::generate();
  Bytes id = rnd(32);
  Bytes cm = encode_ntor_v3_extensions({{kNtorV3ExtCcRequest, {}}});
  for (auto _ : state) {
    auto c = NtorV3Client::start(id, b.public_key, cm);
    benchmark::DoNotOptimize(c.onionskin().data());
  }
}
BENCHMARK(BM_NtorV3_ClientStart);

void BM_NtorV3_ClientStartFinish(benchmark::State &state) {
  auto b = X25519Keypair::generate();
  Bytes id = rnd(32), x = rnd(32), y = rnd(32);
  Bytes cm = encode_ntor_v3_extensions({{kNtorV3ExtCcRequest, {}}});
  Bytes sm = encode_ntor_v3_extensions({{kNtorV3ExtCcResponse, {31}}});
  ByteSpan ver = as_bytes(kNtorV3CircuitVerification);
  auto c0 = NtorV3Client::start_with_secret(id, b.public_key, cm, ver, x);
  Bytes reply = ntor3_server_reply(b.secret, id, c0.onionskin(), ver, y, sm);
  for (auto _ : state) {
    auto c = NtorV3Client::start_with_secret(id, b.public_key, cm, ver, x);
    auto r = c.finish(reply, 72);
    if (!r.ok()) return state.SkipWithError(r.error().to_string().c_str());
    benchmark::DoNotOptimize(r->key_material.data());
  }
}
BENCHMARK(BM_NtorV3_ClientStartFinish);

}  // namespace
