#include "path/guards.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "crypto/crypto.h"
#include "netdoc/tokenize.h"
#include "shared_testdata.h"

namespace tc::path {
namespace {

using netdoc::Consensus;
using netdoc::Microdesc;
using netdoc::Sha1Digest;

constexpr int64_t kDay = 86400;

std::string read_testdata(const std::string &name) {
  std::ifstream f(tc::testing::public_network_dir() + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int64_t at(const char *iso) { return netdoc::parse_iso_time(iso).value(); }

RandomSource seeded(uint64_t seed) {
  auto g = std::make_shared<std::mt19937_64>(seed);
  return [g](uint64_t bound) { return std::uniform_int_distribution<uint64_t>(0, bound - 1)(*g); };
}

// The consensus text with valid-after / fresh-until / valid-until moved by
// `shift` seconds, so that it is live at a later time.
std::string shift_consensus(std::string text, int64_t shift) {
  for (const char *kw : {"valid-after ", "fresh-until ", "valid-until "}) {
    size_t p = text.find(std::string("\n") + kw);
    EXPECT_NE(p, std::string::npos);
    p += 1 + std::strlen(kw);
    int64_t t = netdoc::parse_iso_time(std::string_view(text).substr(p, 19)).value();
    text.replace(p, 19, netdoc::format_iso_time(t + shift));
  }
  return text;
}

std::unique_ptr<PathSelector> make_selector(const std::string &consensus, std::vector<Microdesc> mds,
                                            PathOptions opts = {}) {
  auto c = Consensus::parse(consensus);
  EXPECT_TRUE(c.ok()) << c.error().to_string();
  return std::make_unique<PathSelector>(std::make_shared<const Consensus>(std::move(c).value()), std::move(mds), opts);
}

GuardOptions spec_defaults() {
  GuardOptions o;
  o.use_consensus_params = false;  // NUM_USABLE_PRIMARY_GUARDS = 1: always the first primary
  return o;
}

class PublicGuards : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!tc::testing::have_public_network_documents()) return;  // each test skips
    text_ = new std::string(read_testdata("cached-microdesc-consensus"));
    auto mds = netdoc::parse_microdescs(read_testdata("cached-microdescs.new"));
    ASSERT_TRUE(mds.ok()) << mds.error().to_string();
    mds_ = new std::vector<Microdesc>(std::move(mds).value());
    sel_ = make_selector(*text_, *mds_).release();
  }
  static void TearDownTestSuite() {
    delete sel_;
    delete mds_;
    delete text_;
  }
  void SetUp() override { TC_REQUIRE_TESTDATA(); }
  static const Relay *relay(const Sha1Digest &id) { return sel_->find(id); }

