// Random single-byte mutations of real documents must give a parsed document
// or an error, never a crash or an out-of-bounds read (run under ASan).
#include <gtest/gtest.h>

#include <random>

#include "netdoc/cert.h"
#include "netdoc/consensus.h"
#include "netdoc/microdesc.h"
#include "testdata.h"

namespace tc::netdoc {
namespace {

// The consensus header, its first `n` router entries and its footer.
std::string small_consensus(size_t n) {
  std::string t = testing::read_testdata("cached-microdesc-consensus");
  size_t r = t.find("\nr ");
  for (size_t i = 0; i < n; ++i) r = t.find("\nr ", r + 1);
  return t.substr(0, r + 1) + t.substr(t.find("directory-footer"));
}

template <typename Parse>
void mutate_and_parse(const std::string &orig, int rounds, uint64_t seed, Parse &&parse) {
  std::mt19937_64 gen(seed);
  static const char kBytes[] = {' ', '\n', '-', '=', '0', '9', 'a', 'Z', '+', '/', '\t', '\0', '\x80', 'r', ':'};
  size_t ok = 0;
  for (int i = 0; i < rounds; ++i) {
    std::string t = orig;
    int edits = 1 + static_cast<int>(gen() % 3);
    for (int e = 0; e < edits; ++e) {
      size_t at = gen() % t.size();
      switch (gen() % 3) {
        case 0: t[at] = kBytes[gen() % sizeof kBytes]; break;
        case 1: t.erase(at, 1 + gen() % 8); break;
        default: t.insert(at, 1, kBytes[gen() % sizeof kBytes]); break;
      }
    }
    ok += parse(t);
  }
  std::printf("[ info ] %zu of %d mutated documents still parsed\n", ok, rounds);
}

TEST(Mutation, Consensus) {
  TC_REQUIRE_TESTDATA();
  const std::string orig = small_consensus(40);
  ASSERT_TRUE(Consensus::parse(orig).ok());
  mutate_and_parse(orig, 3000, 1, [](const std::string &t) {
    auto c = Consensus::parse(t);
    if (!c.ok()) {
      EXPECT_FALSE(c.error().message().empty());
      return false;
    }
    EXPECT_LE(c->signed_part().size(), c->text().size());
    return true;
  });
}

TEST(Mutation, Microdescriptors) {
  TC_REQUIRE_TESTDATA();
  std::string orig = testing::read_testdata("cached-microdescs.new");
  orig.resize(orig.rfind('\n', 20000) + 1);
  mutate_and_parse(orig, 3000, 2, [](const std::string &t) {
    MicrodescBatch b = parse_microdescs_lenient(t);
    return b.errors.empty();
  });
}

TEST(Mutation, Certificates) {
  TC_REQUIRE_TESTDATA();
  std::string orig = testing::read_certs();
  orig.resize(orig.find("-----END SIGNATURE-----\n") + 24);
  mutate_and_parse(orig, 2000, 3, [](const std::string &t) {
    auto c = parse_authority_certs(t);
    if (!c.ok()) return false;
    for (const AuthorityCert &cert : *c) (void)cert.verify(testing::test_now());
    return true;
  });
}

}  // namespace
}  // namespace tc::netdoc
