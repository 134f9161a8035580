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
#include <map>
#include <optional>
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
  // max_queued: the most out-of-order messages held before the set is
  // declared broken (a bound on memory an exit can make us hold).
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
  // Holds a message that came early. Errors when the queue is full.
  Status hold(uint64_t seq, ConfluxMessage msg);
  // The next held message, if it is now in order.
  std::optional<ConfluxMessage> pop_ready();
  // CONFLUX_SWITCH on `leg`: the sender skipped `relative_seq` numbers on
  // it (they were sent on other legs). The SWITCH itself is not counted.
  Status on_switch(size_t leg, uint32_t relative_seq);

  uint64_t delivered() const { return last_delivered_; }
  size_t held() const { return held_.size(); }
  size_t max_held() const { return max_held_seen_; }
  uint64_t leg_received(size_t leg) const { return leg < legs_.size() ? legs_[leg].received : 0; }
  uint64_t leg_switches(size_t leg) const { return leg < legs_.size() ? legs_[leg].switches : 0; }

 private:
  struct Leg {
    uint64_t last_seq_recv = 0;
    uint64_t received = 0;  // multiplexed messages that came on this leg
    uint64_t switches = 0;
  };
  std::vector<Leg> legs_;
  uint64_t last_delivered_ = 0;
  std::map<uint64_t, ConfluxMessage> held_;
  size_t max_queued_;
  size_t max_held_seen_ = 0;
};

}  // namespace tc::proto
