// Conflux (proposal 329) without I/O: which relay commands are multiplexed,
// and the receiving side of a linked set fed by a simulated exit that spreads
// its messages over several legs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "proto/conflux.h"

using namespace tc;
using namespace tc::proto;
using cell::RelayCommand;

namespace {
bool contains(const std::string &hay, const std::string &needle) { return hay.find(needle) != std::string::npos; }

ConfluxMessage msg_for(uint64_t seq) {
  ConfluxMessage m;
  m.command = RelayCommand::kData;
  m.stream_id = static_cast<uint16_t>(seq % 7 + 1);
  for (int i = 7; i >= 0; --i) m.body.push_back(static_cast<uint8_t>(seq >> (8 * i)));
  return m;
}
uint64_t seq_of(const ConfluxMessage &m) {
  uint64_t v = 0;
  for (uint8_t b : m.body) v = (v << 8) | b;
  return v;
}

// What travels on one leg, in order: a SWITCH or a multiplexed message.
struct Event {
  bool is_switch = false;
  uint32_t relative = 0;  // SWITCH
  uint64_t seq = 0;       // message: its absolute sequence number (for checking only)
  ConfluxMessage msg;
};

// The sending side as an exit runs it (C tor's conflux_decide_circ /
// conflux_send_switch_command): per-leg last_seq_sent and a set-wide
// counter; changing leg sends a SWITCH carrying the gap on the new leg.
struct Sender {
  explicit Sender(size_t legs) : leg_sent(legs, 0), wire(legs) {}

  void send(size_t leg, ConfluxMessage m) {
    if (leg != current) {
      uint64_t rel = set_sent - leg_sent[leg];
      Event sw;
      sw.is_switch = true;
      sw.relative = static_cast<uint32_t>(rel);
      EXPECT_EQ(sw.relative, rel) << "simulator: SWITCH overflow";
      wire[leg].push_back(std::move(sw));
      ++switches_sent;
      leg_sent[leg] = set_sent;
      current = leg;
    }
    ++leg_sent[leg];
    ++set_sent;
    Event e;
    e.seq = set_sent;
    e.msg = std::move(m);
    wire[leg].push_back(std::move(e));
  }

  std::vector<uint64_t> leg_sent;
  uint64_t set_sent = 0;
  size_t current = 0;  // the exit starts on the first leg
  size_t switches_sent = 0;
  std::vector<std::deque<Event>> wire;  // per-leg FIFO
};

// The receiving side as the circuit code drives ConfluxSet.
struct Receiver {
  explicit Receiver(ConfluxSet &s) : set(s) {}

  // Returns false (with a test failure) on any error.
  bool on_event(size_t leg, Event e) {
    if (e.is_switch) {
      auto st = set.on_switch(leg, e.relative);
      EXPECT_TRUE(st.ok()) << st.error().to_string();
      return st.ok();
    }
    auto seq = set.receive(leg);
    EXPECT_TRUE(seq.ok()) << "leg " << leg << " true seq " << e.seq << ": " << seq.error().to_string();
    if (!seq.ok()) return false;
    EXPECT_EQ(*seq, e.seq) << "leg " << leg;
    if (*seq != e.seq) return false;
    if (set.take_if_next(*seq)) {
      deliver(std::move(e.msg));
    } else {
      auto st = set.hold(*seq, std::move(e.msg));
      EXPECT_TRUE(st.ok()) << st.error().to_string();
      if (!st.ok()) return false;
    }
    while (auto m = set.pop_ready()) deliver(std::move(*m));
    return true;
  }

  void deliver(ConfluxMessage m) { delivered.push_back(std::move(m)); }

