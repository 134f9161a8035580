// Parse + signature verification of the real 2022-11-19 microdesc consensus
// (6088 relays) in ../shared/testdata, as a client does on bootstrap.
#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "netdoc/authority.h"
#include "netdoc/cert.h"
#include "netdoc/consensus.h"
#include "netdoc/tokenize.h"

namespace {
using namespace tc;
using namespace tc::netdoc;

std::string read_testdata(const std::string &name) {
  std::ifstream f(std::string(TORCLIENT_TESTDATA) + "/public-network-2022-11/" + name, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// cached-certs in the test data has CR LF line endings (a git checkout
// converted it); authorities sign LF-only text.
std::string lf_only(const std::string &s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i)
    if (!(s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n')) out.push_back(s[i]);
  return out;
}

// tor 0.4.7's default v3 authorities (late 2022), as tests/unit/netdoc use.
const char *const kAuthorityLines[] = {
    "moria1 orport=9101 v3ident=D586D18309DED4CD6D57C18FDB97EFA96D330566 128.31.0.39:9131 "
    "9695 DFC3 5FFE B861 329B 9F1A B04C 4639 7020 CE31",
    "tor26 orport=443 v3ident=14C131DFC5C6F93646BE72FA1401C02A8DF2E8B4 86.59.21.38:80 "
    "847B 1F85 0344 D787 6491 A548 92F9 0493 4E4E B85D",
    "dizum orport=443 v3ident=E8A9C45EDE6D711294FADF8E7951F4DE6CA56B58 45.66.33.45:80 "
    "7EA6 EAD6 FD83 083C 538F 4403 8BBF A077 587D D755",
    "gabelmoo orport=443 v3ident=ED03BB616EB2F60BEC80151114BB25CEF515B226 131.188.40.189:80 "
    "F204 4413 DAC2 E02E 3D6B CF47 35A1 9BCA 1DE9 7281",
    "dannenberg orport=443 v3ident=0232AF901C31A04EE9848595AF9BB7620D4C5B2E 193.23.244.244:80 "
    "7BE6 83E6 5D48 1413 21C5 ED92 F075 C553 64AC 7123",
    "maatuska orport=80 v3ident=49015F787433103580E3B66A1707A00E60F2D15B 171.25.193.9:443 "
    "BD6A 8292 55CB 08E6 6FBE 7D37 4836 3586 E46B 3810",
    "Faravahar orport=443 v3ident=EFCBE720AB3A82B99F9E953CD5BF50F7EEFC7B97 154.35.175.225:80 "
    "CF6D 0AAF B385 BE71 B8E1 11FC 5CFF 4B47 9237 33BC",
    "longclaw orport=443 v3ident=23D15D965BC35114467363C165C4F724B64B4F66 199.58.81.140:80 "
    "74A9 1064 6BCE EFBC D2E8 74FC 1DC9 9743 0F96 8145",
    "bastet orport=443 v3ident=27102BC123E7AF1D4741AE047E160C91ADC76B21 204.13.164.118:80 "
    "24E2 F139 121D 4394 C54B 5BCC 368B 3B41 1857 C413",
};

struct Docs {
  std::string consensus = read_testdata("cached-microdesc-consensus");
  std::vector<AuthorityCert> certs;
  std::vector<Sha1Digest> ids;
  int64_t now = parse_iso_time("2022-11-19 10:30:00").value();
  std::string problem;
  Docs() {
    if (consensus.size() < 1000000) {
      problem = "test data missing: " TORCLIENT_TESTDATA;
      return;
    }
    auto c = parse_authority_certs(lf_only(read_testdata("cached-certs")));
    if (!c.ok()) {
      problem = c.error().to_string();
      return;
    }
    certs = std::move(c).value();
    std::vector<DirAuthority> auths;
    for (const char *l : kAuthorityLines) auths.push_back(DirAuthority::parse(l).value());
    ids = v3_identities(auths);
  }
};
const Docs &docs() {
  static const Docs d;
  return d;
}

void BM_Consensus_Parse(benchmark::State &state) {
  const Docs &d = docs();
  if (!d.problem.empty()) return state.SkipWithError(d.problem.c_str());
  size_t relays = 0;
  for (auto _ : state) {
    auto c = Consensus::parse(d.consensus);
    if (!c.ok()) return state.SkipWithError(c.error().to_string().c_str());
    relays = c->relays.size();
    benchmark::DoNotOptimize(c);
  }
  state.counters["relays"] = static_cast<double>(relays);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * d.consensus.size()));
}
BENCHMARK(BM_Consensus_Parse)->Unit(benchmark::kMillisecond);

void BM_Consensus_VerifySignatures(benchmark::State &state) {
  const Docs &d = docs();
  if (!d.problem.empty()) return state.SkipWithError(d.problem.c_str());
  auto c = Consensus::parse(d.consensus);
  if (!c.ok()) return state.SkipWithError(c.error().to_string().c_str());
  for (auto _ : state) {
    auto r = c->verify_signatures(d.certs, d.ids, d.now);
    if (!r.ok()) return state.SkipWithError(r.error().to_string().c_str());
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_Consensus_VerifySignatures)->Unit(benchmark::kMillisecond);

// What bootstrap pays: parse, then check every signature.
void BM_Consensus_ParseAndVerify(benchmark::State &state) {
  const Docs &d = docs();
  if (!d.problem.empty()) return state.SkipWithError(d.problem.c_str());
  for (auto _ : state) {
    auto c = Consensus::parse(d.consensus);
    if (!c.ok()) return state.SkipWithError(c.error().to_string().c_str());
    auto r = c->verify_signatures(d.certs, d.ids, d.now);
    if (!r.ok()) return state.SkipWithError(r.error().to_string().c_str());
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * d.consensus.size()));
}
BENCHMARK(BM_Consensus_ParseAndVerify)->Unit(benchmark::kMillisecond);

}  // namespace
