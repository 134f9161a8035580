// Congestion control without I/O (proposal 324): consensus parameters,
// TOR_VEGAS driven by a scripted clock, and XON/XOFF decisions.
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <string>

#include "proto/congestion.h"

using namespace tc;
using namespace tc::proto;

namespace {
constexpr uint64_t kMs = 1000;  // microseconds

// Sends every cell the window allows at `now`; returns how many.
uint64_t fill_window(Vegas &v, uint64_t now) {
  uint64_t n = 0;
  while (v.package_window() > 0) {
    v.note_cell_sent(now);
    ++n;
  }
  return n;
}
}  // namespace

TEST(CcParams, DefaultsAreCTorsAndConsensusValuesAreClamped) {
  std::map<std::string, int32_t, std::less<>> params;
  auto lookup = [&](std::string_view n, int32_t d, int32_t lo, int32_t hi) {
    auto it = params.find(n);
    return it == params.end() ? d : std::clamp(it->second, lo, hi);
  };
  CcParams none = CcParams::from_consensus(lookup);
  EXPECT_FALSE(none.enabled());  // C tor's default: cc_alg absent = fixed windows
  EXPECT_EQ(none.sendme_inc, 31);
  EXPECT_EQ(none.cwnd_init, 124u);
  EXPECT_EQ(none.cwnd_min, 62u);
  EXPECT_EQ(none.vegas_alpha, 124u);
  EXPECT_EQ(none.vegas_beta, 248u);
  EXPECT_EQ(none.vegas_gamma, 186u);
  EXPECT_EQ(none.vegas_delta, 372u);
  EXPECT_EQ(none.xoff_client_bytes, 500u * 498);

  params = {{"cc_alg", 2}, {"cc_sendme_inc", 400}, {"cc_cwnd_init", 5}, {"cc_xoff_client", 2}};
  CcParams p = CcParams::from_consensus(lookup);
  EXPECT_TRUE(p.enabled());
  EXPECT_EQ(p.sendme_inc, 255);  // clamped to the maximum
  EXPECT_EQ(p.cwnd_init, 31u);   // clamped to the minimum
  EXPECT_EQ(p.xoff_client_bytes, 2u * 498);
}

TEST(CcParams, NegotiatedSendmeIncWithinFactorTwo) {
  EXPECT_TRUE(sendme_inc_acceptable(31, 31));
  EXPECT_TRUE(sendme_inc_acceptable(62, 31));
  EXPECT_TRUE(sendme_inc_acceptable(15, 31));
  EXPECT_FALSE(sendme_inc_acceptable(63, 31));
  EXPECT_FALSE(sendme_inc_acceptable(14, 31));
  EXPECT_FALSE(sendme_inc_acceptable(0, 31));
}

TEST(Vegas, EverySendmeIncthCellIsTimed) {
  CcParams p;
  Vegas v(p, 31);
  EXPECT_EQ(v.package_window(), 124u);
  int timed = 0;
  for (int i = 1; i <= 124; ++i) {
    bool t = v.note_cell_sent(static_cast<uint64_t>(i));
    EXPECT_EQ(t, i % 31 == 0) << "cell " << i;
    timed += t;
  }
  EXPECT_EQ(timed, 4);
  EXPECT_EQ(v.inflight(), 124u);
  EXPECT_EQ(v.package_window(), 0u);
}

TEST(Vegas, SendmeWithoutCellsInFlightIsAProtocolError) {
  CcParams p;
  Vegas v(p, 31);
  EXPECT_FALSE(v.on_sendme(1000).ok());
  for (int i = 0; i < 30; ++i) v.note_cell_sent(0);
  EXPECT_FALSE(v.on_sendme(1000).ok());  // 30 cells: no SENDME can be due yet
}

