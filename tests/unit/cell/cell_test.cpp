// Cells on a channel (tor-spec §3), link cells (§4), circuit cells (§5).
#include <gtest/gtest.h>

#include "cell/cell.h"

using namespace tc;
using namespace tc::cell;

namespace {

Bytes unhex(std::string_view s) { return *hex_decode(s); }
std::string hexs(ByteSpan b) { return hex_encode(b); }

bool contains(const std::string &hay, const std::string &needle) { return hay.find(needle) != std::string::npos; }

Cell sample_fixed(uint32_t circ_id) {
  Cell c;
  c.circ_id = circ_id;
  c.command = CellCommand::kRelay;
  for (size_t i = 0; i < kCellPayloadLen; ++i) c.payload[i] = static_cast<uint8_t>(i * 7 + 3);
  return c;
}

}  // namespace

TEST(CellFormat, Lengths) {
  EXPECT_EQ(circ_id_len(0), 2u);
  EXPECT_EQ(circ_id_len(3), 2u);
  EXPECT_EQ(circ_id_len(4), 4u);
  EXPECT_EQ(circ_id_len(5), 4u);
  EXPECT_EQ(fixed_cell_len(0), 512u);
  EXPECT_EQ(fixed_cell_len(3), 512u);
  EXPECT_EQ(fixed_cell_len(4), 514u);
  EXPECT_EQ(fixed_cell_len(5), 514u);
  EXPECT_TRUE(is_var_cell_command(7));
  EXPECT_TRUE(is_var_cell_command(128));
  EXPECT_TRUE(is_var_cell_command(132));
  EXPECT_TRUE(is_var_cell_command(255));
  EXPECT_FALSE(is_var_cell_command(3));
  EXPECT_FALSE(is_var_cell_command(8));
  EXPECT_FALSE(is_var_cell_command(12));
  EXPECT_FALSE(is_var_cell_command(127));
}

TEST(CellFormat, FixedCellRoundTripV3) {
  Cell c = sample_fixed(0x8123);
  Bytes wire;
  encode_cell(c, 3, wire);
  ASSERT_EQ(wire.size(), 512u);
  EXPECT_EQ(hexs(ByteSpan(wire).first(3)), "812303");
  EXPECT_EQ(wire[3], c.payload[0]);
  EXPECT_EQ(wire[511], c.payload[508]);
  Cell f;
  VarCell v;
  auto d = decode_cell(wire, 3, f, v);
  ASSERT_TRUE(d.ok()) << d.error().to_string();
  EXPECT_EQ(d->kind, Decoded::kFixed);
  EXPECT_EQ(d->consumed, 512u);
  EXPECT_EQ(f.circ_id, 0x8123u);
  EXPECT_EQ(f.command, CellCommand::kRelay);
  EXPECT_EQ(f.payload, c.payload);
}

TEST(CellFormat, FixedCellRoundTripV4V5) {
  for (uint16_t proto : {4, 5}) {
    Cell c = sample_fixed(0x80000001u);
    c.command = CellCommand::kCreate2;
    Bytes wire;
    encode_cell(c, proto, wire);
    ASSERT_EQ(wire.size(), 514u);
    EXPECT_EQ(hexs(ByteSpan(wire).first(5)), "800000010a");
    Cell f;
    VarCell v;
    auto d = decode_cell(wire, proto, f, v);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->kind, Decoded::kFixed);
    EXPECT_EQ(d->consumed, 514u);
    EXPECT_EQ(f.circ_id, 0x80000001u);
    EXPECT_EQ(f.command, CellCommand::kCreate2);
    EXPECT_EQ(f.payload, c.payload);
  }
}

TEST(CellFormat, EncodeAppends) {
  Bytes wire = {0xaa};
  encode_cell(sample_fixed(5), 4, wire);
  encode_cell(make_destroy_cell(6, 0), 4, wire);
  ASSERT_EQ(wire.size(), 1u + 2 * 514u);
  EXPECT_EQ(wire[0], 0xaa);
  Cell f;
  VarCell v;
  auto d = decode_cell(ByteSpan(wire).subspan(1 + 514), 4, f, v);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->kind, Decoded::kFixed);
  EXPECT_EQ(f.circ_id, 6u);
  EXPECT_EQ(f.command, CellCommand::kDestroy);
}

