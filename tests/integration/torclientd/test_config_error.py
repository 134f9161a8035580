#!/usr/bin/env python3
"""torclientd refuses bad configuration: exit 2 and a message naming
file:line (no test network needed)."""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tcd  # noqa: E402


def run(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bad.conf")
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([tcd.TORCLIENTD, "-c", path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        return r.returncode, r.stderr.decode(errors="replace"), path


def main():
    failures = []
    cases = [
        ("tor {\n  enabled\n  socks-port 9050\n  frobnicate yes\n}\n", ":4:", "unknown keyword"),
        ("tor {\n  socks-port abc\n}\n", ":2:", "bad port"),
        ("tor {\n  enabled\n", ":", "unterminated stanza"),
    ]
    for text, where, what in cases:
        rc, err, path = run(text)
        ok = rc == 2 and (path + where) in err if where != ":" else rc == 2 and path in err
        print("%s %s: rc=%d %s" % ("ok  " if ok else "FAIL", what, rc, err.strip()))
        if not ok:
            failures.append(what)
    r = subprocess.run([tcd.TORCLIENTD, "--bogus"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    print("%s unknown option: rc=%d" % ("ok  " if r.returncode == 2 else "FAIL", r.returncode))
    if r.returncode != 2:
        failures.append("unknown option")
    r = subprocess.run([tcd.TORCLIENTD, "-c", "/nonexistent/torclientd.conf"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    ok = r.returncode == 2 and b"/nonexistent/torclientd.conf" in r.stderr
    print("%s missing file: rc=%d %s" % ("ok  " if ok else "FAIL", r.returncode, r.stderr.decode().strip()))
    if not ok:
        failures.append("missing file")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
