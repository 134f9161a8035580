// The client side of one circuit as a state machine with no I/O
// (tor-spec §5, §6, §7): handshakes with each hop, onion crypto, the stream
// table and both levels of SENDME flow control. Cells in, cells and events
// out; the runtime owns the sockets and the clock.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "cell/cell.h"
#include "cell/relay.h"
#include "cell/relay_crypto.h"
#include "crypto/ntor.h"
#include "crypto/ntor_v3.h"
#include "proto/congestion.h"
#include "util/bytes.h"
#include "util/error.h"

namespace tc::proto {

// What a client needs to know about a relay to build a circuit through it.
struct RelayTarget {
  std::string nickname;
  std::array<uint8_t, 20> rsa_id{};
  std::optional<std::array<uint8_t, 32>> ed_id;
  std::array<uint8_t, 32> ntor_onion_key{};
  std::array<uint8_t, 4> ipv4{};
  uint16_t or_port = 0;
  // The relay lists FlowCtrl=2 (congestion control, prop 324) and can run
  // ntor-v3 (Relay=4), so it may be asked for congestion control as an exit.
  bool supports_cc = false;
};

enum class HandshakeType : uint16_t { kNtor = 2, kNtorV3 = 3 };

// Flow-control constants (tor-spec §7.3, §7.4).
inline constexpr int kCircWindowStart = 1000;
inline constexpr int kCircWindowIncrement = 100;
inline constexpr int kStreamWindowStart = 500;
inline constexpr int kStreamWindowIncrement = 50;
inline constexpr int kMaxRelayEarly = 8;

enum class StreamPhase { kOpening, kOpen, kClosed };

struct StreamFlow {
  uint16_t id = 0;
  StreamPhase phase = StreamPhase::kOpening;
  int package_window = kStreamWindowStart;
  int deliver_window = kStreamWindowStart;
  bool is_resolve = false;
  bool is_dir = false;  // BEGIN_DIR: CONNECTED body is ignored (§6.2.1)
  int consumed_since_sendme = 0;
  // Congestion-controlled circuits only (prop 324 §4): no stream windows,
  // XON/XOFF instead.
  bool xoff_received = false;   // the exit asked us to stop sending
  uint32_t xon_rate_kbps = 0;   // the exit's advisory rate from its last XON
  std::optional<StreamXonXoff> xon_xoff{};
  uint32_t xoffs_sent = 0, xons_sent = 0;  // for logs and tests
  bool last_sent_xoff = false;
  bool xoff_xon_last_was_xoff() const { return last_sent_xoff; }
};

// Events a cell produced, for the runtime to act on.
struct EvHopAdded { size_t hops; };
struct EvStreamConnected { uint16_t stream_id; cell::Connected info; };
struct EvStreamData { uint16_t stream_id; ByteSpan data; };  // views into the cell
struct EvStreamEnded { uint16_t stream_id; uint8_t reason; };
struct EvStreamResolved { uint16_t stream_id; std::vector<cell::ResolvedAnswer> answers; };
struct EvStreamWindowOpened { uint16_t stream_id; };
struct EvCircuitWindowOpened {};
struct EvDestroyed { uint8_t reason; };
struct EvTruncated { uint8_t reason; };
struct EvNothing {};
// Conflux legs only (prop 329): a multiplexed message from the exit, for the
// set to put in order (body: a view into the cell); a SWITCH; a LINKED.
struct EvConfluxMessage { cell::RelayCommand command; uint16_t stream_id; ByteSpan body; };
struct EvConfluxSwitch { uint32_t relative_seq; };
struct EvConfluxLinked { cell::ConfluxLink link; };
using CircuitEvent = std::variant<EvNothing, EvHopAdded, EvStreamConnected, EvStreamData, EvStreamEnded,
                                  EvStreamResolved, EvStreamWindowOpened, EvCircuitWindowOpened, EvDestroyed,
                                  EvTruncated, EvConfluxMessage, EvConfluxSwitch, EvConfluxLinked>;

// Cells the circuit wants sent on its channel, in order.
using Outbox = std::vector<cell::Cell>;

class Circuit {
 public:
  // cc: the consensus's congestion-control parameters; used when a hop is
  // asked for congestion control and agrees.
  explicit Circuit(uint32_t circ_id, CcParams cc = {}) : circ_id_(circ_id), cc_params_(cc) {}
  uint32_t circ_id() const { return circ_id_; }
  size_t hop_count() const { return crypto_.hop_count(); }
  const std::vector<RelayTarget> &path() const { return path_; }
  bool handshake_pending() const { return pending_.has_value(); }

  // CREATE2 to the first hop. request_cc (ntor-v3 only) sends the
  // congestion-control request extension (prop 324 §4.1.1): only for the
  // hop that will be the circuit's last.
  Result<cell::Cell> start_create(const RelayTarget &first, HandshakeType type, bool request_cc = false);
  // EXTEND2 (inside RELAY_EARLY) asking the last hop to extend to `next`.
  Result<cell::Cell> start_extend(const RelayTarget &next, HandshakeType type, bool request_cc = false);

  // Processes one inbound cell for this circuit. Errors mean the circuit is
  // unusable and must be destroyed (tor-spec §6.1: unrecognized cells close it).
  // now: a monotonic clock in microseconds, for congestion control's RTT
  // measurement (read only for a SENDME on circuits with it). The payload is
  // decrypted in place; event bodies point into it (valid while it is).
  Result<CircuitEvent> handle_cell(cell::CellView c, Outbox &out, LazyUsec now = {});
  Result<CircuitEvent> handle_cell(cell::Cell &c, Outbox &out, LazyUsec now = {}) {
    return handle_cell(c.view(), out, now);
  }

