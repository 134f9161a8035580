#include "daemon/config.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <optional>

#include "util/file.h"

namespace tc::config {

namespace {
// A startup.conf-style file is a few KB; anything this big is a mistake.
constexpr size_t kMaxConfigFileSize = 1u << 20;

struct Token {
  std::string_view text;
  int line;
  size_t begin;  // offsets into the parsed text (for raw rest-of-line values)
  size_t end;
};

// Words separated by whitespace; '{' and '}' are tokens of their own even
// when glued to a word ("tor{"); '#' starts a comment to end of line.
std::vector<Token> tokenize(std::string_view text, int first_line) {
  std::vector<Token> out;
  int line = first_line;
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c == '\n') {
      ++line;
      ++i;
    } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
      ++i;
    } else if (c == '#') {
      while (i < text.size() && text[i] != '\n') ++i;
    } else if (c == '{' || c == '}') {
      out.push_back({text.substr(i, 1), line, i, i + 1});
      ++i;
    } else {
      size_t b = i;
      while (i < text.size()) {
        char d = text[i];
        if (d == ' ' || d == '\t' || d == '\r' || d == '\n' || d == '\f' || d == '\v' ||
            d == '#' || d == '{' || d == '}')
          break;
        ++i;
      }
      out.push_back({text.substr(b, i - b), line, b, i});
    }
  }
  return out;
}

Error err_at(std::string_view name, int line, const std::string &msg) {
  return Error(ErrorKind::kMalformed, std::string(name) + ":" + std::to_string(line) + ": " + msg);
}

