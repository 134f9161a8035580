#!/usr/bin/env python3
"""curl through torclientd: --socks5 (IP literal), --socks5-hostname and
--socks4a (files.testnet.example, which only the exits' DNS resolves),
fetching /10M and checking size + sha256 from network.json.

usage: test_fetch.py socks5|socks5-hostname|socks4a [FILE]
"""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tcd  # noqa: E402


def main():
    tcd.install_sigterm_handler()
    mode = sys.argv[1] if len(sys.argv) > 1 else "socks5-hostname"
    name = sys.argv[2] if len(sys.argv) > 2 else "10M"
    net = tcd.load_network()
    info = net["http"]["files"][name]
    if mode == "socks5":
        # An IP literal: nothing to resolve, at the exit or here.
        url = "http://%s:%d/%s" % (net["http"]["address"], net["http"]["port"], name)
    else:
        url = info["url"]  # http://files.testnet.example:PORT/NAME
    with tcd.Torclientd(name="fetch-" + mode, net=net) as d:
        t0 = time.time()
        d.wait_bootstrapped()
        tcd.log("bootstrapped in %.1fs" % (time.time() - t0))
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, name)
            for attempt in (1, 2):
                t1 = time.time()
                r = tcd.curl_fetch(["--" + mode, d.socks_addr], url, out)
                dt = time.time() - t1
                if r.returncode == 0:
                    break
                tcd.log("curl --%s attempt %d failed (rc=%d): %s"
                        % (mode, attempt, r.returncode, r.stderr.decode(errors="replace").strip()))
            else:
                print("FAIL: curl --%s %s failed\n%s" % (mode, url, d.tail(40)), file=sys.stderr)
                return 1
            size = os.path.getsize(out)
            digest = tcd.sha256_file(out)
            tcd.log("curl --%s %s: %d bytes in %.2fs (%.1f MB/s)"
                    % (mode, url, size, dt, size / dt / 1e6 if dt else 0))
            if size != info["size"] or digest != info["sha256"]:
                print("FAIL: got %d bytes sha256 %s, want %d %s"
                      % (size, digest, info["size"], info["sha256"]), file=sys.stderr)
                return 1
        print(d.status())
        print(d.circuits()[1])
        with open(d.log_path, errors="replace") as f:
            leaked = net["http"]["host"] in f.read()
        if leaked:
            print("FAIL: destination in the log with safe logging on", file=sys.stderr)
            return 1
    tcd.log("OK sha256 %s" % info["sha256"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