  ConfluxSet &set;
  std::vector<ConfluxMessage> delivered;
};

// Pops the next event of `leg` from the sender's wire into the receiver.
bool deliver_one(Sender &tx, Receiver &rx, size_t leg) {
  Event e = std::move(tx.wire[leg].front());
  tx.wire[leg].pop_front();
  return rx.on_event(leg, std::move(e));
}

const RelayCommand kMux[] = {RelayCommand::kBegin,    RelayCommand::kData,    RelayCommand::kEnd,
                             RelayCommand::kConnected, RelayCommand::kResolve, RelayCommand::kResolved,
                             RelayCommand::kXoff,     RelayCommand::kXon};

struct Schedule {
  uint64_t seed;
  size_t legs;
  size_t messages;
  unsigned switch_percent;  // chance that the exit changes leg before a message
  unsigned burst_max;       // delivery: up to this many events from one leg at a time
};

void run_schedule(const Schedule &sc) {
  SCOPED_TRACE("seed " + std::to_string(sc.seed) + " legs " + std::to_string(sc.legs));
  std::mt19937_64 rng(sc.seed);
  Sender tx(sc.legs);
  std::vector<ConfluxMessage> sent;
  for (size_t i = 0; i < sc.messages; ++i) {
    size_t leg = tx.current;
    if (rng() % 100 < sc.switch_percent) leg = rng() % sc.legs;
    ConfluxMessage m;
    m.command = kMux[rng() % std::size(kMux)];
    m.stream_id = static_cast<uint16_t>(rng() % 5 + 1);
    size_t len = rng() % 24;
    m.body.resize(len);
    for (auto &b : m.body) b = static_cast<uint8_t>(rng());
    // The first 8 bytes name the message (big-endian), so a mix-up cannot go
    // unnoticed.
    Bytes named = msg_for(i + 1).body;
    m.body.insert(m.body.begin(), named.begin(), named.end());
    sent.push_back(m);
    tx.send(leg, std::move(m));
  }
  ASSERT_EQ(tx.set_sent, sc.messages);
  std::vector<size_t> switches_per_leg(sc.legs, 0), messages_per_leg(sc.legs, 0);
  for (size_t l = 0; l < sc.legs; ++l)
    for (const Event &e : tx.wire[l]) ++(e.is_switch ? switches_per_leg : messages_per_leg)[l];

  ConfluxSet set;
  for (size_t l = 0; l < sc.legs; ++l) ASSERT_EQ(set.add_leg(), l);
  Receiver rx(set);
  // Random interleaving between legs, FIFO within each leg.
  for (;;) {
    std::vector<size_t> live;
    for (size_t l = 0; l < sc.legs; ++l)
      if (!tx.wire[l].empty()) live.push_back(l);
    if (live.empty()) break;
    size_t leg = live[rng() % live.size()];
    size_t burst = rng() % sc.burst_max + 1;
    for (size_t k = 0; k < burst && !tx.wire[leg].empty(); ++k) ASSERT_TRUE(deliver_one(tx, rx, leg));
  }

  // Every message delivered exactly once, in the order it was sent, intact.
  ASSERT_EQ(rx.delivered.size(), sent.size());
  std::vector<int> times(sent.size() + 1, 0);
  for (size_t i = 0; i < rx.delivered.size(); ++i) {
    const ConfluxMessage &got = rx.delivered[i];
    ASSERT_GE(got.body.size(), 8u);
    uint64_t id = 0;
    for (size_t k = 0; k < 8; ++k) id = (id << 8) | got.body[k];
    ASSERT_GE(id, 1u);
    ASSERT_LE(id, sent.size());
    ++times[id];
    EXPECT_EQ(id, i + 1) << "out of order at position " << i;
    EXPECT_EQ(got.command, sent[i].command) << i;
    EXPECT_EQ(got.stream_id, sent[i].stream_id) << i;
    EXPECT_EQ(got.body, sent[i].body) << i;
  }
  for (size_t id = 1; id <= sent.size(); ++id) EXPECT_EQ(times[id], 1) << "message " << id;
  EXPECT_EQ(set.delivered(), sc.messages);
  EXPECT_EQ(set.held(), 0u);
  EXPECT_FALSE(set.pop_ready().has_value());
  for (size_t l = 0; l < sc.legs; ++l) {
    EXPECT_EQ(set.leg_received(l), messages_per_leg[l]) << "leg " << l;
    EXPECT_EQ(set.leg_switches(l), switches_per_leg[l]) << "leg " << l;
  }
  // The schedule really reordered things (otherwise this test proves little).
  EXPECT_GT(set.max_held(), 0u);
}

}  // namespace

