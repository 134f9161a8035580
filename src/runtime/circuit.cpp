#include "runtime/circuit.h"

#include "crypto/crypto.h"
#include "proto/conflux.h"
#include "util/log.h"

namespace tc::runtime {

using asio::awaitable;
using Clock = std::chrono::steady_clock;

namespace {
constexpr uint8_t kEndReasonDone = 6;
constexpr uint8_t kEndReasonMisc = 1;
// The clock congestion control measures RTTs and drain rates with.
uint64_t now_usec() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch()).count());
}
}  // namespace

// ---------------------------------------------------------------- TorStream

TorStream::TorStream(asio::any_io_executor ex, std::weak_ptr<TorCircuit> circ, uint16_t id)
    : ex_(ex), circ_(std::move(circ)), id_(id), event_(ex) {}

void TorStream::wake() {
  // One wake-up per batch of cells: the channel dispatches everything one
  // TLS read brought before the reader runs, so the reader copies out many
  // cells at once instead of being resumed per cell.
  if (wake_pending_) return;
  wake_pending_ = true;
  asio::post(ex_, [weak = weak_from_this()] {
    auto self = weak.lock();
    if (!self) return;
    self->wake_pending_ = false;
    self->event_.notify_all();
    if (self->notify_) self->notify_();
  });
}

void TorStream::deliver(TorCircuit &c, ByteSpan data) {
  inbound_.append(data);
  cell_sizes_.push_back(static_cast<uint16_t>(data.size()));
  bytes_in_ += data.size();
  if (data.empty()) consumed(0);
  // Congestion control: XOFF once our reader falls too far behind (prop 324
  // §4); the caller (TorCircuit::on_cell) flushes. `c` is the circuit
  // delivering, alive for the call: no weak_ptr lock per cell.
  if (status_ == StreamStatus::kOpen) {
    const proto::StreamFlow *f = c.circ_.stream(id_);
    uint32_t before = f ? f->xoffs_sent + f->xons_sent : 0;
    c.circ_.stream_buffered(id_, readable_bytes(), proto::LazyUsec(&now_usec), c.outbox_);
    if (f && f->xoffs_sent + f->xons_sent != before)
      LOG_INFO("circuit %08x stream %u: %s sent, %zu bytes unread", c.id(), id_,
               f->xoff_xon_last_was_xoff() ? "XOFF" : "XON", readable_bytes());
  }
  wake();
}

void TorStream::consumed(size_t n) {
  if (n > 0) {
    // Congestion control: XON (with our drain rate) once the reader caught up.
    if (auto c = circ_.lock(); c && status_ == StreamStatus::kOpen) {
      const proto::StreamFlow *f = c->circ_.stream(id_);
      uint32_t before = f ? f->xons_sent : 0;
      c->circ_.stream_drained(id_, n, readable_bytes(), now_usec(), c->outbox_);
      if (f && f->xons_sent != before)
        LOG_INFO("circuit %08x stream %u: XON sent (rate %u kB/s), %zu bytes unread", c->id(), id_,
                 f->xon_xoff ? f->xon_xoff->xon_rate_kbps() : 0u, readable_bytes());
      c->flush();
    }
  }
  // Map consumed bytes back onto the DATA cells they came in, so the
  // circuit can send a stream SENDME per 50 cells the reader really took.
  int cells = 0;
  consumed_in_cell_ += n;
  while (cell_sizes_head_ < cell_sizes_.size() && consumed_in_cell_ >= cell_sizes_[cell_sizes_head_]) {
    consumed_in_cell_ -= cell_sizes_[cell_sizes_head_];
    ++cell_sizes_head_;
    ++cells;
  }
  if (cell_sizes_head_ > 256 && cell_sizes_head_ * 2 > cell_sizes_.size()) {
    cell_sizes_.erase(cell_sizes_.begin(), cell_sizes_.begin() + static_cast<ptrdiff_t>(cell_sizes_head_));
    cell_sizes_head_ = 0;
  }
  if (cells == 0) return;
  if (auto c = circ_.lock(); c && status_ == StreamStatus::kOpen) {
    c->circ_.data_consumed(id_, cells, c->outbox_);
    c->flush();
  }
}

