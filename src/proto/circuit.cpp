#include "proto/circuit.h"

#include <functional>

#include "crypto/crypto.h"
#include "proto/conflux.h"

namespace tc::proto {

using cell::Cell;
using cell::CellCommand;
using cell::RelayCommand;

namespace {
Error proto_error(const std::string &m) { return Error(ErrorKind::kProtocol, m); }
}  // namespace

Result<Bytes> Circuit::start_handshake(const RelayTarget &t, HandshakeType type, bool request_cc) {
  if (type == HandshakeType::kNtorV3) {
    if (!t.ed_id) return Error(ErrorKind::kInvalidArgument, "ntor-v3 needs the relay's Ed25519 identity");
    // Prop 324 §4.1.1: the request is extension type 1 with an empty body.
    crypto::NtorV3Extensions exts;
    if (request_cc) exts.emplace_back(crypto::kNtorV3ExtCcRequest, Bytes{});
    auto hs = crypto::NtorV3Client::start(*t.ed_id, t.ntor_onion_key, crypto::encode_ntor_v3_extensions(exts));
    TC_TRY_VOID(hs.status());
    Bytes onionskin = hs.onionskin();
    pending_.emplace(Pending{t, type, std::move(hs), request_cc});
    return onionskin;
  }
  if (request_cc) return Error(ErrorKind::kInvalidArgument, "congestion control needs the ntor-v3 handshake");
  auto hs = crypto::NtorClient::start(t.rsa_id, t.ntor_onion_key);
  Bytes onionskin = hs.onionskin();
  pending_.emplace(Pending{t, type, std::move(hs), false});
  return onionskin;
}

Result<Cell> Circuit::start_create(const RelayTarget &first, HandshakeType type, bool request_cc) {
  if (hop_count() != 0 || pending_) return Error(ErrorKind::kInternal, "CREATE2 on a circuit that has hops");
  TC_TRY(Bytes onionskin, start_handshake(first, type, request_cc));
  return cell::make_create2_cell(circ_id_, static_cast<uint16_t>(type), onionskin);
}

Result<Cell> Circuit::start_extend(const RelayTarget &next, HandshakeType type, bool request_cc) {
  if (hop_count() == 0 || pending_) return Error(ErrorKind::kInternal, "EXTEND2 before the circuit is created");
  if (relay_early_left_ <= 0) return proto_error("no RELAY_EARLY cells left to extend with (tor-spec §5.6)");
  TC_TRY(Bytes onionskin, start_handshake(next, type, request_cc));
  cell::LinkSpecifiers ls{};
  ls.ipv4 = next.ipv4;
  ls.port = next.or_port;
  ls.rsa_id = next.rsa_id;
  ls.ed_id = next.ed_id;
  Bytes body = cell::make_extend2_body(ls, static_cast<uint16_t>(type), onionskin);
  --relay_early_left_;
  return make_relay(RelayCommand::kExtend2, 0, body, /*early=*/true);
}

Status Circuit::negotiate_cc(bool requested, ByteSpan server_message) {
  TC_TRY(auto exts, crypto::decode_ntor_v3_extensions(server_message));
  for (auto &[type, body] : exts) {
    if (type != crypto::kNtorV3ExtCcResponse) continue;  // unknown fields are ignored (C tor)
    // C tor's circuit_finish_handshake: an answer we did not ask for is a
    // protocol error.
    if (!requested) return proto_error("congestion-control response without a request");
    // trn_extension_field_cc: SENDME_INC [1]
    if (body.size() < 1) return proto_error("congestion-control response without sendme_inc");
    uint8_t inc = body[0];
    if (!sendme_inc_acceptable(inc, cc_params_.sendme_inc))
      return proto_error("congestion-control sendme_inc " + std::to_string(inc) + " too far from ours (" +
                         std::to_string(cc_params_.sendme_inc) + ")");
    cc_.emplace(cc_params_, inc);
    return Status{};
  }
  // Requested but not granted: the exit's consensus has congestion control
  // off; the fixed windows apply.
  return Status{};
}

Result<CircuitEvent> Circuit::finish_handshake(ByteSpan reply) {
  if (!pending_) return proto_error("handshake reply without a pending handshake");
  Pending p = std::move(*pending_);
  pending_.reset();
  Bytes keys;
  if (auto *v3 = std::get_if<crypto::NtorV3Client>(&p.state)) {
    TC_TRY(auto outcome, v3->finish(reply, 72));
    keys = std::move(outcome.key_material);
    auto st = negotiate_cc(p.cc_requested, outcome.server_message);
    if (!st) {
      secure_wipe(keys.data(), keys.size());
      return std::move(st).error().context("ntor-v3 server message");
    }
  } else {
    TC_TRY(keys, std::get<crypto::NtorClient>(p.state).finish(reply, 72));
  }
  crypto_.add_hop(cell::HopCrypto(keys));
  secure_wipe(keys.data(), keys.size());
  path_.push_back(std::move(p.target));
  return CircuitEvent{EvHopAdded{hop_count()}};
}

Cell Circuit::make_relay(RelayCommand cmd, uint16_t stream_id, ByteSpan body, bool early,
                         std::array<uint8_t, 20> *digest_out) {
  Cell c;
  c.circ_id = circ_id_;
  c.command = early ? CellCommand::kRelayEarly : CellCommand::kRelay;
  cell::pack_relay_payload(cmd, stream_id, body, c.payload);
  auto d = crypto_.encrypt_outbound(c.payload, hop_count() - 1);
  if (digest_out) *digest_out = d;
  return c;
}

Result<CircuitEvent> Circuit::handle_cell(cell::CellView c, Outbox &out, LazyUsec now) {
  now_ = now;
  switch (c.command) {
    case CellCommand::kCreated2: {
      if (hop_count() != 0) return proto_error("CREATED2 on a circuit that already has hops");
      TC_TRY(Bytes hdata, cell::parse_created2(c.payload));
      auto r = finish_handshake(hdata);
      if (!r) return std::move(r).error().context("CREATED2 from first hop");
      return r;
    }
    case CellCommand::kDestroy:
      return CircuitEvent{EvDestroyed{c.payload[0]}};
    case CellCommand::kRelay:
    case CellCommand::kRelayEarly:
      return handle_relay(c, out);
    case CellCommand::kPadding:
      return CircuitEvent{EvNothing{}};
    default:
      return proto_error(std::string("unexpected ") + cell::cell_command_name(c.command) + " cell on a circuit");
  }
}

void Circuit::count_delivered_data(const std::array<uint8_t, 20> &digest, Outbox &out) {
  // One circuit SENDME per sendme_inc DATA cells (§7.4; prop 324: the
  // negotiated cc sendme_inc), carrying the digest of the cell that
  // completed the increment (proposal 289).
  const int inc = circ_sendme_inc();
  if (deliver_window_ <= kCircWindowStart - inc) {
    deliver_window_ += inc;
    auto body = cell::make_sendme_v1_body(digest);
    out.push_back(make_relay(RelayCommand::kSendme, 0, body, false));
  }
}

Result<CircuitEvent> Circuit::handle_relay(cell::CellView c, Outbox &out) {
  if (hop_count() == 0) return proto_error("RELAY cell before the circuit was created");
  std::array<uint8_t, 20> digest{};
  auto hop_r = crypto_.decrypt_inbound(c.payload, &digest);
  if (!hop_r) return std::move(hop_r).error().context("inbound relay cell");
  size_t hop = *hop_r;
  TC_TRY(auto msg, cell::unpack_relay_payload(c.payload));
  const bool from_last = hop + 1 == hop_count();

  switch (msg.command) {
    case RelayCommand::kExtended2: {
      if (!from_last || msg.stream_id != 0) return proto_error("EXTENDED2 from the wrong hop or on a stream");
      TC_TRY(Bytes hdata, cell::parse_extended2(msg.body));
      auto r = finish_handshake(hdata);
      if (!r) return std::move(r).error().context("EXTENDED2 from hop " + std::to_string(hop + 1));
      return r;
    }
    case RelayCommand::kTruncated: {
      TC_TRY(uint8_t reason, cell::parse_truncated(msg.body));
      return CircuitEvent{EvTruncated{reason}};
    }
    case RelayCommand::kDrop:
      return CircuitEvent{EvNothing{}};
    case RelayCommand::kSendme: {
      TC_TRY(auto sendme, cell::parse_sendme(msg.body));
      if (msg.stream_id == 0) {
        // Circuit-level SENDME (§7.4): authenticate it against the digest of
        // the cell it acknowledges (proposal 289), then open the window.
        if (expected_sendme_digests_.empty()) return proto_error("circuit SENDME without data to acknowledge");
        auto expected = expected_sendme_digests_.front();
        expected_sendme_digests_.erase(expected_sendme_digests_.begin());
        if (sendme.version == 1) {
          if (sendme.digest.size() < 4 || !ct_equal(ByteSpan(sendme.digest).first(std::min<size_t>(20, sendme.digest.size())),
                                                    ByteSpan(expected).first(std::min<size_t>(20, sendme.digest.size()))))
            return Error(ErrorKind::kCrypto, "circuit SENDME v1 digest does not match the cell it acknowledges");
        }
        if (cc_) {
          // Prop 324 §3.3: RTT sample and Vegas update; inflight drops by sendme_inc.
          TC_TRY_VOID(cc_->on_sendme(now_.get()));
          return CircuitEvent{EvCircuitWindowOpened{}};
        }
        if (package_window_ + kCircWindowIncrement > kCircWindowStart)
          return proto_error("circuit SENDME would overflow the package window");
        package_window_ += kCircWindowIncrement;
        return CircuitEvent{EvCircuitWindowOpened{}};
      }
      auto it = streams_.find(msg.stream_id);
      if (it == streams_.end()) return CircuitEvent{EvNothing{}};  // stream already gone: ignore
      // C tor closes the circuit on a stream SENDME under congestion control.
      if (cc_) return proto_error("stream SENDME on a congestion-controlled circuit");
      if (it->second.package_window + kStreamWindowIncrement > kStreamWindowStart)
        return proto_error("stream SENDME would overflow the package window");
      it->second.package_window += kStreamWindowIncrement;
      return CircuitEvent{EvStreamWindowOpened{msg.stream_id}};
    }
    case RelayCommand::kConfluxLink:
    case RelayCommand::kConfluxLinked:
    case RelayCommand::kConfluxLinkedAck:
    case RelayCommand::kConfluxSwitch:
      return handle_conflux(msg, from_last);
    default:
      break;
  }

  if (conflux_link_sent_ && conflux_multiplexed(msg.command)) {
    // Prop 329: the set orders these; this leg only checks the source hop
    // and counts DATA for its own SENDMEs (congestion control is per leg).
    if (!from_last)
      return proto_error(std::string("conflux ") + cell::relay_command_name(msg.command) +
                         " from a hop that is not the exit");
    if (!conflux_linked_) return proto_error("conflux message before CONFLUX_LINKED");
    if (msg.command == RelayCommand::kData) {
      if (--deliver_window_ < 0) return proto_error("peer sent DATA beyond the circuit window");
      count_delivered_data(digest, out);
    }
    return CircuitEvent{EvConfluxMessage{msg.command, msg.stream_id, msg.body}};
  }
  return handle_stream_message(msg, from_last, digest, out, true);
}

Result<CircuitEvent> Circuit::handle_conflux(const cell::RelayMessage &msg, bool from_last) {
  const char *name = cell::relay_command_name(msg.command);
  // Prop 329 §4.2.1: only the exit of a circuit that sent LINK may speak
  // conflux to us; LINK and LINKED_ACK go the other way.
  if (!conflux_link_sent_) return proto_error(std::string(name) + " on a circuit that is not a conflux leg");
  if (!from_last) return proto_error(std::string(name) + " from a hop that is not the exit");
  if (msg.stream_id != 0) return proto_error(std::string(name) + " on a stream");
  switch (msg.command) {
    case RelayCommand::kConfluxLinked: {
      if (conflux_linked_) return proto_error("a second CONFLUX_LINKED");
      TC_TRY(auto link, cell::parse_conflux_link(msg.body));
      if (!ct_equal(link.nonce, conflux_nonce_)) return proto_error("CONFLUX_LINKED for another set (nonce differs)");
      conflux_linked_ = true;
      return CircuitEvent{EvConfluxLinked{link}};
    }
    case RelayCommand::kConfluxSwitch: {
      if (!conflux_linked_) return proto_error("CONFLUX_SWITCH before CONFLUX_LINKED");
      TC_TRY(uint32_t rel, cell::parse_conflux_switch(msg.body));
      return CircuitEvent{EvConfluxSwitch{rel}};
    }
    default:
      return proto_error(std::string(name) + " sent to a client");
  }
}

Status Circuit::send_conflux_link(const cell::ConfluxLink &link, Outbox &out) {
  if (hop_count() == 0 || pending_) return Error(ErrorKind::kInternal, "CONFLUX_LINK on an unfinished circuit");
  if (!cc_) return Error(ErrorKind::kProtocol, "conflux needs congestion control with the exit (prop 329 §2.2)");
  if (conflux_link_sent_) return Error(ErrorKind::kInternal, "CONFLUX_LINK sent twice");
  if (!streams_.empty()) return Error(ErrorKind::kInternal, "CONFLUX_LINK on a circuit with streams");
  conflux_nonce_ = link.nonce;
  conflux_link_sent_ = true;
  out.push_back(make_relay(RelayCommand::kConfluxLink, 0, cell::make_conflux_link_body(link), false));
  return Status{};
}

void Circuit::send_conflux_linked_ack(Outbox &out) {
  out.push_back(make_relay(RelayCommand::kConfluxLinkedAck, 0, {}, false));
}

Result<CircuitEvent> Circuit::deliver_conflux_message(RelayCommand command, uint16_t stream_id, ByteSpan body,
                                                      Outbox &out) {
  cell::RelayMessage msg{command, stream_id, body};
  return handle_stream_message(msg, /*from_last=*/true, {}, out, /*count_data=*/false);
}

Result<CircuitEvent> Circuit::handle_stream_message(const cell::RelayMessage &msg, bool from_last,
                                                    const std::array<uint8_t, 20> &digest, Outbox &out,
                                                    bool count_data) {
  if (msg.stream_id == 0) return proto_error(std::string("relay ") + cell::relay_command_name(msg.command) + " without a stream id");
  auto it = streams_.find(msg.stream_id);
  if (it == streams_.end()) {
    // Cells for streams we already closed may still be in flight
    // (half-closed, §6.3): count DATA against the circuit window and drop.
    if (msg.command == RelayCommand::kData && count_data) {
      if (--deliver_window_ < 0) return proto_error("peer sent DATA beyond the circuit window");
      count_delivered_data(digest, out);
    }
    return CircuitEvent{EvNothing{}};
  }
  StreamFlow &s = it->second;
  switch (msg.command) {
    case RelayCommand::kConnected: {
      if (s.phase != StreamPhase::kOpening) return proto_error("CONNECTED on a stream that is not opening");
      cell::Connected info;
      if (!s.is_dir) {
        TC_TRY(info, cell::parse_connected(msg.body));
      }
      s.phase = StreamPhase::kOpen;
      return CircuitEvent{EvStreamConnected{msg.stream_id, std::move(info)}};
    }
    case RelayCommand::kData: {
      if (s.phase != StreamPhase::kOpen) return proto_error("DATA on a stream that is not open");
      if (count_data) {
        if (--deliver_window_ < 0) return proto_error("peer sent DATA beyond the circuit window");
        // Stream windows only without congestion control (prop 324 §4).
        if (!cc_ && --s.deliver_window < 0) return proto_error("peer sent DATA beyond the stream window");
        count_delivered_data(digest, out);
      }
      return CircuitEvent{EvStreamData{msg.stream_id, msg.body}};
    }
    case RelayCommand::kEnd: {
      TC_TRY(auto end, cell::parse_end(msg.body));
      streams_.erase(it);
      return CircuitEvent{EvStreamEnded{msg.stream_id, end.reason}};
    }
    case RelayCommand::kResolved: {
      TC_TRY(auto answers, cell::parse_resolved(msg.body));
      streams_.erase(it);
      return CircuitEvent{EvStreamResolved{msg.stream_id, std::move(answers)}};
    }
    case RelayCommand::kXoff:
    case RelayCommand::kXon:
      return handle_flow_control(msg, s, from_last);
    default:
      return proto_error(std::string("unexpected relay ") + cell::relay_command_name(msg.command) + " on a stream");
  }
}

Result<CircuitEvent> Circuit::handle_flow_control(const cell::RelayMessage &msg, StreamFlow &s, bool from_last) {
  // Prop 324 §4.1 (C tor's circuit_process_stream_xoff/xon).
  const char *name = cell::relay_command_name(msg.command);
  if (!cc_) return proto_error(std::string(name) + " on a circuit without congestion control");
  if (!from_last) return proto_error(std::string(name) + " from a hop that is not the stream's");
  if (msg.command == RelayCommand::kXoff) {
    TC_TRY_VOID(cell::parse_xoff(msg.body));
    // A second XOFF is a protocol warning in C tor, which still obeys it.
    s.xoff_received = true;
    return CircuitEvent{EvNothing{}};
  }
  TC_TRY(auto xon, cell::parse_xon(msg.body));
  s.xon_rate_kbps = xon.kbps_ewma;
  bool was_off = s.xoff_received;
  s.xoff_received = false;
  if (was_off) return CircuitEvent{EvStreamWindowOpened{msg.stream_id}};
  return CircuitEvent{EvNothing{}};
}

Result<uint16_t> Circuit::new_stream_id() {
  if (streams_.size() >= 60000) return Error(ErrorKind::kExhausted, "no free stream ids on this circuit");
  for (;;) {
    uint16_t id = static_cast<uint16_t>(crypto::random_u32());
    if (id != 0 && !streams_.count(id)) return id;
  }
}

Result<uint16_t> Circuit::open_stream(std::string_view address, uint16_t port, uint32_t flags, Outbox &out) {
  if (hop_count() == 0 || pending_) return Error(ErrorKind::kInternal, "stream on an unfinished circuit");
  TC_TRY(uint16_t id, new_stream_id());
  StreamFlow f;
  f.id = id;
  if (cc_) f.xon_xoff.emplace(cc_params_);
  streams_[id] = std::move(f);
  out.push_back(make_relay(RelayCommand::kBegin, id, cell::make_begin_body(address, port, flags), false));
  return id;
}

Result<uint16_t> Circuit::open_dir_stream(Outbox &out) {
  if (hop_count() == 0 || pending_) return Error(ErrorKind::kInternal, "stream on an unfinished circuit");
  TC_TRY(uint16_t id, new_stream_id());
  StreamFlow f;
  f.id = id;
  f.is_dir = true;
  if (cc_) f.xon_xoff.emplace(cc_params_);
  streams_[id] = f;
  out.push_back(make_relay(RelayCommand::kBeginDir, id, {}, false));
  return id;
}

Result<uint16_t> Circuit::open_resolve(std::string_view hostname, Outbox &out) {
  if (hop_count() == 0 || pending_) return Error(ErrorKind::kInternal, "resolve on an unfinished circuit");
  TC_TRY(uint16_t id, new_stream_id());
  StreamFlow f;
  f.id = id;
  f.is_resolve = true;
  streams_[id] = f;
  out.push_back(make_relay(RelayCommand::kResolve, id, cell::make_resolve_body(hostname), false));
  return id;
}

const StreamFlow *Circuit::stream(uint16_t id) const {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : &it->second;
}

int Circuit::package_window() const {
  if (cc_) return static_cast<int>(std::min<uint64_t>(cc_->package_window(), INT32_MAX));
  return package_window_;
}

int Circuit::send_window(uint16_t stream_id) const {
  auto it = streams_.find(stream_id);
  if (it == streams_.end() || it->second.phase != StreamPhase::kOpen) return 0;
  const StreamFlow &f = it->second;
  if (cc_) return f.xoff_received ? 0 : package_window();
  return std::max(0, std::min(package_window_, f.package_window));
}

bool Circuit::can_send(uint16_t stream_id) const { return send_window(stream_id) > 0; }

Result<size_t> Circuit::send_data(uint16_t stream_id, ByteSpan data, Outbox &out, uint64_t now_usec) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end() || it->second.phase != StreamPhase::kOpen)
    return Error(ErrorKind::kClosed, "stream is not open");
  if (send_window(stream_id) <= 0)
    return Error(ErrorKind::kExhausted, cc_ && it->second.xoff_received ? "stream stopped by XOFF"
                                                                         : "flow-control window closed");
  size_t n = std::min(data.size(), cell::kRelayBodyMax);
  std::array<uint8_t, 20> digest;
  out.push_back(make_relay(RelayCommand::kData, stream_id, data.first(n), false, &digest));
  if (cc_) {
    // Prop 324: inflight counts the cell; every sendme_inc-th one is
    // timed for the RTT and its digest authenticates the SENDME.
    if (cc_->note_cell_sent(now_usec)) expected_sendme_digests_.push_back(digest);
    return n;
  }
  --package_window_;
  --it->second.package_window;
  if (++data_cells_sent_ % kCircWindowIncrement == 0) expected_sendme_digests_.push_back(digest);
  return n;
}

