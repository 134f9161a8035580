#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang into build-fuzz/ (or
# $BUILD_DIR) and runs each for a bounded time.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     default 30 s, all targets
#
# Seeds: fuzz/corpus/<target> (read only); new inputs go to
# $BUILD_DIR/fuzz-corpus/<target>, kept between runs. FUZZ_FULL_DOCS=1 also
# seeds the netdoc targets with the whole ../shared/testdata documents (MBs;
# slower executions). Crashes are saved as $BUILD_DIR/fuzz-artifacts/<target>/
# crash-*; keep each as fuzz/regressions/<target>/<name> once understood.
# FUZZ_KEEP_GOING=1 runs libFuzzer with -fork=1 -ignore_crashes=1: it keeps
# fuzzing after a crash and collects every crash found (to get past a known,
# not yet fixed one).
# Prints executions per target; exits 1 if any target crashed.
set -uo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-30}
[ $# -gt 0 ] && shift
BUILD_DIR=${BUILD_DIR:-build-fuzz}
NICE=${NICE:-nice -n 10}
ALL="fuzz_socks fuzz_cell fuzz_certs fuzz_authority_cert fuzz_consensus fuzz_microdesc fuzz_dirauthority fuzz_config fuzz_control fuzz_http"
TARGETS=${*:-$ALL}

# Asserts stay on (no NDEBUG): a failed assert in a parser is a finding.
CC=${CC:-clang} CXX=${CXX:-clang++} cmake -S . -B "$BUILD_DIR" -G Ninja \
  -DTORCLIENT_FUZZ=ON -DTORCLIENT_BUILD_TESTS=OFF -DTORCLIENT_WERROR=${TORCLIENT_WERROR:-ON} \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" >/dev/null || exit 1
# Only the fuzz programs and the parser libraries they link (no runtime/app).
$NICE ninja -C "$BUILD_DIR" $TARGETS || exit 1

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
full_docs() {  # target -> extra seed files from ../shared/testdata
  local d=../shared/testdata/public-network-2022-11
  case $1 in
    fuzz_consensus) echo "$d/cached-microdesc-consensus $d/cached-consensus" ;;
    fuzz_microdesc) echo "$d/cached-microdescs.new" ;;
    fuzz_authority_cert) echo "$d/cached-certs" ;;
  esac
}

failed=0
summary=""
for t in $TARGETS; do
  work="$BUILD_DIR/fuzz-corpus/$t"
  art="$BUILD_DIR/fuzz-artifacts/$t"
  log="$BUILD_DIR/fuzz-logs/$t.log"
  mkdir -p "$work" "$art" "$(dirname "$log")"
  seeds=()
  [ -d "fuzz/corpus/$t" ] && seeds+=("fuzz/corpus/$t")
  [ -d "fuzz/regressions/$t" ] && seeds+=("fuzz/regressions/$t")
  if [ "${FUZZ_FULL_DOCS:-0}" = 1 ]; then
    full="$BUILD_DIR/fuzz-full/$t"
    mkdir -p "$full"
    for f in $(full_docs "$t"); do cp -f "$f" "$full/"; done
    seeds+=("$full")
  fi
  extra=()
  [ "${FUZZ_KEEP_GOING:-0}" = 1 ] && extra+=(-fork=1 -ignore_crashes=1)
  echo "== $t: ${SECS}s"
  before=$(ls "$art" | wc -l)
  $NICE "$BUILD_DIR/fuzz/$t" "$work" "${seeds[@]}" -max_total_time="$SECS" -timeout=20 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art/" "${extra[@]}" >"$log" 2>&1
  rc=$?
  # With -ignore_crashes the run succeeds; count the new artifacts instead.
  [ "$(ls "$art" | wc -l)" -gt "$before" ] && [ $rc -eq 0 ] && rc=1
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  # Fork mode prints no final stats: the last "#N:" progress line.
  [ -z "$execs" ] && execs=$(grep -aoE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  cov=$(grep -ao 'cov: [0-9]*' "$log" | tail -1)
  done_line=$(grep -aE '^Done [0-9]+ runs' "$log" | tail -1)
  if [ $rc -eq 77 ] && [ "$(ls "$art" | wc -l)" -eq "$before" ] && grep -aq '^fuzz: skipped:' "$log"; then
    # The target needs ../shared/testdata and it is not there: it says so
    # and exits 77, which the replay tests declare as SKIP_RETURN_CODE.
    # (libFuzzer's own error exit code is 77 too, hence the log check.)
    echo "   skipped: $(grep -a 'fuzz: skipped:' "$log" | head -1 | sed 's/^fuzz: skipped: //')"
    summary+=$(printf '%-22s %12s  %-10s skipped\n' "$t" "-" "")$'\n'
  elif [ $rc -ne 0 ]; then
    failed=1
    echo "   CRASH (rc=$rc): see $log; inputs: $(ls "$art" | tr '\n' ' ')"
    grep -aE 'ERROR: |SUMMARY: |FUZZ_CHECK|runtime error' "$log" | sort | uniq -c | head -8 | sed 's/^/   /'
    summary+=$(printf '%-22s %12s  %-10s CRASH\n' "$t" "${execs:-?}" "${cov:-}")$'\n'
  else
    echo "   ${done_line:-?} ${cov:+($cov)}"
    summary+=$(printf '%-22s %12s  %-10s ok\n' "$t" "${execs:-?}" "${cov:-}")$'\n'
  fi
done
echo
printf '%-22s %12s  %-10s %s\n' target executions coverage result
printf '%s' "$summary"
exit $failed
