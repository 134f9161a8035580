#include "runtime/client.h"

#include <asio/experimental/awaitable_operators.hpp>

#include <malloc.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <future>
#include <map>

#include "crypto/crypto.h"
#include "netdoc/public_authorities.h"
#include "path/cbt.h"
#include "path/guards.h"
#include "runtime/directory.h"
#include "util/file.h"
#include "util/log.h"

namespace tc::runtime {

using asio::awaitable;
using asio::use_awaitable;
using Clock = std::chrono::steady_clock;
using namespace asio::experimental::awaitable_operators;  // a && b: both legs at once

namespace {
constexpr auto kChannelTimeout = std::chrono::seconds(20);
constexpr auto kStreamTimeout = std::chrono::milliseconds(30000);
constexpr int kConnectAttempts = 3;
constexpr auto kChannelIdleTimeout = std::chrono::minutes(3);
constexpr auto kRelayFailureMemory = std::chrono::minutes(5);
constexpr size_t kPreemptiveCircuits = 2;
int64_t unix_now() { return static_cast<int64_t>(std::time(nullptr)); }

proto::RelayTarget to_target(const path::Relay &r) {
  proto::RelayTarget t;
  t.nickname = std::string(r.rs->nickname);
  t.rsa_id = r.rs->rsa_identity;
  t.ed_id = r.md->ed25519_id;
  t.ntor_onion_key = *r.md->ntor_onion_key;
  uint32_t a = r.rs->ipv4;
  t.ipv4 = {static_cast<uint8_t>(a >> 24), static_cast<uint8_t>(a >> 16), static_cast<uint8_t>(a >> 8),
            static_cast<uint8_t>(a)};
  t.or_port = r.rs->or_port;
  t.supports_cc = r.rs->protocols.supports(netdoc::Protocol::kFlowCtrl, 2) &&
                  r.rs->protocols.supports(netdoc::Protocol::kRelay, 4);
  return t;
}
std::string addr_string(const std::array<uint8_t, 4> &a) {
  return std::to_string(a[0]) + "." + std::to_string(a[1]) + "." + std::to_string(a[2]) + "." + std::to_string(a[3]);
}
}  // namespace

struct PoolCircuit {
  std::shared_ptr<TorCircuit> circ;
  std::optional<IsolationKey> isolation;  // set by the first stream
  std::optional<Clock::time_point> dirty_since;
  bool one_hop = false;
  // Built as a conflux pair (whether or not the exit linked it): what
  // keep_preemptive() keeps ready.
  bool conflux_build = false;
  netdoc::Sha1Digest exit_id{};
};


struct TorClient::Impl {
  TorClient &owner;
  ClientConfig cfg;
  Directory dir;
  std::map<netdoc::Sha1Digest, std::shared_ptr<Channel>> channels;
  std::map<netdoc::Sha1Digest, std::shared_ptr<Event>> channels_opening;
  std::vector<PoolCircuit> circuits;
  std::optional<path::GuardManager> guards;
  // The consensus the guard sample was last updated for (§4.10).
  int64_t guards_updated_for = -1;
  std::map<netdoc::Sha1Digest, Clock::time_point> channel_idle_since;
  // Middles/exits that did not answer an EXTEND2 lately.
  std::map<netdoc::Sha1Digest, Clock::time_point> relay_failed_at;
  // path-spec §2.4: the per-hop build timeout learnt from build times
  // (persisted in config-dir, as tor keeps it in its state file).
  path::CircuitBuildTimes cbt;
  size_t cbt_unsaved = 0;
  Event bootstrapped;
  // A stream took a clean circuit: keep_preemptive() replaces it at once.
  Event clean_circuit_taken;
  bool is_bootstrapped = false;
  std::optional<Error> bootstrap_error;
  std::map<uint16_t, Clock::time_point> predicted_ports;
  bool stopping = false;
  uint64_t closed_bytes_in = 0, closed_bytes_out = 0;

  Impl(TorClient &o, ClientConfig c, std::vector<netdoc::DirAuthority> auths)
      : owner(o),
        cfg(std::move(c)),
        dir(o.io_.get_executor(),
            DirectoryOptions{std::move(auths), cfg.cache_dir,
                             path::PathOptions{cfg.test_network, !cfg.test_network, true}}),
        bootstrapped(o.io_.get_executor()),
        clean_circuit_taken(o.io_.get_executor()) {}

  // ---- guards (guard-spec, via path::GuardManager; state in config-dir) ----
  std::string guards_file() const { return cfg.config_dir.empty() ? "" : cfg.config_dir + "/guards"; }

  path::GuardOptions guard_options() const {
    path::GuardOptions o;
    // Test networks rarely give Stable/V2Dir to fresh relays (TestingTorNetwork).
    if (cfg.test_network) o.required_flags = netdoc::kFlagGuard;
    return o;
  }

