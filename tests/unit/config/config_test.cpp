#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <fstream>
#include <string>

#include "daemon/config.h"

using namespace tc;
using namespace tc::config;

namespace {

const char *kGood = R"(# torclientd configuration
tor {
  enabled
  socks-port 9150
  socks-address 127.0.0.1
  config-dir /var/lib/tc
  cache-dir /var/cache/tc   # trailing comment
  cli-socket /run/tc/cli.sock
  dir-authority auth0 orport=5000 no-v2 v3ident=0123456789ABCDEF0123456789ABCDEF01234567 127.0.0.1:7000 ABCD ABCD ABCD ABCD ABCD ABCD ABCD ABCD ABCD ABCD
  dir-authority   auth1  orport=5001 v3ident=1111111111111111111111111111111111111111 127.0.0.1:7001 0000000000000000000000000000000000000000

  test-network
  log-level info
  log-file /var/log/tc.log
  safe-logging off
  max-connections 512
  max-circuit-dirtiness 300
  per-client-rate 1048576
  congestion-control on
  conflux off
}
)";

// Parse a body wrapped as "tor {\n<body>\n}" so the body starts on line 2.
Result<TorConfig> body(const std::string &b) { return parse_text("tor {\n" + b + "\n}\n", "t.conf"); }

std::string error_of(const Result<TorConfig> &r) { return r.ok() ? "(ok)" : r.error().message(); }

}  // namespace

TEST(Config, GoodFile) {
  auto r = parse_text(kGood, "torclientd.conf");
  ASSERT_TRUE(r.ok()) << error_of(r);
  const TorConfig &c = *r;
  EXPECT_TRUE(c.stanza_found);
  EXPECT_TRUE(c.enabled);
  EXPECT_EQ(c.socks_port, 9150);
  EXPECT_EQ(c.socks_address, "127.0.0.1");
  EXPECT_EQ(c.config_dir, "/var/lib/tc");
  EXPECT_EQ(c.cache_dir, "/var/cache/tc");
  EXPECT_TRUE(c.congestion_control);
  EXPECT_FALSE(c.conflux);
  EXPECT_EQ(c.cli_socket, "/run/tc/cli.sock");
  ASSERT_EQ(c.dir_authorities.size(), 2u);
  EXPECT_EQ(c.dir_authorities[0],
            "auth0 orport=5000 no-v2 v3ident=0123456789ABCDEF0123456789ABCDEF01234567 "
            "127.0.0.1:7000 ABCD ABCD ABCD ABCD ABCD ABCD ABCD ABCD ABCD ABCD");
  // Raw text: inner spacing preserved, outer trimmed.
  EXPECT_EQ(c.dir_authorities[1],
            "auth1  orport=5001 v3ident=1111111111111111111111111111111111111111 127.0.0.1:7001 "
            "0000000000000000000000000000000000000000");
  EXPECT_TRUE(c.test_network);
  EXPECT_FALSE(c.public_network);
  EXPECT_EQ(c.log_level, log::Level::kInfo);
  EXPECT_EQ(c.log_file, "/var/log/tc.log");
  EXPECT_FALSE(c.safe_logging);
  EXPECT_EQ(c.max_connections, 512u);
  EXPECT_EQ(c.max_circuit_dirtiness, 300u);
  EXPECT_EQ(c.per_client_rate, 1048576u);
  EXPECT_TRUE(c.warnings.empty());
}

TEST(Config, Defaults) {
  auto r = parse_text("tor {\n}\n", "x");
  ASSERT_TRUE(r.ok()) << error_of(r);
  EXPECT_TRUE(r->stanza_found);
  EXPECT_FALSE(r->enabled);
  EXPECT_EQ(r->socks_port, 9050);
  EXPECT_EQ(r->socks_address, "127.0.0.1");
  EXPECT_TRUE(r->safe_logging);
  EXPECT_EQ(r->log_level, log::Level::kNotice);
  EXPECT_TRUE(r->congestion_control);
  EXPECT_TRUE(r->conflux);
  EXPECT_EQ(r->per_client_rate, 0u);
  auto none = parse_text("# nothing\n\n", "x");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->stanza_found);
}