void Circuit::data_consumed(uint16_t stream_id, int cells, Outbox &out) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;
  // The deliver window fell when cells arrived; it only reopens once the
  // application has consumed them, so a reader that stalls stops the exit
  // (backpressure, §7.4). One stream SENDME per 50 consumed cells.
  StreamFlow &s = it->second;
  if (cc_) return;  // no stream SENDMEs under congestion control (prop 324 §4)
  s.consumed_since_sendme += cells;
  while (s.consumed_since_sendme >= kStreamWindowIncrement) {
    s.consumed_since_sendme -= kStreamWindowIncrement;
    s.deliver_window += kStreamWindowIncrement;
    out.push_back(make_relay(RelayCommand::kSendme, stream_id, {}, false));
  }
}

namespace {
// A template, not std::function: this runs for every inbound DATA cell, and
// the callers' lambdas are too big for std::function's inline storage (one
// malloc and free per cell).
template <class Emit>
void send_flow(StreamXonXoff::Send what, StreamFlow &f, Emit &&emit) {
  if (what == StreamXonXoff::Send::kXoff) {
    ++f.xoffs_sent;
    f.last_sent_xoff = true;
    emit(RelayCommand::kXoff, cell::make_xoff_body());
  }
  if (what == StreamXonXoff::Send::kXon) {
    ++f.xons_sent;
    f.last_sent_xoff = false;
    emit(RelayCommand::kXon, cell::make_xon_body(f.xon_xoff->xon_rate_kbps()));
  }
}
}  // namespace

