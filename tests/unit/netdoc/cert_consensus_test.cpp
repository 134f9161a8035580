#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "netdoc/authority.h"
#include "netdoc/cert.h"
#include "netdoc/consensus.h"
#include "testdata.h"

namespace tc::netdoc {
namespace {

using testing::kAuthorityLines;
using testing::read_testdata;
using testing::test_now;

std::vector<Sha1Digest> authority_ids() {
  std::vector<DirAuthority> auths;
  for (const char *l : kAuthorityLines) auths.push_back(DirAuthority::parse(l).value());
  return v3_identities(auths);
}

class RealNetwork : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!tc::testing::have_public_network_documents()) return;  // each test skips
    md_text_ = new std::string(read_testdata("cached-microdesc-consensus"));
    certs_text_ = new std::string(testing::read_certs());
    ASSERT_GT(md_text_->size(), 2000000u) << "test data missing";
    auto c = Consensus::parse(*md_text_);
    ASSERT_TRUE(c.ok()) << c.error().to_string();
    consensus_ = new Consensus(std::move(c).value());
    auto certs = parse_authority_certs(*certs_text_);
    ASSERT_TRUE(certs.ok()) << certs.error().to_string();
    certs_ = new std::vector<AuthorityCert>(std::move(certs).value());
  }
  static void TearDownTestSuite() {
    delete md_text_;
    delete certs_text_;
    delete consensus_;
    delete certs_;
  }
  void SetUp() override { TC_REQUIRE_TESTDATA(); }
  static std::string *md_text_;
  static std::string *certs_text_;
  static Consensus *consensus_;
  static std::vector<AuthorityCert> *certs_;
};
std::string *RealNetwork::md_text_;
std::string *RealNetwork::certs_text_;
Consensus *RealNetwork::consensus_;
std::vector<AuthorityCert> *RealNetwork::certs_;

// ---- certificates ----------------------------------------------------------

TEST_F(RealNetwork, CertificatesParseAndVerify) {
  ASSERT_EQ(certs_->size(), 9u);
  for (const AuthorityCert &c : *certs_) {
    Status s = c.verify(test_now());
    EXPECT_TRUE(s.ok()) << s.error().to_string();
    EXPECT_GE(c.identity_key.bits(), 2048);
  }
  const AuthorityCert &longclaw = (*certs_)[0];
  EXPECT_EQ(hex_encode(longclaw.fingerprint, true), "23D15D965BC35114467363C165C4F724B64B4F66");
  EXPECT_EQ(format_iso_time(longclaw.published), "2022-09-16 19:14:12");
  EXPECT_EQ(format_iso_time(longclaw.expires), "2023-09-16 19:14:12");
  EXPECT_EQ(longclaw.first_line, 1u);
  // Its signing key is the one longclaw's consensus signature names.
  EXPECT_EQ(hex_encode(longclaw.signing_key_digest, true), "62EA5595951196DACDCE605C53DF6FE025641864");
  EXPECT_GT((*certs_)[1].first_line, 40u);
}

TEST_F(RealNetwork, CertificateTimeWindow) {
  const AuthorityCert &c = (*certs_)[0];
  EXPECT_TRUE(c.is_valid_at(c.published));
  EXPECT_TRUE(c.is_valid_at(c.expires));
  Status s = c.verify(c.expires + 1);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("expired"), std::string::npos) << s.error().message();
  s = c.verify(c.published - 2 * 86400);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("future"), std::string::npos) << s.error().message();
}

std::string first_cert_text(const std::string &all) {
  size_t end = all.find("-----END SIGNATURE-----\n");
  return all.substr(0, end + 24);
}

