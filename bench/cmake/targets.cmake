# Benchmark targets; included from bench/CMakeLists.txt (or cmake/hook.cmake).
get_filename_component(_tc_bench_dir ${CMAKE_CURRENT_LIST_DIR}/.. ABSOLUTE)
find_package(benchmark QUIET)
if(NOT benchmark_FOUND)
  message(STATUS "bench: Google Benchmark not found, micro-benchmarks not built")
elseif(NOT TARGET bench_micro)
  add_executable(bench_micro
    ${_tc_bench_dir}/micro/relay_crypto_bench.cpp
    ${_tc_bench_dir}/micro/netdoc_bench.cpp
    ${_tc_bench_dir}/micro/handshake_bench.cpp)
  target_link_libraries(bench_micro PRIVATE tc_cell tc_netdoc tc_crypto tc_util
                        benchmark::benchmark_main torclient_warnings)
  target_include_directories(bench_micro PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_compile_definitions(bench_micro PRIVATE
    TORCLIENT_TESTDATA="${PROJECT_SOURCE_DIR}/../shared/testdata")
endif()
