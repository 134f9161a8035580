// The C API (include/torclient.h) over runtime::TorClient.
//
// Threads: callers (any threads) and the client's runtime thread meet in a
// Stream's mutex-protected buffers (rx: taken from the TorStream for the
// caller; tx: accepted from the caller for the TorStream, each bounded by
// ARTI_STREAM_BUFFER_MAX) and in completion Queues. Everything touching the
// TorStream itself runs on the runtime thread (asio::post); callers never
// wait for the runtime except in the blocking calls.
#include "torclient.h"

#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <asio.hpp>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>

#include "cell/relay.h"
#include "control/control.h"
#include "daemon/config.h"
#include "runtime/client.h"
#include "socks/socks.h"
#include "util/log.h"

namespace tc::capi {
namespace {

using runtime::TorClient;
using runtime::TorStream;

constexpr size_t kBufMax = ARTI_STREAM_BUFFER_MAX;
constexpr size_t kScratch = 64 * 1024;
constexpr uint32_t kClientMagic = 0x7c11e47a;
constexpr uint32_t kStreamMagic = 0x7c5743a3;
constexpr uint32_t kQueueMagic = 0x7c09e0e0;
constexpr uint32_t kSocksMagic = 0x7c50c55e;
constexpr auto kLinger = std::chrono::seconds(30);

thread_local std::string t_last_error;

void set_error(std::string msg) noexcept {
  try {
    t_last_error = std::move(msg);
  } catch (...) {
    t_last_error.clear();  // out of memory: no message rather than an exception
  }
}

int fail(int code, std::string msg) noexcept {
  set_error(std::move(msg));
  return code;
}

// Connect failures, mapped like the SOCKS replies (tor-spec §6.3 END reasons).
int connect_errno(const Error &e) {
  switch (e.kind()) {
    case ErrorKind::kRefused:
      switch (e.code()) {
        case 2:   // RESOLVEFAILED
        case 8:   // NOROUTE
          return -EHOSTUNREACH;
        case 4:   // EXITPOLICY
          return -EACCES;
        case 7:   // TIMEOUT
          return -ETIMEDOUT;
        case 0:
        case 1:   // MISC: C tor exits say this for many refusals
        case 3:   // CONNECTREFUSED
        case 6:   // DONE before CONNECTED
        case 12:  // CONNRESET
          return -ECONNREFUSED;
        default:
          return -ENETUNREACH;
      }
    case ErrorKind::kTimeout: return -ETIMEDOUT;
    case ErrorKind::kInvalidArgument:
    case ErrorKind::kMalformed: return -EINVAL;
    case ErrorKind::kInternal: return -EIO;
    default: return -ENETUNREACH;  // no circuit, channel or exit could carry it
  }
}

// ---------------------------------------------------------------- Queue

struct Queue {
  std::mutex mu;
  std::deque<arti_completion> items;
  int efd = -1;
  std::atomic<int> bound{0};  // open streams bound to this queue

  ~Queue() {
    if (efd >= 0) ::close(efd);
  }
  // The eventfd's counter is non-zero exactly while items is not empty
  // (both changed under mu), so the fd is level-triggered readable.
  void push(const arti_completion &c) {
    std::lock_guard<std::mutex> lk(mu);
    bool was_empty = items.empty();
    items.push_back(c);
    if (was_empty) {
      uint64_t one = 1;
      [[maybe_unused]] ssize_t r = ::write(efd, &one, sizeof one);
    }
  }
  int poll(arti_completion *out, int max) {
    std::lock_guard<std::mutex> lk(mu);
    int n = 0;
    while (n < max && !items.empty()) {
      out[n++] = items.front();
      items.pop_front();
    }
    if (n > 0 && items.empty()) reset_fd();
    return n;
  }
  void purge(const void *stream) {
    std::lock_guard<std::mutex> lk(mu);
    if (items.empty()) return;
    std::erase_if(items, [stream](const arti_completion &c) { return c.stream == stream; });
    if (items.empty()) reset_fd();
  }

 private:
  void reset_fd() {
    uint64_t v;
    [[maybe_unused]] ssize_t r = ::read(efd, &v, sizeof v);
  }
};

Result<std::shared_ptr<Queue>> make_queue() {
  auto q = std::make_shared<Queue>();
  q->efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (q->efd < 0) return Error(ErrorKind::kIo, std::string("eventfd: ") + std::strerror(errno));
  return q;
}

// ---------------------------------------------------------------- Core

struct Stream;

// One per client handle; outlives it while streams still refer to it.
struct Core {
  std::mutex mu;
  std::shared_ptr<TorClient> client;  // null once shut down
  std::shared_ptr<Queue> default_queue;
  asio::any_io_executor executor;  // the runtime's (for timers)

  // Runs fn on the runtime thread; false once the client is shut down.
  template <typename Fn>
  bool post(Fn &&fn) {
    std::lock_guard<std::mutex> lk(mu);
    if (!client) return false;
    asio::post(client->executor(), std::forward<Fn>(fn));
    return true;
  }

  // --- runtime thread only ---
  bool stopping = false;
  // Streams holding a TorStream (or waiting for one): released at shutdown
  // so no TorStream outlives the runtime's io_context.
  std::unordered_set<std::shared_ptr<Stream>> live;
};

// ---------------------------------------------------------------- Stream

enum class Phase { kOpening, kOpen, kDone };

struct Stream : std::enable_shared_from_this<Stream> {
  std::shared_ptr<Core> core;
  std::shared_ptr<Queue> queue;  // null: no events (blocking arti_connect)
  uint64_t tag = 0;
  void *handle = nullptr;  // what completions name
  std::string host;
  uint16_t port = 0;
  runtime::IsolationKey iso;

