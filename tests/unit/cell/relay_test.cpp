// Relay cell payloads (tor-spec §6.1) and relay message bodies.
#include <gtest/gtest.h>

#include "cell/relay.h"

using namespace tc;
using namespace tc::cell;

namespace {
Bytes unhex(std::string_view s) { return *hex_decode(s); }
std::string hexs(ByteSpan b) { return hex_encode(b); }
bool contains(const std::string &hay, const std::string &needle) { return hay.find(needle) != std::string::npos; }
}  // namespace

TEST(RelayPayload, PackLayout) {
  Bytes body = {'h', 'e', 'l', 'l', 'o'};
  CellPayload p;
  p.fill(0xee);
  pack_relay_payload(RelayCommand::kData, 0x1234, body, p);
  // command 02, recognized 0000, stream 1234, digest 00000000, length 0005
  EXPECT_EQ(hexs(ByteSpan(p).first(16)), "02" "0000" "1234" "00000000" "0005" "68656c6c6f");
  // Padding: four zero bytes, then random bytes.
  EXPECT_EQ(hexs(ByteSpan(p).subspan(16, 4)), "00000000");
  CellPayload q;
  pack_relay_payload(RelayCommand::kData, 0x1234, body, q);
  EXPECT_TRUE(std::equal(p.begin(), p.begin() + 20, q.begin()));
  EXPECT_FALSE(std::equal(p.begin() + 20, p.end(), q.begin() + 20)) << "padding is not random";
  // Not all zero (or all 0xee) either.
  size_t zeros = 0;
  for (size_t i = 20; i < p.size(); ++i) zeros += p[i] == 0;
  EXPECT_LT(zeros, 20u);
}

TEST(RelayPayload, PackShortPaddingIsZero) {
  for (size_t len : {495u, 496u, 497u, 498u}) {
    Bytes body(len, 0x41);
    CellPayload p;
    p.fill(0xee);
    pack_relay_payload(RelayCommand::kData, 1, body, p);
    for (size_t i = kRelayHeaderLen + len; i < kCellPayloadLen; ++i) EXPECT_EQ(p[i], 0) << len << " " << i;
    EXPECT_EQ((p[9] << 8) | p[10], static_cast<int>(len));
    auto m = unpack_relay_payload(p);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->body.size(), len);
  }
}

TEST(RelayPayload, UnpackRoundTrip) {
  Bytes body(321);
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<uint8_t>(i);
  CellPayload p;
  pack_relay_payload(RelayCommand::kBeginDir, 0xbeef, body, p);
  auto m = unpack_relay_payload(p);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->command, RelayCommand::kBeginDir);
  EXPECT_EQ(m->stream_id, 0xbeef);
  EXPECT_EQ(Bytes(m->body.begin(), m->body.end()), body);
  EXPECT_EQ(m->body.data(), p.data() + kRelayHeaderLen);  // a view, not a copy
  CellPayload e;
  pack_relay_payload(RelayCommand::kSendme, 0, {}, e);
  auto me = unpack_relay_payload(e);
  ASSERT_TRUE(me.ok());
  EXPECT_EQ(me->command, RelayCommand::kSendme);
  EXPECT_TRUE(me->body.empty());
}

TEST(RelayPayload, LengthOver498Refused) {
  CellPayload p{};
  p[0] = 2;
  p[9] = 0x01;
  p[10] = 0xf3;  // 499
  auto m = unpack_relay_payload(p);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().kind(), ErrorKind::kProtocol);
  EXPECT_TRUE(contains(m.error().message(), "499")) << m.error().message();
  p[9] = 0xff;
  p[10] = 0xff;
  EXPECT_FALSE(unpack_relay_payload(p).ok());
  p[9] = 0x01;
  p[10] = 0xf2;  // 498: fine
  EXPECT_TRUE(unpack_relay_payload(p).ok());
}

