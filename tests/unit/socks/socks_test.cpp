// SOCKS handshake tests. Expected bytes are written out by hand from
// RFC 1928 / RFC 1929 / the SOCKS4(a) layout, not produced by the code under test.
#include <gtest/gtest.h>

#include <string>

#include "socks/socks.h"

using namespace tc;
using namespace tc::socks;

namespace {

Bytes B(std::initializer_list<int> v) {
  Bytes b;
  for (int x : v) b.push_back(static_cast<uint8_t>(x));
  return b;
}
Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (auto &p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
Bytes S(std::string_view s) { return Bytes(s.begin(), s.end()); }

struct Outcome {
  bool ok = false;
  bool done = false;
  Bytes replies;  // everything sent to the client, including a failure reply
  Request req;
  Bytes leftover;
  std::string error;
};

// Feed `input` cut at the given offsets.
Outcome run(const Bytes &input, const std::vector<size_t> &cuts = {}) {
  Handshake hs;
  Outcome o;
  size_t pos = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(input.size());
  for (size_t end : ends) {
    auto step = hs.feed(ByteSpan(input.data() + pos, end - pos));
    pos = end;
    if (!step) {
      o.error = step.error().message();
      o.replies.insert(o.replies.end(), hs.failure_reply().begin(), hs.failure_reply().end());
      return o;
    }
    o.replies.insert(o.replies.end(), step->reply.begin(), step->reply.end());
    if (step->done) {
      o.done = true;
      o.req = hs.request();
      // Anything fed in later chunks would be an error; collect the remainder now.
      Bytes rest(input.begin() + static_cast<ptrdiff_t>(pos), input.end());
      o.leftover = hs.take_leftover();
      o.leftover.insert(o.leftover.end(), rest.begin(), rest.end());
      o.ok = true;
      return o;
    }
  }
  o.ok = true;
  return o;
}

// Every single split point and byte-at-a-time give the same result as one feed.
void expect_split_invariant(const Bytes &input) {
  Outcome whole = run(input);
  std::vector<size_t> all;
  for (size_t i = 1; i < input.size(); ++i) all.push_back(i);
  Outcome bytewise = run(input, all);
  EXPECT_EQ(bytewise.ok, whole.ok);
  EXPECT_EQ(bytewise.done, whole.done);
  EXPECT_EQ(bytewise.replies, whole.replies);
  EXPECT_EQ(bytewise.leftover, whole.leftover);
  EXPECT_EQ(bytewise.error, whole.error);
  for (size_t i = 1; i < input.size(); ++i) {
    Outcome two = run(input, {i});
    EXPECT_EQ(two.ok, whole.ok) << "split at " << i;
    EXPECT_EQ(two.done, whole.done) << "split at " << i;
    EXPECT_EQ(two.replies, whole.replies) << "split at " << i;
    EXPECT_EQ(two.leftover, whole.leftover) << "split at " << i;
    if (whole.done) {
      EXPECT_EQ(two.req.address, whole.req.address);
      EXPECT_EQ(two.req.port, whole.req.port);
      EXPECT_EQ(two.req.auth, whole.req.auth);
    }
  }
}

const Bytes kNoAuthGreeting = B({5, 1, 0});
const Bytes kConnectHost = cat({B({5, 1, 0, 3, 11}), S("example.com"), B({0x01, 0xBB})});

}  // namespace

TEST(Socks5, NoAuthConnectHostname) {
  Bytes in = cat({kNoAuthGreeting, kConnectHost});
  Outcome o = run(in);
  ASSERT_TRUE(o.ok) << o.error;
  ASSERT_TRUE(o.done);
  EXPECT_EQ(o.replies, B({5, 0}));
  EXPECT_EQ(o.req.version, 5);
  EXPECT_EQ(o.req.command, Command::kConnect);
  EXPECT_TRUE(o.req.address.is_hostname());
  EXPECT_EQ(o.req.address.hostname, "example.com");
  EXPECT_EQ(o.req.port, 443);
  EXPECT_FALSE(o.req.auth.has_value());
  EXPECT_TRUE(o.leftover.empty());
  expect_split_invariant(in);
}

TEST(Socks5, WaitsForMoreAndRepliesToGreetingFirst) {
  Handshake hs;
  auto s1 = hs.feed(kNoAuthGreeting);
  ASSERT_TRUE(s1);
  EXPECT_EQ(s1->reply, B({5, 0}));
  EXPECT_FALSE(s1->done);
  auto s2 = hs.feed(ByteSpan(kConnectHost.data(), 7));
  ASSERT_TRUE(s2);
  EXPECT_TRUE(s2->reply.empty());
  EXPECT_FALSE(s2->done);
  auto s3 = hs.feed(ByteSpan(kConnectHost.data() + 7, kConnectHost.size() - 7));
  ASSERT_TRUE(s3);
  EXPECT_TRUE(s3->done);
  EXPECT_TRUE(hs.done());
  // Feeding after completion is refused.
  EXPECT_FALSE(hs.feed(B({1})));
}

TEST(Socks5, UserPassPreferredAndIsolates) {
  // Client offers both no-auth and user/pass: we must pick 0x02 (tor does).
  Bytes in = cat({B({5, 2, 0, 2}), B({1, 5}), S("alice"), B({6}), S("s3cret"),
                  B({5, 1, 0, 1, 93, 184, 216, 34, 0, 80})});
  Outcome o = run(in);
  ASSERT_TRUE(o.done) << o.error;
  EXPECT_EQ(o.replies, B({5, 2, 1, 0}));
  ASSERT_TRUE(o.req.auth.has_value());
  EXPECT_EQ(o.req.auth->username, "alice");
  EXPECT_EQ(o.req.auth->password, "s3cret");
  EXPECT_EQ(o.req.address, Address::ipv4({93, 184, 216, 34}));
  EXPECT_EQ(o.req.address.to_string(), "93.184.216.34");
  EXPECT_EQ(o.req.port, 80);
  expect_split_invariant(in);
}

TEST(Socks5, EmptyUserPassAllowed) {
  // socks-extensions.txt §1.1: empty username/password fields are accepted.
  Bytes in = cat({B({5, 1, 2}), B({1, 0, 0}), kConnectHost});
  Outcome o = run(in);
  ASSERT_TRUE(o.done) << o.error;
  EXPECT_EQ(o.replies, B({5, 2, 1, 0}));
  ASSERT_TRUE(o.req.auth.has_value());
  EXPECT_EQ(o.req.auth->username, "");
  EXPECT_EQ(o.req.auth->password, "");
}

TEST(Socks5, UserPassAfterNoAuthTolerated) {
  // socks-extensions.txt §1.1: broken clients send the auth message even
  // though no-auth was selected.
  Bytes in = cat({kNoAuthGreeting, B({1, 1}), S("u"), B({1}), S("p"), kConnectHost});
  Outcome o = run(in);
  ASSERT_TRUE(o.done) << o.error;
  EXPECT_EQ(o.replies, B({5, 0, 1, 0}));
  ASSERT_TRUE(o.req.auth.has_value());
  EXPECT_EQ(o.req.auth->username, "u");
  EXPECT_EQ(o.req.auth->password, "p");
  expect_split_invariant(in);
}

TEST(Socks5, MaximalUserPass) {
  std::string u(255, 'u'), p(255, 'p');
  Bytes in = cat({B({5, 1, 2}), B({1, 255}), S(u), B({255}), S(p), kConnectHost});
  Outcome o = run(in);
  ASSERT_TRUE(o.done) << o.error;
  EXPECT_EQ(o.req.auth->username, u);
  EXPECT_EQ(o.req.auth->password, p);
}

TEST(Socks5, Ipv6Connect) {
  Bytes in = cat({kNoAuthGreeting, B({5, 1, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                      0, 0, 1, 0x1F, 0x90})});
  Outcome o = run(in);
  ASSERT_TRUE(o.done) << o.error;
  EXPECT_EQ(o.req.address.type, Address::Type::kIpv6);
  EXPECT_EQ(o.req.address.to_string(), "2001:db8::1");
  EXPECT_EQ(o.req.port, 8080);
  expect_split_invariant(in);
}

TEST(Socks5, PipelinedDataPreserved) {
  Bytes http = S("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
  Bytes in = cat({kNoAuthGreeting, kConnectHost, http});
  Outcome o = run(in);
  ASSERT_TRUE(o.done);
  EXPECT_EQ(o.leftover, http);
  expect_split_invariant(in);
  // Huge optimistic data in the same read is not "buffered input".
  Bytes big(10000, 'x');
  Outcome o2 = run(cat({kNoAuthGreeting, kConnectHost, big}));
  ASSERT_TRUE(o2.done) << o2.error;
  EXPECT_EQ(o2.leftover, big);
}

TEST(Socks5, Resolve) {
  Bytes in = cat({kNoAuthGreeting, B({5, 0xF0, 0, 3, 11}), S("example.com"), B({0, 0})});
  Outcome o = run(in);
  ASSERT_TRUE(o.done) << o.error;
  EXPECT_EQ(o.req.command, Command::kResolve);
  EXPECT_EQ(o.req.address.hostname, "example.com");
  Bytes ok4 = resolve_reply(o.req, Address::ipv4({93, 184, 216, 34}));
  EXPECT_EQ(ok4, B({5, 0, 0, 1, 93, 184, 216, 34, 0, 0}));
  std::array<uint8_t, 16> v6{};
  v6[0] = 0x20;
  v6[15] = 1;
  Bytes ok6 = resolve_reply(o.req, Address::ipv6(v6));
  EXPECT_EQ(ok6, B({5, 0, 0, 4, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0}));
  EXPECT_EQ(resolve_failed_reply(o.req), B({5, 4, 0, 1, 0, 0, 0, 0, 0, 0}));
}

TEST(Socks5, ResolvePtr) {
  Bytes in = cat({kNoAuthGreeting, B({5, 0xF1, 0, 1, 8, 8, 4, 4, 0, 0})});
  Outcome o = run(in);
  ASSERT_TRUE(o.done) << o.error;
  EXPECT_EQ(o.req.command, Command::kResolvePtr);
  EXPECT_EQ(o.req.address, Address::ipv4({8, 8, 4, 4}));
  Bytes ans = resolve_reply(o.req, Address::host("dns.google"));
  EXPECT_EQ(ans, cat({B({5, 0, 0, 3, 10}), S("dns.google"), B({0, 0})}));
}

TEST(Socks5, UnsupportedCommandGets07) {
  for (int cmd : {0x02, 0x03, 0x04, 0xF2}) {
    Outcome o = run(cat({kNoAuthGreeting, B({5, cmd, 0, 1, 1, 2, 3, 4, 0, 80})}));
    EXPECT_FALSE(o.ok);
    EXPECT_EQ(o.replies, cat({B({5, 0}), B({5, 7, 0, 1, 0, 0, 0, 0, 0, 0})})) << cmd;
    EXPECT_NE(o.error.find("unsupported SOCKS5 command"), std::string::npos) << o.error;
  }
}

TEST(Socks5, UnsupportedAddressTypeGets08) {
  Outcome o = run(cat({kNoAuthGreeting, B({5, 1, 0, 0x07, 1, 2, 3, 4, 0, 80})}));
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.replies, cat({B({5, 0}), B({5, 8, 0, 1, 0, 0, 0, 0, 0, 0})}));
  EXPECT_NE(o.error.find("address type 0x07"), std::string::npos) << o.error;
}

TEST(Socks5, EmptyHostnameRejected) {
  Outcome o = run(cat({kNoAuthGreeting, B({5, 1, 0, 3, 0, 0, 80})}));
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.replies, cat({B({5, 0}), B({5, 1, 0, 1, 0, 0, 0, 0, 0, 0})}));
  EXPECT_NE(o.error.find("empty hostname"), std::string::npos);
}

