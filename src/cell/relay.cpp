#include "cell/relay.h"

#include <algorithm>
#include <cassert>
#include <cctype>
#include <cstring>
#include <string>

#include "crypto/crypto.h"

namespace tc::cell {

const char *relay_command_name(RelayCommand c) {
  switch (c) {
    case RelayCommand::kBegin: return "BEGIN";
    case RelayCommand::kData: return "DATA";
    case RelayCommand::kEnd: return "END";
    case RelayCommand::kConnected: return "CONNECTED";
    case RelayCommand::kSendme: return "SENDME";
    case RelayCommand::kExtend: return "EXTEND";
    case RelayCommand::kExtended: return "EXTENDED";
    case RelayCommand::kTruncate: return "TRUNCATE";
    case RelayCommand::kTruncated: return "TRUNCATED";
    case RelayCommand::kDrop: return "DROP";
    case RelayCommand::kResolve: return "RESOLVE";
    case RelayCommand::kResolved: return "RESOLVED";
    case RelayCommand::kBeginDir: return "BEGIN_DIR";
    case RelayCommand::kExtend2: return "EXTEND2";
    case RelayCommand::kExtended2: return "EXTENDED2";
    case RelayCommand::kConfluxLink: return "CONFLUX_LINK";
    case RelayCommand::kConfluxLinked: return "CONFLUX_LINKED";
    case RelayCommand::kConfluxLinkedAck: return "CONFLUX_LINKED_ACK";
    case RelayCommand::kConfluxSwitch: return "CONFLUX_SWITCH";
    case RelayCommand::kEstablishIntro: return "ESTABLISH_INTRO";
    case RelayCommand::kEstablishRendezvous: return "ESTABLISH_RENDEZVOUS";
    case RelayCommand::kIntroduce1: return "INTRODUCE1";
    case RelayCommand::kIntroduce2: return "INTRODUCE2";
    case RelayCommand::kRendezvous1: return "RENDEZVOUS1";
    case RelayCommand::kRendezvous2: return "RENDEZVOUS2";
    case RelayCommand::kIntroEstablished: return "INTRO_ESTABLISHED";
    case RelayCommand::kRendezvousEstablished: return "RENDEZVOUS_ESTABLISHED";
    case RelayCommand::kIntroduceAck: return "INTRODUCE_ACK";
    case RelayCommand::kPaddingNegotiate: return "PADDING_NEGOTIATE";
    case RelayCommand::kPaddingNegotiated: return "PADDING_NEGOTIATED";
    case RelayCommand::kXoff: return "XOFF";
    case RelayCommand::kXon: return "XON";
  }
  return "UNKNOWN";
}

// ---- Relay payload ----

namespace {
// Padding bytes only need to be unpredictable (prop 289), and this runs for
// every cell we send: an AES-128-CTR keystream under a random key per thread
// (like C tor's crypto_fast_rng) is several times cheaper than RAND_bytes.
void fill_padding(MutableByteSpan out) {
  struct PaddingStream {
    crypto::AesCtr ctr;
    PaddingStream() {
      std::array<uint8_t, 16> key;
      crypto::random_bytes(key);
      ctr = crypto::AesCtr(key);
      secure_wipe(key.data(), key.size());
    }
  };
  thread_local PaddingStream stream;
  std::memset(out.data(), 0, out.size());
  stream.ctr.apply(out);
}
}  // namespace

void pack_relay_payload(RelayCommand cmd, uint16_t stream_id, ByteSpan body, CellPayload &out) {
  assert(body.size() <= kRelayBodyMax && "relay body longer than 498 bytes");
  const size_t len = std::min(body.size(), kRelayBodyMax);
  uint8_t *p = out.data();
  p[0] = static_cast<uint8_t>(cmd);
  p[1] = p[2] = 0;  // recognized
  p[3] = static_cast<uint8_t>(stream_id >> 8);
  p[4] = static_cast<uint8_t>(stream_id);
  std::memset(p + kRelayDigestOffset, 0, 4);
  p[9] = static_cast<uint8_t>(len >> 8);
  p[10] = static_cast<uint8_t>(len);
  if (len) std::memcpy(p + kRelayHeaderLen, body.data(), len);
  // §6.1 / prop 289: four zero bytes, then random bytes, so that the cell
  // (and the SENDME digest over it) cannot be predicted.
  const size_t used = kRelayHeaderLen + len;
  const size_t zeros = std::min<size_t>(4, kCellPayloadLen - used);
  std::memset(p + used, 0, zeros);
  if (used + zeros < kCellPayloadLen) fill_padding(MutableByteSpan(p + used + zeros, kCellPayloadLen - used - zeros));
}

Result<RelayMessage> unpack_relay_payload(ConstPayloadSpan p) {
  const size_t len = (size_t{p[9]} << 8) | p[10];
  if (len > kRelayBodyMax)
    return Error(ErrorKind::kProtocol,
                 "relay cell: length field " + std::to_string(len) + " exceeds " + std::to_string(kRelayBodyMax));
  RelayMessage m;
  m.command = static_cast<RelayCommand>(p[0]);
  m.stream_id = static_cast<uint16_t>((p[3] << 8) | p[4]);
  m.body = ByteSpan(p.data() + kRelayHeaderLen, len);
  return m;
}

// ---- BEGIN / CONNECTED ----

Bytes make_begin_body(std::string_view address, uint16_t port, uint32_t flags) {
  std::string addr(address);
  for (char &ch : addr) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  const bool is_v6_literal = addr.find(':') != std::string::npos && !(addr.size() >= 2 && addr.front() == '[');
  Bytes out;
  out.reserve(addr.size() + 16);
  Writer w(out);
  if (is_v6_literal) w.u8('[');
  w.bytes(addr);
  if (is_v6_literal) w.u8(']');
  w.u8(':');
  w.bytes(std::to_string(port));
  w.u8(0);
  if (flags != 0) w.u32(flags);
  return out;
}

Result<Begin> parse_begin(ByteSpan body) {
  const auto nul = std::find(body.begin(), body.end(), uint8_t{0});
  if (nul == body.end()) return Error(ErrorKind::kMalformed, "BEGIN body: ADDRPORT is not NUL-terminated");
  std::string_view addrport = as_string_view(ByteSpan(body.begin(), nul));
  const size_t colon = addrport.rfind(':');
  if (colon == std::string_view::npos)
    return Error(ErrorKind::kMalformed, "BEGIN body: ADDRPORT has no ':'");
  Begin b;
  std::string_view host = addrport.substr(0, colon), port = addrport.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) return Error(ErrorKind::kMalformed, "BEGIN body: empty address");
  b.address = std::string(host);
  uint32_t pv = 0;
  if (port.empty() || port.size() > 5) return Error(ErrorKind::kMalformed, "BEGIN body: bad port");
  for (char ch : port) {
    if (ch < '0' || ch > '9') return Error(ErrorKind::kMalformed, "BEGIN body: bad port");
    pv = pv * 10 + static_cast<uint32_t>(ch - '0');
  }
  if (pv == 0 || pv > 65535) return Error(ErrorKind::kMalformed, "BEGIN body: port out of range");
  b.port = static_cast<uint16_t>(pv);
  Reader r(ByteSpan(nul + 1, body.end()), "BEGIN body flags");
  if (r.remaining() >= 4) {
    TC_TRY(b.flags, r.u32());
  }
  return b;
}