TEST(ConfluxMultiplexed, ExactlyTheStreamCommands) {
  const std::set<int> expected = {1, 2, 3, 4, 11, 12, 43, 44};  // BEGIN DATA END CONNECTED RESOLVE RESOLVED XOFF XON
  for (int c = 0; c < 256; ++c)
    EXPECT_EQ(conflux_multiplexed(static_cast<RelayCommand>(c)), expected.count(c) == 1) << "command " << c;
  for (RelayCommand c : kMux) EXPECT_TRUE(conflux_multiplexed(c));
  for (RelayCommand c : {RelayCommand::kSendme, RelayCommand::kBeginDir, RelayCommand::kExtend2,
                         RelayCommand::kExtended2, RelayCommand::kDrop, RelayCommand::kTruncate,
                         RelayCommand::kTruncated, RelayCommand::kConfluxLink, RelayCommand::kConfluxLinked,
                         RelayCommand::kConfluxLinkedAck, RelayCommand::kConfluxSwitch,
                         RelayCommand::kPaddingNegotiate, RelayCommand::kIntroduce1})
    EXPECT_FALSE(conflux_multiplexed(c)) << relay_command_name(c);
}

TEST(ConfluxSet, InOrderSingleLegNeverHolds) {
  ConfluxSet set;
  EXPECT_EQ(set.leg_count(), 0u);
  size_t leg = set.add_leg();
  EXPECT_EQ(leg, 0u);
  EXPECT_EQ(set.leg_count(), 1u);
  for (uint64_t i = 1; i <= 2000; ++i) {
    auto seq = set.receive(leg);
    ASSERT_TRUE(seq.ok()) << seq.error().to_string();
    ASSERT_EQ(*seq, i);
    ASSERT_TRUE(set.take_if_next(*seq));
    EXPECT_FALSE(set.pop_ready().has_value());
  }
  EXPECT_EQ(set.delivered(), 2000u);
  EXPECT_EQ(set.held(), 0u);
  EXPECT_EQ(set.max_held(), 0u);
  EXPECT_EQ(set.leg_received(leg), 2000u);
  EXPECT_EQ(set.leg_switches(leg), 0u);
}

TEST(ConfluxSet, TwoLegsDeliveredInSendOrderNeverHold) {
  // The exit alternates legs with SWITCHes, but the network keeps the global
  // order: nothing is ever early.
  Sender tx(2);
  std::vector<size_t> order;  // the leg of every event (SWITCH or message), in send order
  for (uint64_t i = 1; i <= 600; ++i) {
    size_t leg = (i / 3) % 2;
    size_t before = tx.wire[leg].size();
    tx.send(leg, msg_for(i));
    order.insert(order.end(), tx.wire[leg].size() - before, leg);
  }
  ConfluxSet set;
  set.add_leg();
  set.add_leg();
  Receiver rx(set);
  for (size_t leg : order) ASSERT_TRUE(deliver_one(tx, rx, leg));
  ASSERT_EQ(rx.delivered.size(), 600u);
  for (size_t i = 0; i < rx.delivered.size(); ++i) EXPECT_EQ(seq_of(rx.delivered[i]), i + 1);
  EXPECT_EQ(set.max_held(), 0u);
  EXPECT_GT(set.leg_switches(0) + set.leg_switches(1), 100u);
}

TEST(ConfluxSet, RandomSchedulesDeliverEverythingOnceInOrder) {
  const Schedule schedules[] = {
      {1, 2, 5000, 10, 8},   {2, 2, 5000, 50, 3},   {3, 2, 4000, 2, 64},  {4, 3, 6000, 20, 16},
      {5, 3, 5000, 70, 1},   {6, 4, 8000, 30, 32},  {7, 2, 3000, 100, 5}, {0xc0ff33, 5, 7000, 15, 100},
  };
  for (const Schedule &sc : schedules) {
    run_schedule(sc);
    if (HasFatalFailure()) return;
  }
}

