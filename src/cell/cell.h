// Cells on a channel (tor-spec §3), the link cells that open a channel (§4)
// and the circuit cells (§5). Pure encoding and decoding; no I/O.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "cell/ip_address.h"
#include "util/bytes.h"
#include "util/error.h"

namespace tc::cell {

enum class CellCommand : uint8_t {
  kPadding = 0,
  kCreate = 1,
  kCreated = 2,
  kRelay = 3,
  kDestroy = 4,
  kCreateFast = 5,
  kCreatedFast = 6,
  kVersions = 7,
  kNetinfo = 8,
  kRelayEarly = 9,
  kCreate2 = 10,
  kCreated2 = 11,
  kPaddingNegotiate = 12,
  kVpadding = 128,
  kCerts = 129,
  kAuthChallenge = 130,
  kAuthenticate = 131,
  kAuthorize = 132,
};
// "RELAY", "VERSIONS", ...; "UNKNOWN" for values not in §3.
const char *cell_command_name(CellCommand c);

constexpr size_t kCellPayloadLen = 509;
using CellPayload = std::array<uint8_t, kCellPayloadLen>;

using PayloadSpan = std::span<uint8_t, kCellPayloadLen>;
using ConstPayloadSpan = std::span<const uint8_t, kCellPayloadLen>;
// A fixed-length cell where it lies. Inbound cells stay in the channel's
// read buffer: the relay layers come off in place and the body is parsed
// there, with no copy per cell.
struct CellView {
  uint32_t circ_id;
  CellCommand command;
  PayloadSpan payload;
};
struct Cell {
  uint32_t circ_id = 0;
  CellCommand command{};
  CellPayload payload{};

  CellView view() { return CellView{circ_id, command, payload}; }
};
struct VarCell {
  uint32_t circ_id = 0;
  CellCommand command{};
  Bytes payload;
};

// VERSIONS (7) or >= 128: the variable-length commands of link protocol >= 3
// (and of the first VERSIONS exchange).
bool is_var_cell_command(uint8_t cmd);
// CIRCID_LEN (§3): 2 for link protocols < 4 and before negotiation (pass 0
// for the first VERSIONS cell), else 4.
size_t circ_id_len(uint16_t link_protocol);
// 512 or 514.
size_t fixed_cell_len(uint16_t link_protocol);
// Header of a variable-length cell: circ id, command, 2-byte length.
inline size_t var_cell_header_len(uint16_t link_protocol) { return circ_id_len(link_protocol) + 3; }

// Decodes one cell from the front of a stream buffer. kind kNone (consumed 0)
// when more bytes are needed. Unknown commands are decoded, not refused (§3:
// the receiver drops them). link_protocol 0 means "before VERSIONS"; 1 and 2
// are refused (we speak only the in-protocol handshake, v3+).
struct Decoded {
  enum Kind { kNone, kFixed, kVar } kind = kNone;
  size_t consumed = 0;
};
Result<Decoded> decode_cell(ByteSpan buf, uint16_t link_protocol, Cell &fixed_out, VarCell &var_out);
// The same without copying a fixed-length cell: on kFixed, `fixed` views
// the cell's payload inside buf (valid while buf is).
struct DecodedInPlace {
  Decoded::Kind kind = Decoded::kNone;
  size_t consumed = 0;
  std::optional<CellView> fixed;
};
Result<DecodedInPlace> decode_cell_in_place(MutableByteSpan buf, uint16_t link_protocol, VarCell &var_out);
// Append the wire encoding. circ_id must fit CIRCID_LEN; a var cell payload
// must be <= 65535 bytes (asserted).
void encode_cell(const Cell &c, uint16_t link_protocol, Bytes &out);
void encode_var_cell(const VarCell &c, uint16_t link_protocol, Bytes &out);

// ---- Link cells (§4) ----

// VERSIONS (§4.1): circ id 0; encode the first one with link_protocol 0.
VarCell make_versions_cell(std::span<const uint16_t> versions);
// Refuses an odd-length payload (§4.1: "not well-formed").
Result<std::vector<uint16_t>> parse_versions(ByteSpan payload);
// The highest version in both lists; 0 when none is in common.
uint16_t choose_link_protocol(std::span<const uint16_t> ours, std::span<const uint16_t> theirs);

// NETINFO (§4.5). Addresses whose ATYPE/ALEN disagree or are unknown are
// ignored, as the spec says.
struct Netinfo {
  uint32_t timestamp = 0;
  // The peer's view of our address (OTHERADDR).
  std::optional<std::array<uint8_t, 4>> other_ipv4;
  std::optional<std::array<uint8_t, 16>> other_ipv6;
  // The peer's own addresses, raw 4 or 16 bytes.
  std::vector<Bytes> my_addresses;

  std::optional<IpAddress> other_address() const;
  std::vector<IpAddress> my_ip_addresses() const;
};
// A client sends timestamp 0 and the relay's address as it sees it (the
// address it connected to), and no addresses of its own (§4.5). A missing
// other_address is encoded as ATYPE 0 / ALEN 0. my_addresses that do not fit
// the payload are left out.
Cell make_netinfo_cell(uint32_t timestamp, const std::optional<IpAddress> &other_address,
                       std::span<const IpAddress> my_addresses = {});
Result<Netinfo> parse_netinfo(ConstPayloadSpan payload);

// ---- Circuit cells (§5) ----

constexpr uint16_t kHandshakeTap = 0;
constexpr uint16_t kHandshakeNtor = 2;
constexpr uint16_t kHandshakeNtorV3 = 3;
// HDATA room: CREATE2 has HTYPE and HLEN (4 bytes), CREATED2 only HLEN.
constexpr size_t kCreate2HdataMax = kCellPayloadLen - 4;   // 505
constexpr size_t kCreated2HdataMax = kCellPayloadLen - 2;  // 507

// CREATE2 (§5.1). hdata must fit (asserted): 505 bytes.
Cell make_create2_cell(uint32_t circ_id, uint16_t handshake_type, ByteSpan hdata);
struct Create2 {
  uint16_t handshake_type = 0;
  Bytes hdata;
};
Result<Create2> parse_create2(ConstPayloadSpan payload);  // the relay's side, for tests
// CREATED2: returns HDATA.
Cell make_created2_cell(uint32_t circ_id, ByteSpan hdata);  // the relay's side, for tests
Result<Bytes> parse_created2(ConstPayloadSpan payload);

// DESTROY (§5.4). An OP always sends reason NONE for its own DESTROYs.
Cell make_destroy_cell(uint32_t circ_id, uint8_t reason);
inline uint8_t destroy_reason(ConstPayloadSpan payload) { return payload[0]; }
namespace destroy {
constexpr uint8_t kNone = 0, kProtocol = 1, kInternal = 2, kRequested = 3, kHibernating = 4,
                  kResourceLimit = 5, kConnectFailed = 6, kOrIdentity = 7, kChannelClosed = 8,
                  kFinished = 9, kTimeout = 10, kDestroyed = 11, kNoSuchService = 12;
}
// "NONE" .. "NOSUCHSERVICE"; "UNKNOWN" otherwise.
const char *destroy_reason_name(uint8_t reason);

}  // namespace tc::cell