TEST(Config, SingleLineForm) {
  auto r = parse_text("tor { enabled public-network socks-port 9050 log-level warn }", "s");
  ASSERT_TRUE(r.ok()) << error_of(r);
  EXPECT_TRUE(r->enabled);
  EXPECT_TRUE(r->public_network);
  EXPECT_EQ(r->log_level, log::Level::kWarn);
  // Braces glued to words.
  auto g = parse_text("tor{disabled}", "s");
  ASSERT_TRUE(g.ok()) << error_of(g);
  EXPECT_FALSE(g->enabled);
  // dir-authority stops at the closing brace on a single line.
  auto d = parse_text("tor { dir-authority a orport=1 1.2.3.4:5 AB }", "s");
  ASSERT_TRUE(d.ok()) << error_of(d);
  ASSERT_EQ(d->dir_authorities.size(), 1u);
  EXPECT_EQ(d->dir_authorities[0], "a orport=1 1.2.3.4:5 AB");
}

TEST(Config, StartupConfWithOtherStanzas) {
  const char *startup = R"(unix {
  nodaemon
  log /var/log/vpp/vpp.log
  cli-listen /run/vpp/cli.sock
}

dpdk {
  dev 0000:02:00.0 { num-rx-queues 2 name eth0 }
  dev default { num-rx-descriptors 1024 }
}

plugins {
  plugin default { disable }
  plugin torclient_plugin.so { enable }
}

tor {
  enabled
  public-network
  socks-port 9055
}

cpu { main-core 1 }
)";
  auto r = parse_text(startup, "startup.conf");
  ASSERT_TRUE(r.ok()) << error_of(r);
  EXPECT_TRUE(r->stanza_found);
  EXPECT_TRUE(r->enabled);
  EXPECT_EQ(r->socks_port, 9055);
  // Unknown keywords in other stanzas are not our business; ours are.
  auto bad = parse_text(std::string(startup) + "\n", "startup.conf");
  EXPECT_TRUE(bad.ok());
}

TEST(Config, ParseStanzaBody) {
  auto r = parse_stanza_body("enabled\npublic-network\nsocks-port 1\n", "vpp", 10);
  ASSERT_TRUE(r.ok()) << error_of(r);
  EXPECT_EQ(r->socks_port, 1);
  auto e = parse_stanza_body("enabled\npublic-network\nsocks-port 0\n", "vpp", 10);
  EXPECT_EQ(error_of(e), "vpp:12: socks-port: expected a port number 1-65535, got '0'");
}

TEST(Config, NonLoopbackAddressWarns) {
  auto r = body("socks-address 0.0.0.0");
  ASSERT_TRUE(r.ok()) << error_of(r);
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_EQ(r->warnings[0].rfind("t.conf:2: socks-address 0.0.0.0 is not a loopback address", 0), 0u)
      << r->warnings[0];
  for (const char *lo : {"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"}) {
    auto l = body(std::string("socks-address ") + lo);
    ASSERT_TRUE(l.ok()) << lo;
    EXPECT_TRUE(l->warnings.empty()) << lo;
  }
  auto v6 = body("socks-address 2001:db8::1");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->warnings.size(), 1u);
}