Result<Connected> parse_connected(ByteSpan body) {
  Connected c;
  if (body.empty()) return c;
  Reader r(body, "CONNECTED body");
  TC_TRY(auto v4, r.array<4>());
  if (v4 != std::array<uint8_t, 4>{0, 0, 0, 0}) {
    c.address = IpAddress::v4(v4);
    if (r.remaining() >= 4) {
      TC_TRY(c.ttl, r.u32());
      c.has_ttl = true;
    }
    return c;
  }
  TC_TRY(uint8_t type, r.u8());
  if (type != 6)
    return Error(ErrorKind::kProtocol,
                 "CONNECTED body: address 0.0.0.0 followed by type " + std::to_string(type) + ", expected 6");
  TC_TRY(auto v6, r.array<16>());
  TC_TRY(c.ttl, r.u32());
  c.address = IpAddress::v6(v6);
  c.has_ttl = true;
  return c;
}

Bytes make_connected_body(const IpAddress &address, uint32_t ttl) {
  Bytes out;
  Writer w(out);
  if (address.is_v6()) {
    w.zeros(4);
    w.u8(6);
  }
  w.bytes(address.span());
  w.u32(ttl);
  return out;
}

// ---- END ----

Result<End> parse_end(ByteSpan body) {
  End e;
  if (body.empty()) return e;  // §6.3: treat as MISC
  e.reason = body[0];
  if (e.reason == end_reason::kExitPolicy) {
    ByteSpan rest = body.subspan(1);
    size_t alen = 0;
    if (rest.size() == 4 || rest.size() == 8) alen = 4;
    else if (rest.size() == 16 || rest.size() == 20) alen = 16;
    if (alen) {
      e.address = IpAddress::from_bytes(rest.first(alen));
      if (rest.size() == alen + 4) {
        Reader r(rest.subspan(alen), "END body TTL");
        TC_TRY(e.ttl, r.u32());
      }
    }
  }
  return e;
}

