#include "proto/congestion.h"

#include <algorithm>
#include <string>

namespace tc::proto {

namespace {
constexpr uint64_t kRelayPayloadSize = 498;
// C tor's n_count_ewma: N-EWMA with weight 2/(N+1) on the new value.
uint64_t n_count_ewma(uint64_t curr, uint64_t prev, uint64_t n) {
  if (prev == 0) return curr;
  return (2 * curr + (n - 1) * prev) / (n + 1);
}
uint64_t percent_max_mix(uint64_t a, uint64_t b, uint64_t pct_max) {
  uint64_t mx = std::max(a, b), mn = std::min(a, b);
  return pct_max * mx / 100 + (100 - pct_max) * mn / 100;
}
// In slow start a cwnd can only be full when SENDMEs keep arriving; one
// stalled/jumped clock sample more than this ratio off is ignored.
constexpr uint64_t kDeltaDiscrepancyRatioMax = 5000;
// C tor: more than this many cells queued means the reader is not keeping up.
constexpr uint64_t kMaxExpectedCellBurst = 32;
}  // namespace

CcParams CcParams::from_consensus(const Lookup &param) {
  CcParams p;
  p.cc_alg = param("cc_alg", 0, 0, 3);
  p.sendme_inc = static_cast<uint8_t>(param("cc_sendme_inc", 31, 1, 255));
  p.cwnd_init = param("cc_cwnd_init", 4 * 31, 31, 10000);
  p.cwnd_min = param("cc_cwnd_min", 2 * 31, 31, 1000);
  p.cwnd_max = param("cc_cwnd_max", INT32_MAX, 500, INT32_MAX);
  p.cwnd_inc = param("cc_cwnd_inc", 31, 1, 1000);
  p.cwnd_inc_pct_ss = param("cc_cwnd_inc_pct_ss", 100, 1, 500);
  p.cwnd_inc_rate = param("cc_cwnd_inc_rate", 1, 1, 250);
  p.ewma_cwnd_pct = param("cc_ewma_cwnd_pct", 50, 1, 255);
  p.ewma_max = param("cc_ewma_max", 10, 2, INT32_MAX);
  p.ewma_ss = param("cc_ewma_ss", 2, 2, INT32_MAX);
  p.rtt_reset_pct = param("cc_rtt_reset_pct", 100, 0, 100);
  p.vegas_alpha = param("cc_vegas_alpha_exit", 124, 0, 1000);
  p.vegas_beta = param("cc_vegas_beta_exit", 248, 0, 1000);
  p.vegas_gamma = param("cc_vegas_gamma_exit", 186, 0, 1000);
  p.vegas_delta = param("cc_vegas_delta_exit", 372, 0, INT32_MAX);
  p.ss_cwnd_cap = param("cc_sscap_exit", 500, 100, INT32_MAX);
  p.ss_cwnd_max = param("cc_ss_max", 5000, 500, INT32_MAX);
  p.cwnd_full_gap = param("cc_cwnd_full_gap", 1, 0, INT16_MAX);
  p.cwnd_full_minpct = param("cc_cwnd_full_minpct", 75, 0, 100);
  p.cwnd_full_per_cwnd = param("cc_cwnd_full_per_cwnd", 1, 0, 1) != 0;
  p.xoff_client_bytes = uint64_t(param("cc_xoff_client", 500, 1, 10000)) * kRelayPayloadSize;
  p.xon_rate_bytes = uint64_t(param("cc_xon_rate", 500, 1, 5000)) * kRelayPayloadSize;
  p.xon_change_pct = param("cc_xon_change_pct", 25, 1, 99);
  p.xon_ewma_cnt = param("cc_xon_ewma_cnt", 2, 2, 100);
  return p;
}

bool sendme_inc_acceptable(uint8_t negotiated, uint8_t consensus) {
  return negotiated != 0 && negotiated <= 2 * consensus && negotiated >= consensus / 2;
}

// ------------------------------------------------------------------ Vegas

Vegas::Vegas(const CcParams &p, uint8_t sendme_inc)
    : p_(p), sendme_inc_(sendme_inc ? sendme_inc : 1), cwnd_(p.cwnd_init), next_cc_event_(1) {
  // In slow start the congestion window is updated on every SENDME.
  next_cc_event_ = update_rate();
}

uint64_t Vegas::update_rate() const {
  if (in_slow_start_) return 1;
  uint64_t per = p_.cwnd_inc_rate * sendme_inc_;
  return (cwnd_ + per / 2) / per;
}

uint64_t Vegas::sendmes_per_cwnd() const { return (cwnd_ + sendme_inc_ / 2) / sendme_inc_; }

uint64_t Vegas::ewma_count() const {
  uint64_t n = in_slow_start_ ? p_.ewma_ss : std::min(update_rate() * p_.ewma_cwnd_pct / 100, p_.ewma_max);
  return std::max<uint64_t>(n, 2);
}

uint64_t Vegas::ss_inc() const {
  if (cwnd_ <= p_.ss_cwnd_cap) return (p_.cwnd_inc_pct_ss * sendme_inc_ + 50) / 100;
  // RFC 3742: cwnd += MSS * max_ssthresh / (2 * cwnd), at least 1.
  return std::max<uint64_t>((uint64_t{sendme_inc_} * p_.ss_cwnd_cap + cwnd_) / (2 * cwnd_), 1);
}

bool Vegas::note_cell_sent(uint64_t now_usec) {
  // C tor's circuit_sent_cell_for_sendme: the peer sends a SENDME after
  // every sendme_inc-th cell it receives, counted over cells not yet acked.
  bool acked_by_sendme = inflight_ != 0 && (inflight_ + 1) % sendme_inc_ == 0;
  if (sendme_inc_ == 1) acked_by_sendme = true;
  ++inflight_;
  if (acked_by_sendme) pending_.push_back(now_usec);
  return acked_by_sendme;
}

bool Vegas::clock_stalled_or_jumped(uint64_t old_delta, uint64_t new_delta) {
  if (new_delta == 0) {
    clock_broken_ = true;
    return true;
  }
  // Heuristics need a baseline: out of slow start with an RTT average.
  if (in_slow_start_ || ewma_rtt_usec_ == 0) return false;
  if (old_delta > new_delta * kDeltaDiscrepancyRatioMax) return clock_broken_;
  if (new_delta > old_delta * kDeltaDiscrepancyRatioMax) return true;
  clock_broken_ = false;
  return false;
}

uint64_t Vegas::update_rtt(uint64_t now_usec) {
  uint64_t sent = pending_.front();
  pending_.pop_front();
  uint64_t rtt = now_usec > sent ? now_usec - sent : 0;
  if (clock_stalled_or_jumped(ewma_rtt_usec_, rtt)) return 0;
  ewma_rtt_usec_ = n_count_ewma(rtt, ewma_rtt_usec_, ewma_count());
  max_rtt_usec_ = std::max(max_rtt_usec_, rtt);
  if (min_rtt_usec_ == 0) {
    min_rtt_usec_ = ewma_rtt_usec_;
  } else if (cwnd_ == p_.cwnd_min && !in_slow_start_) {
    // Stuck at the minimum window: the minimum RTT was probably too low.
    min_rtt_usec_ = percent_max_mix(ewma_rtt_usec_, min_rtt_usec_, p_.rtt_reset_pct);
  } else if (ewma_rtt_usec_ < min_rtt_usec_) {
    min_rtt_usec_ = ewma_rtt_usec_;
  }
  return rtt;
}

Status Vegas::on_sendme(uint64_t now_usec) {
  if (pending_.empty() || inflight_ < sendme_inc_)
    return Error(ErrorKind::kProtocol, "circuit SENDME without " + std::to_string(sendme_inc_) +
                                           " cells in flight to acknowledge (prop 324)");
  if (next_cc_event_) --next_cc_event_;
  if (next_cwnd_event_) --next_cwnd_event_;

  // RTT, then BDP (congestion_control_update_circuit_estimates). We never
  // report a blocked channel: our channel queue is not bounded per circuit.
  uint64_t rtt = update_rtt(now_usec);
  if (ewma_rtt_usec_ == 0) {
    bdp_ = cwnd_;  // no RTT measured at all yet (clock stalled)
  } else {
    bdp_ = cwnd_ * min_rtt_usec_ / ewma_rtt_usec_;
  }
  if (rtt == 0) {
    inflight_ -= sendme_inc_;
    return Status{};
  }

  uint64_t queue_use = bdp_ > cwnd_ ? 0 : cwnd_ - bdp_;
  if (inflight_ + p_.cwnd_full_gap * sendme_inc_ >= cwnd_)
    cwnd_full_ = true;
  else if (100 * inflight_ < p_.cwnd_full_minpct * cwnd_)
    cwnd_full_ = false;

  if (in_slow_start_) {
    if (queue_use < p_.vegas_gamma) {
      // Grow only while the window is really in use.
      if (cwnd_full_) {
        uint64_t inc = ss_inc();
        cwnd_ += inc;
        if (inc * sendmes_per_cwnd() <= p_.cwnd_inc * p_.cwnd_inc_rate) exit_slow_start();
      }
    } else {
      // Congestion signal: queue use reached gamma.
      cwnd_ = bdp_ + p_.vegas_gamma;
      exit_slow_start();
    }
    if (cwnd_ >= p_.ss_cwnd_max) {
      cwnd_ = p_.ss_cwnd_max;
      exit_slow_start();
    }
  } else if (next_cc_event_ == 0) {
    // Steady state: once per window.
    if (queue_use > p_.vegas_delta) {
      cwnd_ = bdp_ + p_.vegas_delta - p_.cwnd_inc;
    } else if (queue_use > p_.vegas_beta) {
      cwnd_ -= p_.cwnd_inc;
    } else if (cwnd_full_ && queue_use < p_.vegas_alpha) {
      cwnd_ += p_.cwnd_inc;
    }
    cwnd_ = std::max(cwnd_, p_.cwnd_min);
  }

  if (next_cwnd_event_ == 0) next_cwnd_event_ = sendmes_per_cwnd();
  if (next_cc_event_ == 0) next_cc_event_ = update_rate();
  if (p_.cwnd_full_per_cwnd ? next_cwnd_event_ == sendmes_per_cwnd() : next_cc_event_ == update_rate())
    cwnd_full_ = false;
  cwnd_ = std::min(cwnd_, p_.cwnd_max);
  inflight_ -= sendme_inc_;
  return Status{};
}

// ---------------------------------------------------------- StreamXonXoff

StreamXonXoff::Send StreamXonXoff::on_data_buffered(uint64_t buffered, LazyUsec now) {
  Send out = Send::kNothing;
  if (buffered > p_.xoff_client_bytes && !xoff_sent_) {
    xoff_sent_ = true;
    // The drain rate is wrong if the buffer got this far.
    ewma_drain_rate_ = 0;
    out = Send::kXoff;
  }
  // A queue above the usual burst means the reader is not draining: start
  // (or continue) measuring its drain rate, maybe with an advisory XON.
  // Right after an XOFF this cannot decide an XON (the buffer is not empty).
  if (buffered > kMaxExpectedCellBurst * kRelayPayloadSize) {
    Send x = decide_xon(0, buffered, now);
    if (out == Send::kNothing) out = x;
  }
  return out;
}

StreamXonXoff::Send StreamXonXoff::on_drained(uint64_t drained, uint64_t buffered, uint64_t now_usec) {
  return decide_xon(drained, buffered, now_usec);
}

bool StreamXonXoff::rate_changed() const {
  if (!rate_last_sent_) return false;
  uint64_t r = ewma_drain_rate_, last = rate_last_sent_;
  return r > (100 + p_.xon_change_pct) * last / 100 || r < (100 - p_.xon_change_pct) * last / 100;
}

// `now` is read only when a drain rate is started or measured: on the data
// path (on_data_buffered with a queue above a burst) that is rare, and a
// clock read per cell cost 1.2% of the client's CPU on loopback downloads.
StreamXonXoff::Send StreamXonXoff::decide_xon(uint64_t drained, uint64_t buffered, LazyUsec now) {
  if (drained_bytes_ >= UINT32_MAX - drained) {
    drained_bytes_ /= 2;
    if (drain_start_usec_) {
      const uint64_t now_usec = now.get();
      drain_start_usec_ = now_usec - (now_usec - drain_start_usec_) / 2;
    }
  }
  drained_bytes_ += drained;
  if (!drain_start_usec_ && buffered > 0 && drained > 0) {
    // Measure the reader's drain rate from its first read with data still
    // queued. C tor starts the clock as soon as data queues, so a reader
    // that pauses and then reads fast gets a tiny rate, which the exit then
    // enforces on the stream after our XON; we time only actual reading.
    const uint64_t now_usec = now.get();
    drain_start_usec_ = now_usec ? now_usec : 1;
    drained_bytes_ = 0;
  }
  if (drain_start_usec_ && drained_bytes_ > p_.xon_rate_bytes) {
    if (prev_drained_bytes_ == 0) prev_drained_bytes_ = drained_bytes_;
    const uint64_t now_usec = now.get();
    uint64_t delta = now_usec > drain_start_usec_ ? now_usec - drain_start_usec_ : 0;
    uint32_t rate = 0;
    if (delta > 0) {
      // bytes/usec * 1e6 / 1000 = kilobytes per second
      uint64_t r = prev_drained_bytes_ * 1000 / delta;
      rate = static_cast<uint32_t>(std::clamp<uint64_t>(r, 1, INT32_MAX));
    }
    prev_drained_bytes_ = drained_bytes_;
    if (rate) {
      ewma_drain_rate_ = static_cast<uint32_t>(n_count_ewma(rate, ewma_drain_rate_, p_.xon_ewma_cnt));
      drained_bytes_ = 0;
      drain_start_usec_ = 0;
    }
  }

  Send out = Send::kNothing;
  if (!xoff_sent_) {
    if (rate_changed()) out = sent_xon();
  } else if (buffered == 0) {
    out = sent_xon();
  }

  if (buffered == 0) {
    drain_start_usec_ = 0;
    // Empty for xon_rate_bytes: whatever rate we advertised was too low.
    if (drained_bytes_ >= p_.xon_rate_bytes && rate_last_sent_) {
      ewma_drain_rate_ = static_cast<uint32_t>(std::min<uint64_t>(INT32_MAX, 2 * uint64_t{ewma_drain_rate_}));
      prev_drained_bytes_ = drained_bytes_;
      drained_bytes_ = 0;
    }
  }
  return out;
}

}  // namespace tc::proto
