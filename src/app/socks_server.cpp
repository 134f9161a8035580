#include "app/socks_server.h"

#include <arpa/inet.h>

#include <array>
#include <asio/experimental/as_tuple.hpp>
#include <cctype>
#include <cstdio>
#include <future>

#include "runtime/event.h"
#include "util/log.h"

namespace tc::app {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kAwait = asio::experimental::as_tuple(asio::use_awaitable);
// Per-session buffers are most of our memory with many streams open:
// upstream starts small (most clients send a request and little more) and
// grows when a read fills it; downstream holds what one write carries.
constexpr size_t kUpBufferMin = 2 * 1024;  // client -> Tor, first reads
constexpr size_t kUpBuffer = 16 * 1024;    // client -> Tor, per read at most
constexpr size_t kDownBuffer = 16 * 1024;  // Tor -> client, per write
constexpr size_t kDownWrite = 64 * 1024;   // Tor -> client, per zero-copy write at most
constexpr size_t kCoalesceBytes = kDownBuffer;  // gather this much before a write when we can
constexpr size_t kMaxDrain = 1 << 20;      // bytes we read and drop while lingering

void log_exception(const char *where, std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception &x) {
    LOG_ERR("SOCKS: %s: unexpected exception: %s", where, x.what());
  } catch (...) {
    LOG_ERR("SOCKS: %s: unexpected exception", where);
  }
}

// "x.x.x.x.in-addr.arpa" / nibble ".ip6.arpa" name for a reverse lookup
// (tor-spec §6.4: RELAY_RESOLVE carries the in-addr.arpa form).
std::string reverse_name(const socks::Address &a) {
  char buf[8];
  std::string out;
  if (a.type == socks::Address::Type::kIpv4) {
    for (int i = 3; i >= 0; --i) {
      std::snprintf(buf, sizeof buf, "%u.", static_cast<unsigned>(a.ip[static_cast<size_t>(i)]));
      out += buf;
    }
    return out + "in-addr.arpa";
  }
  static const char kHex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    uint8_t b = a.ip[static_cast<size_t>(i)];
    out += kHex[b & 0xF];
    out += '.';
    out += kHex[b >> 4];
    out += '.';
  }
  return out + "ip6.arpa";
}

// A host name that is really an IP literal (SOCKS4a / SOCKS5 domain form).
std::optional<socks::Address> ip_literal(const std::string &s) {
  std::array<uint8_t, 16> b{};
  if (inet_pton(AF_INET, s.c_str(), b.data()) == 1) return socks::Address::ipv4({b[0], b[1], b[2], b[3]});
  std::string t = s;
  if (t.size() >= 2 && t.front() == '[' && t.back() == ']') t = t.substr(1, t.size() - 2);
  if (inet_pton(AF_INET6, t.c_str(), b.data()) == 1) return socks::Address::ipv6(b);
  return std::nullopt;
}

bool ends_with(const std::string &s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  for (size_t i = 0; i < suffix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[s.size() - suffix.size() + i])) != suffix[i]) return false;
  return true;
}

}  // namespace

socks::Socks5Reply reply_for_error(const Error &e) {
  using R = socks::Socks5Reply;
  // The runtime carries the exit's RELAY_END reason as the error's code.
  if (e.kind() == ErrorKind::kRefused && e.code() >= 1 && e.code() <= 255)
    return socks::end_reason_to_socks5_reply(static_cast<uint8_t>(e.code()));
  switch (e.kind()) {
    case ErrorKind::kTimeout: return R::kTtlExpired;
    case ErrorKind::kRefused: return R::kConnectionRefused;
    case ErrorKind::kNotFound:
    case ErrorKind::kExhausted: return R::kNetUnreachable;
    default: return R::kGeneralFailure;
  }
}

// ---------------------------------------------------------------- session

class SocksSession : public std::enable_shared_from_this<SocksSession> {
 public:
  SocksSession(std::shared_ptr<SocksServer> srv, tcp::socket sock, uint64_t id)
      : srv_(std::move(srv)),
        sock_(std::move(sock)),
        timer_(srv_->ex_),
        up_rate_timer_(srv_->ex_),
        down_rate_timer_(srv_->ex_),
        wake_(srv_->ex_),
        id_(id) {
    if (uint64_t r = srv_->opts_.per_client_rate; r != 0) {
      auto now = Clock::now();
      up_rate_.emplace(r, TokenBucket::default_burst(r), now);
      down_rate_.emplace(r, TokenBucket::default_burst(r), now);
    }
  }
  ~SocksSession() {
    std::error_code ec;
    timer_.cancel();
    if (stream_) stream_->close();
    sock_.close(ec);
    srv_->session_ended(this);
  }