Bytes make_end_body(uint8_t reason) { return Bytes{reason}; }

const char *end_reason_name(uint8_t reason) {
  static const char *const kNames[] = {"UNKNOWN",  "MISC",         "RESOLVEFAILED", "CONNECTREFUSED",
                                       "EXITPOLICY", "DESTROY",    "DONE",          "TIMEOUT",
                                       "NOROUTE",  "HIBERNATING",  "INTERNAL",      "RESOURCELIMIT",
                                       "CONNRESET", "TORPROTOCOL", "NOTDIRECTORY"};
  if (reason < std::size(kNames)) return kNames[reason];
  return "UNKNOWN";
}

// ---- RESOLVE / RESOLVED ----

Bytes make_resolve_body(std::string_view hostname_or_inaddr_arpa) {
  Bytes out(hostname_or_inaddr_arpa.begin(), hostname_or_inaddr_arpa.end());
  out.push_back(0);
  return out;
}

Result<std::vector<ResolvedAnswer>> parse_resolved(ByteSpan body) {
  Reader r(body, "RESOLVED body");
  std::vector<ResolvedAnswer> out;
  while (!r.empty()) {
    const size_t at = r.position();
    ResolvedAnswer a;
    TC_TRY(a.type, r.u8());
    TC_TRY(uint8_t len, r.u8());
    TC_TRY(ByteSpan v, r.take(len));
    TC_TRY(a.ttl, r.u32());
    if ((a.type == resolved_type::kIpv4 && len != 4) || (a.type == resolved_type::kIpv6 && len != 16))
      return Error(ErrorKind::kProtocol, "RESOLVED body: answer at offset " + std::to_string(at) + " of type " +
                                             std::to_string(a.type) + " has length " + std::to_string(len));
    a.value.assign(v.begin(), v.end());
    out.push_back(std::move(a));
  }
  return out;
}

Bytes make_resolved_body(std::span<const ResolvedAnswer> answers) {
  Bytes out;
  Writer w(out);
  for (const auto &a : answers) {
    w.u8(a.type);
    w.u8(static_cast<uint8_t>(a.value.size()));
    w.bytes(a.value);
    w.u32(a.ttl);
  }
  return out;
}

// ---- SENDME ----

Bytes make_sendme_v1_body(ByteSpan digest20) {
  assert(digest20.size() == kSendmeDigestLen);
  Bytes out;
  out.reserve(3 + kSendmeDigestLen);
  Writer w(out);
  w.u8(1);
  w.u16(static_cast<uint16_t>(kSendmeDigestLen));
  w.bytes(digest20.first(std::min(digest20.size(), kSendmeDigestLen)));
  return out;
}

