#include "runtime/directory.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "crypto/crypto.h"
#include "runtime/dirclient.h"
#include "runtime/event.h"
#include "util/file.h"
#include "util/log.h"

namespace tc::runtime {

using asio::awaitable;

namespace {
// A whole directory response must arrive within kDirTimeout; the connect
// and the first byte of the answer within kDirFirstByteTimeout (a frozen
// authority accepts TCP and never answers). When an authority has not
// answered after kDirHedgeDelay, the next one is asked as well, up to
// kDirMaxInFlight at once, and the first good answer wins: tor's bootstrap
// does the same with its download schedules (dir-spec §5, tor's
// ClientBootstrapConsensusMaxInProgressTries = 3).
constexpr auto kDirTimeout = std::chrono::seconds(30);
constexpr auto kDirFirstByteTimeout = std::chrono::seconds(10);
constexpr auto kDirHedgeDelay = std::chrono::seconds(3);
constexpr size_t kDirMaxInFlight = 3;
constexpr size_t kMicrodescBatch = 92;  // dir-spec §5.3: at most 92 per request
const char *kConsensusFile = "cached-microdesc-consensus";
const char *kCertsFile = "cached-certs";
const char *kMicrodescsFile = "cached-microdescs";
}  // namespace

Directory::Directory(asio::any_io_executor ex, DirectoryOptions opts) : ex_(ex), opts_(std::move(opts)) {
  authority_ids_ = netdoc::v3_identities(opts_.authorities);
  if (!opts_.authorities.empty()) next_authority_ = crypto::random_uniform(opts_.authorities.size());
}

void Directory::set_progress(int percent, std::string phase) {
  if (percent == percent_ && phase == phase_) return;
  percent_ = percent;
  phase_ = std::move(phase);
  LOG_NOTICE("Bootstrapped %d%% (%s)", percent_, phase_.c_str());
}

void Directory::save(const std::string &name, std::string_view data) {
  if (opts_.cache_dir.empty()) return;
  auto st = write_file_atomic(opts_.cache_dir + "/" + name, data);
  if (!st) LOG_WARN("cache: %s", st.error().message().c_str());
}

bool Directory::load_cache(int64_t now) {
  if (opts_.cache_dir.empty()) return false;
  auto discard = [&](const char *name, const Error &e) {
    LOG_WARN("cache: discarding %s: %s", name, e.message().c_str());
    ::unlink((opts_.cache_dir + "/" + name).c_str());
  };
  if (auto text = read_file(opts_.cache_dir + "/" + kCertsFile); text) {
    auto certs = netdoc::parse_authority_certs(*text);
    if (!certs) {
      discard(kCertsFile, certs.error());
    } else {
      certs_text_ = std::move(*text);
      for (auto &c : *certs)
        if (c.verify(now).ok()) certs_.push_back(std::move(c));
    }
  }
  if (auto text = read_file(opts_.cache_dir + "/" + kConsensusFile); text) {
    auto c = netdoc::Consensus::parse(std::move(*text));
    if (!c) {
      discard(kConsensusFile, c.error());
    } else {
      auto cp = std::make_shared<netdoc::Consensus>(std::move(*c));
      auto st = accept_consensus(cp, now);
      if (!st) {
        // Refused only for want of certificates (cached-certs lost,
        // corrupt or expired): keep it until they have been fetched
        // again rather than download a whole new consensus.
        bool certs_only = st.error().kind() == ErrorKind::kCrypto && cp->is_reasonably_live(now) &&
                          cp->flavor == netdoc::ConsensusFlavor::kMicrodesc && !missing_certs(*cp).empty();
        if (certs_only) {
          LOG_WARN("cache: %s is signed by %zu authorities whose certificates we lack; fetching them",
                   kConsensusFile, missing_certs(*cp).size());
          pending_consensus_ = std::move(cp);
        } else {
          discard(kConsensusFile, st.error());
        }
      }
    }
  }
  if (auto text = read_file(opts_.cache_dir + "/" + kMicrodescsFile); text) {
    auto batch = netdoc::parse_microdescs_lenient(*text);
    microdescs_ = std::move(batch.microdescs);
    microdescs_text_ = std::move(*text);
    if (!batch.errors.empty()) {
      LOG_WARN("cache: %zu unusable parts of %s skipped (first: %s); rewriting it", batch.errors.size(),
               kMicrodescsFile, batch.errors.front().message().c_str());
      maybe_compact_microdescs(/*force=*/true);
    } else {
      maybe_compact_microdescs(/*force=*/false);
    }
  }
  if (!consensus_) return false;
  rebuild_netdir();
  return netdir_ != nullptr;
}

awaitable<Result<proto::HttpResponse>> Directory::get(std::string path, DirCircuitSource &dir_circuit) {
  // BEGIN_DIR first (dir-spec §6), then the authorities' DirPorts.
  std::optional<Error> last;
  if (dir_circuit) {
    auto circ = co_await dir_circuit();
    if (circ) {
      auto r = co_await http_get_begindir(*circ, path, kDirTimeout, kDirFirstByteTimeout);
      if (r) co_return r;
      last = r.error();
      LOG_INFO("directory: BEGIN_DIR fetch failed: %s", r.error().message().c_str());
    } else {
      last = circ.error();
    }
  }
  auto r = co_await get_dirport(path);
  if (r || !last) co_return r;
  co_return std::move(r).error().context(last->message());
}

awaitable<Result<proto::HttpResponse>> Directory::get_dirport(const std::string &path) {
  // The authorities with a DirPort, starting with the one that answered last.
  std::vector<size_t> order;
  for (size_t i = 0; i < opts_.authorities.size(); ++i) {
    size_t k = (next_authority_ + i) % opts_.authorities.size();
    if (opts_.authorities[k].dir_port != 0) order.push_back(k);
  }
  if (order.empty()) co_return Error(ErrorKind::kNotFound, "no directory to ask for " + path);

  // The race's state outlives this coroutine if a loser is still running.
  struct Race {
    explicit Race(asio::any_io_executor ex) : changed(ex) {}
    Event changed;
    std::optional<proto::HttpResponse> winner;
    size_t winner_index = 0;
    size_t running = 0;
    size_t failures = 0;
    std::optional<Error> last;
    std::vector<std::shared_ptr<DirCancel>> cancels;
  };
  auto race = std::make_shared<Race>(ex_);
  size_t launched = 0;
  auto launch = [&] {
    size_t k = order[launched++];
    auto cancel = std::make_shared<DirCancel>();
    race->cancels.push_back(cancel);
    ++race->running;
    const auto &a = opts_.authorities[k];
    asio::co_spawn(
        ex_,
        [race, cancel, k, ex = ex_, address = a.address, port = a.dir_port, nickname = a.nickname,
         path]() -> awaitable<void> {
          auto r = co_await http_get_dirport(ex, address, port, path, kDirTimeout, kDirFirstByteTimeout, cancel);
          --race->running;
          if (r && !race->winner) {
            race->winner = std::move(*r);
            race->winner_index = k;
          } else if (!r && !cancel->cancelled) {
            LOG_INFO("directory: %s from %s failed: %s", path.c_str(), nickname.c_str(), r.error().message().c_str());
            race->last = r.error();
          }
          if (!r) ++race->failures;
          race->changed.notify_all();
        },
        asio::detached);
  };
  launch();
  for (;;) {
    if (race->winner) break;
    if (race->running == 0 && launched == order.size()) break;
    // Nothing running (all failed fast): the next one at once.
    if (race->running == 0) {
      launch();
      continue;
    }
    size_t failures_before = race->failures;
    bool notified = co_await race->changed.wait(kDirHedgeDelay);
    if (race->winner || launched == order.size() || race->running >= kDirMaxInFlight) continue;
    if (!notified) {
      LOG_INFO("directory: no answer for %s after %lld s; asking another authority as well", path.c_str(),
               static_cast<long long>(kDirHedgeDelay.count()));
      launch();
    } else if (race->failures != failures_before) {
      launch();  // one failed: its replacement at once
    }
  }
  for (auto &c : race->cancels) c->cancel();  // the losers
  if (race->winner) {
    next_authority_ = race->winner_index;
    co_return std::move(*race->winner);
  }
  co_return race->last ? *race->last : Error(ErrorKind::kNotFound, "no directory answered " + path);
}

awaitable<Status> Directory::fetch_certs(int64_t now, DirCircuitSource &dir_circuit,
                                         const std::vector<netdoc::Sha1Digest> &missing) {
  std::string path = "/tor/keys/fp/";
  for (size_t i = 0; i < missing.size(); ++i) {
    if (i) path += "+";
    path += hex_encode(missing[i], true);
  }
  auto r = co_await get(path, dir_circuit);
  if (!r) co_return std::move(r).error();
  std::string text(as_string_view(r->body));
  auto certs = netdoc::parse_authority_certs(text);
  if (!certs) co_return std::move(certs).error().context("authority certificates");
  size_t added = 0;
  for (auto &c : *certs) {
    auto st = c.verify(now);
    if (!st) {
      LOG_WARN("directory: refusing an authority certificate: %s", st.error().message().c_str());
      continue;
    }
    if (std::find(authority_ids_.begin(), authority_ids_.end(), c.fingerprint) == authority_ids_.end()) continue;
    bool dup = false;
    for (auto &have : certs_) dup |= have.signing_key_digest == c.signing_key_digest;
    if (dup) continue;
    certs_.push_back(std::move(c));
    ++added;
  }
  if (added) {
    certs_text_ += text;
    if (!certs_text_.empty() && certs_text_.back() != '\n') certs_text_ += '\n';
    save(kCertsFile, certs_text_);
  }
  co_return Status{};
}

Status Directory::accept_consensus(std::shared_ptr<netdoc::Consensus> c, int64_t now) {
  if (c->flavor != netdoc::ConsensusFlavor::kMicrodesc)
    return Error(ErrorKind::kMalformed, "not a microdescriptor consensus");
  if (!c->is_reasonably_live(now))
    return Error(ErrorKind::kRefused, "consensus valid-after " + netdoc::format_iso_time(c->valid_after) +
                                          " valid-until " + netdoc::format_iso_time(c->valid_until) +
                                          " is not live now");
  if (consensus_ && c->valid_after < consensus_->valid_after)
    return Error(ErrorKind::kRefused, "consensus is older than the one we have");
  auto report = c->verify_signatures(certs_, authority_ids_, now);
  if (!report) return std::move(report).error();
  consensus_ = std::move(c);
  schedule_refresh();
  // A consensus fetched late in its own window must not be re-fetched at once.
  next_refresh_ = std::max(next_refresh_, now + 5);
  return {};
}

std::vector<netdoc::Sha1Digest> Directory::missing_certs(const netdoc::Consensus &c) const {
  // dir-spec §5.2: certificates for signers we cannot check yet.
  std::vector<netdoc::Sha1Digest> missing;
  for (auto &sig : c.signatures) {
    if (std::find(authority_ids_.begin(), authority_ids_.end(), sig.identity) == authority_ids_.end()) continue;
    bool have = false;
    for (auto &cert : certs_) have |= cert.fingerprint == sig.identity && cert.signing_key_digest == sig.signing_key_digest;
    if (!have && std::find(missing.begin(), missing.end(), sig.identity) == missing.end()) missing.push_back(sig.identity);
  }
  return missing;
}

bool Directory::maybe_compact_microdescs(bool force) {
  // Like tor's microdesc cache: the journal is appended to as
  // microdescriptors arrive and rebuilt when it is mostly dead weight.
  const netdoc::Consensus *c = consensus_ ? consensus_.get() : pending_consensus_.get();
  std::set<netdoc::Sha256Digest> keep;
  if (c) {
    for (auto &rs : c->relays)
      if (rs.has_microdesc_digest) keep.insert(rs.microdesc_digest);
  } else {
    for (auto &md : microdescs_) keep.insert(md.digest);  // nothing to judge by: keep what parses
  }
  size_t live = 0;
  std::set<netdoc::Sha256Digest> counted;
  for (auto &md : microdescs_)
    if (keep.count(md.digest) && counted.insert(md.digest).second) live += md.text_length + 1;
  if (!force && microdescs_text_.size() <= 2 * live) return false;
  size_t before = microdescs_text_.size(), n_before = microdescs_.size();
  auto compacted = netdoc::compact_microdesc_journal(microdescs_text_, std::move(microdescs_), keep);
  microdescs_text_ = std::move(compacted.text);
  microdescs_ = std::move(compacted.microdescs);
  LOG_INFO("directory: %s compacted: %zu -> %zu bytes, %zu -> %zu microdescriptors", kMicrodescsFile, before,
           microdescs_text_.size(), n_before, microdescs_.size());
  save(kMicrodescsFile, microdescs_text_);
  return true;
}

void Directory::schedule_refresh() {
  // dir-spec §5.1: clients fetch a new consensus at a random time after
  // fresh-until, spread over the first 3/4 of the time left until valid-until
  // (shortened in test networks by their fast voting schedule).
  int64_t fresh = consensus_->fresh_until, valid = consensus_->valid_until;
  int64_t span = std::max<int64_t>(1, (valid - fresh) * 3 / 4);
  next_refresh_ = fresh + static_cast<int64_t>(crypto::random_uniform(static_cast<uint64_t>(span)));
}

void Directory::rebuild_netdir() {
  if (!consensus_) return;
  std::set<netdoc::Sha256Digest> wanted;
  for (auto &rs : consensus_->relays)
    if (rs.has_microdesc_digest) wanted.insert(rs.microdesc_digest);
  std::vector<netdoc::Microdesc> used;
  used.reserve(wanted.size());
  for (auto &md : microdescs_)
    if (wanted.count(md.digest)) used.push_back(md);
  netdir_ = std::make_shared<path::PathSelector>(consensus_, std::move(used), opts_.path_options);
}

awaitable<Status> Directory::refresh(int64_t now, DirCircuitSource dir_circuit) {
  auto st = co_await refresh_once(now, std::move(dir_circuit));
  if (st) {
    failures_ = 0;
  } else {
    // Back off after a failure (5 s doubling to 5 min) instead of retrying
    // on every tick of the caller's loop.
    ++failures_;
    next_refresh_ = now + retry_delay();
  }
  co_return st;
}

int64_t Directory::retry_delay() const {
  int shift = std::min(failures_, 6);
  return std::min<int64_t>(int64_t{5} << shift, 300);
}

awaitable<Status> Directory::refresh_once(int64_t now, DirCircuitSource dir_circuit) {
  if (opts_.authorities.empty()) co_return Error(ErrorKind::kInvalidArgument, "no directory authorities configured");
  if (pending_consensus_) {
    // A cached consensus waits for certificates (load_cache): fetch them,
    // then check it as if it had just arrived.
    auto pending = std::move(pending_consensus_);
    pending_consensus_.reset();
    auto missing = missing_certs(*pending);
    if (percent_ < 40) set_progress(40, "loading_keys");
    auto st = co_await fetch_certs(now, dir_circuit, missing);
    if (!st) {
      pending_consensus_ = std::move(pending);  // try again next time
      co_return std::move(st).error().context("fetching authority certificates for the cached consensus");
    }
    auto acc = consensus_ ? Status(Error(ErrorKind::kRefused, "a consensus arrived meanwhile"))
                          : accept_consensus(pending, now);
    if (acc) {
      LOG_NOTICE("directory: cached consensus valid-after %s accepted after fetching authority certificates",
                 netdoc::format_iso_time(consensus_->valid_after).c_str());
      maybe_compact_microdescs(false);
    } else {
      LOG_WARN("cache: discarding %s: %s", kConsensusFile, acc.error().message().c_str());
      if (!opts_.cache_dir.empty()) ::unlink((opts_.cache_dir + "/" + kConsensusFile).c_str());
    }
  }
  bool need_consensus = !consensus_ || !consensus_->is_live(now) || now >= next_refresh_;
  if (need_consensus) {
    if (percent_ < 25) set_progress(25, "requesting_status");
    auto r = co_await get("/tor/status-vote/current/consensus-microdesc", dir_circuit);
    if (!r) co_return std::move(r).error().context("fetching consensus");
    if (percent_ < 30) set_progress(30, "loading_status");
    auto parsed = netdoc::Consensus::parse(std::string(as_string_view(r->body)));
    if (!parsed) co_return std::move(parsed).error().context("consensus");
    auto c = std::make_shared<netdoc::Consensus>(std::move(*parsed));
    // Certificates for signers we cannot check yet (dir-spec §5.2).
    std::vector<netdoc::Sha1Digest> missing = missing_certs(*c);
    if (!missing.empty()) {
      if (percent_ < 40) set_progress(40, "loading_keys");
      auto st = co_await fetch_certs(now, dir_circuit, missing);
      if (!st) co_return std::move(st).error().context("fetching authority certificates");
    }
    if (consensus_ && c->valid_after <= consensus_->valid_after) {
      // Nothing newer yet (the cache we asked lags behind): keep ours and
      // ask again a little later rather than right away.
      LOG_INFO("directory: no consensus newer than valid-after %s yet",
               netdoc::format_iso_time(consensus_->valid_after).c_str());
      next_refresh_ = now + retry_delay();
      co_return Status{};
    }
    auto st = accept_consensus(c, now);
    if (!st) co_return std::move(st).error().context("consensus refused");
    save(kConsensusFile, consensus_->text());
    // Microdescriptors the previous consensus listed and this one does not
    // are dead weight now.
    maybe_compact_microdescs(false);
    LOG_INFO("directory: consensus valid-after %s with %zu relays accepted",
             netdoc::format_iso_time(consensus_->valid_after).c_str(), consensus_->relays.size());
  }

  // Microdescriptors the consensus lists and we lack (dir-spec §5.3).
  std::set<netdoc::Sha256Digest> have;
  for (auto &md : microdescs_) have.insert(md.digest);
  std::vector<netdoc::Sha256Digest> missing;
  for (auto &rs : consensus_->relays)
    if (rs.has_microdesc_digest && !have.count(rs.microdesc_digest)) missing.push_back(rs.microdesc_digest);
  if (!missing.empty() && percent_ < 45) set_progress(45, "requesting_descriptors");
  size_t fetched = 0;
  for (size_t i = 0; i < missing.size(); i += kMicrodescBatch) {
    size_t end = std::min(missing.size(), i + kMicrodescBatch);
    std::string path = "/tor/micro/d/";
    std::set<netdoc::Sha256Digest> asked;
    for (size_t j = i; j < end; ++j) {
      if (j > i) path += "-";
      path += base64_encode(missing[j], /*pad=*/false);
      asked.insert(missing[j]);
    }
    auto r = co_await get(path, dir_circuit);
    if (!r) {
      LOG_WARN("directory: microdescriptor batch failed: %s", r.error().message().c_str());
      continue;
    }
    std::string_view text = as_string_view(r->body);
    auto batch = netdoc::parse_microdescs_lenient(text);
    for (auto &e : batch.errors) LOG_WARN("directory: bad microdescriptor skipped: %s", e.message().c_str());
    for (auto &md : batch.microdescs) {
      // Only what we asked for: the digest is the document's name (§3.3).
      // Only their text goes into the journal (offsets into it).
      if (!asked.count(md.digest) || have.count(md.digest)) continue;
      std::string_view one = text.substr(md.text_offset, md.text_length);
      md.text_offset = microdescs_text_.size();
      microdescs_text_ += one;
      if (one.empty() || one.back() != '\n') microdescs_text_ += '\n';
      have.insert(md.digest);
      microdescs_.push_back(std::move(md));
      ++fetched;
    }
    int pct = 50 + static_cast<int>(25 * end / missing.size());
    set_progress(std::min(pct, 74), "loading_descriptors");
  }
  if (!maybe_compact_microdescs(false) && fetched) save(kMicrodescsFile, microdescs_text_);
  rebuild_netdir();
  if (!netdir_ || netdir_->usable().empty())
    co_return Error(ErrorKind::kNotFound, "directory has no usable relays");
  co_return Status{};
}

}  // namespace tc::runtime
