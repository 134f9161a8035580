#include "netdoc/tokenize.h"

#include <gtest/gtest.h>

#include "netdoc/protover.h"

namespace tc::netdoc {
namespace {

std::vector<Item> tokenize_all(std::string_view text, TokenizerOptions opts = {}) {
  Tokenizer t(text, opts);
  std::vector<Item> out;
  Item it;
  for (;;) {
    auto r = t.next(it);
    EXPECT_TRUE(r.ok()) << r.error().to_string();
    if (!r.ok() || !*r) break;
    out.push_back(it);
  }
  return out;
}

Error tokenize_error(std::string_view text) {
  Tokenizer t(text);
  Item it;
  for (;;) {
    auto r = t.next(it);
    if (!r.ok()) return r.error();
    if (!*r) return Error(ErrorKind::kInternal, "no error");
  }
}

TEST(Tokenizer, ItemsArgumentsAndObjects) {
  const std::string doc =
      "first-item a  b\tc\n"
      "\n"
      "key\n"
      "-----BEGIN RSA PUBLIC KEY-----\n"
      "AAEC\n"
      "AwQ=\n"
      "-----END RSA PUBLIC KEY-----\n"
      "last 1\n";
  auto items = tokenize_all(doc);
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].keyword, "first-item");
  EXPECT_EQ(items[0].args, "a  b\tc");
  EXPECT_EQ(items[0].split_args(), (std::vector<std::string_view>{"a", "b", "c"}));
  EXPECT_EQ(items[0].line, 1u);
  EXPECT_FALSE(items[0].has_object());
  EXPECT_EQ(items[1].keyword, "key");
  EXPECT_EQ(items[1].line, 3u);
  EXPECT_EQ(items[1].object_label, "RSA PUBLIC KEY");
  auto bytes = items[1].object_bytes();
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, (Bytes{0, 1, 2, 3, 4}));
  EXPECT_EQ(doc.substr(items[1].start, items[1].line_end - items[1].start), "key\n");
  EXPECT_EQ(doc.substr(items[1].end, 7), "last 1\n");
  EXPECT_EQ(items[2].line, 8u);
  EXPECT_EQ(items[2].end, doc.size());
}

TEST(Tokenizer, AnnotationsOnlyWhenAllowed) {
  const std::string doc = "@last-listed 2022-11-19 10:11:43\nonion-key\n";
  auto items = tokenize_all(doc, {.allow_annotations = true});
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].keyword, "@last-listed");
  Error e = tokenize_error(doc);
  EXPECT_NE(e.message().find("line 1"), std::string::npos) << e.message();
}

TEST(Tokenizer, ErrorsNameTheLine) {
  struct Case {
    const char *doc;
    const char *expect;
  } cases[] = {
      {"a\nb\nc", "line 3: last line has no newline"},
      {"a\nb\n-----BEGIN X-----\nAAAA\n", "line 3: object 'X' has no END line"},
      {"a\nb\n-----BEGIN X-----\nAAAA\n-----END Y-----\n", "line 5: object END line"},
      {"ok\nbad_keyword x\n", "line 2: bad character in keyword"},
      {"ok\n-----BEGIN X-----\n-----END X-----\n-----BEGIN X-----\n", "line 4: object"},
      {"ok\n\n  \n!\n", "line 4: line does not start with a keyword"},
  };
  for (const Case &c : cases) {
    Error e = tokenize_error(c.doc);
    EXPECT_EQ(e.kind(), ErrorKind::kMalformed);
    EXPECT_NE(e.message().find(c.expect), std::string::npos) << c.doc << " -> " << e.message();
  }
}

TEST(Tokenizer, SectionRulesEnforceMultiplicity) {
  static constexpr KeywordRule rules[] = {
      {"once", 1, 1, 1, ObjectRule::kNone},
      {"maybe", 0, 1, 0, ObjectRule::kNone},
      {"obj", 0, KeywordRule::kAny, 0, ObjectRule::kRequired},
  };
  auto run = [&](std::string_view doc) -> Status {
    SectionChecker chk(rules, "test section");
    Tokenizer t(doc);
    Item it;
    for (;;) {
      TC_TRY(bool more, t.next(it));
      if (!more) break;
      TC_TRY(int idx, chk.see(it));
      (void)idx;
    }
    return chk.finish(t.line());
  };
  EXPECT_TRUE(run("once x\nunknown-thing is ignored\nmaybe\n").ok());
  Status s = run("maybe\n");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("missing required 'once'"), std::string::npos) << s.error().message();
  s = run("once 1\nonce 2\n");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("line 2 (once)"), std::string::npos) << s.error().message();
  s = run("once\n");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("at least 1 argument"), std::string::npos) << s.error().message();
  s = run("once 1\nobj\n");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("line 2 (obj): missing the object"), std::string::npos) << s.error().message();
  s = run("once 1\n-----BEGIN X-----\n-----END X-----\n");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("unexpected object"), std::string::npos) << s.error().message();
}

