// Congestion control on the client side of a circuit (proposal 324; tor-spec
// "Congestion control" / "Flow control"), as C tor 0.4.8/0.4.9 runs it:
// TOR_VEGAS on the circuit window, and XON/XOFF stream flow control in place
// of stream SENDMEs. No I/O and no clock: every time is microseconds of a
// monotonic clock that the runtime passes in.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string_view>

#include "util/error.h"

namespace tc::proto {

// A monotonic time in microseconds, read only when something needs it: most
// cells of a download need none (only SENDMEs and flow-control decisions
// do), and a clock read per cell was ~1.5% of the client's CPU. Built from a
// fixed value (tests, callers that have the time) or from a clock function.
class LazyUsec {
 public:
  LazyUsec(uint64_t fixed = 0) : value_(fixed) {}  // NOLINT: implicit on purpose
  explicit LazyUsec(uint64_t (*clock)()) : clock_(clock) {}
  uint64_t get() {
    if (clock_) {
      value_ = clock_();
      clock_ = nullptr;
    }
    return value_;
  }

 private:
  uint64_t (*clock_)() = nullptr;
  uint64_t value_ = 0;
};

// Consensus parameters (prop 324 §6.5), with C tor's defaults and bounds
// (congestion_control_common.c, congestion_control_vegas.c,
// congestion_control_flow.c). Vegas values are those of exit circuits.
struct CcParams {
  // "cc_alg": 0 keeps the fixed SENDME windows (C tor's default when the
  // consensus says nothing); any other value asks exits for congestion
  // control. We run TOR_VEGAS (2), the algorithm the network uses.
  int cc_alg = 0;
  uint8_t sendme_inc = 31;  // "cc_sendme_inc": cells per circuit SENDME
  uint64_t cwnd_init = 124;  // 4 * sendme_inc
  uint64_t cwnd_min = 62;
  uint64_t cwnd_max = INT32_MAX;
  uint64_t cwnd_inc = 31;
  uint64_t cwnd_inc_pct_ss = 100;
  uint64_t cwnd_inc_rate = 1;
  uint64_t ewma_cwnd_pct = 50;
  uint64_t ewma_max = 10;
  uint64_t ewma_ss = 2;
  uint64_t rtt_reset_pct = 100;
  // TOR_VEGAS, exit circuits: multiples of OUTBUF_CELLS = 2 * 31.
  uint64_t vegas_alpha = 124, vegas_beta = 248, vegas_gamma = 186, vegas_delta = 372;
  uint64_t ss_cwnd_cap = 500;   // "cc_sscap_exit"
  uint64_t ss_cwnd_max = 5000;  // "cc_ss_max"
  uint64_t cwnd_full_gap = 1;
  uint64_t cwnd_full_minpct = 75;
  bool cwnd_full_per_cwnd = true;
  // Stream flow control (XON/XOFF), in bytes: cells * RELAY_PAYLOAD_SIZE (498).
  uint64_t xoff_client_bytes = 500 * 498;  // "cc_xoff_client"
  uint64_t xon_rate_bytes = 500 * 498;     // "cc_xon_rate"
  uint64_t xon_change_pct = 25;
  uint64_t xon_ewma_cnt = 2;

  bool enabled() const { return cc_alg != 0; }

  // name, default, min, max -> value (netdoc::Consensus::param has this shape).
  using Lookup = std::function<int32_t(std::string_view, int32_t, int32_t, int32_t)>;
  static CcParams from_consensus(const Lookup &param);
};

// The exit's answer to our request must be within a factor of 2 of our
// consensus cc_sendme_inc, and not 0 (C tor's
// congestion_control_validate_sendme_increment).
bool sendme_inc_acceptable(uint8_t negotiated, uint8_t consensus);

// Sender-side TOR_VEGAS (prop 324 §3.3) for the cells we package towards
// the exit. The peer acknowledges every sendme_inc-th DATA cell with a
// SENDME; the time between sending that cell and the SENDME is one RTT
// sample.
class Vegas {
 public:
  Vegas(const CcParams &p, uint8_t sendme_inc);

