// CERTS cell validation for a client (tor-spec §4.2): a complete valid chain
// built here, each forgery refused, and a CERTS cell captured from a real
// C tor relay.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "crypto/crypto.h"
#include "crypto/link_certs.h"
#include "crypto/tor_cert.h"
#include "test_certs.h"

using namespace tc;
using namespace tc::crypto;
using namespace tc::testcerts;

namespace {
constexpr time_t kNow = 1700000000;
constexpr uint32_t kHoursNow = kNow / 3600;

// One relay's keys and the certificates it would send.
struct Relay {
  PkeyPtr rsa_id = rsa_key(1024);
  PkeyPtr tls_key = rsa_key(1024);  // any key; only its certificate's digest matters
  Ed25519Keypair ed_id = Ed25519Keypair::generate();
  Ed25519Keypair signing = Ed25519Keypair::generate();
  Bytes id_cert, tls_cert, cert4, cert5, cert7;
  Relay() {
    id_cert = make_x509(rsa_id.get(), rsa_id.get(), kNow - 86400, kNow + 365 * 86400, "www.identity.net");
    tls_cert = make_x509(tls_key.get(), rsa_id.get(), kNow - 86400, kNow + 86400);
    cert4 = make_ed_cert(4, kHoursNow + 24 * 30, 1, signing.public_key, ed_id, true);
    auto h = sha256(tls_cert);
    cert5 = make_ed_cert(5, kHoursNow + 48, 3, h, signing, false);
    cert7 = make_crosscert(ed_id.public_key, kHoursNow + 24 * 365, rsa_id.get());
  }
  // The same order C tor uses: 1? 2 4 5 7 (a relay also sends type 1 sometimes).
  Bytes payload() const { return certs_payload({{2, id_cert}, {4, cert4}, {5, cert5}, {7, cert7}}); }
  std::array<uint8_t, 20> rsa_fingerprint() const {
    return sha1(rsa_pkcs1_der(rsa_id.get()));
  }
};

std::string error_of(const Result<RelayLinkIdentity> &r) { return r.ok() ? "(ok)" : r.error().message(); }

Bytes read_file(const std::string &name) {
  std::ifstream f(std::string(TC_HANDSHAKE_TESTDATA) + "/" + name, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), {});
}
}  // namespace

TEST(LinkCerts, ValidChainYieldsIdentities) {
  Relay r;
  auto id = validate_relay_certs(r.payload(), r.tls_cert, kNow);
  ASSERT_TRUE(id.ok()) << id.error().to_string();
  EXPECT_EQ(id->ed_id, r.ed_id.public_key);
  EXPECT_EQ(id->rsa_id, r.rsa_fingerprint());
  // Unknown cert types and trailing octets are ignored (§4.2); so is a type 1.
  Bytes extra = certs_payload({{1, r.tls_cert}, {2, r.id_cert}, {9, Bytes{1, 2}}, {4, r.cert4}, {5, r.cert5},
                               {7, r.cert7}});
  extra.push_back(0xee);
  EXPECT_TRUE(validate_relay_certs(extra, r.tls_cert, kNow).ok()) << error_of(validate_relay_certs(extra, r.tls_cert, kNow));
}

TEST(LinkCerts, RefusesWrongTlsCertificate) {
  Relay r, other;
  auto res = validate_relay_certs(r.payload(), other.tls_cert, kNow);
  ASSERT_FALSE(res.ok());
  EXPECT_NE(error_of(res).find("type 5"), std::string::npos) << error_of(res);
  EXPECT_NE(error_of(res).find("TLS certificate"), std::string::npos);
}

