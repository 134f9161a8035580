#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, and runs every
# test (unit and integration against a private Tor network of real C tor
# daemons) inside a private network namespace holding only `lo` when root.
# Every daemon it starts is stopped, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build}
BUILD_DIR=$BUILD_DIR bash scripts/build.sh
state="$PWD/$BUILD_DIR/testnet-state"
cleanup() { python3 testnet/testnet.py stop --dir "$state" >/dev/null 2>&1 || true; }
trap cleanup EXIT
# ctest runs the testnet fixture (start/stop) itself; the trap is the backstop.
testnet/netns-run.sh ctest --test-dir "$BUILD_DIR" --output-on-failure --timeout 900 "$@"
