"""Fake "relays" on 127.0.0.1 for the fault tests: TLS servers with a
self-signed certificate (made with the openssl command) that misbehave.

Modes:
  junk           TLS handshake, then random bytes (256 KB), then silence
  versions-junk  TLS handshake, a valid VERSIONS cell (tor-spec §4.1), then junk
  stall          TLS handshake, then nothing at all
  tcp-stall      accepts TCP and never answers the TLS ClientHello

Each accepted connection is recorded with the time the client closed it,
so a test can check that the client gave up (nothing left hanging).
"""
import os
import random
import socket
import ssl
import subprocess
import tempfile
import threading
import time

MODES = ("junk", "versions-junk", "stall", "tcp-stall")
JUNK = b"\x13\x37\x42" + random.Random(8).randbytes(256 * 1024)


def make_cert(dirname):
    cert, key = os.path.join(dirname, "cert.pem"), os.path.join(dirname, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=www.fakerelay.net", "-keyout", key, "-out", cert],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


class Conn:
    def __init__(self):
        self.accepted = time.time()
        self.closed_by_client = None  # time the client closed, when it did


class FakeRelay:
    def __init__(self, mode, certdir):
        assert mode in MODES
        self.mode = mode
        self.conns = []
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(*make_cert(certdir))
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.stopping = False
        self.socks = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            c = Conn()
            self.conns.append(c)
            self.socks.append(s)
            threading.Thread(target=self._serve, args=(s, c), daemon=True).start()

    def _wait_close(self, s, c):
        """Reads (and drops) until the client closes; records when."""
        s.settimeout(1)
        while not self.stopping:
            try:
                b = s.recv(65536)
            except (socket.timeout, TimeoutError):
                continue
            except (OSError, ssl.SSLError):
                b = b""
            if not b:
                c.closed_by_client = time.time()
                return

    def _serve(self, raw, c):
        try:
            if self.mode == "tcp-stall":
                self._wait_close(raw, c)
                return
            raw.settimeout(30)
            try:
                s = self.ctx.wrap_socket(raw, server_side=True)
            except (OSError, ssl.SSLError):
                c.closed_by_client = time.time()
                return
            self.socks.append(s)
            if self.mode == "versions-junk":
                s.sendall(b"\x00\x00\x07\x00\x04\x00\x04\x00\x05")
            if self.mode in ("junk", "versions-junk"):
                try:
                    # Fixed junk (seeded): its first bytes are no VERSIONS
                    # cell header, so the client must fail on parsing, fast.
                    s.sendall(JUNK)
                except (OSError, ssl.SSLError):
                    c.closed_by_client = time.time()
                    return
            self._wait_close(s, c)
        except Exception:  # noqa: BLE001 - a fake server must not die noisily
            c.closed_by_client = c.closed_by_client or time.time()

    def stop(self):
        self.stopping = True
        for s in [self.lsock] + self.socks:
            try:
                s.close()
            except OSError:
                pass


class FakeRelays:
    """All modes at once: `with FakeRelays() as f: f.relays["junk"].port`."""

    def __init__(self, modes=MODES):
        self.tmp = tempfile.mkdtemp(prefix="fake-relay-")
        self.relays = {}
        try:
            for m in modes:
                self.relays[m] = FakeRelay(m, self.tmp)
        except BaseException:
            self.stop()
            raise

    def stop(self):
        for r in self.relays.values():
            r.stop()
        import shutil
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False