  void load_guards() {
    if (!guards_file().empty()) {
      auto text = read_file(guards_file(), 1 << 20);
      if (text) {
        std::vector<std::string> problems;
        auto g = path::GuardManager::parse(*text, path::system_random(), guard_options(), &problems);
        for (auto &p : problems) LOG_WARN("guards: %s: %s", guards_file().c_str(), p.c_str());
        if (g) {
          guards.emplace(std::move(*g));
          LOG_INFO("guards: %zu loaded from state", guards->size());
          return;
        }
      }
    }
    guards.emplace(path::system_random(), guard_options());
  }

  void save_guards_if_dirty() {
    if (!guards->take_dirty() || guards_file().empty()) return;
    auto st = write_file_atomic(guards_file(), guards->serialize());
    if (!st) LOG_WARN("guards: %s", st.error().message().c_str());
  }

  std::string cbt_file() const { return cfg.config_dir.empty() ? "" : cfg.config_dir + "/circuit-build-times"; }

  void load_cbt() {
    if (cbt_file().empty()) return;
    auto text = read_file(cbt_file(), 1 << 20);
    if (!text) return;
    std::vector<std::string> problems;
    cbt = path::CircuitBuildTimes::parse(*text, &problems);
    for (auto &p : problems) LOG_WARN("circuit build times: %s: %s", cbt_file().c_str(), p.c_str());
    LOG_INFO("circuit build timeout %lld ms from %zu recorded build times", static_cast<long long>(cbt.timeout().count()),
             cbt.size());
  }

  void save_cbt() {
    if (cbt_unsaved == 0 || cbt_file().empty()) return;
    auto st = write_file_atomic(cbt_file(), cbt.serialize());
    if (!st) LOG_WARN("circuit build times: %s", st.error().message().c_str());
    cbt_unsaved = 0;
  }

  // guard-spec §4.6; the sample follows each new directory (§4.10).
  Result<const path::Relay *> pick_guard(const path::PathSelector &nd, std::span<const path::Relay *const> avoid,
                                         path::GuardUsage usage = path::GuardUsage::kCircuit) {
    if (guards_updated_for != nd.consensus().valid_after) {
      guards->update(nd, unix_now());
      guards_updated_for = nd.consensus().valid_after;
    }
    auto choice = guards->select(nd, unix_now(), avoid, usage);
    save_guards_if_dirty();
    if (!choice) return std::move(choice).error();
    return choice->relay;
  }

  void mark_guard(const netdoc::Sha1Digest &id, bool reachable) {
    if (reachable) guards->on_success(id, unix_now());
    else guards->on_failure(id, unix_now());
    save_guards_if_dirty();
  }

  // ---- channels ----
  awaitable<Result<std::shared_ptr<Channel>>> get_channel(const proto::RelayTarget &t) {
    // shutdown() closed every channel: a build still in flight must not
    // open new ones (it did, and finished circuits after SIGTERM).
    if (stopping) co_return Error(ErrorKind::kClosed, "client is shutting down");
    for (;;) {
      if (auto it = channels.find(t.rsa_id); it != channels.end()) {
        if (it->second->is_open()) co_return it->second;
        channels.erase(it);
      }
      auto op = channels_opening.find(t.rsa_id);
      if (op == channels_opening.end()) break;
      auto ev = op->second;
      co_await ev->wait(kChannelTimeout);
      if (!channels.count(t.rsa_id)) co_return Error(ErrorKind::kIo, "channel to " + t.nickname + " failed");
    }
    auto ev = std::make_shared<Event>(owner.io_.get_executor());
    channels_opening[t.rsa_id] = ev;
    ChannelTarget ct{t.nickname, addr_string(t.ipv4), t.or_port, t.rsa_id, t.ed_id};
    auto ch = co_await Channel::open(owner.io_.get_executor(), *owner.tls_, ct, kChannelTimeout);
    channels_opening.erase(t.rsa_id);
    if (ch && stopping) {
      (*ch)->close(Error(ErrorKind::kClosed, "client shutting down"));
      ch = Error(ErrorKind::kClosed, "client is shutting down");
    }
    if (ch) channels[t.rsa_id] = *ch;
    ev->notify_all();
    co_return ch;
  }