TEST(LinkCerts, RefusesBadSignatures) {
  Relay r;
  auto other = Ed25519Keypair::generate();
  // Type 4 signed by a key other than the one it names.
  {
    Bytes c4 = make_ed_cert(4, kHoursNow + 100, 1, r.signing.public_key, other, false);
    // Splice in an extension naming the real identity: rebuild by hand.
    Bytes forged = make_ed_cert(4, kHoursNow + 100, 1, r.signing.public_key, r.ed_id, true);
    std::copy(c4.end() - 64, c4.end(), forged.end() - 64);
    auto res = validate_relay_certs(certs_payload({{2, r.id_cert}, {4, forged}, {5, r.cert5}, {7, r.cert7}}),
                                    r.tls_cert, kNow);
    ASSERT_FALSE(res.ok());
    EXPECT_NE(error_of(res).find("type 4"), std::string::npos) << error_of(res);
    EXPECT_NE(error_of(res).find("bad signature"), std::string::npos) << error_of(res);
  }
  // Type 5 signed by the identity key instead of the signing key.
  {
    Bytes c5 = make_ed_cert(5, kHoursNow + 48, 3, sha256(r.tls_cert), r.ed_id, false);
    auto res = validate_relay_certs(certs_payload({{2, r.id_cert}, {4, r.cert4}, {5, c5}, {7, r.cert7}}),
                                    r.tls_cert, kNow);
    ASSERT_FALSE(res.ok());
    EXPECT_NE(error_of(res).find("type 5"), std::string::npos) << error_of(res);
    EXPECT_NE(error_of(res).find("bad signature"), std::string::npos) << error_of(res);
  }
  // Type 7 signed by another RSA key.
  {
    auto rsa2 = rsa_key(1024);
    Bytes c7 = make_crosscert(r.ed_id.public_key, kHoursNow + 1000, rsa2.get());
    auto res = validate_relay_certs(certs_payload({{2, r.id_cert}, {4, r.cert4}, {5, r.cert5}, {7, c7}}),
                                    r.tls_cert, kNow);
    ASSERT_FALSE(res.ok());
    EXPECT_NE(error_of(res).find("type 7"), std::string::npos) << error_of(res);
    EXPECT_NE(error_of(res).find("bad RSA signature"), std::string::npos) << error_of(res);
    // A tampered body under the right key.
    Bytes t7 = r.cert7;
    t7[33] ^= 1;  // expiration
    EXPECT_FALSE(validate_relay_certs(certs_payload({{2, r.id_cert}, {4, r.cert4}, {5, r.cert5}, {7, t7}}),
                                      r.tls_cert, kNow)
                     .ok());
  }
  // Type 2 not self-signed (issued by another RSA key).
  {
    auto rsa2 = rsa_key(1024);
    Bytes id2 = make_x509(r.rsa_id.get(), rsa2.get(), kNow - 86400, kNow + 86400);
    auto res = validate_relay_certs(certs_payload({{2, id2}, {4, r.cert4}, {5, r.cert5}, {7, r.cert7}}),
                                    r.tls_cert, kNow);
    ASSERT_FALSE(res.ok());
    EXPECT_NE(error_of(res).find("self-signature"), std::string::npos) << error_of(res);
  }
}

TEST(LinkCerts, RefusesCrossCertForAnotherEd25519Key) {
  Relay r;
  auto other = Ed25519Keypair::generate();
  Bytes c7 = make_crosscert(other.public_key, kHoursNow + 1000, r.rsa_id.get());
  auto res = validate_relay_certs(certs_payload({{2, r.id_cert}, {4, r.cert4}, {5, r.cert5}, {7, c7}}),
                                  r.tls_cert, kNow);
  ASSERT_FALSE(res.ok());
  EXPECT_NE(error_of(res).find("different Ed25519 identity"), std::string::npos) << error_of(res);
}

TEST(LinkCerts, RefusesExpiredCertificates) {
  Relay r;
  // The whole chain is fine now and refused once the type 5 cert (48 h) lapses.
  EXPECT_TRUE(validate_relay_certs(r.payload(), r.tls_cert, kNow + 47 * 3600).ok());
  auto res = validate_relay_certs(r.payload(), r.tls_cert, kNow + 49 * 3600);
  ASSERT_FALSE(res.ok());
  EXPECT_NE(error_of(res).find("type 5"), std::string::npos) << error_of(res);
  EXPECT_NE(error_of(res).find("expired"), std::string::npos);
  // Expired type 4.
  Bytes c4 = make_ed_cert(4, kHoursNow - 1, 1, r.signing.public_key, r.ed_id, true);
  res = validate_relay_certs(certs_payload({{2, r.id_cert}, {4, c4}, {5, r.cert5}, {7, r.cert7}}), r.tls_cert, kNow);
  ASSERT_FALSE(res.ok());
  EXPECT_NE(error_of(res).find("type 4"), std::string::npos) << error_of(res);
  // Expired type 7.
  Bytes c7 = make_crosscert(r.ed_id.public_key, kHoursNow - 1, r.rsa_id.get());
  res = validate_relay_certs(certs_payload({{2, r.id_cert}, {4, r.cert4}, {5, r.cert5}, {7, c7}}), r.tls_cert, kNow);
  ASSERT_FALSE(res.ok());
  EXPECT_NE(error_of(res).find("type 7"), std::string::npos) << error_of(res);
  EXPECT_NE(error_of(res).find("expired"), std::string::npos);
  // X.509 identity cert: 2 days of slop after notAfter, then refused.
  Bytes id_old = make_x509(r.rsa_id.get(), r.rsa_id.get(), kNow - 10 * 86400, kNow - 86400);
  EXPECT_TRUE(validate_relay_certs(certs_payload({{2, id_old}, {4, r.cert4}, {5, r.cert5}, {7, r.cert7}}),
                                   r.tls_cert, kNow)
                  .ok());
  Bytes id_expired = make_x509(r.rsa_id.get(), r.rsa_id.get(), kNow - 10 * 86400, kNow - 3 * 86400);
  res = validate_relay_certs(certs_payload({{2, id_expired}, {4, r.cert4}, {5, r.cert5}, {7, r.cert7}}),
                             r.tls_cert, kNow);
  ASSERT_FALSE(res.ok());
  EXPECT_NE(error_of(res).find("type 2"), std::string::npos) << error_of(res);
  EXPECT_NE(error_of(res).find("expired"), std::string::npos);
  Bytes id_future = make_x509(r.rsa_id.get(), r.rsa_id.get(), kNow + 31 * 86400, kNow + 60 * 86400);
  res = validate_relay_certs(certs_payload({{2, id_future}, {4, r.cert4}, {5, r.cert5}, {7, r.cert7}}),
                             r.tls_cert, kNow);
  ASSERT_FALSE(res.ok());
  EXPECT_NE(error_of(res).find("not yet valid"), std::string::npos) << error_of(res);
}

