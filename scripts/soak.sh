#!/usr/bin/env bash
# Soak test (issue 8; not part of CI): N minutes (default 30) of mixed load
# through torclientd on a private test network of its own (base port 5600,
# always stopped): many short fetches, long 100 MB downloads and clients
# that vanish mid-stream. torclientd's RSS (and open descriptors) are sampled
# every 10 s to a CSV; at the end it says whether RSS flattened.
#
#   scripts/soak.sh [MINUTES]        CSV: $BUILD_DIR/soak-<date>.csv
#
# Env: BUILD_DIR (default build; needs torclientd built there), SOAK_CSV,
# SOAK_ARGS (more soak_load.py options: --short 8 --long 2 --vanish 4
# --interval 10 --base-port 5600). Runs in a private network namespace
# (testnet/netns-run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:-30}
BUILD_DIR=${BUILD_DIR:-build}
export TORCLIENTD=${TORCLIENTD:-$PWD/$BUILD_DIR/src/app/torclientd}
export TORCLIENTCTL=${TORCLIENTCTL:-$PWD/$BUILD_DIR/src/app/torclientctl}
[ -x "$TORCLIENTD" ] || { echo "soak: $TORCLIENTD not built (BUILD_DIR=$BUILD_DIR bash scripts/build.sh)" >&2; exit 2; }
CSV=${SOAK_CSV:-$PWD/$BUILD_DIR/soak-$(date +%Y%m%d-%H%M%S).csv}
export TORCLIENT_TESTNET_TOOLS=$PWD/testnet TORCLIENT_TESTNET_PY=$PWD/testnet/testnet.py
echo "soak: $MINUTES min, samples to $CSV"
# soak_load.py stops its network and torclientd itself, also on failure/SIGTERM.
exec testnet/netns-run.sh python3 tests/integration/faults/soak_load.py \
  --minutes "$MINUTES" --csv "$CSV" ${SOAK_ARGS:-}
