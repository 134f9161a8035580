// The ntor circuit handshake, client side (tor-spec §5.1.4): CREATE2 /
// EXTEND2 handshake type 2. No I/O: bytes in, key material out.
#pragma once
#include <array>

#include "util/bytes.h"
#include "util/error.h"

namespace tc::crypto {

inline constexpr uint16_t kNtorHandshakeType = 2;
inline constexpr size_t kNtorOnionskinLen = 84;  // ID(20) | B(32) | X(32)
inline constexpr size_t kNtorReplyLen = 64;      // Y(32) | AUTH(32)

class NtorClient {
 public:
  // relay_id: 20-byte RSA identity digest; ntor_onion_key: the relay's
  // 32-byte curve25519 key (from its microdescriptor). With arguments of the
  // wrong size the onionskin is empty and finish() reports the error.
  static NtorClient start(ByteSpan relay_id20, ByteSpan ntor_onion_key32);
  // As start(), with the client's ephemeral secret x given explicitly
  // (test vectors; never reuse an x).
  static NtorClient start_with_secret(ByteSpan relay_id20, ByteSpan ntor_onion_key32,
                                      ByteSpan client_secret32);

  NtorClient(const NtorClient &) = default;
  NtorClient &operator=(const NtorClient &) = default;
  NtorClient(NtorClient &&) noexcept = default;
  NtorClient &operator=(NtorClient &&) noexcept = default;
  ~NtorClient();

  // 84 bytes: ID | B | X, the CREATE2/EXTEND2 HDATA for handshake type 2.
  const Bytes &onionskin() const { return onionskin_; }
  // reply: the 64-byte HDATA of CREATED2/EXTENDED2 (Y | AUTH). Verifies AUTH
  // in constant time and returns key_len bytes of KDF-RFC5869 key material
  // (72 for tor1 relay crypto: Df Db Kf Kb).
  Result<Bytes> finish(ByteSpan reply, size_t key_len = 72) const;

 private:
  NtorClient() = default;
  bool valid_ = false;
  std::array<uint8_t, 20> id_{};
  std::array<uint8_t, 32> b_{};  // relay's ntor onion key B
  std::array<uint8_t, 32> x_{};  // our ephemeral secret
  std::array<uint8_t, 32> X_{};  // our ephemeral public key
  Bytes onionskin_;
};

}  // namespace tc::crypto
