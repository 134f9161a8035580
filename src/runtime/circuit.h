// Circuits and streams as the runtime drives them: a proto::Circuit (no
// I/O) attached to a Channel, with coroutines to build it hop by hop and
// to open, read and write streams. Everything here runs on the runtime's
// io_context thread.
#pragma once
#include <atomic>
#include <asio.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "proto/circuit.h"
#include "runtime/channel.h"
#include "runtime/event.h"
#include "util/chunk_queue.h"

namespace tc::runtime {

class TorCircuit;

enum class StreamStatus { kOpening, kOpen, kEnded, kFailed };

class TorStream : public std::enable_shared_from_this<TorStream> {
 public:
  TorStream(asio::any_io_executor ex, std::weak_ptr<TorCircuit> circ, uint16_t id);
  uint16_t id() const { return id_; }
  StreamStatus status() const { return status_; }
  // Set when the stream ended or failed: the END reason (tor-spec §6.3), or 0.
  uint8_t end_reason() const { return end_reason_; }
  const std::optional<Error> &error() const { return error_; }

  // Waits for data; returns 0 at end of stream (peer sent END after data).
  asio::awaitable<Result<size_t>> read_some(MutableByteSpan buf);
  // Sends everything, waiting for flow-control windows as needed.
  asio::awaitable<Status> write(ByteSpan data);

  // Non-blocking forms, for event loops outside the runtime (C API).
  size_t readable_bytes() const { return inbound_.size(); }
  size_t read_now(MutableByteSpan buf);
  // Zero-copy reading: the buffered bytes in place (see ChunkQueue::peek),
  // then consume_now() once they were used; only one reader may do this.
  size_t peek_now(std::span<ByteSpan> out, size_t max_bytes) const { return inbound_.peek(out, max_bytes); }
  void consume_now(size_t n);
  // Bytes that can be sent now without waiting for a window.
  size_t writable_now() const;
  Result<size_t> write_now(ByteSpan data);

  // Sends END (reason DONE) and forgets the stream.
  void close();
  // Fails the stream locally (a deadline passed, the reader gave up).
  void failed(Error e);

  uint64_t bytes_in() const { return bytes_in_; }
  uint64_t bytes_out() const { return bytes_out_; }
  // XOFFs and XONs we sent on this stream (congestion control), for logs
  // and tests; 0 once the stream is gone from its circuit.
  uint32_t xoffs_sent() const;
  uint32_t xons_sent() const;
  // Called whenever the stream becomes readable, writable or ends.
  void set_notify(std::function<void()> fn) { notify_ = std::move(fn); }

 private:
  friend class TorCircuit;
  void deliver(TorCircuit &c, ByteSpan data);
  void ended(uint8_t reason);
  void wake();
  void consumed(size_t n);

  asio::any_io_executor ex_;
  std::weak_ptr<TorCircuit> circ_;
  uint16_t id_;
  StreamStatus status_ = StreamStatus::kOpening;
  uint8_t end_reason_ = 0;
  std::optional<Error> error_;
  std::optional<cell::Connected> connected_;
  std::vector<cell::ResolvedAnswer> resolved_;
  ChunkQueue inbound_;
  // Sizes of DATA cells still (partly) unread, for stream SENDMEs (§7.4).
  std::vector<uint16_t> cell_sizes_;
  size_t cell_sizes_head_ = 0;
  size_t consumed_in_cell_ = 0;
  Event event_;
  bool wake_pending_ = false;
  std::function<void()> notify_;
  uint64_t bytes_in_ = 0, bytes_out_ = 0;
};

enum class CircuitStatus { kBuilding, kOpen, kClosed };

class TorCircuit : public CellSink, public std::enable_shared_from_this<TorCircuit> {
 public:
  // Builds a circuit through `path` (first hop = the channel's relay):
  // CREATE2 then one EXTEND2 per further hop, each step bounded by `timeout`.
  // A failed step's error has code() = the failing hop, 1-based.
  // With cc.enabled() and a last hop (of two or more) that supports it,
  // that hop is reached with ntor-v3 and asked for congestion control
  // (prop 324); it may decline, and the fixed windows apply.
  static asio::awaitable<Result<std::shared_ptr<TorCircuit>>> build(std::shared_ptr<Channel> ch,
                                                                     std::vector<proto::RelayTarget> path,
                                                                     proto::HandshakeType type,
                                                                     std::chrono::milliseconds step_timeout,
                                                                     proto::CcParams cc = {});
  ~TorCircuit() override;

  asio::awaitable<Result<std::shared_ptr<TorStream>>> open_stream(std::string address, uint16_t port,
                                                                   uint32_t flags,
                                                                   std::chrono::milliseconds timeout);
  asio::awaitable<Result<std::shared_ptr<TorStream>>> open_dir_stream(std::chrono::milliseconds timeout);
  asio::awaitable<Result<std::vector<cell::ResolvedAnswer>>> resolve(std::string hostname,
                                                                      std::chrono::milliseconds timeout);
  // Sends DESTROY and fails all streams.
  void destroy(uint8_t reason = 0);

