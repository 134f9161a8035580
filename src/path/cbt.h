// Learning when to give up on a circuit build (path-spec §2.4, tor's
// "CircuitBuildTimeout"): a Pareto distribution fitted to the build times of
// recent three-hop circuits gives the timeout. No I/O: the runtime records
// build times and outcomes, and persists serialize() in its state directory
// so that a restart starts with what it learnt (as tor keeps its
// CircuitBuildTimeBin lines in its state file).
//
// Where we differ from tor: tor lets a circuit that passes the timeout go on
// building as a "measurement circuit" until the close quantile (at least
// 60 s) and only stops waiting for it; we abandon it, so the timeout is
// clamped to [kFloor, kCeiling] (the floor far above loopback or typical
// build times, so a loaded machine does not abandon good circuits). And it
// is used from the first recorded build time on instead of after tor's
// cbtmincircs (100): with few samples the estimate is the largest build
// time seen (the §2.4.3 cap), it bounds each hop although it measured a
// whole three-hop circuit, and never goes below the floor, so even one
// sample is a safe bound, and far better than the ceiling when a relay in
// the path is dead.
#pragma once
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tc::path {

class CircuitBuildTimes {
 public:
  using ms = std::chrono::milliseconds;
  static constexpr size_t kMaxSamples = 1000;  // tor's CBT_NCIRCUITS_TO_OBSERVE
  static constexpr size_t kMinSamples = 1;
  static constexpr double kQuantile = 0.8;     // cbtquantile 80
  static constexpr int kBinWidthMs = 10;       // §2.4.3: 10 ms bins
  static constexpr size_t kNumModes = 10;      // cbtnummodes
  static constexpr size_t kRecentCount = 20;   // cbtrecentcount
  static constexpr ms kFloor{2000};
  static constexpr ms kCeiling{15000};         // also the timeout before enough samples

  // A three-hop circuit completed after `t`.
  void add(ms t);
  // A build gave up at the timeout (for §2.4.5: if more than 90% of the
  // last kRecentCount builds timed out, the network changed: the history
  // is discarded and the timeout is kCeiling again).
  void add_timeout();
  size_t size() const { return samples_.size(); }

  // §2.4.3: Xm (the weighted average of the kNumModes most frequent bins'
  // midpoints) and alpha of the Pareto fit; nullopt before kMinSamples.
  struct Fit {
    double xm_ms;
    double alpha;
  };
  std::optional<Fit> fit() const;
  // F(kQuantile) capped at the largest build time observed (§2.4.3), then
  // clamped to [kFloor, kCeiling]; kCeiling before kMinSamples.
  ms timeout() const;
  // The same, unclamped (for logs and tests); nullopt before kMinSamples.
  std::optional<ms> estimate() const;

  // "circuit-build-times <ms> <ms> ...\n" (newest last).
  std::string serialize() const;
  // Lenient: unusable numbers are skipped and reported in `problems`.
  static CircuitBuildTimes parse(std::string_view text, std::vector<std::string> *problems = nullptr);

 private:
  std::deque<uint32_t> samples_;  // ms, oldest first
  std::deque<bool> recent_;       // true = timed out, newest last
};

}  // namespace tc::path
