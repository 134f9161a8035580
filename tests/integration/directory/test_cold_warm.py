#!/usr/bin/env python3
"""Cold bootstrap, then warm bootstrap from the cache (issue 4).

cold: empty cache-dir and config-dir -> "Bootstrapped 100%", a 1M fetch with
      the right sha256; afterwards the three cache files exist with mode 0600
      and config-dir/guards exists.
warm: the same daemon restarted with the same directories: the log says the
      directory was loaded from cache and, before "Bootstrapped 100%", shows
      no consensus download (no requesting_status phase, no "consensus
      valid-after ... accepted"); then a 1M fetch works.
Prints the cold and warm bootstrap times.
"""
import os
import stat

import dirtest
from dirtest import check, log, tcd


def main():
    net = tcd.load_network()
    with dirtest.daemon("dir-coldwarm", net) as d:
        cold, off = dirtest.start_and_time(d)
        text = dirtest.log_since(d, off)
        cold_log = dirtest.log_bootstrap_seconds(text)
        log("cold bootstrap: %.3fs (exec to status 100%%), %.3fs by the daemon's log" % (cold, cold_log))
        check("requesting_status" in text, "cold start did not request a consensus:\n" + text[-3000:])
        dirtest.fetch(d, net, "1M")
        for name in dirtest.CACHE_FILES:
            p = os.path.join(dirtest.cache_dir(d), name)
            check(os.path.isfile(p), "cache file %s missing after a cold bootstrap" % p)
            mode = stat.S_IMODE(os.stat(p).st_mode)
            check(mode == 0o600, "%s has mode %o, want 600" % (p, mode))
            check(os.path.getsize(p) > 0, "%s is empty" % p)
        leftovers = [f for f in os.listdir(dirtest.cache_dir(d)) if f.endswith(".tmp")]
        check(not leftovers, "temporary files left in cache-dir: %s" % leftovers)
        guards = os.path.join(dirtest.config_dir(d), "guards")
        check(os.path.isfile(guards), "guard state %s missing" % guards)
        check("Guard in=" in open(guards).read(), "no Guard line in %s" % guards)
        rc = d.stop()
        check(rc == 0, "torclientd exited with %s on SIGTERM" % rc)

        warm, off = dirtest.start_and_time(d)
        text = dirtest.log_since(d, off)
        warm_log = dirtest.log_bootstrap_seconds(text)
        log("warm bootstrap: %.3fs (exec to status 100%%), %.3fs by the daemon's log" % (warm, warm_log))
        pre = dirtest.before_done(text)
        check("loaded from cache" in pre, "warm start did not use the cache:\n" + pre[-3000:])
        check("requesting_status" not in pre and "Bootstrapped 25%" not in pre,
              "warm start requested a consensus before its first circuit:\n" + pre[-3000:])
        check(not any("consensus valid-after" in l and "accepted" in l for l in pre.splitlines()),
              "warm start downloaded a consensus before its first circuit:\n" + pre[-3000:])
        log("warm start progress: " + " | ".join(l.split("] ", 1)[-1] for l in dirtest.bootstrap_lines(pre + "Bootstrapped 100%")))
        dirtest.fetch(d, net, "1M")
        print("bootstrap times: cold %.3fs, warm %.3fs (daemon log: cold %.3fs, warm %.3fs)"
              % (cold, warm, cold_log, warm_log), flush=True)
        # Not "warm < cold": on loopback both are tens of milliseconds.
        check(warm < 5.0, "warm bootstrap took %.2fs" % warm)
    log("OK")
    return 0


if __name__ == "__main__":
    dirtest.run(main)
