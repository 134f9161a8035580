// Reads the private test network's network.json (testnet/testnet.py) for
// integration tests: authorities, relays, the HTTP server and its files.
#pragma once
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace tc::testnet {

struct TestnetRelay {
  std::string nickname, role, fingerprint, log;
  uint16_t orport = 0;
};
struct TestnetFile {
  uint64_t size = 0;
  std::string sha256;
};
struct Testnet {
  std::string dir;
  std::vector<std::string> dir_authority_lines;  // tor torrc syntax without the keyword
  std::vector<TestnetRelay> relays;              // authorities and relays
  uint16_t http_port = 0;
  std::string http_host = "127.0.0.1";
  std::map<std::string, TestnetFile> files;
  std::vector<std::string> dns_hosts;
};

inline Testnet load_testnet() {
  Testnet t;
  const char *d = std::getenv("TORCLIENT_TESTNET_DIR");
  if (!d) return t;
  t.dir = d;
  std::ifstream in(t.dir + "/network.json");
  if (!in) return t;
  auto j = nlohmann::json::parse(in);
  for (auto &a : j["authorities"]) {
    std::string line = a["dirauthority"].get<std::string>();
    const std::string kw = "DirAuthority ";
    if (line.rfind(kw, 0) == 0) line = line.substr(kw.size());
    t.dir_authority_lines.push_back(line);
    t.relays.push_back({a["nickname"], "authority", a["fingerprint"], a.value("log", ""), a["orport"]});
  }
  for (auto &r : j["relays"])
    t.relays.push_back({r["nickname"], r["role"], r["fingerprint"], r.value("log", ""), r["orport"]});
  t.http_port = j["http"]["port"];
  for (auto &[name, f] : j["http"]["files"].items()) t.files[name] = {f["size"], f["sha256"]};
  if (j.contains("dns") && j["dns"].contains("hosts"))
    for (auto &[h, v] : j["dns"]["hosts"].items()) t.dns_hosts.push_back(h);
  return t;
}

}  // namespace tc::testing