TEST_F(RealNetwork, TamperedCertificateIsRefused) {
  const std::string orig = first_cert_text(*certs_text_);
  ASSERT_TRUE(AuthorityCert::parse(orig).value().verify(test_now()).ok());

  // A later expiry: still well-formed, but the certification no longer matches.
  std::string t = orig;
  t.replace(t.find("dir-key-expires 2023"), 20, "dir-key-expires 2024");
  auto c = AuthorityCert::parse(t);
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  Status s = c->verify(test_now());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind(), ErrorKind::kCrypto);
  EXPECT_NE(s.error().message().find("dir-key-certification"), std::string::npos) << s.error().message();

  // A fingerprint line that is not the identity key's digest.
  t = orig;
  t.replace(t.find("fingerprint 23D1"), 16, "fingerprint 23D2");
  s = AuthorityCert::parse(t).value().verify(test_now());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("hashes to"), std::string::npos) << s.error().message();

  // A crosscert from another certificate.
  std::string other = certs_text_->substr(orig.size());
  auto cross = [](const std::string &x) {
    size_t a = x.find("-----BEGIN ID SIGNATURE-----");
    size_t b = x.find("-----END ID SIGNATURE-----");
    return x.substr(a, b - a);
  };
  t = orig;
  std::string mine = cross(orig);
  t.replace(t.find(mine), mine.size(), cross(other));
  s = AuthorityCert::parse(t).value().verify(test_now());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("crosscert"), std::string::npos) << s.error().message();
}

TEST(Certificate, CrLfCopyIsRefusedWithAClearReason) {
  TC_REQUIRE_TESTDATA();
  auto certs = parse_authority_certs(read_testdata("cached-certs"));
  ASSERT_FALSE(certs.ok());
  EXPECT_NE(certs.error().message().find("line 1: line ends in CR LF"), std::string::npos)
      << certs.error().message();
}

TEST(Certificate, StructuralErrorsHaveLineNumbers) {
  TC_REQUIRE_TESTDATA();
  const std::string all = testing::read_certs();
  std::string t = first_cert_text(all);
  std::string broken = t;
  broken.replace(broken.find("dir-key-published 2022-09-16"), 28, "dir-key-published 2022-09-36");
  auto c = AuthorityCert::parse(broken);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("line 3 (dir-key-published)"), std::string::npos) << c.error().message();

  broken = t;
  broken.erase(broken.find("fingerprint"), broken.find('\n', broken.find("fingerprint")) - broken.find("fingerprint") + 1);
  c = AuthorityCert::parse(broken);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("missing required 'fingerprint'"), std::string::npos) << c.error().message();

  // In a concatenation, line numbers count from the start of the whole text.
  std::string two = all.substr(0, t.size()) + "dir-key-certificate-version 3\nfingerprint XYZ\n";
  auto many = parse_authority_certs(two);
  ASSERT_FALSE(many.ok());
  EXPECT_NE(many.error().message().find("has no dir-key-certification"), std::string::npos)
      << many.error().message();
}

// ---- consensus -------------------------------------------------------------

