#!/usr/bin/env bash
# Installs what the build, the tests and the demo need, from Debian 12's own
# packages only. Idempotent: does nothing when everything is present.
# Why each package is here: see README.md, "Dependencies".
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config   # the build
  libssl-dev            # OpenSSL 3: TLS, AES, SHA-1/2/3, X25519, Ed25519, RSA
  libasio-dev           # standalone Asio: the runtime's event loop and sockets
  zlib1g-dev libzstd-dev liblzma-dev   # compressed directory documents
  libgtest-dev          # GoogleTest (unit and integration tests)
  nlohmann-json3-dev    # JSON: tests read the test network's network.json
  libbenchmark-dev      # Google Benchmark (bench/)
  tor                   # C tor: the private test network and the reference client
  curl                  # SOCKS client in tests and the demo
  python3               # the private network tool (testnet/), stdlib only
  iproute2 util-linux   # ip / unshare: tests run in a private network namespace
  clang libclang-rt-14-dev   # libFuzzer and sanitizer runtimes
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root, or install them with apt-get" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
# The tor package would start a system tor that contacts the public network:
# forbid service starts for the duration of the install.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  created_policy=1
fi
trap '[ $created_policy -eq 1 ] && rm -f "$policy"' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
