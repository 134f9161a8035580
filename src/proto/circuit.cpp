#include "proto/circuit.h"

#include "crypto/crypto.h"

namespace tc::proto {

using cell::Cell;
using cell::CellCommand;
using cell::RelayCommand;

namespace {
Error proto_error(const std::string &m) { return Error(ErrorKind::kProtocol, m); }
}  // namespace

Result<Cell> Circuit::start_create(const RelayTarget &first, HandshakeType type) {
  if (hop_count() != 0 || pending_) return Error(ErrorKind::kInternal, "CREATE2 on a circuit that has hops");
  Bytes onionskin;
  if (type == HandshakeType::kNtorV3) {
    if (!first.ed_id) return Error(ErrorKind::kInvalidArgument, "ntor-v3 needs the relay's Ed25519 identity");
    auto hs = crypto::NtorV3Client::start(*first.ed_id, first.ntor_onion_key, crypto::encode_ntor_v3_extensions({}));
    onionskin = hs.onionskin();
    pending_.emplace(Pending{first, type, std::move(hs)});
  } else {
    auto hs = crypto::NtorClient::start(first.rsa_id, first.ntor_onion_key);
    onionskin = hs.onionskin();
    pending_.emplace(Pending{first, type, std::move(hs)});
  }
  return cell::make_create2_cell(circ_id_, static_cast<uint16_t>(type), onionskin);
}

Result<Cell> Circuit::start_extend(const RelayTarget &next, HandshakeType type) {
  if (hop_count() == 0 || pending_) return Error(ErrorKind::kInternal, "EXTEND2 before the circuit is created");
  if (relay_early_left_ <= 0) return proto_error("no RELAY_EARLY cells left to extend with (tor-spec §5.6)");
  Bytes onionskin;
  if (type == HandshakeType::kNtorV3) {
    if (!next.ed_id) return Error(ErrorKind::kInvalidArgument, "ntor-v3 needs the relay's Ed25519 identity");
    auto hs = crypto::NtorV3Client::start(*next.ed_id, next.ntor_onion_key, crypto::encode_ntor_v3_extensions({}));
    onionskin = hs.onionskin();
    pending_.emplace(Pending{next, type, std::move(hs)});
  } else {
    auto hs = crypto::NtorClient::start(next.rsa_id, next.ntor_onion_key);
    onionskin = hs.onionskin();
    pending_.emplace(Pending{next, type, std::move(hs)});
  }
  cell::LinkSpecifiers ls{};
  ls.ipv4 = next.ipv4;
  ls.port = next.or_port;
  ls.rsa_id = next.rsa_id;
  ls.ed_id = next.ed_id;
  Bytes body = cell::make_extend2_body(ls, static_cast<uint16_t>(type), onionskin);
  --relay_early_left_;
  return make_relay(RelayCommand::kExtend2, 0, body, /*early=*/true);
}

Result<CircuitEvent> Circuit::finish_handshake(ByteSpan reply) {
  if (!pending_) return proto_error("handshake reply without a pending handshake");
  Pending p = std::move(*pending_);
  pending_.reset();
  Bytes keys;
  if (auto *v3 = std::get_if<crypto::NtorV3Client>(&p.state)) {
    TC_TRY(auto outcome, v3->finish(reply, 72));
    keys = std::move(outcome.key_material);
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

Result<CircuitEvent> Circuit::handle_cell(Cell &c, Outbox &out) {
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

Result<CircuitEvent> Circuit::handle_relay(Cell &c, Outbox &out) {
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
        if (package_window_ + kCircWindowIncrement > kCircWindowStart)
          return proto_error("circuit SENDME would overflow the package window");
        package_window_ += kCircWindowIncrement;
        return CircuitEvent{EvCircuitWindowOpened{}};
      }
      auto it = streams_.find(msg.stream_id);
      if (it == streams_.end()) return CircuitEvent{EvNothing{}};  // stream already gone: ignore
      if (it->second.package_window + kStreamWindowIncrement > kStreamWindowStart)
        return proto_error("stream SENDME would overflow the package window");
      it->second.package_window += kStreamWindowIncrement;
      return CircuitEvent{EvStreamWindowOpened{msg.stream_id}};
    }
    default:
      break;
  }

  if (msg.stream_id == 0) return proto_error(std::string("relay ") + cell::relay_command_name(msg.command) + " without a stream id");
  auto it = streams_.find(msg.stream_id);
  if (it == streams_.end()) {
    // Cells for streams we already closed may still be in flight
    // (half-closed, §6.3): count DATA against the circuit window and drop.
    if (msg.command == RelayCommand::kData) {
      if (--deliver_window_ <= kCircWindowStart - kCircWindowIncrement) {
        deliver_window_ += kCircWindowIncrement;
        auto body = cell::make_sendme_v1_body(digest);
        out.push_back(make_relay(RelayCommand::kSendme, 0, body, false));
      }
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
      if (--deliver_window_ < 0 || --s.deliver_window < 0)
        return proto_error("peer sent DATA beyond the flow-control window");
      if (deliver_window_ <= kCircWindowStart - kCircWindowIncrement) {
        // The digest of this cell authenticates our SENDME (proposal 289).
        deliver_window_ += kCircWindowIncrement;
        auto body = cell::make_sendme_v1_body(digest);
        out.push_back(make_relay(RelayCommand::kSendme, 0, body, false));
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
    default:
      return proto_error(std::string("unexpected relay ") + cell::relay_command_name(msg.command) + " on a stream");
  }
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
  streams_[id] = StreamFlow{id};
  out.push_back(make_relay(RelayCommand::kBegin, id, cell::make_begin_body(address, port, flags), false));
  return id;
}

Result<uint16_t> Circuit::open_dir_stream(Outbox &out) {
  if (hop_count() == 0 || pending_) return Error(ErrorKind::kInternal, "stream on an unfinished circuit");
  TC_TRY(uint16_t id, new_stream_id());
  StreamFlow f{id};
  f.is_dir = true;
  streams_[id] = f;
  out.push_back(make_relay(RelayCommand::kBeginDir, id, {}, false));
  return id;
}

Result<uint16_t> Circuit::open_resolve(std::string_view hostname, Outbox &out) {
  if (hop_count() == 0 || pending_) return Error(ErrorKind::kInternal, "resolve on an unfinished circuit");
  TC_TRY(uint16_t id, new_stream_id());
  StreamFlow f{id};
  f.is_resolve = true;
  streams_[id] = f;
  out.push_back(make_relay(RelayCommand::kResolve, id, cell::make_resolve_body(hostname), false));
  return id;
}

const StreamFlow *Circuit::stream(uint16_t id) const {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : &it->second;
}

bool Circuit::can_send(uint16_t stream_id) const {
  auto it = streams_.find(stream_id);
  return it != streams_.end() && it->second.phase == StreamPhase::kOpen && package_window_ > 0 &&
         it->second.package_window > 0;
}

Result<size_t> Circuit::send_data(uint16_t stream_id, ByteSpan data, Outbox &out) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end() || it->second.phase != StreamPhase::kOpen)
    return Error(ErrorKind::kClosed, "stream is not open");
  if (package_window_ <= 0 || it->second.package_window <= 0)
    return Error(ErrorKind::kExhausted, "flow-control window closed");
  size_t n = std::min(data.size(), cell::kRelayBodyMax);
  std::array<uint8_t, 20> digest;
  out.push_back(make_relay(RelayCommand::kData, stream_id, data.first(n), false, &digest));
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
  s.consumed_since_sendme += cells;
  while (s.consumed_since_sendme >= kStreamWindowIncrement) {
    s.consumed_since_sendme -= kStreamWindowIncrement;
    s.deliver_window += kStreamWindowIncrement;
    out.push_back(make_relay(RelayCommand::kSendme, stream_id, {}, false));
  }
}

void Circuit::close_stream(uint16_t stream_id, uint8_t reason, Outbox &out) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;
  Bytes body = cell::make_end_body(reason);
  out.push_back(make_relay(RelayCommand::kEnd, stream_id, body, false));
  streams_.erase(it);
}

}  // namespace tc::proto