void TorStream::ended(uint8_t reason) {
  if (status_ == StreamStatus::kEnded || status_ == StreamStatus::kFailed) return;
  status_ = StreamStatus::kEnded;
  end_reason_ = reason;
  wake();
}

void TorStream::failed(Error e) {
  if (status_ == StreamStatus::kEnded || status_ == StreamStatus::kFailed) return;
  status_ = StreamStatus::kFailed;
  error_ = std::move(e);
  wake();
}

uint32_t TorStream::xoffs_sent() const {
  auto c = circ_.lock();
  const proto::StreamFlow *f = c ? c->circ_.stream(id_) : nullptr;
  return f ? f->xoffs_sent : 0;
}

uint32_t TorStream::xons_sent() const {
  auto c = circ_.lock();
  const proto::StreamFlow *f = c ? c->circ_.stream(id_) : nullptr;
  return f ? f->xons_sent : 0;
}

size_t TorStream::read_now(MutableByteSpan buf) {
  size_t n = inbound_.read(buf);
  if (n == 0) return 0;
  consumed(n);
  return n;
}

void TorStream::consume_now(size_t n) {
  n = std::min(n, inbound_.size());
  if (n == 0) return;
  inbound_.consume(n);
  consumed(n);
}

awaitable<Result<size_t>> TorStream::read_some(MutableByteSpan buf) {
  auto self = shared_from_this();
  for (;;) {
    if (readable_bytes() > 0) co_return read_now(buf);
    if (status_ == StreamStatus::kEnded) co_return size_t{0};
    if (status_ == StreamStatus::kFailed) co_return *error_;
    co_await event_.wait();
  }
}

size_t TorStream::writable_now() const {
  auto c = circ_.lock();
  if (!c || status_ != StreamStatus::kOpen) return 0;
  int cells = c->circ_.send_window(id_);
  return cells > 0 ? static_cast<size_t>(cells) * cell::kRelayBodyMax : 0;
}

Result<size_t> TorStream::write_now(ByteSpan data) {
  auto c = circ_.lock();
  if (!c) return Error(ErrorKind::kClosed, "circuit is gone");
  if (status_ == StreamStatus::kFailed) return *error_;
  if (status_ != StreamStatus::kOpen) return Error(ErrorKind::kClosed, "stream is not open");
  size_t done = 0;
  while (done < data.size() && c->circ_.can_send(id_)) {
    auto n = c->circ_.send_data(id_, data.subspan(done), c->outbox_, now_usec());
    if (!n) break;
    done += *n;
  }
  bytes_out_ += done;
  c->bytes_out_ += done;
  c->flush();
  return done;
}

awaitable<Status> TorStream::write(ByteSpan data) {
  auto self = shared_from_this();
  size_t done = 0;
  while (done < data.size()) {
    TC_CO_TRY(size_t n, write_now(data.subspan(done)));
    done += n;
    if (done < data.size()) co_await event_.wait();
  }
  co_return Status{};
}

void TorStream::close() {
  if (auto c = circ_.lock()) {
    if (status_ == StreamStatus::kOpen || status_ == StreamStatus::kOpening) {
      c->circ_.close_stream(id_, kEndReasonDone, c->outbox_);
      c->flush();
    }
    c->streams_.erase(id_);
    c->stream_gone();
  }
  if (status_ == StreamStatus::kOpen || status_ == StreamStatus::kOpening) {
    status_ = StreamStatus::kEnded;
    end_reason_ = kEndReasonDone;
  }
  notify_ = nullptr;
  // Coroutines blocked in read_some()/write() see the end.
  event_.notify_all();
}

// --------------------------------------------------------------- TorCircuit

// What the legs of one conflux set share. Weak references only: the pool
// owns the primary, the primary owns the other legs.
struct TorCircuit::ConfluxShared {
  proto::ConfluxSet set;
  std::weak_ptr<TorCircuit> primary;
  const TorCircuit *primary_raw = nullptr;  // identity only: is this leg the primary?
  std::vector<std::weak_ptr<TorCircuit>> legs;
  bool established = false;  // linking finished: from now on one leg's loss is the set's
  bool torn_down = false;
  // For trim_idle_memory: delivered() when last looked at, and since when
  // it has not moved.
  uint64_t delivered_seen = 0;
  Clock::time_point quiet_since{};
};

