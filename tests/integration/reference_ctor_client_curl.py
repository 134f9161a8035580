#!/usr/bin/env python3
"""Reference integration test: C tor's own client + curl through the testnet.

Starts a C tor client (testnet/ctor_client.py) against the running test
network ($TORCLIENT_TESTNET_DIR), waits for Bootstrapped 100%, fetches
http://files.testnet.example:HTTPPORT/10M with curl --socks5-hostname (the
exit resolves the name through the testnet DNS responder) and checks the
sha256 from network.json. The client is always stopped (context manager).
"""
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.environ.get("TORCLIENT_TESTNET_TOOLS",
                       os.path.join(HERE, "..", "..", "testnet"))
sys.path.insert(0, os.path.abspath(TOOLS))
from ctor_client import CTorClient, CTorClientError  # noqa: E402

FILE = os.environ.get("REFERENCE_FILE", "10M")


def main():
    # ctest sends SIGTERM on timeout: unwind so the client gets stopped
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    tdir = os.environ.get("TORCLIENT_TESTNET_DIR")
    if not tdir:
        print("TORCLIENT_TESTNET_DIR not set", file=sys.stderr)
        return 2
    t0 = time.time()
    try:
        with CTorClient(tdir, name="reference-curl") as c:
            print("C tor client bootstrapped in %.1fs, socks %s"
                  % (time.time() - t0, c.socks_addr), flush=True)
            info = c.net["http"]["files"][FILE]
            url = info["url"]
            with tempfile.TemporaryDirectory() as tmp:
                out = os.path.join(tmp, FILE)
                t1 = time.time()
                for attempt in range(1, 4):
                    r = subprocess.run(
                        ["curl", "-sS", "--fail", "--max-time", "120",
                         "--socks5-hostname", c.socks_addr, "-o", out, url])
                    if r.returncode == 0:
                        break
                    print("curl attempt %d failed (rc=%d)" % (attempt, r.returncode),
                          flush=True)
                    time.sleep(2)
                else:
                    print("curl failed; C tor client log tail:\n"
                          + "\n".join(c.tail(30)), file=sys.stderr)
                    return 1
                dt = time.time() - t1
                h = hashlib.sha256()
                with open(out, "rb") as f:
                    for b in iter(lambda: f.read(1 << 20), b""):
                        h.update(b)
                size = os.path.getsize(out)
                print("fetched %s: %d bytes in %.2fs (%.1f MB/s)"
                      % (url, size, dt, size / dt / 1e6 if dt else 0))
                if size != info["size"] or h.hexdigest() != info["sha256"]:
                    print("FAIL: got size %d sha256 %s, want %d %s"
                          % (size, h.hexdigest(), info["size"], info["sha256"]),
                          file=sys.stderr)
                    return 1
                print("sha256 OK %s" % info["sha256"])
    except CTorClientError as e:
        print("FAIL: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