TEST(CellFormat, FirstVersionsCellHasTwoByteCircId) {
  const uint16_t ours[] = {3, 4, 5};
  VarCell vc = make_versions_cell(ours);
  EXPECT_EQ(vc.circ_id, 0u);
  EXPECT_EQ(vc.command, CellCommand::kVersions);
  Bytes wire;
  encode_var_cell(vc, 0, wire);
  // circ id 0000, command 07, length 0006, versions 3 4 5
  EXPECT_EQ(hexs(wire), "0000070006000300040005");
  Cell f;
  VarCell v;
  auto d = decode_cell(wire, 0, f, v);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->kind, Decoded::kVar);
  EXPECT_EQ(d->consumed, wire.size());
  EXPECT_EQ(v.command, CellCommand::kVersions);
  auto versions = parse_versions(v.payload);
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(*versions, (std::vector<uint16_t>{3, 4, 5}));
}

TEST(CellFormat, VarCellRoundTripAllProtocols) {
  for (uint16_t proto : {3, 4, 5}) {
    VarCell vc;
    vc.circ_id = 0;
    vc.command = CellCommand::kCerts;
    for (int i = 0; i < 700; ++i) vc.payload.push_back(static_cast<uint8_t>(i));
    Bytes wire;
    encode_var_cell(vc, proto, wire);
    const size_t hdr = proto < 4 ? 5 : 7;
    ASSERT_EQ(wire.size(), hdr + 700);
    EXPECT_EQ(wire[hdr - 3], 129);
    EXPECT_EQ(wire[hdr - 2], 0x02);  // 700 = 0x02bc
    EXPECT_EQ(wire[hdr - 1], 0xbc);
    Cell f;
    VarCell v;
    auto d = decode_cell(wire, proto, f, v);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->kind, Decoded::kVar);
    EXPECT_EQ(d->consumed, wire.size());
    EXPECT_EQ(v.command, CellCommand::kCerts);
    EXPECT_EQ(v.payload, vc.payload);
  }
}

TEST(CellFormat, ResponderVersionsThenCertsInOneBuffer) {
  // What a relay sends first: VERSIONS with a 2-byte circ id, then cells
  // framed for the negotiated protocol (here 5).
  Bytes wire = unhex("0000" "07" "0004" "00040005");
  VarCell certs;
  certs.command = CellCommand::kCerts;
  certs.payload = {0x00};
  encode_var_cell(certs, 5, wire);
  VarCell vp;
  vp.command = CellCommand::kVpadding;
  encode_var_cell(vp, 5, wire);
  Cell f;
  VarCell v;
  auto d1 = decode_cell(wire, 0, f, v);
  ASSERT_TRUE(d1.ok());
  ASSERT_EQ(d1->kind, Decoded::kVar);
  ASSERT_EQ(d1->consumed, 9u);
  const uint16_t ours[] = {3, 4, 5};
  auto theirs = parse_versions(v.payload);
  ASSERT_TRUE(theirs.ok());
  const uint16_t proto = choose_link_protocol(ours, *theirs);
  EXPECT_EQ(proto, 5);
  ByteSpan rest = ByteSpan(wire).subspan(d1->consumed);
  auto d2 = decode_cell(rest, proto, f, v);
  ASSERT_TRUE(d2.ok());
  ASSERT_EQ(d2->kind, Decoded::kVar);
  EXPECT_EQ(d2->consumed, 8u);
  EXPECT_EQ(v.command, CellCommand::kCerts);
  EXPECT_EQ(v.payload, Bytes{0x00});
  rest = rest.subspan(d2->consumed);
  auto d3 = decode_cell(rest, proto, f, v);
  ASSERT_TRUE(d3.ok());
  EXPECT_EQ(d3->kind, Decoded::kVar);
  EXPECT_EQ(d3->consumed, 7u);
  EXPECT_EQ(v.command, CellCommand::kVpadding);
  EXPECT_TRUE(v.payload.empty());
  EXPECT_EQ(rest.size(), d3->consumed);
}

