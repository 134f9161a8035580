#include "proto/conflux.h"

#include <string>

namespace tc::proto {

using cell::RelayCommand;

bool conflux_multiplexed(RelayCommand cmd) {
  switch (cmd) {
    // Ordered with respect to each other and to the data (prop 329 §2.8).
    case RelayCommand::kBegin:
    case RelayCommand::kData:
    case RelayCommand::kEnd:
    case RelayCommand::kConnected:
    case RelayCommand::kResolve:
    case RelayCommand::kResolved:
    case RelayCommand::kXoff:
    case RelayCommand::kXon:
      return true;
    // Everything else belongs to one circuit: SENDME, EXTEND*, TRUNCATE*,
    // DROP, BEGIN_DIR, the onion-service and padding commands, and the
    // conflux commands themselves (they set the sequence numbers).
    default:
      return false;
  }
}

Result<uint64_t> ConfluxSet::receive(size_t leg) {
  if (leg >= legs_.size()) return Error(ErrorKind::kInternal, "conflux: message on an unknown leg");
  Leg &l = legs_[leg];
  ++l.last_seq_recv;
  ++l.received;
  if (l.last_seq_recv <= last_delivered_)
    return Error(ErrorKind::kProtocol, "conflux: leg " + std::to_string(leg) + " sent sequence number " +
                                           std::to_string(l.last_seq_recv) + ", already delivered up to " +
                                           std::to_string(last_delivered_));
  return l.last_seq_recv;
}

bool ConfluxSet::take_if_next(uint64_t seq) {
  if (seq != last_delivered_ + 1) return false;
  ++last_delivered_;
  return true;
}

Status ConfluxSet::hold(uint64_t seq, ConfluxMessage msg) {
  if (held_.size() >= max_queued_)
    return Error(ErrorKind::kExhausted, "conflux: " + std::to_string(held_.size()) +
                                            " messages out of order, waiting for sequence number " +
                                            std::to_string(last_delivered_ + 1));
  if (!held_.emplace(seq, std::move(msg)).second)
    return Error(ErrorKind::kProtocol, "conflux: sequence number " + std::to_string(seq) + " arrived twice");
  max_held_seen_ = std::max(max_held_seen_, held_.size());
  return Status{};
}

std::optional<ConfluxMessage> ConfluxSet::pop_ready() {
  auto it = held_.begin();
  if (it == held_.end() || it->first != last_delivered_ + 1) return std::nullopt;
  ConfluxMessage m = std::move(it->second);
  held_.erase(it);
  ++last_delivered_;
  return m;
}

Status ConfluxSet::on_switch(size_t leg, uint32_t relative_seq) {
  if (leg >= legs_.size()) return Error(ErrorKind::kInternal, "conflux: SWITCH on an unknown leg");
  // C tor accepts any increment (its minimum is disabled while tuned); a
  // jump is bounded by 32 bits, so the sum cannot wrap.
  legs_[leg].last_seq_recv += relative_seq;
  ++legs_[leg].switches;
  return Status{};
}

}  // namespace tc::proto