TEST(Config, BadLines) {
  struct {
    const char *body;
    const char *error;
  } cases[] = {
      {"socks-port abc", "t.conf:2: socks-port: expected a port number 1-65535, got 'abc'"},
      {"socks-port 65536", "t.conf:2: socks-port: expected a port number 1-65535, got '65536'"},
      {"socks-port -1", "t.conf:2: socks-port: expected a port number 1-65535, got '-1'"},
      {"socks-port", "t.conf:2: socks-port: expected a port number 1-65535, got end of line"},
      {"socks-port\n9050", "t.conf:2: socks-port: expected a port number 1-65535, got end of line"},
      {"socks-address localhost",
       "t.conf:2: socks-address: expected an IPv4 or IPv6 address, got 'localhost'"},
      {"log-level loud",
       "t.conf:2: log-level: expected one of debug, info, notice, warn, err, got 'loud'"},
      {"safe-logging yes", "t.conf:2: safe-logging: expected on or off, got 'yes'"},
      {"conflux maybe", "t.conf:2: conflux: expected on or off, got 'maybe'"},
      {"congestion-control", "t.conf:2: congestion-control: expected on or off, got end of line"},
      {"conflux on\nconflux off", "t.conf:3: conflux: given twice (first on line 2)"},
      {"max-connections 0", "t.conf:2: max-connections: expected a number 1-1000000, got '0'"},
      {"max-circuit-dirtiness 10m",
       "t.conf:2: max-circuit-dirtiness: expected seconds 1-2592000, got '10m'"},
      {"per-client-rate fast",
       "t.conf:2: per-client-rate: expected bytes per second (0 = unlimited), got 'fast'"},
      {"per-client-rate 99999999999999999999999",
       "t.conf:2: per-client-rate: expected bytes per second (0 = unlimited), got "
       "'99999999999999999999999'"},
      {"config-dir", "t.conf:2: config-dir: expected a path, got end of line"},
      {"dir-authority", "t.conf:2: dir-authority: expected an authority line, got end of line"},
      {"frobnicate 3", "t.conf:2: unknown keyword 'frobnicate'"},
      {"# comment\n\nsocks-port 1 2", "t.conf:4: unknown keyword '2'"},
      {"enabled\ndisabled", "t.conf:3: disabled: conflicts with 'enabled' (first on line 2)"},
      {"socks-port 1\nsocks-port 2", "t.conf:3: socks-port: given twice (first on line 2)"},
      {"public-network\ndir-authority a 1.2.3.4:5 AB",
       "t.conf:3: dir-authority: cannot be combined with public-network (line 2)"},
      {"dir-authority a 1.2.3.4:5 AB\npublic-network",
       "t.conf:3: public-network: cannot be combined with dir-authority lines (line 2)"},
      {"test-network", "t.conf:2: test-network: requires dir-authority lines"},
      {"nested { x }", "t.conf:2: unknown keyword 'nested'"},
      {"enabled",
       "t.conf: no directory authorities: add 'public-network' to use the public Tor network, or "
       "dir-authority lines for a private one"},
  };
  for (auto &c : cases) EXPECT_EQ(error_of(body(c.body)), c.error) << c.body;
}

TEST(Config, StructureErrors) {
  EXPECT_EQ(error_of(parse_text("unix {\n  nodaemon\n", "s.conf")),
            "s.conf:1: unterminated 'unix' stanza (missing '}')");
  EXPECT_EQ(error_of(parse_text("tor {\n  enabled\n", "s.conf")),
            "s.conf:1: unterminated 'tor' stanza (missing '}')");
  EXPECT_EQ(error_of(parse_text("\ntor\n", "s.conf")), "s.conf:2: expected '{' after 'tor'");
  EXPECT_EQ(error_of(parse_text("}\n", "s.conf")), "s.conf:1: unexpected '}' at top level");
  EXPECT_EQ(error_of(parse_text("tor { }\ntor { }\n", "s.conf")),
            "s.conf:2: second 'tor' stanza (first on line 1)");
  EXPECT_EQ(error_of(parse_text("tor {\n public-network\n x { y }\n}", "s.conf")),
            "s.conf:3: unknown keyword 'x'");
}

TEST(Config, LoadFile) {
  std::string path = ::testing::TempDir() + "tc_config_test.conf";
  {
    std::ofstream f(path);
    f << kGood;
  }
  auto r = load_file(path);
  ASSERT_TRUE(r.ok()) << error_of(r);
  EXPECT_EQ(r->socks_port, 9150);
  std::remove(path.c_str());
  auto missing = load_file(path);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind(), ErrorKind::kNotFound);
  EXPECT_NE(missing.error().message().find(path), std::string::npos) << missing.error().message();
}

