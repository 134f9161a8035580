#include "path/path.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "crypto/crypto.h"
#include "shared_testdata.h"

namespace tc::path {
namespace {

using netdoc::Consensus;
using netdoc::Microdesc;

std::string read_testdata(const std::string &name) {
  std::ifstream f(tc::testing::public_network_dir() + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A reproducible random source.
struct SeededRandom {
  explicit SeededRandom(uint64_t seed) : gen(std::make_shared<std::mt19937_64>(seed)) {}
  RandomSource source() const {
    auto g = gen;
    return [g](uint64_t bound) { return std::uniform_int_distribution<uint64_t>(0, bound - 1)(*g); };
  }
  std::shared_ptr<std::mt19937_64> gen;
};

class RealPaths : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!tc::testing::have_public_network_documents()) return;  // each test skips
    auto c = Consensus::parse(read_testdata("cached-microdesc-consensus"));
    ASSERT_TRUE(c.ok()) << c.error().to_string();
    auto mds = netdoc::parse_microdescs(read_testdata("cached-microdescs.new"));
    ASSERT_TRUE(mds.ok()) << mds.error().to_string();
    selector_ = new PathSelector(std::make_shared<const Consensus>(std::move(c).value()), std::move(mds).value());
  }
  static void TearDownTestSuite() { delete selector_; }
  void SetUp() override { TC_REQUIRE_TESTDATA(); }
  static PathSelector *selector_;
};
PathSelector *RealPaths::selector_;

TEST_F(RealPaths, UsableRelays) {
  const PathSelector &s = *selector_;
  EXPECT_EQ(s.microdescs_matched(), 1722u);  // see the netdoc microdescriptor test
  EXPECT_EQ(s.usable().size(), 1722u);       // all Running+Valid, all with ntor keys
  // bandwidth-weights of this consensus (dir-spec §3.4.1 footer).
  EXPECT_EQ(s.bw_weight(Position::kGuard, 0), 9611);   // Wgg
  EXPECT_EQ(s.bw_weight(Position::kGuard, 3), 0);      // Wgd
  EXPECT_EQ(s.bw_weight(Position::kMiddle, 0), 389);   // Wmg
  EXPECT_EQ(s.bw_weight(Position::kMiddle, 2), 0);     // Wme
  EXPECT_EQ(s.bw_weight(Position::kExit, 3), 10000);   // Wed
  for (const Relay &r : s.usable()) EXPECT_EQ(s.find(r.id()), &r);
}

TEST_F(RealPaths, ExitsAllowThePortAndAreNotBad) {
  const PathSelector &s = *selector_;
  SeededRandom rng(1);
  std::set<const Relay *> seen;
  for (int i = 0; i < 2000; ++i) {
    auto e = s.choose_exit(443, rng.source());
    ASSERT_TRUE(e.ok()) << e.error().to_string();
    const Relay &r = **e;
    EXPECT_TRUE(r.rs->has_flag(netdoc::kFlagExit));
    EXPECT_FALSE(r.rs->has_flag(netdoc::kFlagBadExit));
    EXPECT_TRUE(r.md->ipv4_policy.allows(443)) << r.md->ipv4_policy.to_string();
    seen.insert(&r);
  }
  EXPECT_GT(seen.size(), 50u);
  // A port no exit in this set allows.
  size_t allow25 = 0;
  for (const Relay &r : s.usable()) allow25 += r.is_exit() && r.md->ipv4_policy.allows(25);
  auto e25 = s.choose_exit(25, rng.source());
  if (allow25 == 0) {
    ASSERT_FALSE(e25.ok());
    EXPECT_NE(e25.error().message().find("port 25"), std::string::npos) << e25.error().message();
  } else {
    ASSERT_TRUE(e25.ok());
  }
}

TEST_F(RealPaths, PositionsFollowFlagsAndWeights) {
  const PathSelector &s = *selector_;
  SeededRandom rng(2);
  for (int i = 0; i < 2000; ++i) {
    const Relay *g = s.choose_guard_candidate(rng.source()).value();
    EXPECT_TRUE(g->has_guard_flag());
    EXPECT_FALSE(g->is_exit()) << "Wgd is 0 in this consensus";
    const Relay *m = s.choose_middle(rng.source()).value();
    EXPECT_FALSE(m->is_exit()) << "Wme and Wmd are 0 in this consensus";
    EXPECT_TRUE(m->rs->has_flag(netdoc::kFlagFast));
  }
}

TEST_F(RealPaths, PathsObeyTheRules) {
  const PathSelector &s = *selector_;
  SeededRandom rng(3);
  for (int i = 0; i < 1000; ++i) {
    auto p = s.choose_path(443, rng.source());
    ASSERT_TRUE(p.ok()) << p.error().to_string();
    const Relay *hops[3] = {p->guard, p->middle, p->exit};
    EXPECT_TRUE(p->guard->has_guard_flag());
    EXPECT_TRUE(p->exit->md->ipv4_policy.allows(443));
    for (int a = 0; a < 3; ++a)
      for (int b = a + 1; b < 3; ++b) {
        EXPECT_NE(hops[a], hops[b]);
        EXPECT_NE(hops[a]->rs->ipv4 >> 16, hops[b]->rs->ipv4 >> 16);
        EXPECT_FALSE(s.same_family(*hops[a], *hops[b]));
      }
  }
  // The same seed gives the same path.
  SeededRandom r1(42), r2(42);
  auto p1 = s.choose_path(443, r1.source()).value();
  auto p2 = s.choose_path(443, r2.source()).value();
  EXPECT_EQ(p1.guard, p2.guard);
  EXPECT_EQ(p1.middle, p2.middle);
  EXPECT_EQ(p1.exit, p2.exit);
}

TEST_F(RealPaths, FamiliesAreMutual) {
  const PathSelector &s = *selector_;
  // Find a pair that declare each other, and check that it is kept apart.
  size_t mutual = 0, one_sided = 0;
  const Relay *pa = nullptr, *pb = nullptr;
  for (const Relay &a : s.usable()) {
    for (const netdoc::Sha1Digest &id : a.md->family_ids) {
      const Relay *b = s.find(id);
      if (!b || b == &a) continue;
      if (s.same_family(a, *b)) {
        ++mutual;
        pa = &a;
        pb = b;
      } else {
        ++one_sided;
        EXPECT_FALSE(b->md->lists_in_family(a.id(), a.rs->nickname));
      }
    }
  }
  std::printf("[ info ] family links among usable relays: %zu mutual, %zu one-sided\n", mutual, one_sided);
  ASSERT_GT(mutual, 0u);
  EXPECT_FALSE(s.can_share_path(*pa, *pb));
  const Relay *with[1] = {pa};
  SeededRandom rng(4);
  for (int i = 0; i < 500; ++i) {
    const Relay *m = s.choose_middle(rng.source(), with).value();
    EXPECT_NE(m, pb);
    EXPECT_FALSE(s.same_family(*m, *pa));
  }
}

// Selection frequencies follow bandwidth x weight: compare observed middle
// choices with the expected shares, grouped into buckets by expected share.
TEST_F(RealPaths, FrequenciesFollowWeights) {
  const PathSelector &s = *selector_;
  std::vector<const Relay *> eligible;
  double total = 0;
  for (const Relay &r : s.usable()) {
    if (!r.rs->has_flag(netdoc::kFlagFast)) continue;
    eligible.push_back(&r);
    // Independent recomputation: Bandwidth x W{m}{g,m,e,d} from the consensus.
    const auto &c = s.consensus();
    bool g = r.rs->has_flag(netdoc::kFlagGuard), e = r.is_exit();
    const char *w = g && e ? "Wmd" : g ? "Wmg" : e ? "Wme" : "Wmm";
    double expect = static_cast<double>(r.rs->bandwidth) * c.weight(w, 10000);
    EXPECT_EQ(static_cast<double>(r.weight[1]), expect);
    total += expect;
  }
  std::sort(eligible.begin(), eligible.end(), [](const Relay *a, const Relay *b) { return a->weight[1] < b->weight[1]; });
  constexpr int kDraws = 40000;
  std::map<const Relay *, int> hits;
  SeededRandom rng(5);
  for (int i = 0; i < kDraws; ++i) hits[s.choose_middle(rng.source()).value()]++;
  // Ten buckets of equal expected probability mass.
  constexpr int kBuckets = 10;
  std::vector<double> exp_mass(kBuckets, 0), obs(kBuckets, 0);
  double acc = 0;
  for (const Relay *r : eligible) {
    double p = static_cast<double>(r->weight[1]) / total;
    int b = std::min(kBuckets - 1, static_cast<int>(acc * kBuckets));
    acc += p;
    exp_mass[b] += p;
    obs[b] += hits.count(r) ? hits[r] : 0;
  }
  double chi2 = 0;
  for (int b = 0; b < kBuckets; ++b) {
    double e = exp_mass[b] * kDraws;
    ASSERT_GT(e, 0);
    chi2 += (obs[b] - e) * (obs[b] - e) / e;
    EXPECT_NEAR(obs[b] / kDraws, exp_mass[b], 0.02) << "bucket " << b;
  }
  std::printf("[ info ] middle selection over %d draws: chi-square %.1f over %d buckets\n", kDraws, chi2, kBuckets);
  EXPECT_LT(chi2, 40.0);  // 9 d.o.f.: p < 1e-5 for a correct sampler
  // Relays with zero weight (Exit-flagged, since Wme = Wmd = 0) are never chosen.
  for (const auto &[r, n] : hits) EXPECT_GT(r->weight[1], 0u);
}

// ---- a synthetic test network: every relay on 127.0.0.1, one family ----------

struct TestNet {
  std::string consensus;
  std::string microdescs;
};

// Relays whose index is in `slow` lack the Fast flag.
TestNet make_test_network(int n, std::set<int> slow = {}) {
  TestNet t;
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) {
    std::array<uint8_t, 20> id{};
    id[0] = static_cast<uint8_t>(0x10 + i);
    ids.push_back(hex_encode(id, true));
  }
  std::string family = "family";
  for (const std::string &id : ids) family += " $" + id;
  std::string body =
      "network-status-version 3 microdesc\nvote-status consensus\nconsensus-method 32\n"
      "valid-after 2022-11-19 10:00:00\nfresh-until 2022-11-19 11:00:00\nvalid-until 2022-11-19 13:00:00\n"
      "voting-delay 300 300\nknown-flags Exit Fast Guard Running Stable V2Dir Valid\n"
      "dir-source auth AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA 127.0.0.1 127.0.0.1 7000 5000\n"
      "contact nobody\nvote-digest AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n";
  for (int i = 0; i < n; ++i) {
    std::array<uint8_t, 32> ntor{};
    ntor[0] = static_cast<uint8_t>(i + 1);
    std::string md = "ntor-onion-key " + base64_encode(ntor, false) + "\n" + family + "\np accept 1-65535\n";
    t.microdescs += md;
    std::array<uint8_t, 20> id{};
    id[0] = static_cast<uint8_t>(0x10 + i);
    body += "r test" + std::to_string(i) + " " + base64_encode(id, false) + " 2022-11-19 00:00:00 127.0.0.1 " +
            std::to_string(5000 + i) + " 0\n";
    body += "m " + base64_encode(crypto::sha256(as_bytes(md)), false) + "\n";
    body += slow.count(i) ? "s Exit Guard Running Stable V2Dir Valid\nw Bandwidth=100\n"
                          : "s Exit Fast Guard Running Stable V2Dir Valid\nw Bandwidth=100\n";
  }
  body +=
      "directory-footer\nbandwidth-weights Wgg=10000 Wgd=10000 Wmd=10000 Wee=10000 Wed=10000\n"
      "directory-signature sha256 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
      "-----BEGIN SIGNATURE-----\nAAAA\n-----END SIGNATURE-----\n";
  t.consensus = body;
  return t;
}

