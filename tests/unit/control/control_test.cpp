#include <gtest/gtest.h>

#include "control/control.h"

using namespace tc;
using namespace tc::control;

namespace {
std::string err(const Result<Command> &r) { return r.ok() ? "(ok)" : r.error().message(); }
}  // namespace

TEST(ControlParse, Commands) {
  struct {
    const char *text;
    Command want;
  } cases[] = {
      {"show tor status", ShowStatus{}},
      {"  show\ttor   circuits \r\n", ShowCircuits{}},
      {"tor client enable", ClientEnable{}},
      {"tor client enable port 9150", ClientEnable{9150}},
      {"tor client disable", ClientDisable{}},
      {"tor client config dir /var/lib/tc", ConfigDir{"/var/lib/tc"}},
      {"tor client config cache-dir /var/cache/tc", ConfigCacheDir{"/var/cache/tc"}},
      {"help", Help{}},
  };
  for (auto &c : cases) {
    auto r = parse_command(c.text);
    ASSERT_TRUE(r.ok()) << c.text << ": " << err(r);
    EXPECT_EQ(*r, c.want) << c.text;
    // Round trip through the canonical text.
    auto again = parse_command(format_command(*r));
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, c.want);
  }
  EXPECT_EQ(format_command(ClientEnable{9150}), "tor client enable port 9150");
  EXPECT_EQ(format_command(ConfigCacheDir{"/x"}), "tor client config cache-dir /x");
}

TEST(ControlParse, Errors) {
  struct {
    const char *text;
    const char *error;
  } cases[] = {
      {"", "empty command"},
      {"   ", "empty command"},
      {"show tor", "unknown command: show tor (try 'help')"},
      {"show tor guards", "unknown command: show tor guards (try 'help')"},
      {"frob", "unknown command: frob (try 'help')"},
      {"Show tor status", "unknown command: Show tor status (try 'help')"},
      {"show tor status now", "show tor status: unexpected 'now'"},
      {"tor client enable port",
       "tor client enable: expected a port number 1-65535 after 'port', got end of line"},
      {"tor client enable port 0",
       "tor client enable: expected a port number 1-65535 after 'port', got '0'"},
      {"tor client enable port 70000",
       "tor client enable: expected a port number 1-65535 after 'port', got '70000'"},
      {"tor client enable port 9x",
       "tor client enable: expected a port number 1-65535 after 'port', got '9x'"},
      {"tor client enable 9050", "tor client enable: unexpected '9050'"},
      {"tor client enable port 1 2", "tor client enable: unexpected '2'"},
      {"tor client disable now", "tor client disable: unexpected 'now'"},
      {"tor client config dir", "tor client config dir: expected a directory"},
      {"tor client config dir a b", "tor client config dir: unexpected 'b'"},
      {"tor client config cache-dir", "tor client config cache-dir: expected a directory"},
      {"tor client config", "unknown command: tor client config (try 'help')"},
  };
  for (auto &c : cases) {
    auto r = parse_command(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidArgument);
    EXPECT_EQ(r.error().message(), c.error) << c.text;
  }
}

TEST(ControlFormat, Units) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(999), "999 B");
  EXPECT_EQ(format_bytes(1000), "1.0 kB");
  EXPECT_EQ(format_bytes(1500), "1.5 kB");
  EXPECT_EQ(format_bytes(10500000), "10.5 MB");
  EXPECT_EQ(format_bytes(999999), "1.0 MB");  // not "1000.0 kB"
  EXPECT_EQ(format_bytes(2000000000), "2.0 GB");
  EXPECT_EQ(format_age(0), "0s");
  EXPECT_EQ(format_age(59), "59s");
  EXPECT_EQ(format_age(125), "2m05s");
  EXPECT_EQ(format_age(3600 * 3 + 7 * 60 + 59), "3h07m");
  EXPECT_EQ(format_age(86400 * 2 + 3600 * 4 + 1), "2d04h");
  // 1795600800 = 2026-11-25 10:00:00 UTC (days since epoch 20782 * 86400 + 36000).
  EXPECT_EQ(format_time_utc(1795600800), "2026-11-25 10:00:00");
  EXPECT_EQ(format_time_utc(0), "1970-01-01 00:00:00");
  EXPECT_EQ(format_hop({"relay1", "abcd1234ef0011223344556677889900aabbccdd"}), "relay1~ABCD1234");
  EXPECT_EQ(format_hop({"r", "$0f0f"}), "r~0F0F");
}

