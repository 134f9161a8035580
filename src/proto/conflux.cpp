#include "proto/conflux.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace tc::proto {

namespace {
constexpr size_t kFirstRingSlots = 64;  // ~33 KB: the usual reordering depth of two legs
}  // namespace

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

Status ConfluxSet::hold(uint64_t seq, RelayCommand command, uint16_t stream_id, ByteSpan body) {
  if (seq <= last_delivered_)
    return Error(ErrorKind::kProtocol, "conflux: sequence number " + std::to_string(seq) + " was already delivered");
  // Distance past the next expected number: also the most that can be held.
  uint64_t ahead = seq - last_delivered_ - 1;
  if (ahead > max_queued_)
    return Error(ErrorKind::kExhausted, "conflux: sequence number " + std::to_string(seq) + " is " +
                                            std::to_string(ahead) + " past " + std::to_string(last_delivered_ + 1) +
                                            ", the next expected (at most " + std::to_string(max_queued_) +
                                            " held; " + std::to_string(held_count_) + " are)");
  if (body.size() > cell::kRelayBodyMax) return Error(ErrorKind::kProtocol, "conflux: relay body too long");
  if (ahead >= ring_size_) grow(static_cast<size_t>(ahead) + 1);
  idle_deliveries_ = 0;
  uint32_t &ix = index_of(seq);
  if (ix != 0)
    return Error(ErrorKind::kProtocol, "conflux: sequence number " + std::to_string(seq) + " arrived twice");
  const uint32_t slot = take_slot();
  ix = slot + 1;
  Slot &sl = slot_at(slot);
  sl.command = command;
  sl.stream_id = stream_id;
  sl.len = static_cast<uint16_t>(body.size());
  std::memcpy(sl.body.data(), body.data(), body.size());
  ++held_count_;
  max_held_seen_ = std::max(max_held_seen_, held_count_);
  return Status{};
}

uint32_t ConfluxSet::take_slot() {
  if (free_.empty()) {
    // A new block; its slots go on the free list, lowest number last.
    const auto first = static_cast<uint32_t>(blocks_.size() * kSlotsPerBlock);
    blocks_.push_back(std::unique_ptr<Slot[]>(new Slot[kSlotsPerBlock]));  // default-initialised: bodies untouched
    for (uint32_t i = kSlotsPerBlock; i-- > 0;) free_.push_back(first + i);
  }
  uint32_t slot = free_.back();
  free_.pop_back();
  return slot;
}

void ConfluxSet::grow(size_t need) {
  // Held numbers are placed by seq % size: a bigger ring re-places them
  // (slot numbers only; the bodies stay where they are).
  size_t cap = std::max<size_t>(ring_size_ * 2, kFirstRingSlots);
  while (cap < need) cap *= 2;
  cap = std::min(cap, max_queued_ + 1);
  std::unique_ptr<uint32_t[]> bigger(new uint32_t[cap]());
  for (uint64_t seq = last_delivered_ + 1, seen = 0; seen < held_count_; ++seq) {
    uint32_t ix = index_of(seq);
    if (ix == 0) continue;
    bigger[seq % cap] = ix;
    ++seen;
  }
  index_ = std::move(bigger);
  ring_size_ = cap;
}

void ConfluxSet::release_if_idle() {
  // A grown ring, and the slots, go back to the heap once the set has
  // stayed empty for four times the ring's size of in-order messages
  // (about 2 MB of data per 1024 numbers): the legs have stopped
  // interleaving.
  if (held_count_ != 0 || ring_size_ <= kFirstRingSlots) return;
  if (++idle_deliveries_ < 4 * ring_size_) return;
  (void)release_if_empty();
}

std::optional<ConfluxMessage> ConfluxSet::pop_ready() {
  std::optional<ConfluxMessage> m;
  deliver_ready([&](RelayCommand c, uint16_t id, ByteSpan body) {
    m = ConfluxMessage{c, id, Bytes(body.begin(), body.end())};
    return false;  // one at a time
  });
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
