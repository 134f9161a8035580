#!/usr/bin/env python3
"""Runs a C API test program against the private test network.

    run_capi.py PROGRAM [FILE]     (FILE: a test-network HTTP file, default 1M)

Writes torclient.conf (the `tor { }` stanza with the network's authorities)
into a fresh config dir, starts a TCP echo server and finds a closed port on
127.0.0.1 (the exits reach loopback), then runs
    PROGRAM CONFIG_DIR HTTP_HOST HTTP_PORT /FILE SIZE SHA256 EXTRA_PORT
where EXTRA_PORT is the closed port for capi_fetch and the echo port for
capi_async. Exit status: the program's.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading


def echo_server():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)

    def serve(c):
        with c:
            while True:
                try:
                    b = c.recv(65536)
                except OSError:
                    return
                if not b:
                    return
                c.sendall(b)

    def accept():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(c,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return srv


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def main():
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    prog = sys.argv[1]
    name = sys.argv[2] if len(sys.argv) > 2 else "1M"
    tdir = os.environ["TORCLIENT_TESTNET_DIR"]
    with open(os.path.join(tdir, "network.json")) as f:
        net = json.load(f)
    http = net["http"]
    host = http.get("host", "127.0.0.1")
    info = http["files"][name]
    tmp = tempfile.mkdtemp(prefix="capi-")
    try:
        lines = ["tor {", "  test-network", "  log-level notice"]
        lines += ["  " + l for l in net["dir_authority_stanza_lines"]]
        lines.append("}")
        with open(os.path.join(tmp, "torclient.conf"), "w") as f:
            f.write("\n".join(lines) + "\n")
        srv = echo_server()
        extra = srv.getsockname()[1] if "async" in os.path.basename(prog) else closed_port()
        argv = [prog, tmp, host, str(http["port"]), "/" + name, str(info["size"]),
                info["sha256"], str(extra)]
        print("running:", " ".join(argv), flush=True)
        rc = subprocess.call(argv, timeout=280)
        srv.close()
        return rc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
