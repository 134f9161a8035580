#!/usr/bin/env python3
"""All authorities frozen, warm and still-valid cache: bootstrap from the
cache and serve a fetch (issue 4: "a warm start with a still-valid cached
consensus builds its first circuit without waiting for a download").

The test network's consensus is valid for only 40 s (V3AuthNIntervalsValid 2
x 20 s voting), but a client uses a consensus that is "reasonably live"
(up to 24 h past valid-until, dir-spec §5.5 / tor's
REASONABLY_LIVE_TIME), so a cache a minute old is still meaningful here; the
test prints how far past valid-until the cached consensus was when used.

Phase 1 starts while the cached consensus is still valid; phase 2 waits
until it has expired and starts again. All three authorities are frozen
(SIGSTOP) only for the two warm starts and fetches, thawed (SIGCONT) in a finally block, and the test waits for a live
consensus afterwards so later tests find the network intact.
"""
import os
import time

import dirtest
from dirtest import check, log, tcd


def cached_times(path):
    meta = {}
    with open(path, errors="replace") as f:
        for line in f:
            for k in ("valid-after", "fresh-until", "valid-until"):
                if line.startswith(k + " "):
                    meta[k] = dirtest.parse_utc(line[len(k) + 1:])
            if line.startswith("r "):
                break
    return meta


def offline_start(d, net, what):
    warm, off = dirtest.start_and_time(d, timeout=180)
    text = dirtest.log_since(d, off)
    pre = dirtest.before_done(text)
    check("loaded from cache" in pre, "%s: did not bootstrap from the cache:\n%s" % (what, pre[-3000:]))
    log("warm bootstrap with all authorities frozen, cached consensus %s: %.2fs" % (what, warm))
    failed = [l for l in pre.splitlines() if "circuit build failed" in l]
    if failed:
        log("circuit builds that failed first (frozen authorities are relays too):\n  "
            + "\n  ".join(failed))
    dirtest.fetch(d, net, "1M", attempts=3)
    check(d.stop() == 0, "%s: torclientd did not exit cleanly:\n%s" % (what, d.tail(30)))
    return warm


def main():
    net = tcd.load_network()
    with dirtest.daemon("dir-offline", net) as d:
        cold, _ = dirtest.start_and_time(d)
        log("cold bootstrap: %.2fs" % cold)
        dirtest.fetch(d, net, "1M")
        check(d.stop() == 0, "torclientd did not exit cleanly")
        meta = cached_times(os.path.join(dirtest.cache_dir(d), "cached-microdesc-consensus"))
        check("valid-until" in meta, "no valid-until in the cached consensus")
        with dirtest.frozen(net["authorities"], net):
            now = time.time()
            log("cached consensus: valid-after %+ds, valid-until %+ds from now (lifetime %ds)"
                % (meta["valid-after"] - now, meta["valid-until"] - now,
                   meta["valid-until"] - meta["valid-after"]))
            warm = offline_start(d, net, "still valid")
            print("offline warm bootstrap, cached consensus still valid: %.2fs "
                  "(valid-until was %+ds from the start)" % (warm, meta["valid-until"] - now), flush=True)
            # Phase 2: let the cached consensus expire (while the authorities
            # stay frozen) and start again: a "reasonably live" consensus
            # (at most 24 h past valid-until) is still used, as tor does.
            meta = cached_times(os.path.join(dirtest.cache_dir(d), "cached-microdesc-consensus"))
            wait = meta["valid-until"] + 2 - time.time()
            if wait > 0:
                log("waiting %.0fs for the cached consensus to expire" % wait)
                time.sleep(wait)
            now = time.time()
            warm2 = offline_start(d, net, "expired")
            print("offline warm bootstrap, cached consensus expired %ds ago: %.2fs"
                  % (now - meta["valid-until"], warm2), flush=True)
    log("OK")
    return 0


if __name__ == "__main__":
    dirtest.run(main)
