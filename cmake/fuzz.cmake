# libFuzzer build (TORCLIENT_FUZZ=ON, clang only): every library is compiled
# with coverage instrumentation + ASan + UBSan so the fuzz targets in fuzz/
# see edges inside the parsers. The fuzz programs themselves link with
# -fsanitize=fuzzer (fuzz/CMakeLists.txt).
#   CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DTORCLIENT_FUZZ=ON
if(TORCLIENT_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "TORCLIENT_FUZZ needs clang (CC=clang CXX=clang++)")
  endif()
  set(TORCLIENT_FUZZ_SANITIZERS "address,undefined" CACHE STRING
      "Sanitizers added to the libFuzzer build")
  add_compile_options(-fsanitize=fuzzer-no-link,${TORCLIENT_FUZZ_SANITIZERS}
                      -fno-omit-frame-pointer -fno-sanitize-recover=undefined
                      -DTORCLIENT_FUZZING_BUILD=1)
  add_link_options(-fsanitize=${TORCLIENT_FUZZ_SANITIZERS})
endif()

# GCC's -Wmaybe-uninitialized gives false positives under -fsanitize=address
# (documented in GCC's manual; seen on std::variant moves in
# src/proto/circuit.cpp), which -Werror turns into a failed sanitizer build.
# The warning stays on in the normal build, which is where it is meaningful.
if(TORCLIENT_SANITIZE AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  target_compile_options(torclient_warnings INTERFACE -Wno-maybe-uninitialized)
endif()