std::unique_ptr<PathSelector> build_selector(const TestNet &net, PathOptions opts) {
  auto c = Consensus::parse(net.consensus);
  EXPECT_TRUE(c.ok()) << c.error().to_string();
  auto mds = netdoc::parse_microdescs(net.microdescs);
  EXPECT_TRUE(mds.ok()) << mds.error().to_string();
  return std::make_unique<PathSelector>(std::make_shared<const Consensus>(std::move(c).value()),
                                        std::move(mds).value(), opts);
}

// Fast relays are preferred for the middle and exit; when the path rules
// leave only relays without Fast, one of those is used rather than none
// (tor: "falling back to list of all routers"). The case that needs it: the
// only Fast exit for a port died, the other exit lost Fast for having been
// idle when the authorities voted.
TEST(TestNetwork, FastPreferredButNotRequiredWhenNothingElseFits) {
  TestNet net = make_test_network(4, {3});
  auto sel = build_selector(net, {.test_network = true});
  ASSERT_EQ(sel->usable().size(), 4u);
  const Relay *slow = nullptr;
  std::vector<const Relay *> fast;
  for (const Relay &r : sel->usable()) {
    if (r.rs->has_flag(netdoc::kFlagFast)) fast.push_back(&r);
    else slow = &r;
  }
  ASSERT_NE(slow, nullptr);
  ASSERT_EQ(fast.size(), 3u);
  SeededRandom rng(9);
  for (int i = 0; i < 200; ++i) {
    auto e = sel->choose_exit(80, rng.source());
    ASSERT_TRUE(e.ok()) << e.error().to_string();
    EXPECT_NE(*e, slow);
    auto m = sel->choose_middle(rng.source(), std::span<const Relay *const>(fast.data(), 2));
    ASSERT_TRUE(m.ok()) << m.error().to_string();
    EXPECT_EQ(*m, fast[2]);
  }
  // Every Fast relay excluded (say, they failed): the slow one is chosen.
  auto e = sel->choose_exit(80, rng.source(), fast);
  ASSERT_TRUE(e.ok()) << e.error().to_string();
  EXPECT_EQ(*e, slow);
  auto m = sel->choose_middle(rng.source(), fast);
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  EXPECT_EQ(*m, slow);
  // Nothing at all fits: still an error that says so.
  std::vector<const Relay *> all = fast;
  all.push_back(slow);
  auto none = sel->choose_exit(80, rng.source(), all);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message().find("4 exits allow it before path rules"), std::string::npos)
      << none.error().message();
}

TEST(TestNetwork, FamilyAndSubnetRulesCanBeTurnedOff) {
  TestNet net = make_test_network(3);
  auto build = [&](PathOptions opts) { return build_selector(net, opts); };
  auto strict = build({});
  ASSERT_EQ(strict->usable().size(), 3u);
  SeededRandom rng(6);
  auto p = strict->choose_path(80, rng.source());
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().kind(), ErrorKind::kNotFound);

  auto test = build({.test_network = true});
  for (int i = 0; i < 200; ++i) {
    auto q = test->choose_path(80, rng.source());
    ASSERT_TRUE(q.ok()) << q.error().to_string();
    // Never the same relay twice, even on a test network.
    EXPECT_NE(q->guard, q->middle);
    EXPECT_NE(q->guard, q->exit);
    EXPECT_NE(q->middle, q->exit);
  }
  // With only two relays, no three-hop path exists.
  net = make_test_network(2);
  auto two = build({.test_network = true});
  EXPECT_FALSE(two->choose_path(80, rng.source()).ok());
}

}  // namespace
}  // namespace tc::path
