# Used by scripts/bench.sh only while the top-level CMakeLists.txt does not
# yet have add_subdirectory(bench): injected with
# -DCMAKE_PROJECT_torclient_INCLUDE=<this file>, it runs right after
# project(torclient) and defers the bench targets to the end of the top-level
# file, when every library target exists (deferred calls may not create
# subdirectories, so the targets live in an include file).
# (EVAL so that the path is expanded now, not when the call runs.)
cmake_language(EVAL CODE
  "cmake_language(DEFER DIRECTORY [[${CMAKE_SOURCE_DIR}]] CALL include [[${CMAKE_CURRENT_LIST_DIR}/targets.cmake]])")
