#!/usr/bin/env python3
"""Conflux sets are capped as the consensus says: a client keeps at most
cfx_max_linked_set linked sets open (C tor's default 10; the test network
does not set it), and builds plain circuits past that, as C tor's conflux
pool does. Without the cap every new isolation group took a fresh pair,
twice the circuits a plain circuit costs the relays.

Fetches /1M with N_GROUPS distinct SOCKS usernames (one isolation group
each, sha256 checked), then counts the sets linked (the "conflux set of N
legs" info log line) and builds over an idle window: at most 10 sets, at
least one (conflux was used at all), and the client comes to rest once
the cap is reached (plain preemptive circuits count as clean there).

usage: test_conflux_cap.py
"""
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tcd  # noqa: E402

N_GROUPS = 16
MAX_SETS = 10  # cfx_max_linked_set's default
SETTLE_S = 4.0
IDLE_S = 4.0
MAX_IDLE_BUILDS = 2

SET_RE = re.compile(r"\bcircuit [0-9a-f]+: conflux set of (\d+) legs")
BUILT_RE = re.compile(r"\bcircuit [0-9a-f]+ built in \d+ ms")


def count(d, rx):
    with open(d.log_path, errors="replace") as f:
        return len(rx.findall(f.read()))


def main():
    tcd.install_sigterm_handler()
    net = tcd.load_network()
    info = net["http"]["files"]["1M"]
    url = info["url"]
    with tcd.Torclientd(name="conflux-cap", net=net) as d:
        d.wait_bootstrapped()
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(N_GROUPS):
                out = os.path.join(tmp, "1M-%d" % i)
                r = tcd.curl_fetch(["--socks5-hostname", d.socks_addr, "-U", "group%d:x" % i], url, out)
                if r.returncode != 0:
                    print("FAIL: fetch %d failed (rc=%d): %s\n%s" % (
                        i, r.returncode, r.stderr.decode(errors="replace").strip(), d.tail(30)), file=sys.stderr)
                    return 1
                if os.path.getsize(out) != info["size"] or tcd.sha256_file(out) != info["sha256"]:
                    print("FAIL: fetch %d: file differs from network.json's 1M" % i, file=sys.stderr)
                    return 1
        time.sleep(SETTLE_S)
        b0 = count(d, BUILT_RE)
        time.sleep(IDLE_S)
        b1 = count(d, BUILT_RE)
        sets = count(d, SET_RE)
        rows, text = d.circuits()
        tcd.log("%d isolation groups: %d conflux sets linked, %d builds in all, %d during %.0f s idle, "
                "%d circuits open" % (N_GROUPS, sets, b1, b1 - b0, IDLE_S, len(rows)))
        failures = []
        if sets > MAX_SETS:
            failures.append("%d conflux sets linked, more than cfx_max_linked_set (%d)" % (sets, MAX_SETS))
        if sets < 1:
            failures.append("no conflux set was linked at all (conflux is on by default)")
        if b1 - b0 > MAX_IDLE_BUILDS:
            failures.append("%d circuits built while idle (%d in all)\n%s" % (b1 - b0, b1, text))
        if not d.alive():
            failures.append("torclientd exited\n" + d.tail(30))
        if failures:
            print("FAIL: " + "; ".join(failures), file=sys.stderr)
            return 1
    tcd.log("OK: conflux sets capped at %d, circuit building at rest" % MAX_SETS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
