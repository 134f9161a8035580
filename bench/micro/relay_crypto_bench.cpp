// Relay-cell crypto (tor-spec §5.5, §6.1) against its floor: raw
// AES-128-CTR and SHA-1 over one 509-byte relay payload, straight through
// OpenSSL's EVP interface on the same machine. run_bench.py divides
// ClientCircuitCrypto's per-cell time by (hops x AES + 1 x SHA-1) for the
// "within 1.3x of the floor" target.
#include <benchmark/benchmark.h>
#include <openssl/evp.h>

#include <cstring>
#include <vector>

#include "cell/relay.h"
#include "cell/relay_crypto.h"
#include "crypto/crypto.h"

namespace {
using namespace tc;

// ---- the floor ------------------------------------------------------------

void BM_Floor_Aes128Ctr_509(benchmark::State &state) {
  uint8_t key[16] = {1, 2, 3}, iv[16] = {};
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  EVP_EncryptInit_ex(ctx, EVP_aes_128_ctr(), nullptr, key, iv);
  cell::CellPayload buf{};
  int outl = 0;
  for (auto _ : state) {
    EVP_EncryptUpdate(ctx, buf.data(), &outl, buf.data(), static_cast<int>(buf.size()));
    benchmark::DoNotOptimize(buf);
  }
  EVP_CIPHER_CTX_free(ctx);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 509);
}
BENCHMARK(BM_Floor_Aes128Ctr_509);

// A running SHA-1 fed one payload per iteration (what a hop's digest does).
void BM_Floor_Sha1_509(benchmark::State &state) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha1(), nullptr);
  cell::CellPayload buf{};
  for (auto _ : state) {
    EVP_DigestUpdate(ctx, buf.data(), buf.size());
    benchmark::ClobberMemory();
  }
  EVP_MD_CTX_free(ctx);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 509);
}
BENCHMARK(BM_Floor_Sha1_509);

// The library's own wrappers over the same primitives.
void BM_AesCtr_509(benchmark::State &state) {
  uint8_t key[16] = {1, 2, 3};
  crypto::AesCtr aes(ByteSpan(key, 16));
  cell::CellPayload buf{};
  for (auto _ : state) {
    aes.apply(buf);
    benchmark::DoNotOptimize(buf);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 509);
}
BENCHMARK(BM_AesCtr_509);

void BM_Sha1State_509_update_finish(benchmark::State &state) {
  crypto::Sha1State s;
  cell::CellPayload buf{};
  for (auto _ : state) {
    s.update(buf);
    auto d = s.finish();
    benchmark::DoNotOptimize(d);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 509);
}
BENCHMARK(BM_Sha1State_509_update_finish);

// ---- ClientCircuitCrypto ----------------------------------------------------

Bytes hop_keys(uint8_t hop) {
  Bytes k(cell::kTor1KeyMaterialLen);
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(hop * 71 + i * 13 + 5);
  return k;
}

cell::ClientCircuitCrypto make_client(size_t hops) {
  cell::ClientCircuitCrypto c;
  for (size_t h = 0; h < hops; ++h) c.add_hop(cell::HopCrypto(hop_keys(static_cast<uint8_t>(h))));
  return c;
}

cell::CellPayload data_cell(uint32_t n) {
  cell::CellPayload p{};
  Bytes body(498);
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<uint8_t>(n + i);
  cell::pack_relay_payload(cell::RelayCommand::kData, 1, body, p);
  return p;
}

// Outbound: originate a DATA cell to the last hop (digest + `hops` layers).
void BM_RelayCrypto_Outbound(benchmark::State &state) {
  const size_t hops = static_cast<size_t>(state.range(0));
  auto c = make_client(hops);
  cell::CellPayload tmpl = data_cell(7), p;
  for (auto _ : state) {
    p = tmpl;
    auto d = c.encrypt_outbound(p, hops - 1);
    benchmark::DoNotOptimize(d);
    benchmark::DoNotOptimize(p);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 509);
}
BENCHMARK(BM_RelayCrypto_Outbound)->Arg(1)->Arg(3);

// Relay side of the backward direction, written here from §5.5.3/§6.1:
// the last hop digests and encrypts, each earlier hop adds its layer.
struct RelaySide {
  std::vector<crypto::AesCtr> kb;
  std::vector<crypto::Sha1State> db;
  explicit RelaySide(size_t hops) {
    for (size_t h = 0; h < hops; ++h) {
      Bytes k = hop_keys(static_cast<uint8_t>(h));
      crypto::Sha1State s;
      s.update(ByteSpan(k.data() + 20, 20));
      db.push_back(s);
      kb.emplace_back(ByteSpan(k.data() + 56, 16));
    }
  }
  cell::CellPayload originate(uint32_t n) {
    cell::CellPayload p = data_cell(n);
    const size_t last = kb.size() - 1;
    db[last].update(p);
    auto d = db[last].finish();
    std::memcpy(p.data() + cell::kRelayDigestOffset, d.data(), 4);
    for (size_t i = last + 1; i-- > 0;) kb[i].apply(p);
    return p;
  }
};

// Inbound: a DATA cell from the last hop (`hops` layers off, the earlier
// hops' recognized check fails fast, one digest check at the last hop).
// The cells are made in setup in batches; the client restarts from the same
// keys at each batch so its cipher/digest state matches.
void BM_RelayCrypto_Inbound(benchmark::State &state) {
  const size_t hops = static_cast<size_t>(state.range(0));
  constexpr size_t kBatch = 4096;
  std::vector<cell::CellPayload> master;
  {
    RelaySide r(hops);
    for (uint32_t i = 0; i < kBatch; ++i) master.push_back(r.originate(i));
  }
  std::vector<cell::CellPayload> work = master;
  auto c = make_client(hops);
  size_t next = 0;
  for (auto _ : state) {
    if (next == kBatch) {
      state.PauseTiming();
      work = master;
      c = make_client(hops);
      next = 0;
      state.ResumeTiming();
    }
    cell::RelayDigest d;
    auto r = c.decrypt_inbound(work[next++], &d);
    if (!r.ok() || *r != hops - 1) {
      state.SkipWithError("cell not recognized at the last hop");
      break;
    }
    benchmark::DoNotOptimize(d);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 509);
}
BENCHMARK(BM_RelayCrypto_Inbound)->Arg(1)->Arg(3);

}  // namespace