  static asio::awaitable<void> run(std::shared_ptr<SocksSession> self) { co_await self->main(); }
  // Ends the session now: END DONE to the exit, the socket closed.
  void abort() {
    closing_ = true;
    timer_.cancel();
    up_rate_timer_.cancel();
    down_rate_timer_.cancel();
    if (stream_) stream_->close();
    close_socket();
    wake_.notify_all();
  }

 private:
  enum class Phase { kHandshake, kRequest, kSplice, kHalfOpen, kLinger };

  asio::awaitable<void> main();
  asio::awaitable<bool> handshake();
  asio::awaitable<void> do_connect(const socks::Request &req, runtime::IsolationKey iso);
  asio::awaitable<void> do_resolve(const socks::Request &req, runtime::IsolationKey iso);
  static asio::awaitable<void> upstream(std::shared_ptr<SocksSession> self);
  asio::awaitable<void> downstream();
  asio::awaitable<bool> write_to_stream(ByteSpan data);
  // per-client-rate: waits until `bucket` holds min(want, burst) bytes;
  // false when the session is closing.
  asio::awaitable<bool> throttle(TokenBucket &bucket, asio::steady_timer &t, size_t want);
  asio::awaitable<bool> send(ByteSpan b) {
    auto [ec, n] = co_await asio::async_write(sock_, asio::buffer(b.data(), b.size()), kAwait);
    (void)n;
    co_return !ec;
  }
  // Half-closes towards the client, reads and drops what it still sends,
  // then closes (see SocksOptions::linger_timeout).
  asio::awaitable<void> linger();
  void arm(std::chrono::milliseconds d) {
    timer_.expires_after(d);
    timer_.async_wait([w = weak_from_this()](std::error_code ec) {
      if (ec) return;
      if (auto s = w.lock()) s->on_deadline();
    });
  }
  void on_deadline();
  void close_socket() {
    std::error_code ec;
    sock_.close(ec);
  }
  const SocksOptions &opts() const { return srv_->opts_; }

  std::shared_ptr<SocksServer> srv_;
  tcp::socket sock_;
  asio::steady_timer timer_;
  // per-client-rate (SocksOptions::per_client_rate): one bucket per direction.
  std::optional<TokenBucket> up_rate_, down_rate_;
  asio::steady_timer up_rate_timer_, down_rate_timer_;
  runtime::Event wake_;  // the stream became readable / writable / ended, or we are closing
  socks::Handshake hs_;
  std::shared_ptr<runtime::TorStream> stream_;
  Phase phase_ = Phase::kHandshake;
  bool closing_ = false;
  bool client_eof_ = false;  // the client half-closed
  bool up_done_ = false;
  bool tor_ended_ = false;   // the stream ended or failed
  Clock::time_point last_down_ = Clock::now();
  uint64_t id_;
};

void SocksSession::on_deadline() {
  if (closing_) return;
  switch (phase_) {
    case Phase::kHandshake:
      ++srv_->handshake_errors_;
      LOG_INFO("SOCKS[%llu]: no complete request after %lld ms; closing", static_cast<unsigned long long>(id_),
               static_cast<long long>(opts().handshake_timeout.count()));
      abort();
      break;
    case Phase::kRequest:
      LOG_INFO("SOCKS[%llu]: request not answered after %lld ms; closing", static_cast<unsigned long long>(id_),
               static_cast<long long>(opts().request_timeout.count()));
      abort();
      break;
    case Phase::kHalfOpen: {
      auto idle = Clock::now() - last_down_;
      if (idle >= opts().half_open_timeout) {
        LOG_DEBUG("SOCKS[%llu]: half-open and idle; closing", static_cast<unsigned long long>(id_));
        abort();
      } else {
        arm(std::chrono::duration_cast<std::chrono::milliseconds>(opts().half_open_timeout - idle) +
            std::chrono::milliseconds(1));
      }
      break;
    }
    case Phase::kLinger:
      closing_ = true;
      up_rate_timer_.cancel();
      down_rate_timer_.cancel();
      close_socket();
      wake_.notify_all();
      break;
    case Phase::kSplice:
      break;
  }
}