TorCircuit::TorCircuit(std::shared_ptr<Channel> ch, uint32_t circ_id, proto::CcParams cc)
    : ch_(std::move(ch)), circ_(circ_id, cc), progress_(ch_->executor()) {}

TorCircuit::~TorCircuit() {
  if (ch_) ch_->detach(circ_.circ_id());
}

awaitable<Result<std::shared_ptr<TorCircuit>>> TorCircuit::build(std::shared_ptr<Channel> ch,
                                                                std::vector<proto::RelayTarget> path,
                                                                proto::HandshakeType type,
                                                                std::chrono::milliseconds step_timeout,
                                                                proto::CcParams cc) {
  if (path.empty()) co_return Error(ErrorKind::kInvalidArgument, "empty path");
  // path-spec §2.2: a relay appears at most once in a path.
  for (size_t i = 0; i < path.size(); ++i)
    for (size_t j = i + 1; j < path.size(); ++j)
      if (path[i].rsa_id == path[j].rsa_id)
        co_return Error(ErrorKind::kInvalidArgument, "path uses relay " + path[i].nickname + " twice");
  if (!ch->is_open()) co_return Error(ErrorKind::kClosed, "channel is closed");
  auto start = Clock::now();
  std::shared_ptr<TorCircuit> circ(new TorCircuit(ch, ch->allocate_circ_id(), cc));
  ch->attach(circ->id(), circ);
  circ->hop_times_.reserve(path.size());
  auto hop_start = start;
  for (size_t i = 0; i < path.size(); ++i) {
    // Prop 324 §4.1.1: congestion control is negotiated with the last hop
    // only, inside ntor-v3 (as C tor does for exit circuits).
    bool request_cc = cc.enabled() && path.size() > 1 && i + 1 == path.size() && path[i].supports_cc &&
                      path[i].ed_id.has_value();
    auto hs = request_cc ? proto::HandshakeType::kNtorV3 : type;
    auto c = i == 0 ? circ->circ_.start_create(path[i], hs, request_cc)
                    : circ->circ_.start_extend(path[i], hs, request_cc);
    if (!c) {
      circ->destroy();
      co_return std::move(c).error();
    }
    ch->send(*c);
    auto st = co_await circ->wait_hops(i + 1, step_timeout);
    if (!st) {
      circ->destroy();
      // The code names the hop that failed (1-based), so callers can avoid it.
      co_return std::move(st).error().context(std::string(i == 0 ? "CREATE2 to " : "EXTEND2 to ") +
                                              path[i].nickname + " (hop " + std::to_string(i + 1) + ")")
          .with_code(static_cast<int>(i + 1));
    }
    auto hop_done = Clock::now();
    circ->hop_times_.push_back(std::chrono::duration_cast<std::chrono::microseconds>(hop_done - hop_start));
    hop_start = hop_done;
    LOG_DEBUG("circuit %08x: hop %zu (%s) after %lld ms", circ->id(), i + 1, path[i].nickname.c_str(),
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(hop_done - start).count()));
  }
  circ->status_ = CircuitStatus::kOpen;
  circ->build_time_ = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  co_return circ;
}

awaitable<Status> TorCircuit::wait_hops(size_t hops, std::chrono::milliseconds timeout) {
  auto self = shared_from_this();
  auto deadline = Clock::now() + timeout;
  while (circ_.hop_count() < hops) {
    if (failure_) co_return *failure_;
    auto now = Clock::now();
    if (now >= deadline)
      co_return Error(ErrorKind::kTimeout, "no answer in " + std::to_string(timeout.count()) + " ms");
    co_await progress_.wait(deadline - now);
  }
  co_return Status{};
}

void TorCircuit::flush() {
  if (destroy_done_) outbox_.clear();  // nothing after a DESTROY
  if (outbox_.empty()) return;
  if (ch_ && ch_->is_open())
    for (auto &c : outbox_) ch_->send(c);
  outbox_.clear();
}

