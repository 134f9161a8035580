#include "control/control.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>

namespace tc::control {

namespace {

std::vector<std::string_view> split_words(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) ++i;
    size_t b = i;
    while (i < s.size() && !(s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) ++i;
    if (i > b) out.push_back(s.substr(b, i - b));
  }
  return out;
}

std::string join(const std::vector<std::string_view> &w, size_t from = 0) {
  std::string out;
  for (size_t i = from; i < w.size(); ++i) {
    if (i > from) out += ' ';
    out += w[i];
  }
  return out;
}

Error invalid(std::string msg) { return Error(ErrorKind::kInvalidArgument, std::move(msg)); }

bool words_are(const std::vector<std::string_view> &w, std::initializer_list<std::string_view> prefix) {
  if (w.size() < prefix.size()) return false;
  return std::equal(prefix.begin(), prefix.end(), w.begin());
}

std::string fpr8(std::string_view fp) {
  if (!fp.empty() && fp[0] == '$') fp.remove_prefix(1);
  std::string out(fp.substr(0, 8));
  for (char &c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string pad(std::string s, size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

}  // namespace

// ---- Commands --------------------------------------------------------------

namespace {
// Fills `out` (the public wrapper below moves it into a Result).
Status parse_into(std::string_view line, Command &out) {
  auto w = split_words(line);
  if (w.empty()) return invalid("empty command");

  auto no_more = [&](size_t n, const char *cmd) -> Status {
    if (w.size() > n) return invalid(std::string(cmd) + ": unexpected '" + join(w, n) + "'");
    return {};
  };

  if (words_are(w, {"help"})) {
    TC_TRY_VOID(no_more(1, "help"));
    out = Help{};
    return {};
  }
  if (words_are(w, {"show", "tor", "status"})) {
    TC_TRY_VOID(no_more(3, "show tor status"));
    out = ShowStatus{};
    return {};
  }
  if (words_are(w, {"show", "tor", "circuits"})) {
    TC_TRY_VOID(no_more(3, "show tor circuits"));
    out = ShowCircuits{};
    return {};
  }
  if (words_are(w, {"tor", "client", "enable"})) {
    ClientEnable e;
    if (w.size() > 3) {
      if (w[3] != "port") return invalid("tor client enable: unexpected '" + join(w, 3) + "'");
      const char *exp = "tor client enable: expected a port number 1-65535 after 'port'";
      if (w.size() < 5) return invalid(std::string(exp) + ", got end of line");
      uint32_t p = 0;
      auto v = w[4];
      auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), p);
      if (ec != std::errc() || ptr != v.data() + v.size() || p < 1 || p > 65535)
        return invalid(std::string(exp) + ", got '" + std::string(v) + "'");
      e.port = static_cast<uint16_t>(p);
      TC_TRY_VOID(no_more(5, "tor client enable"));
    }
    out = e;
    return {};
  }
  if (words_are(w, {"tor", "client", "disable"})) {
    TC_TRY_VOID(no_more(3, "tor client disable"));
    out = ClientDisable{};
    return {};
  }
  if (words_are(w, {"tor", "client", "config", "dir"}) ||
      words_are(w, {"tor", "client", "config", "cache-dir"})) {
    std::string cmd = "tor client config " + std::string(w[3]);
    if (w.size() < 5) return invalid(cmd + ": expected a directory");
    TC_TRY_VOID(no_more(5, cmd.c_str()));
    if (w[3] == "dir")
      out = ConfigDir{std::string(w[4])};
    else
      out = ConfigCacheDir{std::string(w[4])};
    return {};
  }
  return invalid("unknown command: " + join(w) + " (try 'help')");
}
}  // namespace

// GCC 12 reports a false -Wmaybe-uninitialized when a std::variant holding
// strings is moved into Result's own variant (GCC PR 80635 family).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
Result<Command> parse_command(std::string_view line) {
  Command out;
  Status st = parse_into(line, out);
  if (!st.ok()) return std::move(st).error();
  return out;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

std::string format_command(const Command &c) {
  struct V {
    std::string operator()(const ShowStatus &) const { return "show tor status"; }
    std::string operator()(const ShowCircuits &) const { return "show tor circuits"; }
    std::string operator()(const ClientEnable &e) const {
      return e.port ? "tor client enable port " + std::to_string(*e.port) : "tor client enable";
    }
    std::string operator()(const ClientDisable &) const { return "tor client disable"; }
    std::string operator()(const ConfigDir &d) const { return "tor client config dir " + d.dir; }
    std::string operator()(const ConfigCacheDir &d) const {
      return "tor client config cache-dir " + d.dir;
    }
    std::string operator()(const Help &) const { return "help"; }
  };
  return std::visit(V{}, c);
}

std::string help_text() {
  return "Commands:\n"
         "  show tor status                  client state, bootstrap, consensus, guards, traffic\n"
         "  show tor circuits                circuits with their paths, streams and traffic\n"
         "  tor client enable [port N]       start the client (SOCKS on port N)\n"
         "  tor client disable               stop the client, closing circuits and streams\n"
         "  tor client config dir DIR        set the state directory\n"
         "  tor client config cache-dir DIR  set the directory cache location\n"
         "  help                             this text\n";
}

// ---- Formatters ------------------------------------------------------------

std::string format_bytes(uint64_t n) {
  if (n < 1000) return std::to_string(n) + " B";
  static const char *kUnits[] = {"kB", "MB", "GB", "TB", "PB", "EB"};
  double v = static_cast<double>(n);
  size_t u = 0;
  v /= 1000.0;
  // Move up a unit when one decimal would round to 1000.0.
  while (v >= 999.95 && u + 1 < std::size(kUnits)) {
    v /= 1000.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[u]);
  return buf;
}

std::string format_age(uint64_t s) {
  char buf[48];
  unsigned long long v = s;
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%llus", v);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%llum%02llus", v / 60, v % 60);
  else if (s < 86400)
    std::snprintf(buf, sizeof buf, "%lluh%02llum", v / 3600, (v % 3600) / 60);
  else
    std::snprintf(buf, sizeof buf, "%llud%02lluh", v / 86400, (v % 86400) / 3600);
  return buf;
}

std::string format_time_utc(std::time_t t) {
  struct tm tm;
  if (!gmtime_r(&t, &tm)) return "?";
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string format_hop(const HopInfo &h) { return h.nickname + "~" + fpr8(h.fingerprint); }

std::string format_status(const StatusSnapshot &s) {
  if (!s.enabled) return "Tor client: disabled\n";
  std::string out;
  out += "Tor client: enabled, SOCKS port " + std::to_string(s.socks_port) + "\n";
  out += "Bootstrapped " + std::to_string(s.bootstrap_percent) + "%";
  if (!s.bootstrap_phase.empty()) out += " (" + s.bootstrap_phase + ")";
  out += "\n";
  if (s.consensus_valid_after == 0)
    out += "Consensus: none\n";
  else
    out += "Consensus: valid-after " + format_time_utc(s.consensus_valid_after) + ", valid-until " +
           format_time_utc(s.consensus_valid_until) + "\n";
  out += "Relays known: " + std::to_string(s.relays_known) + "\n";
  out += "Guards: " + std::to_string(s.guards.size()) + "\n";
  size_t nick_w = 0;
  for (auto &g : s.guards) nick_w = std::max(nick_w, g.nickname.size());
  for (auto &g : s.guards) {
    std::string line = "  " + pad(g.nickname, nick_w) + " $" + fpr8(g.fingerprint);
    if (!g.status.empty()) line += "  " + g.status;
    out += line + "\n";
  }
  out += "Circuits: " + std::to_string(s.open_circuits) + " open, streams: " +
         std::to_string(s.open_streams) + " open\n";
  out += "Traffic: " + format_bytes(s.bytes_in) + " in, " + format_bytes(s.bytes_out) + " out\n";
  return out;
}

std::string format_circuits(const std::vector<CircuitInfo> &circuits) {
  if (circuits.empty()) return "No open circuits.\n";
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"ID", "STATE", "AGE", "PATH", "STREAMS", "IN", "OUT"});
  for (auto &c : circuits) {
    std::string path;
    for (size_t i = 0; i < c.path.size(); ++i) {
      if (i) path += " > ";
      path += format_hop(c.path[i]);
    }
    if (path.empty()) path = "-";
    rows.push_back({std::to_string(c.id), c.state.empty() ? "-" : c.state, format_age(c.age_seconds),
                    path, std::to_string(c.streams), format_bytes(c.bytes_in),
                    format_bytes(c.bytes_out)});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (auto &r : rows)
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  std::string out;
  for (auto &r : rows) {
    for (size_t i = 0; i < r.size(); ++i) {
      if (i + 1 < r.size())
        out += pad(r[i], width[i]) + "  ";
      else
        out += r[i];
    }
    out += "\n";
  }
  return out;
}

// ---- Wire protocol ---------------------------------------------------------

Result<std::string> encode_request(std::string_view command) {
  if (command.find_first_of("\r\n") != std::string_view::npos)
    return invalid("CLI request: command contains a line break");
  if (command.size() > kMaxRequestLine)
    return invalid("CLI request: command longer than " + std::to_string(kMaxRequestLine) + " bytes");
  std::string out(command);
  out += '\n';
  return out;
}

std::string encode_reply(const Reply &r) {
  std::string out = (r.ok ? "OK " : "ERR ") + std::to_string(r.text.size()) + "\n";
  out += r.text;
  return out;
}

Result<std::optional<std::string>> decode_request(std::string &buf) {
  size_t nl = buf.find('\n');
  if (nl == std::string::npos) {
    if (buf.size() > kMaxRequestLine + 1)  // +1: a tolerated '\r'
      return Error(ErrorKind::kExhausted, "CLI request: line longer than " +
                                              std::to_string(kMaxRequestLine) + " bytes");
    return std::optional<std::string>{};
  }
  std::string line = buf.substr(0, nl);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.size() > kMaxRequestLine)
    return Error(ErrorKind::kExhausted,
                 "CLI request: line longer than " + std::to_string(kMaxRequestLine) + " bytes");
  for (char c : line)
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7F)
      return Error(ErrorKind::kMalformed, "CLI request: control character in command");
  buf.erase(0, nl + 1);
  return std::optional<std::string>(std::move(line));
}

