#include "path/guards.h"

#include <algorithm>
#include <climits>

#include "netdoc/tokenize.h"
#include "util/bytes.h"

namespace tc::path {

namespace {

constexpr int64_t kHour = 3600;
constexpr int64_t kDay = 86400;

// State-file dates: ISO 8601 without spaces, "2016-11-29T19:39:31" (A.5).
std::string format_state_time(int64_t t) {
  std::string s = netdoc::format_iso_time(t);
  std::replace(s.begin(), s.end(), ' ', 'T');
  return s;
}

Result<int64_t> parse_state_time(std::string_view v) {
  size_t t = v.find('T');
  if (t == std::string_view::npos) return Error(ErrorKind::kMalformed, "bad date '" + std::string(v) + "'");
  return netdoc::parse_iso_time(v.substr(0, t), v.substr(t + 1));
}

bool parse_uint(std::string_view v, uint64_t *out) {
  if (v.empty() || v.size() > 18) return false;
  uint64_t x = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    x = x * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = x;
  return true;
}

// State-file values may not contain spaces or '='-free garbage; nicknames in
// the consensus are [A-Za-z0-9]{1,19}, anything else is dropped.
bool is_safe_value(std::string_view v) {
  if (v.empty()) return false;
  for (char c : v)
    if (c <= ' ' || c > '~') return false;
  return true;
}

}  // namespace

int64_t guard_retry_interval(int64_t failing_for, bool primary) {
  // guard-spec A.1, with tor's boundaries: 6 hours, 6+90 hours (4 days),
  // then 3 more days (7 days).
  struct Step {
    int64_t until, primary, nonprimary;
  };
  static constexpr Step kSched[] = {
      {6 * kHour, 10 * 60, 1 * kHour},
      {4 * kDay, 90 * 60, 4 * kHour},
      {7 * kDay, 4 * kHour, 18 * kHour},
      {INT64_MAX, 9 * kHour, 36 * kHour},
  };
  for (const Step &s : kSched)
    if (failing_for < s.until) return primary ? s.primary : s.nonprimary;
  return primary ? 9 * kHour : 36 * kHour;
}

const char *reachable_name(Reachable r) {
  switch (r) {
    case Reachable::kMaybe: return "maybe";
    case Reachable::kYes: return "yes";
    case Reachable::kNo: return "no";
  }
  return "?";
}

GuardParams GuardParams::from_consensus(const netdoc::Consensus &c, const GuardParams &d) {
  // Names and bounds as tor's entrynodes.c reads them.
  auto p = [&](const char *name, int64_t def, int32_t lo, int32_t hi) -> int64_t {
    return c.param(name, static_cast<int32_t>(std::clamp<int64_t>(def, lo, hi)), lo, hi);
  };
  GuardParams g = d;
  g.max_sample_threshold_percent =
      static_cast<int>(p("guard-max-sample-threshold-percent", d.max_sample_threshold_percent, 1, 100));
  g.max_sample_size = static_cast<size_t>(p("guard-max-sample-size", static_cast<int64_t>(d.max_sample_size), 1, INT32_MAX));
  g.min_filtered_sample =
      static_cast<size_t>(p("guard-min-filtered-sample-size", static_cast<int64_t>(d.min_filtered_sample), 1, INT32_MAX));
  g.n_primary = static_cast<size_t>(p("guard-n-primary-guards", static_cast<int64_t>(d.n_primary), 1, INT32_MAX));
  g.n_usable_primary =
      static_cast<size_t>(p("guard-n-primary-guards-to-use", static_cast<int64_t>(d.n_usable_primary), 1, INT32_MAX));
  g.n_usable_primary_dir = static_cast<size_t>(
      p("guard-n-primary-dir-guards-to-use", static_cast<int64_t>(d.n_usable_primary_dir), 1, INT32_MAX));
  g.guard_lifetime = p("guard-lifetime-days", d.guard_lifetime / kDay, 1, 3650) * kDay;
  g.guard_confirmed_min_lifetime =
      p("guard-confirmed-min-lifetime-days", d.guard_confirmed_min_lifetime / kDay, 1, 3650) * kDay;
  g.remove_unlisted_after = p("guard-remove-unlisted-guards-after-days", d.remove_unlisted_after / kDay, 1, 365) * kDay;
  g.internet_likely_down_interval =
      p("guard-internet-likely-down-interval", d.internet_likely_down_interval, 1, INT32_MAX);
  return g;
}

size_t GuardParams::max_sample(size_t n_guards) const {
  size_t by_pct = n_guards * static_cast<size_t>(max_sample_threshold_percent) / 100;
  size_t m = std::min(by_pct, max_sample_size);
  return std::max(m, min_filtered_sample);
}

GuardManager::GuardManager(RandomSource rng, GuardOptions opts)
    : rng_(std::move(rng)), opts_(std::move(opts)), params_(opts_.params) {}

GuardManager::Guard *GuardManager::find(const netdoc::Sha1Digest &id) {
  for (Guard &g : sampled_)
    if (g.id == id) return &g;
  return nullptr;
}

const GuardManager::Guard *GuardManager::find(const netdoc::Sha1Digest &id) const {
  for (const Guard &g : sampled_)
    if (g.id == id) return &g;
  return nullptr;
}

bool GuardManager::is_primary(const netdoc::Sha1Digest &id) const {
  return std::find(primary_.begin(), primary_.end(), id) != primary_.end();
}

bool GuardManager::is_confirmed(const netdoc::Sha1Digest &id) const {
  return std::find(confirmed_.begin(), confirmed_.end(), id) != confirmed_.end();
}

bool GuardManager::is_possible_guard(const netdoc::RouterStatus *rs) const {
  return rs && rs->has_flag(opts_.required_flags | netdoc::kFlagRunning | netdoc::kFlagValid);
}

// RAND(now, interval) of guard-spec appendix [RANDOM]: a point up to
// `max_interval` in the past, so the dates do not reveal when we acted.
int64_t GuardManager::randomize_past(int64_t now, int64_t max_interval) {
  if (max_interval <= 0) return now;
  return now - static_cast<int64_t>(rng_(static_cast<uint64_t>(max_interval)));
}

size_t GuardManager::count_usable_filtered() const {
  size_t n = 0;
  for (const Guard &g : sampled_) n += g.listed && g.reachable != Reachable::kNo;
  return n;
}

// §4.2: add guards until USABLE_FILTERED_GUARDS has MIN_FILTERED_SAMPLE
// members, the sample is at its maximum, or no guard is left to add (a
// small test network). Each pass adds one guard, so this ends.
void GuardManager::expand_sample(const PathSelector &netdir, int64_t now) {
  size_t n_guards = 0;
  for (const netdoc::RouterStatus &rs : netdir.consensus().relays) n_guards += is_possible_guard(&rs);
  const size_t max = params_.max_sample(n_guards);
  size_t usable = count_usable_filtered();
  if (usable >= params_.min_filtered_sample || sampled_.size() >= max) return;

  // Candidates: {GUARDS} - {SAMPLED_GUARDS}, with microdescriptors.
  std::vector<const Relay *> cand;
  uint64_t total = 0;
  const size_t gpos = static_cast<size_t>(Position::kGuard);
  for (const Relay &r : netdir.usable()) {
    if (!is_possible_guard(r.rs) || find(r.id())) continue;
    cand.push_back(&r);
    total += r.weight[gpos];
  }
  while (usable < params_.min_filtered_sample && sampled_.size() < max && !cand.empty()) {
    // Weighted for the guard position (path-spec §2.2), as tor's sampling;
    // uniform if every weight is zero.
    size_t pick = 0;
    if (total == 0) {
      pick = static_cast<size_t>(rng_(cand.size()));
    } else {
      uint64_t x = rng_(total);
      for (pick = 0; pick + 1 < cand.size(); ++pick) {
        if (x < cand[pick]->weight[gpos]) break;
        x -= cand[pick]->weight[gpos];
      }
    }
    const Relay *r = cand[pick];
    total -= r->weight[gpos];
    cand.erase(cand.begin() + static_cast<std::ptrdiff_t>(pick));  // keep order: deterministic for a seed

    Guard g;
    g.id = r->id();
    g.nickname = std::string(r->rs->nickname);
    g.added_on = randomize_past(now, params_.guard_lifetime / 10);
    g.added_by = opts_.version;
    g.listed = true;
    sampled_.push_back(std::move(g));
    ++usable;
    dirty_ = true;
  }
}

void GuardManager::remove_guard(size_t index) {
  const netdoc::Sha1Digest id = sampled_[index].id;
  sampled_.erase(sampled_.begin() + static_cast<std::ptrdiff_t>(index));
  // §4.3: removed from SAMPLED_GUARDS means removed from CONFIRMED_GUARDS.
  confirmed_.erase(std::remove(confirmed_.begin(), confirmed_.end(), id), confirmed_.end());
  primary_.erase(std::remove(primary_.begin(), primary_.end(), id), primary_.end());
  dirty_ = true;
}

void GuardManager::update(const PathSelector &netdir, int64_t now) {
  const netdoc::Consensus &c = netdir.consensus();
  if (opts_.use_consensus_params) params_ = GuardParams::from_consensus(c, opts_.params);
  if (!c.is_reasonably_live(now)) {
    update_primaries();
    return;
  }
  // §4.10: {IS_LISTED} and {FIRST_UNLISTED_AT}.
  for (Guard &g : sampled_) {
    const netdoc::RouterStatus *rs = c.find_relay(g.id);
    bool listed = is_possible_guard(rs);
    if (listed) {
      if (!g.listed || g.unlisted_since) dirty_ = true;
      g.listed = true;
      g.unlisted_since.reset();
      if (rs->nickname != g.nickname) {
        g.nickname = std::string(rs->nickname);
        dirty_ = true;
      }
    } else {
      if (g.listed || !g.unlisted_since) {
        // tor randomises this by REMOVE_UNLISTED_GUARDS_AFTER / 5.
        g.unlisted_since = randomize_past(now, params_.remove_unlisted_after / 5);
        dirty_ = true;
      }
      g.listed = false;
    }
  }
  // §4.1 removal rules.
  for (size_t i = sampled_.size(); i-- > 0;) {
    const Guard &g = sampled_[i];
    bool remove = false;
    if (!g.listed && g.unlisted_since && *g.unlisted_since + params_.remove_unlisted_after < now) remove = true;
    if (g.added_on + params_.guard_lifetime < now &&
        (!g.confirmed_on || *g.confirmed_on + params_.guard_confirmed_min_lifetime < now))
      remove = true;
    if (remove) remove_guard(i);
  }
  expand_sample(netdir, now);
  update_primaries();
}

// §4.4, in tor's way: confirmed filtered guards first, then the previous
// primaries that are still filtered, then reachable filtered guards in
// sample order.
void GuardManager::update_primaries() {
  std::vector<netdoc::Sha1Digest> next;
  const size_t n = params_.n_primary;
  for (const netdoc::Sha1Digest &id : confirmed_) {
    if (next.size() >= n) break;
    const Guard *g = find(id);
    if (g && g->listed) next.push_back(id);
  }
  for (const netdoc::Sha1Digest &id : primary_) {
    if (next.size() >= n) break;
    const Guard *g = find(id);
    if (g && g->listed && std::find(next.begin(), next.end(), id) == next.end()) next.push_back(id);
  }
  for (const Guard &g : sampled_) {
    if (next.size() >= n) break;
    if (!g.listed || g.reachable == Reachable::kNo || is_confirmed(g.id)) continue;
    if (std::find(next.begin(), next.end(), g.id) == next.end()) next.push_back(g.id);
  }
  primary_ = std::move(next);
}

// §4.5: a guard marked unreachable becomes "maybe" once its retry interval
// since the last attempt has passed.
void GuardManager::consider_retry(Guard &g, int64_t now) const {
  if (g.reachable != Reachable::kNo) return;
  int64_t failing_for = g.failing_since ? std::max<int64_t>(0, now - *g.failing_since) : 0;
  int64_t ival = guard_retry_interval(failing_for, is_primary(g.id));
  if (!g.last_tried || now >= *g.last_tried + ival) g.reachable = Reachable::kMaybe;
}

void GuardManager::mark_all_maybe() {
  for (Guard &g : sampled_)
    if (g.reachable == Reachable::kNo) g.reachable = Reachable::kMaybe;
}

Result<GuardChoice> GuardManager::select(const PathSelector &netdir, int64_t now,
                                         std::span<const Relay *const> exclude, GuardUsage usage) {
  for (Guard &g : sampled_) consider_retry(g, now);
  // §4.2: keep USABLE_FILTERED_GUARDS at MIN_FILTERED_SAMPLE when guards
  // have failed (bounded by the maximum sample size).
  if (count_usable_filtered() < params_.min_filtered_sample && netdir.consensus().is_reasonably_live(now))
    expand_sample(netdir, now);
  update_primaries();
  auto r = select_once(netdir, now, exclude, usage);
  if (r.ok() || count_usable_filtered() > 0) return r;
  // §4.6: every sampled guard is down: mark them all "maybe" and start
  // from the top, so that we keep trying.
  mark_all_maybe();
  update_primaries();
  return select_once(netdir, now, exclude, usage);
}

Result<GuardChoice> GuardManager::select_once(const PathSelector &netdir, int64_t now,
                                              std::span<const Relay *const> exclude, GuardUsage usage) {
  // A guard fits this circuit if we have its microdescriptor (§4.12) and it
  // may share a path with every excluded relay (the restrictions of §4.6).
  auto fits = [&](const Guard &g) -> const Relay * {
    if (!g.listed || g.reachable == Reachable::kNo) return nullptr;
    const Relay *r = netdir.find(g.id);
    if (!r) return nullptr;
    for (const Relay *x : exclude)
      if (x && !netdir.can_share_path(*r, *x)) return nullptr;
    return r;
  };

  // 1. One of the first NUM_USABLE_PRIMARY(_DIRECTORY)_GUARDS usable
  // primaries, uniformly.
  const size_t n_use = usage == GuardUsage::kDirectory ? params_.n_usable_primary_dir : params_.n_usable_primary;
  std::vector<std::pair<Guard *, const Relay *>> prim;
  for (const netdoc::Sha1Digest &id : primary_) {
    if (prim.size() >= n_use) break;
    Guard *g = find(id);
    if (!g) continue;
    if (const Relay *r = fits(*g)) prim.emplace_back(g, r);
  }
  if (!prim.empty()) {
    auto [g, r] = prim[prim.size() == 1 ? 0 : static_cast<size_t>(rng_(prim.size()))];
    g->last_tried = now;
    return GuardChoice{r, g->id, true, GuardCircuitState::kUsableOnCompletion};
  }

  // 2. The first confirmed non-primary guard that is not pending (or the
  // first if all are); 3. otherwise the usable filtered sample in sample
  // order, the same way.
  auto take = [&](Guard *g, const Relay *r) -> GuardChoice {
    g->last_tried = now;
    g->pending = true;
    return GuardChoice{r, g->id, false, GuardCircuitState::kUsableIfNoBetterGuard};
  };
  std::pair<Guard *, const Relay *> first_pending{nullptr, nullptr};
  for (const netdoc::Sha1Digest &id : confirmed_) {
    if (is_primary(id)) continue;  // already considered
    Guard *g = find(id);
    if (!g) continue;
    const Relay *r = fits(*g);
    if (!r) continue;
    if (!g->pending) return take(g, r);
    if (!first_pending.first) first_pending = {g, r};
  }
  if (first_pending.first) return take(first_pending.first, first_pending.second);

  for (Guard &g : sampled_) {
    if (is_primary(g.id) || is_confirmed(g.id)) continue;
    const Relay *r = fits(g);
    if (!r) continue;
    if (!g.pending) return take(&g, r);
    if (!first_pending.first) first_pending = {&g, r};
  }
  if (first_pending.first) return take(first_pending.first, first_pending.second);

  size_t listed = 0, down = 0;
  for (const Guard &g : sampled_) {
    listed += g.listed;
    down += g.listed && g.reachable == Reachable::kNo;
  }
  return Error(ErrorKind::kNotFound, "no usable guard: " + std::to_string(sampled_.size()) + " sampled, " +
                                         std::to_string(listed) + " listed, " + std::to_string(down) +
                                         " unreachable, " + std::to_string(exclude.size()) + " relays to avoid");
}

bool GuardManager::on_success(const netdoc::Sha1Digest &id, int64_t now) {
  Guard *g = find(id);
  if (!g) return false;
  g->reachable = Reachable::kYes;
  g->failing_since.reset();
  g->pending = false;
  if (!g->last_tried) g->last_tried = now;
  const bool was_primary = is_primary(id);
  if (!is_confirmed(id)) {
    // §4.3: appended, with a randomised confirmed_on.
    g->confirmed_on = randomize_past(now, params_.guard_lifetime / 10);
    confirmed_.push_back(id);
    dirty_ = true;
    update_primaries();
  }
  // §4.8: back online after a long time through a non-primary guard: the
  // primaries may well be reachable again.
  if (!was_primary &&
      (!last_time_on_internet_ || *last_time_on_internet_ + params_.internet_likely_down_interval < now)) {
    for (const netdoc::Sha1Digest &p : primary_)
      if (Guard *pg = find(p); pg && pg->reachable == Reachable::kNo) pg->reachable = Reachable::kMaybe;
  }
  last_time_on_internet_ = now;
  return true;
}

bool GuardManager::on_failure(const netdoc::Sha1Digest &id, int64_t now) {
  Guard *g = find(id);
  if (!g) return false;
  g->reachable = Reachable::kNo;
  if (!g->failing_since) g->failing_since = now;
  if (!g->last_tried) g->last_tried = now;
  g->pending = false;
  return true;
}

bool GuardManager::on_cancel(const netdoc::Sha1Digest &id) {
  Guard *g = find(id);
  if (!g) return false;
  g->pending = false;
  return true;
}

std::string GuardManager::serialize() const {
  std::string out;
  out.reserve(sampled_.size() * 200 + 64);
  out += "# torclient guard state (guard-spec A.5)\n";
  for (size_t i = 0; i < sampled_.size(); ++i) {
    const Guard &g = sampled_[i];
    out += "Guard in=" + opts_.instance + " rsa_id=" + hex_encode(g.id, true);
    if (is_safe_value(g.nickname)) out += " nickname=" + g.nickname;
    out += " sampled_on=" + format_state_time(g.added_on) + " sampled_idx=" + std::to_string(i);
    if (is_safe_value(g.added_by)) out += " sampled_by=" + g.added_by;
    out += g.listed ? " listed=1" : " listed=0";
    if (!g.listed && g.unlisted_since) out += " unlisted_since=" + format_state_time(*g.unlisted_since);
    auto ci = std::find(confirmed_.begin(), confirmed_.end(), g.id);
    if (ci != confirmed_.end() && g.confirmed_on)
      out += " confirmed_on=" + format_state_time(*g.confirmed_on) +
             " confirmed_idx=" + std::to_string(ci - confirmed_.begin());
    for (const std::string &kv : g.extra) out += " " + kv;
    out += "\n";
  }
  return out;
}

Result<GuardManager> GuardManager::parse(std::string_view text, RandomSource rng, GuardOptions opts,
                                         std::vector<std::string> *problems) {
  GuardManager m(std::move(rng), std::move(opts));
  auto note = [&](size_t line, const std::string &msg) {
    if (problems) problems->push_back("line " + std::to_string(line) + ": " + msg);
  };
  struct Loaded {
    Guard g;
    uint64_t sampled_idx = UINT64_MAX;  // missing: after the numbered ones
    uint64_t confirmed_idx = UINT64_MAX;
    size_t order = 0;
  };
  std::vector<Loaded> loaded;

  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

    std::vector<std::string_view> tok;
    for (size_t i = 0; i < line.size();) {
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
      size_t j = i;
      while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
      if (j > i) tok.push_back(line.substr(i, j - i));
      i = j;
    }
    if (tok.empty() || tok[0][0] == '#') continue;
    if (tok[0] != "Guard") {
      note(line_no, "unknown keyword '" + std::string(tok[0].substr(0, 32)) + "', line skipped");
      continue;
    }

    Loaded l;
    l.order = loaded.size();
    std::string_view instance;
    bool have_id = false, have_sampled = false, have_listed = false;
    std::string bad;
    for (size_t i = 1; i < tok.size() && bad.empty(); ++i) {
      size_t eq = tok[i].find('=');
      if (eq == std::string_view::npos || eq == 0) {
        bad = "field '" + std::string(tok[i].substr(0, 32)) + "' is not K=V";
        break;
      }
      std::string_view k = tok[i].substr(0, eq), v = tok[i].substr(eq + 1);
      if (k == "in") {
        instance = v;
      } else if (k == "rsa_id") {
        if (v.size() != 40 || !netdoc::hex_decode_exact(v, l.g.id.data(), l.g.id.size()))
          bad = "bad rsa_id '" + std::string(v.substr(0, 48)) + "'";
        have_id = true;
      } else if (k == "nickname") {
        l.g.nickname = std::string(v);
      } else if (k == "sampled_on") {
        auto t = parse_state_time(v);
        if (!t) bad = "bad sampled_on: " + t.error().message();
        else l.g.added_on = *t;
        have_sampled = true;
      } else if (k == "sampled_by") {
        l.g.added_by = std::string(v);
      } else if (k == "sampled_idx") {
        if (!parse_uint(v, &l.sampled_idx)) note(line_no, "bad sampled_idx '" + std::string(v) + "' ignored");
      } else if (k == "listed") {
        if (v != "0" && v != "1") bad = "bad listed '" + std::string(v) + "'";
        l.g.listed = v == "1";
        have_listed = true;
      } else if (k == "unlisted_since") {
        auto t = parse_state_time(v);
        if (!t) note(line_no, "bad unlisted_since ignored: " + t.error().message());
        else l.g.unlisted_since = *t;
      } else if (k == "confirmed_on") {
        auto t = parse_state_time(v);
        if (!t) note(line_no, "bad confirmed_on ignored: " + t.error().message());
        else l.g.confirmed_on = *t;
      } else if (k == "confirmed_idx") {
        if (!parse_uint(v, &l.confirmed_idx)) note(line_no, "bad confirmed_idx '" + std::string(v) + "' ignored");
      } else {
        l.g.extra.emplace_back(tok[i]);  // A.5: keep what we do not know
      }
    }
    if (bad.empty() && !have_id) bad = "no rsa_id";
    if (bad.empty() && !have_sampled) bad = "no sampled_on";
    if (bad.empty() && !have_listed) bad = "no listed";
    if (bad.empty() && instance.empty()) bad = "no in=";
    if (!bad.empty()) {
      note(line_no, bad + ", guard skipped");
      continue;
    }
    if (instance != m.opts_.instance) continue;
    bool dup = false;
    for (const Loaded &o : loaded) dup |= o.g.id == l.g.id;
    if (dup) {
      note(line_no, "guard " + hex_encode(l.g.id, true) + " listed twice, skipped");
      continue;
    }
    if (l.g.listed) l.g.unlisted_since.reset();
    loaded.push_back(std::move(l));
  }

