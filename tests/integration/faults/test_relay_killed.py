#!/usr/bin/env python3
"""Relays killed under a running torclientd (issue 8), on a network of its own.

usage: test_relay_killed.py exit|guard BASE_PORT

exit:  a 100 MB download runs through torclientd; after 10 MB the exit of
       its circuit is SIGKILLed. That SOCKS client must see the stream end
       (EOF or reset, before 100 MB and within EOF_LIMIT s: no hang), the
       daemon must keep running, and the next fetch must succeed (first try)
       through the other exit.
guard: the same with the guard of the download's circuit; then the next
       fetches must succeed (first try) through the other guard, and
       `show tor status` must list the dead guard as down. Then one
       of the three authorities is killed and a second torclientd with empty
       directories bootstraps (connection refused by the dead authority;
       the frozen case, where it never answers, is
       tests/integration/directory/test_authority_frozen.py) and fetches.

The network (testnet.py, own state dir, BASE_PORT) is always stopped, so the
shared `testnet` fixture of the other tests is never touched.
"""
import re
import sys
import time

import faultnet
from faultnet import check, log, tcd

EOF_LIMIT = 60  # s from the kill to the end of the SOCKS stream


def stream_circuit(d):
    """The one exit circuit carrying streams (path list), waiting briefly for
    it (one-hop directory circuits do not count)."""
    deadline = time.time() + 10
    while True:
        rows = [c for c in faultnet.circuits_with_streams(d) if len(c["hops"]) >= 3]
        if len(rows) == 1 or time.time() > deadline:
            break
        time.sleep(0.2)
    check(len(rows) == 1, "want one circuit with streams, got:\n%s" % d.circuits()[1])
    return rows[0]["hops"]


def fetch_observed(d, fn, name="10M"):
    """A fetch that is checked (size, sha256) and whose circuit is looked up
    while it runs; returns the circuit's hops as nicknames."""
    dl = faultnet.Download(d, fn.net, name)
    try:
        dl.read(256 * 1024)  # well before the end: the stream is still open
        hops = [faultnet.hop_nickname(h) for h in stream_circuit(d)]
        dl.finish()
    finally:
        dl.close()
    log("GET /%s OK via %s" % (name, " > ".join(hops)))
    return hops


def kill_mid_download(d, fn, pick):
    """Starts GET /100M, reads 10 MB, kills the relay pick(hops) of its
    circuit, and checks that the SOCKS client then sees the stream end
    (EOF or reset) before 100 MB and within EOF_LIMIT s. Returns the victim."""
    dl = faultnet.Download(d, fn.net, "100M")
    try:
        dl.read(10 << 20)
        hops = [faultnet.hop_nickname(h) for h in stream_circuit(d)]
        victim = pick(hops)
        log("100M download at %d bytes via %s; killing %s" % (dl.n, " > ".join(hops), victim))
        fn.kill(victim)
        t0 = time.time()
        dl.sock.settimeout(EOF_LIMIT)
        how = "EOF"
        try:
            dl.read(1 << 62)
        except ConnectionResetError:
            how = "reset"
        except TimeoutError:
            raise faultnet.TestFailure("SOCKS stream still open %d s after %s died (%d bytes)\n%s"
                                       % (EOF_LIMIT, victim, dl.n, d.tail(30)))
        check(dl.n < dl.info["size"], "the whole 100M arrived although %s was killed" % victim)
        log("SOCKS client saw %s %.2f s after the kill, at %d bytes" % (how, time.time() - t0, dl.n))
    finally:
        dl.close()
    check(d.alive(), "torclientd died:\n%s" % d.tail(30))
    return victim


def exit_case(fn):
    with faultnet.daemon("exit-killed", fn.net) as d:
        d.wait_bootstrapped()
        faultnet.fetch(d, fn.net, "1M")
        victim = kill_mid_download(d, fn, lambda hops: hops[-1])
        check(victim in ("exit0", "exit1"), "last hop %s is not an exit" % victim)
        hops = fetch_observed(d, fn)
        check(hops[-1] != victim, "the next fetch went through the killed exit %s" % victim)
        print(d.status())


def guard_case(fn):
    with faultnet.daemon("guard-killed", fn.net) as d:
        d.wait_bootstrapped()
        faultnet.fetch(d, fn.net, "1M")
        victim = kill_mid_download(d, fn, lambda hops: hops[0])
        check(victim in ("guard0", "guard1"), "first hop %s is not a guard" % victim)
        for i in range(3):
            hops = fetch_observed(d, fn)
            check(hops[0] != victim, "fetch %d after the kill used the killed guard %s" % (i + 1, victim))
        check(d.alive(), "torclientd died:\n%s" % d.tail(30))
        status = d.status()
        print(status)
        check(re.search(r"^\s*%s .*down" % victim, status, re.M),
              "`show tor status` does not show %s as down" % victim)
    # One authority down (connection refused) at a cold start.
    fn.kill("auth0")
    with faultnet.daemon("auth-killed-cold", fn.net) as d2:
        d2.wait_bootstrapped(timeout=120)
        log("cold bootstrap with auth0 dead: %.1f s from exec" % (time.time() - d2.started_at))
        faultnet.fetch(d2, fn.net, "1M")


def main():
    tcd.install_sigterm_handler()
    mode, base = sys.argv[1], int(sys.argv[2])
    with faultnet.FaultNet(base, name="fault-" + mode) as fn:
        {"exit": exit_case, "guard": guard_case}[mode](fn)
    log("PASS")
    return 0


if __name__ == "__main__":
    faultnet.run(main)