TEST_F(RealNetwork, ConsensusHeader) {
  const Consensus &c = *consensus_;
  EXPECT_EQ(c.flavor, ConsensusFlavor::kMicrodesc);
  EXPECT_EQ(c.consensus_method, 32);
  EXPECT_EQ(format_iso_time(c.valid_after), "2022-11-19 10:00:00");
  EXPECT_EQ(format_iso_time(c.fresh_until), "2022-11-19 11:00:00");
  EXPECT_EQ(format_iso_time(c.valid_until), "2022-11-19 13:00:00");
  EXPECT_EQ(c.vote_seconds, 300);
  EXPECT_EQ(c.dist_seconds, 300);
  EXPECT_EQ(c.known_flags.size(), 14u);
  EXPECT_TRUE(c.required_client_protocols.supports(Protocol::kLink, 4));
  EXPECT_FALSE(c.required_client_protocols.supports(Protocol::kLink, 5));
  EXPECT_TRUE(c.recommended_relay_protocols.supports(Protocol::kLinkAuth, 3));
  EXPECT_EQ(c.params.size(), 33u);  // wc -w of the params line, minus the keyword
  EXPECT_EQ(c.param("cc_alg", 0, 0, 2), 2);
  EXPECT_EQ(c.param("circ_max_cell_queue_size", 0, 0, INT32_MAX), 2000);
  EXPECT_EQ(c.param("cc_sscap_exit", 0, 0, 100), 100);  // clamped
  EXPECT_EQ(c.param("absent", 7, 0, 10), 7);
  ASSERT_EQ(c.dir_sources.size(), 9u);
  EXPECT_EQ(c.dir_sources[0].nickname, "dannenberg");
  EXPECT_EQ(c.dir_sources[5].nickname, "moria1");
  EXPECT_EQ(c.dir_sources[5].dir_port, 9131);
  EXPECT_EQ(c.dir_sources[5].or_port, 9101);
  EXPECT_EQ(c.dir_sources[0].contact, "Andreas Lehner");
  ASSERT_TRUE(c.dir_sources[0].vote_digest);
  EXPECT_EQ(hex_encode(*c.dir_sources[0].vote_digest, true), "73665E5C8B2ECE6978F80DB069FFE6E3C24F65C0");
  EXPECT_EQ(c.bandwidth_weights.size(), 19u);
  EXPECT_EQ(c.weight("Wgg", 0), 9611);
  EXPECT_EQ(c.weight("Wmg", 0), 389);
  EXPECT_EQ(c.weight("Wme", -1), 0);
  ASSERT_EQ(c.signatures.size(), 8u);
  EXPECT_EQ(c.signatures[0].algorithm, SignatureAlgorithm::kSha256);
  EXPECT_EQ(hex_encode(c.signatures[0].identity, true), "14C131DFC5C6F93646BE72FA1401C02A8DF2E8B4");
  EXPECT_EQ(c.signatures[0].signature.size(), 384u);  // tor26 signs with a 3072-bit key
  // Signed part: up to and including the space after the first directory-signature.
  std::string_view sp = c.signed_part();
  EXPECT_TRUE(sp.starts_with("network-status-version 3 microdesc\n"));
  EXPECT_TRUE(sp.ends_with("\ndirectory-signature "));
  EXPECT_EQ(sp.size(), c.text().find("directory-signature ") + 20);
}

