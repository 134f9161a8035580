// The C API without a network. A client whose only authority listens
// nowhere never bootstraps: enough for argument checks, queue semantics and
// shutdown with streams still connecting.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include "torclient.h"

extern "C" int capi_c_null_checks(void);

namespace {

const char *kAuthority =
    "dir-authority auth0 orport=5000 no-v2 v3ident=0123456789ABCDEF0123456789ABCDEF01234567 "
    "127.0.0.1:1 0000000000000000000000000000000000000000\n";

std::string temp_dir() {
  char tmpl[] = "/tmp/capi-test-XXXXXX";
  const char *d = ::mkdtemp(tmpl);
  return d ? d : "/tmp";
}

std::string body_config(const std::string &dir) {
  return std::string(kAuthority) + "test-network\nlog-level warn\nconfig-dir " + dir + "/state\ncache-dir " + dir +
         "/cache\n";
}

bool fd_readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

TEST(Capi, CHeaderNullChecks) { EXPECT_EQ(capi_c_null_checks(), 0); }

TEST(Capi, NullAndBadHandlesAreEinval) {
  uint8_t buf[16] = {};
  void *s = reinterpret_cast<void *>(1);
  arti_completion c[4];
  EXPECT_EQ(arti_connect(nullptr, "example.com", 80, &s), -EINVAL);
  EXPECT_EQ(s, nullptr);
  EXPECT_NE(std::string(arti_last_error()), "");
  EXPECT_EQ(arti_send(nullptr, buf, 1), -EINVAL);
  EXPECT_EQ(arti_recv(nullptr, buf, 1), -EINVAL);
  EXPECT_EQ(arti_try_send(nullptr, buf, 1), -EINVAL);
  EXPECT_EQ(arti_try_recv(nullptr, buf, 1), -EINVAL);
  EXPECT_EQ(arti_stream_send_space(nullptr), -EINVAL);
  EXPECT_EQ(arti_stream_recv_ready(nullptr), -EINVAL);
  EXPECT_EQ(arti_event_fd(nullptr), -EINVAL);
  EXPECT_EQ(arti_poll_completions(nullptr, c, 4), -EINVAL);
  EXPECT_EQ(arti_connect_async(nullptr, "example.com", 80, 1, &s), -EINVAL);
  EXPECT_EQ(arti_queue_fd(nullptr), -EINVAL);
  EXPECT_EQ(arti_queue_poll(nullptr, c, 4), -EINVAL);
  EXPECT_EQ(arti_queue_destroy(nullptr), -EINVAL);
  EXPECT_EQ(arti_bootstrap_percent(nullptr), -EINVAL);
  EXPECT_EQ(arti_status_text(nullptr, 1, 9050, nullptr, 0), -EINVAL);
  EXPECT_EQ(arti_circuits_text(nullptr, nullptr, 0), -EINVAL);
  arti_status st;
  arti_circuit_info ci[2];
  EXPECT_EQ(arti_get_status(nullptr, &st), -EINVAL);
  EXPECT_EQ(arti_get_circuits(nullptr, ci, 2), -EINVAL);
  // A pointer to something that is not a handle of the right kind.
  uint64_t junk[8] = {};
  EXPECT_EQ(arti_send(junk, buf, 1), -EINVAL);
  EXPECT_EQ(arti_queue_poll(junk, c, 4), -EINVAL);
  arti_close_stream(nullptr);
  arti_close_stream(junk);
  arti_shutdown(nullptr);
  arti_shutdown(junk);
}

TEST(Capi, InitNeedsConfigDir) {
  EXPECT_EQ(arti_init(nullptr, nullptr), nullptr);
  EXPECT_NE(std::string(arti_last_error()).find("config_dir"), std::string::npos);
  EXPECT_EQ(arti_init("", "/tmp"), nullptr);
}

TEST(Capi, InitWithoutConfigFileHasNoAuthorities) {
  std::string d = temp_dir();
  EXPECT_EQ(arti_init(d.c_str(), nullptr), nullptr);
  EXPECT_NE(std::string(arti_last_error()).find("no directory authorities"), std::string::npos)
      << arti_last_error();
}

TEST(Capi, InitReportsConfigFileErrorsWithLine) {
  std::string d = temp_dir();
  std::ofstream(d + "/torclient.conf") << "tor {\n  enabled\n  socks-port abc\n}\n";
  EXPECT_EQ(arti_init(d.c_str(), nullptr), nullptr);
  std::string e = arti_last_error();
  EXPECT_NE(e.find("torclient.conf:3"), std::string::npos) << e;
  EXPECT_NE(e.find("socks-port"), std::string::npos) << e;
}

TEST(Capi, InitWithConfigRejectsBadText) {
  char err[256];
  EXPECT_EQ(arti_init_with_config(nullptr, err, sizeof err), nullptr);
  EXPECT_STRNE(err, "");

  EXPECT_EQ(arti_init_with_config("frobnicate 3\n", err, sizeof err), nullptr);
  EXPECT_NE(std::string(err).find("frobnicate"), std::string::npos) << err;
  EXPECT_EQ(std::string(err), std::string(arti_last_error()));

  // A whole file: line numbers count from the file's start.
  EXPECT_EQ(arti_init_with_config("# c\ntor {\n  max-connections -1\n}\n", err, sizeof err), nullptr);
  EXPECT_NE(std::string(err).find(":3:"), std::string::npos) << err;

  EXPECT_EQ(arti_init_with_config("unix { nodaemon }\n", err, sizeof err), nullptr);
  EXPECT_NE(std::string(err).find("stanza"), std::string::npos) << err;

  // Parses, but names no authorities.
  EXPECT_EQ(arti_init_with_config("test-network\n", err, sizeof err), nullptr);
  EXPECT_NE(std::string(err).find("dir-authority"), std::string::npos) << err;

  // A bad DirAuthority line is caught when the client is created.
  EXPECT_EQ(arti_init_with_config("dir-authority nonsense\n", err, sizeof err), nullptr);
  EXPECT_NE(std::string(err).find("dir-authority"), std::string::npos) << err;

  // Truncation keeps the terminating NUL; NULL err is fine.
  char small[8];
  std::memset(small, 'x', sizeof small);
  EXPECT_EQ(arti_init_with_config("frobnicate 3\n", small, sizeof small), nullptr);
  EXPECT_EQ(std::strlen(small), 7u);
  EXPECT_EQ(arti_init_with_config("frobnicate 3\n", nullptr, 0), nullptr);
}

class CapiClient : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = temp_dir();
    char err[512];
    client_ = arti_init_with_config(body_config(dir_).c_str(), err, sizeof err);
    ASSERT_NE(client_, nullptr) << err;
  }
  void TearDown() override { arti_shutdown(client_); }
  std::string dir_;
  void *client_ = nullptr;
};

