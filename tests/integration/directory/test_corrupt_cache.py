#!/usr/bin/env python3
"""A corrupted cache is recovered from (issue 4: "a corrupt or truncated
cache file is discarded with a warning, never a crash").

After a cold bootstrap and a clean stop:
  1. cached-microdesc-consensus truncated to half its size and
     cached-microdescs overwritten with garbage -> restart: a warning about
     discarding the consensus, bootstrap to 100%, a 1M fetch.
  2. cached-certs overwritten with garbage (consensus and microdescriptors
     intact) -> restart: a warning, bootstrap to 100%, a 1M fetch.
  3. every cache file empty (as after a crash between create and write) ->
     restart: bootstrap to 100%.
"""
import os

import dirtest
from dirtest import check, log, tcd

GARBAGE = (b"\x00\xff garbage \x89PNG\r\n\x1a\n" * 64
           + b"onion-key\nnot a key\n-----BEGIN RSA PUBLIC KEY-----\n@@@@\n"
           + os.urandom(4096))


def restart_and_check(d, net, what, expect_warning):
    secs, off = dirtest.start_and_time(d)
    text = dirtest.log_since(d, off)
    warns = [l for l in text.splitlines() if "[warn" in l and "cache" in l]
    log("%s: bootstrapped in %.2fs; cache warnings:\n  %s"
        % (what, secs, "\n  ".join(warns) or "(none)"))
    for needle in expect_warning:
        check(any(needle in l for l in warns),
              "%s: no warning mentioning %r:\n%s" % (what, needle, text[-3000:]))
    check("loaded from cache" not in dirtest.before_done(text),
          "%s: the corrupt cache was reported usable:\n%s" % (what, text[-3000:]))
    dirtest.fetch(d, net, "1M")
    check(d.stop() == 0, "%s: torclientd did not exit cleanly:\n%s" % (what, d.tail(30)))
    return warns


def main():
    net = tcd.load_network()
    with dirtest.daemon("dir-corrupt", net) as d:
        cdir = dirtest.cache_dir(d)
        path = {n: os.path.join(cdir, n) for n in dirtest.CACHE_FILES}
        dirtest.start_and_time(d)
        check(d.stop() == 0, "torclientd did not exit cleanly")
        for p in path.values():
            check(os.path.getsize(p) > 0, "%s missing or empty after a cold bootstrap" % p)

        # 1. truncated consensus + garbage microdescriptors
        size = os.path.getsize(path["cached-microdesc-consensus"])
        with open(path["cached-microdesc-consensus"], "r+b") as f:
            f.truncate(size // 2)
        with open(path["cached-microdescs"], "wb") as f:
            f.write(GARBAGE)
        w = restart_and_check(d, net, "truncated consensus + garbage microdescs",
                              ["discarding cached-microdesc-consensus"])
        if not any("cached-microdescs" in l for l in w):
            log("note: no warning about the garbage cached-microdescs (the lenient parser found no document)")
        with open(path["cached-microdescs"], "rb") as f:
            if f.read(len(GARBAGE)) == GARBAGE:
                # Not a failure (the lenient parser skips it on every load),
                # but the runtime appends new microdescriptors to the text it
                # loaded instead of rewriting the file from what it parsed.
                log("note: the garbage is still at the start of cached-microdescs after recovery")

        # 2. garbage certificates
        with open(path["cached-certs"], "wb") as f:
            f.write(GARBAGE)
        restart_and_check(d, net, "garbage certs", ["cached-certs"])

        # 3. all empty
        for p in path.values():
            open(p, "wb").close()
        restart_and_check(d, net, "empty cache files", [])
    log("OK")
    return 0


if __name__ == "__main__":
    dirtest.run(main)