  // ---- circuits ----
  // A three-hop circuit whose exit allows `port` (0: any exit, for
  // preemptive circuits with no prediction yet). With `conflux`, a second
  // leg to the same exit is built at the same time and the two are linked
  // (prop 329) before the circuit is handed out: linking costs a round trip
  // to the exit, so circuits that a new isolation group's stream is waiting
  // for are built plain, and conflux sets are built ahead of need
  // (keep_preemptive, and the first circuit at bootstrap). (A stream cannot
  // ride on a leg before its LINKED_ACK: a C tor 0.4.9 exit answered such a
  // BEGIN with CONNECTED and then sent no data.)
  awaitable<Result<PoolCircuit>> build_circuit(uint16_t port, bool conflux) {
    auto nd = dir.netdir();
    if (!nd) co_return Error(ErrorKind::kNotFound, "no directory yet");
    std::optional<Error> last;
    // Relays that did not answer during this build are not tried again in
    // it (a frozen middle would otherwise cost every attempt its timeout).
    std::vector<const path::Relay *> failed;
    // ... nor, for a while, in later builds (tor's path bias is subtler; this
    // keeps a dead middle from costing every new circuit a timeout).
    auto now = Clock::now();
    for (auto it = relay_failed_at.begin(); it != relay_failed_at.end();) {
      if (now - it->second > kRelayFailureMemory) {
        it = relay_failed_at.erase(it);
        continue;
      }
      if (const path::Relay *r = nd->find(it->first)) failed.push_back(r);
      ++it;
    }
    const size_t remembered = failed.size();  // failed[0, remembered): from earlier builds
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (stopping) co_return Error(ErrorKind::kClosed, "client is shutting down");
      auto rng = path::system_random();
      auto exit = nd->choose_exit(port ? port : 80, rng, failed);
      if (!exit && remembered > 0) {
        // The failure memory is a hint, not a ban: a relay can be blamed for
        // a neighbour's death (a DESTROY while extending to it). When it
        // leaves no exit, forget it and avoid only this build's failures.
        std::span<const path::Relay *const> now_failed(failed.data() + remembered, failed.size() - remembered);
        exit = nd->choose_exit(port ? port : 80, rng, now_failed);
      }
      if (!exit) co_return std::move(exit).error().context("choosing an exit for port " + std::to_string(port));
      const path::Relay *chosen_exit = *exit;
      auto guard = pick_guard(*nd, std::span<const path::Relay *const>(&chosen_exit, 1));
      if (!guard) co_return std::move(guard).error().context("choosing a guard");
      std::vector<const path::Relay *> avoid = failed;
      avoid.push_back(*guard);
      avoid.push_back(*exit);
      auto middle = nd->choose_middle(rng, avoid);
      if (!middle) co_return std::move(middle).error().context("choosing a middle relay");
      std::vector<proto::RelayTarget> hops;
      hops.push_back(to_target(**guard));
      hops.push_back(to_target(**middle));
      hops.push_back(to_target(**exit));
      // Conflux: the second leg is built at the same time as the first.
      std::optional<std::vector<proto::RelayTarget>> hops2;
      if (conflux) hops2 = conflux_second_path(*nd, *guard, *middle, *exit, failed, rng);
      std::optional<Result<PoolCircuit>> r2;
      Result<PoolCircuit> r = Error(ErrorKind::kInternal, "not built");
      if (hops2) {
        auto [a, b] = co_await (build_on_path(std::move(hops), false) && build_on_path(std::move(*hops2), false));
        r = std::move(a);
        r2 = std::move(b);
      } else {
        r = co_await build_on_path(std::move(hops), /*add_to_pool=*/false);
      }
      if (r) {
        r->exit_id = (*exit)->id();
        r->conflux_build = conflux;
        auto linked = co_await link_second_leg(*r, std::move(r2));
        if (stopping) {
          // Shutdown closed the channels: a second leg was closed in
          // link_second_leg, and a linked set's primary takes its legs along.
          r->circ->destroy(0);
          co_return Error(ErrorKind::kClosed, "client is shutting down");
        }
        if (linked) {
          circuits.push_back(*r);
          co_return r;
        }
        r = std::move(linked).error();
      } else if (r2 && *r2) {
        (*r2)->circ->destroy(0);
      }
      last = r.error();
      LOG_INFO("circuit build failed: %s", r.error().message().c_str());
      // The guard's failures are the guard manager's business (§4.7).
      if (r.error().code() == 2) {
        failed.push_back(*middle);
        relay_failed_at[(*middle)->id()] = Clock::now();
      }
      if (r.error().code() == 3) {
        failed.push_back(*exit);
        relay_failed_at[(*exit)->id()] = Clock::now();
      }
    }
    co_return *last;
  }

  // Conflux needs congestion control (prop 329 §2.2); both are ours to
  // turn off.
  bool want_conflux() const { return cfg.conflux && cfg.congestion_control; }

  // Whether the next circuit may be built as a conflux pair: the consensus's
  // cfx_max_linked_set (C tor's default 10, range 0-255) caps the linked
  // sets a client keeps open, as C tor's conflux pool does; past it,
  // circuits are built plain (one circuit per new isolation group instead
  // of two).
  bool conflux_set_allowed() const {
    if (!want_conflux()) return false;
    auto nd = dir.netdir();
    const int32_t max_sets = nd ? nd->consensus().param("cfx_max_linked_set", 10, 0, 255) : 10;
    int32_t sets = 0;
    for (const auto &pc : circuits)
      if (pc.circ->status() == CircuitStatus::kOpen && pc.circ->conflux_legs() > 1) ++sets;
    return sets < max_sets;
  }

