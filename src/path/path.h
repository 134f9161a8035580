// Path selection (path-spec §2.2): choosing the relays of a circuit from a
// consensus and its microdescriptors, weighted by bandwidth and the
// consensus "bandwidth-weights" for each position. Deterministic given the
// random source, so it can be tested. Guard state (guard-spec) lives
// elsewhere; this only offers weighted guard candidates.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "netdoc/consensus.h"
#include "netdoc/microdesc.h"
#include "util/error.h"

namespace tc::path {

// Returns a uniform integer in [0, bound); bound > 0.
using RandomSource = std::function<uint64_t(uint64_t bound)>;
// Cryptographically strong (OpenSSL).
RandomSource system_random();

enum class Position : uint8_t { kGuard = 0, kMiddle = 1, kExit = 2 };

struct PathOptions {
  // Test networks run every relay on 127.0.0.1 (and often in one family):
  // skip the family and same-/16 rules. A relay still never appears twice.
  bool test_network = false;
  // EnforceDistinctSubnets: no two relays in one /16 (IPv4) or /32 (IPv6).
  bool enforce_distinct_subnets = true;
  // General-purpose circuits need capacity: Fast relays (tor's
  // CRN_NEED_CAPACITY; path-spec §2.2 "fast" circuits) for the middle and
  // exit, falling back to any relay when no Fast one fits, as tor does.
  bool require_fast = true;
};

// A relay we can build circuits through: listed Running and Valid, with a
// known microdescriptor that has an ntor onion key.
struct Relay {
  const netdoc::RouterStatus *rs = nullptr;
  const netdoc::Microdesc *md = nullptr;
  std::array<uint64_t, 3> weight{};  // by Position: bandwidth x bandwidth-weight

  const netdoc::Sha1Digest &id() const { return rs->rsa_identity; }
  bool has_guard_flag() const { return rs->has_flag(netdoc::kFlagGuard); }
  // Exit for weighting and selection: Exit flag without BadExit.
  bool is_exit() const { return rs->has_flag(netdoc::kFlagExit) && !rs->has_flag(netdoc::kFlagBadExit); }
};

struct Path {
  const Relay *guard = nullptr;
  const Relay *middle = nullptr;
  const Relay *exit = nullptr;
};

class PathSelector {
 public:
  // Keeps the consensus and owns the microdescriptors; relays point into both.
  PathSelector(std::shared_ptr<const netdoc::Consensus> consensus, std::vector<netdoc::Microdesc> microdescs,
               PathOptions opts = {});
  PathSelector(const PathSelector &) = delete;
  PathSelector &operator=(const PathSelector &) = delete;

  const std::vector<Relay> &usable() const { return usable_; }
  const netdoc::Consensus &consensus() const { return *consensus_; }
  const Relay *find(const netdoc::Sha1Digest &id) const;
  // Consensus entries whose microdescriptor we have.
  size_t microdescs_matched() const { return matched_; }
  // bandwidth-weights in use for (position, class), class 0 guard-only,
  // 1 neither, 2 exit-only, 3 guard+exit; scaled by bwweightscale.
  int64_t bw_weight(Position pos, int cls) const { return w_[static_cast<size_t>(pos)][static_cast<size_t>(cls)]; }

  // Both declare each other in their family (path-spec §2.2).
  bool same_family(const Relay &a, const Relay &b) const;
  // Same IPv4 /16 or same IPv6 /32.
  bool same_subnet(const Relay &a, const Relay &b) const;
  // May a and b be in one path under the options?
  bool can_share_path(const Relay &a, const Relay &b) const;

  // A Guard-flagged relay weighted for the guard position; not in the
  // family/subnet of any relay in `path`.
  Result<const Relay *> choose_guard_candidate(const RandomSource &rng,
                                               std::span<const Relay *const> path = {}) const;
  Result<const Relay *> choose_middle(const RandomSource &rng, std::span<const Relay *const> path = {}) const;
  // An Exit (not BadExit) relay whose microdescriptor policy summary allows `port`.
  Result<const Relay *> choose_exit(uint16_t port, const RandomSource &rng,
                                    std::span<const Relay *const> path = {}) const;
  // Exit first, then guard, then middle (path-spec §2.2).
  Result<Path> choose_path(uint16_t port, const RandomSource &rng) const;

 private:
  template <typename Eligible>
  const Relay *pick(Position pos, const RandomSource &rng, Eligible &&eligible, size_t *considered) const;
  template <typename Fits>
  const Relay *pick_preferring_fast(Position pos, const RandomSource &rng, Fits &&fits, size_t *considered) const;
  bool compatible_with_path(const Relay &r, std::span<const Relay *const> path) const;

  std::shared_ptr<const netdoc::Consensus> consensus_;
  std::vector<netdoc::Microdesc> microdescs_;
  PathOptions opts_;
  std::vector<Relay> usable_;
  size_t matched_ = 0;
  std::array<std::array<int64_t, 4>, 3> w_{};
};

}  // namespace tc::path
