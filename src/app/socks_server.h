// torclientd's SOCKS listener: accepts SOCKS4/4a/5 clients on the Tor
// client's io_context, runs the handshake with socks::Handshake (no I/O
// there), opens a Tor stream for CONNECT or answers RESOLVE [F0] /
// RESOLVE_PTR [F1] (socks-extensions.txt §2), then splices bytes both ways.
//
// Threads: every session runs as a coroutine on the backend's executor (the
// runtime thread). The public methods are thread-safe: enable()/disable()
// run on the runtime thread and wait for it (or run inline when called from
// it); the counters are atomics.
//
// Host names go to the exit as they are: they are never resolved locally.
// SOCKS credentials become the stream's IsolationKey (IsolateSOCKSAuth).
#pragma once
#include <asio.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "cell/relay.h"
#include "runtime/circuit.h"
#include "runtime/client.h"
#include "socks/socks.h"
#include "util/error.h"

namespace tc::app {

class SocksSession;

// What a SOCKS session needs from the Tor client. TorClient itself through
// tor_client_backend(); unit tests use a fake.
class SocksBackend {
 public:
  virtual ~SocksBackend() = default;
  // The single-threaded executor every session runs on.
  virtual asio::any_io_executor executor() = 0;
  virtual asio::awaitable<Result<std::shared_ptr<runtime::TorStream>>> connect(std::string host, uint16_t port,
                                                                              runtime::IsolationKey iso) = 0;
  virtual asio::awaitable<Result<std::vector<cell::ResolvedAnswer>>> resolve(std::string host,
                                                                            runtime::IsolationKey iso) = 0;
};

// The adapter for the real client (defined in tor_backend.cpp, so programs
// that never call it need not link TorClient).
std::shared_ptr<SocksBackend> tor_client_backend(std::shared_ptr<runtime::TorClient> client);

struct SocksOptions {
  std::string address = "127.0.0.1";  // IPv4 or IPv6 literal
  uint16_t port = 9050;               // 0: an ephemeral port (tests)
  uint32_t max_connections = 1024;    // concurrent SOCKS clients
  // Whole SOCKS handshake, from accept to a complete request.
  std::chrono::milliseconds handshake_timeout{60000};
  // From a complete request to the CONNECT / RESOLVE answer.
  std::chrono::milliseconds request_timeout{120000};
  // After the client half-closed (EOF) while Tor's side is still open: give
  // up when Tor sends nothing for this long (Tor streams cannot half-close).
  std::chrono::milliseconds half_open_timeout{60000};
  // After Tor's side ended and we sent FIN: how long we drain the client
  // before closing, so that closing with unread input (which sends RST)
  // cannot destroy data the client has not read yet.
  std::chrono::milliseconds linger_timeout{10000};
  // per-client-rate: bytes per second per SOCKS connection and direction
  // (client -> Tor and Tor -> client each get a token bucket); 0 = unlimited.
  uint64_t per_client_rate = 0;
};

// A token bucket for per-client-rate: `rate` bytes per second, at most
// `burst` saved up. Time is passed in (no clock inside), so it is testable.
// consume() may take more than is available: the debt delays what follows.
class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;
  TokenBucket(uint64_t rate, uint64_t burst, Clock::time_point now)
      : rate_(static_cast<double>(rate)), burst_(static_cast<double>(burst)), tokens_(burst_), last_(now) {}
  // The burst for a rate: a quarter of a second's worth, at least one cell.
  static uint64_t default_burst(uint64_t rate) { return std::max<uint64_t>(rate / 4, 512); }
  uint64_t burst() const { return static_cast<uint64_t>(burst_); }
  // Whole bytes that may be sent now.
  uint64_t available(Clock::time_point now) {
    refill(now);
    return tokens_ <= 0 ? 0 : static_cast<uint64_t>(tokens_);
  }
  void consume(uint64_t n) { tokens_ -= static_cast<double>(n); }
  // How long from `now` until `n` bytes (capped at the burst) are available.
  Clock::duration wait_for(uint64_t n, Clock::time_point now) {
    refill(now);
    double want = std::min(static_cast<double>(n), burst_);
    if (tokens_ >= want) return Clock::duration::zero();
    auto secs = std::chrono::duration<double>((want - tokens_) / rate_);
    return std::chrono::duration_cast<Clock::duration>(secs) + std::chrono::microseconds(1);
  }

 private:
  void refill(Clock::time_point now) {
    if (now <= last_) return;
    tokens_ = std::min(burst_, tokens_ + std::chrono::duration<double>(now - last_).count() * rate_);
    last_ = now;
  }
  double rate_, burst_, tokens_;
  Clock::time_point last_;
};

struct SocksStats {
  bool enabled = false;
  uint16_t port = 0;            // bound port while enabled, else the last configured one
  uint64_t accepted = 0;        // connections accepted in total
  uint64_t refused = 0;         // refused over max_connections
  uint64_t active = 0;          // open SOCKS connections
  uint64_t handshake_errors = 0;
  uint64_t connects_ok = 0;
  uint64_t connects_failed = 0;
  uint64_t resolves = 0;
  uint64_t bytes_to_tor = 0;    // client -> Tor
  uint64_t bytes_from_tor = 0;  // Tor -> client
};

// Maps a failed connect/resolve to the SOCKS5 reply code: the Tor END
// reason when the error carries one ("END CONNECTREFUSED", ...), else by
// error kind (timeout -> TTL expired, no circuit -> network unreachable).
socks::Socks5Reply reply_for_error(const Error &e);

class SocksServer : public std::enable_shared_from_this<SocksServer> {
 public:
  static std::shared_ptr<SocksServer> create(std::shared_ptr<SocksBackend> backend, SocksOptions opts);
  ~SocksServer();
  SocksServer(const SocksServer &) = delete;
  SocksServer &operator=(const SocksServer &) = delete;

  // Opens the listener on opts.address and `port` (or the configured port).
  // Enabling while enabled on another port moves the listener; open
  // sessions are not touched. Thread-safe; waits for the runtime thread.
  Status enable(std::optional<uint16_t> port = std::nullopt);
  // Closes the listener and ends every open session cleanly (END DONE to
  // the exit, FIN to the client). Thread-safe; idempotent.
  void disable();

  bool enabled() const { return enabled_.load(); }
  // The bound port while enabled (the real one for port 0), else the
  // configured one.
  uint16_t port() const { return port_.load(); }
  SocksStats stats() const;
  const SocksOptions &options() const { return opts_; }

 private:
  friend class SocksSession;
  SocksServer(std::shared_ptr<SocksBackend> backend, SocksOptions opts);
  template <typename F>
  auto on_runtime(F &&f) -> decltype(f());
  Status do_enable(uint16_t port);
  void do_disable(bool end_sessions);
  asio::awaitable<void> accept_loop(std::shared_ptr<asio::ip::tcp::acceptor> acc, uint64_t generation);
  void session_ended(SocksSession *s);

  std::shared_ptr<SocksBackend> backend_;
  asio::any_io_executor ex_;
  SocksOptions opts_;
  // Runtime thread only:
  std::shared_ptr<asio::ip::tcp::acceptor> acceptor_;
  uint64_t generation_ = 0;
  std::unordered_set<SocksSession *> sessions_;
  // Any thread:
  std::atomic<bool> enabled_{false};
  std::atomic<uint16_t> port_{0};
  std::atomic<uint64_t> accepted_{0}, refused_{0}, active_{0}, handshake_errors_{0}, connects_ok_{0},
      connects_failed_{0}, resolves_{0}, bytes_to_tor_{0}, bytes_from_tor_{0};
};

}  // namespace tc::app