  std::mutex mu;
  std::condition_variable cv;
  // --- guarded by mu ---
  Phase phase = Phase::kOpening;
  int result = 0;               // kDone: 0 = clean end, else negative errno
  bool connect_failed = false;  // kDone without ever being open
  std::string error_text;
  Bytes rx, tx;
  size_t rx_head = 0, tx_head = 0;
  bool rx_event_out = false;  // READABLE queued since the last try_recv
  bool tx_want = false;       // a sender found the buffer full
  bool rx_stalled = false;    // the runtime stopped pulling: rx was full
  bool closed_event_sent = false;
  bool user_closed = false;
  std::atomic<bool> pump_posted{false};

  // --- runtime thread only ---
  std::shared_ptr<TorStream> ts;
  bool lingering = false;
  std::unique_ptr<asio::steady_timer> linger_timer;
  Bytes scratch;

  size_t rx_pending() const { return rx.size() - rx_head; }
  size_t tx_pending() const { return tx.size() - tx_head; }

  // mu held.
  void emit(int ev, int res) {
    if (queue && !user_closed) queue->push(arti_completion{tag, handle, ev, res});
  }

  void request_pump() {
    if (pump_posted.exchange(true)) return;
    auto self = shared_from_this();
    if (!core->post([self] {
          self->pump_posted = false;
          self->pump();
        }))
      pump_posted = false;
  }

  // Runtime thread: the connect finished.
  void on_connected(Result<std::shared_ptr<TorStream>> r) {
    {
      std::unique_lock<std::mutex> lk(mu);
      if (phase == Phase::kDone) {  // closed by the user or shut down meanwhile
        lk.unlock();
        if (r) (*r)->close();
        core->live.erase(shared_from_this());
        return;
      }
      if (!r) {
        phase = Phase::kDone;
        connect_failed = true;
        result = connect_errno(r.error());
        error_text = "connect: " + r.error().message();
        emit(ARTI_EV_CONNECTED, result);
        cv.notify_all();
      }
    }
    if (!r) {
      core->live.erase(shared_from_this());
      return;
    }
    ts = std::move(*r);
    scratch.resize(kScratch);
    std::weak_ptr<Stream> w = weak_from_this();
    ts->set_notify([w] {
      // Deferred: we are inside the circuit's cell handling here.
      if (auto s = w.lock()) s->request_pump();
    });
    {
      std::lock_guard<std::mutex> lk(mu);
      phase = Phase::kOpen;
      emit(ARTI_EV_CONNECTED, 0);
      cv.notify_all();
    }
    pump();
  }

  // Runtime thread: move data both ways, then report state changes.
  void pump() {
    if (!ts) return;
    std::unique_lock<std::mutex> lk(mu, std::defer_lock);
    // Inbound: TorStream -> rx. Taking bytes lets the TorStream send stream
    // SENDMEs (tor-spec §7.4), so a full rx stops the exit: backpressure.
    if (!lingering) {
      lk.lock();
      while (ts->readable_bytes() > 0) {
        size_t space = kBufMax - rx_pending();
        if (space == 0) {
          rx_stalled = true;
          break;
        }
        if (rx_head > 0 && rx_head >= rx.size() / 2) {
          rx.erase(rx.begin(), rx.begin() + static_cast<ptrdiff_t>(rx_head));
          rx_head = 0;
        }
        size_t want = std::min(space, ts->readable_bytes());
        size_t old = rx.size();
        rx.resize(old + want);
        size_t n = ts->read_now(MutableByteSpan(rx.data() + old, want));
        rx.resize(old + n);
        if (n == 0) break;
      }
      lk.unlock();
    }
    // Outbound: tx -> TorStream as far as the windows allow. Cells are
    // built from a copy so callers are not held up by the relay crypto.
    bool write_failed = false;
    for (;;) {
      size_t w = ts->writable_now();
      if (w == 0) break;
      size_t k;
      lk.lock();
      k = std::min({tx_pending(), w, scratch.size()});
      if (k > 0) std::memcpy(scratch.data(), tx.data() + tx_head, k);
      lk.unlock();
      if (k == 0) break;
      auto r = ts->write_now(ByteSpan(scratch.data(), k));
      if (!r) {
        write_failed = true;
        break;
      }
      lk.lock();
      tx_head += *r;
      if (tx_head == tx.size()) {
        tx.clear();
        tx_head = 0;
      }
      lk.unlock();
      if (*r < k) break;
    }
    auto st = ts->status();
    bool ended = st == runtime::StreamStatus::kEnded || st == runtime::StreamStatus::kFailed;
    bool release = false;
    lk.lock();
    if (phase == Phase::kOpen && (write_failed || (ended && ts->readable_bytes() == 0) ||
                                  (ended && lingering))) {
      phase = Phase::kDone;
      if (st == runtime::StreamStatus::kEnded) {
        uint8_t why = ts->end_reason();
        result = (why == 0 || why == 6 /*DONE*/) ? 0 : why == 7 /*TIMEOUT*/ ? -ETIMEDOUT : -ECONNRESET;
        if (result != 0) error_text = std::string("stream ended: END reason ") + cell::end_reason_name(why);
      } else {
        result = -ECONNRESET;
        error_text = ts->error() ? "stream failed: " + ts->error()->message() : "stream failed";
      }
      if (!closed_event_sent) {
        closed_event_sent = true;
        emit(ARTI_EV_CLOSED, result);
      }
      release = true;
    }
    if (phase != Phase::kOpening && !rx_event_out && (rx_pending() > 0 || phase == Phase::kDone) &&
        queue && !user_closed) {
      rx_event_out = true;
      emit(ARTI_EV_READABLE, 0);
    }
    if (tx_want && phase == Phase::kOpen && kBufMax - tx_pending() >= kBufMax / 2) {
      tx_want = false;
      emit(ARTI_EV_WRITABLE, 0);
    }
    if (lingering && tx_pending() == 0) release = true;
    cv.notify_all();
    lk.unlock();
    if (release) this->release();
  }

