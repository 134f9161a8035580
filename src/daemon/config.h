// The `tor { ... }` configuration stanza, shared by torclientd's config file
// and VPP's startup.conf (so both front ends accept exactly the same text).
//
//   tor {
//     enabled                       # or: disabled (default)
//     socks-port 9050               # 1..65535, default 9050
//     socks-address 127.0.0.1       # IPv4/IPv6 literal; non-loopback -> warning
//     config-dir /var/lib/torclient
//     cache-dir /var/cache/torclient
//     cli-socket /run/torclient/cli.sock
//     dir-authority <rest of line>  # repeatable; raw text, parsed by netdoc
//     test-network                  # TestingTorNetwork-style timings (needs dir-authority)
//     public-network                # opt in to the built-in public authorities
//     log-level notice              # debug|info|notice|warn|err
//     log-file /var/log/torclient.log
//     safe-logging on               # on|off
//     max-connections 1024          # concurrent SOCKS connections
//     max-circuit-dirtiness 600     # seconds
//     per-client-rate 0             # bytes/s per SOCKS client, 0 = unlimited
//   }
//
// Syntax: '#' starts a comment to end of line; keyword arguments must be on
// the keyword's line; several keywords may share a line
// (`tor { enabled socks-port 9050 }`). A file may hold other stanzas
// (`unix { ... }`, nested braces allowed); they are skipped.
//
// Errors name the file, the line and what was expected:
//   "torclientd.conf:4: socks-port: expected a port number 1-65535, got 'abc'"
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"
#include "util/log.h"

namespace tc::config {

struct TorConfig {
  bool stanza_found = false;  // a `tor { }` stanza was present
  bool enabled = false;
  uint16_t socks_port = 9050;
  std::string socks_address = "127.0.0.1";
  std::string config_dir = "/var/lib/torclient";
  std::string cache_dir = "/var/cache/torclient";
  std::string cli_socket = "/run/torclient/cli.sock";
  // Raw text after "dir-authority", one entry per line, in order; the
  // DirAuthority line syntax is parsed by src/netdoc.
  std::vector<std::string> dir_authorities;
  bool test_network = false;
  bool public_network = false;
  log::Level log_level = log::Level::kNotice;
  std::string log_file;  // empty: stderr
  bool safe_logging = true;
  bool congestion_control = true;  // "congestion-control on|off" (prop 324)
  bool conflux = true;             // "conflux on|off" (prop 329)
  uint32_t max_connections = 1024;
  uint32_t max_circuit_dirtiness = 600;  // seconds (tor's MaxCircuitDirtiness default 10 min)
  uint64_t per_client_rate = 0;          // bytes/s; 0 = unlimited
  // Accepted but worth telling the operator, each "file:line: text".
  std::vector<std::string> warnings;
};

inline constexpr uint32_t kMaxConnectionsLimit = 1000000;
inline constexpr uint32_t kMaxCircuitDirtinessLimit = 30 * 24 * 3600;  // tor's upper bound: 30 days

// Parse a whole file's text (torclientd.conf or startup.conf): finds the
// single `tor` stanza among others. No stanza: defaults, stanza_found=false.
// `name` is used in messages (usually the file name).
Result<TorConfig> parse_text(std::string_view text, std::string_view name);

// Parse the inside of a `tor { ... }` stanza (without the braces).
// `first_line` is the line number of the body's first line in the file.
Result<TorConfig> parse_stanza_body(std::string_view body, std::string_view name,
                                    int first_line = 1);

// Read `path` and parse_text() it (messages name the path as given). The
// only function here that does I/O.
Result<TorConfig> load_file(const std::string &path);

// Checks that hold for any usable config, applied by the parsers when the
// stanza says `enabled`: authorities chosen (public-network XOR
// dir-authority), test-network only with dir-authority lines.
Status validate(const TorConfig &c, std::string_view name);

}  // namespace tc::config