asio::awaitable<void> SocksSession::main() {
  if (log::level() <= log::Level::kDebug) {
    std::error_code ec;
    auto peer = sock_.remote_endpoint(ec);
    LOG_DEBUG("SOCKS[%llu]: new connection from %s", static_cast<unsigned long long>(id_),
              log::safe(ec ? std::string("?") : peer.address().to_string()).c_str());
  }
  {
    std::error_code ec;
    sock_.set_option(tcp::no_delay(true), ec);
  }
  arm(opts().handshake_timeout);
  if (!co_await handshake()) co_return;
  const socks::Request &req = hs_.request();
  runtime::IsolationKey iso;
  if (req.auth) {
    iso.username = req.auth->username;
    iso.password = req.auth->password;
  }
  phase_ = Phase::kRequest;
  arm(opts().request_timeout);
  if (req.command == socks::Command::kConnect) {
    co_await do_connect(req, std::move(iso));
  } else {
    co_await do_resolve(req, std::move(iso));
  }
}

asio::awaitable<bool> SocksSession::handshake() {
  std::array<uint8_t, 1024> buf;
  for (;;) {
    auto [ec, n] = co_await sock_.async_read_some(asio::buffer(buf), kAwait);
    if (closing_) co_return false;
    if (ec) {
      // EOF or reset before a complete request: nothing to answer.
      ++srv_->handshake_errors_;
      LOG_DEBUG("SOCKS[%llu]: client went away during the handshake (%s)", static_cast<unsigned long long>(id_),
                ec.message().c_str());
      close_socket();
      co_return false;
    }
    auto step = hs_.feed(ByteSpan(buf.data(), n));
    if (!step) {
      ++srv_->handshake_errors_;
      LOG_INFO("SOCKS[%llu]: bad request: %s", static_cast<unsigned long long>(id_),
               step.error().message().c_str());
      if (!hs_.failure_reply().empty()) (void)co_await send(hs_.failure_reply());
      co_await linger();
      co_return false;
    }
    if (!step->reply.empty() && !co_await send(step->reply)) {
      close_socket();
      co_return false;
    }
    if (step->done) co_return true;
  }
}

asio::awaitable<void> SocksSession::do_connect(const socks::Request &req, runtime::IsolationKey iso) {
  auto self = shared_from_this();
  std::string host = req.address.to_string();
  LOG_INFO("SOCKS[%llu]: CONNECT %s (SOCKS%u%s%s)", static_cast<unsigned long long>(id_),
           log::safe(host + ":" + std::to_string(req.port)).c_str(), req.version, req.socks4a ? "a" : "",
           req.auth ? ", with credentials" : "");
  auto r = co_await srv_->backend_->connect(host, req.port, std::move(iso));
  if (closing_) {
    if (r) (*r)->close();
    co_return;
  }
  if (!r) {
    ++srv_->connects_failed_;
    auto rep = reply_for_error(r.error());
    LOG_INFO("SOCKS[%llu]: CONNECT failed (%s): %s", static_cast<unsigned long long>(id_),
             socks::socks5_reply_name(rep), log::safe(r.error().to_string()).c_str());
    if (co_await send(socks::connect_reply(req, rep))) co_await linger();
    close_socket();
    co_return;
  }
  ++srv_->connects_ok_;
  stream_ = std::move(*r);
  stream_->set_notify([w = weak_from_this()] {
    if (auto s = w.lock()) s->wake_.notify_all();
  });
  Bytes leftover = hs_.take_leftover();  // optimistic data (socks-extensions §5)
  if (!co_await send(socks::connect_reply(req, socks::Socks5Reply::kSucceeded))) {
    abort();
    co_return;
  }
  timer_.cancel();
  phase_ = Phase::kSplice;
  if (!leftover.empty() && !co_await write_to_stream(leftover)) {
    // The stream is already gone: downstream sees that and ends the session.
  }
  asio::co_spawn(srv_->ex_, upstream(self), [](std::exception_ptr e) { log_exception("upstream", e); });
  co_await downstream();
}

asio::awaitable<bool> SocksSession::write_to_stream(ByteSpan data) {
  size_t done = 0;
  while (done < data.size()) {
    if (closing_ || tor_ended_) co_return false;
    auto n = stream_->write_now(data.subspan(done));
    if (!n) co_return false;
    done += *n;
    srv_->bytes_to_tor_ += *n;
    // Wait for a window (a SENDME wakes us through the stream's notify).
    if (done < data.size()) co_await wake_.wait();
  }
  co_return true;
}