TEST_F(CapiClient, FileStanzaAndInitFromDirWork) {
  // The same configuration as a file in config_dir.
  std::string d = temp_dir();
  std::ofstream(d + "/torclient.conf") << "unix { nodaemon }\ntor {\n" << kAuthority << "test-network\n}\n";
  void *c = arti_init(d.c_str(), (d + "/c").c_str());
  ASSERT_NE(c, nullptr) << arti_last_error();
  struct stat st;
  EXPECT_EQ(::stat((d + "/c").c_str(), &st), 0);
  int pct = arti_bootstrap_percent(c);
  EXPECT_GE(pct, 0);
  EXPECT_LT(pct, 100);
  arti_shutdown(c);
}

TEST_F(CapiClient, ConnectArgumentChecks) {
  void *s = reinterpret_cast<void *>(1);
  EXPECT_EQ(arti_connect(client_, nullptr, 80, &s), -EINVAL);
  EXPECT_EQ(s, nullptr);
  EXPECT_EQ(arti_connect(client_, "", 80, &s), -EINVAL);
  EXPECT_EQ(arti_connect(client_, "example.com", 0, &s), -EINVAL);
  EXPECT_NE(std::string(arti_last_error()).find("port"), std::string::npos);
  EXPECT_EQ(arti_connect(client_, std::string(256, 'a').c_str(), 80, &s), -EINVAL);
  EXPECT_EQ(arti_connect(client_, "exa mple.com", 80, &s), -EINVAL);
  EXPECT_EQ(arti_connect(client_, "[]", 80, &s), -EINVAL);
  EXPECT_EQ(arti_connect(client_, "example.com", 80, nullptr), -EINVAL);
  EXPECT_EQ(arti_connect_async(client_, "example.com", 80, 7, nullptr), -EINVAL);
  EXPECT_EQ(arti_connect_async(client_, nullptr, 80, 7, &s), -EINVAL);
  EXPECT_EQ(s, nullptr);
  uint64_t junk[8] = {};
  EXPECT_EQ(arti_connect_async_ex(client_, junk, "example.com", 80, nullptr, nullptr, 7, &s), -EINVAL);
  arti_completion c[1];
  EXPECT_EQ(arti_poll_completions(client_, nullptr, 1), -EINVAL);
  EXPECT_EQ(arti_poll_completions(client_, c, -1), -EINVAL);
  EXPECT_EQ(arti_poll_completions(client_, c, 1), 0);
}

