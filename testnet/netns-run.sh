#!/bin/sh
# Run CMD... inside a fresh network namespace that only has `lo` (up), so
# nothing the test network does can leave the machine. Falls back to running
# CMD directly (with a warning) when not root or unshare is unavailable.
#
#   testnet/netns-run.sh ctest --test-dir build -L integration
#
# Set TORCLIENT_NO_NETNS=1 to skip the namespace deliberately.
if [ $# -eq 0 ]; then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi
if [ -n "$TORCLIENT_IN_NETNS" ]; then
    exec "$@"            # already inside one
fi
if [ -z "$TORCLIENT_NO_NETNS" ] && [ "$(id -u)" = 0 ] \
   && command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 \
   && unshare -n true 2>/dev/null; then
    export TORCLIENT_IN_NETNS=1
    exec unshare -n sh -c 'ip link set lo up || exit 125; exec "$@"' netns-run "$@"
fi
echo "netns-run.sh: WARNING: no network namespace (TORCLIENT_NO_NETNS set, or not root / no unshare / no ip);" \
     "running without isolation" >&2
exec "$@"