void TorCircuit::on_cell(cell::CellView c) {
  if (status_ == CircuitStatus::kClosed) return;
  auto r = circ_.handle_cell(c, outbox_, proto::LazyUsec(&now_usec));
  if (!r) {
    LOG_WARN("circuit %08x: %s; closing it", circ_.circ_id(), r.error().message().c_str());
    fail(std::move(r).error());
    destroy(1 /* PROTOCOL */);
    return;
  }
  on_event(*r);
  flush();
}

void TorCircuit::on_event(proto::CircuitEvent &event) {
  std::visit(
      [&](auto &ev) {
        using T = std::decay_t<decltype(ev)>;
        if constexpr (std::is_same_v<T, proto::EvHopAdded>) {
          progress_.notify_all();
        } else if constexpr (std::is_same_v<T, proto::EvStreamConnected>) {
          if (auto it = streams_.find(ev.stream_id); it != streams_.end()) {
            it->second->connected_ = ev.info;
            it->second->status_ = StreamStatus::kOpen;
            it->second->wake();
          }
        } else if constexpr (std::is_same_v<T, proto::EvStreamData>) {
          bytes_in_ += ev.data.size();
          if (auto it = streams_.find(ev.stream_id); it != streams_.end()) it->second->deliver(*this, ev.data);
        } else if constexpr (std::is_same_v<T, proto::EvStreamEnded>) {
          if (auto it = streams_.find(ev.stream_id); it != streams_.end()) {
            auto s = it->second;
            streams_.erase(it);
            s->ended(ev.reason);
            stream_gone();
          }
        } else if constexpr (std::is_same_v<T, proto::EvStreamResolved>) {
          if (auto it = streams_.find(ev.stream_id); it != streams_.end()) {
            auto s = it->second;
            streams_.erase(it);
            s->resolved_ = std::move(ev.answers);
            s->ended(kEndReasonDone);
            stream_gone();
          }
        } else if constexpr (std::is_same_v<T, proto::EvStreamWindowOpened>) {
          if (auto it = streams_.find(ev.stream_id); it != streams_.end()) it->second->wake();
        } else if constexpr (std::is_same_v<T, proto::EvCircuitWindowOpened>) {
          // Copy: a woken writer may close its stream and erase itself.
          std::vector<std::shared_ptr<TorStream>> all;
          all.reserve(streams_.size());
          for (auto &[id, s] : streams_) all.push_back(s);
          for (auto &s : all) s->wake();
        } else if constexpr (std::is_same_v<T, proto::EvDestroyed>) {
          destroy_done_ = true;
          fail(Error(ErrorKind::kClosed, std::string("circuit destroyed by relay: ") +
                                             cell::destroy_reason_name(ev.reason)));
          if (ch_) ch_->detach(circ_.circ_id());
        } else if constexpr (std::is_same_v<T, proto::EvTruncated>) {
          fail(Error(ErrorKind::kClosed, std::string("circuit truncated: ") + cell::destroy_reason_name(ev.reason)));
          destroy(0);
        } else if constexpr (std::is_same_v<T, proto::EvConfluxMessage>) {
          conflux_message(ev);
        } else if constexpr (std::is_same_v<T, proto::EvConfluxSwitch>) {
          if (cfx_) (void)cfx_->set.on_switch(cfx_leg_, ev.relative_seq);
        } else if constexpr (std::is_same_v<T, proto::EvConfluxLinked>) {
          // Answered at once: the exit measures this leg's first RTT from
          // its LINKED to our LINKED_ACK (prop 329 §2.2).
          cfx_linked_ = true;
          circ_.send_conflux_linked_ack(outbox_);
          progress_.notify_all();
        }
      },
      event);
}

void TorCircuit::stream_gone() {
  // The last stream of a conflux set is gone: its reorder ring (up to
  // ~0.5 MB after a fast download) need not wait for the set to close.
  if (streams_.empty() && cfx_) released_bytes_ += cfx_->set.release_if_empty();
}

