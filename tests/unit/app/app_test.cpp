// SocksServer and CliServer over real loopback / unix sockets, with a fake
// backend in place of TorClient (no Tor network): handshakes, error
// replies, RESOLVE, limits, timeouts, enable/disable, the CLI socket.
// Data splicing through a real TorStream is covered by the integration
// tests (tests/integration/torclientd).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>

#include "app/cli_server.h"
#include "app/socks_server.h"

using namespace tc;
using namespace std::chrono_literals;

namespace {

// Records what the server asked for; answers with canned results.
class FakeBackend : public app::SocksBackend {
 public:
  explicit FakeBackend(asio::io_context &io) : io_(io) {}
  asio::any_io_executor executor() override { return io_.get_executor(); }
  asio::awaitable<Result<std::shared_ptr<runtime::TorStream>>> connect(std::string host, uint16_t port,
                                                                      runtime::IsolationKey iso) override {
    {
      std::lock_guard<std::mutex> l(mu);
      hosts.push_back(host);
      ports.push_back(port);
      isos.push_back(iso);
    }
    co_return connect_error;
  }
  asio::awaitable<Result<std::vector<cell::ResolvedAnswer>>> resolve(std::string host,
                                                                    runtime::IsolationKey iso) override {
    {
      std::lock_guard<std::mutex> l(mu);
      hosts.push_back(host);
      isos.push_back(iso);
    }
    if (resolve_error) co_return *resolve_error;
    co_return answers;
  }

  std::mutex mu;
  std::vector<std::string> hosts;
  std::vector<uint16_t> ports;
  std::vector<runtime::IsolationKey> isos;
  Error connect_error{ErrorKind::kRefused, "stream refused by exit: END CONNECTREFUSED"};
  std::optional<Error> resolve_error;
  std::vector<cell::ResolvedAnswer> answers;

 private:
  asio::io_context &io_;
};

// A blocking test client with timeouts.
class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr *>(&sa), sizeof sa) == 0;
  }
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }
  void send(const Bytes &b) { ASSERT_EQ(::send(fd_, b.data(), b.size(), MSG_NOSIGNAL), static_cast<ssize_t>(b.size())); }
  void send(std::string_view s) { send(Bytes(s.begin(), s.end())); }
  // Reads up to `n` bytes, stopping early at EOF; waits at most `timeout`.
  Bytes recv(size_t n, std::chrono::milliseconds timeout = 5000ms) {
    Bytes out;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out.size() < n) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      uint8_t buf[4096];
      ssize_t r = ::recv(fd_, buf, std::min(sizeof buf, n - out.size()), 0);
      if (r <= 0) {
        eof_ = true;
        break;
      }
      out.insert(out.end(), buf, buf + r);
    }
    return out;
  }
  // True if the server closed (EOF or reset) within `timeout`.
  bool closed_within(std::chrono::milliseconds timeout) {
    auto b = recv(1 << 20, timeout);
    return eof_;
  }
  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
};

Bytes B(std::initializer_list<int> v) {
  Bytes out;
  for (int x : v) out.push_back(static_cast<uint8_t>(x));
  return out;
}

class SocksServerTest : public ::testing::Test {
 protected:
  void start(app::SocksOptions opts = {}) {
    opts.port = 0;
    backend = std::make_shared<FakeBackend>(io);
    server = app::SocksServer::create(backend, opts);
    guard.emplace(io.get_executor());
    thread = std::thread([this] { io.run(); });
    auto st = server->enable(uint16_t{0});
    ASSERT_TRUE(st.ok()) << st.error().to_string();
    port = server->port();
    ASSERT_NE(port, 0);
  }
  void TearDown() override {
    if (server) server->disable();
    guard.reset();
    // Let the sessions finish, then stop.
    for (int i = 0; i < 100 && server && server->stats().active > 0; ++i) std::this_thread::sleep_for(10ms);
    io.stop();
    if (thread.joinable()) thread.join();
  }
  // SOCKS5 no-auth greeting; returns the method reply.
  Bytes greet(Client &c) {
    c.send(B({5, 1, 0}));
    return c.recv(2);
  }

  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  std::thread thread;
  std::shared_ptr<FakeBackend> backend;
  std::shared_ptr<app::SocksServer> server;
  uint16_t port = 0;
};