TEST(Socks5, ControlCharsInHostnameRejected) {
  Outcome o = run(cat({kNoAuthGreeting, B({5, 1, 0, 3, 3, 'a', 0, 'b', 0, 80})}));
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.replies, cat({B({5, 0}), B({5, 1, 0, 1, 0, 0, 0, 0, 0, 0})}));
}

TEST(Socks5, NoAcceptableMethod) {
  // Only GSSAPI (0x01) offered.
  Outcome o = run(B({5, 1, 1}));
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.replies, B({5, 0xFF}));
  // Zero methods.
  Outcome z = run(B({5, 0}));
  EXPECT_FALSE(z.ok);
  EXPECT_EQ(z.replies, B({5, 0xFF}));
}

TEST(Socks5, BadAuthVersion) {
  Outcome o = run(cat({B({5, 1, 2}), B({5, 1, 0, 1})}));
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.replies, B({5, 2, 1, 1}));
}

TEST(Socks5, BadRequestVersion) {
  Outcome o = run(cat({kNoAuthGreeting, B({4, 1, 0, 1, 1, 2, 3, 4, 0, 80})}));
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.replies, cat({B({5, 0}), B({5, 1, 0, 1, 0, 0, 0, 0, 0, 0})}));
}

TEST(Socks, HttpRequestGetsHtmlPage) {
  for (const char *req : {"GET / HTTP/1.1\r\n", "CONNECT example.com:443 HTTP/1.1\r\n", "POST /",
                          "HEAD /", "PUT /"}) {
    Outcome o = run(S(req));
    EXPECT_FALSE(o.ok);
    std::string reply(o.replies.begin(), o.replies.end());
    EXPECT_EQ(reply.rfind("HTTP/1.0 501 ", 0), 0u) << req;
    EXPECT_NE(o.error.find("HTTP"), std::string::npos);
  }
}

