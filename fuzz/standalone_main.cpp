// Replays inputs through a fuzz target without libFuzzer (the standard
// "standalone reproducer" driver): every file named on the command line, and
// every regular file below a named directory, is passed once to
// LLVMFuzzerTestOneInput. Hidden files (.gitkeep) and README* are skipped.
// Used by the fuzz-regression ctest entries over fuzz/corpus/<target> and
// fuzz/regressions/<target>.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

namespace fs = std::filesystem;

static bool skipped(const fs::path &p) {
  const std::string name = p.filename().string();
  return name.empty() || name[0] == '.' || name.rfind("README", 0) == 0;
}

static int run_file(const fs::path &p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) {
    std::fprintf(stderr, "cannot read %s\n", p.c_str());
    return 1;
  }
  std::vector<uint8_t> data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  // A heap copy of exactly the input's size, so ASan sees reads past its end.
  auto *copy = new uint8_t[data.size() ? data.size() : 1];
  std::copy(data.begin(), data.end(), copy);
  LLVMFuzzerTestOneInput(copy, data.size());
  delete[] copy;
  return 0;
}

int main(int argc, char **argv) {
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  size_t runs = 0;
  int failures = 0;
  for (int i = 1; i < argc; ++i) {
    const fs::path arg(argv[i]);
    std::error_code ec;
    if (fs::is_directory(arg, ec)) {
      std::vector<fs::path> files;
      for (const auto &e : fs::recursive_directory_iterator(arg))
        if (e.is_regular_file() && !skipped(e.path())) files.push_back(e.path());
      std::sort(files.begin(), files.end());
      for (const auto &p : files) {
        failures += run_file(p);
        ++runs;
      }
    } else if (fs::is_regular_file(arg, ec)) {
      failures += run_file(arg);
      ++runs;
    } else {
      std::fprintf(stderr, "no such file or directory: %s\n", argv[i]);
      ++failures;
    }
  }
  std::printf("%s: %zu inputs replayed\n", argc > 0 ? argv[0] : "replay", runs);
  return failures == 0 ? 0 : 1;
}