  static std::string *text_;
  static std::vector<Microdesc> *mds_;
  static PathSelector *sel_;
  const int64_t now_ = at("2022-11-19 10:30:00");
};
std::string *PublicGuards::text_;
std::vector<Microdesc> *PublicGuards::mds_;
PathSelector *PublicGuards::sel_;

TEST_F(PublicGuards, FreshSample) {
  GuardManager m(seeded(1));
  m.update(*sel_, now_);
  EXPECT_TRUE(m.take_dirty());
  EXPECT_FALSE(m.take_dirty());
  // The consensus sets guard-n-primary-guards-to-use=2 and
  // guard-n-primary-dir-guards-to-use=3; the rest are the spec's defaults.
  EXPECT_EQ(m.params().n_usable_primary, 2u);
  EXPECT_EQ(m.params().n_usable_primary_dir, 3u);
  EXPECT_EQ(m.params().n_primary, 3u);
  EXPECT_EQ(m.params().min_filtered_sample, 20u);

  ASSERT_EQ(m.size(), 20u);  // MIN_FILTERED_SAMPLE: all listed and maybe-reachable
  std::set<Sha1Digest> distinct;
  for (const Sha1Digest &id : m.sampled()) {
    distinct.insert(id);
    const netdoc::RouterStatus *rs = sel_->consensus().find_relay(id);
    ASSERT_NE(rs, nullptr);
    EXPECT_TRUE(rs->has_flag(netdoc::kFlagGuard | netdoc::kFlagStable | netdoc::kFlagFast | netdoc::kFlagV2Dir |
                             netdoc::kFlagRunning | netdoc::kFlagValid));
    const Relay *r = relay(id);
    ASSERT_NE(r, nullptr);
    EXPECT_GT(r->weight[0], 0u) << "Wgd = 0: Guard+Exit relays have no guard weight";
  }
  EXPECT_EQ(distinct.size(), 20u);
  // No confirmed guards yet: the primaries are the first three in sample order.
  std::vector<Sha1Digest> s = m.sampled();
  ASSERT_EQ(m.primary().size(), 3u);
  EXPECT_EQ(m.primary(), std::vector<Sha1Digest>(s.begin(), s.begin() + 3));
  EXPECT_TRUE(m.confirmed().empty());

  auto st = m.status();
  ASSERT_EQ(st.size(), 20u);
  EXPECT_STREQ(st[0].role(), "primary");
  EXPECT_STREQ(st[3].role(), "sampled");
  EXPECT_EQ(st[0].fingerprint, hex_encode(s[0], true));
  EXPECT_EQ(st[0].nickname, std::string(relay(s[0])->rs->nickname));
  // sampled_on is randomised up to GUARD_LIFETIME/10 into the past.
  for (const GuardStatus &g : st) {
    EXPECT_LE(g.sampled_on, now_);
    EXPECT_GE(g.sampled_on, now_ - 12 * kDay);
  }
}

// Sampling is weighted by guard-position bandwidth: over many fresh samples
// the mean consensus bandwidth of sampled guards is far above the mean over
// all candidates (an unweighted sampler would give about the same).
TEST_F(PublicGuards, SamplingIsBandwidthWeighted) {
  double all = 0;
  size_t n_all = 0;
  for (const Relay &r : sel_->usable())
    if (r.rs->has_flag(netdoc::kFlagGuard | netdoc::kFlagStable | netdoc::kFlagFast | netdoc::kFlagV2Dir) &&
        r.weight[0] > 0) {
      all += r.rs->bandwidth;
      ++n_all;
    }
  double sampled = 0;
  size_t n = 0;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    GuardManager m(seeded(100 + seed));
    m.update(*sel_, now_);
    for (const Sha1Digest &id : m.sampled()) {
      sampled += relay(id)->rs->bandwidth;
      ++n;
    }
  }
  std::printf("[ info ] mean guard bandwidth: %.0f over %zu candidates, %.0f over %zu sampled\n", all / n_all,
              n_all, sampled / n, n);
  EXPECT_GT(sampled / n, 1.5 * all / n_all);
}

TEST_F(PublicGuards, SelectPrimaryThenFallBack) {
  GuardManager m(seeded(2), spec_defaults());
  m.update(*sel_, now_);
  std::vector<Sha1Digest> s = m.sampled();
  const std::vector<Sha1Digest> prim = m.primary();
  for (int i = 0; i < 20; ++i) {
    auto c = m.select(*sel_, now_);
    ASSERT_TRUE(c.ok()) << c.error().to_string();
    EXPECT_EQ(c->id, prim[0]);
    EXPECT_EQ(c->relay, relay(prim[0]));
    EXPECT_TRUE(c->primary);
    EXPECT_EQ(c->state, GuardCircuitState::kUsableOnCompletion);
  }
  // The first primary fails: the second is used, then the third.
  EXPECT_TRUE(m.on_failure(prim[0], now_));
  EXPECT_EQ(m.select(*sel_, now_)->id, prim[1]);
  EXPECT_TRUE(m.on_failure(prim[1], now_));
  EXPECT_EQ(m.select(*sel_, now_)->id, prim[2]);
  EXPECT_TRUE(m.on_failure(prim[2], now_));
  EXPECT_EQ(m.primary(), prim) << "failed primaries stay primary";

  // All primaries down: non-primary guards in sample order, one pending
  // circuit each.
  auto c3 = m.select(*sel_, now_);
  ASSERT_TRUE(c3.ok());
  EXPECT_EQ(c3->id, s[3]);
  EXPECT_FALSE(c3->primary);
  EXPECT_EQ(c3->state, GuardCircuitState::kUsableIfNoBetterGuard);
  EXPECT_EQ(m.select(*sel_, now_)->id, s[4]) << "s[3] is pending";
  EXPECT_TRUE(m.on_cancel(s[4]));

  // s[3] works: it is confirmed and becomes the first primary.
  (void)m.take_dirty();  // sampling made it dirty
  EXPECT_TRUE(m.on_success(s[3], now_ + 5));
  EXPECT_TRUE(m.take_dirty());
  EXPECT_EQ(m.confirmed(), std::vector<Sha1Digest>{s[3]});
  EXPECT_EQ(m.primary(), (std::vector<Sha1Digest>{s[3], prim[0], prim[1]}));
  auto c = m.select(*sel_, now_ + 6);
  EXPECT_EQ(c->id, s[3]);
  EXPECT_TRUE(c->primary);
  auto st = m.status();
  EXPECT_TRUE(st[0].confirmed && st[0].primary);
  EXPECT_EQ(st[0].reachable, Reachable::kYes);
  // §4.8: the first success ever (last_time_on_internet starts "infinitely
  // far in the past") through a non-primary guard marks the primaries
  // "maybe" again; failing_since stays until one succeeds.
  EXPECT_EQ(st[1].reachable, Reachable::kMaybe);
  EXPECT_EQ(st[3].fingerprint, hex_encode(prim[2], true));
  EXPECT_EQ(st[3].reachable, Reachable::kNo) << "no longer primary";
  ASSERT_TRUE(st[1].failing_since.has_value());
  EXPECT_EQ(*st[1].failing_since, now_);
  EXPECT_LE(*st[0].confirmed_on, now_ + 5);
  EXPECT_GE(*st[0].confirmed_on, now_ + 5 - 12 * kDay);
  EXPECT_FALSE(m.on_success(Sha1Digest{}, now_)) << "unknown guard";
}

