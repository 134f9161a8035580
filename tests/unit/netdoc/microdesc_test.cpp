#include "netdoc/microdesc.h"

#include <gtest/gtest.h>

#include <set>

#include "netdoc/consensus.h"
#include "testdata.h"

namespace tc::netdoc {
namespace {

using testing::read_testdata;

TEST(PortPolicy, AcceptAndReject) {
  auto p = PortPolicy::parse("accept 80,443,1000-2000");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->allows(80));
  EXPECT_TRUE(p->allows(443));
  EXPECT_TRUE(p->allows(1000));
  EXPECT_TRUE(p->allows(1500));
  EXPECT_TRUE(p->allows(2000));
  EXPECT_FALSE(p->allows(81));
  EXPECT_FALSE(p->allows(2001));
  EXPECT_FALSE(p->allows(0));
  EXPECT_EQ(p->to_string(), "accept 80,443,1000-2000");
  auto r = PortPolicy::parse("reject 22,25,119,135-139,445");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->allows(80));
  EXPECT_TRUE(r->allows(65535));
  EXPECT_FALSE(r->allows(22));
  EXPECT_FALSE(r->allows(137));
  EXPECT_TRUE(r->allows(140));
  EXPECT_TRUE(r->allows_some());
  auto all = PortPolicy::parse("reject 1-65535");
  ASSERT_TRUE(all.ok());
  EXPECT_FALSE(all->allows_some());
  EXPECT_FALSE(all->allows(443));
  PortPolicy none;
  EXPECT_FALSE(none.allows(443));
  EXPECT_FALSE(none.allows_some());
  EXPECT_EQ(none.to_string(), "reject 1-65535");
  // Overlapping and unsorted ranges are normalised.
  auto m = PortPolicy::parse("accept 443,80-90,85-100");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->to_string(), "accept 80-100,443");
  for (const char *bad : {"allow 80", "accept", "accept 0", "accept 70000", "accept 90-80", "accept 80,", "accept a"})
    EXPECT_FALSE(PortPolicy::parse(bad).ok()) << bad;
}

TEST(Microdesc, RealJournalMatchesConsensus) {
  TC_REQUIRE_TESTDATA();
  const std::string text = read_testdata("cached-microdescs.new");
  auto mds = parse_microdescs(text);
  ASSERT_TRUE(mds.ok()) << mds.error().to_string();
  ASSERT_EQ(mds->size(), 1788u);

  auto c = Consensus::parse(read_testdata("cached-microdesc-consensus"));
  ASSERT_TRUE(c.ok());
  std::set<Sha256Digest> listed;
  for (const RouterStatus &r : c->relays) listed.insert(r.microdesc_digest);
  size_t matched = 0, with_policy = 0, with_family = 0, with_p6 = 0;
  for (const Microdesc &md : *mds) {
    matched += listed.count(md.digest);
    EXPECT_TRUE(md.ntor_onion_key);
    EXPECT_TRUE(md.ed25519_id);
    EXPECT_FALSE(md.onion_key_der.empty());
    with_policy += md.ipv4_policy.allows_some();
    with_p6 += md.ipv6_policy.allows_some();
    with_family += !md.family_ids.empty();
  }
  std::printf("[ info ] %zu of %zu microdescriptors are listed in the consensus; %zu exits, %zu IPv6 exits, %zu "
              "with family\n",
              matched, mds->size(), with_policy, with_p6, with_family);
  EXPECT_GT(matched, mds->size() * 9 / 10);
  EXPECT_EQ(with_policy, 407u);  // grep -c '^p ' (all are real policies here)
  EXPECT_EQ(with_family, 870u);  // grep -c '^family'

  // The first one, field by field.
  const Microdesc &m0 = (*mds)[0];
  EXPECT_EQ(m0.line, 2u);  // after its @last-listed annotation
  EXPECT_EQ(base64_encode(*m0.ntor_onion_key, false), "pDYVWZsjAl/VDAu/q3eOZzd38KbNtigfef8zd+INeD0");
  EXPECT_EQ(base64_encode(*m0.ed25519_id, false), "f49EZuhDJ98j5PbD4pFG3z9YhMhU1Q1bD2oUiQFqCww");
  ASSERT_EQ(m0.family_ids.size(), 3u);
  EXPECT_EQ(hex_encode(m0.family_ids[0], true), "5A9ED2865398052F393153A5A10B42AAC3A7B7DA");
  EXPECT_FALSE(m0.ipv4_policy.allows(443));
  auto key = m0.onion_key();
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->bits(), 1024);

  // Digest over exactly "onion-key" .. last NL, independently.
  size_t a = text.find("onion-key\n");
  size_t b = text.find("@last-listed", a);
  EXPECT_EQ(m0.digest, crypto::sha256(as_bytes(std::string_view(text).substr(a, b - a))));

  // The third has a reject policy for IPv4 and IPv6.
  const Microdesc &m2 = (*mds)[2];
  EXPECT_EQ(m2.ipv4_policy.to_string(), "reject 22,25");
  EXPECT_TRUE(m2.ipv4_policy.allows(443));
  EXPECT_FALSE(m2.ipv4_policy.allows(25));
  EXPECT_TRUE(m2.ipv6_policy.allows(443));
  EXPECT_GT(m2.family_ids.size(), 80u);
}

