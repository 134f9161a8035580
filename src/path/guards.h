// Entry guards (guard-spec §4): the persistent sample of guards, the
// confirmed list, the primary guards, reachability with the retry
// schedules, and the choice of a guard for each circuit.
//
// No I/O: the caller passes the network directory (PathSelector), the time
// and (at construction) a random source; it stores serialize() wherever it
// keeps state and calls the on_*() hooks as circuits succeed or fail.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "netdoc/consensus.h"
#include "path/path.h"
#include "util/error.h"

namespace tc::path {

// guard-spec A.1, overridable by the consensus "guard-*" parameters as tor
// does (param-spec). Durations in seconds.
struct GuardParams {
  int max_sample_threshold_percent = 20;  // MAX_SAMPLE_THRESHOLD
  size_t max_sample_size = 60;            // MAX_SAMPLE_SIZE
  size_t min_filtered_sample = 20;        // MIN_FILTERED_SAMPLE
  size_t n_primary = 3;                   // N_PRIMARY_GUARDS
  size_t n_usable_primary = 1;            // NUM_USABLE_PRIMARY_GUARDS
  size_t n_usable_primary_dir = 3;        // NUM_USABLE_PRIMARY_DIRECTORY_GUARDS
  int64_t guard_lifetime = 120 * 86400;               // GUARD_LIFETIME
  int64_t guard_confirmed_min_lifetime = 60 * 86400;  // GUARD_CONFIRMED_MIN_LIFETIME
  int64_t remove_unlisted_after = 20 * 86400;         // REMOVE_UNLISTED_GUARDS_AFTER
  int64_t internet_likely_down_interval = 600;        // INTERNET_LIKELY_DOWN_INTERVAL

  // The defaults above with any guard-* consensus parameters applied.
  static GuardParams from_consensus(const netdoc::Consensus &c, const GuardParams &defaults);
  static GuardParams from_consensus(const netdoc::Consensus &c) { return from_consensus(c, GuardParams()); }
  // max(MIN_FILTERED_SAMPLE, min(MAX_SAMPLE_SIZE, threshold% of n_guards)) (§4.1).
  size_t max_sample(size_t n_guards) const;
};

struct GuardOptions {
  GuardParams params;
  // Apply the consensus guard-* parameters on update() (tor does).
  bool use_consensus_params = true;
  // {set:GUARDS} (§4.0): the flags a relay needs to be a guard. Tor requires
  // Guard, Stable, Fast and V2Dir (plus Running and Valid).
  uint16_t required_flags = netdoc::kFlagGuard | netdoc::kFlagStable | netdoc::kFlagFast | netdoc::kFlagV2Dir;
  // The guard-state instance ("in=" in the state), §2.
  std::string instance = "default";
  // Written as sampled_by.
  std::string version = "torclient";
};

// §4.5 / A.1 PRIMARY_GUARDS_RETRY_SCHED and GUARDS_RETRY_SCHED: how long
// after the last attempt a guard that has been failing for `failing_for`
// seconds is worth trying again.
int64_t guard_retry_interval(int64_t failing_for, bool primary);

enum class Reachable : uint8_t { kMaybe, kYes, kNo };  // {is_reachable}, "maybe" = unknown
const char *reachable_name(Reachable r);               // "maybe" / "yes" / "no"

// §4.6 circuit states at creation.
enum class GuardCircuitState : uint8_t {
  kUsableOnCompletion,     // through a primary guard: use it when built
  kUsableIfNoBetterGuard,  // a non-primary guard: a primary may still be up
};

enum class GuardUsage : uint8_t {
  kCircuit,    // general circuits: NUM_USABLE_PRIMARY_GUARDS
  kDirectory,  // one-hop directory circuits: NUM_USABLE_PRIMARY_DIRECTORY_GUARDS
};

struct GuardChoice {
  const Relay *relay = nullptr;  // points into the PathSelector passed to select()
  netdoc::Sha1Digest id{};
  bool primary = false;
  GuardCircuitState state = GuardCircuitState::kUsableOnCompletion;
};

// One sampled guard, for the status command; GuardManager::status() lists
// primaries (in order), then other confirmed guards, then the rest of the
// sample in sample order.
struct GuardStatus {
  std::string nickname;
  std::string fingerprint;  // 40 upper-case hex digits
  bool primary = false;
  bool confirmed = false;
  bool listed = true;  // a usable Guard in the latest consensus
  bool pending = false;
  Reachable reachable = Reachable::kMaybe;
  int64_t sampled_on = 0;
  std::optional<int64_t> confirmed_on;
  std::optional<int64_t> unlisted_since;
  std::optional<int64_t> failing_since;
  // "primary", "confirmed" or "sampled".
  const char *role() const { return primary ? "primary" : confirmed ? "confirmed" : "sampled"; }
};

class GuardManager {
 public:
  explicit GuardManager(RandomSource rng, GuardOptions opts = {});