void Circuit::stream_buffered(uint16_t stream_id, uint64_t buffered, LazyUsec now, Outbox &out) {
  auto it = streams_.find(stream_id);
  if (!cc_ || it == streams_.end() || !it->second.xon_xoff || it->second.phase != StreamPhase::kOpen) return;
  auto &x = *it->second.xon_xoff;
  send_flow(x.on_data_buffered(buffered, now), it->second,
            [&](RelayCommand cmd, Bytes body) { out.push_back(make_relay(cmd, stream_id, body, false)); });
}

void Circuit::stream_drained(uint16_t stream_id, uint64_t drained, uint64_t buffered, uint64_t now_usec, Outbox &out) {
  auto it = streams_.find(stream_id);
  if (!cc_ || it == streams_.end() || !it->second.xon_xoff || it->second.phase != StreamPhase::kOpen) return;
  auto &x = *it->second.xon_xoff;
  send_flow(x.on_drained(drained, buffered, now_usec), it->second,
            [&](RelayCommand cmd, Bytes body) { out.push_back(make_relay(cmd, stream_id, body, false)); });
}

void Circuit::close_stream(uint16_t stream_id, uint8_t reason, Outbox &out) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;
  Bytes body = cell::make_end_body(reason);
  out.push_back(make_relay(RelayCommand::kEnd, stream_id, body, false));
  streams_.erase(it);
}

}  // namespace tc::proto