// A scripted path: a bottleneck of `bdp_cells` cells per base RTT. A cell
// sent with n cells in flight waits behind max(0, n - bdp_cells) others.
// The sender keeps its window full; SENDMEs come back in order.
struct PathSim {
  Vegas &v;
  uint64_t base_rtt, bdp_cells;
  uint64_t now = 0;
  std::deque<uint64_t> due;  // arrival times of the SENDMEs to come
  PathSim(Vegas &vv, uint64_t rtt, uint64_t bdp) : v(vv), base_rtt(rtt), bdp_cells(bdp) { fill(); }
  void fill() {
    while (v.package_window() > 0) {
      if (v.note_cell_sent(now)) {
        uint64_t queued = v.inflight() > bdp_cells ? v.inflight() - bdp_cells : 0;
        uint64_t t = now + base_rtt + queued * base_rtt / bdp_cells;
        due.push_back(std::max(t, due.empty() ? 0 : due.back()));
      }
    }
  }
  void step() {
    ASSERT_FALSE(due.empty());
    now = std::max(now, due.front());
    due.pop_front();
    ASSERT_TRUE(v.on_sendme(now).ok());
    fill();
  }
};

TEST(Vegas, SlowStartGrowsOneIncrementPerSendmeWithoutQueueing) {
  CcParams p;
  Vegas v(p, 31);
  PathSim sim(v, 50 * kMs, 100000);
  // Below cc_sscap_exit (500) each SENDME of a full window adds sendme_inc.
  for (int k = 1; v.cwnd() + 31 <= p.ss_cwnd_cap; ++k) {
    sim.step();
    EXPECT_EQ(v.cwnd(), 124u + 31u * k);
    EXPECT_TRUE(v.in_slow_start());
  }
  EXPECT_EQ(v.min_rtt_usec(), 50 * kMs);
  EXPECT_EQ(v.ewma_rtt_usec(), 50 * kMs);
  // Above the cap, RFC 3742 limited slow start: smaller steps.
  uint64_t before = v.cwnd();
  while (v.cwnd() <= p.ss_cwnd_cap) sim.step();
  before = v.cwnd();
  sim.step();
  EXPECT_EQ(v.cwnd() - before, (31 * p.ss_cwnd_cap + before) / (2 * before));
  EXPECT_LT(v.cwnd() - before, 31u);
}

TEST(Vegas, NoGrowthWhenTheWindowIsNotUsed) {
  CcParams p;
  Vegas v(p, 31);
  // Only 31 of 124 cells in flight: the window is not full.
  for (int i = 0; i < 31; ++i) v.note_cell_sent(0);
  ASSERT_TRUE(v.on_sendme(40 * kMs).ok());
  EXPECT_EQ(v.cwnd(), 124u);
  EXPECT_TRUE(v.in_slow_start());
}

TEST(Vegas, SlowStartCappedAtSsMax) {
  CcParams p;
  p.ss_cwnd_max = 600;
  Vegas v(p, 31);
  PathSim sim(v, 10 * kMs, 100000);
  for (int i = 0; i < 1000 && v.in_slow_start(); ++i) sim.step();
  EXPECT_FALSE(v.in_slow_start());
  EXPECT_EQ(v.cwnd(), 600u);
}

TEST(Vegas, QueueingEndsSlowStartAtBdpPlusGammaThenHoldsTheQueueSmall) {
  CcParams p;
  Vegas v(p, 31);
  const uint64_t bdp = 300;
  PathSim sim(v, 30 * kMs, bdp);
  int steps = 0;
  while (v.in_slow_start() && steps < 1000) {
    sim.step();
    ++steps;
  }
  ASSERT_FALSE(v.in_slow_start());
  // Exit on the gamma signal: cwnd = Vegas BDP estimate + gamma.
  EXPECT_EQ(v.cwnd(), v.bdp() + p.vegas_gamma);
  EXPECT_GT(v.cwnd(), bdp);
  EXPECT_LT(v.cwnd(), bdp + 2 * p.vegas_gamma);
  EXPECT_EQ(v.min_rtt_usec(), 30 * kMs);
  // Steady state: the window stays above the path's BDP (full link) and the
  // queue stays below delta.
  for (int i = 0; i < 3000; ++i) {
    sim.step();
    ASSERT_GE(v.cwnd(), bdp) << i;
    ASSERT_LE(v.cwnd(), bdp + p.vegas_delta + p.cwnd_inc) << i;
  }
  EXPECT_FALSE(v.in_slow_start());
}