asio::awaitable<bool> SocksSession::throttle(TokenBucket &bucket, asio::steady_timer &t, size_t want) {
  for (;;) {
    if (closing_) co_return false;
    auto d = bucket.wait_for(want, Clock::now());
    if (d == Clock::duration::zero()) co_return true;
    t.expires_after(d);
    (void)co_await t.async_wait(kAwait);
  }
}

asio::awaitable<void> SocksSession::upstream(std::shared_ptr<SocksSession> self) {
  std::vector<uint8_t> buf(kUpBufferMin);
  for (;;) {
    size_t cap = buf.size();
    // per-client-rate: read no more from the client than we may send on.
    if (self->up_rate_ && !self->tor_ended_) {
      if (!co_await self->throttle(*self->up_rate_, self->up_rate_timer_, cap)) break;
      cap = std::min<size_t>(cap, self->up_rate_->available(Clock::now()));
    }
    auto [ec, n] = co_await self->sock_.async_read_some(asio::buffer(buf.data(), cap), kAwait);
    if (!ec && n == buf.size() && buf.size() < kUpBuffer) buf.resize(kUpBuffer);  // a bulk sender
    if (self->closing_) break;
    if (ec == asio::error::eof) {
      self->client_eof_ = true;
      break;
    }
    if (ec) {
      // Reset by the client (or closed by a linger deadline): end both ways.
      if (!self->tor_ended_) LOG_DEBUG("SOCKS[%llu]: client read failed: %s",
                                       static_cast<unsigned long long>(self->id_), ec.message().c_str());
      self->abort();
      break;
    }
    if (self->tor_ended_) continue;  // lingering: read and drop
    if (self->up_rate_) self->up_rate_->consume(n);
    (void)co_await self->write_to_stream(ByteSpan(buf.data(), n));
  }
  self->up_done_ = true;
  if (self->closing_) co_return;
  if (self->tor_ended_) {
    // Lingering and the client closed too: done.
    self->closing_ = true;
    self->close_socket();
    self->wake_.notify_all();
    co_return;
  }
  // Tor streams cannot half-close (tor-spec §6.3 END closes both ways):
  // keep delivering what the exit sends until it ends or goes quiet.
  self->phase_ = Phase::kHalfOpen;
  self->last_down_ = Clock::now();
  self->arm(self->opts().half_open_timeout);
}