TEST(ConfluxSet, OneLegFullyAheadOfTheOther) {
  // Leg 0 carries 1..100, leg 1 carries 101..300 behind a SWITCH; leg 1
  // arrives entirely first, so all of it is held until leg 0 catches up.
  Sender tx(2);
  for (uint64_t i = 1; i <= 100; ++i) tx.send(0, msg_for(i));
  for (uint64_t i = 101; i <= 300; ++i) tx.send(1, msg_for(i));
  ASSERT_TRUE(tx.wire[1].front().is_switch);
  EXPECT_EQ(tx.wire[1].front().relative, 100u);
  ConfluxSet set;
  set.add_leg();
  set.add_leg();
  Receiver rx(set);
  while (!tx.wire[1].empty()) ASSERT_TRUE(deliver_one(tx, rx, 1));
  EXPECT_TRUE(rx.delivered.empty());
  EXPECT_EQ(set.held(), 200u);
  EXPECT_EQ(set.delivered(), 0u);
  EXPECT_FALSE(set.pop_ready().has_value());
  for (int i = 0; i < 99; ++i) ASSERT_TRUE(deliver_one(tx, rx, 0));
  EXPECT_EQ(rx.delivered.size(), 99u);
  EXPECT_EQ(set.held(), 200u);
  ASSERT_TRUE(deliver_one(tx, rx, 0));  // message 100 releases the whole queue
  ASSERT_EQ(rx.delivered.size(), 300u);
  for (size_t i = 0; i < 300; ++i) EXPECT_EQ(seq_of(rx.delivered[i]), i + 1);
  EXPECT_EQ(set.held(), 0u);
  EXPECT_EQ(set.max_held(), 200u);
  EXPECT_EQ(set.leg_received(0), 100u);
  EXPECT_EQ(set.leg_received(1), 200u);
  EXPECT_EQ(set.leg_switches(1), 1u);
  EXPECT_EQ(set.leg_switches(0), 0u);
}

TEST(ConfluxSet, SequenceNumberAlreadyDeliveredIsAnError) {
  ConfluxSet set;
  size_t a = set.add_leg(), b = set.add_leg();
  for (uint64_t i = 1; i <= 3; ++i) {
    auto s = set.receive(a);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE(set.take_if_next(*s));
  }
  // Leg b carries a message with no SWITCH first: its count says 1, already
  // delivered (a broken or replaying exit).
  auto s1 = set.receive(b);
  ASSERT_FALSE(s1.ok());
  EXPECT_EQ(s1.error().kind(), ErrorKind::kProtocol);
  EXPECT_TRUE(contains(s1.error().message(), "already delivered")) << s1.error().message();

  // A SWITCH too short to reach past what was delivered: 1 + 1 = 2 <= 3.
  ConfluxSet set2;
  a = set2.add_leg();
  b = set2.add_leg();
  for (uint64_t i = 1; i <= 3; ++i) ASSERT_TRUE(set2.take_if_next(*set2.receive(a)));
  ASSERT_TRUE(set2.on_switch(b, 1).ok());
  auto s2 = set2.receive(b);
  ASSERT_FALSE(s2.ok());
  EXPECT_EQ(s2.error().kind(), ErrorKind::kProtocol);

  // Exactly up to what was delivered is also too low: 0 + 3 -> 3 + 1 = 4 is fine,
  // but 0 + 2 -> 3 is not.
  ConfluxSet set3;
  a = set3.add_leg();
  b = set3.add_leg();
  size_t c = set3.add_leg();
  for (uint64_t i = 1; i <= 3; ++i) ASSERT_TRUE(set3.take_if_next(*set3.receive(a)));
  ASSERT_TRUE(set3.on_switch(b, 2).ok());
  EXPECT_FALSE(set3.receive(b).ok());
  ASSERT_TRUE(set3.on_switch(c, 3).ok());
  auto s3 = set3.receive(c);
  ASSERT_TRUE(s3.ok()) << s3.error().to_string();
  EXPECT_EQ(*s3, 4u);
  EXPECT_TRUE(set3.take_if_next(*s3));
}