void TorCircuit::trim_idle_memory(Clock::time_point now) {
  // A set whose stream is still open but silent (a client that half-closed
  // and waits, an HTTP keep-alive nobody uses) gives its reorder ring back
  // after a second without messages; a busy set keeps it between bursts.
  if (!cfx_ || cfx_->set.ring_slots() == 0) return;
  auto &s = *cfx_;
  uint64_t d = s.set.delivered();
  if (d != s.delivered_seen || s.set.held() != 0 || s.quiet_since == Clock::time_point{}) {
    s.delivered_seen = d;
    s.quiet_since = now;
    return;
  }
  if (now - s.quiet_since >= std::chrono::seconds(1)) released_bytes_ += s.set.release_if_empty();
}

std::atomic<size_t> TorCircuit::released_bytes_{0};

size_t TorCircuit::take_released_bytes() { return released_bytes_.exchange(0); }

void TorCircuit::conflux_message(const proto::EvConfluxMessage &ev) {
  // On the primary leg itself no lock is needed (it is running this call);
  // the other leg holds the primary alive while it delivers.
  std::shared_ptr<TorCircuit> held;
  TorCircuit *primary = nullptr;
  if (cfx_ && cfx_->primary_raw == this) {
    primary = this;
  } else if (cfx_) {
    held = cfx_->primary.lock();
    primary = held.get();
  }
  if (!primary || primary->status_ == CircuitStatus::kClosed) {
    fail(Error(ErrorKind::kClosed, "conflux message after the set closed"));
    destroy(0);
    return;
  }
  auto seq = cfx_->set.receive(cfx_leg_);
  if (!seq) {
    LOG_WARN("circuit %08x: %s; closing the conflux set", id(), seq.error().message().c_str());
    fail(std::move(seq).error());
    destroy(1 /* PROTOCOL */);
    return;
  }
  if (cfx_->set.take_if_next(*seq)) {
    primary->deliver_ordered(ev.command, ev.stream_id, ev.body);
    if (primary->status_ != CircuitStatus::kClosed)
      cfx_->set.deliver_ready([&](cell::RelayCommand c, uint16_t id, ByteSpan body) {
        primary->deliver_ordered(c, id, body);
        return primary->status_ != CircuitStatus::kClosed;
      });
  } else {
    auto st = cfx_->set.hold(*seq, ev.command, ev.stream_id, ev.body);
    if (!st) {
      LOG_WARN("circuit %08x: %s; closing the conflux set", id(), st.error().message().c_str());
      fail(std::move(st).error());
      destroy(1 /* PROTOCOL */);
      return;
    }
  }
  if (primary != this) primary->flush();
}

void TorCircuit::deliver_ordered(cell::RelayCommand command, uint16_t stream_id, ByteSpan body) {
  if (status_ == CircuitStatus::kClosed) return;
  auto r = circ_.deliver_conflux_message(command, stream_id, body, outbox_);
  if (!r) {
    LOG_WARN("circuit %08x: %s; closing the conflux set", id(), r.error().message().c_str());
    fail(std::move(r).error());
    destroy(1 /* PROTOCOL */);
    return;
  }
  on_event(*r);
}

Status TorCircuit::begin_conflux_link(const std::vector<std::shared_ptr<TorCircuit>> &legs) {
  if (legs.empty()) return Error(ErrorKind::kInvalidArgument, "conflux set without legs");
  // Every leg must be open before any LINK goes out; otherwise all are
  // closed here (none may linger half-linked at the relays).
  for (auto &l : legs) {
    if (l->status_ == CircuitStatus::kOpen && !l->cfx_) continue;
    Error why = l->failure_ ? *l->failure_ : Error(ErrorKind::kClosed, "conflux leg is not open");
    for (auto &o : legs) o->destroy(0);
    return why.context("conflux");
  }
  auto shared = std::make_shared<ConfluxShared>();
  shared->primary = legs[0];
  shared->primary_raw = legs[0].get();
  cell::ConfluxLink link;
  crypto::random_bytes(link.nonce);  // prop 329 §2.2: a secret, never logged
  link.desired_ux = cell::conflux_ux::kHighThroughput;
  for (auto &l : legs) {
    l->cfx_ = shared;
    l->cfx_leg_ = shared->set.add_leg();
    shared->legs.push_back(l);
    auto st = l->circ_.send_conflux_link(link, l->outbox_);
    if (!st) {
      for (auto &o : legs) {
        o->cfx_.reset();
        o->destroy(0);
      }
      return std::move(st).error().context("conflux leg " + std::to_string(l->cfx_leg_));
    }
    l->flush();
  }
  return Status{};
}

