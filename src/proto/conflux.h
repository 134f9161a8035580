// Conflux (proposal 329): the receiving side of a set of circuits ("legs")
// linked at one exit, as a state machine with no I/O. The exit may send any
// multiplexed relay message on any leg; every leg counts the multiplexed
// messages it carries, a CONFLUX_SWITCH moves a leg's count forward to the
// set's, and messages reach the streams in that absolute order (§2.8).
//
// We send everything on the first leg (the set's "primary"), so our own
// sequence numbers never need a SWITCH; the exit's scheduler (the UX we ask
// for in LINK) spreads what it sends over all legs.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <memory>
#include <vector>

#include "cell/relay.h"
#include "util/bytes.h"
#include "util/error.h"

namespace tc::proto {

// Prop 329 §2.8: the relay commands that count towards sequence numbers and
// must reach the streams in order (C tor's conflux_should_multiplex).
bool conflux_multiplexed(cell::RelayCommand cmd);

// A multiplexed message held until the ones before it arrive.
struct ConfluxMessage {
  cell::RelayCommand command{};
  uint16_t stream_id = 0;
  Bytes body;
};

class ConfluxSet {
 public:
  // max_queued: how far past the next expected sequence number a held
  // message may be (so also how many can be held) before the set is
  // declared broken: a bound on the memory an exit can make us hold.
  explicit ConfluxSet(size_t max_queued = 16384) : max_queued_(max_queued) {}
  size_t add_leg() {
    legs_.push_back(Leg{});
    return legs_.size() - 1;
  }
  size_t leg_count() const { return legs_.size(); }
  // A multiplexed message arrived on `leg`: its absolute sequence number.
  // Errors when it is at or below what was already delivered (a broken or
  // replaying peer).
  Result<uint64_t> receive(size_t leg);
  // True if `seq` is the next to deliver; delivering it is then the
  // caller's job, and the set counts it delivered.
  bool take_if_next(uint64_t seq);
  // Holds a message that came early (a copy of `body`, at most one relay
  // body). Errors when it is too far ahead or came twice.
  Status hold(uint64_t seq, cell::RelayCommand command, uint16_t stream_id, ByteSpan body);
  Status hold(uint64_t seq, const ConfluxMessage &msg) { return hold(seq, msg.command, msg.stream_id, msg.body); }
  // The next held message, if it is now in order.
  std::optional<ConfluxMessage> pop_ready();
  // Without copies: calls f(command, stream_id, body) for each held message
  // now in order, in order, while f returns true; `body` is valid during
  // the call only. Returns how many were delivered.
  template <class F>
  size_t deliver_ready(F &&f) {
    size_t n = 0;
    delivering_ = true;
    while (held_count_ > 0) {
      uint32_t &ix = index_of(last_delivered_ + 1);
      if (ix == 0) break;
      const uint32_t slot = ix - 1;
      ix = 0;
      --held_count_;
      ++last_delivered_;
      ++n;
      Slot &sl = slot_at(slot);
      bool more = f(sl.command, sl.stream_id, ByteSpan(sl.body.data(), sl.len));
      free_.push_back(slot);
      if (!more) break;
    }
    delivering_ = false;
    if (release_pending_) {
      release_pending_ = false;
      (void)release_if_empty();
    }
    release_if_idle();
    return n;
  }
  // CONFLUX_SWITCH on `leg`: the sender skipped `relative_seq` numbers on
  // it (they were sent on other legs). The SWITCH itself is not counted.
  Status on_switch(size_t leg, uint32_t relative_seq);

  uint64_t delivered() const { return last_delivered_; }
  size_t held() const { return held_count_; }
  size_t max_held() const { return max_held_seen_; }
  size_t ring_slots() const { return ring_size_; }
  // Gives the reorder ring back to the heap if nothing is held: for a set
  // whose streams are all gone (an idle set would otherwise keep a ring of
  // up to max_queued_ + 1 slots of ~0.5 KB each until it closes).
  // Returns the bytes given back. (Called while deliver_ready runs, from
  // the receiver, the release waits until it returns.)
  size_t release_if_empty() {
    if (held_count_ != 0) return 0;
    size_t bytes = ring_size_ * sizeof(uint32_t) + blocks_.size() * kSlotsPerBlock * sizeof(Slot);
    if (delivering_) {
      release_pending_ = true;
      return bytes;
    }
    index_.reset();
    ring_size_ = 0;
    blocks_.clear();
    free_.clear();
    idle_deliveries_ = 0;
    return bytes;
  }
  // Slots of body storage allocated now (each one relay body).
  size_t slots_allocated() const { return blocks_.size() * kSlotsPerBlock; }
  uint64_t leg_received(size_t leg) const { return leg < legs_.size() ? legs_[leg].received : 0; }
  uint64_t leg_switches(size_t leg) const { return leg < legs_.size() ? legs_[leg].switches : 0; }

 private:
  struct Leg {
    uint64_t last_seq_recv = 0;
    uint64_t received = 0;  // multiplexed messages that came on this leg
    uint64_t switches = 0;
  };
  // Held messages: a ring of slot numbers indexed by sequence number (4
  // bytes per number of reordering depth), and the bodies in slots taken
  // from blocks of 64 and reused through a free list: no allocation per
  // message (half of all cells wait here when two legs interleave), and
  // memory follows how many are held, not how far apart. The ring grows to
  // the deepest reordering seen, up to max_queued_ + 1; one past its first
  // size is given back with the slots once the set has stayed empty for a
  // while (legs that interleave refill it again and again: freeing it at
  // each empty moment cost a regrowth per burst), and all of it when the
  // set's streams are gone (release_if_empty).
  struct Slot {
    cell::RelayCommand command{};
    uint16_t stream_id = 0;
    uint16_t len = 0;
    std::array<uint8_t, cell::kRelayBodyMax> body;  // not zeroed: only len bytes are read
  };
  static constexpr size_t kSlotsPerBlock = 64;
  uint32_t &index_of(uint64_t seq) { return index_[seq % ring_size_]; }
  Slot &slot_at(uint32_t n) { return blocks_[n / kSlotsPerBlock][n % kSlotsPerBlock]; }
  uint32_t take_slot();
  void grow(size_t need);
  void release_if_idle();

  std::vector<Leg> legs_;
  uint64_t last_delivered_ = 0;
  std::unique_ptr<uint32_t[]> index_;  // 0: not held; else 1 + slot number
  size_t ring_size_ = 0;
  std::vector<std::unique_ptr<Slot[]>> blocks_;
  std::vector<uint32_t> free_;
  bool delivering_ = false;
  bool release_pending_ = false;
  size_t idle_deliveries_ = 0;  // in-order deliveries since the ring was last used
  size_t held_count_ = 0;
  size_t max_queued_;
  size_t max_held_seen_ = 0;
};

}  // namespace tc::proto