TEST(CellFormat, PartialBuffersNeedMore) {
  for (uint16_t proto : {0, 3, 4, 5}) {
    Bytes fixed_wire, var_wire;
    if (proto != 0) encode_cell(sample_fixed(1), proto, fixed_wire);
    VarCell vc;
    vc.command = CellCommand::kAuthChallenge;
    vc.payload.assign(38, 0xab);
    encode_var_cell(vc, proto, var_wire);
    for (const Bytes *w : {&fixed_wire, &var_wire}) {
      for (size_t n = 0; n < w->size(); ++n) {
        Cell f;
        VarCell v;
        auto d = decode_cell(ByteSpan(*w).first(n), proto, f, v);
        ASSERT_TRUE(d.ok());
        EXPECT_EQ(d->kind, Decoded::kNone) << "proto " << proto << " prefix " << n;
        EXPECT_EQ(d->consumed, 0u);
      }
    }
  }
  // A var cell announcing 65535 bytes is incomplete until all arrive.
  Bytes big = unhex("00000000" "81" "ffff");
  big.resize(big.size() + 65534, 0);
  Cell f;
  VarCell v;
  auto d = decode_cell(big, 4, f, v);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->kind, Decoded::kNone);
  big.push_back(0);
  d = decode_cell(big, 4, f, v);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->kind, Decoded::kVar);
  EXPECT_EQ(v.payload.size(), 65535u);
}

TEST(CellFormat, InPlaceDecodingViewsTheBufferAndAgreesWithTheCopy) {
  // The channel's hot path: a fixed cell is not copied; its payload is a
  // view into the read buffer, which the circuit then decrypts in place.
  for (uint16_t proto : {3, 4, 5}) {
    Bytes wire;
    encode_cell(sample_fixed(0x1234), proto, wire);
    VarCell vc;
    vc.command = CellCommand::kVpadding;
    vc.payload.assign(7, 0x5a);
    encode_var_cell(vc, proto, wire);
    encode_cell(sample_fixed(0x0042), proto, wire);
    size_t pos = 0;
    for (int i = 0; i < 3; ++i) {
      // Every prefix of what is left decodes as the copying decoder does.
      for (size_t n = 0; n <= wire.size() - pos; ++n) {
        Cell f;
        VarCell v1, v2;
        auto copy = decode_cell(ByteSpan(wire).subspan(pos, n), proto, f, v1);
        auto view = decode_cell_in_place(MutableByteSpan(wire).subspan(pos, n), proto, v2);
        ASSERT_TRUE(copy.ok() && view.ok());
        ASSERT_EQ(view->kind, copy->kind) << "proto " << proto << " cell " << i << " prefix " << n;
        ASSERT_EQ(view->consumed, copy->consumed);
        ASSERT_EQ(view->fixed.has_value(), copy->kind == Decoded::kFixed);
        if (view->fixed) {
          EXPECT_EQ(view->fixed->circ_id, f.circ_id);
          EXPECT_EQ(view->fixed->command, f.command);
          EXPECT_EQ(view->fixed->payload.data(), wire.data() + pos + circ_id_len(proto) + 1);
          EXPECT_TRUE(std::equal(f.payload.begin(), f.payload.end(), view->fixed->payload.begin()));
        }
        if (copy->kind == Decoded::kVar) {
          EXPECT_EQ(v2.command, v1.command);
          EXPECT_EQ(v2.payload, v1.payload);
        }
      }
      auto d = decode_cell_in_place(MutableByteSpan(wire).subspan(pos), proto, vc);
      ASSERT_TRUE(d.ok());
      pos += d->consumed;
    }
    EXPECT_EQ(pos, wire.size());
  }
  VarCell v;
  Bytes old(600, 0);
  EXPECT_FALSE(decode_cell_in_place(old, 2, v).ok());
}

TEST(CellFormat, UnknownCommandsAreDecoded) {
  // §3: receivers drop unknown commands, so framing must still work.
  Bytes wire = unhex("0000000163");
  wire.resize(514, 0);
  Cell f;
  VarCell v;
  auto d = decode_cell(wire, 4, f, v);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->kind, Decoded::kFixed);
  EXPECT_EQ(static_cast<uint8_t>(f.command), 0x63);
  EXPECT_STREQ(cell_command_name(f.command), "UNKNOWN");
  wire = unhex("00000000" "f0" "0001" "aa");
  d = decode_cell(wire, 4, f, v);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->kind, Decoded::kVar);
  EXPECT_EQ(v.payload, Bytes{0xaa});
}

TEST(CellFormat, OldLinkProtocolsRefused) {
  Bytes wire(600, 0);
  Cell f;
  VarCell v;
  for (uint16_t proto : {1, 2}) {
    auto d = decode_cell(wire, proto, f, v);
    ASSERT_FALSE(d.ok());
    EXPECT_TRUE(contains(d.error().message(), "link protocol " + std::to_string(proto))) << d.error().message();
  }
}