TEST_F(PublicGuards, PrimaryRetrySchedule) {
  GuardManager m(seeded(3), spec_defaults());
  m.update(*sel_, now_);
  const std::vector<Sha1Digest> prim = m.primary();
  ASSERT_EQ(m.select(*sel_, now_)->id, prim[0]);
  m.on_failure(prim[0], now_);
  // PRIMARY_GUARDS_RETRY_SCHED: every 10 minutes for the first six hours.
  EXPECT_EQ(m.select(*sel_, now_ + 599)->id, prim[1]);
  EXPECT_EQ(m.select(*sel_, now_ + 600)->id, prim[0]);
  m.on_failure(prim[0], now_ + 600);
  EXPECT_EQ(m.select(*sel_, now_ + 1199)->id, prim[1]);
  EXPECT_EQ(m.select(*sel_, now_ + 1200)->id, prim[0]);
  // A success forgets failing_since.
  m.on_success(prim[0], now_ + 1210);
  EXPECT_FALSE(m.status()[0].failing_since.has_value());
  EXPECT_EQ(m.status()[0].reachable, Reachable::kYes);

  EXPECT_EQ(guard_retry_interval(0, true), 600);
  EXPECT_EQ(guard_retry_interval(6 * 3600 - 1, true), 600);
  EXPECT_EQ(guard_retry_interval(6 * 3600, true), 90 * 60);
  EXPECT_EQ(guard_retry_interval(4 * kDay, true), 4 * 3600);
  EXPECT_EQ(guard_retry_interval(7 * kDay, true), 9 * 3600);
  EXPECT_EQ(guard_retry_interval(0, false), 3600);
  EXPECT_EQ(guard_retry_interval(5 * kDay, false), 18 * 3600);
  EXPECT_EQ(guard_retry_interval(30 * kDay, false), 36 * 3600);
}

TEST_F(PublicGuards, ConsensusParamsAndRestrictions) {
  // With the consensus' guard-n-primary-guards-to-use=2, circuits use the
  // first two primaries, uniformly; directory circuits the first three.
  GuardManager m(seeded(4));
  m.update(*sel_, now_);
  const std::vector<Sha1Digest> prim = m.primary();
  std::map<Sha1Digest, int> circ, dir;
  for (int i = 0; i < 300; ++i) {
    circ[m.select(*sel_, now_)->id]++;
    dir[m.select(*sel_, now_, {}, GuardUsage::kDirectory)->id]++;
  }
  EXPECT_EQ(circ.size(), 2u);
  EXPECT_GT(circ[prim[0]], 100);
  EXPECT_GT(circ[prim[1]], 100);
  EXPECT_EQ(dir.size(), 3u);
  for (const Sha1Digest &p : prim) EXPECT_GT(dir[p], 60);

  // A guard that cannot share a path with the exit is skipped.
  GuardManager one(seeded(5), spec_defaults());
  one.update(*sel_, now_);
  const std::vector<Sha1Digest> p1 = one.primary();
  const Relay *avoid[1] = {relay(p1[0])};
  auto c = one.select(*sel_, now_, avoid);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->id, p1[1]);
  EXPECT_TRUE(sel_->can_share_path(*c->relay, *avoid[0]));
  // That says nothing about the first primary's reachability.
  EXPECT_EQ(one.select(*sel_, now_)->id, p1[0]);
}