TEST(Microdesc, WithoutLegacyOnionKeyAndFamilyForms) {
  const std::string text =
      "ntor-onion-key pDYVWZsjAl/VDAu/q3eOZzd38KbNtigfef8zd+INeD0=\n"
      "a [2001:db8::1]:9001\n"
      "family $5A9ED2865398052F393153A5A10B42AAC3A7B7DA=named $85d3d0c3d4699afa897fe9dd9270baacbbe3e3f1 SomeNick "
      "$TOO_SHORT weird!entry\n"
      "family-ids ed25519:whatever\n"
      "p accept 443\n"
      "id rsa1024 AAoQ1DAR6kkoo19hBAX5K0QztNw\n"
      "id curve448 ignored\n"
      "ntor-onion-key wFmCmXsZASdOVy4LvRmgh1a/j3sv4XumIeE+kzEUmT0\n"
      "p6 accept 80\n";
  auto mds = parse_microdescs(text);
  ASSERT_TRUE(mds.ok()) << mds.error().to_string();
  ASSERT_EQ(mds->size(), 2u);
  const Microdesc &a = (*mds)[0];
  EXPECT_TRUE(a.onion_key_der.empty());
  EXPECT_FALSE(a.onion_key().ok());
  ASSERT_EQ(a.addresses.size(), 1u);
  EXPECT_TRUE(a.addresses[0].is_ipv6);
  ASSERT_EQ(a.family_ids.size(), 2u);
  EXPECT_EQ(a.family_nicknames, std::vector<std::string>{"somenick"});
  Sha1Digest fam = *hex_array<20>("85D3D0C3D4699AFA897FE9DD9270BAACBBE3E3F1");
  EXPECT_TRUE(a.lists_in_family(fam, "x"));
  EXPECT_TRUE(a.lists_in_family(Sha1Digest{}, "SOMENICK"));
  EXPECT_FALSE(a.lists_in_family(Sha1Digest{}, "other"));
  EXPECT_TRUE(a.ipv4_policy.allows(443));
  EXPECT_FALSE(a.ipv6_policy.allows(443));
  ASSERT_TRUE(a.rsa1024_id);
  EXPECT_EQ(a.digest, crypto::sha256(as_bytes(std::string_view(text).substr(0, text.find("ntor-onion-key wFm")))));
  const Microdesc &b = (*mds)[1];
  EXPECT_EQ(b.line, 8u);
  EXPECT_TRUE(b.ipv6_policy.allows(80));
  EXPECT_FALSE(b.ipv4_policy.allows(80));  // no "p": reject all
}