TEST(CellFormat, CommandNames) {
  EXPECT_STREQ(cell_command_name(CellCommand::kRelayEarly), "RELAY_EARLY");
  EXPECT_STREQ(cell_command_name(CellCommand::kVersions), "VERSIONS");
  EXPECT_STREQ(cell_command_name(CellCommand::kAuthChallenge), "AUTH_CHALLENGE");
  EXPECT_STREQ(cell_command_name(CellCommand::kCreated2), "CREATED2");
}

TEST(Versions, OddLengthRefused) {
  auto r = parse_versions(unhex("00030004" "00"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kProtocol);
  EXPECT_TRUE(contains(r.error().message(), "odd")) << r.error().message();
}

TEST(Versions, ChooseHighestCommon) {
  const uint16_t ours[] = {3, 4, 5};
  const uint16_t a[] = {1, 2, 3, 4};
  const uint16_t b[] = {5, 3};
  const uint16_t c[] = {1, 2, 6};
  EXPECT_EQ(choose_link_protocol(ours, a), 4);
  EXPECT_EQ(choose_link_protocol(ours, b), 5);
  EXPECT_EQ(choose_link_protocol(ours, c), 0);
  EXPECT_EQ(choose_link_protocol(ours, {}), 0);
}

TEST(Netinfo, ClientCellBytes) {
  auto relay = IpAddress::parse("192.0.2.7");
  ASSERT_TRUE(relay.has_value());
  Cell c = make_netinfo_cell(0, relay);
  EXPECT_EQ(c.circ_id, 0u);
  EXPECT_EQ(c.command, CellCommand::kNetinfo);
  // TIME 0, OTHERADDR type 4 len 4 c0000207, NMYADDR 0, then zero padding.
  EXPECT_EQ(hexs(ByteSpan(c.payload).first(12)), "00000000" "0404c0000207" "00" "00");
  for (size_t i = 11; i < kCellPayloadLen; ++i) ASSERT_EQ(c.payload[i], 0) << i;
  auto n = parse_netinfo(c.payload);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->timestamp, 0u);
  ASSERT_TRUE(n->other_ipv4.has_value());
  EXPECT_EQ(IpAddress::v4(*n->other_ipv4), *relay);
  EXPECT_FALSE(n->other_ipv6.has_value());
  EXPECT_TRUE(n->my_addresses.empty());
  Cell none = make_netinfo_cell(0, std::nullopt);
  EXPECT_EQ(hexs(ByteSpan(none.payload).first(7)), "00000000" "0000" "00");
}

TEST(Netinfo, RelayCellWithAddresses) {
  auto v6 = *IpAddress::parse("[2001:db8::5]");
  auto v4 = *IpAddress::parse("198.51.100.9");
  auto us = *IpAddress::parse("203.0.113.1");
  const IpAddress mine[] = {v4, v6};
  Cell c = make_netinfo_cell(0x64000000, us, mine);
  auto n = parse_netinfo(c.payload);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->timestamp, 0x64000000u);
  EXPECT_EQ(n->other_address(), us);
  ASSERT_EQ(n->my_addresses.size(), 2u);
  EXPECT_EQ(n->my_addresses[0], Bytes(v4.span().begin(), v4.span().end()));
  auto ips = n->my_ip_addresses();
  ASSERT_EQ(ips.size(), 2u);
  EXPECT_EQ(ips[1], v6);
  EXPECT_EQ(ips[1].to_string(), "2001:db8::5");
}

TEST(Netinfo, IgnoresBadAddressesAndTrailingBytes) {
  CellPayload p{};
  // TIME, OTHERADDR type 4 with ALEN 6 (ignored), 3 addresses: type 9 (unknown),
  // type 6 with ALEN 4 (ignored), good IPv4; then trailing junk.
  Bytes b = unhex("5f5e1000" "0406010203040506" "03" "0902abcd" "060401020304" "04040a000001" "deadbeef");
  std::copy(b.begin(), b.end(), p.begin());
  auto n = parse_netinfo(p);
  ASSERT_TRUE(n.ok()) << n.error().to_string();
  EXPECT_EQ(n->timestamp, 0x5f5e1000u);
  EXPECT_FALSE(n->other_ipv4.has_value());
  EXPECT_FALSE(n->other_ipv6.has_value());
  ASSERT_EQ(n->my_addresses.size(), 1u);
  EXPECT_EQ(n->my_addresses[0], unhex("0a000001"));
}

