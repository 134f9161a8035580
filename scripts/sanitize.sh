#!/usr/bin/env bash
# Sanitizer build: ASan + UBSan (+ LSan, part of ASan on Linux) into
# build-asan/ (or $BUILD_DIR), then runs tests under ctest.
#
#   scripts/sanitize.sh                 # unit tests + fuzz-regression replays
#   scripts/sanitize.sh --all           # the whole suite: unit + fuzz-regression
#                                       # (-j $JOBS), then integration (one at a
#                                       # time, in a private network namespace;
#                                       # benchmarks, label bench, left out)
#   scripts/sanitize.sh -L integration  # any ctest arguments replace the default
#
# With explicit ctest arguments, integration tests need the private network
# namespace; wrap the call:
#   testnet/netns-run.sh scripts/sanitize.sh -L integration
# UBSan findings abort the test (halt_on_error), leaks fail it (detect_leaks).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-asan}
BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo}
NICE=${NICE:-nice -n 10}

cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" \
  -DTORCLIENT_SANITIZE=ON -DTORCLIENT_WERROR=ON >/dev/null
$NICE ninja -C "$BUILD_DIR" ${NINJA_TARGETS:-}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-}

if [ "${1:-}" = "--all" ]; then
  shift
  state="$PWD/$BUILD_DIR/testnet-state"
  cleanup() { python3 testnet/testnet.py stop --dir "$state" >/dev/null 2>&1 || true; }
  trap cleanup EXIT
  rc=0
  $NICE ctest --test-dir "$BUILD_DIR" --output-on-failure --timeout 900 -j "${JOBS:-2}" \
    -L 'unit|fuzz-regression' "$@" || rc=1
  # Integration tests one at a time: some freeze or kill relays.
  testnet/netns-run.sh $NICE ctest --test-dir "$BUILD_DIR" --output-on-failure --timeout 1800 \
    -L integration -LE bench "$@" || rc=1
  exit $rc
fi
if [ $# -eq 0 ]; then
  set -- -L 'unit|fuzz-regression'
fi
$NICE ctest --test-dir "$BUILD_DIR" --output-on-failure --timeout 900 -j "${JOBS:-2}" "$@"