TEST(ConfluxSet, LegOvertakenByDeliveriesIsAnError) {
  // The exit switches to leg 1 at 2 but then keeps sending on leg 0 without
  // a SWITCH; once delivery passes leg 1's count, leg 1's next message is
  // stale.
  ConfluxSet set;
  set.add_leg();
  set.add_leg();
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(set.take_if_next(*set.receive(0)));
  ASSERT_TRUE(set.on_switch(1, 2).ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(set.take_if_next(*set.receive(0)));  // delivered: 7
  EXPECT_EQ(set.delivered(), 7u);
  auto s = set.receive(1);  // 2 + 1 = 3 <= 7
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind(), ErrorKind::kProtocol);
  EXPECT_TRUE(contains(s.error().message(), "3")) << s.error().message();
  EXPECT_EQ(set.delivered(), 7u);
}

TEST(ConfluxSet, TakeIfNextOnlyTakesTheNext) {
  ConfluxSet set;
  set.add_leg();
  EXPECT_FALSE(set.take_if_next(0));
  EXPECT_FALSE(set.take_if_next(2));
  EXPECT_EQ(set.delivered(), 0u);
  EXPECT_TRUE(set.take_if_next(1));
  EXPECT_FALSE(set.take_if_next(1));  // not twice
  EXPECT_EQ(set.delivered(), 1u);
}

TEST(ConfluxSet, HoldRefusesBeyondMaxQueued) {
  ConfluxSet set(4);
  set.add_leg();
  for (uint64_t s = 2; s <= 5; ++s) {
    auto st = set.hold(s, msg_for(s));
    ASSERT_TRUE(st.ok()) << s << ": " << st.error().to_string();
  }
  EXPECT_EQ(set.held(), 4u);
  auto full = set.hold(6, msg_for(6));
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().kind(), ErrorKind::kExhausted);
  EXPECT_EQ(set.held(), 4u);
  EXPECT_EQ(set.max_held(), 4u);
  EXPECT_FALSE(set.pop_ready().has_value());  // 1 still missing

  // Once 1 arrives the queue drains in order, and there is room again.
  ASSERT_TRUE(set.take_if_next(1));
  for (uint64_t s = 2; s <= 5; ++s) {
    auto m = set.pop_ready();
    ASSERT_TRUE(m.has_value()) << s;
    EXPECT_EQ(seq_of(*m), s);
    EXPECT_EQ(m->stream_id, msg_for(s).stream_id);
  }
  EXPECT_FALSE(set.pop_ready().has_value());
  EXPECT_EQ(set.held(), 0u);
  EXPECT_EQ(set.delivered(), 5u);
  for (uint64_t s = 7; s <= 10; ++s) EXPECT_TRUE(set.hold(s, msg_for(s)).ok()) << s;
  EXPECT_FALSE(set.hold(11, msg_for(11)).ok());
}

TEST(ConfluxSet, HoldLimitReachedByAnExitRunningAhead) {
  // The same limit through the receive path: leg 1 runs 5 messages ahead of
  // a silent leg 0 with a set that holds at most 4.
  Sender tx(2);
  tx.send(0, msg_for(1));
  for (uint64_t i = 2; i <= 6; ++i) tx.send(1, msg_for(i));
  ConfluxSet set(4);
  set.add_leg();
  set.add_leg();
  ASSERT_TRUE(set.on_switch(1, tx.wire[1].front().relative).ok());
  tx.wire[1].pop_front();
  for (uint64_t i = 2; i <= 5; ++i) {
    auto s = set.receive(1);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(*s, i);
    EXPECT_FALSE(set.take_if_next(*s));
    ASSERT_TRUE(set.hold(*s, msg_for(*s)).ok());
  }
  auto s = set.receive(1);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, 6u);
  EXPECT_FALSE(set.take_if_next(*s));
  auto st = set.hold(*s, msg_for(*s));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind(), ErrorKind::kExhausted);
}