TEST(RelayPayload, CommandNames) {
  EXPECT_STREQ(relay_command_name(RelayCommand::kBegin), "BEGIN");
  EXPECT_STREQ(relay_command_name(RelayCommand::kExtended2), "EXTENDED2");
  EXPECT_STREQ(relay_command_name(RelayCommand::kXoff), "XOFF");
  EXPECT_EQ(static_cast<int>(RelayCommand::kXoff), 43);
  EXPECT_EQ(static_cast<int>(RelayCommand::kXon), 44);
  EXPECT_STREQ(relay_command_name(static_cast<RelayCommand>(200)), "UNKNOWN");
}

TEST(Begin, Body) {
  EXPECT_EQ(as_string_view(make_begin_body("Example.COM", 443, 0)), std::string_view("example.com:443\0", 16));
  Bytes b = make_begin_body("2001:DB8::1", 80, begin_flags::kIpv6Okay | begin_flags::kIpv6Preferred);
  EXPECT_EQ(hexs(b), hexs(as_bytes(std::string_view("[2001:db8::1]:80\0", 17))) + "00000005");
  Bytes c = make_begin_body("[::1]", 22, 0);
  EXPECT_EQ(as_string_view(c), std::string_view("[::1]:22\0", 9));
  Bytes d = make_begin_body("192.0.2.1", 65535, begin_flags::kIpv4NotOkay);
  EXPECT_EQ(hexs(d), hexs(as_bytes(std::string_view("192.0.2.1:65535\0", 16))) + "00000002");
  auto pb = parse_begin(b);
  ASSERT_TRUE(pb.ok());
  EXPECT_EQ(pb->address, "2001:db8::1");
  EXPECT_EQ(pb->port, 80);
  EXPECT_EQ(pb->flags, 5u);
  auto pd = parse_begin(make_begin_body("torproject.org", 80, 0));
  ASSERT_TRUE(pd.ok());
  EXPECT_EQ(pd->address, "torproject.org");
  EXPECT_EQ(pd->flags, 0u);
  EXPECT_FALSE(parse_begin(as_bytes("example.com:80")).ok());  // no NUL
  EXPECT_FALSE(parse_begin(as_bytes(std::string_view("example.com\0", 12))).ok());
  EXPECT_FALSE(parse_begin(as_bytes(std::string_view("example.com:0\0", 14))).ok());
  EXPECT_FALSE(parse_begin(as_bytes(std::string_view("example.com:65536\0", 18))).ok());
}

TEST(Connected, Formats) {
  auto e = parse_connected({});
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(e->address.has_value());

  auto v4 = parse_connected(unhex("c0000201" "00000e10"));
  ASSERT_TRUE(v4.ok());
  ASSERT_TRUE(v4->address.has_value());
  EXPECT_EQ(v4->address->to_string(), "192.0.2.1");
  EXPECT_TRUE(v4->has_ttl);
  EXPECT_EQ(v4->ttl, 3600u);

  auto v4_nottl = parse_connected(unhex("c0000201"));
  ASSERT_TRUE(v4_nottl.ok());
  EXPECT_TRUE(v4_nottl->address.has_value());
  EXPECT_FALSE(v4_nottl->has_ttl);

  auto v6 = parse_connected(unhex("00000000" "06" "20010db8000000000000000000000001" "0000012c"));
  ASSERT_TRUE(v6.ok());
  ASSERT_TRUE(v6->address.has_value());
  EXPECT_EQ(v6->address->to_string(), "2001:db8::1");
  EXPECT_EQ(v6->ttl, 300u);

  // Round trips through the exit's encoder.
  for (const char *a : {"203.0.113.5", "2001:db8::77"}) {
    auto ip = *IpAddress::parse(a);
    auto c = parse_connected(make_connected_body(ip, 60));
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(*c->address, ip);
    EXPECT_EQ(c->ttl, 60u);
  }
}

TEST(Connected, MalformedRefused) {
  EXPECT_FALSE(parse_connected(unhex("c00002")).ok());
  auto wrong_type = parse_connected(unhex("00000000" "04" "c0000201" "00000000"));
  ASSERT_FALSE(wrong_type.ok());
  EXPECT_TRUE(contains(wrong_type.error().message(), "type 4")) << wrong_type.error().message();
  auto short_v6 = parse_connected(unhex("00000000" "06" "20010db8000000000000000000000001" "0000"));
  ASSERT_FALSE(short_v6.ok());
  EXPECT_TRUE(contains(short_v6.error().message(), "truncated")) << short_v6.error().message();
}

