#include "netdoc/authority.h"

#include <gtest/gtest.h>

#include "testdata.h"

namespace tc::netdoc {
namespace {

TEST(DirAuthority, TorDefaultLines) {
  std::vector<DirAuthority> auths;
  for (const char *l : testing::kAuthorityLines) {
    auto a = DirAuthority::parse(l);
    ASSERT_TRUE(a.ok()) << l << ": " << a.error().to_string();
    auths.push_back(std::move(a).value());
  }
  const DirAuthority &moria = auths[0];
  EXPECT_EQ(moria.nickname, "moria1");
  EXPECT_EQ(moria.address, "128.31.0.39");
  EXPECT_EQ(format_ipv4(moria.ipv4), "128.31.0.39");
  EXPECT_EQ(moria.dir_port, 9131);
  EXPECT_EQ(moria.or_port, 9101);
  ASSERT_TRUE(moria.v3ident);
  EXPECT_EQ(hex_encode(*moria.v3ident, true), "D586D18309DED4CD6D57C18FDB97EFA96D330566");
  EXPECT_EQ(hex_encode(moria.rsa_identity, true), "9695DFC35FFEB861329B9F1AB04C46397020CE31");
  EXPECT_FALSE(moria.ipv6);
  EXPECT_FALSE(moria.bridge);
  const DirAuthority &serge = auths[3];
  EXPECT_TRUE(serge.bridge);
  EXPECT_FALSE(serge.v3ident);
  const DirAuthority &gabelmoo = auths[4];
  ASSERT_TRUE(gabelmoo.ipv6);
  EXPECT_EQ(format_ipv6(gabelmoo.ipv6->ipv6), "2001:638:a000:4140::ffff:189");
  EXPECT_EQ(gabelmoo.ipv6->port, 443);
  EXPECT_EQ(v3_identities(auths).size(), 9u);
  // Round trip.
  auto again = DirAuthority::parse(gabelmoo.to_string());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->rsa_identity, gabelmoo.rsa_identity);
  EXPECT_EQ(again->v3ident, gabelmoo.v3ident);
  EXPECT_EQ(again->or_port, 443);
}

TEST(DirAuthority, FlagsAndTestNetworkForm) {
  auto a = DirAuthority::parse(
      "test000a orport=5000 no-v2 hs weight=3 future-flag v3ident=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA "
      "127.0.0.1:7000 0123456789ABCDEF0123456789ABCDEF01234567");
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  EXPECT_EQ(a->nickname, "test000a");
  EXPECT_FALSE(a->v2);
  EXPECT_EQ(a->weight, 3.0);
  EXPECT_EQ(a->unknown_flags, std::vector<std::string>{"future-flag"});
  EXPECT_EQ(a->dir_port, 7000);
  // Without a nickname: refused (a first flag like "bridge" would otherwise
  // read back as the nickname; fuzz/regressions/fuzz_dirauthority).
  auto b = DirAuthority::parse("orport=1 127.0.0.1:2 0123456789ABCDEF0123456789ABCDEF01234567");
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().message().find("nickname"), std::string::npos) << b.error().message();
}

TEST(DirAuthority, ErrorsNameTheToken) {
  struct Case {
    const char *line;
    const char *token;
  } cases[] = {
      {"x orport=99999 1.2.3.4:80 0123456789ABCDEF0123456789ABCDEF01234567", "'orport=99999'"},
      {"x v3ident=ABC 1.2.3.4:80 0123456789ABCDEF0123456789ABCDEF01234567", "'v3ident=ABC'"},
      {"x ipv6=1.2.3.4:5 1.2.3.4:80 0123456789ABCDEF0123456789ABCDEF01234567", "'ipv6=1.2.3.4:5'"},
      {"x host.example:80 0123456789ABCDEF0123456789ABCDEF01234567", "'host.example:80'"},
      {"x 1.2.3.4:0 0123456789ABCDEF0123456789ABCDEF01234567", "'1.2.3.4:0'"},
      {"x 1.2.3.4:80 0123 4567", "'01234567'"},
      {"x 1.2.3.4:80", "missing fingerprint"},
      {"x orport=1", "missing address:dirport"},
      {"", "empty"},
  };
  for (const Case &c : cases) {
    auto a = DirAuthority::parse(c.line);
    ASSERT_FALSE(a.ok()) << c.line;
    EXPECT_NE(a.error().message().find(c.token), std::string::npos) << c.line << " -> " << a.error().message();
  }
}

}  // namespace
}  // namespace tc::netdoc