awaitable<Status> TorCircuit::await_conflux_linked(std::vector<std::shared_ptr<TorCircuit>> legs,
                                                   std::chrono::milliseconds timeout) {
  if (legs.empty() || !legs[0]->cfx_) co_return Error(ErrorKind::kInvalidArgument, "no conflux link begun");
  auto shared = legs[0]->cfx_;
  auto close_all = [&](Error why) {
    for (auto &o : legs) {
      o->fail(why);  // the primary's streams learn why
      o->cfx_.reset();
      o->destroy(0);
    }
  };
  auto deadline = Clock::now() + timeout;
  std::vector<std::shared_ptr<TorCircuit>> others;
  for (size_t i = 0; i < legs.size(); ++i) {
    auto &l = legs[i];
    while (!l->cfx_linked_ && l->status_ != CircuitStatus::kClosed) {
      auto now = Clock::now();
      if (now >= deadline) break;
      co_await l->progress_.wait(deadline - now);
    }
    if (l->cfx_linked_ && l->status_ == CircuitStatus::kOpen) {
      if (i > 0) others.push_back(l);
      continue;
    }
    Error why = l->failure_ ? *l->failure_
                            : Error(ErrorKind::kTimeout, "no CONFLUX_LINKED in " + std::to_string(timeout.count()) + " ms");
    if (i == 0) {
      why = std::move(why).context("linking conflux leg 0");
      close_all(why);
      co_return why;
    }
    // The exit sends on a leg only after its LINKED, which never came
    // here: nothing of the set's was lost with it.
    LOG_INFO("circuit %08x: conflux leg left out: %s", l->id(), why.message().c_str());
    l->cfx_.reset();  // its loss is not the set's
    l->destroy(0);
  }
  // The primary may have died while we waited for the other legs.
  if (legs[0]->status_ != CircuitStatus::kOpen) {
    Error why = (legs[0]->failure_ ? *legs[0]->failure_ : Error(ErrorKind::kClosed, "primary leg closed"))
                    .context("linking conflux leg 0");
    close_all(why);
    co_return why;
  }
  shared->established = true;
  legs[0]->cfx_others_ = std::move(others);
  co_return Status{};
}

awaitable<Status> TorCircuit::link_conflux(std::vector<std::shared_ptr<TorCircuit>> legs,
                                           std::chrono::milliseconds timeout) {
  if (auto st = begin_conflux_link(legs); !st) co_return st;
  co_return co_await await_conflux_linked(std::move(legs), timeout);
}

size_t TorCircuit::conflux_legs() const {
  if (!cfx_ || cfx_leg_ != 0 || !cfx_->established) return 0;
  return 1 + cfx_others_.size();
}

std::vector<uint64_t> TorCircuit::conflux_leg_messages() const {
  std::vector<uint64_t> v;
  if (!cfx_ || cfx_leg_ != 0) return v;
  v.push_back(cfx_->set.leg_received(0));
  for (auto &o : cfx_others_) v.push_back(cfx_->set.leg_received(o->cfx_leg_));
  return v;
}

size_t TorCircuit::conflux_max_held() const { return cfx_ ? cfx_->set.max_held() : 0; }

void TorCircuit::on_channel_closed(const Error &why) {
  fail(Error(ErrorKind::kClosed, "channel closed: " + why.message()));
}

void TorCircuit::fail(Error why) {
  if (status_ == CircuitStatus::kClosed) return;
  status_ = CircuitStatus::kClosed;
  failure_ = why;
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto &[id, s] : streams) s->failed(why);
  progress_.notify_all();
  // A linked conflux set lives and dies whole: what was in flight on a lost
  // leg cannot be recovered (we do not implement prop 329 resumption). While
  // linking, that holds from a leg's LINKED on: the exit may send on it.
  if (cfx_ && (cfx_->established || cfx_linked_) && !cfx_->torn_down) {
    cfx_->torn_down = true;
    Error set_why = Error(ErrorKind::kClosed, "conflux set closed: leg " + std::to_string(cfx_leg_) + ": " + why.message());
    for (auto &w : cfx_->legs) {
      auto l = w.lock();
      if (!l || l.get() == this || l->status_ == CircuitStatus::kClosed) continue;
      l->fail(set_why);  // its streams learn why, then DESTROY goes out
      l->destroy(0);
    }
  }
}

