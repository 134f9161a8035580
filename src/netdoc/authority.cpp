#include "netdoc/authority.h"

#include <cstdlib>

namespace tc::netdoc {

namespace {
Error token_error(std::string_view token, const std::string &why) {
  return Error(ErrorKind::kMalformed, "DirAuthority: token '" + std::string(token) + "': " + why);
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }
}  // namespace

Result<DirAuthority> DirAuthority::parse(std::string_view line) {
  std::vector<std::string_view> t;
  ArgReader r(line);
  while (auto a = r.next()) t.push_back(*a);
  if (t.empty()) return Error(ErrorKind::kMalformed, "DirAuthority: empty line");
  DirAuthority d;
  size_t i = 0;
  // The nickname comes first (1-19 letters and digits).
  {
    std::string_view n = t[0];
    bool ok = !n.empty() && n.size() <= 19;
    for (char c : n) ok = ok && (is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
    // We require it (tor does not): without one, a first flag such as
    // "bridge" would read back as a nickname, and the line is ambiguous.
    if (!ok) return token_error(n, "expected the authority's nickname (1-19 letters and digits) first");
    d.nickname = n;
    i = 1;
  }
  // Flags until the address:dirport token (the first token with ':' and no '=').
  for (; i < t.size(); ++i) {
    std::string_view f = t[i];
    size_t eq = f.find('=');
    if (eq == std::string_view::npos && f.find(':') != std::string_view::npos) break;
    std::string_view key = eq == std::string_view::npos ? f : f.substr(0, eq);
    std::string_view val = eq == std::string_view::npos ? std::string_view{} : f.substr(eq + 1);
    if (f == "bridge") {
      d.bridge = true;
    } else if (f == "no-v2") {
      d.v2 = false;
    } else if (f == "v1") {
      // obsolete v1 directory flag: accepted, meaningless
    } else if (f == "hs") {
      d.hs = true;
    } else if (f == "no-hs") {
      d.hs = false;
    } else if (key == "orport") {
      int64_t p;
      if (!parse_int64(val, 1, 65535, &p)) return token_error(f, "orport must be 1-65535");
      d.or_port = static_cast<uint16_t>(p);
    } else if (key == "v3ident") {
      auto id = hex_array<20>(val);
      if (!id) return token_error(f, "v3ident must be 40 hex digits");
      d.v3ident = *id;
    } else if (key == "weight") {
      int64_t x;
      if (!parse_int64(val, 0, INT32_MAX, &x)) return token_error(f, "weight must be a non-negative integer");
      d.weight = static_cast<double>(x);
    } else if (key == "ipv6") {
      AddrPort ap;
      if (!parse_addr_port(val, &ap) || !ap.is_ipv6) return token_error(f, "ipv6 must be [IPv6 address]:port");
      d.ipv6 = ap;
    } else {
      d.unknown_flags.emplace_back(f);
    }
  }
  if (i >= t.size()) return Error(ErrorKind::kMalformed, "DirAuthority: missing address:dirport");
  std::string_view addr = t[i++];
  size_t colon = addr.rfind(':');
  std::string_view host = addr.substr(0, colon);
  int64_t dirport;
  if (!parse_ipv4(host, &d.ipv4)) return token_error(addr, "address must be an IPv4 dotted quad");
  if (!parse_int64(addr.substr(colon + 1), 1, 65535, &dirport)) return token_error(addr, "dirport must be 1-65535");
  d.address = host;
  d.dir_port = static_cast<uint16_t>(dirport);
  std::string fp;
  for (; i < t.size(); ++i) fp.append(t[i]);
  if (fp.empty()) return Error(ErrorKind::kMalformed, "DirAuthority: missing fingerprint after '" + std::string(addr) + "'");
  auto id = hex_array<20>(fp);
  if (!id) return token_error(fp, "fingerprint must be 40 hex digits (optionally in groups of 4)");
  d.rsa_identity = *id;
  return d;
}

std::string DirAuthority::to_string() const {
  std::string out = nickname;
  auto add = [&](const std::string &s) {
    if (!out.empty()) out.push_back(' ');
    out += s;
  };
  if (or_port) add("orport=" + std::to_string(or_port));
  if (bridge) add("bridge");
  if (!v2) add("no-v2");
  if (v3ident) add("v3ident=" + hex_encode(*v3ident, true));
  if (ipv6) add("ipv6=[" + format_ipv6(ipv6->ipv6) + "]:" + std::to_string(ipv6->port));
  add(address + ":" + std::to_string(dir_port));
  add(hex_encode(rsa_identity, true));
  return out;
}

std::vector<Sha1Digest> v3_identities(const std::vector<DirAuthority> &auths) {
  std::vector<Sha1Digest> out;
  for (const DirAuthority &a : auths)
    if (a.v3ident && !a.bridge) out.push_back(*a.v3ident);
  return out;
}

}  // namespace tc::netdoc
