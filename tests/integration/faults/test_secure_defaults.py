#!/usr/bin/env python3
"""Secure defaults of torclientd (issue 8), against the shared test network.

1. Default configuration (no socks-address), umask 022, log-level debug:
   after bootstrap and a fetch, every file under config-dir and cache-dir is
   0600 (no group/other bits) and every directory 0700; the SOCKS listener
   is bound to 127.0.0.1 only (/proc/net/tcp) and no non-loopback warning is
   logged; the log holds neither the destination host name nor the SOCKS
   client's address:port (safe-logging on by default).
2. safe-logging off: the same fetch does log the destination (so check 1
   can fail).
3. socks-address 0.0.0.0: the listener is on 0.0.0.0 and a warning says so.
"""
import os
import re
import stat
import sys

import faultnet
from faultnet import check, log, tcd


def listening_addresses(port):
    """Local IPv4 addresses (dotted) with a LISTEN socket on `port`."""
    out = []
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            addr, p = cols[1].split(":")
            if int(p, 16) == port and cols[3] == "0A":
                b = bytes.fromhex(addr)[::-1]
                out.append(".".join(str(x) for x in b))
    return out


def check_modes(root):
    n = 0
    for dirpath, dirnames, filenames in os.walk(root):
        m = stat.S_IMODE(os.stat(dirpath).st_mode)
        check(m == 0o700, "%s: directory mode %03o, want 700" % (dirpath, m))
        for fn in filenames:
            p = os.path.join(dirpath, fn)
            m = stat.S_IMODE(os.stat(p).st_mode)
            check(m & 0o077 == 0, "%s: file mode %03o, want 600" % (p, m))
            n += 1
    return n


def fetch_with_source(d, net):
    """A checked fetch; returns the SOCKS client's local address:port."""
    dl = faultnet.Download(d, net, "1M")
    try:
        src = "%s:%d" % dl.sock.getsockname()
        dl.finish()
    finally:
        dl.close()
    return src


def main():
    tcd.install_sigterm_handler()
    net = tcd.load_network()
    host = net["http"]["host"]
    os.umask(0o022)  # the usual umask: the daemon must not rely on a strict one

    with faultnet.daemon("defaults", net, log_level="debug") as d:
        d.wait_bootstrapped()
        src = fetch_with_source(d, net)
        # Guard state is written on changes; the fetch confirmed a guard.
        files = sum(check_modes(os.path.join(d.tmp, sub)) for sub in ("state", "cache"))
        check(files >= 3, "only %d files in config-dir + cache-dir" % files)
        log("%d state/cache files, all 0600 in 0700 directories" % files)
        addrs = listening_addresses(d.socks_port)
        check(addrs == ["127.0.0.1"], "SOCKS listener on %s, want 127.0.0.1 only" % addrs)
        text = open(d.log_path, errors="replace").read()
        check("non-loopback" not in text, "non-loopback warning with the default address")
        check(host not in text, "destination %s in the log with safe logging on" % host)
        check(src not in text, "client address %s in the log with safe logging on" % src)
        check("[scrubbed]" in text, "no scrubbed destination in the log (was the fetch logged at all?)")
        log("log (%d bytes, debug) has no destination and no client address" % len(text))

    with faultnet.daemon("unsafe-log", net, log_level="debug", safe_logging=False) as d:
        d.wait_bootstrapped()
        src = fetch_with_source(d, net)
        text = open(d.log_path, errors="replace").read()
        check(host in text, "safe-logging off, yet the destination is not logged: the check above proves nothing")
        log("safe-logging off logs the destination (as configured)")

    with faultnet.daemon("any-address", net, extra_lines=["socks-address 0.0.0.0"]) as d:
        d.wait_bootstrapped()
        addrs = listening_addresses(d.socks_port)
        check(addrs == ["0.0.0.0"], "SOCKS listener on %s, want 0.0.0.0" % addrs)
        text = open(d.log_path, errors="replace").read()
        m = re.search(r"^.*non-loopback.*$", text, re.M)
        check(m and re.search(r"warn", m.group(0), re.I), "no warning for a non-loopback SOCKS address:\n%s"
              % d.tail(20))
        log("warning logged: %s" % m.group(0).strip())
    log("PASS")
    return 0


if __name__ == "__main__":
    faultnet.run(main)