TEST(Time, ParseAndFormat) {
  // Independent value: python calendar.timegm((2022,11,19,10,0,0)).
  auto t = parse_iso_time("2022-11-19 10:00:00");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, 1668852000);
  EXPECT_EQ(format_iso_time(1668852000), "2022-11-19 10:00:00");
  EXPECT_EQ(*parse_iso_time("1970-01-01", "00:00:00"), 0);
  EXPECT_EQ(*parse_iso_time("2000-02-29 23:59:59"), 951868799);
  EXPECT_FALSE(parse_iso_time("2022-02-29 00:00:00").ok());
  EXPECT_FALSE(parse_iso_time("2022-13-01 00:00:00").ok());
  EXPECT_FALSE(parse_iso_time("2022-11-19 24:00:00").ok());
  EXPECT_FALSE(parse_iso_time("2022-11-1910:00:00").ok());
  EXPECT_FALSE(parse_iso_time("22-11-19 10:00:00").ok());
}

TEST(Decoders, FixedSize) {
  // "AAoQ1DAR6kkoo19hBAX5K0QztNw" is the identity of relay "seele".
  auto id = base64_array<20>("AAoQ1DAR6kkoo19hBAX5K0QztNw");
  ASSERT_TRUE(id);
  EXPECT_EQ(hex_encode(*id, true), "000A10D43011EA4928A35F610405F92B4433B4DC");
  EXPECT_TRUE(base64_array<20>("AAoQ1DAR6kkoo19hBAX5K0QztNw="));
  EXPECT_FALSE(base64_array<20>("AAoQ1DAR6kkoo19hBAX5K0QztN"));
  EXPECT_FALSE(base64_array<20>("AAoQ1DAR6kkoo19hBAX5K0QztN!"));
  EXPECT_FALSE(base64_array<20>("AAoQ1DAR6kkoo19hBAX5K0QztNx"));  // non-zero leftover bits
  EXPECT_TRUE(hex_array<2>("aB09"));
  EXPECT_FALSE(hex_array<2>("aB0"));
  uint32_t a;
  EXPECT_TRUE(parse_ipv4("104.53.221.159", &a));
  EXPECT_EQ(a, 0x6835dd9fu);
  EXPECT_FALSE(parse_ipv4("104.53.221", &a));
  EXPECT_FALSE(parse_ipv4("104.53.221.256", &a));
  EXPECT_FALSE(parse_ipv4("104.53.221.1.", &a));
  AddrPort ap;
  EXPECT_TRUE(parse_addr_port("[2a0b:f4c2:2::33]:10133", &ap));
  EXPECT_TRUE(ap.is_ipv6);
  EXPECT_EQ(ap.port, 10133);
  EXPECT_EQ(format_ipv6(ap.ipv6), "2a0b:f4c2:2::33");
  EXPECT_FALSE(parse_addr_port("[2a0b:f4c2:2::33]:70000", &ap));
  EXPECT_FALSE(parse_addr_port("2a0b:f4c2:2::33", &ap));
}

TEST(Protocols, ParseAndQuery) {
  auto p = Protocols::parse("Cons=1-2 Desc=1-2 Link=1-5 LinkAuth=1,3 Relay=1-4 Future=7,9-10");
  ASSERT_TRUE(p.ok()) << p.error().to_string();
  EXPECT_TRUE(p->supports(Protocol::kRelay, 4));
  EXPECT_FALSE(p->supports(Protocol::kRelay, 5));
  EXPECT_TRUE(p->supports(Protocol::kLinkAuth, 3));
  EXPECT_FALSE(p->supports(Protocol::kLinkAuth, 2));
  EXPECT_TRUE(p->supports("Link", 5));
  EXPECT_TRUE(p->supports("Future", 10));
  EXPECT_FALSE(p->supports("Future", 8));
  EXPECT_FALSE(p->supports("Absent", 1));
  EXPECT_EQ(p->versions(Protocol::kLink), 0x3eu);
  EXPECT_EQ(p->to_string(), "Cons=1-2 Desc=1-2 Link=1-5 LinkAuth=1,3 Relay=1-4 Future=7,9-10");
  auto req = Protocols::parse("Link=4-6 Relay=2 Future=9");
  ASSERT_TRUE(req.ok());
  std::string missing;
  EXPECT_FALSE(p->supports_all(*req, &missing));
  EXPECT_EQ(missing, "Link=6");
  EXPECT_FALSE(Protocols::parse("Link=5-1").ok());
  EXPECT_FALSE(Protocols::parse("Link=64").ok());
  EXPECT_FALSE(Protocols::parse("Link").ok());
  EXPECT_FALSE(Protocols::parse("Link=1,").ok());
  EXPECT_TRUE(Protocols::parse("Link=0-63").ok());
}

}  // namespace
}  // namespace tc::netdoc
