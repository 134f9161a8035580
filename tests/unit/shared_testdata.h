// The real documents of the public network of 2022-11 (../shared/testdata beside the
// repository, TORCLIENT_TESTDATA from CMake). A test that reads them calls
// TC_REQUIRE_TESTDATA() first: without them it is skipped, saying where they
// were looked for, instead of failing on an empty string.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace tc::testing {

inline std::string public_network_dir() { return std::string(TORCLIENT_TESTDATA) + "/public-network-2022-11"; }

inline bool have_public_network_documents() {
  std::error_code ec;
  return std::filesystem::is_regular_file(public_network_dir() + "/cached-microdesc-consensus", ec);
}

}  // namespace tc::testing

#define TC_REQUIRE_TESTDATA()                                                                             \
  do {                                                                                                    \
    if (!::tc::testing::have_public_network_documents())                                                  \
      GTEST_SKIP() << "the 2022-11 public consensus documents are not at " << ::tc::testing::public_network_dir() \
                   << " (../shared/testdata beside the repository)";                                     \
  } while (0)