  uint8_t sendme_inc() const { return sendme_inc_; }
  uint64_t cwnd() const { return cwnd_; }
  uint64_t inflight() const { return inflight_; }
  bool in_slow_start() const { return in_slow_start_; }
  uint64_t min_rtt_usec() const { return min_rtt_usec_; }
  uint64_t ewma_rtt_usec() const { return ewma_rtt_usec_; }
  uint64_t max_rtt_usec() const { return max_rtt_usec_; }
  uint64_t bdp() const { return bdp_; }

  // Cells we may send now: cwnd - inflight, 0 while inflight is above cwnd.
  uint64_t package_window() const { return inflight_ >= cwnd_ ? 0 : cwnd_ - inflight_; }
  // A DATA cell is sent at now_usec. True when the peer's next SENDME will
  // acknowledge this cell: the caller keeps its digest (proposal 289).
  bool note_cell_sent(uint64_t now_usec);
  // A circuit SENDME (already authenticated) arrived at now_usec.
  Status on_sendme(uint64_t now_usec);

 private:
  uint64_t update_rtt(uint64_t now_usec);
  bool clock_stalled_or_jumped(uint64_t old_delta, uint64_t new_delta);
  uint64_t ewma_count() const;
  uint64_t update_rate() const;   // CWND_UPDATE_RATE
  uint64_t sendmes_per_cwnd() const;
  uint64_t ss_inc() const;        // RFC 3742 limited slow start
  void exit_slow_start() { in_slow_start_ = false; }

  CcParams p_;
  uint8_t sendme_inc_;
  uint64_t cwnd_;
  uint64_t inflight_ = 0;
  bool in_slow_start_ = true;
  bool cwnd_full_ = false;
  uint64_t next_cc_event_;
  uint64_t next_cwnd_event_ = 0;
  uint64_t min_rtt_usec_ = 0, ewma_rtt_usec_ = 0, max_rtt_usec_ = 0;
  uint64_t bdp_ = 0;  // BDP_ALG_CWND_RTT: cwnd * min_rtt / ewma_rtt
  bool clock_broken_ = false;
  // Send times of the cells whose SENDMEs are still due, oldest first.
  std::deque<uint64_t> pending_;
};

// Our side of a stream's XON/XOFF flow control (prop 324 §4.1; C tor's
// flow_control_decide_xoff / flow_control_decide_xon for AP connections):
// we buffer what the exit sends until our reader takes it, and ask the exit
// to stop (XOFF) once more than xoff_client_bytes wait, then to resume (XON,
// with the rate our reader drains at) once the buffer is empty.
class StreamXonXoff {
 public:
  explicit StreamXonXoff(const CcParams &p) : p_(p) {}

  enum class Send { kNothing, kXoff, kXon };
  // Data arrived; `buffered` bytes now wait for the reader.
  Send on_data_buffered(uint64_t buffered, LazyUsec now);
  // The reader took `drained` bytes; `buffered` bytes still wait.
  Send on_drained(uint64_t drained, uint64_t buffered, uint64_t now_usec);

  bool xoff_sent() const { return xoff_sent_; }
  // The rate for the XON just decided, in kilobytes per second (0: unknown,
  // the exit then does not limit the stream).
  uint32_t xon_rate_kbps() const { return rate_last_sent_; }

 private:
  Send decide_xon(uint64_t drained, uint64_t buffered, LazyUsec now);
  bool rate_changed() const;
  Send sent_xon() {
    rate_last_sent_ = ewma_drain_rate_;
    xoff_sent_ = false;
    return Send::kXon;
  }

  CcParams p_;
  bool xoff_sent_ = false;
  uint64_t drain_start_usec_ = 0;
  uint64_t drained_bytes_ = 0;
  uint64_t prev_drained_bytes_ = 0;
  uint32_t ewma_drain_rate_ = 0;
  uint32_t rate_last_sent_ = 0;
};

}  // namespace tc::proto
