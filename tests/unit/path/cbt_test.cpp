// Circuit build timeout learning (path-spec §2.4), src/path/cbt.h.
#include "path/cbt.h"

#include <gtest/gtest.h>

#include <cmath>

namespace tc::path {
namespace {

using ms = std::chrono::milliseconds;

// n build times drawn evenly from a Pareto(xm, alpha) distribution by its
// inverse CDF (deterministic, no randomness).
CircuitBuildTimes pareto(double xm, double alpha, int n) {
  CircuitBuildTimes c;
  for (int i = 0; i < n; ++i) {
    double u = (i + 0.5) / n;
    c.add(ms(static_cast<int64_t>(xm / std::pow(1.0 - u, 1.0 / alpha))));
  }
  return c;
}

TEST(CircuitBuildTimes, CeilingUntilEnoughSamples) {
  CircuitBuildTimes c;
  EXPECT_EQ(c.timeout(), CircuitBuildTimes::kCeiling);
  EXPECT_FALSE(c.estimate());
  for (size_t i = 0; i + 1 < CircuitBuildTimes::kMinSamples; ++i) c.add(ms(20));
  EXPECT_EQ(c.timeout(), CircuitBuildTimes::kCeiling);
  c.add(ms(20));
  EXPECT_TRUE(c.estimate());
  EXPECT_EQ(c.timeout(), CircuitBuildTimes::kFloor);  // loopback: 20 ms builds
}

TEST(CircuitBuildTimes, FitsAParetoDistribution) {
  // Xm 500 ms, alpha 2: F(0.8) = 500 / 0.2^(1/2) = 1118 ms.
  auto c = pareto(500, 2.0, 1000);
  auto f = c.fit();
  ASSERT_TRUE(f);
  // Xm from the 10 most frequent 10 ms bins lies just above the true Xm.
  EXPECT_GT(f->xm_ms, 500);
  EXPECT_LT(f->xm_ms, 600);
  EXPECT_NEAR(f->alpha, 2.0, 0.5);
  auto e = c.estimate();
  ASSERT_TRUE(e);
  EXPECT_GT(e->count(), 950);
  EXPECT_LT(e->count(), 1350);
  EXPECT_EQ(c.timeout(), CircuitBuildTimes::kFloor);  // still under the floor
  // A slower network (WAN-like, Xm 3 s): the timeout follows, inside the clamp.
  auto slow = pareto(3000, 2.0, 1000);
  EXPECT_GT(slow.timeout(), ms(5000));
  EXPECT_LT(slow.timeout(), CircuitBuildTimes::kCeiling);
  EXPECT_EQ(slow.timeout(), *slow.estimate());
  // Very slow: the ceiling.
  EXPECT_EQ(pareto(20000, 2.0, 200).timeout(), CircuitBuildTimes::kCeiling);
}

TEST(CircuitBuildTimes, CappedAtTheLargestObservedBuild) {
  // A heavy tail (alpha 0.5) puts F(0.8) far out; §2.4.3 caps it at the
  // largest build time seen.
  CircuitBuildTimes c;
  for (int v : {3000, 3000, 3000, 3010, 3020, 9000}) c.add(ms(v));
  auto f = c.fit();
  ASSERT_TRUE(f);
  double uncapped = f->xm_ms / std::pow(0.2, 1.0 / f->alpha);
  EXPECT_GT(uncapped, 3000);
  EXPECT_LE(c.estimate()->count(), 9000);
  // All equal: no tail, the timeout is Xm itself (clamped).
  CircuitBuildTimes flat;
  for (int i = 0; i < 5; ++i) flat.add(ms(4000));
  EXPECT_EQ(flat.estimate()->count(), 4000);
  EXPECT_EQ(flat.timeout(), ms(4000));
}

TEST(CircuitBuildTimes, ManyTimeoutsResetTheHistory) {
  auto c = pareto(30, 2.0, 50);
  ASSERT_EQ(c.timeout(), CircuitBuildTimes::kFloor);
  // 18 of the last 20 timed out: not yet more than 90%.
  for (int i = 0; i < 18; ++i) c.add_timeout();
  EXPECT_EQ(c.size(), 50u);
  EXPECT_EQ(c.timeout(), CircuitBuildTimes::kFloor);
  // 19 of 20: the network changed; start over from the ceiling.
  c.add_timeout();
  EXPECT_EQ(c.size(), 0u);
  EXPECT_EQ(c.timeout(), CircuitBuildTimes::kCeiling);
}

TEST(CircuitBuildTimes, SerializeAndParse) {
  auto c = pareto(700, 2.5, 40);
  std::vector<std::string> problems;
  auto back = CircuitBuildTimes::parse(c.serialize(), &problems);
  EXPECT_TRUE(problems.empty());
  EXPECT_EQ(back.size(), c.size());
  EXPECT_EQ(back.estimate(), c.estimate());
  EXPECT_EQ(back.serialize(), c.serialize());
  // Only the newest kMaxSamples are kept.
  auto many = pareto(100, 2.0, 1500);
  EXPECT_EQ(many.size(), CircuitBuildTimes::kMaxSamples);
  // Garbage is skipped and reported, never fatal.
  auto g = CircuitBuildTimes::parse("circuit-build-times 10 x 0 99999999999 20 30\nfoo bar\n\x01\n", &problems);
  EXPECT_EQ(g.size(), 3u);
  EXPECT_EQ(problems.size(), 5u);
  EXPECT_EQ(CircuitBuildTimes::parse("").size(), 0u);
}

}  // namespace
}  // namespace tc::path