TEST(Vegas, SteadyStateCutsTheWindowWhenTheQueueExceedsDelta) {
  CcParams p;
  p.ss_cwnd_max = 1000;  // leave slow start at a known window
  Vegas v(p, 31);
  PathSim sim(v, 10 * kMs, 100000);
  while (v.in_slow_start()) sim.step();
  ASSERT_EQ(v.cwnd(), 1000u);
  // The path's capacity drops to 200 cells per RTT: queueing far above
  // delta. Within a couple of windows cwnd falls to BDP + delta - cwnd_inc.
  sim.bdp_cells = 200;
  uint64_t start = v.cwnd();
  int sendmes = 0;
  while (v.cwnd() >= start && sendmes < 200) {
    sim.step();
    ++sendmes;
  }
  ASSERT_LT(v.cwnd(), start);
  EXPECT_EQ(v.cwnd(), std::max<uint64_t>(v.bdp() + p.vegas_delta - p.cwnd_inc, p.cwnd_min));
  // Steady state changes cwnd at most once per window's worth of SENDMEs.
  uint64_t last = v.cwnd();
  int since_change = 0;
  for (int i = 0; i < 500; ++i) {
    sim.step();
    ++since_change;
    if (v.cwnd() != last) {
      EXPECT_GE(since_change, static_cast<int>((last + 15) / 31)) << "cwnd " << last << " -> " << v.cwnd();
      last = v.cwnd();
      since_change = 0;
    }
  }
}

TEST(Vegas, StalledClockKeepsCwndButAcksCells) {
  CcParams p;
  Vegas v(p, 31);
  fill_window(v, 5000);
  ASSERT_TRUE(v.on_sendme(5000).ok());  // zero RTT: a stalled clock
  EXPECT_EQ(v.cwnd(), 124u);
  EXPECT_EQ(v.inflight(), 93u);
  EXPECT_EQ(v.ewma_rtt_usec(), 0u);
}

TEST(XonXoff, XoffOnceAboveTheLimitThenXonWithTheDrainRateWhenEmpty) {
  CcParams p;
  StreamXonXoff f(p);
  uint64_t t0 = 10'000'000;
  EXPECT_EQ(f.on_data_buffered(100 * 498, t0), StreamXonXoff::Send::kNothing);
  EXPECT_EQ(f.on_data_buffered(250'000, t0), StreamXonXoff::Send::kXoff);
  EXPECT_TRUE(f.xoff_sent());
  // More data still in flight: no second XOFF.
  EXPECT_EQ(f.on_data_buffered(600'000, t0), StreamXonXoff::Send::kNothing);
  // The reader paused for 5 s, then drains 50,000 bytes every 100 ms.
  uint64_t buffered = 600'000;
  uint64_t t = t0 + 5'000'000;
  StreamXonXoff::Send last = StreamXonXoff::Send::kNothing;
  for (int i = 1; i <= 12; ++i) {
    buffered -= 50'000;
    t += 100 * kMs;
    last = f.on_drained(50'000, buffered, t);
    if (i < 12) {
      EXPECT_EQ(last, StreamXonXoff::Send::kNothing) << i;
    }
  }
  EXPECT_EQ(buffered, 0u);
  EXPECT_EQ(last, StreamXonXoff::Send::kXon);
  EXPECT_FALSE(f.xoff_sent());
  // 50,000 bytes per 100 ms = 500 kilobytes per second (the pause does not count).
  EXPECT_EQ(f.xon_rate_kbps(), 500u);
}

TEST(XonXoff, ReaderThatKeepsUpNeverSendsAnything) {
  CcParams p;
  StreamXonXoff f(p);
  uint64_t t = 0;
  for (int i = 0; i < 10000; ++i) {
    t += 100;
    EXPECT_EQ(f.on_data_buffered(498, t), StreamXonXoff::Send::kNothing);
    EXPECT_EQ(f.on_drained(498, 0, t + 10), StreamXonXoff::Send::kNothing);
  }
}