  std::stable_sort(loaded.begin(), loaded.end(),
                   [](const Loaded &a, const Loaded &b) { return a.sampled_idx < b.sampled_idx; });
  std::vector<const Loaded *> conf;
  for (const Loaded &l : loaded)
    if (l.g.confirmed_on) conf.push_back(&l);
  std::stable_sort(conf.begin(), conf.end(), [](const Loaded *a, const Loaded *b) {
    return a->confirmed_idx != b->confirmed_idx ? a->confirmed_idx < b->confirmed_idx : a->order < b->order;
  });
  for (const Loaded *l : conf) m.confirmed_.push_back(l->g.id);
  for (Loaded &l : loaded) m.sampled_.push_back(std::move(l.g));
  m.update_primaries();
  return m;
}

std::vector<netdoc::Sha1Digest> GuardManager::sampled() const {
  std::vector<netdoc::Sha1Digest> v;
  v.reserve(sampled_.size());
  for (const Guard &g : sampled_) v.push_back(g.id);
  return v;
}

std::vector<GuardStatus> GuardManager::status() const {
  std::vector<GuardStatus> out;
  out.reserve(sampled_.size());
  auto add = [&](const Guard &g) {
    GuardStatus s;
    s.nickname = g.nickname;
    s.fingerprint = hex_encode(g.id, true);
    s.primary = is_primary(g.id);
    s.confirmed = is_confirmed(g.id);
    s.listed = g.listed;
    s.pending = g.pending;
    s.reachable = g.reachable;
    s.sampled_on = g.added_on;
    s.confirmed_on = g.confirmed_on;
    s.unlisted_since = g.unlisted_since;
    s.failing_since = g.failing_since;
    out.push_back(std::move(s));
  };
  for (const netdoc::Sha1Digest &id : primary_)
    if (const Guard *g = find(id)) add(*g);
  for (const netdoc::Sha1Digest &id : confirmed_)
    if (const Guard *g = find(id); g && !is_primary(id)) add(*g);
  for (const Guard &g : sampled_)
    if (!is_primary(g.id) && !is_confirmed(g.id)) add(g);
  return out;
}

}  // namespace tc::path
