#!/usr/bin/env python3
"""Fake relays on loopback (issue 8): junk after TLS, stalls.

1. The runtime: test_faults_fake_relay (gtest) opens channels to each fake
   relay (fake_relay.py: junk, versions-junk, stall, tcp-stall) while a real
   circuit fetches 1M on the same runtime: each channel must fail with a
   clear error within its timeout, nothing may stay pending, the fetch must
   succeed. Afterwards every fake connection must have been closed by the
   client.
2. torclientd: two extra, fake directory authorities (one whose DirPort
   accepts and never answers, one that speaks TLS junk) next to the three
   real ones; fresh daemons are cold-started until each fake has been asked
   at least once; every one must bootstrap and serve a fetch all the same.

usage: test_fake_relay.py GTEST_BINARY
"""
import os
import subprocess
import sys
import time

import fake_relay
import faultnet
from faultnet import check, log, tcd


def runtime_case(gtest, fakes):
    env = dict(os.environ)
    env["FAKE_RELAY_PORTS"] = ",".join("%s=%d" % (m, r.port) for m, r in fakes.relays.items())
    r = subprocess.run([gtest], env=env, timeout=240)
    check(r.returncode == 0, "%s failed (rc %d)" % (os.path.basename(gtest), r.returncode))
    # The client gave up on every fake connection (closed it), none hangs.
    deadline = time.time() + 5
    while time.time() < deadline:
        open_ = [(m, c) for m, f in fakes.relays.items() for c in f.conns if c.closed_by_client is None]
        if not open_:
            break
        time.sleep(0.2)
    for m, f in fakes.relays.items():
        check(f.conns, "fake relay %s was never connected to" % m)
    check(not open_, "connections to fake relays still open: %s" % [m for m, _ in open_])


def daemon_case(fakes):
    net = tcd.load_network()
    extra = []
    for i, mode in enumerate(("tcp-stall", "junk")):
        fp = ("%02X" % (0xF0 + i)) * 20
        v3 = ("%02X" % (0xE0 + i)) * 20
        port = fakes.relays[mode].port
        extra.append("dir-authority fake%d orport=%d no-v2 v3ident=%s 127.0.0.1:%d %s"
                     % (i, port, v3, port, fp))
    # The client asks a random authority first: cold-start fresh daemons
    # until each fake has been asked at least once (P(not within 30) < 0.2%).
    for attempt in range(1, 31):
        with faultnet.daemon("fake-authorities", net, extra_lines=extra) as d:
            d.wait_bootstrapped(timeout=150)
            log("start %d: bootstrapped with 2 fake authorities of 5 in %.1f s from exec"
                % (attempt, time.time() - d.started_at))
            faultnet.fetch(d, net, "1M")
            check(d.alive(), "torclientd died")
        asked = [m for m in ("tcp-stall", "junk") if fakes.relays[m].conns]
        if len(asked) == 2:
            break
    check(len(asked) == 2, "after %d cold starts the fake authorities asked were only %s" % (attempt, asked))
    log("both fake authorities were asked (%d cold starts); every daemon bootstrapped and served" % attempt)


def main():
    tcd.install_sigterm_handler()
    with fake_relay.FakeRelays() as fakes:
        runtime_case(sys.argv[1], fakes)
    with fake_relay.FakeRelays(("tcp-stall", "junk")) as fakes:
        daemon_case(fakes)
    log("PASS")
    return 0


if __name__ == "__main__":
    faultnet.run(main)