void TorCircuit::destroy(uint8_t reason) {
  fail(Error(ErrorKind::kClosed, "circuit closed"));
  outbox_.clear();
  if (ch_) {
    // Once per circuit, and not back to a relay that destroyed it.
    if (!destroy_done_ && ch_->is_open()) ch_->send(circ_.make_destroy(reason));
    ch_->detach(circ_.circ_id());
  }
  destroy_done_ = true;
}

awaitable<Result<std::shared_ptr<TorStream>>> TorCircuit::wait_connected(std::shared_ptr<TorStream> s,
                                                                         std::chrono::milliseconds timeout) {
  auto self = shared_from_this();
  auto deadline = Clock::now() + timeout;
  while (s->status_ == StreamStatus::kOpening) {
    auto now = Clock::now();
    if (now >= deadline) {
      s->close();
      co_return Error(ErrorKind::kTimeout, "stream not connected after " + std::to_string(timeout.count()) + " ms");
    }
    co_await s->event_.wait(deadline - now);
  }
  if (s->status_ == StreamStatus::kOpen) co_return s;
  if (s->status_ == StreamStatus::kFailed) co_return *s->error_;
  co_return Error(ErrorKind::kRefused, std::string("stream refused by exit: END ") +
                                           cell::end_reason_name(s->end_reason_))
      .with_code(s->end_reason_);
}

awaitable<Result<std::shared_ptr<TorStream>>> TorCircuit::open_stream(std::string address, uint16_t port,
                                                                      uint32_t flags,
                                                                      std::chrono::milliseconds timeout) {
  if (status_ != CircuitStatus::kOpen) co_return failure_ ? *failure_ : Error(ErrorKind::kClosed, "circuit not open");
  TC_CO_TRY(uint16_t id, circ_.open_stream(address, port, flags, outbox_));
  auto s = std::make_shared<TorStream>(ch_->executor(), weak_from_this(), id);
  streams_[id] = s;
  flush();
  co_return co_await wait_connected(s, timeout);
}

awaitable<Result<std::shared_ptr<TorStream>>> TorCircuit::open_dir_stream(std::chrono::milliseconds timeout) {
  if (status_ != CircuitStatus::kOpen) co_return failure_ ? *failure_ : Error(ErrorKind::kClosed, "circuit not open");
  TC_CO_TRY(uint16_t id, circ_.open_dir_stream(outbox_));
  auto s = std::make_shared<TorStream>(ch_->executor(), weak_from_this(), id);
  streams_[id] = s;
  flush();
  co_return co_await wait_connected(s, timeout);
}

awaitable<Result<std::vector<cell::ResolvedAnswer>>> TorCircuit::resolve(std::string hostname,
                                                                        std::chrono::milliseconds timeout) {
  if (status_ != CircuitStatus::kOpen) co_return failure_ ? *failure_ : Error(ErrorKind::kClosed, "circuit not open");
  TC_CO_TRY(uint16_t id, circ_.open_resolve(hostname, outbox_));
  auto s = std::make_shared<TorStream>(ch_->executor(), weak_from_this(), id);
  streams_[id] = s;
  flush();
  auto deadline = Clock::now() + timeout;
  while (s->status_ == StreamStatus::kOpening) {
    auto now = Clock::now();
    if (now >= deadline) {
      s->close();
      co_return Error(ErrorKind::kTimeout, "no RESOLVED after " + std::to_string(timeout.count()) + " ms");
    }
    co_await s->event_.wait(deadline - now);
  }
  if (s->status_ == StreamStatus::kFailed) co_return *s->error_;
  if (s->resolved_.empty())
    co_return Error(ErrorKind::kRefused, std::string("resolve failed: END ") + cell::end_reason_name(s->end_reason_))
        .with_code(s->end_reason_);
  co_return s->resolved_;
}

}  // namespace tc::runtime