TEST(ConfluxSet, DuplicateHoldRefused) {
  ConfluxSet set;
  set.add_leg();
  ConfluxMessage first = msg_for(5);
  first.stream_id = 42;
  ASSERT_TRUE(set.hold(5, first).ok());
  ConfluxMessage second = msg_for(5);
  second.stream_id = 43;
  auto st = set.hold(5, second);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind(), ErrorKind::kProtocol);
  EXPECT_TRUE(contains(st.error().message(), "5")) << st.error().message();
  EXPECT_EQ(set.held(), 1u);
  // The first copy is the one kept.
  for (uint64_t s = 1; s <= 4; ++s) ASSERT_TRUE(set.take_if_next(s));
  auto m = set.pop_ready();
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->stream_id, 42);
  EXPECT_FALSE(set.pop_ready().has_value());
}

TEST(ConfluxSet, UnknownLegRefused) {
  ConfluxSet empty;
  EXPECT_FALSE(empty.receive(0).ok());
  EXPECT_FALSE(empty.on_switch(0, 1).ok());

  ConfluxSet set;
  set.add_leg();
  set.add_leg();
  auto r = set.receive(2);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error().message(), "unknown leg")) << r.error().message();
  auto sw = set.on_switch(7, 3);
  ASSERT_FALSE(sw.ok());
  EXPECT_TRUE(contains(sw.error().message(), "unknown leg")) << sw.error().message();
  // Neither touched the real legs or the delivery point.
  EXPECT_EQ(set.leg_received(0), 0u);
  EXPECT_EQ(set.leg_received(1), 0u);
  EXPECT_EQ(set.leg_switches(0), 0u);
  EXPECT_EQ(set.leg_switches(1), 0u);
  EXPECT_EQ(set.leg_received(2), 0u);  // out of range reads as 0
  EXPECT_EQ(set.delivered(), 0u);
  auto ok = set.receive(1);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 1u);
}

TEST(ConfluxSet, SwitchIsNotCounted) {
  ConfluxSet set;
  set.add_leg();
  ASSERT_TRUE(set.on_switch(0, 0).ok());
  ASSERT_TRUE(set.on_switch(0, 10).ok());
  EXPECT_EQ(set.leg_switches(0), 2u);
  EXPECT_EQ(set.leg_received(0), 0u);
  auto s = set.receive(0);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, 11u);
  EXPECT_EQ(set.leg_received(0), 1u);
  // A 32-bit jump from a large count does not wrap.
  ASSERT_TRUE(set.on_switch(0, 0xffffffffu).ok());
  auto big = set.receive(0);
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(*big, 11u + 0xffffffffull + 1);
}


// The ring that holds early messages grows while it holds some (they are
// re-placed), wraps around, and is reused by a second burst: 3000
// messages held in a shuffled order come out complete and in order, twice.
TEST(ConfluxSet, DeepReorderingThroughTheRing) {
  ConfluxSet set;
  set.add_leg();
  std::mt19937 rng(7);
  uint64_t base = 0;
  for (int round = 0; round < 2; ++round) {
    std::vector<uint64_t> seqs;
    for (uint64_t s = base + 2; s <= base + 3001; ++s) seqs.push_back(s);
    std::shuffle(seqs.begin(), seqs.end(), rng);
    for (uint64_t s : seqs) ASSERT_TRUE(set.hold(s, msg_for(s)).ok()) << s;
    EXPECT_EQ(set.held(), 3000u);
    EXPECT_EQ(set.deliver_ready([](cell::RelayCommand, uint16_t, ByteSpan) { return true; }), 0u);  // base+1 missing
    ASSERT_TRUE(set.take_if_next(base + 1));
    std::vector<uint64_t> got;
    size_t n = set.deliver_ready([&](cell::RelayCommand c, uint16_t id, ByteSpan body) {
      ConfluxMessage m{c, id, Bytes(body.begin(), body.end())};
      EXPECT_EQ(m.stream_id, msg_for(seq_of(m)).stream_id);
      got.push_back(seq_of(m));
      return true;
    });
    EXPECT_EQ(n, 3000u);
    ASSERT_EQ(got.size(), 3000u);
    for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], base + 2 + i);
    EXPECT_EQ(set.held(), 0u);
    base += 3001;
    EXPECT_EQ(set.delivered(), base);
  }
  EXPECT_EQ(set.max_held(), 3000u);
}

