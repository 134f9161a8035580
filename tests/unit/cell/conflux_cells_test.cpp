// CONFLUX_LINK / CONFLUX_LINKED / CONFLUX_SWITCH bodies (proposal 329 §2.2,
// C tor's conflux.trunnel).
#include <gtest/gtest.h>

#include <string>

#include "cell/relay.h"

using namespace tc;
using namespace tc::cell;

namespace {
Bytes unhex(std::string_view s) { return *hex_decode(s); }
bool contains(const std::string &hay, const std::string &needle) { return hay.find(needle) != std::string::npos; }

ConfluxLink sample_link() {
  ConfluxLink l;
  for (size_t i = 0; i < l.nonce.size(); ++i) l.nonce[i] = static_cast<uint8_t>(0xa0 + i);
  l.last_seqno_sent = 0x0102030405060708ull;
  l.last_seqno_recv = 0x1112131415161718ull;
  l.desired_ux = conflux_ux::kLowMemThroughput;
  return l;
}

// The sample link, written out by hand from the trunnel description:
// version(1) nonce(32) last_seqno_sent(8, BE) last_seqno_recv(8, BE) desired_ux(1).
const std::string kSampleLinkHex =
    "01"
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
    "0102030405060708"
    "1112131415161718"
    "04";
}  // namespace

TEST(ConfluxCells, UxConstantsMatchProposal) {
  EXPECT_EQ(conflux_ux::kNoOpinion, 0);
  EXPECT_EQ(conflux_ux::kMinLatency, 1);
  EXPECT_EQ(conflux_ux::kLowMemLatency, 2);
  EXPECT_EQ(conflux_ux::kHighThroughput, 3);
  EXPECT_EQ(conflux_ux::kLowMemThroughput, 4);
  EXPECT_EQ(ConfluxLink{}.desired_ux, conflux_ux::kHighThroughput);
  EXPECT_EQ(static_cast<int>(RelayCommand::kConfluxLink), 19);
  EXPECT_EQ(static_cast<int>(RelayCommand::kConfluxLinked), 20);
  EXPECT_EQ(static_cast<int>(RelayCommand::kConfluxLinkedAck), 21);
  EXPECT_EQ(static_cast<int>(RelayCommand::kConfluxSwitch), 22);
}

TEST(ConfluxCells, LinkExactBytes) {
  Bytes b = make_conflux_link_body(sample_link());
  ASSERT_EQ(b.size(), 50u);
  EXPECT_EQ(hex_encode(b), kSampleLinkHex);
  EXPECT_EQ(b, unhex(kSampleLinkHex));

  // A default link: zero nonce and counters, HIGH_THROUGHPUT.
  EXPECT_EQ(hex_encode(make_conflux_link_body(ConfluxLink{})),
            "01" + std::string(64, '0') + std::string(16, '0') + std::string(16, '0') + "03");

  // Small counters land in the last byte (big-endian), not the first.
  ConfluxLink small;
  small.last_seqno_sent = 1;
  small.last_seqno_recv = 0x100;
  small.desired_ux = conflux_ux::kNoOpinion;
  Bytes s = make_conflux_link_body(small);
  ASSERT_EQ(s.size(), 50u);
  EXPECT_EQ(hex_encode(ByteSpan(s).subspan(33, 8)), "0000000000000001");
  EXPECT_EQ(hex_encode(ByteSpan(s).subspan(41, 8)), "0000000000000100");
  EXPECT_EQ(s[49], 0);
}

TEST(ConfluxCells, LinkParsesHandBuiltBytes) {
  auto l = parse_conflux_link(unhex(kSampleLinkHex));
  ASSERT_TRUE(l.ok()) << l.error().to_string();
  EXPECT_EQ(l->nonce, sample_link().nonce);
  EXPECT_EQ(l->last_seqno_sent, 0x0102030405060708ull);
  EXPECT_EQ(l->last_seqno_recv, 0x1112131415161718ull);
  EXPECT_EQ(l->desired_ux, conflux_ux::kLowMemThroughput);
}

TEST(ConfluxCells, LinkRoundTrip) {
  for (uint8_t ux = 0; ux <= conflux_ux::kLowMemThroughput; ++ux) {
    for (uint64_t seq : {uint64_t{0}, uint64_t{1}, uint64_t{0xffffffffull}, uint64_t{0x100000000ull},
                         ~uint64_t{0}}) {
      ConfluxLink in;
      for (size_t i = 0; i < in.nonce.size(); ++i) in.nonce[i] = static_cast<uint8_t>(i * 7 + ux + seq);
      in.last_seqno_sent = seq;
      in.last_seqno_recv = ~seq;
      in.desired_ux = ux;
      Bytes b = make_conflux_link_body(in);
      ASSERT_EQ(b.size(), 50u);
      auto out = parse_conflux_link(b);
      ASSERT_TRUE(out.ok()) << out.error().to_string();
      EXPECT_EQ(out->nonce, in.nonce);
      EXPECT_EQ(out->last_seqno_sent, in.last_seqno_sent);
      EXPECT_EQ(out->last_seqno_recv, in.last_seqno_recv);
      EXPECT_EQ(out->desired_ux, in.desired_ux);
    }
  }
}