  uint32_t id() const { return circ_.circ_id(); }
  CircuitStatus status() const { return status_; }
  const std::vector<proto::RelayTarget> &path() const { return circ_.path(); }
  std::chrono::steady_clock::time_point created() const { return created_; }
  size_t stream_count() const { return streams_.size(); }
  // Gives back memory a quiet circuit does not need (a conflux set's reorder
  // ring); the client calls it about once a second.
  void trim_idle_memory(std::chrono::steady_clock::time_point now);
  // Bytes of large buffers circuits gave back since the last call (so the
  // client can hand free heap pages back to the system).
  static size_t take_released_bytes();
  uint64_t bytes_in() const { return bytes_in_; }
  uint64_t bytes_out() const { return bytes_out_; }
  const std::shared_ptr<Channel> &channel() const { return ch_; }
  std::chrono::milliseconds build_time() const { return build_time_; }
  // How long each hop's CREATE2/EXTEND2 took to answer, in order (a build's
  // time split by link: hop 1 is our own link to the guard, the others are
  // relay-to-relay links we do not control).
  const std::vector<std::chrono::microseconds> &hop_times() const { return hop_times_; }
  // Congestion control's state when the exit agreed to it, else null.
  const proto::Vegas *congestion_control() const { return circ_.congestion_control(); }

  // ---- conflux (proposal 329) ----
  // Links circuits to one exit into a conflux set (begin_conflux_link, then
  // await_conflux_linked, below). legs[0] becomes the set's primary: streams
  // open on it once linking is done, and everything we send goes on it; the
  // exit may send on any leg and the set restores the order. An error means
  // every leg was closed.
  static asio::awaitable<Status> link_conflux(std::vector<std::shared_ptr<TorCircuit>> legs,
                                              std::chrono::milliseconds timeout);
  // Legs of the linked set this circuit is the primary of (1 = linked
  // alone), or 0 (also while linking).
  size_t conflux_legs() const;
  // Per linked leg: the multiplexed messages the exit sent on it.
  std::vector<uint64_t> conflux_leg_messages() const;
  // The most messages held out of order at once so far.
  size_t conflux_max_held() const;

 private:
  friend class TorStream;
  // The two halves of link_conflux. begin_conflux_link sends CONFLUX_LINK
  // on each leg (same nonce); each LINKED is answered at once with
  // LINKED_ACK (the exit times the leg's RTT by it). No stream may open
  // before linking is done: a C tor 0.4.9 exit answered a BEGIN that reached
  // it before the leg's LINKED_ACK with CONNECTED, then never sent data.
  // Every leg needs congestion control with the exit; an error means no
  // LINK went out and every leg was closed.
  static Status begin_conflux_link(const std::vector<std::shared_ptr<TorCircuit>> &legs);
  // Waits up to `timeout` for every leg's LINKED. A secondary leg that does
  // not link is closed and left out; an error means the primary did not
  // link, and then every leg was closed (with the primary's streams).
  // From its end on, losing any leg closes the whole set (no resumption).
  static asio::awaitable<Status> await_conflux_linked(std::vector<std::shared_ptr<TorCircuit>> legs,
                                                      std::chrono::milliseconds timeout);
  TorCircuit(std::shared_ptr<Channel> ch, uint32_t circ_id, proto::CcParams cc);
  struct ConfluxShared;
  void on_cell(cell::CellView c) override;
  void on_event(proto::CircuitEvent &ev);
  void stream_gone();  // after a stream left streams_
  void conflux_message(const proto::EvConfluxMessage &ev);
  void deliver_ordered(cell::RelayCommand command, uint16_t stream_id, ByteSpan body);
  void on_channel_closed(const Error &why) override;
  void fail(Error why);
  void flush();
  asio::awaitable<Status> wait_hops(size_t hops, std::chrono::milliseconds timeout);
  asio::awaitable<Result<std::shared_ptr<TorStream>>> wait_connected(std::shared_ptr<TorStream> s,
                                                                     std::chrono::milliseconds timeout);

  std::shared_ptr<Channel> ch_;
  proto::Circuit circ_;
  proto::Outbox outbox_;
  CircuitStatus status_ = CircuitStatus::kBuilding;
  std::optional<Error> failure_;
  Event progress_;
  std::unordered_map<uint16_t, std::shared_ptr<TorStream>> streams_;
  std::chrono::steady_clock::time_point created_ = std::chrono::steady_clock::now();
  std::chrono::milliseconds build_time_{0};
  std::vector<std::chrono::microseconds> hop_times_;
  uint64_t bytes_in_ = 0, bytes_out_ = 0;
  // Conflux: the set this circuit is a leg of, its index there, whether
  // its LINKED came; the primary also owns the other legs.
  bool destroy_done_ = false;  // DESTROY sent or received
  std::shared_ptr<ConfluxShared> cfx_;
  static std::atomic<size_t> released_bytes_;
  size_t cfx_leg_ = 0;
  bool cfx_linked_ = false;
  std::vector<std::shared_ptr<TorCircuit>> cfx_others_;
};

}  // namespace tc::runtime
