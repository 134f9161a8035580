// Relay cells (tor-spec §6.1) and the bodies of relay messages (§5.1.2, §6.2,
// §6.3, §6.4, §7.3.1 with proposal 289). No I/O.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "cell/cell.h"
#include "cell/ip_address.h"
#include "util/bytes.h"
#include "util/error.h"

namespace tc::cell {

enum class RelayCommand : uint8_t {
  kBegin = 1,
  kData = 2,
  kEnd = 3,
  kConnected = 4,
  kSendme = 5,
  kExtend = 6,
  kExtended = 7,
  kTruncate = 8,
  kTruncated = 9,
  kDrop = 10,
  kResolve = 11,
  kResolved = 12,
  kBeginDir = 13,
  kExtend2 = 14,
  kExtended2 = 15,
  kConfluxLink = 19,
  kConfluxLinked = 20,
  kConfluxLinkedAck = 21,
  kConfluxSwitch = 22,
  kEstablishIntro = 32,
  kEstablishRendezvous = 33,
  kIntroduce1 = 34,
  kIntroduce2 = 35,
  kRendezvous1 = 36,
  kRendezvous2 = 37,
  kIntroEstablished = 38,
  kRendezvousEstablished = 39,
  kIntroduceAck = 40,
  kPaddingNegotiate = 41,
  kPaddingNegotiated = 42,
  kXoff = 43,  // C tor's numbering (or.h), which the spec text has swapped
  kXon = 44,
};
// "BEGIN", "DATA", ...; "UNKNOWN" for other values.
const char *relay_command_name(RelayCommand c);

// Relay header (§6.1): command(1) recognized(2) stream id(2) digest(4) length(2).
constexpr size_t kRelayHeaderLen = 11;
constexpr size_t kRelayBodyMax = kCellPayloadLen - kRelayHeaderLen;  // 498
constexpr size_t kRelayRecognizedOffset = 1;
constexpr size_t kRelayDigestOffset = 5;

// Fills an unencrypted relay cell payload: the header with recognized = 0 and
// digest = 0, the body, then padding as C tor writes it (§6.1, prop 289):
// four zero bytes, then random bytes to the end (all zero if fewer than 4 fit).
// body must be <= 498 bytes (asserted; longer is cut).
void pack_relay_payload(RelayCommand cmd, uint16_t stream_id, ByteSpan body, CellPayload &out);

struct RelayMessage {
  RelayCommand command;
  uint16_t stream_id;
  ByteSpan body;  // views into the payload it was unpacked from
};
// After decryption (the cell was recognized). Refuses length > 498.
Result<RelayMessage> unpack_relay_payload(ConstPayloadSpan p);

// ---- BEGIN / BEGIN_DIR / CONNECTED (§6.2) ----

namespace begin_flags {
constexpr uint32_t kIpv6Okay = 1u << 0;
constexpr uint32_t kIpv4NotOkay = 1u << 1;
constexpr uint32_t kIpv6Preferred = 1u << 2;
}  // namespace begin_flags

// "address:port\0" then FLAGS. The address is sent lower-case; an IPv6
// literal is put in brackets. Like C tor, FLAGS is left out when zero (relays
// treat a missing FLAGS as 0). The caller keeps the address short (a hostname
// is at most 255 bytes), so the body fits 498 bytes.
Bytes make_begin_body(std::string_view address, uint16_t port, uint32_t flags);
// The parsed BEGIN (the exit's side, for tests).
struct Begin {
  std::string address;  // without brackets
  uint16_t port = 0;
  uint32_t flags = 0;
};
Result<Begin> parse_begin(ByteSpan body);

struct Connected {
  std::optional<IpAddress> address;  // absent for an empty body
  uint32_t ttl = 0;
  bool has_ttl = false;  // false when the exit sent an IPv4 address without TTL
};
// Empty; IPv4 [+ TTL]; or 0.0.0.0, type 6, IPv6, TTL (§6.2; C tor's
// connected_cell_parse). Do not call it for BEGIN_DIR streams: clients MUST
// ignore that payload (§6.2.1).
Result<Connected> parse_connected(ByteSpan body);
Bytes make_connected_body(const IpAddress &address, uint32_t ttl);  // the exit's side, for tests

// ---- END (§6.3) ----

namespace end_reason {
constexpr uint8_t kMisc = 1, kResolveFailed = 2, kConnectRefused = 3, kExitPolicy = 4, kDestroy = 5,
                  kDone = 6, kTimeout = 7, kNoRoute = 8, kHibernating = 9, kInternal = 10,
                  kResourceLimit = 11, kConnReset = 12, kTorProtocol = 13, kNotDirectory = 14;
}
struct End {
  uint8_t reason = end_reason::kMisc;
  // Only for EXITPOLICY, when present and of a valid length.
  std::optional<IpAddress> address;
  uint32_t ttl = 0xFFFFFFFF;  // absent TTL means 0xffffffff (§6.3)
};
// Never fails on content: an empty body is MISC, a bad EXITPOLICY address is
// ignored (§6.3).
Result<End> parse_end(ByteSpan body);
Bytes make_end_body(uint8_t reason);
// "MISC" .. "NOTDIRECTORY"; "UNKNOWN" otherwise.
const char *end_reason_name(uint8_t reason);

// ---- RESOLVE / RESOLVED (§6.4) ----

// hostname (or x.x.x.x.in-addr.arpa for a reverse lookup) and a NUL.
Bytes make_resolve_body(std::string_view hostname_or_inaddr_arpa);
namespace resolved_type {
constexpr uint8_t kHostname = 0x00, kIpv4 = 0x04, kIpv6 = 0x06, kErrorTransient = 0xF0, kErrorNontransient = 0xF1;
}
struct ResolvedAnswer {
  uint8_t type = 0;
  Bytes value;
  uint32_t ttl = 0;
};
// Every answer, unknown types included; refuses truncated answers and IPv4 /
// IPv6 answers of the wrong length.
Result<std::vector<ResolvedAnswer>> parse_resolved(ByteSpan body);
Bytes make_resolved_body(std::span<const ResolvedAnswer> answers);  // the exit's side, for tests

// ---- SENDME (§7.3.1, proposal 289) ----

constexpr size_t kSendmeDigestLen = 20;
// Version 1: VERSION 1, DATA_LEN 20, the 20-byte digest. (Version 0 is the
// empty body.)
Bytes make_sendme_v1_body(ByteSpan digest20);
struct Sendme {
  uint8_t version = 0;
  Bytes digest;  // 20 bytes for version 1, empty for version 0
};
// Empty body = version 0. Refuses unknown versions, truncated DATA and a
// version 1 DATA_LEN below 20 (longer: the first 20 bytes count).
Result<Sendme> parse_sendme(ByteSpan body);

// ---- XOFF / XON: stream flow control on congestion-controlled circuits
// (proposal 324 §4, C tor's flow_control_cells.trunnel) ----

// XOFF: VERSION [1] = 0. XON: VERSION [1] = 0, KBPS_EWMA [4]: the advisory
// rate the sender drains the stream at, in kilobytes (1000 bytes) per
// second; 0 means no limit.
Bytes make_xoff_body();
Bytes make_xon_body(uint32_t kbps_ewma);
struct Xon {
  uint32_t kbps_ewma = 0;
};
// Refuse other versions and truncated bodies; trailing bytes are ignored
// (C tor parses the body's prefix).
Status parse_xoff(ByteSpan body);
Result<Xon> parse_xon(ByteSpan body);

// ---- CONFLUX_LINK / CONFLUX_LINKED / CONFLUX_SWITCH (proposal 329 §2.2,
// C tor's conflux.trunnel) ----

namespace conflux_ux {
// DESIRED_UX: what the receiver of data wants the sender's scheduler to aim at.
constexpr uint8_t kNoOpinion = 0, kMinLatency = 1, kLowMemLatency = 2, kHighThroughput = 3,
                  kLowMemThroughput = 4;
}
// LINK and LINKED have the same body: VERSION [1] = 1, then NONCE [32],
// LAST_SEQNO_SENT [8], LAST_SEQNO_RECV [8], DESIRED_UX [1].
struct ConfluxLink {
  std::array<uint8_t, 32> nonce{};
  uint64_t last_seqno_sent = 0;
  uint64_t last_seqno_recv = 0;
  uint8_t desired_ux = conflux_ux::kHighThroughput;
};
Bytes make_conflux_link_body(const ConfluxLink &link);
// Refuses other versions, truncated bodies and unknown DESIRED_UX values.
Result<ConfluxLink> parse_conflux_link(ByteSpan body);
// SWITCH: SEQNUM [4], the sender's sequence number jump on this leg.
Bytes make_conflux_switch_body(uint32_t relative_seq);
Result<uint32_t> parse_conflux_switch(ByteSpan body);

// ---- EXTEND2 / EXTENDED2 / TRUNCATED (§5.1.2, §5.4) ----

namespace link_spec {
constexpr uint8_t kIpv4 = 0, kIpv6 = 1, kLegacyId = 2, kEd25519Id = 3;
}
struct LinkSpecifiers {
  std::array<uint8_t, 4> ipv4{};
  uint16_t port = 0;
  std::array<uint8_t, 20> rsa_id{};
  std::optional<std::array<uint8_t, 32>> ed_id;
  // Optional IPv6 ORPort, sent last.
  std::optional<std::array<uint8_t, 16>> ipv6;
  uint16_t ipv6_port = 0;
};
// Link specifiers in the order the spec recommends ([00], [02], [03], [01]),
// then HTYPE, HLEN, HDATA. hdata must fit the 498-byte body (asserted).
Bytes make_extend2_body(const LinkSpecifiers &ls, uint16_t handshake_type, ByteSpan hdata);
// The extending relay's side, for tests: the first IPv4/IPv6 specifier and
// the identities (refuses two legacy or two Ed25519 ids).
struct Extend2 {
  LinkSpecifiers link;
  bool has_ipv4 = false;
  uint16_t handshake_type = 0;
  Bytes hdata;
};
Result<Extend2> parse_extend2(ByteSpan body);
// EXTENDED2 = CREATED2's HLEN + HDATA; returns HDATA.
Result<Bytes> parse_extended2(ByteSpan body);
Bytes make_extended2_body(ByteSpan hdata);  // the relay's side, for tests
// The DESTROY reason (§5.4); an empty body reads as NONE, as C tor does.
Result<uint8_t> parse_truncated(ByteSpan body);

}  // namespace tc::cell