TEST_F(RealNetwork, ConsensusRelays) {
  const Consensus &c = *consensus_;
  ASSERT_EQ(c.relays.size(), 6088u);
  const RouterStatus &seele = c.relays[0];
  EXPECT_EQ(seele.nickname, "seele");
  EXPECT_EQ(hex_encode(seele.rsa_identity, true), "000A10D43011EA4928A35F610405F92B4433B4DC");
  EXPECT_EQ(format_iso_time(seele.published), "2022-11-19 03:58:26");
  EXPECT_EQ(format_ipv4(seele.ipv4), "104.53.221.159");
  EXPECT_EQ(seele.or_port, 9001);
  EXPECT_EQ(seele.dir_port, 0);
  EXPECT_FALSE(seele.has_ipv6);
  EXPECT_EQ(seele.flags, kFlagFast | kFlagHSDir | kFlagRunning | kFlagStable | kFlagV2Dir | kFlagValid);
  EXPECT_EQ(relay_flags_to_string(seele.flags), "Fast HSDir Running Stable V2Dir Valid");
  EXPECT_EQ(seele.version, "Tor 0.4.7.10");
  EXPECT_TRUE(seele.protocols.supports(Protocol::kRelay, 4));
  EXPECT_FALSE(seele.protocols.supports(Protocol::kRelay, 5));
  EXPECT_TRUE(seele.protocols.supports(Protocol::kFlowCtrl, 2));
  EXPECT_EQ(seele.bandwidth, 270u);
  EXPECT_FALSE(seele.unmeasured);
  ASSERT_TRUE(seele.has_microdesc_digest);
  EXPECT_EQ(base64_encode(seele.microdesc_digest, false), "38hr2IZV5m/kTlVcZmroAwmemDqYVeN+5HcTprpIa2A");
  EXPECT_EQ(seele.line, 45u);  // grep -n "^r seele"

  const RouterStatus &fp = c.relays[4];
  EXPECT_EQ(fp.nickname, "ForPrivacyNET");
  ASSERT_TRUE(fp.has_ipv6);
  EXPECT_EQ(format_ipv6(fp.ipv6), "2a0b:f4c2:2::33");
  EXPECT_EQ(fp.ipv6_port, 10133);
  EXPECT_TRUE(fp.has_flag(kFlagExit));

  size_t running = 0, guards = 0, exits = 0, unmeasured = 0, bad_exits = 0, ipv6 = 0;
  for (const RouterStatus &r : c.relays) {
    running += r.has_flag(kFlagRunning | kFlagValid);
    guards += r.has_flag(kFlagGuard);
    exits += r.has_flag(kFlagExit);
    bad_exits += r.has_flag(kFlagBadExit);
    unmeasured += r.unmeasured;
    ipv6 += r.has_ipv6;
    EXPECT_TRUE(r.has_microdesc_digest);
  }
  // Independent counts: grep -c on the document.
  EXPECT_EQ(running, 6088u);
  EXPECT_EQ(guards, static_cast<size_t>(std::count_if(c.relays.begin(), c.relays.end(), [](const RouterStatus &r) {
              return r.flags & kFlagGuard;
            })));
  auto count_lines = [&](std::string_view needle) {
    size_t n = 0;
    for (size_t p = c.text().find(needle); p != std::string::npos; p = c.text().find(needle, p + 1)) ++n;
    return n;
  };
  EXPECT_EQ(ipv6, count_lines("\na ["));
  EXPECT_EQ(unmeasured, count_lines(" Unmeasured=1\n"));
  EXPECT_GT(exits, 1000u);
  EXPECT_GT(guards, 2000u);
  std::printf("[ info ] %zu relays: %zu Guard, %zu Exit, %zu BadExit, %zu IPv6, %zu unmeasured\n",
              c.relays.size(), guards, exits, bad_exits, ipv6, unmeasured);

  EXPECT_EQ(c.find_relay(seele.rsa_identity), &c.relays[0]);
  EXPECT_EQ(c.find_relay(c.relays[6087].rsa_identity), &c.relays[6087]);
  Sha1Digest none{};
  none[0] = 0xff;
  none[1] = 0xff;
  EXPECT_EQ(c.find_relay(none), nullptr);
}

TEST_F(RealNetwork, AllSignaturesVerify) {
  auto ids = authority_ids();
  ASSERT_EQ(ids.size(), 9u);  // Serge is a bridge authority
  auto rep = consensus_->verify_signatures(*certs_, ids, test_now());
  ASSERT_TRUE(rep.ok()) << rep.error().to_string();
  EXPECT_EQ(rep->authorities, 9u);
  EXPECT_EQ(rep->needed, 5u);
  EXPECT_EQ(rep->valid, 8u);
  for (const SignatureCheck &chk : rep->checks) EXPECT_TRUE(chk.counted) << chk.authority << ": " << chk.problem;
  ASSERT_EQ(rep->unsigned_authorities.size(), 1u);  // dannenberg did not sign this one
  EXPECT_EQ(hex_encode(rep->unsigned_authorities[0], true), "0232AF901C31A04EE9848595AF9BB7620D4C5B2E");
}

TEST_F(RealNetwork, TimingParseAndVerify) {
  auto ids = authority_ids();
  auto t0 = std::chrono::steady_clock::now();
  auto c = Consensus::parse(*md_text_);
  auto t1 = std::chrono::steady_clock::now();
  ASSERT_TRUE(c.ok());
  auto rep = c->verify_signatures(*certs_, ids, test_now());
  auto t2 = std::chrono::steady_clock::now();
  ASSERT_TRUE(rep.ok());
  auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  std::printf("[ timing ] microdesc consensus (%zu bytes, %zu relays): parse %.1f ms, verify 8 signatures %.1f ms\n",
              md_text_->size(), c->relays.size(), ms(t1 - t0), ms(t2 - t1));
}

