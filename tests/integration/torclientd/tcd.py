"""Start and stop torclientd in integration tests, plus small SOCKS/HTTP helpers.

    with Torclientd(name="curl") as d:         # config from $TORCLIENT_TESTNET_DIR
        d.wait_bootstrapped()
        rc, out, err = d.ctl("show", "tor", "status")
        curl(["--socks5-hostname", d.socks_addr, url])

Binaries: $TORCLIENTD and $TORCLIENTCTL (set by CMake), else build/src/app/.
The daemon is always stopped (SIGTERM, SIGKILL after 10 s) by stop() /
__exit__; tests also turn SIGTERM (ctest timeout) into SystemExit so that
their finally blocks run: call install_sigterm_handler().
"""
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def install_sigterm_handler():
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))


def _binary(env, name):
    p = os.environ.get(env)
    if p:
        return p
    for b in ("build", "build-app"):
        c = os.path.join(REPO, b, "src", "app", name)
        if os.path.exists(c):
            return c
    return name


TORCLIENTD = _binary("TORCLIENTD", "torclientd")
TORCLIENTCTL = _binary("TORCLIENTCTL", "torclientctl")


def load_network(tdir=None):
    tdir = tdir or os.environ.get("TORCLIENT_TESTNET_DIR")
    if not tdir:
        raise RuntimeError("TORCLIENT_TESTNET_DIR not set")
    with open(os.path.join(tdir, "network.json")) as f:
        return json.load(f)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


class TorclientdError(Exception):
    pass


class Torclientd:
    """One torclientd process with its own config, state dirs and ports."""

    def __init__(self, name="tcd", net=None, enabled=True, socks_port=None,
                 extra_lines=(), log_level="info", safe_logging=True):
        self.name = name
        self.net = net if net is not None else load_network()
        self.tmp = tempfile.mkdtemp(prefix="torclientd-%s-" % name)
        self.socks_port = socks_port or free_port()
        self.cli_socket = os.path.join(self.tmp, "run", "cli.sock")
        self.config_path = os.path.join(self.tmp, "torclientd.conf")
        self.log_path = os.path.join(self.tmp, "torclientd.log")
        self.proc = None
        lines = ["tor {"]
        lines.append("  enabled" if enabled else "  disabled")
        lines += [
            "  socks-port %d" % self.socks_port,
            "  config-dir %s" % os.path.join(self.tmp, "state"),
            "  cache-dir %s" % os.path.join(self.tmp, "cache"),
            "  cli-socket %s" % self.cli_socket,
            "  log-level %s" % log_level,
            "  safe-logging %s" % ("on" if safe_logging else "off"),
            "  test-network",
        ]
        lines += ["  " + l for l in self.net["dir_authority_stanza_lines"]]
        lines += ["  " + l for l in extra_lines]
        lines.append("}")
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    @property
    def socks_addr(self):
        return "127.0.0.1:%d" % self.socks_port

    def start(self, timeout=30):
        logf = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [TORCLIENTD, "-c", self.config_path], stdin=subprocess.DEVNULL,
                stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            logf.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise TorclientdError("torclientd exited with %s at start:\n%s"
                                      % (self.proc.returncode, self.tail(30)))
            if os.path.exists(self.cli_socket):
                return self
            time.sleep(0.1)
        raise TorclientdError("torclientd did not open its CLI socket in %ds:\n%s"
                              % (timeout, self.tail(30)))

    def ctl(self, *args, check=False, timeout=60):
        r = subprocess.run([TORCLIENTCTL, "-s", self.cli_socket] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
        if check and r.returncode != 0:
            raise TorclientdError("torclientctl %s: rc=%d %s%s"
                                  % (" ".join(args), r.returncode, out, err))
        return r.returncode, out, err

    def status(self):
        return self.ctl("show", "tor", "status", check=True)[1]

    def circuits(self):
        """`show tor circuits` parsed: a list of dicts (id, state, age, path, streams, in, out)."""
        text = self.ctl("show", "tor", "circuits", check=True)[1]
        return parse_circuits(text), text

    def wait_bootstrapped(self, timeout=150):
        deadline = time.time() + timeout
        last = ""
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise TorclientdError("torclientd died (rc %s):\n%s"
                                      % (self.proc.returncode, self.tail(40)))
            rc, out, _ = self.ctl("show", "tor", "status")
            if rc == 0:
                m = re.search(r"^Bootstrapped (\d+)%", out, re.M)
                if m:
                    last = m.group(0)
                    if int(m.group(1)) >= 100:
                        return out
            time.sleep(0.5)
        raise TorclientdError("not bootstrapped after %ds (last: %s):\n%s"
                              % (timeout, last, self.tail(40)))

    def tail(self, n=20):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10):
        """SIGTERM, then SIGKILL; returns the exit code (None if never started)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log("torclientd did not stop in %ds: SIGKILL" % timeout)
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, exc_type, *rest):
        rc = self.stop()
        if exc_type is not None:
            log("torclientd log tail (%s):\n%s" % (self.log_path, self.tail(40)))
        elif rc not in (0, None):
            log("torclientd exited with %s on SIGTERM:\n%s" % (rc, self.tail(40)))
        if exc_type is None and rc in (0, None) and not os.environ.get("TCD_KEEP"):
            self.cleanup()
        return False


def parse_circuits(text):
    lines = [l for l in text.splitlines() if l.strip()]
    if not lines or lines[0].startswith("No open circuits"):
        return []
    cols = re.split(r"\s{2,}", lines[0].strip())
    out = []
    for l in lines[1:]:
        cells = re.split(r"\s{2,}", l.strip())
        if len(cells) != len(cols):
            raise TorclientdError("bad circuits row %r (columns %r)" % (l, cols))
        row = dict(zip([c.lower() for c in cols], cells))
        row["streams"] = int(row["streams"])
        row["hops"] = row["path"].split(" > ")
        out.append(row)
    return out


# ---- SOCKS and HTTP over raw sockets ----------------------------------------

def socks5_connect(port, host, dport, user=None, password=None, timeout=60):
    """SOCKS5 CONNECT; returns (socket, reply code). The socket is open only on success."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        if user is not None:
            s.sendall(b"\x05\x01\x02")
            if recv_exact(s, 2) != b"\x05\x02":
                raise TorclientdError("SOCKS5: server did not choose username/password")
            u, p = user.encode(), (password or "").encode()
            s.sendall(b"\x01" + bytes([len(u)]) + u + bytes([len(p)]) + p)
            if recv_exact(s, 2) != b"\x01\x00":
                raise TorclientdError("SOCKS5: authentication refused")
        else:
            s.sendall(b"\x05\x01\x00")
            if recv_exact(s, 2) != b"\x05\x00":
                raise TorclientdError("SOCKS5: no-auth refused")
        try:
            addr = b"\x01" + socket.inet_aton(host)
        except OSError:
            addr = b"\x03" + bytes([len(host)]) + host.encode()
        s.sendall(b"\x05\x01\x00" + addr + struct.pack(">H", dport))
        rep = read_socks5_reply(s)
        if rep[1] != 0:
            s.close()
        return s, rep[1]
    except BaseException:
        s.close()
        raise