  // Conflux (prop 329 §2.2): the path of a second leg to the same exit
  // through another guard and another middle, when the exit speaks
  // Conflux=1 and conflux is on (ours and the consensus's cfx_enabled);
  // nullopt otherwise, or when the network has no second guard or middle.
  std::optional<std::vector<proto::RelayTarget>> conflux_second_path(const path::PathSelector &nd,
                                                                     const path::Relay *guard,
                                                                     const path::Relay *middle,
                                                                     const path::Relay *exit,
                                                                     std::vector<const path::Relay *> avoid,
                                                                     const path::RandomSource &rng) {
    if (!want_conflux()) return std::nullopt;
    if (nd.consensus().param("cfx_enabled", 1, 0, 1) == 0) return std::nullopt;
    if (!exit->rs->protocols.supports(netdoc::Protocol::kConflux, 1)) return std::nullopt;
    std::array<const path::Relay *, 2> not_guards{exit, guard};
    auto guard2 = pick_guard(nd, not_guards);
    if (!guard2 || *guard2 == guard) return std::nullopt;
    avoid.push_back(guard);
    avoid.push_back(*guard2);
    avoid.push_back(middle);
    avoid.push_back(exit);
    auto middle2 = nd.choose_middle(rng, avoid);
    if (!middle2) return std::nullopt;
    return std::vector<proto::RelayTarget>{to_target(**guard2), to_target(**middle2), to_target(*exit)};
  }

  // Links the first circuit with its second leg, when there is one and both
  // have congestion control with the exit; otherwise the first stays a
  // plain circuit (and a second leg is closed). An error means the first
  // circuit was lost while linking.
  awaitable<Status> link_second_leg(PoolCircuit &pc, std::optional<Result<PoolCircuit>> leg) {
    if (!leg) co_return Status{};
    if (!*leg) {
      LOG_INFO("circuit %08x stays without conflux: second leg: %s", pc.circ->id(), leg->error().message().c_str());
      co_return Status{};
    }
    auto second = (*leg)->circ;
    if (second->status() != CircuitStatus::kOpen || !pc.circ->congestion_control() ||
        !second->congestion_control()) {
      second->destroy(0);
      co_return Status{};
    }
    std::vector<std::shared_ptr<TorCircuit>> legs{pc.circ, second};
    auto st = co_await TorCircuit::link_conflux(std::move(legs), cbt.timeout());
    if (!st) co_return std::move(st).error().context("conflux");
    LOG_INFO("circuit %08x: conflux set of %zu legs", pc.circ->id(), pc.circ->conflux_legs());
    co_return Status{};
  }