TEST(Socks, JunkVersionRejectedSilently) {
  // A TLS ClientHello (0x16) and a NUL byte: no SOCKS dialect to answer in.
  for (int v : {0x16, 0x00, 0x06, int{'x'}}) {
    Outcome o = run(B({v, 1, 2, 3}));
    EXPECT_FALSE(o.ok);
    EXPECT_TRUE(o.replies.empty());
    EXPECT_NE(o.error.find("version byte"), std::string::npos) << o.error;
  }
}

TEST(Socks, FeedAfterFailureRefused) {
  Handshake hs;
  EXPECT_FALSE(hs.feed(B({0x16})));
  EXPECT_TRUE(hs.failed());
  EXPECT_FALSE(hs.feed(B({5})));
}

TEST(Socks4, ConnectIpv4WithUserId) {
  Bytes in = cat({B({4, 1, 0, 80, 10, 0, 0, 1}), S("bob"), B({0}), S("data")});
  Outcome o = run(in);
  ASSERT_TRUE(o.done) << o.error;
  EXPECT_TRUE(o.replies.empty());
  EXPECT_EQ(o.req.version, 4);
  EXPECT_FALSE(o.req.socks4a);
  EXPECT_EQ(o.req.address, Address::ipv4({10, 0, 0, 1}));
  EXPECT_EQ(o.req.port, 80);
  ASSERT_TRUE(o.req.auth.has_value());
  EXPECT_EQ(o.req.auth->username, "bob");
  EXPECT_EQ(o.leftover, S("data"));
  EXPECT_EQ(connect_reply(o.req, Socks5Reply::kSucceeded), B({0, 0x5A, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(connect_reply(o.req, Socks5Reply::kConnectionRefused), B({0, 0x5B, 0, 0, 0, 0, 0, 0}));
  expect_split_invariant(in);
}

TEST(Socks4, EmptyUserIdMeansNoAuth) {
  Outcome o = run(B({4, 1, 0, 80, 10, 0, 0, 1, 0}));
  ASSERT_TRUE(o.done);
  EXPECT_FALSE(o.req.auth.has_value());
}

TEST(Socks4a, Hostname) {
  Bytes in = cat({B({4, 1, 0x01, 0xBB, 0, 0, 0, 1}), B({0}), S("example.com"), B({0})});
  Outcome o = run(in);
  ASSERT_TRUE(o.done) << o.error;
  EXPECT_TRUE(o.req.socks4a);
  EXPECT_EQ(o.req.address, Address::host("example.com"));
  EXPECT_EQ(o.req.port, 443);
  expect_split_invariant(in);
}

TEST(Socks4a, ResolveReply) {
  Outcome o = run(cat({B({4, 0xF0, 0, 0, 0, 0, 0, 9}), S("u"), B({0}), S("example.com"), B({0})}));
  ASSERT_TRUE(o.done) << o.error;
  EXPECT_EQ(o.req.command, Command::kResolve);
  EXPECT_EQ(resolve_reply(o.req, Address::ipv4({1, 2, 3, 4})), B({0, 0x5A, 0, 0, 1, 2, 3, 4}));
  // SOCKS4 cannot carry an IPv6 answer: rejected, as tor does.
  EXPECT_EQ(resolve_reply(o.req, Address::ipv6({})), B({0, 0x5B, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(resolve_failed_reply(o.req), B({0, 0x5B, 0, 0, 0, 0, 0, 0}));
}

TEST(Socks4, UnsupportedCommandRejected) {
  for (int cmd : {2, 0xF1, 0}) {
    Outcome o = run(B({4, cmd, 0, 80, 1, 2, 3, 4, 0}));
    EXPECT_FALSE(o.ok);
    EXPECT_EQ(o.replies, B({0, 0x5B, 0, 0, 0, 0, 0, 0})) << cmd;
  }
}

TEST(Socks4a, EmptyHostnameRejected) {
  Outcome o = run(B({4, 1, 0, 80, 0, 0, 0, 1, 0, 0}));
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.replies, B({0, 0x5B, 0, 0, 0, 0, 0, 0}));
  EXPECT_NE(o.error.find("empty hostname"), std::string::npos);
}

TEST(Socks4, OversizedUserIdRejectedBeforeTerminator) {
  Bytes in = cat({B({4, 1, 0, 80, 1, 2, 3, 4}), Bytes(300, 'a')});
  Outcome o = run(in);
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.replies, B({0, 0x5B, 0, 0, 0, 0, 0, 0}));
  EXPECT_NE(o.error.find("user id longer"), std::string::npos) << o.error;
  // Same when it trickles in.
  Handshake hs;
  ASSERT_TRUE(hs.feed(B({4, 1, 0, 80, 1, 2, 3, 4})));
  bool failed = false;
  for (int i = 0; i < 2000 && !failed; ++i) failed = !hs.feed(B({'a'})).ok();
  EXPECT_TRUE(failed);
}

TEST(Socks4a, OversizedHostnameRejected) {
  Outcome o = run(cat({B({4, 1, 0, 80, 0, 0, 0, 1, 0}), Bytes(300, 'h'), B({0})}));
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.replies, B({0, 0x5B, 0, 0, 0, 0, 0, 0}));
}

TEST(Socks5Reply, Builders) {
  EXPECT_EQ(socks5_reply(Socks5Reply::kSucceeded, Address::ipv4({127, 0, 0, 1}), 9050),
            B({5, 0, 0, 1, 127, 0, 0, 1, 0x23, 0x5A}));
  EXPECT_EQ(socks5_reply(Socks5Reply::kConnectionRefused), B({5, 5, 0, 1, 0, 0, 0, 0, 0, 0}));
  Request r4;
  r4.version = 4;
  Request r5;
  EXPECT_EQ(connect_reply(r5, Socks5Reply::kTtlExpired), B({5, 6, 0, 1, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(socks4_reply(true, {1, 2, 3, 4}, 258), B({0, 0x5A, 1, 2, 1, 2, 3, 4}));
}

TEST(Socks5Reply, EndReasonMapping) {
  // tor-spec §6.3 reasons -> C tor's stream_end_reason_to_socks5_response.
  struct {
    uint8_t reason;
    uint8_t rep;
  } cases[] = {
      {1, 0x01},  {2, 0x04},  {3, 0x05},  {4, 0x02},  {5, 0x01},  {6, 0x05},  {7, 0x06},  {8, 0x04},
      {9, 0x01},  {10, 0x01}, {11, 0x01}, {12, 0x05}, {13, 0x01}, {14, 0x01}, {200, 0x01}, {0, 0x00},
  };
  for (auto c : cases)
    EXPECT_EQ(static_cast<uint8_t>(end_reason_to_socks5_reply(c.reason)), c.rep) << int(c.reason);
}

TEST(Socks5, ErrorRepliesSplitInvariant) {
  // The method reply still goes out before the error reply, however the bytes arrive.
  expect_split_invariant(cat({kNoAuthGreeting, B({5, 2, 0, 1, 1, 2, 3, 4, 0, 80})}));
  expect_split_invariant(cat({B({5, 1, 2}), B({1, 1, 'u', 1, 'p'}), B({5, 1, 0, 9})}));
  expect_split_invariant(cat({B({4, 1, 0, 80, 0, 0, 0, 1}), S("id"), B({0, 0})}));
}

TEST(Socks, RandomInputNeverOverreadsOrHangs) {
  // Deterministic pseudo-random inputs, biased to start like SOCKS; under
  // ASan this checks bounds, everywhere it checks that we always terminate
  // with done, failure or a bounded buffer.
  uint32_t x = 12345;
  auto rnd = [&]() { return x = x * 1103515245u + 12345u, (x >> 16) & 0xFF; };
  for (int iter = 0; iter < 3000; ++iter) {
    Bytes in;
    size_t len = rnd() * 3 % 700;
    for (size_t i = 0; i < len; ++i) in.push_back(static_cast<uint8_t>(rnd()));
    if (!in.empty()) in[0] = (rnd() & 1) ? 5 : 4;
    if (in.size() > 3 && in[0] == 5) in[1] = static_cast<uint8_t>(in[1] % 4);
    Handshake hs;
    size_t pos = 0;
    while (pos < in.size()) {
      size_t n = std::min<size_t>(in.size() - pos, 1 + rnd() % 64);
      auto step = hs.feed(ByteSpan(in.data() + pos, n));
      pos += n;
      if (!step || step->done) break;
    }
    if (hs.done()) {
      const Request &r = hs.request();
      EXPECT_TRUE(r.version == 4 || r.version == 5);
      if (r.address.is_hostname()) {
        EXPECT_FALSE(r.address.hostname.empty());
        EXPECT_LE(r.address.hostname.size(), 255u);
      }
    }
  }
}