TEST(ReplyForError, MapsEndReasons) {
  using R = socks::Socks5Reply;
  EXPECT_EQ(app::reply_for_error(Error(ErrorKind::kRefused, "stream refused by exit: END CONNECTREFUSED").with_code(3)),
            R::kConnectionRefused);
  EXPECT_EQ(app::reply_for_error(Error(ErrorKind::kRefused, "stream refused by exit: END EXITPOLICY").with_code(4)),
            R::kNotAllowed);
  EXPECT_EQ(app::reply_for_error(Error(ErrorKind::kRefused, "resolve failed: END RESOLVEFAILED").with_code(2)),
            R::kHostUnreachable);
  EXPECT_EQ(app::reply_for_error(Error(ErrorKind::kRefused, "x: END TIMEOUT").with_code(7)), R::kTtlExpired);
  // Whole words only: "END DONE" is not "END DONEX".
  EXPECT_EQ(app::reply_for_error(Error(ErrorKind::kInternal, "END DONEX")), R::kGeneralFailure);
  EXPECT_EQ(app::reply_for_error(Error(ErrorKind::kTimeout, "stream not connected after 1000 ms")),
            R::kTtlExpired);
  EXPECT_EQ(app::reply_for_error(Error(ErrorKind::kNotFound, "no exit for port 25")), R::kNetUnreachable);
  EXPECT_EQ(app::reply_for_error(Error(ErrorKind::kRefused, "circuit destroyed")), R::kConnectionRefused);
  EXPECT_EQ(app::reply_for_error(Error(ErrorKind::kIo, "x")), R::kGeneralFailure);
}

TEST_F(SocksServerTest, Socks5ConnectRefusedByExit) {
  start();
  Client c(port);
  ASSERT_TRUE(c.connected());
  EXPECT_EQ(greet(c), B({5, 0}));
  // CONNECT files.testnet.example:5190
  Bytes req = B({5, 1, 0, 3, 21});
  std::string host = "files.testnet.example";
  req.insert(req.end(), host.begin(), host.end());
  req.push_back(0x14);
  req.push_back(0x46);
  c.send(req);
  EXPECT_EQ(c.recv(10), B({5, 5, 0, 1, 0, 0, 0, 0, 0, 0}));
  EXPECT_TRUE(c.closed_within(2000ms));
  std::lock_guard<std::mutex> l(backend->mu);
  ASSERT_EQ(backend->hosts.size(), 1u);
  EXPECT_EQ(backend->hosts[0], host);  // passed on unresolved
  EXPECT_EQ(backend->ports[0], 5190);
  EXPECT_EQ(backend->isos[0], runtime::IsolationKey{});
  EXPECT_EQ(server->stats().connects_failed, 1u);
}

TEST_F(SocksServerTest, Socks5UsernamePasswordBecomesIsolationKey) {
  start();
  backend->connect_error = Error(ErrorKind::kRefused, "stream refused by exit: END EXITPOLICY").with_code(4);
  Client c(port);
  c.send(B({5, 1, 2}));
  EXPECT_EQ(c.recv(2), B({5, 2}));
  c.send(B({1, 5, 'a', 'l', 'i', 'c', 'e', 3, 'p', 'w', 'd'}));
  EXPECT_EQ(c.recv(2), B({1, 0}));
  c.send(B({5, 1, 0, 1, 127, 0, 0, 1, 0, 80}));
  EXPECT_EQ(c.recv(10), B({5, 2, 0, 1, 0, 0, 0, 0, 0, 0}));  // EXITPOLICY -> not allowed
  c.closed_within(2000ms);
  std::lock_guard<std::mutex> l(backend->mu);
  ASSERT_EQ(backend->isos.size(), 1u);
  EXPECT_EQ(backend->isos[0].username, "alice");
  EXPECT_EQ(backend->isos[0].password, "pwd");
  EXPECT_EQ(backend->hosts[0], "127.0.0.1");
}

