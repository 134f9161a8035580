"""Helpers for the fault tests (issue 8).

Tests that kill relays must not disturb the shared `testnet` fixture, so
they start their own private network with testnet/testnet.py in a temporary
state dir on another base port (FaultNet, always stopped in a finally block),
and kill its daemons by the pid files testnet.py wrote.

Also: one Torclientd (tests/integration/torclientd/tcd.py) per test, always
stopped; fetch() through SOCKS checked against network.json; RSS from /proc.
"""
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "torclientd"))
import tcd  # noqa: E402

TOOLS = os.path.abspath(os.environ.get("TORCLIENT_TESTNET_TOOLS", os.path.join(tcd.REPO, "testnet")))
TESTNET_PY = os.environ.get("TORCLIENT_TESTNET_PY", os.path.join(TOOLS, "testnet.py"))
sys.path.insert(0, TOOLS)
import testnet  # noqa: E402

log = tcd.log


class TestFailure(Exception):
    pass


def run(main):
    """Runs a test's main(): its exit code, or 1 with the reason when a
    check failed (TestFailure)."""
    try:
        sys.exit(main())
    except TestFailure as e:
        print("FAIL: %s" % e, file=sys.stderr)
        sys.exit(1)


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


class FaultNet:
    """A private test network of its own: `with FaultNet(5300) as net:`.

    net.net is the parsed network.json. Stopped (every pid file) on exit,
    also on failure; the state dir is kept when the block failed."""

    def __init__(self, base_port, name="faultnet", timeout=150):
        self.base_port = base_port
        self.dir = tempfile.mkdtemp(prefix="%s-%d-" % (name, base_port))
        self.timeout = timeout
        self.net = None

    def start(self):
        t0 = time.time()
        r = subprocess.run([sys.executable, TESTNET_PY, "start", "--dir", self.dir,
                            "--base-port", str(self.base_port), "--restart", "--wait",
                            "--timeout", str(self.timeout)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            raise TestFailure("own test network did not start (rc %d):\n%s"
                              % (r.returncode, r.stdout.decode(errors="replace")[-3000:]))
        self.net = testnet.load_network(self.dir)
        log("own test network on base port %d ready in %.1fs (%s)"
            % (self.base_port, time.time() - t0, self.dir))
        return self

    def stop(self):
        subprocess.run([sys.executable, TESTNET_PY, "stop", "--dir", self.dir],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)

    def pid(self, nickname):
        return testnet.pidfile_alive(self.net["pidfiles"][nickname])

    def kill(self, nickname, sig=signal.SIGKILL):
        """Kills one daemon of this network (by its pid file); waits until it is gone."""
        pid = self.pid(nickname)
        check(pid, "%s is not running" % nickname)
        os.kill(pid, sig)
        deadline = time.time() + 10
        while time.time() < deadline and testnet.pid_alive(pid):
            try:  # not our child (testnet.py started it): it may linger as a zombie
                with open("/proc/%d/stat" % pid) as f:
                    if f.read().split(")")[-1].split()[0] == "Z":
                        break
            except OSError:
                break
            time.sleep(0.05)
        log("killed %s (pid %d) with signal %d" % (nickname, pid, sig))

    def nickname_of(self, fp_prefix):
        for n in self.net["authorities"] + self.net["relays"]:
            if n["fingerprint"].upper().startswith(fp_prefix.upper()):
                return n["nickname"]
        return None

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, exc_type, *rest):
        self.stop()
        if exc_type is None and not os.environ.get("TCD_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            log("own test network state kept in %s" % self.dir)
        return False


@contextlib.contextmanager
def daemon(name, net, **kw):
    """A started Torclientd; always stopped; its directories are removed only
    when the block succeeded and the daemon exited cleanly on SIGTERM."""
    d = tcd.Torclientd(name=name, net=net, **kw)
    ok = False
    try:
        d.started_at = time.time()
        d.start()
        yield d
        ok = True
    finally:
        rc = d.stop()
        if not ok:
            log("torclientd log: %s; tail:\n%s" % (d.log_path, d.tail(40)))
        elif rc not in (0, None):
            log("torclientd exited with %s on SIGTERM:\n%s" % (rc, d.tail(40)))
            ok = False
        if ok and not os.environ.get("TCD_KEEP"):
            d.cleanup()
    if rc not in (0, None):
        raise TestFailure("torclientd exited with %s on SIGTERM (it must survive the faults)" % rc)


def fetch(d, net, name="1M", timeout=120):
    """GET files.testnet.example/<name> through the daemon's SOCKS port, one
    attempt; checks size and sha256 from network.json. Returns seconds."""
    info = net["http"]["files"][name]
    t0 = time.time()
    s, rep = tcd.socks5_connect(d.socks_port, net["http"]["host"], net["http"]["port"], timeout=timeout)
    check(rep == 0, "GET /%s: SOCKS5 reply %d\n%s" % (name, rep, d.tail(30)))
    with s:
        status, n, digest = tcd.http_get_sha256(s, net["http"]["host"], "/" + name)
    dt = time.time() - t0
    check(status.split()[1:2] == ["200"] and n == info["size"] and digest == info["sha256"],
          "GET /%s: %s, %d bytes sha256 %s; want %d bytes %s"
          % (name, status, n, digest, info["size"], info["sha256"]))
    log("GET /%s: %d bytes, sha256 OK, %.2fs" % (name, n, dt))
    return dt


def circuits_with_streams(d):
    rows, _ = d.circuits()
    return [c for c in rows if c["streams"] > 0]


def hop_nickname(hop):
    """'guard1~412CD443' -> 'guard1'."""
    return hop.split("~", 1)[0]


def vm_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        m = re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)
    return int(m.group(1)) if m else 0


class Download:
    """An HTTP GET through the daemon's SOCKS port, read at the caller's pace:
    open(), read(n) any number of times, finish() checks size and sha256."""

    def __init__(self, d, net, name, timeout=60):
        import hashlib
        self.net, self.name = net, name
        self.info = net["http"]["files"][name]
        self.h = hashlib.sha256()
        self.n = 0
        self.eof = False
        host, port = net["http"]["host"], net["http"]["port"]
        self.sock, rep = tcd.socks5_connect(d.socks_port, host, port, timeout=timeout)
        check(rep == 0, "GET /%s: SOCKS5 reply %d\n%s" % (name, rep, d.tail(30)))
        self.sock.settimeout(timeout)
        self.sock.sendall(("GET /%s HTTP/1.0\r\nHost: %s\r\n\r\n" % (name, host)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            b = self.sock.recv(4096)
            check(b, "GET /%s: EOF in the HTTP header" % name)
            head += b
        hdr, body = head.split(b"\r\n\r\n", 1)
        self.status = hdr.split(b"\r\n", 1)[0].decode(errors="replace")
        check(self.status.split()[1:2] == ["200"], "GET /%s: %s" % (name, self.status))
        self._take(body)

    def _take(self, b):
        self.h.update(b)
        self.n += len(b)

    def read(self, nbytes):
        """Reads until `nbytes` body bytes in total or EOF; returns the count."""
        while self.n < nbytes and not self.eof:
            b = self.sock.recv(1 << 16)
            if not b:
                self.eof = True
                break
            self._take(b)
        return self.n

    def finish(self):
        self.read(1 << 62)
        self.sock.close()
        check(self.n == self.info["size"] and self.h.hexdigest() == self.info["sha256"],
              "GET /%s: %d bytes sha256 %s; want %d bytes %s"
              % (self.name, self.n, self.h.hexdigest(), self.info["size"], self.info["sha256"]))

    def close(self):
        self.sock.close()