TEST_F(PublicGuards, StateRoundTrip) {
  GuardManager m(seeded(6), spec_defaults());
  m.update(*sel_, now_);
  std::vector<Sha1Digest> s = m.sampled();
  // Confirm s[5] and then s[1]; s[0] fails (not persistent).
  m.on_success(s[5], now_);
  m.on_success(s[1], now_ + 10);
  m.on_failure(s[0], now_ + 20);
  const std::vector<Sha1Digest> prim = m.primary();
  EXPECT_EQ(prim, (std::vector<Sha1Digest>{s[5], s[1], s[0]}));
  std::string text = m.serialize();
  std::printf("[ info ] state line: %s", text.substr(text.find('\n') + 1, text.find('\n', text.find('\n') + 1) - text.find('\n')).c_str());

  std::vector<std::string> problems;
  auto r = GuardManager::parse(text, seeded(7), spec_defaults(), &problems);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(problems.empty()) << problems[0];
  GuardManager &l = *r;
  EXPECT_EQ(l.sampled(), s);
  EXPECT_EQ(l.confirmed(), (std::vector<Sha1Digest>{s[5], s[1]}));
  EXPECT_EQ(l.primary(), prim);
  EXPECT_EQ(l.serialize(), text);
  auto a = m.status(), b = l.status();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].fingerprint, b[i].fingerprint);
    EXPECT_EQ(a[i].nickname, b[i].nickname);
    EXPECT_EQ(a[i].sampled_on, b[i].sampled_on);
    EXPECT_EQ(a[i].confirmed_on, b[i].confirmed_on);
    EXPECT_EQ(a[i].primary, b[i].primary);
  }
  // After loading, a consensus update keeps everything (nothing expired).
  l.update(*sel_, now_ + 60);
  EXPECT_EQ(l.sampled(), s);
  EXPECT_EQ(l.primary(), prim);
  EXPECT_EQ(l.select(*sel_, now_ + 60)->id, s[5]);

  // Line order in the file does not matter: sampled_idx / confirmed_idx do.
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string ln; std::getline(in, ln);) lines.push_back(ln);
  std::reverse(lines.begin(), lines.end());
  std::string rev;
  for (const std::string &ln : lines) rev += ln + "\n";
  auto r2 = GuardManager::parse(rev, seeded(8), spec_defaults());
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->sampled(), s);
  EXPECT_EQ(r2->confirmed(), (std::vector<Sha1Digest>{s[5], s[1]}));
}

TEST_F(PublicGuards, CorruptStateLinesAreSkipped) {
  GuardManager m(seeded(9), spec_defaults());
  m.update(*sel_, now_);
  std::vector<Sha1Digest> s = m.sampled();
  m.on_success(s[2], now_);
  std::string text = m.serialize();
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string ln; std::getline(in, ln);) lines.push_back(ln);
  ASSERT_EQ(lines.size(), 21u);  // comment + 20 guards
  // Line 2 (s[0]): a broken rsa_id. Line 4 (s[2]): a broken sampled_on.
  size_t p = lines[1].find("rsa_id=") + 7;
  lines[1][p] = 'Z';
  p = lines[3].find("sampled_on=") + 11;
  lines[3].replace(p, 4, "20x2");
  // Line 5: an unknown field is kept; line 6 loses its listed field.
  lines[4] += " pb_use_attempts=3.000000";
  p = lines[5].find(" listed=1");
  lines[5].erase(p, 9);
  lines.insert(lines.begin() + 7, "Bogus line here");  // line 8
  lines.push_back("Guard in=other rsa_id=" + std::string(40, 'A') + " sampled_on=2022-11-19T10:00:00 listed=1");
  lines.push_back(lines[2]);  // a duplicate of s[1]
  std::string bad;
  for (const std::string &ln : lines) bad += ln + "\n";
  bad += "Guard in=default rsa_id=";  // truncated, no newline

  std::vector<std::string> problems;
  auto r = GuardManager::parse(bad, seeded(10), spec_defaults(), &problems);
  ASSERT_TRUE(r.ok());
  for (const std::string &pr : problems) std::printf("[ info ] %s\n", pr.c_str());
  ASSERT_EQ(problems.size(), 6u);
  EXPECT_EQ(problems[0].rfind("line 2: bad rsa_id", 0), 0u) << problems[0];
  EXPECT_EQ(problems[1].rfind("line 4: bad sampled_on", 0), 0u) << problems[1];
  EXPECT_EQ(problems[2].rfind("line 6: no listed", 0), 0u) << problems[2];
  EXPECT_EQ(problems[3].rfind("line 8: unknown keyword 'Bogus'", 0), 0u) << problems[3];
  EXPECT_NE(problems[4].find("listed twice"), std::string::npos) << problems[4];
  EXPECT_EQ(problems[5], "line 25: bad rsa_id '', guard skipped");
  // s[0], s[2] (the confirmed one) and s[4] are gone; the rest keep their order.
  std::vector<Sha1Digest> want;
  for (size_t i = 0; i < s.size(); ++i)
    if (i != 0 && i != 2 && i != 4) want.push_back(s[i]);
  EXPECT_EQ(r->sampled(), want);
  EXPECT_TRUE(r->confirmed().empty());
  EXPECT_NE(r->serialize().find(" pb_use_attempts=3.000000\n"), std::string::npos);
  // The gaps are filled again from the consensus.
  r->update(*sel_, now_);
  EXPECT_EQ(r->size(), 20u);
}