TEST_F(RealNetwork, OneChangedByteBreaksEverySignature) {
  auto ids = authority_ids();
  std::string t = *md_text_;
  size_t at = t.find("w Bandwidth=270\n");
  ASSERT_NE(at, std::string::npos);
  t[at + 14] = '1';  // 270 -> 271: still a well-formed consensus
  auto c = Consensus::parse(t);
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->relays[0].bandwidth, 271u);
  SignatureReport rep = c->check_signatures(*certs_, ids, test_now());
  EXPECT_EQ(rep.valid, 0u);
  auto v = c->verify_signatures(*certs_, ids, test_now());
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().kind(), ErrorKind::kCrypto);
  EXPECT_NE(v.error().message().find("0 valid authority signature(s), 5 needed"), std::string::npos)
      << v.error().message();
  EXPECT_NE(v.error().message().find("does not match the document's sha256 digest"), std::string::npos);

}

TEST_F(RealNetwork, FewerThanAMajorityIsRefused) {
  auto ids = authority_ids();
  // Only four authorities' certificates known: four valid signatures of five needed.
  std::vector<AuthorityCert> some;
  for (const AuthorityCert &c : *certs_) {
    std::string fp = hex_encode(c.fingerprint, true);
    if (fp.starts_with("23D1") || fp.starts_with("D586") || fp.starts_with("4901") || fp.starts_with("14C1"))
      some.push_back(c);
  }
  ASSERT_EQ(some.size(), 4u);
  auto v = consensus_->verify_signatures(some, ids, test_now());
  ASSERT_FALSE(v.ok());
  const std::string &m = v.error().message();
  EXPECT_NE(m.find("4 valid authority signature(s), 5 needed (more than half of 9 authorities)"), std::string::npos)
      << m;
  EXPECT_NE(m.find("gabelmoo (ED03BB616EB2F60BEC80151114BB25CEF515B226): no certificate for signing key"),
            std::string::npos)
      << m;
  SignatureReport rep = consensus_->check_signatures(some, ids, test_now());
  EXPECT_EQ(rep.valid, 4u);
  EXPECT_FALSE(rep.enough());
  EXPECT_EQ(rep.unsigned_authorities.size(), 5u);

  // Five are enough.
  for (const AuthorityCert &c : *certs_)
    if (hex_encode(c.fingerprint, true).starts_with("ED03")) some.push_back(c);
  EXPECT_TRUE(consensus_->verify_signatures(some, ids, test_now()).ok());

  // Signatures from identities we do not trust do not count.
  std::vector<Sha1Digest> three(ids.begin(), ids.begin() + 3);
  rep = consensus_->check_signatures(*certs_, three, test_now());
  EXPECT_EQ(rep.authorities, 3u);
  EXPECT_EQ(rep.needed, 2u);
  size_t foreign = 0;
  for (const SignatureCheck &chk : rep.checks) foreign += chk.problem == "not from a configured authority";
  EXPECT_EQ(foreign + rep.valid, 8u);

  // Certificates expired at `now`: nothing counts.
  auto late = consensus_->verify_signatures(*certs_, ids, parse_iso_time("2023-12-01 00:00:00").value());
  ASSERT_FALSE(late.ok());
  EXPECT_NE(late.error().message().find("expired"), std::string::npos) << late.error().message();
}

TEST_F(RealNetwork, Liveness) {
  const Consensus &c = *consensus_;
  EXPECT_TRUE(c.is_live(test_now()));
  EXPECT_TRUE(c.is_fresh(test_now()));
  int64_t after = parse_iso_time("2022-11-19 13:30:00").value();
  EXPECT_FALSE(c.is_live(after));
  EXPECT_FALSE(c.is_fresh(after));
  EXPECT_TRUE(c.is_reasonably_live(after));
  EXPECT_TRUE(c.is_reasonably_live(c.valid_until + 24 * 3600));
  EXPECT_FALSE(c.is_reasonably_live(c.valid_until + 24 * 3600 + 1));
  EXPECT_FALSE(c.is_live(c.valid_after - 1));
  EXPECT_TRUE(c.is_reasonably_live(c.valid_after - 1));
}

