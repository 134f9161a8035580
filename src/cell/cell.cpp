#include "cell/cell.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <string>

namespace tc::cell {

const char *cell_command_name(CellCommand c) {
  switch (c) {
    case CellCommand::kPadding: return "PADDING";
    case CellCommand::kCreate: return "CREATE";
    case CellCommand::kCreated: return "CREATED";
    case CellCommand::kRelay: return "RELAY";
    case CellCommand::kDestroy: return "DESTROY";
    case CellCommand::kCreateFast: return "CREATE_FAST";
    case CellCommand::kCreatedFast: return "CREATED_FAST";
    case CellCommand::kVersions: return "VERSIONS";
    case CellCommand::kNetinfo: return "NETINFO";
    case CellCommand::kRelayEarly: return "RELAY_EARLY";
    case CellCommand::kCreate2: return "CREATE2";
    case CellCommand::kCreated2: return "CREATED2";
    case CellCommand::kPaddingNegotiate: return "PADDING_NEGOTIATE";
    case CellCommand::kVpadding: return "VPADDING";
    case CellCommand::kCerts: return "CERTS";
    case CellCommand::kAuthChallenge: return "AUTH_CHALLENGE";
    case CellCommand::kAuthenticate: return "AUTHENTICATE";
    case CellCommand::kAuthorize: return "AUTHORIZE";
  }
  return "UNKNOWN";
}

bool is_var_cell_command(uint8_t cmd) {
  return cmd == static_cast<uint8_t>(CellCommand::kVersions) || cmd >= 128;
}

size_t circ_id_len(uint16_t link_protocol) { return link_protocol < 4 ? 2 : 4; }

size_t fixed_cell_len(uint16_t link_protocol) { return circ_id_len(link_protocol) + 1 + kCellPayloadLen; }

namespace {

uint32_t read_circ_id(const uint8_t *p, size_t len) {
  if (len == 2) return static_cast<uint32_t>((p[0] << 8) | p[1]);
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

void write_circ_id(uint32_t circ_id, uint16_t link_protocol, Writer &w) {
  if (circ_id_len(link_protocol) == 2) {
    assert(circ_id <= 0xFFFF && "circ id does not fit a 2-byte CIRCID_LEN");
    w.u16(static_cast<uint16_t>(circ_id));
  } else {
    w.u32(circ_id);
  }
}

}  // namespace

namespace {

// Where the next cell in buf lies (§3): kind, header and body length. kNone
// while more bytes are needed.
struct Frame {
  Decoded::Kind kind = Decoded::kNone;
  size_t id_len = 0, header = 0, body = 0;
};

Result<Frame> frame_cell(ByteSpan buf, uint16_t link_protocol) {
  if (link_protocol == 1 || link_protocol == 2)
    return Error(ErrorKind::kInvalidArgument,
                 "decode_cell: link protocol " + std::to_string(link_protocol) + " is not supported (need 3 or later)");
  Frame f;
  f.id_len = circ_id_len(link_protocol);
  if (buf.size() < f.id_len + 1) return f;
  if (is_var_cell_command(buf[f.id_len])) {
    f.header = f.id_len + 3;
    if (buf.size() < f.header) return f;
    f.body = (size_t{buf[f.id_len + 1]} << 8) | buf[f.id_len + 2];
    if (buf.size() < f.header + f.body) return f;
    f.kind = Decoded::kVar;
    return f;
  }
  f.header = f.id_len + 1;
  f.body = kCellPayloadLen;
  if (buf.size() >= f.header + f.body) f.kind = Decoded::kFixed;
  return f;
}

void take_var(ByteSpan buf, const Frame &f, VarCell &var_out) {
  var_out.circ_id = read_circ_id(buf.data(), f.id_len);
  var_out.command = static_cast<CellCommand>(buf[f.id_len]);
  var_out.payload.assign(buf.begin() + static_cast<std::ptrdiff_t>(f.header),
                         buf.begin() + static_cast<std::ptrdiff_t>(f.header + f.body));
}

}  // namespace

Result<Decoded> decode_cell(ByteSpan buf, uint16_t link_protocol, Cell &fixed_out, VarCell &var_out) {
  TC_TRY(Frame f, frame_cell(buf, link_protocol));
  if (f.kind == Decoded::kVar) take_var(buf, f, var_out);
  if (f.kind == Decoded::kFixed) {
    fixed_out.circ_id = read_circ_id(buf.data(), f.id_len);
    fixed_out.command = static_cast<CellCommand>(buf[f.id_len]);
    std::memcpy(fixed_out.payload.data(), buf.data() + f.header, kCellPayloadLen);
  }
  return Decoded{f.kind, f.kind == Decoded::kNone ? 0 : f.header + f.body};
}

Result<DecodedInPlace> decode_cell_in_place(MutableByteSpan buf, uint16_t link_protocol, VarCell &var_out) {
  TC_TRY(Frame f, frame_cell(buf, link_protocol));
  DecodedInPlace d{f.kind, f.kind == Decoded::kNone ? 0 : f.header + f.body, std::nullopt};
  if (f.kind == Decoded::kVar) take_var(buf, f, var_out);
  if (f.kind == Decoded::kFixed)
    d.fixed = CellView{read_circ_id(buf.data(), f.id_len), static_cast<CellCommand>(buf[f.id_len]),
                       PayloadSpan(buf.data() + f.header, kCellPayloadLen)};
  return d;
}

void encode_cell(const Cell &c, uint16_t link_protocol, Bytes &out) {
  assert(!is_var_cell_command(static_cast<uint8_t>(c.command)) && "variable-length command in a fixed cell");
  // Hot path: one resize (geometric growth) and direct writes.
  const size_t id_len = circ_id_len(link_protocol);
  const size_t at = out.size();
  out.resize(at + id_len + 1 + kCellPayloadLen);
  uint8_t *p = out.data() + at;
  if (id_len == 2) {
    assert(c.circ_id <= 0xFFFF && "circ id does not fit a 2-byte CIRCID_LEN");
    p[0] = static_cast<uint8_t>(c.circ_id >> 8);
    p[1] = static_cast<uint8_t>(c.circ_id);
  } else {
    p[0] = static_cast<uint8_t>(c.circ_id >> 24);
    p[1] = static_cast<uint8_t>(c.circ_id >> 16);
    p[2] = static_cast<uint8_t>(c.circ_id >> 8);
    p[3] = static_cast<uint8_t>(c.circ_id);
  }
  p[id_len] = static_cast<uint8_t>(c.command);
  std::memcpy(p + id_len + 1, c.payload.data(), kCellPayloadLen);
}

void encode_var_cell(const VarCell &c, uint16_t link_protocol, Bytes &out) {
  assert(c.payload.size() <= 0xFFFF && "var cell payload longer than 65535 bytes");
  const size_t len = std::min<size_t>(c.payload.size(), 0xFFFF);
  Writer w(out);
  write_circ_id(c.circ_id, link_protocol, w);
  w.u8(static_cast<uint8_t>(c.command));
  w.u16(static_cast<uint16_t>(len));
  w.bytes(ByteSpan(c.payload.data(), len));
}

// ---- VERSIONS ----

VarCell make_versions_cell(std::span<const uint16_t> versions) {
  VarCell c;
  c.circ_id = 0;
  c.command = CellCommand::kVersions;
  Writer w(c.payload);
  for (uint16_t v : versions) w.u16(v);
  return c;
}

Result<std::vector<uint16_t>> parse_versions(ByteSpan payload) {
  if (payload.size() % 2 != 0)
    return Error(ErrorKind::kProtocol,
                 "VERSIONS cell: payload length " + std::to_string(payload.size()) + " is odd (§4.1)");
  std::vector<uint16_t> out;
  out.reserve(payload.size() / 2);
  for (size_t i = 0; i < payload.size(); i += 2) out.push_back(static_cast<uint16_t>((payload[i] << 8) | payload[i + 1]));
  return out;
}

uint16_t choose_link_protocol(std::span<const uint16_t> ours, std::span<const uint16_t> theirs) {
  uint16_t best = 0;
  for (uint16_t v : ours)
    if (v > best && std::find(theirs.begin(), theirs.end(), v) != theirs.end()) best = v;
  return best;
}

// ---- NETINFO ----

namespace {
constexpr uint8_t kAtypeIpv4 = 4, kAtypeIpv6 = 6;

void write_netinfo_addr(Writer &w, const IpAddress &a) {
  w.u8(a.is_v4() ? kAtypeIpv4 : kAtypeIpv6);
  w.u8(static_cast<uint8_t>(a.span().size()));
  w.bytes(a.span());
}
}  // namespace

std::optional<IpAddress> Netinfo::other_address() const {
  if (other_ipv4) return IpAddress::v4(*other_ipv4);
  if (other_ipv6) return IpAddress::v6(*other_ipv6);
  return std::nullopt;
}

std::vector<IpAddress> Netinfo::my_ip_addresses() const {
  std::vector<IpAddress> out;
  for (const Bytes &b : my_addresses)
    if (auto a = IpAddress::from_bytes(b)) out.push_back(*a);
  return out;
}

Cell make_netinfo_cell(uint32_t timestamp, const std::optional<IpAddress> &other_address,
                       std::span<const IpAddress> my_addresses) {
  Cell c;
  c.circ_id = 0;
  c.command = CellCommand::kNetinfo;
  Bytes body;
  body.reserve(kCellPayloadLen);
  Writer w(body);
  w.u32(timestamp);
  if (other_address) {
    write_netinfo_addr(w, *other_address);
  } else {
    w.u8(0);
    w.u8(0);
  }
  // Only as many of our addresses as fit the payload (and a u8 count).
  size_t n = 0, room = kCellPayloadLen - body.size() - 1;
  while (n < my_addresses.size() && n < 255 && 2 + my_addresses[n].span().size() <= room)
    room -= 2 + my_addresses[n++].span().size();
  w.u8(static_cast<uint8_t>(n));
  for (size_t i = 0; i < n; ++i) write_netinfo_addr(w, my_addresses[i]);
  std::copy(body.begin(), body.end(), c.payload.begin());
  return c;
}

Result<Netinfo> parse_netinfo(ConstPayloadSpan payload) {
  Reader r(payload, "NETINFO cell");
  Netinfo ni;
  TC_TRY(ni.timestamp, r.u32());
  TC_TRY(uint8_t atype, r.u8());
  TC_TRY(uint8_t alen, r.u8());
  TC_TRY(ByteSpan aval, r.take(alen));
  if (atype == kAtypeIpv4 && alen == 4) {
    std::array<uint8_t, 4> a;
    std::copy(aval.begin(), aval.end(), a.begin());
    ni.other_ipv4 = a;
  } else if (atype == kAtypeIpv6 && alen == 16) {
    std::array<uint8_t, 16> a;
    std::copy(aval.begin(), aval.end(), a.begin());
    ni.other_ipv6 = a;
  }
  TC_TRY(uint8_t n, r.u8());
  for (unsigned i = 0; i < n; ++i) {
    TC_TRY(uint8_t t, r.u8());
    TC_TRY(uint8_t l, r.u8());
    TC_TRY(ByteSpan v, r.take(l));
    if ((t == kAtypeIpv4 && l == 4) || (t == kAtypeIpv6 && l == 16)) ni.my_addresses.emplace_back(v.begin(), v.end());
  }
  // Trailing bytes are padding (§4.5: MUST ignore).
  return ni;
}

// ---- CREATE2 / CREATED2 / DESTROY ----

Cell make_create2_cell(uint32_t circ_id, uint16_t handshake_type, ByteSpan hdata) {
  assert(hdata.size() <= kCreate2HdataMax && "CREATE2 HDATA too long");
  const size_t len = std::min(hdata.size(), kCreate2HdataMax);
  Cell c;
  c.circ_id = circ_id;
  c.command = CellCommand::kCreate2;
  c.payload[0] = static_cast<uint8_t>(handshake_type >> 8);
  c.payload[1] = static_cast<uint8_t>(handshake_type);
  c.payload[2] = static_cast<uint8_t>(len >> 8);
  c.payload[3] = static_cast<uint8_t>(len);
  std::memcpy(c.payload.data() + 4, hdata.data(), len);
  return c;
}

Result<Create2> parse_create2(ConstPayloadSpan payload) {
  Reader r(payload, "CREATE2 cell");
  Create2 out;
  TC_TRY(out.handshake_type, r.u16());
  TC_TRY(uint16_t hlen, r.u16());
  if (hlen > kCreate2HdataMax)
    return Error(ErrorKind::kMalformed,
                 "CREATE2 cell: HLEN " + std::to_string(hlen) + " exceeds " + std::to_string(kCreate2HdataMax));
  TC_TRY(ByteSpan h, r.take(hlen));
  out.hdata.assign(h.begin(), h.end());
  return out;
}

Cell make_created2_cell(uint32_t circ_id, ByteSpan hdata) {
  assert(hdata.size() <= kCreated2HdataMax && "CREATED2 HDATA too long");
  const size_t len = std::min(hdata.size(), kCreated2HdataMax);
  Cell c;
  c.circ_id = circ_id;
  c.command = CellCommand::kCreated2;
  c.payload[0] = static_cast<uint8_t>(len >> 8);
  c.payload[1] = static_cast<uint8_t>(len);
  std::memcpy(c.payload.data() + 2, hdata.data(), len);
  return c;
}

Result<Bytes> parse_created2(ConstPayloadSpan payload) {
  Reader r(payload, "CREATED2 cell");
  TC_TRY(uint16_t hlen, r.u16());
  if (hlen > kCreated2HdataMax)
    return Error(ErrorKind::kMalformed,
                 "CREATED2 cell: HLEN " + std::to_string(hlen) + " exceeds " + std::to_string(kCreated2HdataMax));
  TC_TRY(ByteSpan h, r.take(hlen));
  return Bytes(h.begin(), h.end());
}

Cell make_destroy_cell(uint32_t circ_id, uint8_t reason) {
  Cell c;
  c.circ_id = circ_id;
  c.command = CellCommand::kDestroy;
  c.payload[0] = reason;
  return c;
}

const char *destroy_reason_name(uint8_t reason) {
  static const char *const kNames[] = {"NONE",     "PROTOCOL",   "INTERNAL",       "REQUESTED", "HIBERNATING",
                                       "RESOURCELIMIT", "CONNECTFAILED", "OR_IDENTITY", "CHANNEL_CLOSED",
                                       "FINISHED", "TIMEOUT",    "DESTROYED",      "NOSUCHSERVICE"};
  if (reason < std::size(kNames)) return kNames[reason];
  return "UNKNOWN";
}

}  // namespace tc::cell
