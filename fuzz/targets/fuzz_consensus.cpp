// Consensus documents (src/netdoc/consensus.h): Consensus::parse, then
// check_signatures against real authority certificates and identities: the
// 2022-11 public network's (../shared/testdata) and the private test
// network's whose documents are seeds (fuzz/corpus/fuzz_authority_cert/
// private-cached-certs), "as of" the document's own valid-after, so the
// seeds' signatures verify and mutations exercise the whole check; then the
// lookups a client makes.
#include <vector>

#include "fuzz_util.h"
#include "netdoc/authority.h"
#include "netdoc/cert.h"
#include "netdoc/consensus.h"

using namespace tc;

namespace {
std::vector<netdoc::AuthorityCert> g_certs;
std::vector<netdoc::Sha1Digest> g_ids;

void add_certs(const std::string &text) {
  auto certs = netdoc::parse_authority_certs(fuzz::lf_only(text));
  FUZZ_CHECK(certs.ok() && !certs->empty());
  for (auto &c : *certs) {
    g_ids.push_back(c.fingerprint);
    g_certs.push_back(std::move(c));
  }
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  add_certs(fuzz::testdata("public-network-2022-11/cached-certs"));
  add_certs(fuzz::source_file("fuzz/corpus/fuzz_authority_cert/private-cached-certs"));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  auto c = netdoc::Consensus::parse(std::string(fuzz::as_text(data, size)));
  if (!c) {
    FUZZ_NOTE("consensus: %s", c.error().to_string().c_str());
    return 0;
  }
  FUZZ_CHECK(c->signed_part().size() <= c->text().size());
  const int64_t now = c->valid_after + 60;
  auto report = c->check_signatures(g_certs, g_ids, now);
  FUZZ_CHECK(report.valid <= report.authorities);
  FUZZ_NOTE("consensus: %zu relays, %zu good signatures", c->relays.size(), report.valid);
  fuzz::consume(report.describe());
  fuzz::consume(c->param("circwindow", 1000, 100, 1000));
  fuzz::consume(c->weight("Wgg", 10000));
  fuzz::consume(c->is_reasonably_live(now));
  for (const auto &r : c->relays) FUZZ_CHECK(c->find_relay(r.rsa_identity) != nullptr);
  return 0;
}