TEST(End, Bodies) {
  EXPECT_EQ(make_end_body(end_reason::kDone), Bytes{6});
  auto empty = parse_end({});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->reason, end_reason::kMisc);
  auto done = parse_end(Bytes{6});
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->reason, end_reason::kDone);
  EXPECT_FALSE(done->address.has_value());

  auto ep4 = parse_end(unhex("04" "c6336401" "00000258"));
  ASSERT_TRUE(ep4.ok());
  EXPECT_EQ(ep4->reason, end_reason::kExitPolicy);
  ASSERT_TRUE(ep4->address.has_value());
  EXPECT_EQ(ep4->address->to_string(), "198.51.100.1");
  EXPECT_EQ(ep4->ttl, 600u);

  auto ep6 = parse_end(unhex("04" "20010db8000000000000000000000002"));
  ASSERT_TRUE(ep6.ok());
  ASSERT_TRUE(ep6->address.has_value());
  EXPECT_EQ(ep6->address->to_string(), "2001:db8::2");
  EXPECT_EQ(ep6->ttl, 0xFFFFFFFFu);  // §6.3: absent TTL

  auto odd = parse_end(unhex("04" "c63364"));  // wrong length: processed anyway
  ASSERT_TRUE(odd.ok());
  EXPECT_EQ(odd->reason, end_reason::kExitPolicy);
  EXPECT_FALSE(odd->address.has_value());

  EXPECT_STREQ(end_reason_name(1), "MISC");
  EXPECT_STREQ(end_reason_name(4), "EXITPOLICY");
  EXPECT_STREQ(end_reason_name(14), "NOTDIRECTORY");
  EXPECT_STREQ(end_reason_name(0), "UNKNOWN");
  EXPECT_STREQ(end_reason_name(99), "UNKNOWN");
}

TEST(Resolve, Bodies) {
  EXPECT_EQ(make_resolve_body("www.example.com"), Bytes(as_bytes(std::string_view("www.example.com\0", 16)).begin(),
                                                        as_bytes(std::string_view("www.example.com\0", 16)).end()));
  Bytes body = unhex("0404c0000201" "0000003c"
                     "0610" "20010db8000000000000000000000001" "00000078"
                     "000b" "6578616d706c652e636f6d" "0000012c");
  auto r = parse_resolved(body);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].type, resolved_type::kIpv4);
  EXPECT_EQ((*r)[0].value, unhex("c0000201"));
  EXPECT_EQ((*r)[0].ttl, 60u);
  EXPECT_EQ((*r)[1].type, resolved_type::kIpv6);
  EXPECT_EQ((*r)[1].ttl, 120u);
  EXPECT_EQ((*r)[2].type, resolved_type::kHostname);
  EXPECT_EQ(as_string_view((*r)[2].value), "example.com");
  EXPECT_EQ(make_resolved_body(*r), body);

  auto err = parse_resolved(unhex("f0" "05" "4572726f72" "00000000"));
  ASSERT_TRUE(err.ok());
  ASSERT_EQ(err->size(), 1u);
  EXPECT_EQ((*err)[0].type, resolved_type::kErrorTransient);
  EXPECT_TRUE(parse_resolved({}).ok());
}

TEST(Resolve, MalformedRefused) {
  auto badlen = parse_resolved(unhex("0405c000020101" "0000003c"));
  ASSERT_FALSE(badlen.ok());
  EXPECT_TRUE(contains(badlen.error().message(), "length 5")) << badlen.error().message();
  EXPECT_FALSE(parse_resolved(unhex("0604c0000201" "0000003c")).ok());
  auto trunc = parse_resolved(unhex("0404c0000201" "0000"));
  ASSERT_FALSE(trunc.ok());
  EXPECT_TRUE(contains(trunc.error().message(), "truncated")) << trunc.error().message();
  EXPECT_FALSE(parse_resolved(unhex("04")).ok());
  EXPECT_FALSE(parse_resolved(unhex("0010abcd")).ok());
}

