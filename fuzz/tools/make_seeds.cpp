// Builds the constructed seed inputs of fuzz/corpus with the project's own
// encoders (so seeds are well-formed by construction): cell streams and
// relay bodies for fuzz_cell, client handshakes for fuzz_socks.
//   make_seeds <repo>/fuzz/corpus [certs_cell.bin]
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "cell/cell.h"
#include "cell/relay.h"
#include "util/bytes.h"

using namespace tc;
using namespace tc::cell;
namespace fs = std::filesystem;

static fs::path g_root;

static void write(const std::string &target, const std::string &name, const Bytes &data) {
  fs::create_directories(g_root / target);
  std::ofstream f(g_root / target / name, std::ios::binary);
  f.write(reinterpret_cast<const char *>(data.data()), static_cast<std::streamsize>(data.size()));
}
static Bytes with_prefix(uint8_t first, ByteSpan rest) {
  Bytes b(rest.size() + 1);
  b[0] = first;
  std::copy(rest.begin(), rest.end(), b.begin() + 1);
  return b;
}
static Bytes str(std::string_view s) { return Bytes(s.begin(), s.end()); }
static Bytes relay(uint32_t circ, RelayCommand cmd, uint16_t stream, ByteSpan body) {
  Cell c;
  c.circ_id = circ;
  c.command = CellCommand::kRelay;
  pack_relay_payload(cmd, stream, body, c.payload);
  Bytes out;
  encode_cell(c, 5, out);
  return out;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <corpus dir> [certs_cell.bin]\n", argv[0]);
    return 2;
  }
  g_root = argv[1];
  Bytes certs;
  if (argc > 2) {
    std::ifstream f(argv[2], std::ios::binary);
    certs.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }

  // ---- fuzz_cell: relay bodies (mode 0x80 | parser) ----
  const auto addr4 = IpAddress::v4({93, 184, 216, 34});
  const auto addr6 = *IpAddress::parse("2001:db8::1");
  const Bytes begin = make_begin_body("example.com", 443, begin_flags::kIpv6Okay);
  const Bytes begin6 = make_begin_body("[2001:db8::1]", 80, 0);
  const Bytes connected = make_connected_body(addr4, 300);
  const Bytes connected6 = make_connected_body(addr6, 60);
  const Bytes end = make_end_body(end_reason::kDone);
  Bytes end_exitpolicy{end_reason::kExitPolicy, 1, 2, 3, 4, 0, 0, 0, 60};
  const ResolvedAnswer answers[] = {{resolved_type::kIpv4, {1, 2, 3, 4}, 60},
                                    {resolved_type::kHostname, str("example.com"), 120},
                                    {resolved_type::kErrorTransient, {}, 0}};
  const Bytes resolved = make_resolved_body(answers);
  Bytes digest(20, 0xab);
  const Bytes sendme = make_sendme_v1_body(digest);
  LinkSpecifiers ls;
  ls.ipv4 = {10, 0, 0, 1};
  ls.port = 9001;
  ls.rsa_id.fill(0x11);
  ls.ed_id = std::array<uint8_t, 32>{};
  ls.ed_id->fill(0x22);
  ls.ipv6 = addr6.bytes;
  ls.ipv6_port = 9002;
  Bytes hdata(84, 0x33);
  const Bytes extend2 = make_extend2_body(ls, kHandshakeNtor, hdata);
  const Bytes extended2 = make_extended2_body(Bytes(64, 0x44));
  const Bytes truncated{destroy::kConnectFailed};
  const Bytes versions{0, 3, 0, 4, 0, 5};
  write("fuzz_cell", "body_begin", with_prefix(0x80, begin));
  write("fuzz_cell", "body_begin_ipv6", with_prefix(0x80, begin6));
  write("fuzz_cell", "body_connected", with_prefix(0x81, connected));
  write("fuzz_cell", "body_connected_ipv6", with_prefix(0x81, connected6));
  write("fuzz_cell", "body_end", with_prefix(0x82, end));
  write("fuzz_cell", "body_end_exitpolicy", with_prefix(0x82, end_exitpolicy));
  write("fuzz_cell", "body_resolved", with_prefix(0x83, resolved));
  write("fuzz_cell", "body_sendme", with_prefix(0x84, sendme));
  write("fuzz_cell", "body_extend2", with_prefix(0x85, extend2));
  write("fuzz_cell", "body_extended2", with_prefix(0x86, extended2));
  write("fuzz_cell", "body_truncated", with_prefix(0x87, truncated));
  write("fuzz_cell", "body_versions", with_prefix(0x88, versions));

  // ---- fuzz_cell: 509-byte payloads (mode 0xC0 | parser) ----
  const IpAddress mine[] = {addr4, addr6};
  const Cell netinfo = make_netinfo_cell(1668853800, addr4, mine);
  const Cell create2 = make_create2_cell(0x80000001, kHandshakeNtorV3, hdata);
  const Cell created2 = make_created2_cell(0x80000001, Bytes(64, 0x55));
  write("fuzz_cell", "payload_netinfo", with_prefix(0xC0, netinfo.payload));
  write("fuzz_cell", "payload_create2", with_prefix(0xC1, create2.payload));
  write("fuzz_cell", "payload_created2", with_prefix(0xC2, created2.payload));
  Cell rc;
  pack_relay_payload(RelayCommand::kData, 1, str("GET / HTTP/1.0\r\n\r\n"), rc.payload);
  write("fuzz_cell", "payload_relay_data", with_prefix(0xC3, rc.payload));

  // ---- fuzz_cell: channel byte streams (mode = link protocol index) ----
  static constexpr uint16_t kOurs[] = {3, 4, 5};
  {
    Bytes s;
    encode_var_cell(make_versions_cell(kOurs), 0, s);
    write("fuzz_cell", "stream_v0_versions", with_prefix(0x00, s));
  }
  for (auto [mode, link] : {std::pair<uint8_t, uint16_t>{1, 3}, {2, 4}, {3, 5}}) {
    Bytes s;
    encode_var_cell(make_versions_cell(kOurs), link, s);
    if (!certs.empty()) encode_var_cell(VarCell{0, CellCommand::kCerts, certs}, link, s);
    VarCell challenge{0, CellCommand::kAuthChallenge, Bytes(38, 0)};
    challenge.payload[33] = 1;  // 1 method
    challenge.payload[35] = 3;
    encode_var_cell(challenge, link, s);
    encode_cell(netinfo, link, s);
    const uint32_t circ = link >= 4 ? 0x80000001 : 0x8001;
    Cell c2 = make_create2_cell(circ, kHandshakeNtor, hdata);
    encode_cell(c2, link, s);
    encode_cell(make_created2_cell(circ, Bytes(64, 0x55)), link, s);
    Cell pad{};
    pad.command = CellCommand::kPadding;
    encode_cell(pad, link, s);
    encode_var_cell(VarCell{0, CellCommand::kVpadding, Bytes(7, 0)}, link, s);
    encode_cell(make_destroy_cell(circ, destroy::kFinished), link, s);
    write("fuzz_cell", "stream_v" + std::to_string(link) + "_handshake", with_prefix(mode, s));
  }
  {
    Bytes s;
    const uint32_t circ = 0x80000002;
    s = relay(circ, RelayCommand::kBegin, 1, begin);
    for (const Bytes &b : {relay(circ, RelayCommand::kConnected, 1, connected),
                           relay(circ, RelayCommand::kData, 1, str("HTTP/1.0 200 OK\r\n\r\nhello")),
                           relay(circ, RelayCommand::kSendme, 0, sendme),
                           relay(circ, RelayCommand::kEnd, 1, end_exitpolicy),
                           relay(circ, RelayCommand::kResolved, 2, resolved),
                           relay(circ, RelayCommand::kExtend2, 0, extend2),
                           relay(circ, RelayCommand::kExtended2, 0, extended2),
                           relay(circ, RelayCommand::kTruncated, 0, truncated)})
      s.insert(s.end(), b.begin(), b.end());
    write("fuzz_cell", "stream_v5_relay", with_prefix(3, s));
  }

  // ---- fuzz_socks: first byte = feed size - 1 ----
  auto socks = [](const std::string &name, uint8_t chunk, Bytes b) {
    write("fuzz_socks", name, with_prefix(chunk, b));
  };
  Bytes s5 = {5, 1, 0, 5, 1, 0, 3, 11};
  for (char ch : std::string("example.com")) s5.push_back(static_cast<uint8_t>(ch));
  s5.insert(s5.end(), {0x01, 0xbb});
  socks("socks5_connect_hostname", 255, s5);
  socks("socks5_connect_hostname_bytewise", 0, s5);
  Bytes s5opt = s5;
  for (char ch : std::string("GET / HTTP/1.0\r\n\r\n")) s5opt.push_back(static_cast<uint8_t>(ch));
  socks("socks5_optimistic_data", 255, s5opt);
  socks("socks5_connect_ipv4", 3, {5, 1, 0, 5, 1, 0, 1, 93, 184, 216, 34, 0, 80});
  Bytes s56 = {5, 1, 0, 5, 1, 0, 4};
  for (uint8_t b : addr6.span()) s56.push_back(b);
  s56.insert(s56.end(), {0x00, 0x50});
  socks("socks5_connect_ipv6", 255, s56);
  socks("socks5_auth", 255,
        {5, 2, 0, 2, 1, 4, 'u', 's', 'e', 'r', 4, 'p', 'a', 's', 's', 5, 1, 0, 3, 3, 'a', '.', 'b', 0, 80});
  socks("socks5_resolve", 255, {5, 1, 0, 5, 0xF0, 0, 3, 3, 'a', '.', 'b', 0, 0});
  socks("socks5_resolve_ptr", 255, {5, 1, 0, 5, 0xF1, 0, 1, 1, 2, 3, 4, 0, 0});
  socks("socks5_bind_unsupported", 255, {5, 1, 0, 5, 2, 0, 1, 1, 2, 3, 4, 0, 80});
  socks("socks4_connect", 255, {4, 1, 0, 80, 93, 184, 216, 34, 'u', 'i', 'd', 0});
  socks("socks4a_connect", 2,
        {4, 1, 1, 0xbb, 0, 0, 0, 1, 0, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'o', 'r', 'g', 0});
  socks("socks4_resolve", 255, {4, 0xF0, 0, 0, 0, 0, 0, 1, 0, 'a', '.', 'b', 0});
  socks("http_get", 255, str("GET / HTTP/1.1\r\nHost: 127.0.0.1:9050\r\n\r\n"));
  socks("http_connect", 255, str("CONNECT example.com:443 HTTP/1.1\r\n\r\n"));
  std::printf("seeds written under %s\n", g_root.c_str());
  return 0;
}