TEST(ConfluxCells, LinkOtherVersionsRefused) {
  for (uint8_t v : {uint8_t{0}, uint8_t{2}, uint8_t{0xff}}) {
    Bytes b = unhex(kSampleLinkHex);
    b[0] = v;
    auto l = parse_conflux_link(b);
    ASSERT_FALSE(l.ok()) << "version " << int(v);
    EXPECT_TRUE(contains(l.error().message(), "CONFLUX_LINK")) << l.error().message();
    EXPECT_TRUE(contains(l.error().message(), std::to_string(v))) << l.error().message();
  }
}

TEST(ConfluxCells, LinkTruncatedRefusedAtEveryLength) {
  Bytes full = unhex(kSampleLinkHex);
  ASSERT_EQ(full.size(), 50u);
  for (size_t len = 0; len < full.size(); ++len) {
    auto l = parse_conflux_link(ByteSpan(full).first(len));
    ASSERT_FALSE(l.ok()) << "accepted a " << len << "-byte body";
    EXPECT_TRUE(contains(l.error().message(), "CONFLUX_LINK")) << len << ": " << l.error().message();
  }
  EXPECT_TRUE(parse_conflux_link(full).ok());
}

TEST(ConfluxCells, LinkUnknownUxRefused) {
  for (uint8_t ux : {uint8_t{5}, uint8_t{6}, uint8_t{0x80}, uint8_t{0xff}}) {
    Bytes b = unhex(kSampleLinkHex);
    b[49] = ux;
    auto l = parse_conflux_link(b);
    ASSERT_FALSE(l.ok()) << "DESIRED_UX " << int(ux);
    EXPECT_TRUE(contains(l.error().message(), "CONFLUX_LINK")) << l.error().message();
    EXPECT_TRUE(contains(l.error().message(), "DESIRED_UX")) << l.error().message();
  }
  // 4 is the largest known value and is accepted.
  Bytes b = unhex(kSampleLinkHex);
  b[49] = 4;
  EXPECT_TRUE(parse_conflux_link(b).ok());
}

TEST(ConfluxCells, LinkTrailingBytesIgnored) {
  // As with trunnel (and this file's other parsers), only the prefix is read.
  Bytes b = unhex(kSampleLinkHex);
  b.resize(80, 0xee);
  auto l = parse_conflux_link(b);
  ASSERT_TRUE(l.ok()) << l.error().to_string();
  EXPECT_EQ(l->last_seqno_recv, 0x1112131415161718ull);
  EXPECT_EQ(l->desired_ux, conflux_ux::kLowMemThroughput);
}

TEST(ConfluxCells, SwitchExactBytes) {
  EXPECT_EQ(hex_encode(make_conflux_switch_body(0)), "00000000");
  EXPECT_EQ(hex_encode(make_conflux_switch_body(1)), "00000001");
  EXPECT_EQ(hex_encode(make_conflux_switch_body(0x01020304)), "01020304");
  EXPECT_EQ(hex_encode(make_conflux_switch_body(0xffffffffu)), "ffffffff");
  auto s = parse_conflux_switch(unhex("0a0b0c0d"));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, 0x0a0b0c0du);
}

TEST(ConfluxCells, SwitchRoundTrip) {
  for (uint32_t v : {0u, 1u, 255u, 256u, 65535u, 65536u, 0x7fffffffu, 0x80000000u, 0xfffffffeu, 0xffffffffu}) {
    Bytes b = make_conflux_switch_body(v);
    ASSERT_EQ(b.size(), 4u);
    auto s = parse_conflux_switch(b);
    ASSERT_TRUE(s.ok()) << v;
    EXPECT_EQ(*s, v);
  }
}

TEST(ConfluxCells, SwitchTruncatedRefused) {
  Bytes full = make_conflux_switch_body(0x01020304);
  for (size_t len = 0; len < 4; ++len) {
    auto s = parse_conflux_switch(ByteSpan(full).first(len));
    ASSERT_FALSE(s.ok()) << "accepted a " << len << "-byte body";
    EXPECT_TRUE(contains(s.error().message(), "CONFLUX_SWITCH")) << s.error().message();
  }
}