TEST_F(CapiClient, ConnectingStreamRefusesIoAndClosesCleanly) {
  void *s = nullptr;
  ASSERT_EQ(arti_connect_async(client_, "[::1]", 80, 42, &s), 0) << arti_last_error();
  ASSERT_NE(s, nullptr);
  uint8_t b[4] = {1, 2, 3, 4};
  EXPECT_EQ(arti_try_send(s, b, sizeof b), -ENOTCONN);
  EXPECT_EQ(arti_try_recv(s, b, sizeof b), -ENOTCONN);
  EXPECT_EQ(arti_stream_send_space(s), 0);
  EXPECT_EQ(arti_stream_recv_ready(s), 0);
  EXPECT_EQ(arti_try_send(s, nullptr, 1), -EINVAL);
  EXPECT_EQ(arti_try_recv(s, nullptr, 1), -EINVAL);
  arti_close_stream(s);
  // Never bootstrapped: no completion for it (closed before the outcome).
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  arti_completion c[4];
  EXPECT_EQ(arti_poll_completions(client_, c, 4), 0);
  EXPECT_FALSE(fd_readable(arti_event_fd(client_)));
}

TEST_F(CapiClient, StatusTextIsSnprintfLike) {
  int n = arti_status_text(client_, 1, 9050, nullptr, 0);
  ASSERT_GT(n, 0) << arti_last_error();
  std::string buf(static_cast<size_t>(n) + 1, '\0');
  EXPECT_EQ(arti_status_text(client_, 1, 9050, buf.data(), buf.size()), n);
  EXPECT_EQ(std::strlen(buf.c_str()), static_cast<size_t>(n));
  EXPECT_NE(buf.find("9050"), std::string::npos) << buf;
  char small[5];
  EXPECT_EQ(arti_status_text(client_, 1, 9050, small, sizeof small), n);
  EXPECT_EQ(std::strlen(small), 4u);
  EXPECT_EQ(arti_status_text(client_, 1, 9050, nullptr, 10), -EINVAL);
  EXPECT_GE(arti_circuits_text(client_, nullptr, 0), 0);
}

TEST_F(CapiClient, StructuredStatusAndCircuits) {
  arti_status st;
  std::memset(&st, 0xab, sizeof st);
  EXPECT_EQ(arti_get_status(client_, nullptr), -EINVAL);
  ASSERT_EQ(arti_get_status(client_, &st), 0) << arti_last_error();
  EXPECT_GE(st.bootstrap_percent, 0);
  EXPECT_LE(st.bootstrap_percent, 100);
  // NUL-terminated within the array, whatever the phase.
  EXPECT_LT(strnlen(st.bootstrap_phase, sizeof st.bootstrap_phase), sizeof st.bootstrap_phase);
  EXPECT_EQ(st.open_streams, 0u);
  EXPECT_EQ(st.bytes_in, 0u);
  arti_circuit_info ci[1];
  EXPECT_EQ(arti_get_circuits(client_, nullptr, 1), -EINVAL);
  EXPECT_EQ(arti_get_circuits(client_, ci, -1), -EINVAL);
  EXPECT_GE(arti_get_circuits(client_, nullptr, 0), 0);
}