TEST_F(PublicGuards, UnlistedGuardsAreSkippedThenRemoved) {
  GuardManager m(seeded(11), spec_defaults());
  m.update(*sel_, now_);
  const std::vector<Sha1Digest> prim = m.primary();
  const Sha1Digest gone = prim[0];
  m.on_success(gone, now_);  // confirmed, and still removed when unlisted
  ASSERT_EQ(m.confirmed(), std::vector<Sha1Digest>{gone});

  // A consensus in which it lost the Guard flag.
  std::string text = *text_;
  const netdoc::RouterStatus *rs = sel_->consensus().find_relay(gone);
  size_t p = 0;
  for (size_t line = 1; line < rs->line; ++line) p = text.find('\n', p) + 1;
  p = text.find("\ns ", p) + 1;
  size_t e = text.find('\n', p);
  size_t g = text.find(" Guard", p);
  ASSERT_LT(g, e);
  text.erase(g, 6);
  auto later = [&](int64_t days) { return make_selector(shift_consensus(text, days * kDay), *mds_); };

  auto sel1 = later(0);
  ASSERT_FALSE(sel1->consensus().find_relay(gone)->has_flag(netdoc::kFlagGuard));
  m.update(*sel1, now_ + 3600);
  // One more guard is sampled to keep 20 usable filtered guards (§4.2).
  EXPECT_EQ(m.size(), 21u);
  const std::vector<Sha1Digest> prim1 = m.primary();
  EXPECT_EQ(std::count(prim1.begin(), prim1.end(), gone), 0);
  EXPECT_EQ(m.primary(), (std::vector<Sha1Digest>{prim[1], prim[2], m.sampled()[3]}));
  for (int i = 0; i < 50; ++i) EXPECT_NE(m.select(*sel1, now_ + 3600, {}, GuardUsage::kDirectory)->id, gone);
  auto st = m.status();
  auto it = std::find_if(st.begin(), st.end(), [&](const GuardStatus &x) { return x.fingerprint == hex_encode(gone, true); });
  ASSERT_NE(it, st.end());
  EXPECT_FALSE(it->listed);
  ASSERT_TRUE(it->unlisted_since.has_value());
  // Randomised up to REMOVE_UNLISTED_GUARDS_AFTER/5 into the past.
  EXPECT_LE(*it->unlisted_since, now_ + 3600);
  EXPECT_GE(*it->unlisted_since, now_ + 3600 - 4 * kDay);
  // The unlisted state persists.
  std::string state = m.serialize();
  EXPECT_NE(state.find("rsa_id=" + hex_encode(gone, true)), std::string::npos);
  EXPECT_NE(state.find(" listed=0 unlisted_since="), std::string::npos);
  auto reloaded = GuardManager::parse(state, seeded(12), spec_defaults());
  ASSERT_TRUE(reloaded.ok());

  // Still unlisted 15 days later: kept. Over 20 days: removed, also from
  // the confirmed list.
  for (GuardManager *x : {&m, &*reloaded}) {
    auto sel15 = later(15);
    x->update(*sel15, now_ + 15 * kDay);
    EXPECT_EQ(x->sampled()[0], gone);
    auto sel21 = later(21);
    x->update(*sel21, now_ + 21 * kDay);
    const std::vector<Sha1Digest> left = x->sampled();
    EXPECT_EQ(std::count(left.begin(), left.end(), gone), 0);
    EXPECT_TRUE(x->confirmed().empty());
    EXPECT_EQ(x->size(), 20u) << "refilled";
  }

  // A guard listed again is listed: unlisted_since is cleared.
  GuardManager back(seeded(13), spec_defaults());
  back.update(*sel_, now_);
  auto sel1b = later(0);
  back.update(*sel1b, now_ + 60);  // may or may not have sampled `gone`
  back.update(*sel_, now_ + 120);
  for (const GuardStatus &x : back.status()) {
    EXPECT_TRUE(x.listed);
    EXPECT_FALSE(x.unlisted_since.has_value());
  }
}

