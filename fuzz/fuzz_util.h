// Shared helpers for the fuzz targets (fuzz/targets/*.cpp). Each target
// defines LLVMFuzzerTestOneInput; it is linked either with libFuzzer
// (TORCLIENT_FUZZ) or with standalone_main.cpp, which replays files.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "util/bytes.h"

// An invariant the parser promises (round trips, bounds). Its failure is a
// finding: abort, so libFuzzer saves the input as a crash.
#define FUZZ_CHECK(cond)                                                                   \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)

namespace tc::fuzz {

// TORCLIENT_FUZZ_VERBOSE=1: targets say how far each input got (to check
// that seeds reach deep into a parser). Off while fuzzing.
inline bool verbose() {
  static const bool v = std::getenv("TORCLIENT_FUZZ_VERBOSE") != nullptr;
  return v;
}
#define FUZZ_NOTE(...)                              \
  do {                                              \
    if (::tc::fuzz::verbose()) {                    \
      std::fprintf(stderr, "  note: " __VA_ARGS__); \
      std::fputc('\n', stderr);                     \
    }                                               \
  } while (0)

inline std::string read_file(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    std::fprintf(stderr, "fuzz: cannot read %s\n", path.c_str());
    std::abort();
  }
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Exit status that ctest reports as "skipped" (SKIP_RETURN_CODE).
constexpr int kSkipExit = 77;

// ../shared/testdata (TORCLIENT_TESTDATA from CMake). Without it the target
// cannot run: it exits with kSkipExit, saying where it looked.
inline std::string testdata(const std::string &rel) {
  const std::string path = std::string(TORCLIENT_TESTDATA) + "/" + rel;
  if (!std::ifstream(path)) {
    std::fprintf(stderr, "fuzz: skipped: %s is missing (../shared/testdata beside the repository)\n", path.c_str());
    std::exit(kSkipExit);
  }
  return read_file(path);
}
// A file of this repository (TORCLIENT_SOURCE_DIR from CMake).
inline std::string source_file(const std::string &rel) {
  return read_file(std::string(TORCLIENT_SOURCE_DIR) + "/" + rel);
}

// Git may have turned LF into CR LF in checked-in documents; authorities
// sign LF-only text.
inline std::string lf_only(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i)
    if (!(s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n')) out.push_back(s[i]);
  return out;
}

inline std::string_view as_text(const uint8_t *data, size_t size) {
  return {reinterpret_cast<const char *>(data), size};
}

// Keeps the optimizer from dropping a computed value.
template <typename T>
inline void consume(const T &v) {
  asm volatile("" : : "r"(&v) : "memory");
}

}  // namespace tc::fuzz