TEST(Netinfo, TruncatedAddressListRefused) {
  CellPayload p{};
  Bytes b = unhex("00000000" "0404c0000207" "ff");
  std::copy(b.begin(), b.end(), p.begin());
  for (size_t i = b.size(); i + 1 < p.size(); i += 18) {
    p[i] = 6;
    p[i + 1] = 16;
  }
  auto n = parse_netinfo(p);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().kind(), ErrorKind::kMalformed);
  EXPECT_TRUE(contains(n.error().message(), "NETINFO")) << n.error().message();
  EXPECT_TRUE(contains(n.error().message(), "truncated")) << n.error().message();
}

TEST(Create2, Ntor) {
  Bytes hdata(84);
  for (size_t i = 0; i < hdata.size(); ++i) hdata[i] = static_cast<uint8_t>(0xa0 + i);
  Cell c = make_create2_cell(0x80000010u, kHandshakeNtor, hdata);
  EXPECT_EQ(c.command, CellCommand::kCreate2);
  EXPECT_EQ(c.circ_id, 0x80000010u);
  EXPECT_EQ(hexs(ByteSpan(c.payload).first(4)), "00020054");
  EXPECT_TRUE(std::equal(hdata.begin(), hdata.end(), c.payload.begin() + 4));
  for (size_t i = 88; i < kCellPayloadLen; ++i) ASSERT_EQ(c.payload[i], 0);
  auto p = parse_create2(c.payload);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->handshake_type, kHandshakeNtor);
  EXPECT_EQ(p->hdata, hdata);

  Bytes reply(64, 0x5a);
  Cell created = make_created2_cell(0x80000010u, reply);
  EXPECT_EQ(created.command, CellCommand::kCreated2);
  EXPECT_EQ(hexs(ByteSpan(created.payload).first(3)), "00405a");
  auto h = parse_created2(created.payload);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(*h, reply);
}

TEST(Create2, BadLengthsRefused) {
  CellPayload p{};
  p[0] = 0x01;
  p[1] = 0xfc;  // HLEN 508 > 507
  auto h = parse_created2(p);
  ASSERT_FALSE(h.ok());
  EXPECT_TRUE(contains(h.error().message(), "HLEN 508")) << h.error().message();
  p[1] = 0xfb;  // 507: the whole rest of the payload
  EXPECT_TRUE(parse_created2(p).ok());
  CellPayload q{};
  q[1] = 2;
  q[2] = 0x01;
  q[3] = 0xfa;  // HLEN 506 > 505
  auto c = parse_create2(q);
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(contains(c.error().message(), "HLEN 506")) << c.error().message();
}

TEST(Destroy, CellAndReasons) {
  Cell d = make_destroy_cell(77, destroy::kFinished);
  EXPECT_EQ(d.command, CellCommand::kDestroy);
  EXPECT_EQ(d.circ_id, 77u);
  EXPECT_EQ(d.payload[0], 9);
  EXPECT_EQ(destroy_reason(d.payload), 9);
  for (size_t i = 1; i < kCellPayloadLen; ++i) ASSERT_EQ(d.payload[i], 0);
  EXPECT_STREQ(destroy_reason_name(0), "NONE");
  EXPECT_STREQ(destroy_reason_name(1), "PROTOCOL");
  EXPECT_STREQ(destroy_reason_name(7), "OR_IDENTITY");
  EXPECT_STREQ(destroy_reason_name(8), "CHANNEL_CLOSED");
  EXPECT_STREQ(destroy_reason_name(12), "NOSUCHSERVICE");
  EXPECT_STREQ(destroy_reason_name(13), "UNKNOWN");
}

TEST(IpAddress, ParseAndFormat) {
  EXPECT_FALSE(IpAddress::parse("").has_value());
  EXPECT_FALSE(IpAddress::parse("1.2.3").has_value());
  EXPECT_FALSE(IpAddress::parse("example.com").has_value());
  EXPECT_FALSE(IpAddress::parse("1::2::3").has_value());
  auto a = IpAddress::parse("10.1.2.3");
  ASSERT_TRUE(a.has_value());
  EXPECT_TRUE(a->is_v4());
  EXPECT_EQ(hexs(a->span()), "0a010203");
  EXPECT_EQ(a->to_string(), "10.1.2.3");
  auto b = IpAddress::parse("::1");
  ASSERT_TRUE(b.has_value());
  EXPECT_TRUE(b->is_v6());
  EXPECT_EQ(b->span().size(), 16u);
  EXPECT_EQ(b->to_string(), "::1");
  EXPECT_FALSE(IpAddress::from_bytes(unhex("0102")).has_value());
  EXPECT_FALSE(*a == *b);
}