TEST_F(SocksServerTest, Socks4aConnectFailureIsRejected) {
  start();
  backend->connect_error = Error(ErrorKind::kTimeout, "stream not connected after 10000 ms");
  Client c(port);
  Bytes req = B({4, 1, 0, 80, 0, 0, 0, 1, 'u', 0});
  std::string host = "example.com";
  req.insert(req.end(), host.begin(), host.end());
  req.push_back(0);
  c.send(req);
  EXPECT_EQ(c.recv(8), B({0, 0x5B, 0, 0, 0, 0, 0, 0}));
  std::lock_guard<std::mutex> l(backend->mu);
  ASSERT_EQ(backend->hosts.size(), 1u);
  EXPECT_EQ(backend->hosts[0], "example.com");
  EXPECT_EQ(backend->isos[0].username, "u");
}

TEST_F(SocksServerTest, BadInputAnsweredAndOthersUnaffected) {
  start();
  Client slow(port);  // a client in the middle of its handshake throughout
  slow.send(B({5, 1}));
  {
    Client c(port);  // BIND
    EXPECT_EQ(greet(c), B({5, 0}));
    c.send(B({5, 2, 0, 1, 127, 0, 0, 1, 0, 80}));
    EXPECT_EQ(c.recv(10), B({5, 7, 0, 1, 0, 0, 0, 0, 0, 0}));
    EXPECT_TRUE(c.closed_within(2000ms));
  }
  {
    Client c(port);  // unknown address type
    EXPECT_EQ(greet(c), B({5, 0}));
    c.send(B({5, 1, 0, 9, 127, 0, 0, 1, 0, 80}));
    EXPECT_EQ(c.recv(10), B({5, 8, 0, 1, 0, 0, 0, 0, 0, 0}));
    EXPECT_TRUE(c.closed_within(2000ms));
  }
  {
    Client c(port);  // SOCKS version 9: closed without an answer
    c.send(B({9, 1, 0}));
    EXPECT_TRUE(c.closed_within(2000ms));
  }
  {
    Client c(port);  // HTTP on the SOCKS port
    c.send("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
    Bytes page = c.recv(4096, 2000ms);
    std::string s(page.begin(), page.end());
    EXPECT_EQ(s.rfind("HTTP/1.0 501 Tor is not an HTTP Proxy", 0), 0u) << s;
  }
  {
    Client c(port);  // truncated request, then close
    EXPECT_EQ(greet(c), B({5, 0}));
    c.send(B({5, 1, 0, 3, 30, 'a', 'b'}));
  }
  // The slow client still gets served.
  slow.send(B({0}));
  EXPECT_EQ(slow.recv(2), B({5, 0}));
  slow.send(B({5, 1, 0, 1, 10, 0, 0, 1, 1, 187}));
  EXPECT_EQ(slow.recv(10), B({5, 5, 0, 1, 0, 0, 0, 0, 0, 0}));
  EXPECT_GE(server->stats().handshake_errors, 4u);
}

TEST_F(SocksServerTest, ResolveAndResolvePtr) {
  start();
  backend->answers = {cell::ResolvedAnswer{cell::resolved_type::kIpv6, Bytes(16, 0x20), 60},
                      cell::ResolvedAnswer{cell::resolved_type::kIpv4, B({1, 2, 3, 4}), 60}};
  {
    Client c(port);
    EXPECT_EQ(greet(c), B({5, 0}));
    c.send(B({5, 0xF0, 0, 3, 3, 'a', '.', 'b', 0, 0}));
    EXPECT_EQ(c.recv(10), B({5, 0, 0, 1, 1, 2, 3, 4, 0, 0}));  // IPv4 preferred
  }
  backend->answers = {cell::ResolvedAnswer{cell::resolved_type::kHostname, Bytes{'h', '.', 'x'}, 60}};
  {
    Client c(port);
    EXPECT_EQ(greet(c), B({5, 0}));
    c.send(B({5, 0xF1, 0, 1, 127, 0, 0, 1, 0, 0}));
    EXPECT_EQ(c.recv(10), B({5, 0, 0, 3, 3, 'h', '.', 'x', 0, 0}));
  }
  {
    Client c(port);  // an address resolves to itself, without the network
    EXPECT_EQ(greet(c), B({5, 0}));
    c.send(B({5, 0xF0, 0, 1, 9, 8, 7, 6, 0, 0}));
    EXPECT_EQ(c.recv(10), B({5, 0, 0, 1, 9, 8, 7, 6, 0, 0}));
  }
  backend->resolve_error = Error(ErrorKind::kRefused, "resolve failed: END RESOLVEFAILED").with_code(2);
  {
    Client c(port);
    EXPECT_EQ(greet(c), B({5, 0}));
    c.send(B({5, 0xF0, 0, 3, 2, 'n', 'x', 0, 0}));
    EXPECT_EQ(c.recv(10), B({5, 4, 0, 1, 0, 0, 0, 0, 0, 0}));
  }
  std::lock_guard<std::mutex> l(backend->mu);
  ASSERT_EQ(backend->hosts.size(), 3u);
  EXPECT_EQ(backend->hosts[0], "a.b");
  EXPECT_EQ(backend->hosts[1], "1.0.0.127.in-addr.arpa");
  EXPECT_EQ(backend->hosts[2], "nx");
}

TEST_F(SocksServerTest, MaxConnectionsRefusesNewClientsOnly) {
  app::SocksOptions o;
  o.max_connections = 2;
  start(o);
  Client a(port), b(port);
  EXPECT_EQ(greet(a), B({5, 0}));  // both are being served
  EXPECT_EQ(greet(b), B({5, 0}));
  Client c(port);
  EXPECT_TRUE(c.closed_within(2000ms));
  EXPECT_EQ(server->stats().refused, 1u);
  a.send(B({5, 1, 0, 1, 127, 0, 0, 1, 0, 80}));
  EXPECT_EQ(a.recv(10), B({5, 5, 0, 1, 0, 0, 0, 0, 0, 0}));
}

TEST_F(SocksServerTest, HandshakeTimeout) {
  app::SocksOptions o;
  o.handshake_timeout = 300ms;
  start(o);
  Client c(port);
  c.send(B({5, 1}));  // never completes
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.closed_within(3000ms));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2500ms);
}