// A config file is a few KB: one over 1 MiB is refused, not read into memory.
TEST(Config, LoadFileRefusesHugeFiles) {
  std::string path = ::testing::TempDir() + "tc_config_huge.conf";
  {
    std::ofstream f(path);
    f << kGood;
    f << std::string((1u << 20) + 1, '#');
  }
  auto r = load_file(path);
  std::remove(path.c_str());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidArgument);
  EXPECT_NE(r.error().message().find("larger than 1048576 bytes"), std::string::npos) << r.error().message();
}

// Nothing in this repository that runs a client (scripts, the demo, the
// test network, integration tests, benchmarks, example configs) selects the
// public network: the keyword may appear only in the parser, its
// implementation, documentation, parser tests and fuzz inputs (parsed,
// never run). A new file that mentions it must be added here deliberately.
TEST(Config, NothingInTheRepositorySelectsThePublicNetwork) {
  namespace fs = std::filesystem;
  const fs::path root = TORCLIENT_SOURCE_DIR;
  const std::vector<std::string> allowed_prefixes = {
      "README.md",                  // documents the keyword
      "vpp/tor_client/README.md",   // documents the keyword
      "include/torclient.h",        // documents the C API's config text
      "src/daemon/config.",         // the parser
      "src/runtime/client.cpp",     // uses the built-in list when asked
      "src/netdoc/public_authorities.",
      "vpp/tor_client/tor_client.c",  // keyword list of the VPP config hook
      "tests/unit/config/",         // parser tests (never start a client)
      "tests/unit/netdoc/public_authorities_test.cpp",
      "fuzz/",                      // parser inputs, never run
  };
  const std::string word = "public-network";
  auto word_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'; };
  std::vector<std::string> offenders;
  size_t scanned = 0;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    const fs::path &p = it->path();
    std::string rel = fs::relative(p, root).generic_string();
    if (it->is_directory()) {
      // Build trees and git's own files are not the repository's content.
      std::string name = p.filename().string();
      if (name == ".git" || name.rfind("build", 0) == 0 || name == "__pycache__") it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file() || it->file_size() > (8u << 20)) continue;
    std::ifstream f(p, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    ++scanned;
    bool hit = false;
    for (size_t pos = text.find(word); pos != std::string::npos && !hit; pos = text.find(word, pos + 1)) {
      bool before = pos > 0 && word_char(text[pos - 1]);
      bool after = pos + word.size() < text.size() && word_char(text[pos + word.size()]);
      hit = !before && !after;  // "public-network-2022-11" (test data) is another word
    }
    if (!hit) continue;
    bool ok = false;
    for (auto &a : allowed_prefixes) ok |= rel.rfind(a, 0) == 0;
    if (!ok) offenders.push_back(rel);
  }
  EXPECT_GT(scanned, 100u) << "scanned too few files under " << root;
  EXPECT_TRUE(offenders.empty()) << "files that mention public-network: " << ::testing::PrintToString(offenders);

  // And the scan does find the keyword where it is (not a vacuous check).
  std::ifstream readme(root / "src/daemon/config.cpp");
  std::string text((std::istreambuf_iterator<char>(readme)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("\"public-network\""), std::string::npos);
}

// Without a stanza or without authorities, nothing falls back to the public
// network: the defaults select no network and an enabled stanza without
// authorities is an error that says how to choose.
TEST(Config, DefaultSelectsNoNetwork) {
  auto none = parse_text("", "empty.conf");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->public_network);
  EXPECT_TRUE(none->dir_authorities.empty());
  auto v = validate(*none, "empty.conf");
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.error().message().find("no directory authorities"), std::string::npos);
  auto enabled = parse_text("tor { enabled }", "e.conf");
  ASSERT_FALSE(enabled.ok());
  EXPECT_NE(enabled.error().message().find("no directory authorities"), std::string::npos);
}
