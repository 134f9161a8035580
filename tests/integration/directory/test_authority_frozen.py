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

With more than one authority frozen (AUTHORITY_INDEX "0,1"), most clients
ask a frozen one first: each that does must have asked another authority as
well while the first request was still unanswered (the directory request
race, src/runtime/directory.cpp) instead of waiting for a timeout.

usage: test_authority_frozen.py [N_CLIENTS] [AUTHORITY_INDEX[,INDEX...]]
"""
import contextlib
import re
import sys
import threading
import time

import dirtest
from dirtest import check, log, tcd

BOOTSTRAP_LIMIT = 120  # s per client (a fresh client may lose 15 s per frozen middle)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    idxs = [int(x) for x in sys.argv[2].split(",")] if len(sys.argv) > 2 else [0]
    net = tcd.load_network()
    auths = [net["authorities"][i] for i in idxs]
    names = "+".join(a["nickname"] for a in auths)
    pattern = "from (%s) failed" % "|".join(re.escape(a["nickname"]) for a in auths)
    results = {}
    with contextlib.ExitStack() as stack:
        ds = [stack.enter_context(dirtest.daemon("dir-frozen%d" % i, net)) for i in range(n)]
        with dirtest.frozen(auths, net):
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
                pre = dirtest.before_done(text)
                frozen_lines = [l for l in pre.splitlines() if re.search(pattern, l)]
                raced = [l for l in pre.splitlines() if "asking another authority as well" in l]
                if frozen_lines or raced:
                    hit += 1
                if isinstance(r, Exception):
                    check(False, "client %d did not bootstrap with %s frozen: %s" % (i, names, r))
                # A frozen authority never answers: a request to it ends by
                # a timeout. Each such request must have been raced by
                # another one before that, not waited out.
                timeouts = [l for l in frozen_lines if "in time" in l]
                check(not timeouts or raced,
                      "client %d waited for a frozen authority's timeout without asking another:\n%s"
                      % (i, "\n".join(timeouts)))
                log("client %d: bootstrapped in %.2fs; asked frozen %s: %s%s"
                    % (i, r[0], names, "yes" if (frozen_lines or raced) else "no",
                       "".join("\n    " + l for l in frozen_lines + raced)))
            dirtest.fetch(ds[0], net, "1M")
            times = sorted(r[0] for r in results.values())
            print("bootstrap with %s frozen: %d clients, %d asked a frozen one first; times %s"
                  % (names, n, hit, ", ".join("%.1fs" % t for t in times)), flush=True)
            if hit == 0:
                log("note: no client happened to ask the frozen authority first")
    log("OK")
    return 0


if __name__ == "__main__":
    dirtest.run(main)