Result<std::optional<Reply>> decode_reply(std::string &buf) {
  // Longest header: "ERR " + 8 digits (16 MiB) + "\n".
  constexpr size_t kMaxHeader = 32;
  size_t nl = buf.find('\n');
  if (nl == std::string::npos) {
    if (buf.size() > kMaxHeader) return Error(ErrorKind::kMalformed, "CLI reply: header too long");
    return std::optional<Reply>{};
  }
  if (nl > kMaxHeader) return Error(ErrorKind::kMalformed, "CLI reply: header too long");
  std::string_view header(buf.data(), nl);
  Reply r;
  std::string_view num;
  if (header.substr(0, 3) == "OK ") {
    r.ok = true;
    num = header.substr(3);
  } else if (header.substr(0, 4) == "ERR ") {
    r.ok = false;
    num = header.substr(4);
  } else {
    return Error(ErrorKind::kMalformed, "CLI reply: bad header '" + std::string(header) +
                                            "' (expected 'OK <len>' or 'ERR <len>')");
  }
  size_t len = 0;
  auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), len);
  if (num.empty() || ec != std::errc() || ptr != num.data() + num.size())
    return Error(ErrorKind::kMalformed, "CLI reply: bad length '" + std::string(num) + "'");
  if (len > kMaxReplyText)
    return Error(ErrorKind::kExhausted, "CLI reply: length " + std::to_string(len) + " exceeds " +
                                            std::to_string(kMaxReplyText));
  if (buf.size() - (nl + 1) < len) return std::optional<Reply>{};
  r.text = buf.substr(nl + 1, len);
  buf.erase(0, nl + 1 + len);
  return std::optional<Reply>(std::move(r));
}

}  // namespace tc::control