TEST(CapiQueue, ShutdownFailsPendingConnectsIntoTheirQueues) {
  std::string d = temp_dir();
  char err[512];
  void *client = arti_init_with_config(body_config(d).c_str(), err, sizeof err);
  ASSERT_NE(client, nullptr) << err;
  void *q = arti_queue_create();
  ASSERT_NE(q, nullptr);
  int qfd = arti_queue_fd(q);
  ASSERT_GE(qfd, 0);
  EXPECT_FALSE(fd_readable(qfd));

  void *a = nullptr, *b = nullptr, *c = nullptr;
  ASSERT_EQ(arti_connect_async_ex(client, q, "a.example", 80, "u1", "p1", 1, &a), 0);
  ASSERT_EQ(arti_connect_async_ex(client, q, "b.example", 443, nullptr, nullptr, 2, &b), 0);
  ASSERT_EQ(arti_connect_async(client, "c.example", 80, 3, &c), 0);
  EXPECT_EQ(arti_queue_destroy(q), -EBUSY);

  // Blocking calls on a stream whose client goes away return at once.
  std::thread t([&] {
    uint8_t buf[8];
    EXPECT_EQ(arti_recv(a, buf, sizeof buf), -ESHUTDOWN);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  arti_shutdown(client);
  t.join();

  // Each stream got exactly one CONNECTED with -ESHUTDOWN, in its queue.
  ASSERT_TRUE(fd_readable(qfd));
  arti_completion ev[8];
  int n = arti_queue_poll(q, ev, 1);
  ASSERT_EQ(n, 1);
  EXPECT_TRUE(fd_readable(qfd));  // one more left: still readable
  n += arti_queue_poll(q, ev + 1, 7);
  ASSERT_EQ(n, 2);
  EXPECT_FALSE(fd_readable(qfd));
  uint64_t tags = 0;
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(ev[i].event, ARTI_EV_CONNECTED);
    EXPECT_EQ(ev[i].result, -ESHUTDOWN);
    EXPECT_TRUE(ev[i].stream == a || ev[i].stream == b);
    EXPECT_EQ(ev[i].tag, ev[i].stream == a ? 1u : 2u);
    tags |= ev[i].tag;
  }
  EXPECT_EQ(tags, 3u);
  uint8_t buf[8];
  EXPECT_EQ(arti_try_recv(a, buf, sizeof buf), -ESHUTDOWN);
  EXPECT_EQ(arti_try_send(b, buf, sizeof buf), -ESHUTDOWN);
  EXPECT_EQ(arti_send(b, buf, sizeof buf), -ESHUTDOWN);

  arti_close_stream(a);
  EXPECT_EQ(arti_queue_destroy(q), -EBUSY);
  arti_close_stream(b);
  arti_close_stream(c);  // its client (and default queue) are gone: still fine
  EXPECT_EQ(arti_queue_destroy(q), 0);
}

TEST(CapiQueue, CloseRemovesQueuedEvents) {
  std::string d = temp_dir();
  char err[512];
  void *client = arti_init_with_config(body_config(d).c_str(), err, sizeof err);
  ASSERT_NE(client, nullptr) << err;
  void *a = nullptr, *b = nullptr;
  ASSERT_EQ(arti_connect_async(client, "a.example", 80, 1, &a), 0);
  ASSERT_EQ(arti_connect_async(client, "b.example", 80, 2, &b), 0);
  arti_shutdown(client);  // queues CONNECTED(-ESHUTDOWN) for both
  // The default queue went with the client handle; closing the streams
  // releases it. Nothing to poll any more, nothing leaks (LSan build).
  arti_close_stream(a);
  arti_close_stream(b);
}

}  // namespace

// ---- The SOCKS handshake through the C API (the parser torclientd uses) ----

