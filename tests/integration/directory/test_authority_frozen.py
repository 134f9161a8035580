#!/usr/bin/env python3
"""One of three authorities stopped: cold bootstrap still succeeds (issue 4).

The authority is frozen with SIGSTOP (its sockets stay open: connections are
accepted by the kernel and never answered, the worst case for a client) and
always thawed with SIGCONT afterwards; the test then waits until the network
serves a live consensus again so that later tests find it intact.

The client picks its first authority at random, so N clients (default 3)
bootstrap in parallel with empty caches; each one's log says whether it asked
the frozen authority first and how long that cost. All must reach 100% and
one fetches 1M.

usage: test_authority_frozen.py [N_CLIENTS] [AUTHORITY_INDEX]
"""
import contextlib
import re
import sys
import threading
import time

import dirtest
from dirtest import check, log, tcd

BOOTSTRAP_LIMIT = 120  # s per client; kDirTimeout is 30 s per request


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    idx = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    net = tcd.load_network()
    auth = net["authorities"][idx]
    results = {}
    with contextlib.ExitStack() as stack:
        ds = [stack.enter_context(dirtest.daemon("dir-frozen%d" % i, net)) for i in range(n)]
        with dirtest.frozen([auth], net):
            time.sleep(1)

            def boot(i, d):
                try:
                    results[i] = dirtest.start_and_time(d, timeout=BOOTSTRAP_LIMIT)
                except Exception as e:  # noqa: BLE001 - reported below
                    results[i] = e

            threads = [threading.Thread(target=boot, args=(i, d)) for i, d in enumerate(ds)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            hit = 0
            for i, d in enumerate(ds):
                r = results[i]
                text = dirtest.log_since(d, 0)
                frozen_lines = [l for l in text.splitlines()
                                if re.search(r"from %s failed" % re.escape(auth["nickname"]), l)]
                if frozen_lines:
                    hit += 1
                if isinstance(r, Exception):
                    check(False, "client %d did not bootstrap with %s frozen: %s"
                          % (i, auth["nickname"], r))
                log("client %d: bootstrapped in %.2fs; asked frozen %s: %s%s"
                    % (i, r[0], auth["nickname"], "yes" if frozen_lines else "no",
                       "".join("\n    " + l for l in frozen_lines)))
            dirtest.fetch(ds[0], net, "1M")
            times = sorted(r[0] for r in results.values())
            print("bootstrap with %s frozen: %d clients, %d asked it first; times %s"
                  % (auth["nickname"], n, hit, ", ".join("%.1fs" % t for t in times)), flush=True)
            if hit == 0:
                log("note: no client happened to ask the frozen authority first")
    log("OK")
    return 0


if __name__ == "__main__":
    dirtest.run(main)