  // Streams (§6.2). Opening sends BEGIN / BEGIN_DIR / RESOLVE to the last hop.
  Result<uint16_t> open_stream(std::string_view address, uint16_t port, uint32_t flags, Outbox &out);
  Result<uint16_t> open_dir_stream(Outbox &out);
  Result<uint16_t> open_resolve(std::string_view hostname, Outbox &out);
  // True when a DATA cell may be sent on the stream now: both windows open,
  // or with congestion control, cwnd above inflight and no XOFF.
  bool can_send(uint16_t stream_id) const;
  // DATA cells the stream may send now (0 if none).
  int send_window(uint16_t stream_id) const;
  // Packs up to kRelayBodyMax bytes as one DATA cell; returns bytes taken.
  Result<size_t> send_data(uint16_t stream_id, ByteSpan data, Outbox &out, uint64_t now_usec = 0);
  // The application consumed `cells` DATA cells of this stream: stream-level
  // SENDMEs go out as the deliver window drains (backpressure, §7.4). Not
  // on congestion-controlled circuits (see stream_buffered/stream_drained).
  void data_consumed(uint16_t stream_id, int cells, Outbox &out);
  // Congestion control's stream flow control (prop 324 §4): `buffered`
  // bytes of the stream wait for our reader after new data arrived, or
  // after the reader took `drained` bytes; XOFF / XON go out as needed.
  // No-ops on circuits without congestion control.
  void stream_buffered(uint16_t stream_id, uint64_t buffered, LazyUsec now, Outbox &out);
  void stream_drained(uint16_t stream_id, uint64_t drained, uint64_t buffered, uint64_t now_usec, Outbox &out);
  // The Vegas state when the exit agreed to congestion control, else null.
  const Vegas *congestion_control() const { return cc_ ? &*cc_ : nullptr; }
  void close_stream(uint16_t stream_id, uint8_t reason, Outbox &out);
  // Forget a stream locally without sending anything (already ended by peer).
  void forget_stream(uint16_t stream_id) { streams_.erase(stream_id); }
  size_t stream_count() const { return streams_.size(); }
  const StreamFlow *stream(uint16_t id) const;
  // Circuit-level cells we may send now.
  int package_window() const;

  cell::Cell make_destroy(uint8_t reason) const { return cell::make_destroy_cell(circ_id_, reason); }

  // ---- conflux (prop 329) ----
  // Makes this circuit a conflux leg and sends CONFLUX_LINK to the exit.
  // Needs congestion control with the exit (§2.2: legs without it MUST be
  // closed). From now on multiplexed messages come out as EvConfluxMessage
  // (circuit-level accounting and SENDMEs done here, per leg), and the set
  // hands them back in order through deliver_conflux_message().
  Status send_conflux_link(const cell::ConfluxLink &link, Outbox &out);
  void send_conflux_linked_ack(Outbox &out);
  bool is_conflux_leg() const { return conflux_link_sent_; }
  // A multiplexed message the set put in order (on the leg holding the
  // streams: ours is always the first leg).
  Result<CircuitEvent> deliver_conflux_message(cell::RelayCommand command, uint16_t stream_id, ByteSpan body,
                                               Outbox &out);

 private:
  Result<uint16_t> new_stream_id();
  cell::Cell make_relay(cell::RelayCommand cmd, uint16_t stream_id, ByteSpan body, bool early,
                        std::array<uint8_t, 20> *digest_out = nullptr);
  Result<CircuitEvent> handle_relay(cell::CellView c, Outbox &out);
  Result<CircuitEvent> finish_handshake(ByteSpan reply);
  Result<Bytes> start_handshake(const RelayTarget &t, HandshakeType type, bool request_cc);
  Status negotiate_cc(bool requested, ByteSpan server_message);
  int circ_sendme_inc() const { return cc_ ? cc_->sendme_inc() : kCircWindowIncrement; }
  void count_delivered_data(const std::array<uint8_t, 20> &digest, Outbox &out);
  Result<CircuitEvent> handle_flow_control(const cell::RelayMessage &msg, StreamFlow &s, bool from_last);
  Result<CircuitEvent> handle_conflux(const cell::RelayMessage &msg, bool from_last);
  // The stream part of a relay message; count_data: DATA still has to be
  // counted against the circuit's deliver window (not for conflux messages,
  // which their leg counted).
  Result<CircuitEvent> handle_stream_message(const cell::RelayMessage &msg, bool from_last,
                                             const std::array<uint8_t, 20> &digest, Outbox &out, bool count_data);

  struct Pending {
    RelayTarget target;
    HandshakeType type;
    std::variant<crypto::NtorClient, crypto::NtorV3Client> state;
    bool cc_requested = false;
  };
  uint32_t circ_id_;
  CcParams cc_params_;
  // Congestion control with the last hop, when negotiated (prop 324).
  std::optional<Vegas> cc_;
  LazyUsec now_;  // of the cell being handled
  cell::ClientCircuitCrypto crypto_;
  std::vector<RelayTarget> path_;
  std::optional<Pending> pending_;
  int relay_early_left_ = kMaxRelayEarly;
  int package_window_ = kCircWindowStart;
  int deliver_window_ = kCircWindowStart;
  uint64_t data_cells_sent_ = 0;
  // Digests of every 100th DATA cell we sent, to authenticate the exit's
  // SENDMEs (proposal 289).
  std::vector<std::array<uint8_t, 20>> expected_sendme_digests_;
  std::map<uint16_t, StreamFlow> streams_;
  bool conflux_link_sent_ = false;
  bool conflux_linked_ = false;
  std::array<uint8_t, 32> conflux_nonce_{};
};

}  // namespace tc::proto