Result<Sendme> parse_sendme(ByteSpan body) {
  Sendme s;
  if (body.empty()) return s;  // version 0
  Reader r(body, "SENDME body");
  TC_TRY(s.version, r.u8());
  TC_TRY(uint16_t data_len, r.u16());
  TC_TRY(ByteSpan data, r.take(data_len));
  if (s.version == 0) return s;  // DATA is ignored
  if (s.version != 1)
    return Error(ErrorKind::kProtocol, "SENDME body: unrecognized version " + std::to_string(s.version));
  if (data_len < kSendmeDigestLen)
    return Error(ErrorKind::kProtocol, "SENDME body: version 1 DATA_LEN " + std::to_string(data_len) + " < 20");
  s.digest.assign(data.begin(), data.begin() + kSendmeDigestLen);
  return s;
}

// ---- XOFF / XON ----

Bytes make_xoff_body() { return Bytes{0}; }

Bytes make_xon_body(uint32_t kbps_ewma) {
  Bytes out;
  Writer w(out);
  w.u8(0);
  w.u32(kbps_ewma);
  return out;
}

Status parse_xoff(ByteSpan body) {
  Reader r(body, "XOFF body");
  TC_TRY(uint8_t version, r.u8());
  if (version != 0) return Error(ErrorKind::kProtocol, "XOFF body: unrecognized version " + std::to_string(version));
  return Status{};
}

Result<Xon> parse_xon(ByteSpan body) {
  Reader r(body, "XON body");
  TC_TRY(uint8_t version, r.u8());
  if (version != 0) return Error(ErrorKind::kProtocol, "XON body: unrecognized version " + std::to_string(version));
  Xon x;
  TC_TRY(x.kbps_ewma, r.u32());
  return x;
}

// ---- CONFLUX (proposal 329) ----

Bytes make_conflux_link_body(const ConfluxLink &link) {
  Bytes out;
  Writer w(out);
  w.u8(1);  // version
  w.bytes(link.nonce);
  w.u64(link.last_seqno_sent);
  w.u64(link.last_seqno_recv);
  w.u8(link.desired_ux);
  return out;
}

Result<ConfluxLink> parse_conflux_link(ByteSpan body) {
  Reader r(body, "CONFLUX_LINK body");
  TC_TRY(uint8_t version, r.u8());
  if (version != 1)
    return Error(ErrorKind::kProtocol, "CONFLUX_LINK body: unrecognized version " + std::to_string(version));
  ConfluxLink l;
  TC_TRY(l.nonce, r.array<32>());
  TC_TRY(l.last_seqno_sent, r.u64());
  TC_TRY(l.last_seqno_recv, r.u64());
  TC_TRY(l.desired_ux, r.u8());
  if (l.desired_ux > conflux_ux::kLowMemThroughput)
    return Error(ErrorKind::kProtocol, "CONFLUX_LINK body: unknown DESIRED_UX " + std::to_string(l.desired_ux));
  return l;
}

Bytes make_conflux_switch_body(uint32_t relative_seq) {
  Bytes out;
  Writer w(out);
  w.u32(relative_seq);
  return out;
}

Result<uint32_t> parse_conflux_switch(ByteSpan body) {
  Reader r(body, "CONFLUX_SWITCH body");
  return r.u32();
}

// ---- EXTEND2 / EXTENDED2 / TRUNCATED ----