TEST(Consensus, NsFlavourWithSha1Signatures) {
  TC_REQUIRE_TESTDATA();
  std::string text = read_testdata("cached-consensus");
  auto c = Consensus::parse(text);
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->flavor, ConsensusFlavor::kNs);
  EXPECT_EQ(c->relays.size(), 6088u);
  EXPECT_FALSE(c->relays[0].has_microdesc_digest);
  EXPECT_EQ(c->signatures.size(), 8u);
  EXPECT_EQ(c->signatures[0].algorithm, SignatureAlgorithm::kSha1);
  auto certs = parse_authority_certs(testing::read_certs()).value();
  auto rep = c->verify_signatures(certs, authority_ids(), test_now());
  ASSERT_TRUE(rep.ok()) << rep.error().to_string();
  EXPECT_EQ(rep->valid, 8u);
}

// Replaces the first occurrence of `from` after `after` in `text`.
std::string replace_once(std::string text, std::string_view after, std::string_view from, std::string_view to) {
  size_t a = text.find(after);
  size_t p = text.find(from, a);
  text.replace(p, from.size(), to);
  return text;
}

size_t line_of(const std::string &text, std::string_view needle) {
  size_t p = text.find(needle);
  return static_cast<size_t>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(p), '\n')) + 1;
}

TEST_F(RealNetwork, ParseErrorsCarryLineNumbers) {
  const std::string &orig = *md_text_;
  struct Case {
    std::string text;
    std::string expect;
  };
  const size_t seele_line = line_of(orig, "r seele ");
  std::vector<Case> cases = {
      {replace_once(orig, "r seele", "104.53.221.159", "104.53.221"),
       "line " + std::to_string(seele_line) + " (r): bad IPv4 address '104.53.221'"},
      {replace_once(orig, "r seele", "m 38hr", "x-m 38hr"),
       "router status entry at line " + std::to_string(seele_line) + ": missing required 'm'"},
      {replace_once(orig, "r titamon3", "w Bandwidth=38000", "w Bandwidth=-5"),
       "line " + std::to_string(line_of(orig, "w Bandwidth=38000")) + " (w): bad 'Bandwidth=-5'"},
      {replace_once(orig, "valid-after", "valid-after 2022-11-19 10:00:00", "valid-after 2022-11-19 10:61:00"),
       "line 4 (valid-after): bad time"},
      {replace_once(orig, "vote-status", "vote-status consensus", "vote-status vote"), "line 2 (vote-status)"},
      {replace_once(orig, "r seele", "r seele AAoQ", "r seele AAoQ!"), "is not 20 bytes of base64"},
      {replace_once(orig, "params", "cc_alg=2", "cc_alg=x"), "bad entry 'cc_alg=x'"},
      {replace_once(orig, "r seele", "r seele", "r seele\ns Exit\nr seele"), "(r): needs at least 7 argument(s)"},
      {orig.substr(0, orig.find("directory-footer")), "without a footer or directory-signature"},
  };
  for (const Case &cs : cases) {
    auto c = Consensus::parse(cs.text);
    ASSERT_FALSE(c.ok()) << "expected: " << cs.expect;
    EXPECT_NE(c.error().message().find(cs.expect), std::string::npos) << c.error().message();
  }
  // Entries out of order are refused (we binary-search them).
  std::string swapped = orig;
  size_t a = swapped.find("r seele "), b = swapped.find("r titamon3 "), e = swapped.find("r CalyxInstitute14 ");
  std::string first = swapped.substr(a, b - a), second = swapped.substr(b, e - b);
  swapped.replace(a, e - a, second + first);
  auto c = Consensus::parse(swapped);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("not sorted"), std::string::npos) << c.error().message();
}

}  // namespace
}  // namespace tc::netdoc