// ---- a synthetic test network ------------------------------------------------

struct TestNet {
  std::string consensus;
  std::vector<Microdesc> microdescs;
};

// n relays on 127.0.0.1, all in one family; relay i has flags[i].
TestNet make_test_network(const std::vector<std::string> &flags, int64_t valid_after) {
  const size_t n = flags.size();
  std::string family = "family";
  for (size_t i = 0; i < n; ++i) {
    std::array<uint8_t, 20> id{};
    id[0] = static_cast<uint8_t>(0x10 + i);
    family += " $" + hex_encode(id, true);
  }
  std::string body =
      "network-status-version 3 microdesc\nvote-status consensus\nconsensus-method 32\n"
      "valid-after " + netdoc::format_iso_time(valid_after) + "\nfresh-until " +
      netdoc::format_iso_time(valid_after + 600) + "\nvalid-until " + netdoc::format_iso_time(valid_after + 1800) +
      "\nvoting-delay 20 20\nknown-flags Exit Fast Guard Running Stable V2Dir Valid\n"
      "dir-source auth AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA 127.0.0.1 127.0.0.1 7000 5000\n"
      "contact nobody\nvote-digest AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n";
  std::string mdtext;
  for (size_t i = 0; i < n; ++i) {
    std::array<uint8_t, 32> ntor{};
    ntor[0] = static_cast<uint8_t>(i + 1);
    std::string md = "ntor-onion-key " + base64_encode(ntor, false) + "\n" + family + "\np accept 1-65535\n";
    mdtext += md;
    std::array<uint8_t, 20> id{};
    id[0] = static_cast<uint8_t>(0x10 + i);
    body += "r test" + std::to_string(i) + " " + base64_encode(id, false) + " 2022-11-19 00:00:00 127.0.0.1 " +
            std::to_string(5000 + i) + " 0\n";
    body += "m " + base64_encode(crypto::sha256(as_bytes(md)), false) + "\n";
    body += "s " + flags[i] + "\nw Bandwidth=100\n";
  }
  body +=
      "directory-footer\nbandwidth-weights Wgg=10000 Wgd=10000 Wmd=10000 Wee=10000 Wed=10000\n"
      "directory-signature sha256 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
      "-----BEGIN SIGNATURE-----\nAAAA\n-----END SIGNATURE-----\n";
  TestNet t;
  t.consensus = body;
  t.microdescs = netdoc::parse_microdescs(mdtext).value();
  return t;
}

const std::vector<std::string> kSmallNet = {
    "Exit Fast Guard Running Stable V2Dir Valid", "Fast Guard Running Stable V2Dir Valid",
    "Exit Fast Guard Running Stable V2Dir Valid", "Fast Guard Running Stable V2Dir Valid",
    "Fast Guard Running Stable V2Dir Valid",      "Exit Fast Running Stable V2Dir Valid",  // no Guard
    "Fast Guard Running V2Dir Valid",                                                   // not Stable
};

std::unique_ptr<PathSelector> small_net(int64_t valid_after) {
  TestNet t = make_test_network(kSmallNet, valid_after);
  return make_selector(t.consensus, std::move(t.microdescs), {.test_network = true});
}