def read_socks5_reply(s):
    head = recv_exact(s, 4)
    atyp = head[3]
    if atyp == 1:
        rest = recv_exact(s, 4 + 2)
    elif atyp == 4:
        rest = recv_exact(s, 16 + 2)
    elif atyp == 3:
        n = recv_exact(s, 1)
        rest = n + recv_exact(s, n[0] + 2)
    else:
        raise TorclientdError("SOCKS5 reply with atyp %d" % atyp)
    return head + rest


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise TorclientdError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += d
    return buf


def recv_all(s, limit=None):
    chunks, total = [], 0
    while True:
        d = s.recv(1 << 16)
        if not d:
            break
        chunks.append(d)
        total += len(d)
        if limit is not None and total >= limit:
            break
    return b"".join(chunks)


def http_get_sha256(s, host, path):
    """HTTP/1.0 GET on an open stream; returns (status line, body length, body sha256)."""
    s.sendall(("GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, host)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        d = s.recv(4096)
        if not d:
            raise TorclientdError("EOF in HTTP headers: %r" % head[:200])
        head += d
    hdr, body0 = head.split(b"\r\n\r\n", 1)
    h = hashlib.sha256(body0)
    n = len(body0)
    while True:
        d = s.recv(1 << 16)
        if not d:
            break
        h.update(d)
        n += len(d)
    return hdr.split(b"\r\n", 1)[0].decode(errors="replace"), n, h.hexdigest()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def curl_fetch(args, url, out, max_time=180):
    cmd = ["curl", "-sS", "--fail", "--max-time", str(max_time), "-o", out] + args + [url]
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
