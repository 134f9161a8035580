#!/usr/bin/env bash
# The demo: a private Tor network of real C tor daemons on loopback,
# torclientd in front of it, and curl fetching a page through Tor
# (guard -> middle -> exit), then the CLI's view of it. Everything runs in a
# private network namespace (only `lo`) when root, and everything it starts
# is stopped at the end, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${TORCLIENT_IN_NETNS:-}" ]; then
  bash scripts/install-deps.sh
  BUILD_DIR=${BUILD_DIR:-build} bash scripts/build.sh
  exec testnet/netns-run.sh bash "$0" "$@"
fi

BUILD_DIR=${BUILD_DIR:-build}
work=$(mktemp -d /tmp/torclient-demo.XXXXXX)
net="$work/testnet"
tcd_pid=""
cleanup() {
  [ -n "$tcd_pid" ] && kill "$tcd_pid" 2>/dev/null && wait "$tcd_pid" 2>/dev/null || true
  python3 testnet/testnet.py stop --dir "$net" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== starting the private Tor network (3 authorities, 6 relays, all on 127.0.0.1)"
python3 testnet/testnet.py start --dir "$net" --wait --timeout 120

socks_port=9050
cat > "$work/torclientd.conf" <<CONF
tor {
  enabled
  socks-port $socks_port
  config-dir $work/state
  cache-dir $work/cache
  cli-socket $work/cli.sock
  test-network
$(python3 testnet/testnet.py dir-authorities --dir "$net" --stanza | sed 's/^/  /')
}
CONF
echo "== torclientd -c $work/torclientd.conf"
cat "$work/torclientd.conf"
"$BUILD_DIR/src/app/torclientd" -c "$work/torclientd.conf" > "$work/torclientd.log" 2>&1 &
tcd_pid=$!
ctl() { "$BUILD_DIR/src/app/torclientctl" -s "$work/cli.sock" "$@"; }
for _ in $(seq 1 120); do
  if ctl show tor status 2>/dev/null | grep -q "Bootstrapped 100%"; then break; fi
  sleep 1
done
grep "Bootstrapped" "$work/torclientd.log" || true

http_port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["http"]["port"])' "$net/network.json")
echo
echo "== curl --socks5-hostname 127.0.0.1:$socks_port http://files.testnet.example:$http_port/"
curl -sS --max-time 60 --socks5-hostname "127.0.0.1:$socks_port" "http://files.testnet.example:$http_port/"
echo
echo "== curl 10 MB through Tor"
curl -sS --max-time 120 --socks5-hostname "127.0.0.1:$socks_port" -o "$work/10M" \
     -w 'fetched %{size_download} bytes in %{time_total} s\n' "http://files.testnet.example:$http_port/10M"
python3 - "$net/network.json" "$work/10M" <<'PY'
import hashlib, json, sys
want = json.load(open(sys.argv[1]))["http"]["files"]["10M"]["sha256"]
got = hashlib.sha256(open(sys.argv[2], "rb").read()).hexdigest()
print("sha256 %s (%s)" % (got, "matches" if got == want else "MISMATCH, expected " + want))
sys.exit(0 if got == want else 1)
PY
echo
echo "== torclientctl show tor status"
ctl show tor status
echo
echo "== torclientctl show tor circuits"
ctl show tor circuits