  awaitable<Result<PoolCircuit>> build_on_path(std::vector<proto::RelayTarget> hops, bool add_to_pool = true) {
    const auto launched = Clock::now();
    auto ch = co_await get_channel(hops[0]);
    const auto channel_wait = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - launched);
    if (!ch) {
      // A channel refused because we are stopping says nothing of the guard.
      if (!stopping) mark_guard(hops[0].rsa_id, false);
      co_return std::move(ch).error();
    }
    mark_guard(hops[0].rsa_id, true);
    proto::CcParams cc;
    if (auto nd = dir.netdir(); nd && cfg.congestion_control)
      cc = proto::CcParams::from_consensus([&](std::string_view n, int32_t d, int32_t lo, int32_t hi) {
        return nd->consensus().param(n, d, lo, hi);
      });
    auto circ = co_await TorCircuit::build(*ch, hops, cfg.handshake, cbt.timeout(), cc);
    if (circ && stopping) {
      (*circ)->destroy(0);
      co_return Error(ErrorKind::kClosed, "client is shutting down");
    }
    if (!circ) {
      if (circ.error().kind() == ErrorKind::kTimeout) cbt.add_timeout();
      co_return std::move(circ).error();
    }
    // Logged from launch to the last hop's answer, as C tor's LAUNCHED..BUILT:
    // hop 1 includes any wait for the channel to the guard.
    auto since_launch = channel_wait;
    for (auto t : (*circ)->hop_times()) since_launch += t;
    if (hops.size() == 3) {  // §2.4: only three-hop circuits are recorded
      cbt.add((*circ)->build_time());
      if (++cbt_unsaved >= 20) save_cbt();
    }
    PoolCircuit pc;
    pc.circ = *circ;
    pc.one_hop = hops.size() == 1;
    pc.exit_id = hops.back().rsa_id;
    std::string hop_ms;  // "0.4 + 21.3 + 2.1": where the time went, link by link
    for (auto t : (*circ)->hop_times()) {
      if (hop_ms.empty()) t += channel_wait;
      char b[24];
      std::snprintf(b, sizeof b, "%s%.1f", hop_ms.empty() ? "" : " + ", static_cast<double>(t.count()) / 1000.0);
      hop_ms += b;
    }
    LOG_INFO("circuit %08x built in %lld ms (hops %s ms)", (*circ)->id(), static_cast<long long>(since_launch.count() / 1000),
             hop_ms.c_str());
    if (add_to_pool) circuits.push_back(pc);
    co_return pc;
  }

  bool exit_allows(const PoolCircuit &pc, uint16_t port) const {
    auto nd = dir.netdir();
    if (!nd) return false;
    const path::Relay *r = nd->find(pc.exit_id);
    return r && r->md->ipv4_policy.allows(port);
  }

  bool too_dirty(const PoolCircuit &pc) const {
    return pc.dirty_since && Clock::now() - *pc.dirty_since > cfg.max_circuit_dirtiness;
  }

  PoolCircuit *find_circuit(uint16_t port, const IsolationKey &iso, const std::vector<uint32_t> &avoid) {
    // Best first: a circuit this isolation group already uses (its streams
    // stay together, with one exit, as in C tor), a linked conflux set
    // among those; then a clean linked set, then a clean plain circuit.
    PoolCircuit *best = nullptr;
    int best_score = -1;
    for (auto &pc : circuits) {
      if (pc.one_hop || pc.circ->status() != CircuitStatus::kOpen || too_dirty(pc)) continue;
      if (pc.isolation && !(*pc.isolation == iso)) continue;
      if (std::find(avoid.begin(), avoid.end(), pc.circ->id()) != avoid.end()) continue;
      if (!exit_allows(pc, port)) continue;
      int score = (pc.isolation ? 2 : 0) + (pc.circ->conflux_legs() > 1 ? 1 : 0);
      if (score > best_score) {
        best = &pc;
        best_score = score;
      }
    }
    return best;
  }

  awaitable<Result<std::shared_ptr<TorCircuit>>> circuit_for(uint16_t port, const IsolationKey &iso,
                                                              const std::vector<uint32_t> &avoid) {
    PoolCircuit *pc = find_circuit(port, iso, avoid);
    if (!pc) {
      auto built = co_await build_circuit(port, /*conflux=*/false);
      if (!built) co_return std::move(built).error();
      pc = nullptr;
      for (auto &c : circuits)
        if (c.circ == built->circ) pc = &c;
      if (!pc) co_return Error(ErrorKind::kClosed, "circuit vanished");
    }
    if (!pc->isolation) {
      pc->isolation = iso;
      clean_circuit_taken.notify_all();
    }
    if (!pc->dirty_since) pc->dirty_since = Clock::now();
    co_return pc->circ;
  }

  void prune() {
    const auto t = Clock::now();
    for (auto &pc : circuits) pc.circ->trim_idle_memory(t);
#ifdef __GLIBC__
    // glibc keeps freed blocks in its arenas (this thread's is not the main
    // heap, which trims its top by itself): after big buffers went back
    // (a conflux ring is up to a few MB), give their pages to the system, or
    // the process keeps its high-water mark of resident memory for good.
    if (TorCircuit::take_released_bytes() >= (256u << 10)) malloc_trim(0);
#endif
    for (auto it = circuits.begin(); it != circuits.end();) {
      bool closed = it->circ->status() == CircuitStatus::kClosed;
      bool retire = too_dirty(*it) && it->circ->stream_count() == 0;
      if (closed || retire) {
        if (!closed) it->circ->destroy(0);
        closed_bytes_in += it->circ->bytes_in();
        closed_bytes_out += it->circ->bytes_out();
        it = circuits.erase(it);
      } else {
        ++it;
      }
    }
    // Channels without circuits are closed after a while, as tor does
    // for client channels (tor-spec §2: idle timeout, randomised there).
    auto now = Clock::now();
    for (auto it = channels.begin(); it != channels.end();) {
      if (!it->second->is_open()) {
        channel_idle_since.erase(it->first);
        it = channels.erase(it);
        continue;
      }
      if (it->second->circuit_count() > 0) {
        channel_idle_since.erase(it->first);
      } else {
        auto [idle, fresh] = channel_idle_since.emplace(it->first, now);
        if (!fresh && now - idle->second > kChannelIdleTimeout) {
          it->second->close(Error(ErrorKind::kClosed, "idle channel closed"));
          channel_idle_since.erase(idle);
          it = channels.erase(it);
          continue;
        }
      }
      ++it;
    }
  }

  // One-hop circuit to a guard (a directory cache) for BEGIN_DIR.
  awaitable<Result<std::shared_ptr<TorCircuit>>> dir_circuit() {
    for (auto &pc : circuits)
      if (pc.one_hop && pc.circ->status() == CircuitStatus::kOpen) co_return pc.circ;
    auto nd = dir.netdir();
    if (!nd) co_return Error(ErrorKind::kNotFound, "no directory for BEGIN_DIR yet");
    auto guard = pick_guard(*nd, {}, path::GuardUsage::kDirectory);
    if (!guard) co_return std::move(guard).error();
    std::vector<proto::RelayTarget> hops;
    hops.push_back(to_target(**guard));
    auto pc = co_await build_on_path(std::move(hops));
    if (!pc) co_return std::move(pc).error();
    co_return pc->circ;
  }

  // ---- the main loop: bootstrap, then keep the directory fresh and
  // preemptive circuits ready ----
  awaitable<void> run() {
    dir.set_progress(5, "conn");
    load_guards();
    load_cbt();
    bool warm = dir.load_cache(unix_now());
    if (warm) {
      LOG_NOTICE("directory: usable consensus and %zu microdescriptors loaded from cache", dir.microdesc_count());
      dir.set_progress(75, "enough_dirinfo");
    }
    int failures = 0;
    while (!stopping && !is_bootstrapped) {
      if (!dir.netdir() || dir.netdir()->usable().empty()) {
        dir.set_progress(10, "conn_dir");
        auto st = co_await dir.refresh(unix_now(), nullptr);
        if (!st) {
          bootstrap_error = st.error();
          LOG_WARN("bootstrap: %s", st.error().message().c_str());
          co_await sleep(std::chrono::seconds(std::min(1 << std::min(failures++, 4), 15)));
          continue;
        }
        dir.set_progress(75, "enough_dirinfo");
      }
      dir.set_progress(90, "circuit_create");
      // The first circuit is a conflux set when it can be: the first
      // isolation group stays on it (C tor builds its first circuit plain,
      // which saves the link round trip but leaves that group one leg).
      auto c = co_await build_circuit(0, conflux_set_allowed());
      if (stopping) break;
      if (!c) {
        bootstrap_error = c.error();
        LOG_WARN("bootstrap: first circuit failed: %s", c.error().message().c_str());
        co_await sleep(std::chrono::seconds(std::min(1 << std::min(failures++, 4), 15)));
        continue;
      }
      is_bootstrapped = true;
      bootstrap_error.reset();
      dir.set_progress(100, "done");
      bootstrapped.notify_all();
    }
    while (!stopping) {
      prune();
      int64_t now = unix_now();
      if (now >= dir.next_refresh_time()) {
        auto st = co_await dir.refresh(now, [this]() { return dir_circuit(); });
        if (!st) LOG_WARN("directory refresh: %s", st.error().message().c_str());
      }
      // After a preemptive circuit was built, look again at once: streams
      // may have taken clean circuits meanwhile.
      if (!co_await keep_preemptive()) co_await clean_circuit_taken.wait(std::chrono::seconds(1));
    }
  }

  // path-spec §2.1.1: keep clean circuits ready for the ports used lately.
  // True if it built one.
  awaitable<bool> keep_preemptive() {
    auto now = Clock::now();
    for (auto it = predicted_ports.begin(); it != predicted_ports.end();) {
      if (now - it->second > std::chrono::hours(1)) it = predicted_ports.erase(it);
      else ++it;
    }
    std::vector<uint16_t> ports;
    for (auto &[p, t] : predicted_ports) ports.push_back(p);
    if (ports.empty()) ports.push_back(80);
    for (uint16_t port : ports) {
      // With conflux, only pairs count (a plain circuit built for a waiting
      // stream is not what the next stream should get); without it, or
      // with cfx_max_linked_set reached, every clean circuit does (counting
      // only pairs there built circuits back to back forever).
      const bool pairs_only = conflux_set_allowed();
      size_t clean = 0;
      for (auto &pc : circuits)
        if (!pc.one_hop && !pc.isolation && (pc.conflux_build || !pairs_only) &&
            pc.circ->status() == CircuitStatus::kOpen && exit_allows(pc, port))
          ++clean;
      if (clean < kPreemptiveCircuits) {
        auto r = co_await build_circuit(port, pairs_only);
        if (!r) LOG_INFO("preemptive circuit: %s", r.error().message().c_str());
        co_return r.ok();  // one at a time
      }
    }
    co_return false;
  }

  awaitable<void> sleep(std::chrono::steady_clock::duration d) {
    asio::steady_timer t(owner.io_.get_executor(), d);
    std::error_code ec;
    co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
  }

  void shutdown() {
    stopping = true;
    save_cbt();
    for (auto &pc : circuits) pc.circ->destroy(0);
    circuits.clear();
    for (auto &[id, ch] : channels) ch->close(Error(ErrorKind::kClosed, "client shutting down"));
    channels.clear();
    bootstrapped.notify_all();
    clean_circuit_taken.notify_all();
  }
};

