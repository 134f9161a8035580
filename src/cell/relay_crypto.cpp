#include "cell/relay_crypto.h"

#include <cassert>
#include <cstring>
#include <string>

#include "cell/relay.h"

namespace tc::cell {

HopCrypto::HopCrypto(ByteSpan key_material72) {
  assert(key_material72.size() == kTor1KeyMaterialLen && "tor1 key material must be 72 bytes");
  // Df(20) Db(20) Kf(16) Kb(16)
  forward_digest_.update(key_material72.subspan(0, 20));
  backward_digest_.update(key_material72.subspan(20, 20));
  forward_cipher_ = crypto::AesCtr(key_material72.subspan(40, 16));
  backward_cipher_ = crypto::AesCtr(key_material72.subspan(56, 16));
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
  for (size_t i = target + 1; i-- > 0;) hops_[i].forward_cipher_.apply(payload);
  return d;
}

Result<size_t> ClientCircuitCrypto::decrypt_inbound(PayloadSpan payload, RelayDigest *digest_out) {
  uint8_t *p = payload.data();
  for (size_t i = 0; i < hops_.size(); ++i) {
    HopCrypto &hop = hops_[i];
    hop.backward_cipher_.apply(payload);
    if (p[kRelayRecognizedOffset] != 0 || p[kRelayRecognizedOffset + 1] != 0) continue;
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
  return Error(ErrorKind::kCrypto,
               "relay cell not recognized by any of the circuit's " + std::to_string(hops_.size()) + " hops");
}

}  // namespace tc::cell
