#include "path/path.h"

#include <algorithm>
#include <cstring>

#include "crypto/crypto.h"

namespace tc::path {

namespace {

struct DigestHash {
  size_t operator()(const netdoc::Sha256Digest &d) const {
    size_t h;
    std::memcpy(&h, d.data(), sizeof h);  // already uniformly distributed
    return h;
  }
};

// Weight class of a relay: 0 guard-only, 1 neither, 2 exit-only, 3 both.
int weight_class(const Relay &r) {
  bool g = r.has_guard_flag(), e = r.is_exit();
  return g && e ? 3 : g ? 0 : e ? 2 : 1;
}

}  // namespace

RandomSource system_random() {
  return [](uint64_t bound) { return crypto::random_uniform(bound); };
}

PathSelector::PathSelector(std::shared_ptr<const netdoc::Consensus> consensus,
                           std::vector<netdoc::Microdesc> microdescs, PathOptions opts)
    : consensus_(std::move(consensus)), microdescs_(std::move(microdescs)), opts_(opts) {
  const netdoc::Consensus &c = *consensus_;
  // path-spec §2.2 / dir-spec §3.4.1 bandwidth-weights, each over
  // bwweightscale; missing or negative weights fall back to the scale (1.0).
  const int32_t scale = c.param("bwweightscale", 10000, 1, INT32_MAX);
  auto w = [&](const char *name) -> int64_t {
    int32_t v = c.weight(name, scale);
    return v < 0 ? scale : v;
  };
  // Columns: guard-only, neither, exit-only, guard+exit. No Exit-only relay
  // is used in the guard position (tor weighs it 0 there).
  w_[0] = {w("Wgg"), w("Wgm"), 0, w("Wgd")};
  w_[1] = {w("Wmg"), w("Wmm"), w("Wme"), w("Wmd")};
  w_[2] = {w("Weg"), w("Wem"), w("Wee"), w("Wed")};

  std::unordered_map<netdoc::Sha256Digest, const netdoc::Microdesc *, DigestHash> by_digest;
  by_digest.reserve(microdescs_.size());
  for (const netdoc::Microdesc &md : microdescs_) by_digest.emplace(md.digest, &md);

  usable_.reserve(std::min(c.relays.size(), microdescs_.size()));
  for (const netdoc::RouterStatus &rs : c.relays) {
    if (!rs.has_microdesc_digest) continue;
    auto it = by_digest.find(rs.microdesc_digest);
    if (it == by_digest.end()) continue;
    ++matched_;
    if (!rs.has_flag(netdoc::kFlagRunning | netdoc::kFlagValid)) continue;
    if (!it->second->ntor_onion_key) continue;
    Relay r;
    r.rs = &rs;
    r.md = it->second;
    int cls = weight_class(r);
    for (size_t pos = 0; pos < 3; ++pos) r.weight[pos] = uint64_t{rs.bandwidth} * static_cast<uint64_t>(w_[pos][cls]);
    usable_.push_back(r);
  }
}

const Relay *PathSelector::find(const netdoc::Sha1Digest &id) const {
  auto it = std::lower_bound(usable_.begin(), usable_.end(), id,
                             [](const Relay &r, const netdoc::Sha1Digest &k) { return r.id() < k; });
  return it != usable_.end() && it->id() == id ? &*it : nullptr;
}

bool PathSelector::same_family(const Relay &a, const Relay &b) const {
  return a.md->lists_in_family(b.id(), b.rs->nickname) && b.md->lists_in_family(a.id(), a.rs->nickname);
}

bool PathSelector::same_subnet(const Relay &a, const Relay &b) const {
  if ((a.rs->ipv4 >> 16) == (b.rs->ipv4 >> 16)) return true;
  if (a.rs->has_ipv6 && b.rs->has_ipv6 && std::memcmp(a.rs->ipv6.data(), b.rs->ipv6.data(), 4) == 0) return true;
  return false;
}

bool PathSelector::can_share_path(const Relay &a, const Relay &b) const {
  if (a.id() == b.id()) return false;
  if (opts_.test_network) return true;
  if (opts_.enforce_distinct_subnets && same_subnet(a, b)) return false;
  return !same_family(a, b);
}

bool PathSelector::compatible_with_path(const Relay &r, std::span<const Relay *const> path) const {
  for (const Relay *p : path)
    if (p && !can_share_path(r, *p)) return false;
  return true;
}

template <typename Eligible>
const Relay *PathSelector::pick(Position pos, const RandomSource &rng, Eligible &&eligible,
                                size_t *considered) const {
  const size_t pi = static_cast<size_t>(pos);
  uint64_t total = 0;
  size_t count = 0;
  for (const Relay &r : usable_) {
    if (!eligible(r)) continue;
    total += r.weight[pi];
    ++count;
  }
  *considered = count;
  if (count == 0) return nullptr;
  if (total == 0) {  // all weights zero: choose uniformly, as tor does
    uint64_t k = rng(count);
    for (const Relay &r : usable_)
      if (eligible(r) && k-- == 0) return &r;
    return nullptr;
  }
  uint64_t x = rng(total);
  for (const Relay &r : usable_) {
    if (!eligible(r)) continue;
    if (x < r.weight[pi]) return &r;
    x -= r.weight[pi];
  }
  return nullptr;
}

// Fast relays first; when none fits, any relay that fits (as tor's
// path_choose_random_node: "falling back to list of all routers"). Fast
// follows measured bandwidth, so the last exit left for a port can lack it
// (a test network's idle relay advertises 0 and loses Fast); refusing it
// would leave the port unreachable until the next consensus.
template <typename Fits>
const Relay *PathSelector::pick_preferring_fast(Position pos, const RandomSource &rng, Fits &&fits,
                                                size_t *considered) const {
  if (opts_.require_fast) {
    const Relay *r = pick(pos, rng, [&](const Relay &x) { return x.rs->has_flag(netdoc::kFlagFast) && fits(x); },
                          considered);
    if (r) return r;
  }
  return pick(pos, rng, fits, considered);
}

Result<const Relay *> PathSelector::choose_guard_candidate(const RandomSource &rng,
                                                           std::span<const Relay *const> path) const {
  size_t n = 0;
  const Relay *r = pick(Position::kGuard, rng, [&](const Relay &x) {
    return x.has_guard_flag() && (!opts_.require_fast || x.rs->has_flag(netdoc::kFlagFast)) &&
           compatible_with_path(x, path);
  }, &n);
  if (!r) return Error(ErrorKind::kNotFound, "no usable Guard-flagged relay fits the path (" +
                                                 std::to_string(usable_.size()) + " usable relays)");
  return r;
}

Result<const Relay *> PathSelector::choose_middle(const RandomSource &rng, std::span<const Relay *const> path) const {
  size_t n = 0;
  auto fits = [&](const Relay &x) { return compatible_with_path(x, path); };
  const Relay *r = pick_preferring_fast(Position::kMiddle, rng, fits, &n);
  if (!r) return Error(ErrorKind::kNotFound, "no usable middle relay fits the path (" +
                                                 std::to_string(usable_.size()) + " usable relays)");
  return r;
}

Result<const Relay *> PathSelector::choose_exit(uint16_t port, const RandomSource &rng,
                                                std::span<const Relay *const> path) const {
  size_t n = 0;
  auto fits = [&](const Relay &x) {
    return x.is_exit() && x.md->ipv4_policy.allows(port) && compatible_with_path(x, path);
  };
  const Relay *r = pick_preferring_fast(Position::kExit, rng, fits, &n);
  if (!r) {
    size_t exits = 0;
    for (const Relay &x : usable_) exits += x.is_exit() && x.md->ipv4_policy.allows(port);
    return Error(ErrorKind::kNotFound, "no usable exit relay allows port " + std::to_string(port) + " (" +
                                           std::to_string(exits) + " exits allow it before path rules)");
  }
  return r;
}

Result<Path> PathSelector::choose_path(uint16_t port, const RandomSource &rng) const {
  Path p;
  TC_TRY(p.exit, choose_exit(port, rng));
  const Relay *chosen[2] = {p.exit, nullptr};
  TC_TRY(p.guard, choose_guard_candidate(rng, std::span<const Relay *const>(chosen, 1)));
  chosen[1] = p.guard;
  TC_TRY(p.middle, choose_middle(rng, std::span<const Relay *const>(chosen, 2)));
  return p;
}

}  // namespace tc::path