  // Runtime thread: gives the TorStream back (END if still open).
  void release() {
    auto self = shared_from_this();  // live may hold the last reference
    if (ts) {
      ts->set_notify(nullptr);
      ts->close();
      ts.reset();
    }
    linger_timer.reset();
    core->live.erase(self);
  }

  // Runtime thread: arti_close_stream.
  void on_user_close() {
    {
      std::lock_guard<std::mutex> lk(mu);
      if (phase == Phase::kOpening) {
        phase = Phase::kDone;  // on_connected closes the TorStream
        return;
      }
    }
    if (!ts) {
      core->live.erase(shared_from_this());
      return;
    }
    lingering = true;
    pump();
    if (ts) {  // data still waits for a window: give it a while, then END
      linger_timer = std::make_unique<asio::steady_timer>(core->executor, kLinger);
      std::weak_ptr<Stream> w = weak_from_this();
      linger_timer->async_wait([w](std::error_code ec) {
        auto s = w.lock();
        if (!ec && s && s->ts) s->release();
      });
    }
  }

  // Runtime thread: the client is shutting down.
  void abort_for_shutdown() {
    if (ts) {
      ts->set_notify(nullptr);
      ts->close();
      ts.reset();
    }
    linger_timer.reset();
    std::lock_guard<std::mutex> lk(mu);
    if (phase == Phase::kDone) return;
    bool was_opening = phase == Phase::kOpening;
    phase = Phase::kDone;
    result = -ESHUTDOWN;
    error_text = "the client was shut down";
    if (was_opening) {
      connect_failed = true;
      emit(ARTI_EV_CONNECTED, result);
    } else {
      closed_event_sent = true;
      emit(ARTI_EV_CLOSED, result);
      if (!rx_event_out) {
        rx_event_out = true;
        emit(ARTI_EV_READABLE, 0);
      }
    }
    cv.notify_all();
  }