Bytes make_extend2_body(const LinkSpecifiers &ls, uint16_t handshake_type, ByteSpan hdata) {
  Bytes out;
  out.reserve(kRelayBodyMax);
  Writer w(out);
  w.u8(static_cast<uint8_t>(2 + (ls.ed_id ? 1 : 0) + (ls.ipv6 ? 1 : 0)));
  // §5.1.2: send them in the order [00], [02], [03], [01].
  w.u8(link_spec::kIpv4);
  w.u8(6);
  w.bytes(ls.ipv4);
  w.u16(ls.port);
  w.u8(link_spec::kLegacyId);
  w.u8(20);
  w.bytes(ls.rsa_id);
  if (ls.ed_id) {
    w.u8(link_spec::kEd25519Id);
    w.u8(32);
    w.bytes(*ls.ed_id);
  }
  if (ls.ipv6) {
    w.u8(link_spec::kIpv6);
    w.u8(18);
    w.bytes(*ls.ipv6);
    w.u16(ls.ipv6_port);
  }
  w.u16(handshake_type);
  assert(out.size() + 2 + hdata.size() <= kRelayBodyMax && "EXTEND2 body longer than 498 bytes");
  w.u16(static_cast<uint16_t>(hdata.size()));
  w.bytes(hdata);
  return out;
}

Result<Extend2> parse_extend2(ByteSpan body) {
  Reader r(body, "EXTEND2 body");
  Extend2 e;
  bool have_rsa = false, have_ed = false, have_v6 = false;
  TC_TRY(uint8_t nspec, r.u8());
  for (unsigned i = 0; i < nspec; ++i) {
    const size_t at = r.position();
    TC_TRY(uint8_t type, r.u8());
    TC_TRY(uint8_t len, r.u8());
    TC_TRY(ByteSpan spec, r.take(len));
    auto bad_len = [&]() {
      return Error(ErrorKind::kMalformed, "EXTEND2 body: link specifier type " + std::to_string(type) +
                                              " at offset " + std::to_string(at) + " has length " + std::to_string(len));
    };
    Reader s(spec, "EXTEND2 link specifier");
    switch (type) {
      case link_spec::kIpv4: {
        if (len != 6) return bad_len();
        if (e.has_ipv4) break;  // only the first counts
        TC_TRY(e.link.ipv4, s.array<4>());
        TC_TRY(e.link.port, s.u16());
        e.has_ipv4 = true;
        break;
      }
      case link_spec::kIpv6: {
        if (len != 18) return bad_len();
        if (have_v6) break;
        TC_TRY(auto a, s.array<16>());
        e.link.ipv6 = a;
        TC_TRY(e.link.ipv6_port, s.u16());
        have_v6 = true;
        break;
      }
      case link_spec::kLegacyId: {
        if (len != 20) return bad_len();
        if (have_rsa) return Error(ErrorKind::kProtocol, "EXTEND2 body: two legacy identity link specifiers");
        TC_TRY(e.link.rsa_id, s.array<20>());
        have_rsa = true;
        break;
      }
      case link_spec::kEd25519Id: {
        if (len != 32) return bad_len();
        if (have_ed) return Error(ErrorKind::kProtocol, "EXTEND2 body: two Ed25519 identity link specifiers");
        TC_TRY(auto a, s.array<32>());
        e.link.ed_id = a;
        have_ed = true;
        break;
      }
      default:
        break;  // unrecognized: ignored (§5.1.2)
    }
  }
  TC_TRY(e.handshake_type, r.u16());
  TC_TRY(uint16_t hlen, r.u16());
  TC_TRY(ByteSpan h, r.take(hlen));
  e.hdata.assign(h.begin(), h.end());
  return e;
}

Result<Bytes> parse_extended2(ByteSpan body) {
  Reader r(body, "EXTENDED2 body");
  TC_TRY(uint16_t hlen, r.u16());
  TC_TRY(ByteSpan h, r.take(hlen));
  return Bytes(h.begin(), h.end());
}

Bytes make_extended2_body(ByteSpan hdata) {
  Bytes out;
  Writer w(out);
  w.u16(static_cast<uint16_t>(hdata.size()));
  w.bytes(hdata);
  return out;
}

Result<uint8_t> parse_truncated(ByteSpan body) {
  if (body.empty()) return uint8_t{0};
  return body[0];
}

}  // namespace tc::cell