asio::awaitable<void> SocksSession::downstream() {
  auto self = shared_from_this();
  std::vector<uint8_t> buf;  // only with a rate limit; otherwise zero-copy
  if (down_rate_) buf.resize(kDownBuffer);
  bool client_gone = false;
  for (;;) {
    if (closing_) break;
    // Coalesce: the channel hands us one TLS record (a few cells) per
    // wake-up. While the stream flows, let it decrypt the records it already
    // holds before we write, so the client gets fewer, larger writes (fewer
    // syscalls and wake-ups per MB). Each yield is a post on our own thread,
    // not a timer.
    for (int spins = 0; spins < 8 && stream_->readable_bytes() > 0 && stream_->readable_bytes() < kCoalesceBytes &&
                        stream_->status() == runtime::StreamStatus::kOpen;
         ++spins) {
      size_t before = stream_->readable_bytes();
      co_await asio::post(sock_.get_executor(), asio::use_awaitable);
      if (closing_ || stream_->readable_bytes() == before) break;  // nothing more came
    }
    if (closing_) break;
    size_t cap = buf.size();
    // per-client-rate: take no more from the stream than we may write; what
    // stays unread holds back the stream's SENDMEs, so the exit slows down.
    if (down_rate_ && stream_->readable_bytes() > 0) {
      if (!co_await throttle(*down_rate_, down_rate_timer_, std::min(cap, stream_->readable_bytes()))) break;
      cap = std::min<size_t>(cap, down_rate_->available(Clock::now()));
    }
    if (!down_rate_ && stream_->readable_bytes() > 0) {
      // Straight from the stream's buffer to the socket: no copy, and up to
      // kDownWrite per write. The stream holds the bytes until written.
      std::array<ByteSpan, kDownWrite / ChunkQueue::kChunk + 1> spans;
      size_t k = stream_->peek_now(spans, kDownWrite);
      std::array<asio::const_buffer, spans.size()> bufs{};  // unused ones stay empty
      size_t n = 0;
      for (size_t i = 0; i < k; ++i) {
        bufs[i] = asio::buffer(spans[i].data(), spans[i].size());
        n += spans[i].size();
      }
      srv_->bytes_from_tor_ += n;
      last_down_ = Clock::now();
      auto [ec, w] = co_await asio::async_write(sock_, bufs, kAwait);
      stream_->consume_now(w);
      if (ec) {
        client_gone = true;
        break;
      }
      continue;
    }
    size_t n = stream_->read_now(MutableByteSpan(buf.data(), cap));
    if (n > 0) {
      if (down_rate_) down_rate_->consume(n);
      srv_->bytes_from_tor_ += n;
      last_down_ = Clock::now();
      auto [ec, w] = co_await asio::async_write(sock_, asio::buffer(buf.data(), n), kAwait);
      (void)w;
      if (ec) {
        client_gone = true;
        break;
      }
      continue;
    }
    auto st = stream_->status();
    if (st == runtime::StreamStatus::kEnded || st == runtime::StreamStatus::kFailed) {
      tor_ended_ = true;
      break;
    }
    co_await wake_.wait();
  }
  if (closing_) co_return;
  if (client_gone) {
    LOG_DEBUG("SOCKS[%llu]: client write failed; closing the stream", static_cast<unsigned long long>(id_));
    abort();
    co_return;
  }
  if (stream_->status() == runtime::StreamStatus::kFailed && stream_->error()) {
    LOG_INFO("SOCKS[%llu]: stream failed: %s", static_cast<unsigned long long>(id_),
             log::safe(stream_->error()->to_string()).c_str());
  } else {
    LOG_DEBUG("SOCKS[%llu]: stream ended (END %s)", static_cast<unsigned long long>(id_),
              cell::end_reason_name(stream_->end_reason()));
  }
  stream_->close();  // forget it on the circuit; no END after the exit's END
  wake_.notify_all();  // an upstream writer waiting for a window gives up
  if (up_done_) {
    closing_ = true;
    close_socket();
    co_return;
  }
  // FIN to the client; upstream keeps reading (and dropping) until the
  // client closes or the linger deadline passes.
  std::error_code ec;
  sock_.shutdown(tcp::socket::shutdown_send, ec);
  phase_ = Phase::kLinger;
  arm(opts().linger_timeout);
}

asio::awaitable<void> SocksSession::linger() {
  phase_ = Phase::kLinger;
  arm(opts().linger_timeout);
  std::error_code ec;
  sock_.shutdown(tcp::socket::shutdown_send, ec);
  std::array<uint8_t, 4096> buf;
  size_t drained = 0;
  while (!closing_ && sock_.is_open() && drained < kMaxDrain) {
    auto [e, n] = co_await sock_.async_read_some(asio::buffer(buf), kAwait);
    if (e) break;
    drained += n;
  }
  timer_.cancel();
  close_socket();
}