// A big ring is kept while the legs keep interleaving (each burst would
// otherwise regrow it from 64 slots) and given back only after it stayed
// empty for four times its size of in-order messages.
TEST(ConfluxSet, BigRingKeptBetweenBurstsAndReleasedWhenIdle) {
  ConfluxSet set;
  set.add_leg();
  auto all = [](cell::RelayCommand, uint16_t, ByteSpan) { return true; };
  for (uint64_t s = 2; s <= 2001; ++s) ASSERT_TRUE(set.hold(s, msg_for(s)).ok());
  const size_t slots = set.ring_slots();
  EXPECT_GE(slots, 2001u);
  ASSERT_TRUE(set.take_if_next(1));
  EXPECT_EQ(set.deliver_ready(all), 2000u);
  EXPECT_EQ(set.ring_slots(), slots);  // empty, kept
  uint64_t next = 2002;
  for (size_t i = 0; i + 2 < 4 * slots; ++i) {  // the burst's own delivery counted one
    ASSERT_TRUE(set.take_if_next(next++));
    set.deliver_ready(all);
  }
  EXPECT_EQ(set.ring_slots(), slots);
  // A new burst resets the idle count, and goes through the kept ring.
  ASSERT_TRUE(set.hold(next + 1, msg_for(next + 1)).ok());
  ASSERT_TRUE(set.take_if_next(next));
  std::vector<uint64_t> got;
  set.deliver_ready([&](cell::RelayCommand c, uint16_t id, ByteSpan body) {
    got.push_back(seq_of(ConfluxMessage{c, id, Bytes(body.begin(), body.end())}));
    return true;
  });
  ASSERT_EQ(got, std::vector<uint64_t>{next + 1});
  next += 2;
  for (size_t i = 0; i < 4 * slots; ++i) {
    ASSERT_TRUE(set.take_if_next(next++));
    set.deliver_ready(all);
  }
  EXPECT_EQ(set.ring_slots(), 0u);  // idle long enough: back to the heap
  ASSERT_TRUE(set.hold(next + 3, msg_for(next + 3)).ok());
  EXPECT_EQ(set.ring_slots(), 64u);
}

// A ring of a few hundred slots (a 1 MB download's reordering) is given
// back too, by the same rule; and at once when the set's streams are gone
// (release_if_empty), but never while it holds messages.
TEST(ConfluxSet, MidSizedRingReleasedWhenIdleOrWhenStreamsAreGone) {
  auto all = [](cell::RelayCommand, uint16_t, ByteSpan) { return true; };
  ConfluxSet set;
  set.add_leg();
  for (uint64_t s = 2; s <= 300; ++s) ASSERT_TRUE(set.hold(s, msg_for(s)).ok());
  const size_t slots = set.ring_slots();
  EXPECT_EQ(slots, 512u);
  ASSERT_TRUE(set.take_if_next(1));
  EXPECT_EQ(set.deliver_ready(all), 299u);
  uint64_t next = 301;
  for (size_t i = 0; i < 4 * slots; ++i) {
    ASSERT_TRUE(set.take_if_next(next++));
    set.deliver_ready(all);
  }
  EXPECT_EQ(set.ring_slots(), 0u);

  ConfluxSet idle;
  idle.add_leg();
  for (uint64_t s = 3; s <= 300; ++s) ASSERT_TRUE(idle.hold(s, msg_for(s)).ok());
  idle.release_if_empty();  // 298 held: kept
  EXPECT_EQ(idle.ring_slots(), 512u);
  EXPECT_EQ(idle.held(), 298u);
  ASSERT_TRUE(idle.take_if_next(1));
  ASSERT_TRUE(idle.take_if_next(2));
  EXPECT_EQ(idle.deliver_ready(all), 298u);
  idle.release_if_empty();
  EXPECT_EQ(idle.ring_slots(), 0u);
  // The set goes on working after the release.
  ASSERT_TRUE(idle.hold(302, msg_for(302)).ok());
  ASSERT_TRUE(idle.take_if_next(301));
  std::vector<uint64_t> got;
  idle.deliver_ready([&](cell::RelayCommand c, uint16_t id, ByteSpan body) {
    got.push_back(seq_of(ConfluxMessage{c, id, Bytes(body.begin(), body.end())}));
    return true;
  });
  EXPECT_EQ(got, std::vector<uint64_t>{302});
}