// ------------------------------------------------------------------ client

TorClient::TorClient(ClientConfig cfg) : cfg_(std::move(cfg)), tls_(make_tls_context()) {}

TorClient::~TorClient() { stop(); }

Result<std::shared_ptr<TorClient>> TorClient::create(ClientConfig cfg) {
  std::vector<netdoc::DirAuthority> auths;
  if (cfg.public_network && !cfg.dir_authority_lines.empty())
    return Error(ErrorKind::kInvalidArgument, "public-network and dir-authority lines exclude each other");
  if (cfg.public_network) {
    // Only on explicit request (`public-network`); never in tests or the demo.
    auto pub = netdoc::public_authorities();
    if (!pub) return std::move(pub).error();
    auths = std::move(*pub);
    LOG_NOTICE("using the public Tor network's %zu built-in directory authorities (%s)", auths.size(),
               std::string(netdoc::public_authority_source()).c_str());
  }
  for (size_t i = 0; i < cfg.dir_authority_lines.size(); ++i) {
    auto a = netdoc::DirAuthority::parse(cfg.dir_authority_lines[i]);
    if (!a) return std::move(a).error().context("dir-authority line " + std::to_string(i + 1));
    auths.push_back(std::move(*a));
  }
  if (auths.empty()) return Error(ErrorKind::kInvalidArgument, "no dir-authority configured");
  for (const std::string *d : {&cfg.config_dir, &cfg.cache_dir}) {
    if (d->empty()) continue;
    ::mkdir(d->c_str(), 0700);
    struct stat st;
    if (::stat(d->c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return Error(ErrorKind::kIo, "cannot use directory " + *d);
  }
  std::shared_ptr<TorClient> c(new TorClient(cfg));
  c->impl_ = std::make_unique<Impl>(*c, std::move(cfg), std::move(auths));
  return c;
}

void TorClient::start() {
  if (running_.exchange(true)) return;
  asio::co_spawn(io_, [this]() -> awaitable<void> { co_await impl_->run(); }, asio::detached);
  thread_ = std::thread([this] {
    try {
      io_.run();
    } catch (const std::exception &e) {
      LOG_ERR("runtime thread: %s", e.what());
    }
  });
}

void TorClient::stop() {
  if (!running_.exchange(false)) return;
  std::promise<void> done;
  asio::post(io_, [&] {
    impl_->shutdown();
    done.set_value();
  });
  done.get_future().wait_for(std::chrono::seconds(5));
  // Let close handlers run briefly, then stop the loop.
  asio::steady_timer t(io_, std::chrono::milliseconds(50));
  t.async_wait([this](std::error_code) { io_.stop(); });
  if (thread_.joinable()) thread_.join();
}

awaitable<Status> TorClient::wait_bootstrapped(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!impl_->is_bootstrapped) {
    if (impl_->stopping) co_return Error(ErrorKind::kClosed, "client is shutting down");
    auto now = Clock::now();
    if (now >= deadline) {
      auto [pct, phase] = impl_->dir.progress();
      std::string why = impl_->bootstrap_error ? impl_->bootstrap_error->message() : "no error yet";
      co_return Error(ErrorKind::kTimeout, "not bootstrapped (" + std::to_string(pct) + "% " + phase + "): " + why);
    }
    co_await impl_->bootstrapped.wait(deadline - now);
  }
  co_return Status{};
}

awaitable<Result<std::shared_ptr<TorStream>>> TorClient::connect(std::string host, uint16_t port, IsolationKey iso) {
  const auto started = Clock::now();
  auto ms = [](Clock::duration d) {
    return static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
  };
  TC_CO_TRY_VOID(co_await wait_bootstrapped(std::chrono::seconds(60)));
  impl_->predicted_ports[port] = Clock::now();
  std::vector<uint32_t> tried;
  std::optional<Error> last;
  // IPv6 literals need the exit's permission to use IPv6 (§6.2 flags).
  uint32_t flags = host.find(':') != std::string::npos ? 1u : 0u;
  for (int attempt = 0; attempt < kConnectAttempts; ++attempt) {
    const auto asked = Clock::now();
    auto circ = co_await impl_->circuit_for(port, iso, tried);
    if (!circ) co_return std::move(circ).error();
    const auto got_circuit = Clock::now();
    auto s = co_await (*circ)->open_stream(host, port, flags, kStreamTimeout);
    if (s) {
      // Where a stream's wait went: for a circuit, then BEGIN to CONNECTED.
      const auto now = Clock::now();
      LOG_DEBUG("circuit %08x: stream open after %lld ms (circuit %lld ms, BEGIN..CONNECTED %lld ms)", (*circ)->id(),
                ms(now - started), ms(got_circuit - asked), ms(now - got_circuit));
      co_return s;
    }
    last = s.error();
    tried.push_back((*circ)->id());
    // tor-spec §6.3: some refusals are worth another exit (its policy, its
    // load); others, like CONNECTREFUSED, are the destination's answer.
    if (s.error().kind() == ErrorKind::kRefused) {
      int reason = s.error().code();
      bool retry = reason == 4 /*EXITPOLICY*/ || reason == 1 /*MISC*/ || reason == 11 /*RESOURCELIMIT*/ ||
                   reason == 9 /*HIBERNATING*/ || reason == 10 /*INTERNAL*/;
      if (!retry) break;
    }
  }
  co_return *last;
}

awaitable<Result<std::vector<cell::ResolvedAnswer>>> TorClient::resolve(std::string host, IsolationKey iso) {
  TC_CO_TRY_VOID(co_await wait_bootstrapped(std::chrono::seconds(60)));
  std::optional<Error> last;
  std::vector<uint32_t> tried;
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto circ = co_await impl_->circuit_for(80, iso, tried);
    if (!circ) co_return std::move(circ).error();
    auto r = co_await (*circ)->resolve(host, kStreamTimeout);
    if (r || r.error().kind() == ErrorKind::kRefused) co_return r;
    last = r.error();
    tried.push_back((*circ)->id());
  }
  co_return *last;
}