namespace {
struct SocksFeed {
  int rc;
  std::vector<uint8_t> reply;
};
SocksFeed socks_feed(void *hs, const std::vector<uint8_t> &in) {
  uint8_t reply[ARTI_SOCKS_REPLY_MAX];
  size_t n = 12345;
  int rc = arti_socks_feed(hs, in.data(), in.size(), reply, sizeof reply, &n);
  return {rc, std::vector<uint8_t>(reply, reply + (n <= sizeof reply ? n : 0))};
}
std::vector<uint8_t> bytes_of(std::string_view s) { return {s.begin(), s.end()}; }
}  // namespace

TEST(CapiSocks, Socks5HostnameByteByByteWithOptimisticData) {
  void *hs = arti_socks_new();
  ASSERT_NE(hs, nullptr);
  std::vector<uint8_t> all = {5, 1, 0};                      // methods: no auth
  std::vector<uint8_t> req = {5, 1, 0, 3, 11};               // CONNECT, hostname
  for (char c : std::string("example.com")) req.push_back(static_cast<uint8_t>(c));
  req.push_back(0x01);
  req.push_back(0xBB);                                       // port 443
  all.insert(all.end(), req.begin(), req.end());
  std::vector<uint8_t> early = bytes_of("GET / HTTP/1.1\r\n");  // optimistic data
  std::vector<uint8_t> replies;
  int last = -1;
  size_t i = 0;
  for (; i < all.size(); i++) {
    auto f = socks_feed(hs, {all[i]});
    replies.insert(replies.end(), f.reply.begin(), f.reply.end());
    last = f.rc;
    if (i + 1 < all.size()) {
      ASSERT_EQ(f.rc, ARTI_SOCKS_MORE) << "byte " << i;
    }
  }
  EXPECT_EQ(last, ARTI_SOCKS_DONE);
  EXPECT_EQ(replies, (std::vector<uint8_t>{5, 0}));  // method choice only, no request reply yet
  // Optimistic data fed with the end of the request would be leftover; fed
  // after DONE, the handshake refuses it (the front end keeps such bytes).
  EXPECT_EQ(socks_feed(hs, early).rc, -EINVAL);
  arti_socks_request rq;
  ASSERT_EQ(arti_socks_get_request(hs, &rq), 0);
  EXPECT_EQ(rq.version, 5);
  EXPECT_EQ(rq.command, 0x01);
  EXPECT_STREQ(rq.host, "example.com");
  EXPECT_EQ(rq.port, 443);
  EXPECT_EQ(rq.has_auth, 0);
  uint8_t buf[32];
  ASSERT_EQ(arti_socks_connect_reply(hs, 0, buf, sizeof buf), 10);
  EXPECT_EQ(std::vector<uint8_t>(buf, buf + 10), (std::vector<uint8_t>{5, 0, 0, 1, 0, 0, 0, 0, 0, 0}));
  ASSERT_EQ(arti_socks_connect_reply(hs, -ECONNREFUSED, buf, sizeof buf), 10);
  EXPECT_EQ(buf[1], 0x05);
  ASSERT_EQ(arti_socks_connect_reply(hs, -EOPNOTSUPP, buf, sizeof buf), 10);
  EXPECT_EQ(buf[1], 0x07);
  ASSERT_EQ(arti_socks_connect_reply(hs, -EIO, buf, sizeof buf), 10);
  EXPECT_EQ(buf[1], 0x01);
  EXPECT_EQ(arti_socks_connect_reply(hs, 0, buf, 4), -EINVAL);
  arti_socks_free(hs);
}

TEST(CapiSocks, LeftoverAndCredentials) {
  void *hs = arti_socks_new();
  std::vector<uint8_t> in = {5, 1, 2, 1, 3, 'b', 'o', 'b', 2, 'p', 'w', 5, 1, 0, 1, 10, 0, 0, 1, 0, 80};
  std::vector<uint8_t> early = bytes_of("hello");
  in.insert(in.end(), early.begin(), early.end());
  auto f = socks_feed(hs, in);
  EXPECT_EQ(f.rc, ARTI_SOCKS_DONE);
  EXPECT_EQ(f.reply, (std::vector<uint8_t>{5, 2, 1, 0}));  // chose user/pass, auth ok
  arti_socks_request rq;
  ASSERT_EQ(arti_socks_get_request(hs, &rq), 0);
  EXPECT_STREQ(rq.host, "10.0.0.1");
  EXPECT_EQ(rq.port, 80);
  EXPECT_EQ(rq.has_auth, 1);
  EXPECT_STREQ(rq.username, "bob");
  EXPECT_STREQ(rq.password, "pw");
  const uint8_t *lo = nullptr;
  ASSERT_EQ(arti_socks_leftover(hs, &lo), 5);
  EXPECT_EQ(std::string(reinterpret_cast<const char *>(lo), 5), "hello");
  arti_socks_free(hs);
}