template <typename T>
std::optional<T> parse_uint(std::string_view s) {
  T v{};
  if (s.empty() || s[0] < '0' || s[0] > '9') return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

bool is_loopback(const std::string &addr) {
  in_addr a4;
  if (inet_pton(AF_INET, addr.c_str(), &a4) == 1) {
    return (ntohl(a4.s_addr) >> 24) == 127;  // 127.0.0.0/8
  }
  in6_addr a6;
  if (inet_pton(AF_INET6, addr.c_str(), &a6) == 1) {
    static const uint8_t kLoop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (std::memcmp(a6.s6_addr, kLoop6, 16) == 0) return true;
    // ::ffff:127.x.y.z
    static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(a6.s6_addr, kMapped, 12) == 0 && a6.s6_addr[12] == 127;
  }
  return false;
}

bool is_ip_literal(const std::string &addr) {
  in_addr a4;
  in6_addr a6;
  return inet_pton(AF_INET, addr.c_str(), &a4) == 1 || inet_pton(AF_INET6, addr.c_str(), &a6) == 1;
}

// Parse the tokens of a stanza body (no braces). `text` is what the tokens'
// offsets point into.
Result<TorConfig> parse_body_tokens(const std::vector<Token> &toks, size_t from, size_t to,
                                    std::string_view text, std::string_view name) {
  TorConfig c;
  c.stanza_found = true;
  // Line where each single-valued keyword was first seen (duplicates are errors).
  struct Seen {
    std::string slot, keyword;
    int line;
  };
  std::vector<Seen> seen;
  int first_dir_authority_line = 0;
  int public_network_line = 0;
  int test_network_line = 0;

  size_t i = from;
  while (i < to) {
    const Token &kw = toks[i++];
    std::string key(kw.text);
    if (key == "{" || key == "}") return err_at(name, kw.line, "unexpected '" + key + "'");

    // The next argument, which must be on the keyword's line.
    auto arg = [&](const char *expected) -> Result<std::string_view> {
      if (i >= to || toks[i].line != kw.line || toks[i].text == "{" || toks[i].text == "}")
        return err_at(name, kw.line, key + ": expected " + expected + ", got end of line");
      return toks[i++].text;
    };
    auto once = [&](const std::string &slot) -> Status {
      for (auto &e : seen)
        if (e.slot == slot)
          return err_at(name, kw.line,
                        key + ": " + (e.keyword == key ? "given twice" : "conflicts with '" + e.keyword + "'") +
                            " (first on line " + std::to_string(e.line) + ")");
      seen.push_back({slot, key, kw.line});
      return {};
    };
    auto bad = [&](const std::string &expected, std::string_view got) {
      return err_at(name, kw.line, key + ": expected " + expected + ", got '" + std::string(got) + "'");
    };

    if (key == "enabled" || key == "disabled") {
      TC_TRY_VOID(once("enabled/disabled"));
      c.enabled = key == "enabled";
    } else if (key == "socks-port") {
      TC_TRY_VOID(once(key));
      TC_TRY(auto v, arg("a port number 1-65535"));
      auto p = parse_uint<uint32_t>(v);
      if (!p || *p < 1 || *p > 65535) return bad("a port number 1-65535", v);
      c.socks_port = static_cast<uint16_t>(*p);
    } else if (key == "socks-address") {
      TC_TRY_VOID(once(key));
      TC_TRY(auto v, arg("an IPv4 or IPv6 address"));
      std::string a(v);
      if (!is_ip_literal(a)) return bad("an IPv4 or IPv6 address", v);
      if (!is_loopback(a))
        c.warnings.push_back(std::string(name) + ":" + std::to_string(kw.line) + ": socks-address " +
                             a + " is not a loopback address: anyone who can reach it can use "
                                 "this Tor client");
      c.socks_address = std::move(a);
    } else if (key == "config-dir" || key == "cache-dir" || key == "cli-socket" ||
               key == "log-file") {
      TC_TRY_VOID(once(key));
      TC_TRY(auto v, arg("a path"));
      std::string &dst = key == "config-dir"  ? c.config_dir
                         : key == "cache-dir" ? c.cache_dir
                         : key == "cli-socket" ? c.cli_socket
                                               : c.log_file;
      dst = std::string(v);
    } else if (key == "dir-authority") {
      // Keep the rest of the line verbatim (inner spacing included).
      size_t b = i;
      while (i < to && toks[i].line == kw.line && toks[i].text != "{" && toks[i].text != "}") ++i;
      if (b == i)
        return err_at(name, kw.line, key + ": expected an authority line, got end of line");
      if (public_network_line)
        return err_at(name, kw.line,
                      "dir-authority: cannot be combined with public-network (line " +
                          std::to_string(public_network_line) + ")");
      c.dir_authorities.emplace_back(text.substr(toks[b].begin, toks[i - 1].end - toks[b].begin));
      if (!first_dir_authority_line) first_dir_authority_line = kw.line;
    } else if (key == "test-network") {
      TC_TRY_VOID(once(key));
      c.test_network = true;
      test_network_line = kw.line;
    } else if (key == "public-network") {
      TC_TRY_VOID(once(key));
      if (first_dir_authority_line)
        return err_at(name, kw.line,
                      "public-network: cannot be combined with dir-authority lines (line " +
                          std::to_string(first_dir_authority_line) + ")");
      c.public_network = true;
      public_network_line = kw.line;
    } else if (key == "log-level") {
      TC_TRY_VOID(once(key));
      TC_TRY(auto v, arg("one of debug, info, notice, warn, err"));
      if (!log::parse_level(v, &c.log_level)) return bad("one of debug, info, notice, warn, err", v);
    } else if (key == "safe-logging") {
      TC_TRY_VOID(once(key));
      TC_TRY(auto v, arg("on or off"));
      if (v == "on")
        c.safe_logging = true;
      else if (v == "off")
        c.safe_logging = false;
      else
        return bad("on or off", v);
    } else if (key == "congestion-control" || key == "conflux") {
      // congestion-control: ask exits for prop 324 congestion control;
      // conflux: link exit circuits in pairs (prop 329, needs the former).
      TC_TRY_VOID(once(key));
      TC_TRY(auto v, arg("on or off"));
      if (v != "on" && v != "off") return bad("on or off", v);
      (key == "conflux" ? c.conflux : c.congestion_control) = v == "on";
    } else if (key == "max-connections") {
      TC_TRY_VOID(once(key));
      std::string exp = "a number 1-" + std::to_string(kMaxConnectionsLimit);
      TC_TRY(auto v, arg(exp.c_str()));
      auto n = parse_uint<uint32_t>(v);
      if (!n || *n < 1 || *n > kMaxConnectionsLimit) return bad(exp, v);
      c.max_connections = *n;
    } else if (key == "max-circuit-dirtiness") {
      TC_TRY_VOID(once(key));
      std::string exp = "seconds 1-" + std::to_string(kMaxCircuitDirtinessLimit);
      TC_TRY(auto v, arg(exp.c_str()));
      auto n = parse_uint<uint32_t>(v);
      if (!n || *n < 1 || *n > kMaxCircuitDirtinessLimit) return bad(exp, v);
      c.max_circuit_dirtiness = *n;
    } else if (key == "per-client-rate") {
      TC_TRY_VOID(once(key));
      TC_TRY(auto v, arg("bytes per second (0 = unlimited)"));
      auto n = parse_uint<uint64_t>(v);
      if (!n) return bad("bytes per second (0 = unlimited)", v);
      c.per_client_rate = *n;
    } else {
      return err_at(name, kw.line, "unknown keyword '" + key + "'");
    }
  }

  // C tor: "TestingTorNetwork may only be configured in combination with a
  // non-default set of DirAuthority".
  if (c.test_network && c.dir_authorities.empty())
    return err_at(name, test_network_line, "test-network: requires dir-authority lines");
  if (c.enabled) TC_TRY_VOID(validate(c, name));
  return c;
}

}  // namespace