BootstrapState TorClient::bootstrap_state() const {
  if (!running_ || io_.get_executor().running_in_this_thread()) {
    auto [p, ph] = impl_->dir.progress();
    return {p, ph};
  }
  std::promise<BootstrapState> pr;
  asio::post(const_cast<asio::io_context &>(io_), [&] {
    auto [p, ph] = impl_->dir.progress();
    pr.set_value({p, ph});
  });
  return pr.get_future().get();
}

template <typename F>
static auto run_on(asio::io_context &io, bool running, F fn) -> decltype(fn()) {
  if (!running || io.get_executor().running_in_this_thread()) return fn();
  std::promise<decltype(fn())> pr;
  asio::post(io, [&] { pr.set_value(fn()); });
  return pr.get_future().get();
}

control::StatusSnapshot TorClient::status_snapshot() {
  return run_on(io_, running_, [this] {
    control::StatusSnapshot s;
    auto [p, ph] = impl_->dir.progress();
    s.bootstrap_percent = p;
    s.bootstrap_phase = ph;
    if (auto c = impl_->dir.consensus()) {
      s.consensus_valid_after = static_cast<std::time_t>(c->valid_after);
      s.consensus_valid_until = static_cast<std::time_t>(c->valid_until);
      s.relays_known = static_cast<uint32_t>(c->relays.size());
    }
    for (auto &g : impl_->guards->status()) {
      // One token, e.g. "primary:up" (the CLI prints one status word).
      const char *reach = g.reachable == path::Reachable::kYes  ? "up"
                          : g.reachable == path::Reachable::kNo ? "down"
                                                                : "unknown";
      std::string st = std::string(g.role()) + ":" + reach;
      if (!g.listed) st += ":unlisted";
      s.guards.push_back({g.nickname, g.fingerprint, st});
    }
    s.bytes_in = impl_->closed_bytes_in;
    s.bytes_out = impl_->closed_bytes_out;
    for (auto &pc : impl_->circuits) {
      if (pc.circ->status() != CircuitStatus::kOpen) continue;
      ++s.open_circuits;
      s.open_streams += static_cast<uint32_t>(pc.circ->stream_count());
      s.bytes_in += pc.circ->bytes_in();
      s.bytes_out += pc.circ->bytes_out();
    }
    return s;
  });
}

