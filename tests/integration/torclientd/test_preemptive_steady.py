#!/usr/bin/env python3
"""Preemptive circuits come to rest: once a few clean circuits are ready the
client stops building, with conflux (default), with `conflux off` and with
`congestion-control off` (which turns conflux off too). A client that kept
building would load every relay of the network and never say so.

For each configuration: bootstrap, fetch /1M (size + sha256 checked), let
the client settle, then count circuit builds (the "circuit ... built in"
info log line) over an idle window: at most one conflux pair may come in
it (a set finishing late, or replacing a leg, on a loaded machine; the
runaway this guards against built ~40 circuits a second), and `show tor
circuits` must list a handful, not dozens. Each build line also splits
its time by hop ("built in 47 ms (hops 0.9 + 40.2 + 5.8 ms)", read by
bench/run_bench.py): one figure per hop, adding up to the total.

usage: test_preemptive_steady.py
"""
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tcd  # noqa: E402

CONFIGS = [
    ("default", []),
    ("conflux-off", ["conflux off"]),
    ("cc-off", ["congestion-control off"]),
]
SETTLE_S = 4.0
IDLE_S = 4.0
# Two preemptive circuits (or two conflux pairs: four legs), the one the
# fetch used, and slack for a directory circuit.
MAX_OPEN = 8
MAX_IDLE_BUILDS = 2

BUILT_RE = re.compile(r"\bcircuit [0-9a-f]+ built in \d+ ms")
HOPS_RE = re.compile(r"\bcircuit [0-9a-f]+ built in (\d+) ms \(hops ([0-9. +]+) ms\)")


def builds(d):
    with open(d.log_path, errors="replace") as f:
        return len(BUILT_RE.findall(f.read()))


def check_hop_times(d):
    """Every build line names its hops' times, and they add up to the total."""
    with open(d.log_path, errors="replace") as f:
        text = f.read()
    lines = BUILT_RE.findall(text)
    split = HOPS_RE.findall(text)
    if len(split) != len(lines):
        return "%d of %d build lines lack the per-hop split" % (len(lines) - len(split), len(lines))
    three = 0
    for total, hops in split:
        h = [float(x) for x in hops.split("+")]
        if len(h) not in (1, 3):
            return "a build line names %d hops: %r" % (len(h), hops)
        three += len(h) == 3
        # the total is whole milliseconds (truncated), the hops tenths
        if not (int(total) - 0.2 <= sum(h) <= int(total) + 1.2):
            return "hops %s ms do not add up to %s ms" % (hops, total)
    if not three:
        return "no three-hop build line in the log"
    return None


def check(name, extra, net):
    info = net["http"]["files"]["1M"]
    url = "http://%s:%d/1M" % (net["http"]["address"], net["http"]["port"])
    with tcd.Torclientd(name="steady-" + name, net=net, extra_lines=extra) as d:
        d.wait_bootstrapped()
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "1M")
            r = tcd.curl_fetch(["--socks5-hostname", d.socks_addr], url, out)
            if r.returncode != 0:
                return "curl failed (rc=%d): %s\n%s" % (
                    r.returncode, r.stderr.decode(errors="replace").strip(), d.tail(30))
            if os.path.getsize(out) != info["size"] or tcd.sha256_file(out) != info["sha256"]:
                return "fetched file differs from network.json's 1M"
        time.sleep(SETTLE_S)
        b0 = builds(d)
        time.sleep(IDLE_S)
        b1 = builds(d)
        rows, text = d.circuits()
        tcd.log("%s: %d builds in all, %d during %.0f s idle, %d circuits open"
                % (name, b1, b1 - b0, IDLE_S, len(rows)))
        if b1 - b0 > MAX_IDLE_BUILDS:
            return "%d circuits built while idle (%d in all)\n%s" % (b1 - b0, b1, text)
        if len(rows) > MAX_OPEN:
            return "%d circuits open at rest (at most %d expected)\n%s" % (len(rows), MAX_OPEN, text)
        err = check_hop_times(d)
        if err:
            return err
        if not d.alive():
            return "torclientd exited\n" + d.tail(30)
    return None


def main():
    tcd.install_sigterm_handler()
    net = tcd.load_network()
    failed = False
    for name, extra in CONFIGS:
        err = check(name, extra, net)
        if err:
            print("FAIL: %s: %s" % (name, err), file=sys.stderr)
            failed = True
    if failed:
        return 1
    tcd.log("OK: circuit building came to rest in %s" % ", ".join(n for n, _ in CONFIGS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