Status validate(const TorConfig &c, std::string_view name) {
  if (c.public_network && !c.dir_authorities.empty())
    return Error(ErrorKind::kMalformed,
                 std::string(name) + ": public-network and dir-authority are mutually exclusive");
  if (c.test_network && c.dir_authorities.empty())
    return Error(ErrorKind::kMalformed, std::string(name) + ": test-network requires dir-authority lines");
  if (!c.public_network && c.dir_authorities.empty())
    return Error(ErrorKind::kMalformed,
                 std::string(name) +
                     ": no directory authorities: add 'public-network' to use the public Tor "
                     "network, or dir-authority lines for a private one");
  return {};
}

Result<TorConfig> parse_stanza_body(std::string_view body, std::string_view name, int first_line) {
  auto toks = tokenize(body, first_line);
  return parse_body_tokens(toks, 0, toks.size(), body, name);
}

Result<TorConfig> parse_text(std::string_view text, std::string_view name) {
  auto toks = tokenize(text, 1);
  std::optional<TorConfig> found;
  int found_line = 0;
  size_t i = 0;
  while (i < toks.size()) {
    const Token &head = toks[i];
    if (head.text == "{" || head.text == "}")
      return err_at(name, head.line, "unexpected '" + std::string(head.text) + "' at top level");
    if (i + 1 >= toks.size() || toks[i + 1].text != "{")
      return err_at(name, head.line, "expected '{' after '" + std::string(head.text) + "'");
    // Find the matching '}' (other stanzas may nest braces).
    size_t body_from = i + 2;
    size_t j = body_from;
    int depth = 1;
    for (; j < toks.size(); ++j) {
      if (toks[j].text == "{") ++depth;
      if (toks[j].text == "}" && --depth == 0) break;
    }
    if (j >= toks.size())
      return err_at(name, head.line,
                    "unterminated '" + std::string(head.text) + "' stanza (missing '}')");
    if (head.text == "tor") {
      if (found)
        return err_at(name, head.line,
                      "second 'tor' stanza (first on line " + std::to_string(found_line) + ")");
      TC_TRY(auto c, parse_body_tokens(toks, body_from, j, text, name));
      found = std::move(c);
      found_line = head.line;
    }
    i = j + 1;
  }
  if (found) return std::move(*found);
  return TorConfig{};
}

Result<TorConfig> load_file(const std::string &path) {
  auto text = read_file(path, kMaxConfigFileSize);
  if (!text) {
    if (text.error().kind() == ErrorKind::kExhausted)
      return Error(ErrorKind::kInvalidArgument, "config file " + path + " is larger than " +
                                                    std::to_string(kMaxConfigFileSize) + " bytes");
    return std::move(text).error().context("cannot read config file");
  }
  return parse_text(*text, path);
}

}  // namespace tc::config