TEST_F(SocksServerTest, DisableClosesListenerAndSessionsEnableReopens) {
  start();
  Client open(port);
  EXPECT_EQ(greet(open), B({5, 0}));
  server->disable();
  EXPECT_FALSE(server->enabled());
  EXPECT_TRUE(open.closed_within(2000ms));
  Client refused(port);
  EXPECT_FALSE(refused.connected());
  ASSERT_TRUE(server->enable(port).ok());
  EXPECT_TRUE(server->enabled());
  Client again(port);
  ASSERT_TRUE(again.connected());
  EXPECT_EQ(greet(again), B({5, 0}));
}

// ------------------------------------------------------------------- CLI

std::string temp_socket_path() {
  char tmpl[] = "/tmp/tc-app-test-XXXXXX";
  const char *d = ::mkdtemp(tmpl);
  return std::string(d) + "/sub/cli.sock";
}

// One request over a fresh connection; returns the raw reply.
std::string cli_request(const std::string &path, const std::string &req) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return "<connect failed>";
  }
  (void)::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string buf;
  for (;;) {
    std::string copy = buf;
    auto r = control::decode_reply(copy);
    if (!r) return "<bad reply>";
    if (*r) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) break;
    char tmp[4096];
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) break;
    buf.append(tmp, static_cast<size_t>(n));
  }
  ::close(fd);
  return buf;
}

TEST(CliServer, ServesCommandsOnA0600Socket) {
  asio::io_context io;
  std::string path = temp_socket_path();
  std::vector<std::string> seen;
  auto handler = [&](const control::Command &c) {
    seen.push_back(control::format_command(c));
    if (std::holds_alternative<control::ShowStatus>(c)) return control::Reply{true, "Tor client: disabled"};
    return control::Reply{false, "nope"};
  };
  auto srv = app::CliServer::start(io.get_executor(), app::CliOptions{path, 16, 60000ms}, handler);
  ASSERT_TRUE(srv.ok()) << srv.error().to_string();
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string status, unknown, help, disable;
  std::thread t([&] {
    status = cli_request(path, "show tor status\n");
    unknown = cli_request(path, "frobnicate\n");
    help = cli_request(path, "help\n");
    disable = cli_request(path, "tor client disable\r\n");
    asio::post(io, [&] { (*srv)->stop(); });
  });
  io.run_for(10s);
  t.join();
  EXPECT_EQ(status, "OK 21\nTor client: disabled\n");
  EXPECT_EQ(unknown.rfind("ERR ", 0), 0u) << unknown;
  EXPECT_NE(unknown.find("unknown command"), std::string::npos) << unknown;
  EXPECT_EQ(help, control::encode_reply({true, control::help_text()}));
  EXPECT_EQ(disable, "ERR 5\nnope\n");
  EXPECT_EQ(seen, (std::vector<std::string>{"show tor status", "tor client disable"}));
  EXPECT_NE(::lstat(path.c_str(), &st), 0);  // removed by stop()
  std::filesystem::remove_all(std::filesystem::path(path).parent_path().parent_path());
}

