#!/usr/bin/env python3
"""Loopback-only HTTP/1.1 test server for the private Tor test network.

Serves deterministic pseudo-random files (generated with generate_files())
from a directory:

  GET /            small HTML index (lists files, sizes and sha256)
  GET /<name>      a generated file (e.g. /1M, /10M, /100M); HEAD and
                   single "Range: bytes=a-b" requests are supported
  GET /bytes/N     N deterministic bytes (same generator, seed "bytes")
  GET /health      "ok\n"

Binds ONLY to 127.0.0.1. Threaded (one thread per connection) with a large
listen backlog so that hundreds of concurrent clients work.

Usage:
  httpd.py --port PORT --root DIR [--generate]
"""
import argparse
import hashlib
import http.server
import json
import os
import re
import socketserver
import sys

LOOPBACK = "127.0.0.1"
CHUNK = 1 << 20

# name -> size in bytes
DEFAULT_FILES = {
    "1M": 1 << 20,
    "10M": 10 << 20,
    "100M": 100 << 20,
}


def _block(seed: bytes, index: int, size: int = CHUNK) -> bytes:
    """Deterministic pseudo-random block number `index` for `seed`."""
    return hashlib.shake_256(seed + b"/" + index.to_bytes(8, "big")).digest(size)


def deterministic_bytes(seed: str, size: int):
    """Yield chunks of the deterministic stream `seed` totalling `size`."""
    s = seed.encode()
    i = 0
    left = size
    while left > 0:
        n = min(CHUNK, left)
        yield _block(s, i, CHUNK)[:n]
        left -= n
        i += 1


def generate_files(root, files=None):
    """Create the test files in `root` (skipped if already generated).

    Returns {name: {"size": int, "sha256": hex, "path": str}}.
    Content of file NAME is the deterministic stream with seed
    "testnet-file-NAME", so it is identical on every machine.
    """
    files = files or DEFAULT_FILES
    os.makedirs(root, exist_ok=True)
    manifest_path = os.path.join(root, "manifest.json")
    manifest = {}
    if os.path.exists(manifest_path):
        try:
            with open(manifest_path) as f:
                manifest = json.load(f)
        except (OSError, ValueError):
            manifest = {}
    out = {}
    for name, size in files.items():
        path = os.path.join(root, name)
        old = manifest.get(name)
        if (old and old.get("size") == size and os.path.isfile(path)
                and os.path.getsize(path) == size):
            out[name] = {"size": size, "sha256": old["sha256"], "path": path}
            continue
        h = hashlib.sha256()
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            for chunk in deterministic_bytes("testnet-file-" + name, size):
                h.update(chunk)
                f.write(chunk)
        os.replace(tmp, path)
        out[name] = {"size": size, "sha256": h.hexdigest(), "path": path}
    with open(manifest_path, "w") as f:
        json.dump({k: {"size": v["size"], "sha256": v["sha256"]}
                   for k, v in out.items()}, f, indent=2)
    return out


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "testnet-httpd/1"
    root = "."
    files = {}

    def log_message(self, fmt, *args):  # quiet; errors still go to stderr
        pass

    def _send_simple(self, code, body, ctype="text/plain"):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _parse_range(self, size):
        rng = self.headers.get("Range")
        if not rng:
            return None
        m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", rng)
        if not m or (m.group(1) == "" and m.group(2) == ""):
            return None
        if m.group(1) == "":
            n = int(m.group(2))
            start, end = max(0, size - n), size - 1
        else:
            start = int(m.group(1))
            end = int(m.group(2)) if m.group(2) else size - 1
            end = min(end, size - 1)
        if start > end or start >= size:
            return "bad"
        return (start, end)

    def _send_stream(self, size, reader):
        """reader(start, length) yields chunks."""
        rng = self._parse_range(size)
        if rng == "bad":
            self.send_response(416)
            self.send_header("Content-Range", "bytes */%d" % size)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if rng is None:
            start, length = 0, size
            self.send_response(200)
        else:
            start, length = rng[0], rng[1] - rng[0] + 1
            self.send_response(206)
            self.send_header("Content-Range",
                             "bytes %d-%d/%d" % (rng[0], rng[1], size))
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if self.command == "HEAD":
            return
        for chunk in reader(start, length):
            self.wfile.write(chunk)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/":
            rows = "".join(
                '<li><a href="/%s">%s</a> %d bytes sha256 %s</li>\n'
                % (n, n, v["size"], v["sha256"]) for n, v in self.files.items())
            self._send_simple(
                200, "<html><head><title>testnet</title></head><body>\n"
                "<h1>testnet httpd</h1>\n<ul>\n%s</ul>\n</body></html>\n" % rows,
                "text/html")
            return
        if path == "/health":
            self._send_simple(200, "ok\n")
            return
        m = re.fullmatch(r"/bytes/(\d{1,10})", path)
        if m:
            size = int(m.group(1))

            def gen(start, length):
                # simple: generate the full stream, skip to start
                pos = 0
                for chunk in deterministic_bytes("bytes", size):
                    if pos + len(chunk) > start and length > 0:
                        lo = max(0, start - pos)
                        piece = chunk[lo:lo + length]
                        length -= len(piece)
                        yield piece
                    pos += len(chunk)
            self._send_stream(size, gen)
            return
        name = path.lstrip("/")
        if name in self.files:
            fpath = self.files[name]["path"]
            size = self.files[name]["size"]

            def reader(start, length):
                with open(fpath, "rb") as f:
                    f.seek(start)
                    while length > 0:
                        b = f.read(min(256 * 1024, length))
                        if not b:
                            break
                        length -= len(b)
                        yield b
            self._send_stream(size, reader)
            return
        self._send_simple(404, "not found\n")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--root", required=True, help="directory with generated files")
    args = ap.parse_args()
    Handler.root = args.root
    Handler.files = generate_files(args.root)
    srv = Server((LOOPBACK, args.port), Handler)
    print("httpd listening on %s:%d" % (LOOPBACK, args.port), flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    sys.exit(main())