TEST(ControlFormat, StatusGolden) {
  StatusSnapshot s;
  s.enabled = true;
  s.socks_port = 9050;
  s.bootstrap_percent = 100;
  s.bootstrap_phase = "done";
  s.consensus_valid_after = 1795600800;
  s.consensus_valid_until = 1795600800 + 3 * 3600;
  s.relays_known = 8;
  s.guards = {{"relay1", "ABCD1234ABCD1234ABCD1234ABCD1234ABCD1234", "up"},
              {"relay22", "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f", "down"}};
  s.open_circuits = 3;
  s.open_streams = 5;
  s.bytes_in = 10500000;
  s.bytes_out = 1200000;
  EXPECT_EQ(format_status(s),
            "Tor client: enabled, SOCKS port 9050\n"
            "Bootstrapped 100% (done)\n"
            "Consensus: valid-after 2026-11-25 10:00:00, valid-until 2026-11-25 13:00:00\n"
            "Relays known: 8\n"
            "Guards: 2\n"
            "  relay1  $ABCD1234  up\n"
            "  relay22 $0F0F0F0F  down\n"
            "Circuits: 3 open, streams: 5 open\n"
            "Traffic: 10.5 MB in, 1.2 MB out\n");

  StatusSnapshot boot;
  boot.enabled = true;
  boot.socks_port = 9150;
  boot.bootstrap_percent = 40;
  boot.bootstrap_phase = "loading microdescriptors";
  EXPECT_EQ(format_status(boot),
            "Tor client: enabled, SOCKS port 9150\n"
            "Bootstrapped 40% (loading microdescriptors)\n"
            "Consensus: none\n"
            "Relays known: 0\n"
            "Guards: 0\n"
            "Circuits: 0 open, streams: 0 open\n"
            "Traffic: 0 B in, 0 B out\n");

  EXPECT_EQ(format_status(StatusSnapshot{}), "Tor client: disabled\n");
}

TEST(ControlFormat, CircuitsGolden) {
  std::vector<CircuitInfo> cs(2);
  cs[0].id = 3;
  cs[0].state = "open";
  cs[0].age_seconds = 125;
  cs[0].path = {{"relay1", "abcd1234" + std::string(32, '0')},
                {"relay3", "0f0f0f0f" + std::string(32, '1')},
                {"exit1", "12345678" + std::string(32, '2')}};
  cs[0].streams = 2;
  cs[0].bytes_in = 1500;
  cs[0].bytes_out = 300;
  cs[1].id = 12;
  cs[1].state = "building";
  cs[1].age_seconds = 4;
  cs[1].path = {{"g", "FFFFFFFF"}};
  EXPECT_EQ(format_circuits(cs),
            "ID  STATE     AGE    PATH                                                STREAMS  IN      OUT\n"
            "3   open      2m05s  relay1~ABCD1234 > relay3~0F0F0F0F > exit1~12345678  2        1.5 kB  300 B\n"
            "12  building  4s     g~FFFFFFFF                                          0        0 B     0 B\n");
  EXPECT_EQ(format_circuits({}), "No open circuits.\n");
}

TEST(ControlFormat, HelpListsEveryCommand) {
  std::string h = help_text();
  for (const char *c : {"show tor status", "show tor circuits", "tor client enable [port N]",
                        "tor client disable", "tor client config dir DIR",
                        "tor client config cache-dir DIR", "help"})
    EXPECT_NE(h.find(c), std::string::npos) << c;
}

TEST(ControlWire, RequestRoundTripAndSplit) {
  auto e = encode_request("show tor status");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(*e, "show tor status\n");
  EXPECT_FALSE(encode_request("a\nb").ok());
  EXPECT_FALSE(encode_request(std::string(kMaxRequestLine + 1, 'a')).ok());

  // Two pipelined requests, the second arriving byte by byte, one with CRLF.
  std::string wire = "show tor status\ntor client disable\r\n";
  std::string buf;
  std::vector<std::string> got;
  for (char c : wire) {
    buf += c;
    auto r = decode_request(buf);
    ASSERT_TRUE(r.ok()) << r.error().message();
    if (r->has_value()) got.push_back(**r);
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], "show tor status");
  EXPECT_EQ(got[1], "tor client disable");
  EXPECT_TRUE(buf.empty());
}

TEST(ControlWire, RequestLimits) {
  std::string flood(kMaxRequestLine + 2, 'a');
  auto r = decode_request(flood);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kExhausted);
  std::string ctl = std::string("show\x01tor\n");
  EXPECT_FALSE(decode_request(ctl).ok());
}

TEST(ControlWire, ReplyRoundTrip) {
  Reply ok{true, "Tor client: disabled\n"};
  Reply bad{false, "unknown command: frob (try 'help')"};
  std::string wire = encode_reply(ok) + encode_reply(bad) + encode_reply(Reply{true, ""});
  EXPECT_EQ(wire.substr(0, 6), "OK 21\n");
  // Feed byte by byte.
  std::string buf;
  std::vector<Reply> got;
  for (char c : wire) {
    buf += c;
    auto r = decode_reply(buf);
    ASSERT_TRUE(r.ok()) << r.error().message();
    if (r->has_value()) got.push_back(**r);
  }
  // The empty reply completes with its header.
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], ok);
  EXPECT_EQ(got[1], bad);
  EXPECT_EQ(got[2], (Reply{true, ""}));
}

TEST(ControlWire, ReplyMalformed) {
  for (const char *w : {"HELLO 3\nabc", "OK\nabc", "OK -1\n", "OK 3x\nabc", "OK 99999999999\n"}) {
    std::string b = w;
    EXPECT_FALSE(decode_reply(b).ok()) << w;
  }
  std::string longhdr(100, 'O');
  EXPECT_FALSE(decode_reply(longhdr).ok());
}