TEST(CliServer, ReplacesStaleSocketRefusesOtherFiles) {
  std::string path = temp_socket_path();
  auto handler = [](const control::Command &) { return control::Reply{true, "x"}; };
  {
    asio::io_context io;
    auto a = app::CliServer::start(io.get_executor(), app::CliOptions{path, 16, 60000ms}, handler);
    ASSERT_TRUE(a.ok());
    // A second daemon on a live socket is refused.
    auto b = app::CliServer::start(io.get_executor(), app::CliOptions{path, 16, 60000ms}, handler);
    EXPECT_FALSE(b.ok());
    // Dropped without stop(): the file stays behind, stale.
  }
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  {
    asio::io_context io;
    auto c = app::CliServer::start(io.get_executor(), app::CliOptions{path, 16, 60000ms}, handler);
    EXPECT_TRUE(c.ok()) << c.error().to_string();
    if (c.ok()) (*c)->stop();
  }
  std::string file = path + ".txt";
  FILE *f = std::fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  asio::io_context io;
  auto d = app::CliServer::start(io.get_executor(), app::CliOptions{file, 16, 60000ms}, handler);
  EXPECT_FALSE(d.ok());
  if (!d.ok()) {
    EXPECT_NE(d.error().message().find("not a socket"), std::string::npos);
  }
  std::filesystem::remove_all(std::filesystem::path(path).parent_path().parent_path());
}

TEST(CliServer, RunCommandLine) {
  auto handler = [](const control::Command &) { return control::Reply{true, "no newline"}; };
  EXPECT_EQ(app::run_command_line("show tor circuits", handler), (control::Reply{true, "no newline\n"}));
  auto bad = app::run_command_line("tor client enable port 70000", handler);
  EXPECT_FALSE(bad.ok);
  EXPECT_NE(bad.text.find("1-65535"), std::string::npos) << bad.text;
}

}  // namespace

// per-client-rate's token bucket (socks_server.h): time is passed in.
TEST(TokenBucket, RefillsAtTheRateUpToTheBurst) {
  using namespace std::chrono_literals;
  auto t0 = app::TokenBucket::Clock::time_point{} + 1h;
  app::TokenBucket b(1000, 250, t0);
  EXPECT_EQ(b.available(t0), 250u);
  b.consume(250);
  EXPECT_EQ(b.available(t0), 0u);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(b.wait_for(100, t0)), 100ms);
  EXPECT_EQ(b.available(t0 + 100ms), 100u);
  EXPECT_EQ(b.available(t0 + 10s), 250u);  // never more than the burst
  // More than the burst asked: wait for the burst only.
  EXPECT_EQ(b.wait_for(100000, t0 + 10s), app::TokenBucket::Clock::duration::zero());
  // Taking more than available is a debt that delays what follows.
  b.consume(1000);
  EXPECT_EQ(b.available(t0 + 10s), 0u);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(b.wait_for(1, t0 + 10s)), 751ms);
}

TEST(TokenBucket, GreedySenderGetsRateTimesTimePlusBurst) {
  using namespace std::chrono_literals;
  auto t = app::TokenBucket::Clock::time_point{} + 1h;
  const uint64_t rate = 200 * 1024;
  app::TokenBucket b(rate, app::TokenBucket::default_burst(rate), t);
  uint64_t sent = 0;
  for (int i = 0; i < 1000; ++i, t += 10ms) {  // 10 s, taking all it may every 10 ms
    uint64_t n = std::min<uint64_t>(b.available(t), 32 * 1024);
    b.consume(n);
    sent += n;
  }
  const uint64_t ideal = rate * 10 + b.burst();
  EXPECT_LE(sent, ideal);
  EXPECT_GE(sent, ideal - rate / 50);  // within 20 ms worth
}
