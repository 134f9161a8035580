#!/usr/bin/env python3
"""Soak load for torclientd (issue 8; run by scripts/soak.sh, not in CI).

Starts a private test network of its own (testnet.py, base port --base-port,
always stopped) and one torclientd, then for --minutes runs mixed load:

  short    --short threads: GET /bytes/20000 again and again (new stream each)
  long     --long threads:  GET /100M, read to the end, check the size
  vanish   --vanish threads: GET /100M, read 0-4 MB, then drop the
           connection (half of them with SO_LINGER 0: a reset)

and samples torclientd's VmRSS and open descriptors every --interval s to
--csv. At the end it prints the curve's summary and whether RSS flattened:
the mean of the last third of the samples is within 10% (+2 MB) of the
mean of the middle third. Exit 0 when it flattened and the daemon lived.
"""
import argparse
import os
import random
import socket
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import faultnet  # noqa: E402
from faultnet import log, tcd  # noqa: E402


class Counters:
    def __init__(self):
        self.lock = threading.Lock()
        self.c = {}

    def add(self, k, n=1):
        with self.lock:
            self.c[k] = self.c.get(k, 0) + n

    def get(self, k):
        with self.lock:
            return self.c.get(k, 0)


def request(d, net, path, timeout=120):
    s, rep = tcd.socks5_connect(d.socks_port, net["http"]["host"], net["http"]["port"], timeout=timeout)
    if rep != 0:
        raise tcd.TorclientdError("SOCKS reply %d" % rep)
    s.sendall(("GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path, net["http"]["host"])).encode())
    return s


def read_body_len(s, limit=None):
    head = b""
    while b"\r\n\r\n" not in head:
        b = s.recv(4096)
        if not b:
            raise tcd.TorclientdError("EOF in header")
        head += b
    n = len(head.split(b"\r\n\r\n", 1)[1])
    while limit is None or n < limit:
        b = s.recv(1 << 16)
        if not b:
            break
        n += len(b)
    return n


def worker(kind, d, net, stop, ctr):
    rng = random.Random()
    while not stop.is_set():
        try:
            if kind == "short":
                with request(d, net, "/bytes/20000", timeout=60) as s:
                    ok = read_body_len(s) == 20000
            elif kind == "long":
                with request(d, net, "/100M", timeout=120) as s:
                    s.settimeout(120)
                    ok = read_body_len(s) == 100 * 1024 * 1024
            else:
                s = request(d, net, "/100M", timeout=60)
                s.settimeout(60)
                read_body_len(s, limit=rng.randrange(0, 4 << 20))
                if rng.random() < 0.5:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
                ok = True
            ctr.add(kind + "_ok" if ok else kind + "_bad")
        except (OSError, tcd.TorclientdError) as e:
            ctr.add(kind + "_err")
            if ctr.get(kind + "_err") <= 3:
                log("%s: %s" % (kind, e))
            time.sleep(0.5)


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--interval", type=float, default=10)
    ap.add_argument("--csv", default="soak.csv")
    ap.add_argument("--base-port", type=int, default=5600)
    ap.add_argument("--short", type=int, default=8)
    ap.add_argument("--long", type=int, default=2)
    ap.add_argument("--vanish", type=int, default=4)
    a = ap.parse_args()
    tcd.install_sigterm_handler()
    kinds = ["short"] * a.short + ["long"] * a.long + ["vanish"] * a.vanish
    samples = []
    with faultnet.FaultNet(a.base_port, name="soak") as fn:
        with faultnet.daemon("soak", fn.net, log_level="notice") as d:
            d.wait_bootstrapped()
            stop, ctr = threading.Event(), Counters()
            threads = [threading.Thread(target=worker, args=(k, d, fn.net, stop, ctr), daemon=True)
                       for k in kinds]
            for t in threads:
                t.start()
            t0 = time.time()
            cols = ["short_ok", "short_err", "long_ok", "long_bad", "long_err", "vanish_ok", "vanish_err"]
            try:
                with open(a.csv, "w") as out:
                    out.write("seconds,rss_kb,fds," + ",".join(cols) + "\n")
                    while time.time() - t0 < a.minutes * 60:
                        time.sleep(a.interval)
                        if not d.alive():
                            raise faultnet.TestFailure("torclientd died:\n%s" % d.tail(30))
                        row = [round(time.time() - t0), faultnet.vm_rss_kb(d.proc.pid), fd_count(d.proc.pid)]
                        row += [ctr.get(c) for c in cols]
                        samples.append(row)
                        out.write(",".join(str(x) for x in row) + "\n")
                        out.flush()
                        log("t=%4ds rss=%6d kB fds=%4d  %s" % (row[0], row[1], row[2],
                                                               " ".join("%s=%d" % (c, v) for c, v in
                                                                        zip(cols, row[3:]))))
            finally:
                stop.set()
                for t in threads:
                    t.join(timeout=130)
            check_alive = d.alive()
    rss = [r[1] for r in samples]
    if len(rss) < 3:
        print("too few samples (%d) to judge" % len(rss))
        return 1
    k = len(rss) // 3
    mid = sum(rss[k:2 * k]) / max(1, k)
    last = sum(rss[2 * k:]) / max(1, len(rss) - 2 * k)
    flat = last <= mid * 1.10 + 2048
    print("\nRSS kB: first %d, min %d, max %d, final %d; mean middle third %.0f, last third %.0f (%+.1f%%)"
          % (rss[0], min(rss), max(rss), rss[-1], mid, last, 100.0 * (last - mid) / mid))
    print("fetches: short %d ok / %d err, long %d ok / %d bad / %d err, vanished %d / %d err"
          % tuple(samples[-1][3:]))
    print("RSS %s; torclientd %s; samples in %s"
          % ("flattened" if flat else "still GROWING", "alive" if check_alive else "DEAD", a.csv))
    return 0 if flat and check_alive else 1


if __name__ == "__main__":
    faultnet.run(main)
