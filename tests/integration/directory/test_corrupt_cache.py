#!/usr/bin/env python3
"""A corrupted cache is recovered from (issue 4: "a corrupt or truncated
cache file is discarded with a warning, never a crash").

After a cold bootstrap and a clean stop:
  1. cached-microdesc-consensus truncated to half its size and
     cached-microdescs overwritten with garbage -> restart: a warning about
     discarding the consensus, bootstrap to 100%, a 1M fetch.
     Afterwards cached-microdescs holds no garbage any more (the journal is
     rewritten with only what the consensus lists).
  2. cached-certs overwritten with garbage (consensus and microdescriptors
     intact) -> restart: a warning, the certificates are fetched again and
     the cached consensus is accepted with them (it is not thrown away),
     bootstrap to 100%, a 1M fetch.
  3. every cache file empty (as after a crash between create and write) ->
     restart: bootstrap to 100%.
"""
import base64
import hashlib
import os
import re

import dirtest
from dirtest import check, log, tcd

GARBAGE = (b"\x00\xff garbage \x89PNG\r\n\x1a\n" * 64
           + b"onion-key\nnot a key\n-----BEGIN RSA PUBLIC KEY-----\n@@@@\n"
           + os.urandom(4096))


def journal_digests(path):
    """sha256 digests (base64, unpadded) of the microdescriptors in a
    cached-microdescs file: each runs from its "onion-key" (or a leading
    "ntor-onion-key") line to the next such start (dir-spec §3.3)."""
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    docs, cur, prev, in_object = [], None, b"", False
    for line in lines:
        # Object lines (-----BEGIN ... -----END) belong to the item before.
        if in_object or line.startswith(b"-----BEGIN "):
            in_object = not line.startswith(b"-----END ")
            if cur is not None:
                cur.append(line)
            continue
        kw = line.split(b" ", 1)[0]
        if kw.startswith(b"@"):
            if cur is not None:
                docs.append(cur)
            cur = None
        elif kw == b"onion-key" or (kw == b"ntor-onion-key" and prev != b"onion-key"):
            if cur is not None:
                docs.append(cur)
            cur = [line]
        elif cur is not None:
            cur.append(line)
        prev = kw
    if cur is not None:
        docs.append(cur)
    out = []
    for d in docs:
        while d and d[-1] == b"":
            d.pop()
        text = b"\n".join(d) + b"\n"
        out.append(base64.b64encode(hashlib.sha256(text).digest()).rstrip(b"=").decode())
    return out


def consensus_md_digests(path):
    with open(path, errors="replace") as f:
        return {m.group(1) for m in re.finditer(r"^m (\S+)$", f.read(), re.M)}


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
            journal = f.read()
        check(b"garbage" not in journal and b"@@@@" not in journal,
              "the garbage is still in cached-microdescs after recovery")
        digests = journal_digests(path["cached-microdescs"])
        listed = consensus_md_digests(path["cached-microdesc-consensus"])
        check(digests and len(digests) == len(set(digests)),
              "cached-microdescs: %d microdescriptors, %d distinct" % (len(digests), len(set(digests))))
        check(set(digests) <= listed, "cached-microdescs holds %d microdescriptors the consensus does not list"
              % len(set(digests) - listed))
        log("cached-microdescs after recovery: %d bytes, %d microdescriptors, all listed (%d listed)"
            % (len(journal), len(digests), len(listed)))

        # 2. garbage certificates: the cached consensus is kept and accepted
        # once the certificates have been fetched again.
        with open(path["cached-certs"], "wb") as f:
            f.write(GARBAGE)
        off = dirtest.log_size(d)
        restart_and_check(d, net, "garbage certs", ["cached-certs"])
        pre = dirtest.before_done(dirtest.log_since(d, off))
        check("accepted after fetching authority certificates" in pre,
              "garbage certs: the cached consensus was not accepted after fetching certificates:\n%s"
              % pre[-3000:])
        check("discarding cached-microdesc-consensus" not in pre,
              "garbage certs: the cached consensus was discarded:\n%s" % pre[-3000:])
        with open(path["cached-certs"], "rb") as f:
            check(f.read().startswith(b"dir-key-certificate-version"),
                  "cached-certs was not rewritten with fetched certificates")

        # 3. all empty
        for p in path.values():
            open(p, "wb").close()
        restart_and_check(d, net, "empty cache files", [])
    log("OK")
    return 0


if __name__ == "__main__":
    dirtest.run(main)