std::vector<control::CircuitInfo> TorClient::circuit_snapshot() {
  return run_on(io_, running_, [this] {
    std::vector<control::CircuitInfo> out;
    auto now = Clock::now();
    for (auto &pc : impl_->circuits) {
      control::CircuitInfo ci;
      ci.id = pc.circ->id();
      switch (pc.circ->status()) {
        case CircuitStatus::kBuilding: ci.state = "building"; break;
        case CircuitStatus::kOpen: ci.state = impl_->too_dirty(pc) ? "retiring" : "open"; break;
        case CircuitStatus::kClosed: ci.state = "closed"; break;
      }
      ci.age_seconds = static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::seconds>(now - pc.circ->created()).count());
      for (auto &h : pc.circ->path()) ci.path.push_back({h.nickname, hex_encode(h.rsa_id, true)});
      ci.streams = static_cast<uint32_t>(pc.circ->stream_count());
      ci.bytes_in = pc.circ->bytes_in();
      ci.bytes_out = pc.circ->bytes_out();
      if (pc.one_hop) ci.isolation = "directory";
      else if (pc.isolation) ci.isolation = pc.isolation->username.empty() ? "default" : "user:" + pc.isolation->username;
      else ci.isolation = "clean";
      out.push_back(std::move(ci));
    }
    return out;
  });
}

}  // namespace tc::runtime