  // --- caller side (mu held) ---
  ssize_t take_rx(uint8_t *buf, size_t len, bool *unstall) {
    size_t n = std::min(len, rx_pending());
    std::memcpy(buf, rx.data() + rx_head, n);
    rx_head += n;
    if (rx_head == rx.size()) {
      rx.clear();
      rx_head = 0;
    }
    if (rx_stalled && rx_pending() <= kBufMax / 2) {
      rx_stalled = false;
      *unstall = true;
    }
    return static_cast<ssize_t>(n);
  }
  size_t put_tx(const uint8_t *data, size_t len) {
    size_t n = std::min(len, kBufMax - tx_pending());
    if (n == 0) return 0;
    if (tx_head > 0 && tx_head >= tx.size() / 2) {
      tx.erase(tx.begin(), tx.begin() + static_cast<ptrdiff_t>(tx_head));
      tx_head = 0;
    }
    tx.insert(tx.end(), data, data + n);
    return n;
  }
  int send_error() const { return connect_failed || result == -ESHUTDOWN ? result : -EPIPE; }
};

// ---------------------------------------------------------------- handles

struct ClientHandle {
  uint32_t magic = kClientMagic;
  std::shared_ptr<Core> core;
};
struct StreamHandle {
  uint32_t magic = kStreamMagic;
  std::shared_ptr<Stream> s;
};
struct QueueHandle {
  uint32_t magic = kQueueMagic;
  std::shared_ptr<Queue> q;
};
struct SocksHandle {
  uint32_t magic = kSocksMagic;
  socks::Handshake hs;
  bool refused = false;
  Bytes leftover;
};

ClientHandle *as_client(void *p) {
  auto *h = static_cast<ClientHandle *>(p);
  return h && h->magic == kClientMagic ? h : nullptr;
}
StreamHandle *as_stream(void *p) {
  auto *h = static_cast<StreamHandle *>(p);
  return h && h->magic == kStreamMagic ? h : nullptr;
}
SocksHandle *as_socks(void *p) {
  auto *h = static_cast<SocksHandle *>(p);
  return h && h->magic == kSocksMagic ? h : nullptr;
}
QueueHandle *as_queue(void *p) {
  auto *h = static_cast<QueueHandle *>(p);
  return h && h->magic == kQueueMagic ? h : nullptr;
}

// The running client behind a handle, or null once arti_shutdown began.
std::shared_ptr<TorClient> live_client(ClientHandle *c) {
  std::lock_guard<std::mutex> lk(c->core->mu);
  return c->core->client;
}

// Runs fn, turning any escaping exception into `on_exception` + a message.
template <typename R, typename Fn>
R guarded(R on_exception, Fn &&fn) noexcept {
  try {
    return fn();
  } catch (const std::bad_alloc &) {
    set_error("out of memory");
  } catch (const std::exception &e) {
    set_error(std::string("internal error: ") + e.what());
  } catch (...) {
    set_error("internal error");
  }
  return on_exception;
}

// Host names up to 255 bytes (the RELAY_BEGIN address), IPv6 literals with
// optional brackets; nothing that would not survive the "addr:port" string.
Result<std::string> check_address(const char *addr, uint16_t port) {
  if (!addr) return Error(ErrorKind::kInvalidArgument, "addr is NULL");
  std::string a(addr);
  if (a.size() >= 2 && a.front() == '[' && a.back() == ']') a = a.substr(1, a.size() - 2);
  if (a.empty()) return Error(ErrorKind::kInvalidArgument, "addr is empty");
  if (a.size() > 255) return Error(ErrorKind::kInvalidArgument, "addr is longer than 255 bytes");
  for (unsigned char c : a)
    if (c <= 0x20 || c == 0x7f || c == '[' || c == ']' || c == '/')
      return Error(ErrorKind::kInvalidArgument, "addr contains an invalid character");
  if (port == 0) return Error(ErrorKind::kInvalidArgument, "port is 0");
  return a;
}

int start_connect(ClientHandle *c, std::shared_ptr<Queue> queue, const char *addr, uint16_t port,
                  runtime::IsolationKey iso, uint64_t tag, void **stream_out) {
  auto a = check_address(addr, port);
  if (!a) return fail(-EINVAL, a.error().message());
  auto s = std::make_shared<Stream>();
  s->core = c->core;
  s->queue = std::move(queue);
  s->tag = tag;
  s->host = std::move(*a);
  s->port = port;
  s->iso = std::move(iso);
  auto *h = new StreamHandle{kStreamMagic, s};
  s->handle = h;
  std::lock_guard<std::mutex> lk(c->core->mu);
  if (!c->core->client) {
    delete h;
    return fail(-ESHUTDOWN, "the client was shut down");
  }
  TorClient *client = c->core->client.get();
  std::shared_ptr<Core> core = c->core;
  if (s->queue) ++s->queue->bound;
  asio::co_spawn(
      client->executor(),
      [core, s, client]() -> asio::awaitable<void> {
        if (core->stopping) {  // too late for the shutdown's sweep: finish it here
          s->abort_for_shutdown();
          co_return;
        }
        core->live.insert(s);
        auto r = co_await client->connect(s->host, s->port, s->iso);
        s->on_connected(std::move(r));
      },
      asio::detached);
  *stream_out = h;
  return 0;
}

// An init failure: the message to arti_last_error() and, truncated, to the
// caller's buffer; returns the NULL handle.
void *report_init_error(const std::string &msg, char *err, size_t errlen) {
  set_error(msg);
  if (err && errlen > 0) {
    size_t n = std::min(errlen - 1, msg.size());
    std::memcpy(err, msg.data(), n);
    err[n] = '\0';
  }
  return nullptr;
}

// The `tor { }` stanza -> a started client.
void *start_client(config::TorConfig cfg, std::string_view name, char *err, size_t errlen) {
  auto report = [&](const std::string &msg) { return report_init_error(msg, err, errlen); };
  if (auto st = config::validate(cfg, name); !st) return report(st.error().message());
  log::set_level(cfg.log_level);
  log::set_safe_logging(cfg.safe_logging);
  if (!cfg.log_file.empty()) log::set_file(cfg.log_file);
  for (const auto &w : cfg.warnings) LOG_WARN("%s", w.c_str());

  runtime::ClientConfig cc;
  cc.dir_authority_lines = cfg.dir_authorities;
  cc.test_network = cfg.test_network;
  cc.public_network = cfg.public_network;
  cc.config_dir = cfg.config_dir;
  cc.cache_dir = cfg.cache_dir;
  cc.max_circuit_dirtiness = std::chrono::seconds(cfg.max_circuit_dirtiness);
  cc.congestion_control = cfg.congestion_control;
  cc.conflux = cfg.conflux;
  auto q = make_queue();
  if (!q) return report(q.error().message());
  auto created = TorClient::create(std::move(cc));
  if (!created) return report("cannot create the Tor client: " + created.error().message());
  auto core = std::make_shared<Core>();
  core->client = std::move(*created);
  core->executor = core->client->executor();
  core->default_queue = std::move(*q);
  core->client->start();
  return new ClientHandle{kClientMagic, std::move(core)};
}

// "tor {" at the start (after comments): a whole file; else a stanza body.
bool looks_like_file(std::string_view t) {
  size_t i = 0;
  auto skip_space = [&] {
    for (;;) {
      while (i < t.size() && std::isspace(static_cast<unsigned char>(t[i]))) ++i;
      if (i < t.size() && t[i] == '#') {
        while (i < t.size() && t[i] != '\n') ++i;
        continue;
      }
      return;
    }
  };
  skip_space();
  while (i < t.size() && !std::isspace(static_cast<unsigned char>(t[i])) && t[i] != '{' && t[i] != '#') ++i;
  skip_space();
  return i < t.size() && t[i] == '{';
}

// NUL-terminated, truncated copy into a fixed C array.
template <size_t N>
void copy_fixed(char (&dst)[N], const std::string &src) {
  size_t n = std::min(src.size(), N - 1);
  std::memcpy(dst, src.data(), n);
  dst[n] = 0;
}

int copy_text(const std::string &text, char *buf, size_t buflen) {
  if (!buf && buflen > 0) return fail(-EINVAL, "buf is NULL");
  if (buflen > 0) {
    size_t n = std::min(buflen - 1, text.size());
    std::memcpy(buf, text.data(), n);
    buf[n] = '\0';
  }
  return static_cast<int>(std::min<size_t>(text.size(), INT32_MAX));
}

}  // namespace
}  // namespace tc::capi

using namespace tc;
using namespace tc::capi;

// ======================================================================= C