// Body storage follows how many messages are held, not how far ahead they
// are: two held messages 3000 apart take one block of slots.
TEST(ConfluxSet, MemoryFollowsHeldMessagesNotDistance) {
  ConfluxSet set;
  set.add_leg();
  ASSERT_TRUE(set.hold(2, msg_for(2)).ok());
  ASSERT_TRUE(set.hold(3001, msg_for(3001)).ok());
  EXPECT_GE(set.ring_slots(), 3001u);
  EXPECT_EQ(set.slots_allocated(), 64u);
  for (uint64_t s = 3; s <= 200; ++s) ASSERT_TRUE(set.hold(s, msg_for(s)).ok());
  EXPECT_EQ(set.slots_allocated(), 256u);  // 200 held: four blocks
}

// The receiver may release the set's memory from inside deliver_ready (its
// last stream ended with the message just delivered): the release waits
// until deliver_ready is done, and the set goes on working.
TEST(ConfluxSet, ReleaseFromInsideDeliveryIsDeferred) {
  ConfluxSet set;
  set.add_leg();
  for (uint64_t s = 2; s <= 10; ++s) ASSERT_TRUE(set.hold(s, msg_for(s)).ok());
  ASSERT_TRUE(set.take_if_next(1));
  std::vector<uint64_t> got;
  size_t n = set.deliver_ready([&](cell::RelayCommand c, uint16_t id, ByteSpan body) {
    got.push_back(seq_of(ConfluxMessage{c, id, Bytes(body.begin(), body.end())}));
    if (got.size() == 9) EXPECT_GT(set.release_if_empty(), 0u);  // nothing held any more
    else EXPECT_EQ(set.release_if_empty(), 0u);                   // still holding: kept
    return true;
  });
  EXPECT_EQ(n, 9u);
  EXPECT_EQ(got.size(), 9u);
  EXPECT_EQ(got.back(), 10u);
  EXPECT_EQ(set.ring_slots(), 0u);
  EXPECT_EQ(set.slots_allocated(), 0u);
  ASSERT_TRUE(set.hold(12, msg_for(12)).ok());
  ASSERT_TRUE(set.take_if_next(11));
  auto m = set.pop_ready();
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(seq_of(*m), 12u);
}

// deliver_ready stops when the receiver says so (its circuit closed); the
// rest stays held, in order.
TEST(ConfluxSet, DeliverReadyStopsWhenAsked) {
  ConfluxSet set;
  set.add_leg();
  for (uint64_t s = 2; s <= 5; ++s) ASSERT_TRUE(set.hold(s, msg_for(s)).ok());
  ASSERT_TRUE(set.take_if_next(1));
  size_t calls = 0;
  EXPECT_EQ(set.deliver_ready([&](cell::RelayCommand, uint16_t, ByteSpan) { return ++calls < 2; }), 2u);
  EXPECT_EQ(set.delivered(), 3u);
  EXPECT_EQ(set.held(), 2u);
  auto m = set.pop_ready();
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(seq_of(*m), 4u);
}