asio::awaitable<void> SocksSession::do_resolve(const socks::Request &req, runtime::IsolationKey iso) {
  ++srv_->resolves_;
  const bool ptr = req.command == socks::Command::kResolvePtr;
  std::string name;
  if (ptr) {
    std::optional<socks::Address> ip;
    if (!req.address.is_hostname())
      ip = req.address;
    else
      ip = ip_literal(req.address.hostname);
    if (ip) {
      name = reverse_name(*ip);
    } else if (ends_with(req.address.hostname, ".in-addr.arpa") || ends_with(req.address.hostname, ".ip6.arpa")) {
      name = req.address.hostname;
    } else {
      LOG_INFO("SOCKS[%llu]: RESOLVE_PTR of something that is not an address", static_cast<unsigned long long>(id_));
      if (co_await send(socks::resolve_failed_reply(req, socks::Socks5Reply::kAddressTypeNotSupported)))
        co_await linger();
      co_return;
    }
  } else {
    std::optional<socks::Address> ip;
    if (!req.address.is_hostname())
      ip = req.address;
    else
      ip = ip_literal(req.address.hostname);
    if (ip) {
      // Resolving an address is the address itself, as tor answers it.
      if (co_await send(socks::resolve_reply(req, *ip))) co_await linger();
      co_return;
    }
    name = req.address.hostname;
  }
  LOG_INFO("SOCKS[%llu]: %s %s", static_cast<unsigned long long>(id_), socks::command_name(req.command),
           log::safe(name).c_str());
  auto r = co_await srv_->backend_->resolve(name, std::move(iso));
  if (closing_) co_return;
  std::optional<socks::Address> answer;
  socks::Socks5Reply fail = socks::Socks5Reply::kHostUnreachable;
  if (!r) {
    fail = reply_for_error(r.error());
    LOG_INFO("SOCKS[%llu]: resolve failed (%s): %s", static_cast<unsigned long long>(id_),
             socks::socks5_reply_name(fail), log::safe(r.error().to_string()).c_str());
  } else {
    namespace rt = cell::resolved_type;
    std::optional<socks::Address> v4, v6, host;
    for (const auto &a : *r) {
      if (a.type == rt::kIpv4 && a.value.size() == 4 && !v4)
        v4 = socks::Address::ipv4({a.value[0], a.value[1], a.value[2], a.value[3]});
      else if (a.type == rt::kIpv6 && a.value.size() == 16 && !v6) {
        std::array<uint8_t, 16> b{};
        std::copy(a.value.begin(), a.value.end(), b.begin());
        v6 = socks::Address::ipv6(b);
      } else if (a.type == rt::kHostname && !host)
        host = socks::Address::host(std::string(a.value.begin(), a.value.end()));
    }
    if (!v4 && !v6 && !host)
      LOG_INFO("SOCKS[%llu]: %s: no usable answer among %zu (first type 0x%02x)", static_cast<unsigned long long>(id_),
               socks::command_name(req.command), r->size(), r->empty() ? 0 : (*r)[0].type);
    if (ptr)
      answer = host;
    else if (v4)
      answer = v4;
    else if (v6 && req.version == 5)
      answer = v6;
  }
  Bytes reply = answer ? socks::resolve_reply(req, *answer) : socks::resolve_failed_reply(req, fail);
  if (co_await send(reply)) co_await linger();
  close_socket();
}

// ---------------------------------------------------------------- server

std::shared_ptr<SocksServer> SocksServer::create(std::shared_ptr<SocksBackend> backend, SocksOptions opts) {
  return std::shared_ptr<SocksServer>(new SocksServer(std::move(backend), std::move(opts)));
}

SocksServer::SocksServer(std::shared_ptr<SocksBackend> backend, SocksOptions opts)
    : backend_(std::move(backend)), ex_(backend_->executor()), opts_(std::move(opts)) {
  port_ = opts_.port;
}

SocksServer::~SocksServer() = default;

template <typename F>
auto SocksServer::on_runtime(F &&f) -> decltype(f()) {
  using R = decltype(f());
  auto *io_ex = ex_.target<asio::io_context::executor_type>();
  if (io_ex && io_ex->running_in_this_thread()) return f();
  auto p = std::make_shared<std::promise<R>>();
  auto fut = p->get_future();
  asio::post(ex_, [p, fn = std::forward<F>(f)]() mutable {
    if constexpr (std::is_void_v<R>) {
      fn();
      p->set_value();
    } else {
      p->set_value(fn());
    }
  });
  if (fut.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    if constexpr (std::is_void_v<R>) {
      LOG_ERR("SOCKS: the runtime thread did not answer within 30 s");
      return;
    } else {
      return Error(ErrorKind::kTimeout, "SOCKS: the runtime thread did not answer within 30 s");
    }
  }
  return fut.get();
}

Status SocksServer::enable(std::optional<uint16_t> port) {
  uint16_t p = port ? *port : opts_.port;
  auto self = shared_from_this();
  return on_runtime([self, p] { return self->do_enable(p); });
}

void SocksServer::disable() {
  auto self = shared_from_this();
  on_runtime([self] { self->do_disable(true); });
}

