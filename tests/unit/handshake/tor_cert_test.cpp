// Ed25519 certificates (cert-spec §2.1): parsing, signature and expiry.
#include <gtest/gtest.h>

#include "crypto/crypto.h"
#include "crypto/tor_cert.h"
#include "test_certs.h"

using namespace tc;
using namespace tc::crypto;
using tc::testcerts::Ext;
using tc::testcerts::make_ed_cert;

namespace {
constexpr time_t kNow = 1700000000;                   // 2023-11-14
constexpr uint32_t kExpHours = kNow / 3600 + 24 * 30;  // 30 days ahead
}  // namespace

TEST(TorCert, ParsesFieldsAndVerifies) {
  auto id = Ed25519Keypair::generate();
  auto signing = Ed25519Keypair::generate();
  Bytes enc = make_ed_cert(kCertTypeIdSigning, kExpHours, kCertKeyTypeEd25519, signing.public_key, id, true);
  // Layout check against the spec: 1+1+4+1+32+1 header, one 36-byte extension, 64-byte signature.
  ASSERT_EQ(enc.size(), 40u + 36 + 64);
  EXPECT_EQ(enc[0], 1);
  auto c = parse_tor_cert(enc);
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->cert_type, 4);
  EXPECT_EQ(c->expiration_hours, kExpHours);
  EXPECT_EQ(c->key_type, 1);
  EXPECT_EQ(c->certified_key, signing.public_key);
  ASSERT_TRUE(c->signing_key.has_value());
  EXPECT_EQ(*c->signing_key, id.public_key);
  EXPECT_EQ(c->signed_part, Bytes(enc.begin(), enc.end() - 64));
  EXPECT_TRUE(std::equal(c->signature.begin(), c->signature.end(), enc.end() - 64));
  EXPECT_TRUE(verify_tor_cert(*c, id.public_key, kNow).ok());
  EXPECT_TRUE(verify_tor_cert(*c, {}, kNow).ok());  // with the included key
  // Expiry is in hours: valid through the last second of that hour boundary.
  EXPECT_TRUE(verify_tor_cert(*c, id.public_key, static_cast<time_t>(kExpHours) * 3600).ok());
  auto expired = verify_tor_cert(*c, id.public_key, static_cast<time_t>(kExpHours) * 3600 + 1);
  ASSERT_FALSE(expired.ok());
  EXPECT_NE(expired.error().message().find("expired"), std::string::npos);
}

TEST(TorCert, RefusesBadSignaturesAndKeys) {
  auto id = Ed25519Keypair::generate();
  auto other = Ed25519Keypair::generate();
  auto signing = Ed25519Keypair::generate();
  Bytes enc = make_ed_cert(kCertTypeSigningLink, kExpHours, kCertKeyTypeSha256X509, signing.public_key, id, false);
  auto c = parse_tor_cert(enc);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->signing_key.has_value());
  EXPECT_TRUE(verify_tor_cert(*c, id.public_key, kNow).ok());
  EXPECT_FALSE(verify_tor_cert(*c, other.public_key, kNow).ok());
  EXPECT_FALSE(verify_tor_cert(*c, {}, kNow).ok());  // no key known
  for (size_t i : {size_t{1}, size_t{10}, enc.size() - 1}) {  // type, key, signature
    Bytes bad = enc;
    bad[i] ^= 1;
    auto p = parse_tor_cert(bad);
    ASSERT_TRUE(p.ok());
    auto s = verify_tor_cert(*p, id.public_key, kNow);
    ASSERT_FALSE(s.ok()) << i;
    EXPECT_NE(s.error().message().find("bad signature"), std::string::npos);
  }
  // The included key must be the one that signed.
  Bytes with_key = make_ed_cert(kCertTypeIdSigning, kExpHours, 1, signing.public_key, id, true);
  auto k = parse_tor_cert(with_key);
  ASSERT_TRUE(k.ok());
  EXPECT_FALSE(verify_tor_cert(*k, other.public_key, kNow).ok());
}

TEST(TorCert, ExtensionRules) {
  auto id = Ed25519Keypair::generate();
  Bytes key(32, 5);
  // Unknown extension: ignored unless flagged AFFECTS_VALIDATION.
  auto ok = parse_tor_cert(make_ed_cert(4, kExpHours, 1, key, id, true, {Ext{9, 0, Bytes{1, 2, 3}}}));
  ASSERT_TRUE(ok.ok()) << ok.error().to_string();
  EXPECT_TRUE(verify_tor_cert(*ok, id.public_key, kNow).ok());
  auto refused = parse_tor_cert(make_ed_cert(4, kExpHours, 1, key, id, true, {Ext{9, 1, Bytes{1, 2, 3}}}));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("AFFECTS_VALIDATION"), std::string::npos);
  // Duplicate or wrong-sized signed-with-key extension.
  EXPECT_FALSE(parse_tor_cert(make_ed_cert(4, kExpHours, 1, key, id, true,
                                           {Ext{4, 0, Bytes(id.public_key.begin(), id.public_key.end())}}))
                   .ok());
  EXPECT_FALSE(parse_tor_cert(make_ed_cert(4, kExpHours, 1, key, id, false, {Ext{4, 0, Bytes(31)}})).ok());
}

TEST(TorCert, RefusesMalformedEncodings) {
  auto id = Ed25519Keypair::generate();
  Bytes enc = make_ed_cert(4, kExpHours, 1, Bytes(32, 1), id, true);
  for (size_t n = 0; n < enc.size(); ++n) EXPECT_FALSE(parse_tor_cert(ByteSpan(enc).subspan(0, n)).ok()) << n;
  Bytes longer = enc;
  longer.push_back(0);
  EXPECT_FALSE(parse_tor_cert(longer).ok());
  Bytes v2 = enc;
  v2[0] = 2;
  auto r = parse_tor_cert(v2);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("version 2"), std::string::npos);
  // An extension whose length runs past the end.
  Bytes trunc_ext = enc;
  trunc_ext[40] = 0x7f;  // ExtLength high byte
  auto t = parse_tor_cert(trunc_ext);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message().find("extension 0"), std::string::npos) << t.error().message();
}