TEST(CapiSocks, Socks4aAndResolve) {
  void *hs = arti_socks_new();
  std::vector<uint8_t> in = {4, 1, 0, 80, 0, 0, 0, 1, 'u', 0};
  for (char c : std::string("onion.example")) in.push_back(static_cast<uint8_t>(c));
  in.push_back(0);
  EXPECT_EQ(socks_feed(hs, in).rc, ARTI_SOCKS_DONE);
  arti_socks_request rq;
  ASSERT_EQ(arti_socks_get_request(hs, &rq), 0);
  EXPECT_EQ(rq.version, 4);
  EXPECT_STREQ(rq.host, "onion.example");
  EXPECT_STREQ(rq.username, "u");
  uint8_t buf[32];
  ASSERT_EQ(arti_socks_connect_reply(hs, 0, buf, sizeof buf), 8);
  EXPECT_EQ(buf[1], 0x5A);
  arti_socks_free(hs);

  hs = arti_socks_new();
  std::vector<uint8_t> res = {5, 1, 0, 5, 0xF0, 0, 3, 4, 'a', '.', 'b', 'c', 0, 0};
  EXPECT_EQ(socks_feed(hs, res).rc, ARTI_SOCKS_DONE);
  ASSERT_EQ(arti_socks_get_request(hs, &rq), 0);
  EXPECT_EQ(rq.command, 0xF0);
  arti_socks_free(hs);
}

TEST(CapiSocks, RefusalsCarryTheirReplyAndAReason) {
  void *hs = arti_socks_new();
  auto f = socks_feed(hs, bytes_of("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(f.rc, -EPROTO);
  EXPECT_EQ(std::string(f.reply.begin(), f.reply.end()).rfind("HTTP/1.0 501", 0), 0u);
  EXPECT_NE(std::string(f.reply.begin(), f.reply.end()).find("</html>"), std::string::npos)
      << "the page must fit ARTI_SOCKS_REPLY_MAX whole";
  EXPECT_NE(std::string(arti_last_error()).find("HTTP"), std::string::npos) << arti_last_error();
  EXPECT_EQ(socks_feed(hs, {5}).rc, -EINVAL);  // dead after a refusal
  arti_socks_request rq;
  EXPECT_EQ(arti_socks_get_request(hs, &rq), -EINVAL);
  arti_socks_free(hs);

  // A username with a NUL byte cannot travel as a C string: refused.
  hs = arti_socks_new();
  std::vector<uint8_t> in = {5, 1, 2, 1, 3, 'a', 0, 'b', 1, 'p', 5, 1, 0, 1, 10, 0, 0, 1, 0, 80};
  f = socks_feed(hs, in);
  EXPECT_EQ(f.rc, -EPROTO);
  ASSERT_GE(f.reply.size(), 6u);
  EXPECT_EQ(f.reply[f.reply.size() - 10], 5);
  EXPECT_EQ(f.reply[f.reply.size() - 9], 0x01);  // general failure after the auth reply
  arti_socks_free(hs);

  // Argument checks.
  uint8_t small[16];
  size_t n;
  hs = arti_socks_new();
  EXPECT_EQ(arti_socks_feed(hs, small, 1, small, sizeof small, &n), -EINVAL);  // reply_cap too small
  EXPECT_EQ(arti_socks_feed(nullptr, small, 1, small, sizeof small, &n), -EINVAL);
  EXPECT_EQ(arti_socks_connect_reply(hs, 0, small, sizeof small), -EINVAL);  // no request yet
  arti_socks_free(hs);
  arti_socks_free(nullptr);
}