TEST(Sendme, Bodies) {
  auto v0 = parse_sendme({});
  ASSERT_TRUE(v0.ok());
  EXPECT_EQ(v0->version, 0);
  EXPECT_TRUE(v0->digest.empty());
  auto v0data = parse_sendme(unhex("00" "0002" "abcd"));
  ASSERT_TRUE(v0data.ok());
  EXPECT_EQ(v0data->version, 0);

  Bytes digest = unhex("00112233445566778899aabbccddeeff01234567");
  Bytes body = make_sendme_v1_body(digest);
  EXPECT_EQ(hexs(body), "01" "0014" + hexs(digest));
  auto v1 = parse_sendme(body);
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ(v1->version, 1);
  EXPECT_EQ(v1->digest, digest);

  // DATA_LEN above 20: the first 20 bytes are the digest.
  auto longer = parse_sendme(unhex("01" "0016" + hexs(digest) + "ffff"));
  ASSERT_TRUE(longer.ok());
  EXPECT_EQ(longer->digest, digest);
}

TEST(Sendme, MalformedRefused) {
  Bytes digest(20, 0x42);
  auto short_len = parse_sendme(unhex("01" "0013" + hexs(ByteSpan(digest).first(19))));
  ASSERT_FALSE(short_len.ok());
  EXPECT_TRUE(contains(short_len.error().message(), "DATA_LEN 19")) << short_len.error().message();
  auto truncated = parse_sendme(unhex("01" "0014" + hexs(ByteSpan(digest).first(10))));
  ASSERT_FALSE(truncated.ok());
  EXPECT_TRUE(contains(truncated.error().message(), "truncated")) << truncated.error().message();
  auto v2 = parse_sendme(unhex("02" "0014" + hexs(digest)));
  ASSERT_FALSE(v2.ok());
  EXPECT_TRUE(contains(v2.error().message(), "version 2")) << v2.error().message();
  EXPECT_FALSE(parse_sendme(unhex("01")).ok());
}

TEST(Extend2, Body) {
  LinkSpecifiers ls;
  ls.ipv4 = {192, 0, 2, 9};
  ls.port = 9001;
  for (size_t i = 0; i < 20; ++i) ls.rsa_id[i] = static_cast<uint8_t>(i);
  std::array<uint8_t, 32> ed;
  for (size_t i = 0; i < 32; ++i) ed[i] = static_cast<uint8_t>(0x80 + i);
  ls.ed_id = ed;
  Bytes hdata(84, 0x33);
  Bytes body = make_extend2_body(ls, kHandshakeNtor, hdata);
  const std::string expect_prefix = "03"                                          // NSPEC
                                    "0006" "c0000209" "2329"                       // [00] IPv4 + port
                                    "0214" + hexs(ls.rsa_id) +                     // [02] legacy id
                                    "0320" + hexs(ed) +                            // [03] Ed25519 id
                                    "0002" "0054";                                 // HTYPE ntor, HLEN 84
  EXPECT_EQ(hexs(ByteSpan(body).first(expect_prefix.size() / 2)), expect_prefix);
  EXPECT_EQ(body.size(), expect_prefix.size() / 2 + 84);
  auto p = parse_extend2(body);
  ASSERT_TRUE(p.ok()) << p.error().to_string();
  EXPECT_TRUE(p->has_ipv4);
  EXPECT_EQ(p->link.ipv4, ls.ipv4);
  EXPECT_EQ(p->link.port, 9001);
  EXPECT_EQ(p->link.rsa_id, ls.rsa_id);
  ASSERT_TRUE(p->link.ed_id.has_value());
  EXPECT_EQ(*p->link.ed_id, ed);
  EXPECT_FALSE(p->link.ipv6.has_value());
  EXPECT_EQ(p->handshake_type, kHandshakeNtor);
  EXPECT_EQ(p->hdata, hdata);

  // With IPv6, sent last; without Ed25519.
  ls.ed_id.reset();
  ls.ipv6 = std::array<uint8_t, 16>{0x20, 0x01, 0x0d, 0xb8};
  ls.ipv6_port = 443;
  Bytes body6 = make_extend2_body(ls, kHandshakeNtorV3, hdata);
  EXPECT_EQ(body6[0], 3);
  EXPECT_EQ(hexs(ByteSpan(body6).subspan(1 + 8 + 22, 2)), "0112");
  auto p6 = parse_extend2(body6);
  ASSERT_TRUE(p6.ok());
  ASSERT_TRUE(p6->link.ipv6.has_value());
  EXPECT_EQ(p6->link.ipv6_port, 443);
  EXPECT_FALSE(p6->link.ed_id.has_value());
  EXPECT_EQ(p6->handshake_type, kHandshakeNtorV3);
}

