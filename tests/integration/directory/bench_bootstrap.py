#!/usr/bin/env python3
"""Cold and warm bootstrap times on the private network: torclientd beside
C tor's own client (testnet/ctor_client.py). A measurement for the notes,
not an assertion (it fails only if a client does not bootstrap at all).

cold: empty state/cache; warm: restart with the state of the cold run.
Time = from exec until "Bootstrapped 100%" (torclientd: `show tor status`
polled every 20 ms; C tor: its notice log polled every 0.25 s).

usage: bench_bootstrap.py [RUNS]
"""
import os
import statistics
import sys
import time

import dirtest
from dirtest import check, log, tcd

from ctor_client import CTorClient  # noqa: E402 (dirtest put testnet/ on sys.path)


def ctor_times(net_dir, net):
    name = "dir-bench"
    # CTorClient.start() blocks until its notice log says 100% (polled
    # every 0.25 s).
    c = CTorClient(net_dir, name=name)
    t0 = time.time()
    try:
        c.start(timeout=120)
        cold = time.time() - t0
    finally:
        c.stop()
    os.replace(c.log, c.log + ".cold")  # bootstrap_percent() reads the whole log
    w = CTorClient(net_dir, name=name, keep_data=True)
    t0 = time.time()
    try:
        w.start(timeout=120)
        warm = time.time() - t0
    finally:
        w.stop()
    return cold, warm


def tcd_times(net):
    with dirtest.daemon("dir-bench", net) as d:
        cold, off = dirtest.start_and_time(d)
        log("torclientd cold: daemon log says %.3fs" % dirtest.log_bootstrap_seconds(dirtest.log_since(d, off)))
        check(d.stop() == 0, "torclientd did not exit cleanly")
        warm, off = dirtest.start_and_time(d)
        log("torclientd warm: daemon log says %.3fs" % dirtest.log_bootstrap_seconds(dirtest.log_since(d, off)))
        dirtest.fetch(d, net, "1M")
    return cold, warm


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    net = tcd.load_network()
    net_dir = os.environ["TORCLIENT_TESTNET_DIR"]
    res = {"torclientd": [], "C tor": []}
    for i in range(runs):
        res["torclientd"].append(tcd_times(net))
        log("torclientd run %d: cold %.2fs warm %.2fs" % ((i + 1,) + res["torclientd"][-1]))
        res["C tor"].append(ctor_times(net_dir, net))
        log("C tor run %d: cold %.2fs warm %.2fs" % ((i + 1,) + res["C tor"][-1]))
    print("\nbootstrap to 100%% on the private network (%d runs, median [min-max], seconds)" % runs)
    print("%-12s %-22s %-22s" % ("client", "cold", "warm"))
    for k, v in res.items():
        cells = []
        for j in (0, 1):
            xs = [r[j] for r in v]
            cells.append("%.2f [%.2f-%.2f]" % (statistics.median(xs), min(xs), max(xs)))
        print("%-12s %-22s %-22s" % (k, cells[0], cells[1]))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    dirtest.run(main)
