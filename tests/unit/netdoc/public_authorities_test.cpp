// The built-in public-network authorities (src/netdoc/public_authorities.cpp)
// cross-checked against real documents: the 2022-11-19 consensus and
// certificates in ../shared/testdata/public-network-2022-11/ (as far as the
// authorities are unchanged since), and the list compiled into the installed
// C tor binary (the source the table was written from), when there is one.
#include "netdoc/public_authorities.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <set>

#include "netdoc/cert.h"
#include "netdoc/consensus.h"
#include "testdata.h"

namespace tc::netdoc {
namespace {

std::string lower(std::string_view s) {
  std::string o(s);
  for (auto &c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

std::vector<DirAuthority> builtin() {
  auto a = public_authorities();
  EXPECT_TRUE(a.ok()) << a.error().to_string();
  return a.ok() ? std::move(*a) : std::vector<DirAuthority>{};
}

TEST(PublicAuthorities, TableIsWellFormed) {
  auto auths = builtin();
  ASSERT_EQ(auths.size(), public_authority_table().size());
  ASSERT_GE(auths.size(), 3u);
  std::set<std::string> nicks;
  std::set<Sha1Digest> v3s, fps;
  for (auto &a : auths) {
    SCOPED_TRACE(a.nickname);
    ASSERT_TRUE(a.v3ident);  // every entry signs consensuses (no bridge authority)
    EXPECT_FALSE(a.bridge);
    EXPECT_NE(a.dir_port, 0);
    EXPECT_NE(a.or_port, 0);
    EXPECT_NE(*a.v3ident, a.rsa_identity);  // two different keys
    nicks.insert(lower(a.nickname));
    v3s.insert(*a.v3ident);
    fps.insert(a.rsa_identity);
    // What a `dir-authority` line would give for it: the same authority.
    auto again = DirAuthority::parse(a.to_string());
    ASSERT_TRUE(again.ok()) << a.to_string() << ": " << again.error().to_string();
    EXPECT_EQ(again->nickname, a.nickname);
    EXPECT_EQ(again->ipv4, a.ipv4);
    EXPECT_EQ(again->dir_port, a.dir_port);
    EXPECT_EQ(again->or_port, a.or_port);
    EXPECT_EQ(again->v3ident, a.v3ident);
    EXPECT_EQ(again->rsa_identity, a.rsa_identity);
    EXPECT_EQ(again->ipv6.has_value(), a.ipv6.has_value());
  }
  EXPECT_EQ(nicks.size(), auths.size());
  EXPECT_EQ(v3s.size(), auths.size());
  EXPECT_EQ(fps.size(), auths.size());
  EXPECT_NE(public_authority_source().find("0.4.9"), std::string_view::npos);
}

// Every way a built-in authority disagrees with the 2022-11-19 documents, as
// "nickname: what" lines; an authority that agrees in everything gives none.
std::vector<std::string> differences_from_2022(const std::vector<DirAuthority> &auths, const Consensus &c,
                                               const std::vector<AuthorityCert> &certs) {
  std::vector<std::string> out;
  for (auto &a : auths) {
    const DirSource *src = nullptr;
    for (auto &d : c.dir_sources)
      if (!d.legacy && d.identity == *a.v3ident) src = &d;
    const RouterStatus *rs = nullptr;  // the authority's own relay entry
    for (auto &r : c.relays)
      if (r.has_flag(kFlagAuthority) && lower(r.nickname) == lower(a.nickname)) rs = &r;
    bool cert = std::any_of(certs.begin(), certs.end(), [&](auto &x) { return x.fingerprint == *a.v3ident; });
    if (!src) {
      out.push_back(a.nickname + ": v3ident not a 2022 dir-source");
    } else {
      if (src->nickname != a.nickname) out.push_back(a.nickname + ": dir-source nickname " + src->nickname);
      if (src->ipv4 != a.ipv4) out.push_back(a.nickname + ": dir-source address " + format_ipv4(src->ipv4));
      if (src->dir_port != a.dir_port) out.push_back(a.nickname + ": dir-source dirport " + std::to_string(src->dir_port));
      if (src->or_port != a.or_port) out.push_back(a.nickname + ": dir-source orport " + std::to_string(src->or_port));
    }
    if (!cert) out.push_back(a.nickname + ": no 2022 certificate for its v3ident");
    if (!rs) {
      out.push_back(a.nickname + ": no Authority relay of that name in 2022");
      continue;
    }
    if (rs->rsa_identity != a.rsa_identity)
      out.push_back(a.nickname + ": relay fingerprint " + hex_encode(rs->rsa_identity, true));
    if (rs->ipv4 != a.ipv4) out.push_back(a.nickname + ": relay address " + format_ipv4(rs->ipv4));
    if (rs->or_port != a.or_port) out.push_back(a.nickname + ": relay orport " + std::to_string(rs->or_port));
    if (rs->has_ipv6 != a.ipv6.has_value() ||
        (a.ipv6 && (rs->ipv6 != a.ipv6->ipv6 || rs->ipv6_port != a.ipv6->port)))
      out.push_back(a.nickname + ": relay ipv6 " + (rs->has_ipv6 ? format_ipv6(rs->ipv6) : std::string("none")));
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(PublicAuthorities, AgreeWith2022ConsensusExceptKnownChanges) {
  TC_REQUIRE_TESTDATA();
  auto auths = builtin();
  auto c = Consensus::parse(testing::read_testdata("cached-microdesc-consensus"));
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  auto certs = parse_authority_certs(testing::read_certs());
  ASSERT_TRUE(certs.ok()) << certs.error().to_string();
  // Since November 2022: moria1 and tor26 got new v3 identities and relay
  // keys (moria1 new ports, tor26 a new address), Faravahar was retired and
  // "faravahar" is a new authority, dizum moved to a new address. The other
  // five agree in every field. Anything else is a typo in the table.
  std::vector<std::string> expected = {
      "dizum: dir-source address 45.66.33.45",
      "dizum: relay address 45.66.33.45",
      "faravahar: no 2022 certificate for its v3ident",
      // "Faravahar" in 2022 was another key on another address.
      "faravahar: relay address 154.35.175.225",
      "faravahar: relay fingerprint CF6D0AAFB385BE71B8E111FC5CFF4B47923733BC",
      "faravahar: relay ipv6 2607:8500:154::3",
      "faravahar: v3ident not a 2022 dir-source",
      "moria1: no 2022 certificate for its v3ident",
      "moria1: relay fingerprint 9695DFC35FFEB861329B9F1AB04C46397020CE31",
      "moria1: relay orport 9101",
      "moria1: v3ident not a 2022 dir-source",
      "tor26: no 2022 certificate for its v3ident",
      "tor26: relay address 86.59.21.38",
      "tor26: relay fingerprint 847B1F850344D7876491A54892F904934E4EB85D",
      "tor26: relay ipv6 2001:858:2:2:aabb:0:563b:1526",
      "tor26: v3ident not a 2022 dir-source",
  };
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(differences_from_2022(auths, *c, *certs), expected);

  // The unchanged authorities really are unchanged: a corrupted row would
  // show up as a difference (the check above is not vacuous).
  auto broken = auths;
  for (auto &a : broken)
    if (a.nickname == "gabelmoo") a.rsa_identity[0] ^= 1;
  auto diffs = differences_from_2022(broken, *c, *certs);
  EXPECT_EQ(std::count_if(diffs.begin(), diffs.end(), [](auto &s) { return s.rfind("gabelmoo:", 0) == 0; }), 1);
}

TEST(PublicAuthorities, Verify2022ConsensusWithTheSignersStillListed) {
  TC_REQUIRE_TESTDATA();
  // The 2022 consensus with today's authority set: six of its v3
  // identities are still built in (five unchanged + dizum); dannenberg did
  // not sign that hour (8 of 9 signed), so five count, which is still a
  // majority of nine. Signatures by the retired keys do not count.
  auto auths = builtin();
  auto ids = v3_identities(auths);
  auto c = Consensus::parse(testing::read_testdata("cached-microdesc-consensus"));
  ASSERT_TRUE(c.ok());
  auto certs = parse_authority_certs(testing::read_certs());
  ASSERT_TRUE(certs.ok());
  auto report = c->check_signatures(*certs, ids, testing::test_now());
  EXPECT_EQ(report.authorities, auths.size());
  std::set<std::string> counted;
  for (auto &chk : report.checks)
    if (chk.counted) counted.insert(chk.authority);
  EXPECT_EQ(counted, (std::set<std::string>{"bastet", "dizum", "gabelmoo", "longclaw", "maatuska"}))
      << report.describe();
  EXPECT_EQ(report.needed, 5u);
  EXPECT_TRUE(report.enough()) << report.describe();
  // One more retired signer and it would not be enough: a real majority.
  auto fewer = ids;
  for (auto &a : auths)
    if (a.nickname == "gabelmoo") fewer.erase(std::remove(fewer.begin(), fewer.end(), *a.v3ident), fewer.end());
  ASSERT_EQ(fewer.size(), ids.size() - 1);
  fewer.push_back(Sha1Digest{});  // still nine configured, one unknown
  EXPECT_FALSE(c->check_signatures(*certs, fewer, testing::test_now()).enough());
}

// C tor keeps its default authorities as strings in the binary, one line
// each ("moria1 orport=... v3ident=... address:dirport FINGERPRINT").
std::vector<std::string> tor_binary_authority_lines(const std::string &path) {
  std::string bin;
  {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    bin = ss.str();
  }
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= bin.size(); ++i) {
    if (i < bin.size() && bin[i] != '\0') continue;
    std::string_view s(bin.data() + start, i - start);
    start = i + 1;
    if (s.find(" v3ident=") == std::string_view::npos && s.find(" bridge ") == std::string_view::npos) continue;
    if (s.find(" orport=") == std::string_view::npos) continue;
    out.emplace_back(s);
  }
  return out;
}

TEST(PublicAuthorities, MatchTheInstalledTorBinary) {
  std::string path;
  for (const char *p : {"/usr/bin/tor", "/usr/sbin/tor", "/usr/local/bin/tor"})
    if (std::filesystem::exists(p)) path = p;
  if (path.empty()) GTEST_SKIP() << "no tor binary installed to compare with";
  auto lines = tor_binary_authority_lines(path);
  if (lines.empty()) GTEST_SKIP() << path << " holds no authority lines (not C tor?)";
  std::map<std::string, DirAuthority> theirs;
  for (auto &l : lines) {
    auto a = DirAuthority::parse(l);
    ASSERT_TRUE(a.ok()) << l << ": " << a.error().to_string();
    if (a->bridge) continue;  // our table leaves the bridge authority out
    theirs[a->nickname] = std::move(*a);
  }
  auto ours = builtin();
  ASSERT_EQ(theirs.size(), ours.size()) << "the installed tor (" << path
                                        << ") has another authority list: update public_authorities.cpp";
  for (auto &a : ours) {
    SCOPED_TRACE(a.nickname);
    auto it = theirs.find(a.nickname);
    ASSERT_NE(it, theirs.end());
    const DirAuthority &t = it->second;
    EXPECT_EQ(t.address, a.address);
    EXPECT_EQ(t.dir_port, a.dir_port);
    EXPECT_EQ(t.or_port, a.or_port);
    EXPECT_EQ(t.v3ident, a.v3ident);
    EXPECT_EQ(t.rsa_identity, a.rsa_identity);
    ASSERT_EQ(t.ipv6.has_value(), a.ipv6.has_value());
    if (a.ipv6) {
      EXPECT_EQ(t.ipv6->ipv6, a.ipv6->ipv6);
      EXPECT_EQ(t.ipv6->port, a.ipv6->port);
    }
  }
}

}  // namespace
}  // namespace tc::netdoc