TEST(Extend2, MalformedRefused) {
  std::string rsa = "0214" + std::string(40, 'a');
  auto dup = parse_extend2(unhex("02" + rsa + rsa + "0002" "0000"));
  ASSERT_FALSE(dup.ok());
  EXPECT_TRUE(contains(dup.error().message(), "two legacy")) << dup.error().message();
  auto badlen = parse_extend2(unhex("01" "0005" "c000020923" "0002" "0000"));
  ASSERT_FALSE(badlen.ok());
  EXPECT_TRUE(contains(badlen.error().message(), "length 5")) << badlen.error().message();
  // Unknown specifier ignored.
  auto unk = parse_extend2(unhex("01" "0703" "aabbcc" "0002" "0001" "ff"));
  ASSERT_TRUE(unk.ok());
  EXPECT_FALSE(unk->has_ipv4);
  EXPECT_EQ(unk->hdata, Bytes{0xff});
  EXPECT_FALSE(parse_extend2(unhex("01" "0006" "c0000209")).ok());
  EXPECT_FALSE(parse_extend2(unhex("00" "0002" "0005" "0102")).ok());
}

TEST(Extended2, Body) {
  Bytes reply(64);
  for (size_t i = 0; i < reply.size(); ++i) reply[i] = static_cast<uint8_t>(255 - i);
  Bytes body = make_extended2_body(reply);
  EXPECT_EQ(hexs(ByteSpan(body).first(2)), "0040");
  auto h = parse_extended2(body);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(*h, reply);
  auto bad = parse_extended2(unhex("0041"));
  EXPECT_FALSE(bad.ok());
  Bytes too_long = unhex("0040");
  too_long.resize(2 + 63);
  auto t = parse_extended2(too_long);
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(contains(t.error().message(), "EXTENDED2")) << t.error().message();
  EXPECT_FALSE(parse_extended2(unhex("00")).ok());
}

TEST(Truncated, Body) {
  auto r = parse_truncated(Bytes{8});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 8);
  auto e = parse_truncated({});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(*e, 0);
}

// Prop 324 §4 / C tor's flow_control_cells.trunnel: xoff_cell { u8 version
// IN [0] }, xon_cell { u8 version IN [0]; u32 kbps_ewma }.
TEST(RelayBodies, XoffXon) {
  EXPECT_EQ(hex_encode(make_xoff_body()), "00");
  EXPECT_EQ(hex_encode(make_xon_body(0x01020304)), "0001020304");
  EXPECT_TRUE(parse_xoff(make_xoff_body()).ok());
  auto x = parse_xon(make_xon_body(123456));
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x->kbps_ewma, 123456u);
  // Trailing bytes (the cell's padding) are ignored, as trunnel's parse does.
  Bytes padded = make_xon_body(7);
  padded.resize(40, 0xAA);
  ASSERT_TRUE(parse_xon(padded).ok());
  EXPECT_EQ(parse_xon(padded)->kbps_ewma, 7u);
  EXPECT_FALSE(parse_xoff(Bytes{}).ok());
  EXPECT_FALSE(parse_xoff(Bytes{1}).ok());
  EXPECT_FALSE(parse_xon(Bytes{0, 1, 2, 3}).ok());  // truncated rate
  EXPECT_FALSE(parse_xon(Bytes{2, 0, 0, 0, 0}).ok());  // unknown version
}
