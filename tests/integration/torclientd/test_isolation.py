#!/usr/bin/env python3
"""IsolateSOCKSAuth: streams with different SOCKS5 usernames use different
circuits, streams with the same credentials share one; checked with
`torclientctl ... show tor circuits` while the streams are open.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tcd  # noqa: E402


def open_stream(d, net, user, password):
    host, port = net["http"]["host"], net["http"]["port"]
    s, rep = tcd.socks5_connect(d.socks_port, host, port, user=user, password=password)
    if rep != 0:
        raise tcd.TorclientdError("SOCKS reply 0x%02x for user %s" % (rep, user))
    # A big download we only start reading: the stream stays open.
    s.sendall(("GET /100M HTTP/1.0\r\nHost: %s\r\n\r\n" % host).encode())
    tcd.recv_exact(s, 1)
    return s


def busy(rows):
    return [r for r in rows if r["streams"] > 0]


def main():
    tcd.install_sigterm_handler()
    net = tcd.load_network()
    socks = []
    with tcd.Torclientd(name="isolation", net=net) as d:
        d.wait_bootstrapped()
        try:
            socks.append(open_stream(d, net, "alice", "a"))
            socks.append(open_stream(d, net, "bob", "b"))
            rows, text = d.circuits()
            print(text)
            b = busy(rows)
            if len(b) != 2 or sum(r["streams"] for r in b) != 2:
                print("FAIL: alice and bob should each have a circuit with one stream", file=sys.stderr)
                return 1
            for r in b:
                if len(r["hops"]) != 3:
                    print("FAIL: circuit %s has %d hops" % (r["id"], len(r["hops"])), file=sys.stderr)
                    return 1
            # Same credentials again: reuses alice's circuit.
            socks.append(open_stream(d, net, "alice", "a"))
            rows, text = d.circuits()
            print(text)
            b = busy(rows)
            if len(b) != 2 or sorted(r["streams"] for r in b) != [1, 2]:
                print("FAIL: a second alice stream should share alice's circuit", file=sys.stderr)
                return 1
        finally:
            for s in socks:
                s.close()
        time.sleep(0.5)
    tcd.log("OK: different credentials -> different circuits")
    return 0


if __name__ == "__main__":
    sys.exit(main())
