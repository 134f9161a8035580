// The ntor v3 circuit handshake, client side (proposal 332; tor-spec "The
// ntor-v3 handshake"): CREATE2 / EXTEND2 handshake type 3, carrying an
// encrypted client message and an encrypted server reply. No I/O.
#pragma once
#include <array>
#include <string_view>
#include <utility>
#include <vector>

#include "util/bytes.h"
#include "util/error.h"

namespace tc::crypto {

inline constexpr uint16_t kNtorV3HandshakeType = 3;
// ID(32) | B(32) | X(32) | MSG | MAC(32)
inline constexpr size_t kNtorV3OnionskinOverhead = 128;
// Y(32) | AUTH(32) | MSG
inline constexpr size_t kNtorV3ReplyOverhead = 64;
// The verification string for circuit extension. Not in prop 332 or
// tor-spec; C tor (onion_crypto.c NTOR3_CIRC_VERIFICATION) and arti both use
// it, and a relay refuses the handshake with any other value.
inline constexpr std::string_view kNtorV3CircuitVerification = "circuit extend";

class NtorV3Client {
 public:
  // relay_ed_id: 32-byte Ed25519 identity; ntor_onion_key32: curve25519 key
  // from the microdescriptor; client_message: the plaintext extension
  // payload (encode_ntor_v3_extensions), e.g. the congestion-control request
  // (extension type 1, empty); verification: "circuit extend" for circuit
  // extension (the default).
  // Bad argument sizes or a degenerate onion key leave the onionskin empty;
  // status() and finish() then report the error.
  static NtorV3Client start(ByteSpan relay_ed_id32, ByteSpan ntor_onion_key32, ByteSpan client_message,
                            ByteSpan verification = as_bytes(kNtorV3CircuitVerification));
  // As start(), with the ephemeral secret x given explicitly (test vectors).
  static NtorV3Client start_with_secret(ByteSpan relay_ed_id32, ByteSpan ntor_onion_key32,
                                        ByteSpan client_message, ByteSpan verification,
                                        ByteSpan client_secret32);

  NtorV3Client(const NtorV3Client &) = default;
  NtorV3Client &operator=(const NtorV3Client &) = default;
  NtorV3Client(NtorV3Client &&) noexcept = default;
  NtorV3Client &operator=(NtorV3Client &&) noexcept = default;
  ~NtorV3Client();

  // Whether start() succeeded (an error says why not).
  Status status() const;
  // ID | B | X | encrypted client message | MAC: the CREATE2/EXTEND2 HDATA.
  const Bytes &onionskin() const { return onionskin_; }

  struct Outcome {
    Bytes key_material;    // key_len bytes of KEYSTREAM (tor1: Df(20) Db(20) Kf(16) Kb(16))
    Bytes server_message;  // decrypted SM (decode_ntor_v3_extensions)
  };
  // reply: the HDATA of CREATED2/EXTENDED2 (Y | AUTH | encrypted server message).
  // Verifies AUTH in constant time, then derives keys with SHAKE-256.
  Result<Outcome> finish(ByteSpan reply, size_t key_len = 72) const;

 private:
  NtorV3Client() = default;
  bool valid_ = false;
  bool degenerate_ = false;
  std::array<uint8_t, 32> id_{};
  std::array<uint8_t, 32> b_{};
  std::array<uint8_t, 32> x_{};
  std::array<uint8_t, 32> X_{};
  std::array<uint8_t, 32> bx_{};   // EXP(B, x), kept for phase 2
  std::array<uint8_t, 32> mac_{};  // msg_mac from phase 1
  Bytes verification_;
  Bytes onionskin_;
};

// ntor-v3 message "extensions" (C tor's trn_extension, prop 332 A.2):
// N_EXTENSIONS [1 byte], then N times: TYPE [1], LEN [1], BODY [LEN].
// Congestion control (prop 324): client request type 1 (empty body),
// relay response type 2 (SENDME_INC [1 byte]).
inline constexpr uint8_t kNtorV3ExtCcRequest = 1;
inline constexpr uint8_t kNtorV3ExtCcResponse = 2;
using NtorV3Extensions = std::vector<std::pair<uint8_t, Bytes>>;
// Bodies longer than 255 bytes or more than 255 extensions are a caller bug;
// encoding truncates neither silently: such entries are dropped (asserted in debug).
Bytes encode_ntor_v3_extensions(const NtorV3Extensions &exts);
// An empty message counts as zero extensions. Trailing bytes are refused.
Result<NtorV3Extensions> decode_ntor_v3_extensions(ByteSpan msg);

}  // namespace tc::crypto