TEST(Microdesc, ErrorsCarryLineNumbers) {
  TC_REQUIRE_TESTDATA();
  std::string good = read_testdata("cached-microdescs.new");
  good.resize(good.rfind('\n', 4000) + 1);
  std::string bad = good;
  size_t at = bad.find("ntor-onion-key wFm");
  bad.replace(at, 18, "ntor-onion-key wF!");
  auto r = parse_microdescs(bad);
  ASSERT_FALSE(r.ok());
  size_t line = static_cast<size_t>(std::count(bad.begin(), bad.begin() + static_cast<std::ptrdiff_t>(at), '\n')) + 1;
  EXPECT_NE(r.error().message().find("line " + std::to_string(line) + " (ntor-onion-key)"), std::string::npos)
      << r.error().message();
  // The lenient parser skips it and keeps the rest.
  std::string whole = read_testdata("cached-microdescs.new");
  whole.replace(whole.find("ntor-onion-key wFm"), 18, "ntor-onion-key wF!");
  MicrodescBatch batch = parse_microdescs_lenient(whole);
  EXPECT_EQ(batch.microdescs.size(), 1787u);
  ASSERT_EQ(batch.errors.size(), 1u);

  auto dup = parse_microdescs("onion-key\n-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----\n"
                              "ntor-onion-key pDYVWZsjAl/VDAu/q3eOZzd38KbNtigfef8zd+INeD0\np accept 1\np accept 2\n");
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.error().message().find("line 7 (p)"), std::string::npos) << dup.error().message();
  auto stray = parse_microdescs("p accept 80\n");
  ASSERT_FALSE(stray.ok());
  EXPECT_NE(stray.error().message().find("line 1 (p)"), std::string::npos) << stray.error().message();
}

// The cached-microdescs journal compacted to what the consensus lists
// (issue 4: the journal must not grow without bound).
TEST(Microdesc, CompactJournalKeepsOnlyListedOnce) {
  TC_REQUIRE_TESTDATA();
  const std::string real = read_testdata("cached-microdescs.new");
  auto c = Consensus::parse(read_testdata("cached-microdesc-consensus"));
  ASSERT_TRUE(c.ok());
  auto all = parse_microdescs(real);
  ASSERT_TRUE(all.ok()) << all.error().to_string();
  ASSERT_GT(all->size(), 1000u);
  // Offsets point at exactly the digested text.
  for (auto &md : *all) {
    ASSERT_LE(md.text_offset + md.text_length, real.size());
    ASSERT_EQ(crypto::sha256(as_bytes(std::string_view(real).substr(md.text_offset, md.text_length))), md.digest);
  }
  // A journal like a long-running client's: annotations, the same
  // microdescriptors appended again, garbage cut off at the end.
  std::string journal = "@last-listed 2022-11-19 09:00:00\n" + real + real + "@last-listed 2022-11-19 10:00:00\n";
  auto batch = parse_microdescs_lenient(journal + "onion-key\nnot a key\n");
  EXPECT_EQ(batch.microdescs.size(), 2 * all->size());
  EXPECT_FALSE(batch.errors.empty());
  // Keep what the consensus lists (plus one digest nobody has).
  std::set<Sha256Digest> keep;
  for (auto &rs : c->relays)
    if (rs.has_microdesc_digest) keep.insert(rs.microdesc_digest);
  Sha256Digest absent{};
  absent.fill(0xAB);
  keep.insert(absent);
  std::set<Sha256Digest> listed_here;
  for (auto &md : *all)
    if (keep.count(md.digest)) listed_here.insert(md.digest);
  ASSERT_GT(listed_here.size(), 100u);
  ASSERT_LT(listed_here.size(), all->size());  // some in the journal are not listed
  auto compacted = compact_microdesc_journal(journal + "onion-key\nnot a key\n", std::move(batch.microdescs), keep);
  EXPECT_LT(compacted.text.size(), real.size());
  EXPECT_EQ(compacted.microdescs.size(), listed_here.size());
  EXPECT_EQ(compacted.text.find('@'), std::string::npos);
  // The new journal parses strictly, to the kept ones, each once, and the
  // returned offsets point into the new text.
  auto again = parse_microdescs(compacted.text);
  ASSERT_TRUE(again.ok()) << again.error().to_string();
  std::set<Sha256Digest> got;
  for (auto &md : *again) EXPECT_TRUE(got.insert(md.digest).second);
  EXPECT_EQ(got, listed_here);
  for (auto &md : compacted.microdescs)
    EXPECT_EQ(crypto::sha256(as_bytes(std::string_view(compacted.text).substr(md.text_offset, md.text_length))),
              md.digest);
  // Compacting what is already compact changes nothing.
  auto twice = compact_microdesc_journal(compacted.text, compacted.microdescs, keep);
  EXPECT_EQ(twice.text, compacted.text);
  // Keeping nothing leaves an empty journal.
  EXPECT_TRUE(compact_microdesc_journal(real, *all, {}).text.empty());
}

}  // namespace
}  // namespace tc::netdoc