Status SocksServer::do_enable(uint16_t port) {
  if (acceptor_ && acceptor_->is_open() && port != 0 && port == port_.load()) return {};
  std::error_code ec;
  auto addr = asio::ip::make_address(opts_.address, ec);
  if (ec) return Error(ErrorKind::kInvalidArgument, "SOCKS address '" + opts_.address + "': not an IP address");
  tcp::endpoint ep(addr, port);
  std::string where = "SOCKS listener " + (addr.is_v6() ? "[" + opts_.address + "]" : opts_.address) + ":" +
                      std::to_string(port);
  auto acc = std::make_shared<tcp::acceptor>(ex_);
  if (acc->open(ep.protocol(), ec); ec) return Error(ErrorKind::kIo, where + ": socket: " + ec.message());
  if (acc->set_option(tcp::acceptor::reuse_address(true), ec); ec)
    return Error(ErrorKind::kIo, where + ": SO_REUSEADDR: " + ec.message());
  if (addr.is_v6()) (void)acc->set_option(asio::ip::v6_only(true), ec);
  if (acc->bind(ep, ec); ec) return Error(ErrorKind::kIo, where + ": bind: " + ec.message());
  if (acc->listen(asio::socket_base::max_listen_connections, ec); ec)
    return Error(ErrorKind::kIo, where + ": listen: " + ec.message());
  // Moving to another port: the old listener goes, sessions stay.
  if (acceptor_) acceptor_->close(ec);
  acceptor_ = acc;
  uint64_t gen = ++generation_;
  port_ = acc->local_endpoint(ec).port();
  enabled_ = true;
  if (!addr.is_loopback())
    LOG_WARN("SOCKS listener on a non-loopback address: anyone who can reach it can use this Tor client");
  LOG_NOTICE("SOCKS listener open on %s:%u", addr.is_v6() ? ("[" + opts_.address + "]").c_str() : opts_.address.c_str(),
             static_cast<unsigned>(port_.load()));
  asio::co_spawn(ex_, accept_loop(acc, gen), [](std::exception_ptr e) { log_exception("accept", e); });
  return {};
}

void SocksServer::do_disable(bool end_sessions) {
  std::error_code ec;
  if (acceptor_) {
    ++generation_;
    acceptor_->close(ec);
    acceptor_.reset();
    LOG_NOTICE("SOCKS listener closed");
  }
  enabled_ = false;
  if (!end_sessions) return;
  std::vector<std::shared_ptr<SocksSession>> open;
  for (SocksSession *s : sessions_)
    if (auto sp = s->weak_from_this().lock()) open.push_back(std::move(sp));
  if (!open.empty()) LOG_NOTICE("SOCKS: ending %zu open connection(s)", open.size());
  for (auto &s : open) s->abort();
}

void SocksServer::session_ended(SocksSession *s) {
  sessions_.erase(s);
  --active_;
}

asio::awaitable<void> SocksServer::accept_loop(std::shared_ptr<tcp::acceptor> acc, uint64_t generation) {
  auto self = shared_from_this();
  for (;;) {
    auto [ec, sock] = co_await acc->async_accept(kAwait);
    if (generation != generation_ || !acc->is_open()) break;
    if (ec) {
      if (ec == asio::error::operation_aborted) break;
      // Out of descriptors and the like: back off instead of spinning.
      LOG_WARN("SOCKS: accept failed: %s", ec.message().c_str());
      asio::steady_timer t(ex_, std::chrono::milliseconds(100));
      (void)co_await t.async_wait(kAwait);
      continue;
    }
    if (active_.load() >= opts_.max_connections) {
      uint64_t n = ++refused_;
      if ((n & (n - 1)) == 0)  // 1st, 2nd, 4th, ...: no log flood under load
        LOG_NOTICE("SOCKS: refusing connections: %u open (max-connections); %llu refused so far",
                   opts_.max_connections, static_cast<unsigned long long>(n));
      std::error_code ignored;
      sock.close(ignored);
      continue;
    }
    uint64_t id = ++accepted_;
    ++active_;
    auto s = std::make_shared<SocksSession>(self, std::move(sock), id);
    sessions_.insert(s.get());
    asio::co_spawn(ex_, SocksSession::run(std::move(s)), [](std::exception_ptr e) { log_exception("session", e); });
  }
}

SocksStats SocksServer::stats() const {
  SocksStats s;
  s.enabled = enabled_.load();
  s.port = port_.load();
  s.accepted = accepted_.load();
  s.refused = refused_.load();
  s.active = active_.load();
  s.handshake_errors = handshake_errors_.load();
  s.connects_ok = connects_ok_.load();
  s.connects_failed = connects_failed_.load();
  s.resolves = resolves_.load();
  s.bytes_to_tor = bytes_to_tor_.load();
  s.bytes_from_tor = bytes_from_tor_.load();
  return s;
}

}  // namespace tc::app