TEST(SmallNetwork, SampleHoldsEveryGuard) {
  const int64_t t0 = at("2022-11-19 10:00:00"), now = t0 + 60;
  auto sel = small_net(t0);
  ASSERT_EQ(sel->usable().size(), 7u);
  GuardManager m(seeded(20));
  m.update(*sel, now);
  // Five relays are guards (Guard, Stable, Fast, V2Dir): all of them, and
  // nothing else, though MIN_FILTERED_SAMPLE is 20.
  ASSERT_EQ(m.size(), 5u);
  std::set<std::string> names;
  for (const GuardStatus &g : m.status()) names.insert(g.nickname);
  EXPECT_EQ(names, (std::set<std::string>{"test0", "test1", "test2", "test3", "test4"}));
  ASSERT_EQ(m.primary().size(), 3u);
  const std::vector<Sha1Digest> s = m.sampled();

  // A three-hop path around the guard: on a test network only the relay
  // itself is excluded.
  const std::vector<Sha1Digest> prim = m.primary();
  const Relay *exit = sel->find(prim[0]);
  auto c = m.select(*sel, now, std::span<const Relay *const>(&exit, 1));
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->id, prim[1]);
  EXPECT_EQ(m.select(*sel, now)->id, prim[0]);

  // Every guard fails: the last two are tried as non-primary guards, then
  // all are marked "maybe" and we start again from the first primary.
  for (int i = 0; i < 5; ++i) {
    auto x = m.select(*sel, now);
    ASSERT_TRUE(x.ok()) << x.error().to_string();
    EXPECT_EQ(x->id, i < 3 ? prim[static_cast<size_t>(i)] : s[static_cast<size_t>(i)]);
    m.on_failure(x->id, now);
  }
  auto again = m.select(*sel, now);
  ASSERT_TRUE(again.ok()) << again.error().to_string();
  EXPECT_EQ(again->id, prim[0]);
  EXPECT_EQ(m.size(), 5u);

  // Updates on a network this small neither loop nor grow the sample.
  for (int i = 0; i < 10; ++i) m.update(*sel, now + i);
  EXPECT_EQ(m.size(), 5u);
}

TEST(SmallNetwork, NothingToSample) {
  const int64_t t0 = at("2022-11-19 10:00:00");
  TestNet t = make_test_network({"Fast Running Stable V2Dir Valid", "Exit Fast Running Valid"}, t0);
  auto sel = make_selector(t.consensus, std::move(t.microdescs), {.test_network = true});
  GuardManager m(seeded(21));
  m.update(*sel, t0);
  EXPECT_EQ(m.size(), 0u);
  auto c = m.select(*sel, t0);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind(), ErrorKind::kNotFound);
  EXPECT_EQ(m.serialize().find("Guard "), std::string::npos);
}

TEST(SmallNetwork, GuardLifetime) {
  const int64_t t0 = at("2022-11-19 10:00:00");
  auto sel = small_net(t0);
  GuardManager m(seeded(22));
  m.update(*sel, t0);
  ASSERT_EQ(m.size(), 5u);
  // Confirmed on day 100, so GUARD_CONFIRMED_MIN_LIFETIME keeps it past
  // GUARD_LIFETIME (120 days); the unconfirmed guards expire and are sampled
  // again (they are the only guards there are).
  auto sel100 = small_net(t0 + 100 * kDay);
  m.update(*sel100, t0 + 100 * kDay);
  const Sha1Digest keep = m.sampled()[2];
  m.on_success(keep, t0 + 100 * kDay);
  const int64_t confirmed_on = m.status()[0].confirmed_on.value();
  auto sel133 = small_net(t0 + 133 * kDay);
  m.update(*sel133, t0 + 133 * kDay);
  ASSERT_EQ(m.size(), 5u);
  EXPECT_EQ(m.confirmed(), std::vector<Sha1Digest>{keep});
  EXPECT_EQ(m.sampled()[0], keep) << "the others were removed and sampled again after it";
  for (const GuardStatus &g : m.status()) {
    if (g.confirmed) {
      EXPECT_EQ(g.confirmed_on, confirmed_on);
      EXPECT_LE(g.sampled_on, t0);
    } else {
      EXPECT_GT(g.sampled_on, t0 + 120 * kDay);
    }
  }
  // A stale consensus changes nothing (no live consensus, §4.1).
  std::string before = m.serialize();
  m.update(*sel, t0 + 200 * kDay);
  EXPECT_EQ(m.serialize(), before);
}

}  // namespace
}  // namespace tc::path
