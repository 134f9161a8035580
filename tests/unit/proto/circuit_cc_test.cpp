// proto::Circuit with congestion control against a simulated exit written
// from the specs: ntor-v3 negotiation (prop 324 §4.1.1), circuit SENDMEs
// every sendme_inc cells both ways (with prop 289 digests), no stream
// SENDMEs, and XON/XOFF (prop 324 §4).
#include <gtest/gtest.h>

#include <cstring>

#include "cell/relay.h"
#include "crypto/crypto.h"
#include "proto/circuit.h"

using namespace tc;
using namespace tc::proto;
using cell::CellPayload;
using cell::RelayCommand;
using cell::RelayDigest;

namespace {
const std::string kProto = "ntor3-curve25519-sha3_256-1";
Bytes encap(ByteSpan s) {
  Bytes out;
  Writer w(out);
  w.u64(s.size());
  w.bytes(s);
  return out;
}
Bytes cat(std::initializer_list<ByteSpan> parts) {
  Bytes out;
  for (auto p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
ByteSpan S(const std::string &s) { return as_bytes(s); }
Bytes h(const std::string &t, ByteSpan s) {
  auto d = crypto::sha3_256(cat({encap(S(kProto + t)), s}));
  return Bytes(d.begin(), d.end());
}
Bytes kdf(const std::string &t, ByteSpan s, size_t n) { return crypto::shake256(cat({encap(S(kProto + t)), s}), n); }
Bytes aes(ByteSpan k, ByteSpan m) {
  Bytes out(m.begin(), m.end());
  if (!out.empty()) crypto::AesCtr(k).apply(out);
  return out;
}

// The exit: the relay side of ntor-v3 (prop 332) and of tor1 relay crypto.
struct SimExit {
  crypto::X25519Keypair b = crypto::X25519Keypair::generate();
  Bytes id = Bytes(32);
  Bytes client_message;  // what the client asked for
  std::optional<crypto::AesCtr> fwd, bwd;
  std::optional<crypto::Digest> fdig, bdig;

  SimExit() { crypto::random_bytes(id); }
  RelayTarget target() const {
    RelayTarget t;
    t.nickname = "exit";
    std::array<uint8_t, 32> ed{};
    std::copy(id.begin(), id.end(), ed.begin());
    t.ed_id = ed;
    std::copy(b.public_key.begin(), b.public_key.end(), t.ntor_onion_key.begin());
    t.supports_cc = true;
    return t;
  }
  // Answers a CREATE2 with CREATED2 carrying `server_message`.
  cell::Cell answer(const cell::Cell &create2, ByteSpan server_message) {
    auto c2 = cell::parse_create2(create2.payload);
    EXPECT_TRUE(c2.ok());
    ByteSpan skin = c2->hdata;
    ByteSpan X = skin.subspan(64, 32), msg = skin.subspan(96, skin.size() - 128);
    auto xb = *crypto::x25519(b.secret, X);
    ByteSpan ver = as_bytes(crypto::kNtorV3CircuitVerification);
    Bytes p1 = kdf(":kdf_phase1", cat({xb, id, X, b.public_key, S(kProto), encap(ver)}), 64);
    client_message = aes(ByteSpan(p1.data(), 32), msg);
    Bytes mac_k(p1.begin() + 32, p1.end());
    Bytes mac = [&] {
      auto d = crypto::sha3_256(cat({encap(S(kProto + ":msg_mac")), encap(mac_k), id, b.public_key, X, msg}));
      return Bytes(d.begin(), d.end());
    }();
    auto y = crypto::X25519Keypair::generate();
    auto xy = *crypto::x25519(y.secret, X);
    Bytes si = cat({xy, xb, id, b.public_key, X, y.public_key, S(kProto), encap(ver)});
    Bytes raw = kdf(":kdf_final", h(":key_seed", si), 32 + 72);
    Bytes enc = aes(ByteSpan(raw.data(), 32), server_message);
    Bytes auth = h(":auth_final", cat({h(":verify", si), id, b.public_key, y.public_key, X, mac, encap(enc),
                                       S(kProto), S("Server")}));
    ByteSpan km(raw.data() + 32, 72);
    fwd.emplace(km.subspan(40, 16));
    bwd.emplace(km.subspan(56, 16));
    fdig.emplace(crypto::Digest::Algo::kSha1);
    fdig->update(km.subspan(0, 20));
    bdig.emplace(crypto::Digest::Algo::kSha1);
    bdig->update(km.subspan(20, 20));
    return cell::make_created2_cell(create2.circ_id, cat({y.public_key, auth, enc}));
  }
  // A cell from the client: decrypts it, checks it is recognized, returns
  // the message and the full running digest.
  struct Got {
    RelayCommand command;
    uint16_t stream_id;
    Bytes body;
    RelayDigest digest;
  };
  Got receive(cell::Cell c) {
    fwd->apply(c.payload);
    CellPayload zeroed = c.payload;
    std::memset(zeroed.data() + 5, 0, 4);
    fdig->update(zeroed);
    Bytes d = fdig->peek();
    EXPECT_EQ(std::memcmp(d.data(), c.payload.data() + 5, 4), 0) << "cell not recognized by the exit";
    auto m = cell::unpack_relay_payload(c.payload);
    EXPECT_TRUE(m.ok());
    Got g{m->command, m->stream_id, Bytes(m->body.begin(), m->body.end()), {}};
    std::copy(d.begin(), d.begin() + 20, g.digest.begin());
    return g;
  }
  // A relay cell from the exit; returns its full running digest.
  RelayDigest send(cell::Cell &c, uint32_t circ_id, RelayCommand cmd, uint16_t stream, ByteSpan body) {
    c.circ_id = circ_id;
    c.command = cell::CellCommand::kRelay;
    cell::pack_relay_payload(cmd, stream, body, c.payload);
    bdig->update(c.payload);
    Bytes d = bdig->peek();
    std::memcpy(c.payload.data() + 5, d.data(), 4);
    bwd->apply(c.payload);
    RelayDigest out;
    std::copy(d.begin(), d.begin() + 20, out.begin());
    return out;
  }
};

CcParams vegas_params() {
  CcParams p;
  p.cc_alg = 2;
  return p;
}

// A one-hop circuit to the simulated exit; `reply` is the exit's ntor-v3
// server message.
struct Fixture {
  SimExit exit;
  Circuit circ{0x80000001u, vegas_params()};
  Outbox out;
  Result<CircuitEvent> build(bool request_cc, ByteSpan reply) {
    auto c = circ.start_create(exit.target(), HandshakeType::kNtorV3, request_cc);
    EXPECT_TRUE(c.ok());
    auto created = exit.answer(*c, reply);
    return circ.handle_cell(created, out, 1);
  }
  // Opens a stream and answers CONNECTED.
  uint16_t open(uint64_t now) {
    auto id = circ.open_stream("example.com", 80, 0, out);
    EXPECT_TRUE(id.ok());
    EXPECT_EQ(exit.receive(out.back()).command, RelayCommand::kBegin);
    out.clear();
    cell::Cell c;
    exit.send(c, circ.circ_id(), RelayCommand::kConnected, *id, {});
    EXPECT_TRUE(circ.handle_cell(c, out, now).ok());
    return *id;
  }
  Result<CircuitEvent> from_exit(RelayCommand cmd, uint16_t stream, ByteSpan body, LazyUsec now,
                                 RelayDigest *digest = nullptr) {
    cell::Cell c;
    RelayDigest d = exit.send(c, circ.circ_id(), cmd, stream, body);
    if (digest) *digest = d;
    return circ.handle_cell(c, out, now);
  }
};

Bytes cc_response(uint8_t inc) { return crypto::encode_ntor_v3_extensions({{crypto::kNtorV3ExtCcResponse, {inc}}}); }
}  // namespace

TEST(CircuitCc, RequestSentAndResponseAccepted) {
  Fixture f;
  auto r = f.build(true, cc_response(31));
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(hex_encode(f.exit.client_message), "010100");  // one extension: type 1, empty
  ASSERT_NE(f.circ.congestion_control(), nullptr);
  EXPECT_EQ(f.circ.congestion_control()->sendme_inc(), 31);
  EXPECT_EQ(f.circ.package_window(), 124);  // cc_cwnd_init, not 1000
}

TEST(CircuitCc, ExitThatDeclinesLeavesFixedWindows) {
  Fixture f;
  auto r = f.build(true, crypto::encode_ntor_v3_extensions({}));
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(f.circ.congestion_control(), nullptr);
  EXPECT_EQ(f.circ.package_window(), kCircWindowStart);
}

TEST(CircuitCc, NoRequestWithoutAsking) {
  Fixture f;
  auto r = f.build(false, crypto::encode_ntor_v3_extensions({}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(hex_encode(f.exit.client_message), "00");
  EXPECT_EQ(f.circ.congestion_control(), nullptr);
}

TEST(CircuitCc, UnrequestedOrOutOfRangeResponseRefused) {
  {
    Fixture f;
    EXPECT_FALSE(f.build(false, cc_response(31)).ok());
  }
  for (uint8_t bad : {uint8_t{0}, uint8_t{14}, uint8_t{63}}) {
    Fixture f;
    EXPECT_FALSE(f.build(true, cc_response(bad)).ok()) << int(bad);
  }
}

TEST(CircuitCc, CircuitSendmeEverySendmeIncCellsWithTheExitsDigest) {
  Fixture f;
  ASSERT_TRUE(f.build(true, cc_response(31)).ok());
  uint16_t s = f.open(10);
  Bytes body(498, 0x5a);
  for (int i = 1; i <= 93; ++i) {
    RelayDigest d;
    auto ev = f.from_exit(RelayCommand::kData, s, body, 100 + i, &d);
    ASSERT_TRUE(ev.ok()) << i << ": " << ev.error().to_string();
    ASSERT_TRUE(std::holds_alternative<EvStreamData>(*ev));
    if (i % 31 != 0) {
      EXPECT_TRUE(f.out.empty()) << "SENDME after cell " << i;
      continue;
    }
    ASSERT_EQ(f.out.size(), 1u) << i;
    auto got = f.exit.receive(f.out[0]);
    f.out.clear();
    EXPECT_EQ(got.command, RelayCommand::kSendme);
    EXPECT_EQ(got.stream_id, 0);
    auto sm = cell::parse_sendme(got.body);
    ASSERT_TRUE(sm.ok());
    EXPECT_EQ(sm->version, 1);
    EXPECT_TRUE(std::equal(d.begin(), d.end(), sm->digest.begin()));
  }
  // 93 cells consumed: no stream-level SENDME on a congestion-controlled circuit.
  f.circ.data_consumed(s, 93, f.out);
  EXPECT_TRUE(f.out.empty());
  // And a stream SENDME from the exit is a protocol error (as C tor).
  EXPECT_FALSE(f.from_exit(RelayCommand::kSendme, s, {}, 500).ok());
}

TEST(CircuitCc, SendingFollowsCwndAndSendmesMeasureRtt) {
  Fixture f;
  ASSERT_TRUE(f.build(true, cc_response(31)).ok());
  uint16_t s = f.open(10);
  Bytes data(498 * 200, 1);
  size_t off = 0;
  std::vector<RelayDigest> exit_digests;
  const uint64_t t_send = 1'000'000;
  while (f.circ.can_send(s)) {
    auto n = f.circ.send_data(s, ByteSpan(data).subspan(off), f.out, t_send);
    ASSERT_TRUE(n.ok());
    off += *n;
  }
  EXPECT_EQ(f.out.size(), 124u);  // cc_cwnd_init cells, then the window is shut
  EXPECT_FALSE(f.circ.send_data(s, ByteSpan(data).subspan(off), f.out, t_send).ok());
  for (size_t i = 0; i < 124; ++i) {
    auto g = f.exit.receive(f.out[i]);
    EXPECT_EQ(g.command, RelayCommand::kData);
    if ((i + 1) % 31 == 0) exit_digests.push_back(g.digest);
  }
  f.out.clear();
  ASSERT_EQ(exit_digests.size(), 4u);
  // The exit acknowledges cell 31 after 80 ms.
  auto ev = f.from_exit(RelayCommand::kSendme, 0, cell::make_sendme_v1_body(exit_digests[0]), t_send + 80'000);
  ASSERT_TRUE(ev.ok()) << ev.error().to_string();
  EXPECT_TRUE(std::holds_alternative<EvCircuitWindowOpened>(*ev));
  const Vegas *v = f.circ.congestion_control();
  EXPECT_EQ(v->ewma_rtt_usec(), 80'000u);
  EXPECT_EQ(v->inflight(), 93u);
  EXPECT_EQ(v->cwnd(), 155u);  // slow start, full window: + sendme_inc
  EXPECT_EQ(f.circ.package_window(), 62);
  // A SENDME whose digest is not the one of cell 62 closes the circuit.
  EXPECT_FALSE(f.from_exit(RelayCommand::kSendme, 0, cell::make_sendme_v1_body(exit_digests[0]), t_send + 90'000).ok());
}

namespace {
// A clock the test controls, counting how often it is read.
uint64_t g_clock_usec = 0;
int g_clock_reads = 0;
uint64_t counting_clock() {
  ++g_clock_reads;
  return g_clock_usec;
}
}  // namespace

TEST(CircuitCc, ClockReadOnlyForTheCellsThatNeedIt) {
  Fixture f;
  ASSERT_TRUE(f.build(true, cc_response(31)).ok());
  uint16_t s = f.open(10);
  g_clock_reads = 0;
  // Inbound DATA needs no time: a download's cells read no clock.
  Bytes body(498, 7);
  for (int i = 0; i < 20; ++i) {
    auto ev = f.from_exit(RelayCommand::kData, s, body, LazyUsec(&counting_clock));
    ASSERT_TRUE(ev.ok()) << ev.error().to_string();
  }
  EXPECT_EQ(g_clock_reads, 0);
  // A SENDME does (its RTT sample), once.
  Bytes data(498 * 31, 1);
  size_t off = 0;
  const uint64_t t_send = 5'000'000;
  while (off < data.size()) {
    auto n = f.circ.send_data(s, ByteSpan(data).subspan(off), f.out, t_send);
    ASSERT_TRUE(n.ok());
    off += *n;
  }
  RelayDigest acked{};
  for (auto &c : f.out) {
    auto g = f.exit.receive(c);
    if (g.command == RelayCommand::kData) acked = g.digest;
  }
  f.out.clear();
  g_clock_usec = t_send + 42'000;
  auto ev = f.from_exit(RelayCommand::kSendme, 0, cell::make_sendme_v1_body(acked), LazyUsec(&counting_clock));
  ASSERT_TRUE(ev.ok()) << ev.error().to_string();
  EXPECT_EQ(g_clock_reads, 1);
  EXPECT_EQ(f.circ.congestion_control()->ewma_rtt_usec(), 42'000u);
}

TEST(CircuitCc, XoffStopsAndXonResumesOurSending) {
  Fixture f;
  ASSERT_TRUE(f.build(true, cc_response(31)).ok());
  uint16_t s = f.open(10);
  EXPECT_TRUE(f.circ.can_send(s));
  auto ev = f.from_exit(RelayCommand::kXoff, s, cell::make_xoff_body(), 20);
  ASSERT_TRUE(ev.ok()) << ev.error().to_string();
  EXPECT_FALSE(f.circ.can_send(s));
  EXPECT_EQ(f.circ.send_window(s), 0);
  Bytes one(10, 1);
  EXPECT_FALSE(f.circ.send_data(s, one, f.out, 20).ok());
  ev = f.from_exit(RelayCommand::kXon, s, cell::make_xon_body(1234), 30);
  ASSERT_TRUE(ev.ok());
  EXPECT_TRUE(std::holds_alternative<EvStreamWindowOpened>(*ev));
  EXPECT_TRUE(f.circ.can_send(s));
  EXPECT_EQ(f.circ.stream(s)->xon_rate_kbps, 1234u);
  // Malformed XON (unknown version) is a protocol error.
  Bytes bad = cell::make_xon_body(1);
  bad[0] = 1;
  EXPECT_FALSE(f.from_exit(RelayCommand::kXon, s, bad, 40).ok());
}

TEST(CircuitCc, XonXoffRefusedWithoutCongestionControl) {
  Fixture f;
  ASSERT_TRUE(f.build(true, crypto::encode_ntor_v3_extensions({})).ok());
  uint16_t s = f.open(10);
  EXPECT_FALSE(f.from_exit(RelayCommand::kXoff, s, cell::make_xoff_body(), 20).ok());
}

TEST(CircuitCc, StalledReaderSendsXoffThenXonWhenDrained) {
  Fixture f;
  ASSERT_TRUE(f.build(true, cc_response(31)).ok());
  uint16_t s = f.open(10);
  const uint64_t limit = vegas_params().xoff_client_bytes;
  uint64_t buffered = 0, t = 1000;
  Bytes body(498, 7);
  bool xoff = false;
  int cells = 0;
  while (!xoff && cells < 2000) {
    ASSERT_TRUE(f.from_exit(RelayCommand::kData, s, body, t).ok());
    ++cells;
    buffered += 498;
    f.circ.stream_buffered(s, buffered, t, f.out);
    for (auto &c : f.out) {
      auto g = f.exit.receive(c);
      if (g.command == RelayCommand::kXoff) {
        xoff = true;
        EXPECT_EQ(g.stream_id, s);
        EXPECT_TRUE(cell::parse_xoff(g.body).ok());
      } else {
        EXPECT_EQ(g.command, RelayCommand::kSendme);
        EXPECT_EQ(g.stream_id, 0);
      }
    }
    f.out.clear();
    t += 100;
  }
  ASSERT_TRUE(xoff);
  EXPECT_GT(buffered, limit);
  EXPECT_LE(buffered, limit + 498);  // the first cell over the limit
  // The reader takes everything: one XON.
  f.circ.stream_drained(s, buffered, 0, t + 500'000, f.out);
  ASSERT_EQ(f.out.size(), 1u);
  auto g = f.exit.receive(f.out[0]);
  EXPECT_EQ(g.command, RelayCommand::kXon);
  EXPECT_EQ(g.stream_id, s);
  EXPECT_TRUE(cell::parse_xon(g.body).ok());
}
