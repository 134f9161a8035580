// tor1 relay cell crypto, the client (origin) side of a circuit (tor-spec
// §5.2, §5.5, §6.1): per hop, AES-128-CTR with a zero IV in each direction
// plus a running SHA-1 over every relay cell that starts or ends at that hop.
// No per-cell allocation.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "cell/cell.h"
#include "crypto/crypto.h"
#include "util/bytes.h"
#include "util/error.h"

namespace tc::cell {

// KDF output layout for tor1 (§5.2.2 for ntor, §5.2.1 after KH for KDF-TOR):
// Df(20) Db(20) Kf(16) Kb(16).
constexpr size_t kTor1KeyMaterialLen = 72;
using RelayDigest = std::array<uint8_t, 20>;

class HopCrypto {
 public:
  // key_material72 must be exactly 72 bytes (asserted); extra bytes (ntor's
  // KH/nonce) must be cut off by the caller.
  explicit HopCrypto(ByteSpan key_material72);
  HopCrypto(HopCrypto &&) noexcept = default;
  HopCrypto &operator=(HopCrypto &&) noexcept = default;

  // Relay payloads are always 509 bytes: once a direction carries data, its
  // keystream is made a few cells ahead (more inbound, where downloads put
  // the load).
  static constexpr size_t kForwardCellsAhead = 2;
  static constexpr size_t kBackwardCellsAhead = 4;
  // A direction that has carried this many cells is carrying data.
  static constexpr uint32_t kBufferAfterCells = 16;

 private:
  friend class ClientCircuitCrypto;
  crypto::AesCtrKeystream forward_cipher_;   // Kf
  crypto::AesCtrKeystream backward_cipher_;  // Kb
  crypto::Sha1State forward_digest_;   // seeded with Df
  crypto::Sha1State backward_digest_;  // seeded with Db
};

class ClientCircuitCrypto {
 public:
  // Hops are added in path order: the guard first.
  void add_hop(HopCrypto hop);
  size_t hop_count() const { return hops_.size(); }
  // Drops every hop after the first n (after a TRUNCATED).
  void truncate(size_t n) {
    if (n < hops_.size()) hops_.erase(hops_.begin() + static_cast<std::ptrdiff_t>(n), hops_.end());
  }

  // Originates a relay cell to hop `target` (0-based, < hop_count(),
  // asserted). Sets recognized and the digest field to zero, adds the whole
  // 509-byte payload to that hop's forward running digest, writes its first
  // 4 bytes into the digest field, then encrypts with Kf of hops target..0
  // (the guard's layer last, §5.5.2.1). Returns the full 20-byte forward
  // running digest after this cell: remember it when this DATA cell is the
  // one a SENDME v1 from that hop will acknowledge (prop 289).
  RelayDigest encrypt_outbound(CellPayload &payload, size_t target);

  // Decrypts an inbound RELAY payload one layer at a time from the guard
  // (§5.5.3). At each hop, if recognized == 0 and the first 4 bytes of
  // (that hop's backward running digest + this payload with the digest field
  // zeroed) match the digest field, the running digest is updated and the
  // hop index returned; otherwise the running digest is untouched and the
  // next layer is removed. The payload is left fully decrypted for that hop.
  // Error (kCrypto) if no hop recognizes it: the client must close the
  // circuit (§6.1). digest_out (may be null) receives the full 20-byte
  // backward running digest after this cell; put it in our SENDME v1 when
  // this is the DATA cell that makes us send one (prop 289).
  Result<size_t> decrypt_inbound(PayloadSpan payload, RelayDigest *digest_out);

 private:
  std::vector<HopCrypto> hops_;
};

}  // namespace tc::cell
