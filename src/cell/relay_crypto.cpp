#include "cell/relay_crypto.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <string>

#include "cell/relay.h"

namespace tc::cell {

namespace {
// A three-hop circuit's layers go in one pass; longer paths in several.
constexpr size_t kLayersPerPass = 3;
}  // namespace

HopCrypto::HopCrypto(ByteSpan key_material72) {
  assert(key_material72.size() == kTor1KeyMaterialLen && "tor1 key material must be 72 bytes");
  // Df(20) Db(20) Kf(16) Kb(16)
  forward_digest_.update(key_material72.subspan(0, 20));
  backward_digest_.update(key_material72.subspan(20, 20));
  forward_cipher_ =
      crypto::AesCtrKeystream(key_material72.subspan(40, 16), kCellPayloadLen, kForwardCellsAhead, kBufferAfterCells);
  backward_cipher_ =
      crypto::AesCtrKeystream(key_material72.subspan(56, 16), kCellPayloadLen, kBackwardCellsAhead, kBufferAfterCells);
}

void ClientCircuitCrypto::add_hop(HopCrypto hop) { hops_.push_back(std::move(hop)); }

RelayDigest ClientCircuitCrypto::encrypt_outbound(CellPayload &payload, size_t target) {
  assert(target < hops_.size() && "encrypt_outbound: no such hop");
  uint8_t *p = payload.data();
  p[kRelayRecognizedOffset] = p[kRelayRecognizedOffset + 1] = 0;
  std::memset(p + kRelayDigestOffset, 0, 4);
  HopCrypto &dest = hops_[target];
  dest.forward_digest_.update(payload);
  const RelayDigest d = dest.forward_digest_.finish();
  std::memcpy(p + kRelayDigestOffset, d.data(), 4);
  // Every layer from the target's down to the guard's, in one pass over the
  // payload where the keystreams are buffered (CTR layers are XORs, so
  // their order does not matter).
  std::array<const uint8_t *, kLayersPerPass> ks;
  size_t n = 0;
  for (size_t i = 0; i <= target; ++i) {
    if (n == kLayersPerPass) {
      crypto::xor_keystreams(p, ks.data(), n, kCellPayloadLen);
      n = 0;
    }
    if (const uint8_t *k = hops_[i].forward_cipher_.next_block(p)) ks[n++] = k;
  }
  crypto::xor_keystreams(p, ks.data(), n, kCellPayloadLen);
  return d;
}

Result<size_t> ClientCircuitCrypto::decrypt_inbound(PayloadSpan payload, RelayDigest *digest_out) {
  uint8_t *p = payload.data();
  // Layers are peeled from the guard's on (§5.5.3), but a buffered layer
  // only needs to be applied to the whole payload once a hop might
  // recognize the cell: until then only the two recognized bytes are
  // followed (r0, r1: the payload's with every layer so far, applied or
  // pending), and the pending layers' keystreams go in together, in one pass.
  std::array<const uint8_t *, kLayersPerPass> pending;
  size_t n_pending = 0;
  uint8_t r0 = p[kRelayRecognizedOffset], r1 = p[kRelayRecognizedOffset + 1];
  for (size_t i = 0; i < hops_.size(); ++i) {
    HopCrypto &hop = hops_[i];
    if (n_pending == kLayersPerPass) {
      crypto::xor_keystreams(p, pending.data(), n_pending, kCellPayloadLen);
      n_pending = 0;
    }
    const uint8_t b0 = p[kRelayRecognizedOffset], b1 = p[kRelayRecognizedOffset + 1];
    if (const uint8_t *k = hop.backward_cipher_.next_block(p)) {
      pending[n_pending++] = k;
      r0 ^= k[kRelayRecognizedOffset];
      r1 ^= k[kRelayRecognizedOffset + 1];
    } else {  // applied in place
      r0 ^= p[kRelayRecognizedOffset] ^ b0;
      r1 ^= p[kRelayRecognizedOffset + 1] ^ b1;
    }
    if ((r0 | r1) != 0) continue;
    crypto::xor_keystreams(p, pending.data(), n_pending, kCellPayloadLen);
    n_pending = 0;
    // Candidate: check the digest on a copy of the running state (a plain
    // value, no allocation) and commit only on a match (§6.1).
    uint8_t received[4];
    std::memcpy(received, p + kRelayDigestOffset, 4);
    std::memset(p + kRelayDigestOffset, 0, 4);
    crypto::Sha1State candidate = hop.backward_digest_;
    candidate.update(payload);
    const RelayDigest d = candidate.finish();
    std::memcpy(p + kRelayDigestOffset, received, 4);
    if (std::memcmp(d.data(), received, 4) == 0) {
      hop.backward_digest_ = candidate;
      if (digest_out) *digest_out = d;
      return i;
    }
  }
  crypto::xor_keystreams(p, pending.data(), n_pending, kCellPayloadLen);
  return Error(ErrorKind::kCrypto,
               "relay cell not recognized by any of the circuit's " + std::to_string(hops_.size()) + " hops");
}

}  // namespace tc::cell