extern "C" {

const char *arti_last_error(void) { return t_last_error.c_str(); }  // noexcept

void *arti_init(const char *config_dir, const char *cache_dir) {
  return guarded<void *>(nullptr, [&]() -> void * {
    set_error("");
    if (!config_dir || !*config_dir) {
      set_error("arti_init: config_dir is NULL or empty");
      return nullptr;
    }
    std::string dir(config_dir);
    std::string file = dir + "/torclient.conf";
    config::TorConfig cfg;
    struct stat st;
    if (::stat(file.c_str(), &st) == 0) {
      auto loaded = config::load_file(file);
      if (!loaded) {
        set_error(loaded.error().message());
        return nullptr;
      }
      cfg = std::move(*loaded);
    }
    cfg.config_dir = dir;
    cfg.cache_dir = cache_dir && *cache_dir ? std::string(cache_dir) : dir + "/cache";
    return start_client(std::move(cfg), file, nullptr, 0);
  });
}

void *arti_init_with_config(const char *text, char *err, size_t errlen) {
  return guarded<void *>(nullptr, [&]() -> void * {
    set_error("");
    if (err && errlen > 0) err[0] = '\0';
    auto report = [&](const std::string &msg) { return report_init_error(msg, err, errlen); };
    if (!text) return report("arti_init_with_config: configuration text is NULL");
    std::string_view t(text);
    Result<config::TorConfig> parsed = looks_like_file(t) ? config::parse_text(t, "config")
                                                          : config::parse_stanza_body(t, "config");
    if (!parsed) return report(parsed.error().message());
    if (looks_like_file(t) && !parsed->stanza_found) return report("config: no `tor { ... }` stanza");
    return start_client(std::move(*parsed), "config", err, errlen);
  });
}

void arti_shutdown(void *client) {
  guarded<int>(0, [&] {
    ClientHandle *h = as_client(client);
    if (!h) return 0;
    h->magic = 0;
    std::shared_ptr<Core> core = std::move(h->core);
    delete h;
    std::shared_ptr<TorClient> c;
    {
      std::lock_guard<std::mutex> lk(core->mu);
      c = std::move(core->client);  // from here on, nothing new is posted
    }
    if (!c) return 0;
    auto done = std::make_shared<std::promise<void>>();
    auto fut = done->get_future();
    asio::post(c->executor(), [core, done] {
      core->stopping = true;
      auto live = std::move(core->live);
      core->live.clear();
      for (auto &s : live) s->abort_for_shutdown();
      done->set_value();
    });
    fut.wait_for(std::chrono::seconds(10));
    c->stop();
    c.reset();
    return 0;
  });
}

int arti_connect(void *client, const char *addr, uint16_t port, void **stream) {
  return guarded<int>(-ENOMEM, [&]() -> int {
    if (stream) *stream = nullptr;
    ClientHandle *c = as_client(client);
    if (!c) return fail(-EINVAL, "arti_connect: bad client handle");
    if (!stream) return fail(-EINVAL, "arti_connect: stream is NULL");
    void *out = nullptr;
    int rc = start_connect(c, nullptr, addr, port, {}, 0, &out);
    if (rc != 0) return rc;
    auto s = as_stream(out)->s;
    std::unique_lock<std::mutex> lk(s->mu);
    s->cv.wait(lk, [&] { return s->phase != Phase::kOpening; });
    if (s->connect_failed || s->phase != Phase::kOpen) {
      int r = s->connect_failed ? s->result : (s->result ? s->result : -ECONNRESET);
      std::string msg = s->error_text;
      lk.unlock();
      arti_close_stream(out);
      return fail(r, msg.empty() ? "connect failed" : msg);
    }
    *stream = out;
    return 0;
  });
}

ssize_t arti_send(void *stream, const uint8_t *data, size_t len) {
  return guarded<ssize_t>(-ENOMEM, [&]() -> ssize_t {
    StreamHandle *h = as_stream(stream);
    if (!h) return fail(-EINVAL, "arti_send: bad stream handle");
    if (!data && len > 0) return fail(-EINVAL, "arti_send: data is NULL");
    if (len > static_cast<size_t>(SSIZE_MAX)) return fail(-EINVAL, "arti_send: len too large");
    Stream &s = *h->s;
    size_t done = 0;
    std::unique_lock<std::mutex> lk(s.mu);
    while (done < len) {
      s.cv.wait(lk, [&] { return s.phase != Phase::kOpening && (s.phase == Phase::kDone || s.tx_pending() < kBufMax); });
      if (s.phase == Phase::kDone) break;
      done += s.put_tx(data + done, len - done);
      lk.unlock();
      s.request_pump();
      lk.lock();
    }
    if (done > 0) return static_cast<ssize_t>(done);
    if (len == 0) return 0;
    return fail(s.send_error(), s.error_text.empty() ? "stream has ended" : s.error_text);
  });
}

ssize_t arti_recv(void *stream, uint8_t *buf, size_t len) {
  return guarded<ssize_t>(-ENOMEM, [&]() -> ssize_t {
    StreamHandle *h = as_stream(stream);
    if (!h) return fail(-EINVAL, "arti_recv: bad stream handle");
    if (!buf && len > 0) return fail(-EINVAL, "arti_recv: buf is NULL");
    if (len == 0) return 0;
    Stream &s = *h->s;
    bool unstall = false;
    ssize_t n;
    {
      std::unique_lock<std::mutex> lk(s.mu);
      s.cv.wait(lk, [&] { return s.phase == Phase::kDone || (s.phase == Phase::kOpen && s.rx_pending() > 0); });
      s.rx_event_out = false;
      if (s.rx_pending() == 0) {
        if (s.result < 0) return fail(s.result, s.error_text);
        return 0;
      }
      n = s.take_rx(buf, std::min(len, static_cast<size_t>(SSIZE_MAX)), &unstall);
    }
    if (unstall) s.request_pump();
    return n;
  });
}

void arti_close_stream(void *stream) {
  guarded<int>(0, [&] {
    StreamHandle *h = as_stream(stream);
    if (!h) return 0;
    h->magic = 0;
    std::shared_ptr<Stream> s = std::move(h->s);
    delete h;
    {
      std::lock_guard<std::mutex> lk(s->mu);
      s->user_closed = true;  // no event is queued for it from now on
    }
    if (s->queue) {
      s->queue->purge(stream);
      --s->queue->bound;
    }
    s->core->post([s] { s->on_user_close(); });
    return 0;
  });
}

void *arti_queue_create(void) {
  return guarded<void *>(nullptr, []() -> void * {
    auto q = make_queue();
    if (!q) {
      set_error(q.error().message());
      return nullptr;
    }
    return new QueueHandle{kQueueMagic, std::move(*q)};
  });
}

int arti_queue_fd(void *queue) {
  return guarded<int>(-ENOMEM, [&]() -> int {
    QueueHandle *h = as_queue(queue);
    if (!h) return fail(-EINVAL, "arti_queue_fd: bad queue handle");
    return h->q->efd;
  });
}

int arti_queue_poll(void *queue, struct arti_completion *out, int max) {
  return guarded<int>(-ENOMEM, [&]() -> int {
    QueueHandle *h = as_queue(queue);
    if (!h) return fail(-EINVAL, "arti_queue_poll: bad queue handle");
    if (!out || max < 0) return fail(-EINVAL, "arti_queue_poll: out is NULL or max < 0");
    return h->q->poll(out, max);
  });
}

int arti_queue_destroy(void *queue) {
  return guarded<int>(-ENOMEM, [&]() -> int {
    QueueHandle *h = as_queue(queue);
    if (!h) return fail(-EINVAL, "arti_queue_destroy: bad queue handle");
    if (h->q->bound.load() > 0)
      return fail(-EBUSY, "arti_queue_destroy: " + std::to_string(h->q->bound.load()) +
                              " stream(s) still bound to the queue");
    h->magic = 0;
    delete h;
    return 0;
  });
}

int arti_event_fd(void *client) {
  return guarded<int>(-ENOMEM, [&]() -> int {
    ClientHandle *c = as_client(client);
    if (!c) return fail(-EINVAL, "arti_event_fd: bad client handle");
    return c->core->default_queue->efd;
  });
}

int arti_poll_completions(void *client, struct arti_completion *out, int max) {
  return guarded<int>(-ENOMEM, [&]() -> int {
    ClientHandle *c = as_client(client);
    if (!c) return fail(-EINVAL, "arti_poll_completions: bad client handle");
    if (!out || max < 0) return fail(-EINVAL, "arti_poll_completions: out is NULL or max < 0");
    return c->core->default_queue->poll(out, max);
  });
}

int arti_connect_async(void *client, const char *addr, uint16_t port, uint64_t user_tag, void **stream_out) {
  return arti_connect_async_ex(client, nullptr, addr, port, nullptr, nullptr, user_tag, stream_out);
}

int arti_connect_async_ex(void *client, void *queue, const char *addr, uint16_t port, const char *iso_username,
                          const char *iso_password, uint64_t user_tag, void **stream_out) {
  return guarded<int>(-ENOMEM, [&]() -> int {
    if (stream_out) *stream_out = nullptr;
    ClientHandle *c = as_client(client);
    if (!c) return fail(-EINVAL, "arti_connect_async: bad client handle");
    if (!stream_out) return fail(-EINVAL, "arti_connect_async: stream_out is NULL");
    std::shared_ptr<Queue> q = c->core->default_queue;
    if (queue) {
      QueueHandle *qh = as_queue(queue);
      if (!qh) return fail(-EINVAL, "arti_connect_async: bad queue handle");
      q = qh->q;
    }
    runtime::IsolationKey iso{iso_username ? iso_username : "", iso_password ? iso_password : ""};
    return start_connect(c, std::move(q), addr, port, std::move(iso), user_tag, stream_out);
  });
}

ssize_t arti_try_send(void *stream, const uint8_t *data, size_t len) {
  return guarded<ssize_t>(-ENOMEM, [&]() -> ssize_t {
    StreamHandle *h = as_stream(stream);
    if (!h) return fail(-EINVAL, "arti_try_send: bad stream handle");
    if (!data && len > 0) return fail(-EINVAL, "arti_try_send: data is NULL");
    Stream &s = *h->s;
    size_t n;
    {
      std::lock_guard<std::mutex> lk(s.mu);
      if (s.phase == Phase::kOpening) return -ENOTCONN;
      if (s.phase == Phase::kDone) return s.send_error();
      if (len == 0) return 0;
      n = s.put_tx(data, std::min(len, static_cast<size_t>(SSIZE_MAX)));
      if (n < len) s.tx_want = true;
      if (n == 0) return -EAGAIN;
    }
    s.request_pump();
    return static_cast<ssize_t>(n);
  });
}

ssize_t arti_try_recv(void *stream, uint8_t *buf, size_t len) {
  return guarded<ssize_t>(-ENOMEM, [&]() -> ssize_t {
    StreamHandle *h = as_stream(stream);
    if (!h) return fail(-EINVAL, "arti_try_recv: bad stream handle");
    if (!buf && len > 0) return fail(-EINVAL, "arti_try_recv: buf is NULL");
    Stream &s = *h->s;
    bool unstall = false;
    ssize_t n;
    {
      std::lock_guard<std::mutex> lk(s.mu);
      s.rx_event_out = false;
      if (s.phase == Phase::kOpening) return -ENOTCONN;
      if (len == 0) return 0;
      if (s.rx_pending() == 0) return s.phase == Phase::kDone ? s.result : -EAGAIN;
      n = s.take_rx(buf, std::min(len, static_cast<size_t>(SSIZE_MAX)), &unstall);
    }
    if (unstall) s.request_pump();
    return n;
  });
}

ssize_t arti_stream_send_space(void *stream) {
  return guarded<ssize_t>(-ENOMEM, [&]() -> ssize_t {
    StreamHandle *h = as_stream(stream);
    if (!h) return fail(-EINVAL, "arti_stream_send_space: bad stream handle");
    std::lock_guard<std::mutex> lk(h->s->mu);
    if (h->s->phase != Phase::kOpen) return 0;
    return static_cast<ssize_t>(kBufMax - h->s->tx_pending());
  });
}

ssize_t arti_stream_recv_ready(void *stream) {
  return guarded<ssize_t>(-ENOMEM, [&]() -> ssize_t {
    StreamHandle *h = as_stream(stream);
    if (!h) return fail(-EINVAL, "arti_stream_recv_ready: bad stream handle");
    std::lock_guard<std::mutex> lk(h->s->mu);
    return static_cast<ssize_t>(h->s->rx_pending());
  });
}

int arti_stream_error(void *stream, char *buf, size_t buflen) {
  return guarded<int>(-ENOMEM, [&]() -> int {
    StreamHandle *h = as_stream(stream);
    if (!h) return fail(-EINVAL, "arti_stream_error: bad stream handle");
    std::string text;
    {
      std::lock_guard<std::mutex> lk(h->s->mu);
      text = h->s->error_text;
    }
    return copy_text(text, buf, buflen);
  });
}

int arti_bootstrap_percent(void *client) {
  return guarded<int>(-ENOMEM, [&]() -> int {
    ClientHandle *c = as_client(client);
    if (!c) return fail(-EINVAL, "arti_bootstrap_percent: bad client handle");
    std::shared_ptr<TorClient> tc = live_client(c);
    if (!tc) return fail(-ESHUTDOWN, "the client was shut down");
    return tc->bootstrap_state().percent;
  });
}

int arti_status_text(void *client, int enabled, uint16_t socks_port, char *buf, size_t buflen) {
  return guarded<int>(-ENOMEM, [&]() -> int {
    ClientHandle *c = as_client(client);
    if (!c) return fail(-EINVAL, "arti_status_text: bad client handle");
    std::shared_ptr<TorClient> tc = live_client(c);
    if (!tc) return fail(-ESHUTDOWN, "the client was shut down");
    control::StatusSnapshot s = tc->status_snapshot();
    s.enabled = enabled != 0;
    s.socks_port = socks_port;
    return copy_text(control::format_status(s), buf, buflen);
  });
}

int arti_circuits_text(void *client, char *buf, size_t buflen) {
  return guarded<int>(-ENOMEM, [&]() -> int {
    ClientHandle *c = as_client(client);
    if (!c) return fail(-EINVAL, "arti_circuits_text: bad client handle");
    std::shared_ptr<TorClient> tc = live_client(c);
    if (!tc) return fail(-ESHUTDOWN, "the client was shut down");
    return copy_text(control::format_circuits(tc->circuit_snapshot()), buf, buflen);
  });
}


int arti_get_status(void *client, struct arti_status *out) {
  return guarded<int>(-ENOMEM, [&]() -> int {
    ClientHandle *c = as_client(client);
    if (!c || !out) return fail(-EINVAL, "arti_get_status: bad client handle or NULL output");
    std::shared_ptr<TorClient> tc = live_client(c);
    if (!tc) return fail(-ESHUTDOWN, "the client was shut down");
    control::StatusSnapshot s = tc->status_snapshot();
    *out = {};
    out->bootstrap_percent = s.bootstrap_percent;
    copy_fixed(out->bootstrap_phase, s.bootstrap_phase);
    out->consensus_valid_after = static_cast<uint64_t>(s.consensus_valid_after);
    out->consensus_valid_until = static_cast<uint64_t>(s.consensus_valid_until);
    out->relays_known = s.relays_known;
    out->guards = static_cast<uint32_t>(s.guards.size());
    out->open_circuits = s.open_circuits;
    out->open_streams = s.open_streams;
    out->bytes_in = s.bytes_in;
    out->bytes_out = s.bytes_out;
    return 0;
  });
}

int arti_get_circuits(void *client, struct arti_circuit_info *out, int max) {
  return guarded<int>(-ENOMEM, [&]() -> int {
    ClientHandle *c = as_client(client);
    if (!c || max < 0 || (max > 0 && !out)) return fail(-EINVAL, "arti_get_circuits: bad arguments");
    std::shared_ptr<TorClient> tc = live_client(c);
    if (!tc) return fail(-ESHUTDOWN, "the client was shut down");
    std::vector<control::CircuitInfo> circuits = tc->circuit_snapshot();
    for (size_t i = 0; i < circuits.size() && i < static_cast<size_t>(max); i++) {
      const control::CircuitInfo &ci = circuits[i];
      arti_circuit_info &o = out[i];
      o = {};
      o.circuit_id = ci.id;
      copy_fixed(o.state, ci.state);
      o.age_seconds = ci.age_seconds;
      o.n_hops = static_cast<uint8_t>(std::min<size_t>(ci.path.size(), 255));
      std::string path;
      for (const control::HopInfo &h : ci.path) {
        if (!path.empty()) path += " > ";
        path += control::format_hop(h);
      }
      copy_fixed(o.path, path);
      o.streams = ci.streams;
      o.bytes_in = ci.bytes_in;
      o.bytes_out = ci.bytes_out;
    }
    return static_cast<int>(std::min<size_t>(circuits.size(), INT32_MAX));
  });
}


// ---------------------------------------------------------------- SOCKS

void *arti_socks_new(void) {
  return guarded<void *>(nullptr, []() -> void * { return new SocksHandle(); });
}

void arti_socks_free(void *hs) {
  guarded<int>(0, [&] {
    SocksHandle *h = as_socks(hs);
    if (!h) return 0;
    h->magic = 0;
    delete h;
    return 0;
  });
}

int arti_socks_feed(void *hs, const uint8_t *data, size_t len, uint8_t *reply, size_t reply_cap,
                    size_t *reply_len) {
  return guarded<int>(-ENOMEM, [&]() -> int {
    SocksHandle *h = as_socks(hs);
    if (!h || (!data && len > 0) || !reply || !reply_len || reply_cap < ARTI_SOCKS_REPLY_MAX)
      return fail(-EINVAL, "arti_socks_feed: bad arguments");
    *reply_len = 0;
    if (h->refused || h->hs.done()) return fail(-EINVAL, "arti_socks_feed: the handshake is over");
    auto put = [&](const Bytes &b) {
      size_t n = std::min(b.size(), reply_cap);
      if (n) std::memcpy(reply, b.data(), n);
      *reply_len = n;
    };
    auto step = h->hs.feed(ByteSpan(data, len));
    if (!step) {
      h->refused = true;
      put(h->hs.failure_reply());
      return fail(-EPROTO, "SOCKS: " + step.error().message());
    }
    put(step->reply);
    if (!step->done) return ARTI_SOCKS_MORE;
    // C strings out: credentials or a hostname with NUL bytes in them would
    // be cut short there (and two users' isolation could collide).
    const socks::Request &rq = h->hs.request();
    auto has_nul = [](const std::string &v) { return v.find('\0') != std::string::npos; };
    if ((rq.auth && (has_nul(rq.auth->username) || has_nul(rq.auth->password))) ||
        (rq.address.is_hostname() && has_nul(rq.address.hostname))) {
      h->refused = true;
      Bytes r = socks::connect_reply(rq, socks::Socks5Reply::kGeneralFailure);
      put(r);
      return fail(-EPROTO, "SOCKS: a NUL byte inside the username, password or hostname");
    }
    h->leftover = h->hs.take_leftover();
    return ARTI_SOCKS_DONE;
  });
}

int arti_socks_get_request(void *hs, struct arti_socks_request *out) {
  return guarded<int>(-ENOMEM, [&]() -> int {
    SocksHandle *h = as_socks(hs);
    if (!h || !out) return fail(-EINVAL, "arti_socks_get_request: bad arguments");
    if (h->refused || !h->hs.done()) return fail(-EINVAL, "arti_socks_get_request: no complete request");
    const socks::Request &rq = h->hs.request();
    *out = {};
    out->version = rq.version;
    out->command = static_cast<uint8_t>(rq.command);
    copy_fixed(out->host, rq.address.to_string());
    out->port = rq.port;
    if (rq.auth) {
      out->has_auth = 1;
      copy_fixed(out->username, rq.auth->username);
      copy_fixed(out->password, rq.auth->password);
    }
    return 0;
  });
}

ssize_t arti_socks_leftover(void *hs, const uint8_t **data) {
  return guarded<ssize_t>(-ENOMEM, [&]() -> ssize_t {
    SocksHandle *h = as_socks(hs);
    if (!h || !data) return fail(-EINVAL, "arti_socks_leftover: bad arguments");
    *data = h->leftover.data();
    return static_cast<ssize_t>(h->leftover.size());
  });
}

ssize_t arti_socks_connect_reply(void *hs, int result, uint8_t *buf, size_t cap) {
  return guarded<ssize_t>(-ENOMEM, [&]() -> ssize_t {
    SocksHandle *h = as_socks(hs);
    if (!h || !buf) return fail(-EINVAL, "arti_socks_connect_reply: bad arguments");
    if (!h->hs.done()) return fail(-EINVAL, "arti_socks_connect_reply: no complete request");
    using socks::Socks5Reply;
    Socks5Reply rep = Socks5Reply::kGeneralFailure;
    switch (-result) {
      case 0: rep = Socks5Reply::kSucceeded; break;
      case ECONNREFUSED: rep = Socks5Reply::kConnectionRefused; break;
      case EHOSTUNREACH: rep = Socks5Reply::kHostUnreachable; break;
      case ENETUNREACH: rep = Socks5Reply::kNetUnreachable; break;
      case ETIMEDOUT: rep = Socks5Reply::kTtlExpired; break;
      case EACCES: rep = Socks5Reply::kNotAllowed; break;
      case EOPNOTSUPP: rep = Socks5Reply::kCommandNotSupported; break;
      default: break;
    }
    Bytes r = socks::connect_reply(h->hs.request(), rep);
    if (r.size() > cap) return fail(-EINVAL, "arti_socks_connect_reply: buffer too small");
    std::memcpy(buf, r.data(), r.size());
    return static_cast<ssize_t>(r.size());
  });
}

}  // extern "C"
