#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, and runs every
# test (unit and integration against a private Tor network of real C tor
# daemons) inside a private network namespace holding only `lo` when root.
# Every daemon it starts is stopped, also on failure.
#
# Then, as CI does (.ci/run), the same suite again built with ASan + UBSan
# (scripts/sanitize.sh --all, build-asan/) and every libFuzzer target for a
# bounded time (scripts/fuzz.sh, build-fuzz/). Each stage runs even when an
# earlier one failed; the exit code is 1 if any failed.
#
#   scripts/test.sh                  everything
#   scripts/test.sh CTEST_ARGS...    only the normal build's ctest with those
#                                    arguments (e.g. -L unit)
# Env: TORCLIENT_CI_SANITIZE=0|1 (default 1 without arguments),
#      TORCLIENT_CI_FUZZ_SECONDS=N per target (default 20 without arguments; 0: off).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
if [ $# -eq 0 ]; then
  SANITIZE=${TORCLIENT_CI_SANITIZE:-1}
  FUZZ_SECONDS=${TORCLIENT_CI_FUZZ_SECONDS:-20}
else
  SANITIZE=${TORCLIENT_CI_SANITIZE:-0}
  FUZZ_SECONDS=${TORCLIENT_CI_FUZZ_SECONDS:-0}
fi
BUILD_DIR=${BUILD_DIR:-build}
stamp() { date +%s; }
t0=$(stamp)
BUILD_DIR=$BUILD_DIR bash scripts/build.sh
state="$PWD/$BUILD_DIR/testnet-state"
cleanup() { python3 testnet/testnet.py stop --dir "$state" >/dev/null 2>&1 || true; }
trap cleanup EXIT
rc=0
# ctest runs the testnet fixture (start/stop) itself; the trap is the backstop.
testnet/netns-run.sh ctest --test-dir "$BUILD_DIR" --output-on-failure --timeout 900 "$@" || rc=1
summary="build + suite: $(( $(stamp) - t0 )) s ($([ $rc = 0 ] && echo ok || echo FAILED))"

if [ "$SANITIZE" != 0 ]; then
  t1=$(stamp)
  s=ok
  BUILD_DIR=build-asan bash scripts/sanitize.sh --all || { rc=1; s=FAILED; }
  summary+="; ASan+UBSan build + suite: $(( $(stamp) - t1 )) s ($s)"
fi
if [ "$FUZZ_SECONDS" != 0 ]; then
  t1=$(stamp)
  s=ok
  if command -v clang++ >/dev/null 2>&1; then
    BUILD_DIR=build-fuzz bash scripts/fuzz.sh "$FUZZ_SECONDS" || { rc=1; s=FAILED; }
  else
    s="skipped: no clang"
  fi
  summary+="; fuzzing ${FUZZ_SECONDS} s/target: $(( $(stamp) - t1 )) s ($s)"
fi
echo "test.sh: $summary; total $(( $(stamp) - t0 )) s"
exit $rc
