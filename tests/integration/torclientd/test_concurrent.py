#!/usr/bin/env python3
"""200 concurrent SOCKS5 clients through one torclientd, each fetching /1M
(raw sockets, HTTP/1.0) and checking its sha256; the daemon must stay up
and report the traffic in `show tor status`.

usage: test_concurrent.py [CLIENTS] [FILE]
"""
import concurrent.futures
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tcd  # noqa: E402


def main():
    tcd.install_sigterm_handler()
    clients = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    name = sys.argv[2] if len(sys.argv) > 2 else "1M"
    net = tcd.load_network()
    info = net["http"]["files"][name]
    host, port = net["http"]["host"], net["http"]["port"]

    with tcd.Torclientd(name="concurrent", net=net, log_level="notice") as d:
        d.wait_bootstrapped()

        def one(i):
            t0 = time.time()
            try:
                s, rep = tcd.socks5_connect(d.socks_port, host, port, timeout=240)
                if rep != 0:
                    return i, "SOCKS reply 0x%02x" % rep, time.time() - t0
                with s:
                    status, n, digest = tcd.http_get_sha256(s, host, "/" + name)
                if not status.startswith("HTTP/1.") or " 200" not in status:
                    return i, "HTTP status %r" % status, time.time() - t0
                if n != info["size"] or digest != info["sha256"]:
                    return i, "got %d bytes sha256 %s" % (n, digest), time.time() - t0
                return i, None, time.time() - t0
            except Exception as e:  # noqa: BLE001 - reported per client
                return i, "%s: %s" % (type(e).__name__, e), time.time() - t0

        t0 = time.time()
        with concurrent.futures.ThreadPoolExecutor(max_workers=clients) as ex:
            results = list(ex.map(one, range(clients)))
        dt = time.time() - t0
        failed = [(i, err) for i, err, _ in results if err]
        slowest = max(t for _, _, t in results)
        tcd.log("%d clients x %s: %d ok, %d failed in %.1fs (slowest %.1fs, %.1f MB/s total)"
                % (clients, name, clients - len(failed), len(failed), dt, slowest,
                   clients * info["size"] / dt / 1e6))
        for i, err in failed[:20]:
            print("client %d: %s" % (i, err), file=sys.stderr)
        status = d.status()
        print(status)
        if failed:
            print("FAIL: %d of %d clients failed\n%s" % (len(failed), clients, d.tail(40)),
                  file=sys.stderr)
            return 1
        if not d.alive():
            print("FAIL: torclientd died", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