TEST(LinkCerts, RefusesMissingAndDuplicatedCertificates) {
  Relay r;
  std::vector<std::pair<uint8_t, Bytes>> all{{2, r.id_cert}, {4, r.cert4}, {5, r.cert5}, {7, r.cert7}};
  for (size_t skip = 0; skip < all.size(); ++skip) {
    auto some = all;
    some.erase(some.begin() + static_cast<std::ptrdiff_t>(skip));
    auto res = validate_relay_certs(certs_payload(some), r.tls_cert, kNow);
    ASSERT_FALSE(res.ok());
    EXPECT_NE(error_of(res).find("missing"), std::string::npos) << error_of(res);
    EXPECT_NE(error_of(res).find("type " + std::to_string(all[skip].first)), std::string::npos) << error_of(res);
  }
  for (size_t dup = 0; dup < all.size(); ++dup) {
    auto more = all;
    more.push_back(all[dup]);
    auto res = validate_relay_certs(certs_payload(more), r.tls_cert, kNow);
    ASSERT_FALSE(res.ok());
    EXPECT_NE(error_of(res).find("duplicate certificate of type " + std::to_string(all[dup].first)),
              std::string::npos)
        << error_of(res);
  }
  EXPECT_FALSE(validate_relay_certs({}, r.tls_cert, kNow).ok());
}

TEST(LinkCerts, RefusesWrongKeyTypesAndSlots) {
  Relay r;
  // A 2048-bit RSA identity.
  auto big = rsa_key(2048);
  Bytes id_big = make_x509(big.get(), big.get(), kNow - 86400, kNow + 86400);
  Bytes c7 = make_crosscert(r.ed_id.public_key, kHoursNow + 1000, big.get());
  auto res = validate_relay_certs(certs_payload({{2, id_big}, {4, r.cert4}, {5, r.cert5}, {7, c7}}), r.tls_cert, kNow);
  ASSERT_FALSE(res.ok());
  EXPECT_NE(error_of(res).find("2048 bits"), std::string::npos) << error_of(res);
  // The type 4 and type 5 certs swapped between slots.
  res = validate_relay_certs(certs_payload({{2, r.id_cert}, {4, r.cert5}, {5, r.cert4}, {7, r.cert7}}), r.tls_cert,
                             kNow);
  ASSERT_FALSE(res.ok());
  EXPECT_NE(error_of(res).find("says type"), std::string::npos) << error_of(res);
  // Truncated payloads never validate and never read past the end.
  Bytes p = r.payload();
  for (size_t n = 0; n < p.size(); n += 7) EXPECT_FALSE(validate_relay_certs(ByteSpan(p).subspan(0, n), r.tls_cert, kNow).ok());
}

// A CERTS cell captured from a C tor 0.4.9.11 relay on loopback (see
// data/README.md). The expected identities come from the relay's own
// `fingerprint` and `fingerprint-ed25519` files.
TEST(LinkCerts, RealRelayCertsCell) {
  Bytes certs = read_file("certs_cell.bin");
  Bytes tls = read_file("tls_cert.der");
  Bytes when = read_file("capture_time.txt");
  ASSERT_FALSE(certs.empty());
  ASSERT_FALSE(tls.empty());
  time_t now = static_cast<time_t>(std::stoll(std::string(when.begin(), when.end())));
  auto entries = parse_certs_cell(certs);
  ASSERT_TRUE(entries.ok());
  std::vector<int> types;
  for (auto &e : *entries) types.push_back(e.cert_type);
  EXPECT_EQ(types, (std::vector<int>{1, 2, 4, 5, 7}));
  auto id = validate_relay_certs(certs, tls, now);
  ASSERT_TRUE(id.ok()) << id.error().to_string();
  EXPECT_EQ(hex_encode(id->rsa_id, true), "3553855D8F2E5CDAFCD55916EC7994F1CC0C79A6");
  EXPECT_EQ(base64_encode(id->ed_id, false), "2IegmPAu1r4N0uFlnn4nZ00I7BEgfeN7BL5Ap/Kn8Iw");
  // The relay's type 5 cert: key type 03 (SHA-256 of X.509), short-lived.
  for (auto &e : *entries) {
    if (e.cert_type != 5) continue;
    auto c = parse_tor_cert(e.body);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->key_type, kCertKeyTypeSha256X509);
    EXPECT_GT(c->expires_at(), static_cast<int64_t>(now));
    // Long after capture the link cert has expired.
    auto later = validate_relay_certs(certs, tls, static_cast<time_t>(c->expires_at()) + 1);
    ASSERT_FALSE(later.ok());
    EXPECT_NE(error_of(later).find("expired"), std::string::npos) << error_of(later);
  }
  // A different TLS certificate is refused.
  Bytes tls2 = tls;
  tls2[tls2.size() - 1] ^= 1;
  EXPECT_FALSE(validate_relay_certs(certs, tls2, now).ok());
}
