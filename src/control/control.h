// The operator CLI, shared by torclientctl (over a unix socket) and the VPP
// plugin's CLI, so both parse the same commands and print the same text.
// No I/O here: command text in, Command out; plain structs in, text out.
//
// Commands (words separated by spaces/tabs; keywords are case-sensitive):
//   show tor status
//   show tor circuits
//   tor client enable [port N]        N in 1..65535
//   tor client disable
//   tor client config dir DIR         configuration/state directory
//   tor client config cache-dir DIR   directory cache
//   help
//
// Output formats (stable: tests and the VPP plugin depend on them; every
// line ends with '\n'):
//
// format_status(), enabled:
//   Tor client: enabled, SOCKS port 9050
//   Bootstrapped 100% (done)
//   Consensus: valid-after 2026-11-25 10:00:00, valid-until 2026-11-25 13:00:00
//   Relays known: 8
//   Guards: 2
//     relay1  $ABCD1234  up
//     relay22 $0F0F0F0F  down
//   Circuits: 3 open, streams: 5 open
//   Traffic: 10.5 MB in, 1.2 MB out
// - "Consensus: none" when valid_after == 0. Times are UTC.
// - The Guards list is omitted when empty ("Guards: 0"); nicknames are
//   padded to the longest one; the fingerprint shows its first 8 hex digits
//   in upper case, '$'-prefixed.
// format_status(), disabled: the single line "Tor client: disabled".
//
// format_circuits(): a table, columns separated by two spaces, each column
// padded to its widest cell (the last column is not padded):
//   ID  STATE  AGE    PATH                                                STREAMS  IN      OUT
//   3   open   2m05s  relay1~ABCD1234 > relay3~0F0F0F0F > exit1~12345678  2        1.5 kB  300 B
// - AGE: format_age(); IN/OUT: format_bytes(); PATH: hops joined by " > ",
//   each "nickname~FPR8" (FPR8 = first 8 hex digits, upper case).
// - No circuits: the single line "No open circuits."
//
// format_bytes(): "512 B", then one decimal with SI units: "1.5 kB",
// "10.5 MB", "2.0 GB", "1.0 TB" (1 kB = 1000 B).
// format_age(): "45s", "2m05s", "3h07m", "2d04h".
#pragma once
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "util/error.h"

namespace tc::control {

// ---- Commands --------------------------------------------------------------

struct ShowStatus {
  bool operator==(const ShowStatus &) const = default;
};
struct ShowCircuits {
  bool operator==(const ShowCircuits &) const = default;
};
struct ClientEnable {
  std::optional<uint16_t> port;  // "port N" given
  bool operator==(const ClientEnable &) const = default;
};
struct ClientDisable {
  bool operator==(const ClientDisable &) const = default;
};
struct ConfigDir {
  std::string dir;
  bool operator==(const ConfigDir &) const = default;
};
struct ConfigCacheDir {
  std::string dir;
  bool operator==(const ConfigCacheDir &) const = default;
};
struct Help {
  bool operator==(const Help &) const = default;
};

using Command =
    std::variant<ShowStatus, ShowCircuits, ClientEnable, ClientDisable, ConfigDir, ConfigCacheDir, Help>;

// Errors (kInvalidArgument): "unknown command: <text>", "empty command",
// "tor client enable: expected a port number 1-65535 after 'port', got 'x'",
// "tor client config dir: expected a directory".
Result<Command> parse_command(std::string_view line);
// Canonical text of a command; parse_command(format_command(c)) == c.
std::string format_command(const Command &c);
// The command summary printed for `help`.
std::string help_text();

// ---- Snapshots and formatters ----------------------------------------------

struct GuardInfo {
  std::string nickname;
  std::string fingerprint;  // hex, any case; shown as its first 8 digits
  std::string status;       // free text, e.g. "up", "down", "primary"
};

struct StatusSnapshot {
  bool enabled = false;
  uint16_t socks_port = 0;
  int bootstrap_percent = 0;
  std::string bootstrap_phase;     // e.g. "done", "loading microdescriptors"
  std::time_t consensus_valid_after = 0;  // 0 = no consensus
  std::time_t consensus_valid_until = 0;
  uint32_t relays_known = 0;
  std::vector<GuardInfo> guards;
  uint32_t open_circuits = 0;
  uint32_t open_streams = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
};

struct HopInfo {
  std::string nickname;
  std::string fingerprint;  // hex
};

struct CircuitInfo {
  uint32_t id = 0;
  std::string state;  // e.g. "building", "open", "closing"
  uint64_t age_seconds = 0;
  std::vector<HopInfo> path;
  uint32_t streams = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  std::string isolation;  // isolation tag, informational (not printed in the table)
};

std::string format_status(const StatusSnapshot &s);
std::string format_circuits(const std::vector<CircuitInfo> &circuits);
std::string format_bytes(uint64_t n);
std::string format_age(uint64_t seconds);
// "YYYY-MM-DD HH:MM:SS" in UTC.
std::string format_time_utc(std::time_t t);
// "nickname~ABCD1234"
std::string format_hop(const HopInfo &h);

// ---- Unix-socket wire protocol ---------------------------------------------
//
// Request: the command text on one line: "<command>\n" (no other '\n' or
// '\r', at most kMaxRequestLine bytes before the newline; a trailing '\r'
// before the '\n' is tolerated and dropped).
// Reply: a header line then the text: "OK <len>\n<len bytes>" or
// "ERR <len>\n<len bytes>", <len> decimal, at most kMaxReplyText.
// One request, one reply; the client may then send another request.

inline constexpr size_t kMaxRequestLine = 4096;
inline constexpr size_t kMaxReplyText = 16 * 1024 * 1024;

struct Reply {
  bool ok = true;
  std::string text;
  bool operator==(const Reply &) const = default;
};

// Fails (kInvalidArgument) if `command` contains a newline or is too long.
Result<std::string> encode_request(std::string_view command);
std::string encode_reply(const Reply &r);

// Incremental decoders: take one complete message off the front of `buf`
// (consuming it), nullopt if more bytes are needed, or an error
// (kMalformed / kExhausted) after which the connection should be closed.
Result<std::optional<std::string>> decode_request(std::string &buf);
Result<std::optional<Reply>> decode_reply(std::string &buf);

}  // namespace tc::control