  // §4.10 on each new consensus: updates {IS_LISTED}/{FIRST_UNLISTED_AT},
  // drops long-unlisted and expired guards, fills the sample up to
  // MIN_FILTERED_SAMPLE (weighted for the guard position) and recomputes the
  // primary guards. Listing, removal and sampling need a reasonably live
  // consensus (as in tor); otherwise only the primaries are recomputed.
  void update(const PathSelector &netdir, int64_t now);

  // §4.6: a guard for a new circuit, skipping guards without a usable
  // microdescriptor in `netdir` and guards that may not share a path with
  // any relay in `exclude` (e.g. the chosen exit). Sets last_tried (and
  // is_pending for non-primary guards). kNotFound if no guard fits.
  Result<GuardChoice> select(const PathSelector &netdir, int64_t now,
                             std::span<const Relay *const> exclude = {}, GuardUsage usage = GuardUsage::kCircuit);

  // §4.8: a circuit through `id` was built: reachable, confirmed (appended
  // to CONFIRMED_GUARDS if new). A success through a non-primary guard after
  // INTERNET_LIKELY_DOWN_INTERVAL offline marks the primaries "maybe" again.
  // False if `id` is not (any more) a sampled guard.
  bool on_success(const netdoc::Sha1Digest &id, int64_t now);
  // §4.7: building through `id` failed in a way that blames the guard.
  bool on_failure(const netdoc::Sha1Digest &id, int64_t now);
  // The attempt was abandoned without blaming the guard: clears is_pending.
  bool on_cancel(const netdoc::Sha1Digest &id);

  // The state file: one "Guard k=v ..." line per sampled guard in sample
  // order (guard-spec A.5 format; dates as 2016-11-29T19:39:31). Unknown
  // k=v fields from a parsed file are kept.
  std::string serialize() const;
  // Tolerant: blank and '#' lines are skipped, unknown fields kept, and a
  // bad line (missing or malformed rsa_id / sampled_on / listed, duplicate
  // guard, unknown keyword) is skipped with a "line N: ..." message in
  // `problems`. Guards of other instances are skipped silently. Primary
  // guards are recomputed (confirmed first, then sample order).
  static Result<GuardManager> parse(std::string_view text, RandomSource rng, GuardOptions opts = {},
                                    std::vector<std::string> *problems = nullptr);

  std::vector<GuardStatus> status() const;
  std::vector<netdoc::Sha1Digest> sampled() const;  // sample order
  // Copies: select() and on_success() recompute the lists.
  std::vector<netdoc::Sha1Digest> confirmed() const { return confirmed_; }
  std::vector<netdoc::Sha1Digest> primary() const { return primary_; }
  size_t size() const { return sampled_.size(); }
  const GuardParams &params() const { return params_; }
  // True once after the persistent state changed (sample, listing,
  // confirmation): time to save serialize().
  bool take_dirty() {
    bool d = dirty_;
    dirty_ = false;
    return d;
  }

 private:
  struct Guard {
    netdoc::Sha1Digest id{};
    std::string nickname;
    int64_t added_on = 0;  // {ADDED_ON_DATE}, randomised into the past
    std::string added_by;
    bool listed = true;
    std::optional<int64_t> unlisted_since;
    std::optional<int64_t> confirmed_on;
    std::vector<std::string> extra;  // unrecognised k=v, kept (A.5)
    // Not persistent.
    Reachable reachable = Reachable::kMaybe;
    std::optional<int64_t> failing_since;
    std::optional<int64_t> last_tried;
    bool pending = false;
  };

  Guard *find(const netdoc::Sha1Digest &id);
  const Guard *find(const netdoc::Sha1Digest &id) const;
  bool is_primary(const netdoc::Sha1Digest &id) const;
  bool is_confirmed(const netdoc::Sha1Digest &id) const;
  bool is_possible_guard(const netdoc::RouterStatus *rs) const;
  int64_t randomize_past(int64_t now, int64_t max_interval);
  size_t count_usable_filtered() const;
  void expand_sample(const PathSelector &netdir, int64_t now);
  void remove_guard(size_t index);
  void consider_retry(Guard &g, int64_t now) const;
  void update_primaries();
  void mark_all_maybe();
  Result<GuardChoice> select_once(const PathSelector &netdir, int64_t now, std::span<const Relay *const> exclude,
                                  GuardUsage usage);

  RandomSource rng_;
  GuardOptions opts_;
  GuardParams params_;
  std::vector<Guard> sampled_;  // {SAMPLED_GUARDS} in sample order
  std::vector<netdoc::Sha1Digest> confirmed_;  // {CONFIRMED_GUARDS}; index = confirmed_idx
  std::vector<netdoc::Sha1Digest> primary_;    // {PRIMARY_GUARDS}
  std::optional<int64_t> last_time_on_internet_;
  bool dirty_ = false;
};

}  // namespace tc::path
