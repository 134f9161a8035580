// The client's view of the network (dir-spec §5): authority certificates,
// a consensus verified by a majority of the configured authorities, and the
// microdescriptors it lists; kept in cache-dir and refreshed before expiry.
#pragma once
#include <asio.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "netdoc/authority.h"
#include "netdoc/cert.h"
#include "netdoc/consensus.h"
#include "netdoc/microdesc.h"
#include "path/path.h"
#include "proto/http.h"
#include "runtime/circuit.h"

namespace tc::runtime {

// Where to send a BEGIN_DIR request: a function that gives a one-hop
// circuit to some directory cache (an authority or a guard).
using DirCircuitSource = std::function<asio::awaitable<Result<std::shared_ptr<TorCircuit>>>()>;

struct DirectoryOptions {
  std::vector<netdoc::DirAuthority> authorities;
  std::string cache_dir;  // empty: no cache
  path::PathOptions path_options;
};

class Directory {
 public:
  Directory(asio::any_io_executor ex, DirectoryOptions opts);

  // Loads whatever usable documents the cache holds. A corrupt or truncated
  // file is discarded with a warning. True if the result is usable now.
  bool load_cache(int64_t now);
  // Fetches what is missing or stale: certificates, consensus,
  // microdescriptors. Over BEGIN_DIR when `dir_circuit` is set and works,
  // otherwise over an authority's DirPort.
  asio::awaitable<Status> refresh(int64_t now, DirCircuitSource dir_circuit);

  // The current directory for path selection (null until bootstrapped).
  std::shared_ptr<const path::PathSelector> netdir() const { return netdir_; }
  std::shared_ptr<const netdoc::Consensus> consensus() const { return consensus_; }
  // When the next refresh should start (dir-spec §5.1: a random time in the
  // second half of the consensus's fresh period).
  int64_t next_refresh_time() const { return next_refresh_; }
  // For progress reports: (percent, phase).
  std::pair<int, std::string> progress() const { return {percent_, phase_}; }
  void set_progress(int percent, std::string phase);
  const std::vector<netdoc::DirAuthority> &authorities() const { return opts_.authorities; }
  // The used/needed microdescriptor counts, for logs.
  size_t microdesc_count() const { return microdescs_.size(); }
  // Bytes in the cached-microdescs journal (for tests and logs).
  size_t microdesc_journal_size() const { return microdescs_text_.size(); }

 private:
  asio::awaitable<Status> refresh_once(int64_t now, DirCircuitSource dir_circuit);
  int64_t retry_delay() const;
  asio::awaitable<Result<proto::HttpResponse>> get(std::string path, DirCircuitSource &dir_circuit);
  // Over the authorities' DirPorts, racing another one when the first is slow.
  asio::awaitable<Result<proto::HttpResponse>> get_dirport(const std::string &path);
  asio::awaitable<Status> fetch_certs(int64_t now, DirCircuitSource &dir_circuit,
                                      const std::vector<netdoc::Sha1Digest> &missing);
  Status accept_consensus(std::shared_ptr<netdoc::Consensus> c, int64_t now);
  // Signers of `c` among our authorities whose certificate we lack.
  std::vector<netdoc::Sha1Digest> missing_certs(const netdoc::Consensus &c) const;
  // Rewrites cached-microdescs with only what the consensus lists, when the
  // journal has grown past twice that (or held unusable parts). True if
  // it did (and saved the file).
  bool maybe_compact_microdescs(bool force);
  void rebuild_netdir();
  void save(const std::string &name, std::string_view data);
  void schedule_refresh();

  asio::any_io_executor ex_;
  DirectoryOptions opts_;
  std::vector<netdoc::Sha1Digest> authority_ids_;
  std::vector<netdoc::AuthorityCert> certs_;
  std::string certs_text_;
  std::shared_ptr<const netdoc::Consensus> consensus_;
  // A cached consensus that could not be checked yet because certificates
  // were missing or unusable: accepted once they have been fetched.
  std::shared_ptr<netdoc::Consensus> pending_consensus_;
  std::vector<netdoc::Microdesc> microdescs_;  // offsets into microdescs_text_
  std::string microdescs_text_;                // the cached-microdescs journal
  std::shared_ptr<const path::PathSelector> netdir_;
  int64_t next_refresh_ = 0;
  int percent_ = 0;
  std::string phase_ = "starting";
  size_t next_authority_ = 0;
  int failures_ = 0;
};

}  // namespace tc::runtime
