"""Helpers for the directory integration tests (bootstrap, cache, guards).

Builds on tests/integration/torclientd/tcd.py (Torclientd, SOCKS helpers) and
testnet/testnet.py (pid files, consensus parsing). Each test starts its own
torclientd with its own temporary config-dir and cache-dir; restarting the
same Torclientd object (stop(); start()) reuses those directories.

Authorities are "stopped" by freezing them (SIGSTOP) and always thawed
(SIGCONT) in a finally block; afterwards wait_network_live() waits until every
authority serves a live consensus again, so later tests find the shared test
network as they expect it.
"""
import calendar
import contextlib
import os
import re
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "torclientd"))
import tcd  # noqa: E402

TOOLS = os.environ.get("TORCLIENT_TESTNET_TOOLS", os.path.join(tcd.REPO, "testnet"))
sys.path.insert(0, os.path.abspath(TOOLS))
import testnet  # noqa: E402

log = tcd.log

CACHE_FILES = ("cached-microdesc-consensus", "cached-certs", "cached-microdescs")


class TestFailure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


@contextlib.contextmanager
def daemon(name, net, **kw):
    """A Torclientd that is not started yet (start it with start_and_time);
    always stopped on exit; its temporary directories are removed only when
    the block succeeded (TCD_KEEP=1 keeps them)."""
    d = tcd.Torclientd(name=name, net=net, **kw)
    ok = False
    try:
        yield d
        ok = True
    finally:
        rc = d.stop()
        if not ok:
            log("torclientd log: %s; tail:\n%s" % (d.log_path, d.tail(40)))
        elif rc not in (0, None):
            log("torclientd exited with %s on SIGTERM:\n%s" % (rc, d.tail(40)))
        if ok and not os.environ.get("TCD_KEEP"):
            d.cleanup()


def cache_dir(d):
    return os.path.join(d.tmp, "cache")


def config_dir(d):
    return os.path.join(d.tmp, "state")


def log_size(d):
    try:
        return os.path.getsize(d.log_path)
    except OSError:
        return 0


def log_since(d, offset):
    """The daemon's log written after byte `offset` (one run of a restart)."""
    with open(d.log_path, "rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


def start_and_time(d, timeout=150):
    """Start `d`, poll `show tor status` every 20 ms until 100%.

    Returns (seconds from exec to 100%, log offset at which this run began).
    """
    off = log_size(d)
    t0 = time.time()
    d.start()
    deadline = t0 + timeout
    last = ""
    while time.time() < deadline:
        if not d.alive():
            raise TestFailure("torclientd died (rc %s):\n%s" % (d.proc.returncode, d.tail(40)))
        rc, out, _ = d.ctl("show", "tor", "status")
        if rc == 0:
            m = re.search(r"^Bootstrapped (\d+)%.*$", out, re.M)
            if m:
                last = m.group(0)
                if int(m.group(1)) >= 100:
                    return time.time() - t0, off
        time.sleep(0.02)
    raise TestFailure("not bootstrapped after %ds (last: %s):\n%s" % (timeout, last, d.tail(40)))


def fetch(d, net, name="1M", attempts=2):
    """GET files.testnet.example/<name> through the daemon's SOCKS port
    (hostname resolved by the exit); checks size and sha256 from network.json.
    Returns the seconds the transfer took."""
    info = net["http"]["files"][name]
    last = None
    for attempt in range(1, attempts + 1):
        t0 = time.time()
        try:
            s, rep = tcd.socks5_connect(d.socks_port, net["http"]["host"], net["http"]["port"])
            if rep != 0:
                last = "SOCKS5 reply %d" % rep
                log("fetch attempt %d: %s" % (attempt, last))
                continue
            with s:
                status, n, digest = tcd.http_get_sha256(s, net["http"]["host"], "/" + name)
        except (OSError, tcd.TorclientdError) as e:
            last = str(e)
            log("fetch attempt %d: %s" % (attempt, last))
            continue
        dt = time.time() - t0
        if status.split()[1:2] != ["200"] or n != info["size"] or digest != info["sha256"]:
            raise TestFailure("GET /%s: %s, %d bytes sha256 %s; want %d bytes %s"
                              % (name, status, n, digest, info["size"], info["sha256"]))
        log("GET /%s: %d bytes, sha256 OK, %.2fs" % (name, n, dt))
        return dt
    raise TestFailure("GET /%s failed %d times (last: %s)\n%s" % (name, attempts, last, d.tail(40)))


_TS = re.compile(r"^(\w{3} \d{2} \d{2}):(\d{2}):(\d{2})\.(\d{3}) ")


def _log_time(line):
    m = _TS.match(line)
    if not m:
        return None
    h = int(m.group(1)[-2:])
    return h * 3600 + int(m.group(2)) * 60 + int(m.group(3)) + int(m.group(4)) / 1000.0


def log_bootstrap_seconds(text):
    """From the run's first log line ("torclientd starting") to
    "Bootstrapped 100%", by the daemon's own millisecond timestamps."""
    lines = text.splitlines()
    t0 = next((_log_time(l) for l in lines if _log_time(l) is not None), None)
    t1 = next((_log_time(l) for l in lines if "Bootstrapped 100%" in l), None)
    if t0 is None or t1 is None:
        return None
    return (t1 - t0) % 86400


def bootstrap_lines(text):
    return [l for l in text.splitlines() if "Bootstrapped" in l]


def before_done(text):
    """The part of one run's log before "Bootstrapped 100%"."""
    i = text.find("Bootstrapped 100%")
    return text if i < 0 else text[:i]


# ---- authorities: freeze / thaw ---------------------------------------------

def authority_pid(auth):
    pid = testnet.pidfile_alive(auth["pidfile"])
    if not pid:
        raise TestFailure("authority %s is not running (%s)" % (auth["nickname"], auth["pidfile"]))
    return pid


@contextlib.contextmanager
def frozen(auths, net=None, restore_timeout=120):
    """SIGSTOP the given authorities; SIGCONT them on exit (always), then
    wait until all authorities serve a live consensus again."""
    pids = []
    try:
        for a in auths:
            pid = authority_pid(a)
            os.kill(pid, signal.SIGSTOP)
            pids.append((a["nickname"], pid))
            log("froze authority %s (pid %d)" % (a["nickname"], pid))
        yield
    finally:
        for nick, pid in pids:
            try:
                os.kill(pid, signal.SIGCONT)
                log("thawed authority %s (pid %d)" % (nick, pid))
            except ProcessLookupError:
                log("authority %s (pid %d) vanished while frozen" % (nick, pid))
        if pids and net is not None:
            wait_network_live(net, restore_timeout)


def parse_utc(s):
    return calendar.timegm(time.strptime(s.strip(), "%Y-%m-%d %H:%M:%S"))


def authority_consensus_meta(auth):
    url = "http://%s:%d/tor/status-vote/current/consensus-microdesc" % (testnet.LOOPBACK, auth["dirport"])
    _, meta = testnet.parse_consensus(testnet.http_get(url, timeout=5).decode(errors="replace"))
    return meta


def wait_network_live(net, timeout=120):
    """Until every authority serves a consensus whose valid-until lies ahead
    (after a freeze the consensus may have lapsed; tor votes again at the next
    interval) and the usual readiness check (testnet.check_network) passes."""
    deadline = time.time() + timeout
    last = ""
    while time.time() < deadline:
        try:
            ok = True
            for a in net["authorities"]:
                meta = authority_consensus_meta(a)
                vu = parse_utc(meta["valid-until"])
                if vu <= time.time() + 5:
                    ok = False
                    last = "%s: consensus valid-until %s" % (a["nickname"], meta["valid-until"])
                    break
            if ok:
                ok, results = testnet.check_network(net)
                if not ok:
                    last = "; ".join("%s: %s" % (n, m) for n, o, m in results if not o)
            if ok:
                log("test network live again")
                return
        except Exception as e:  # noqa: BLE001 - any fetch problem means "not yet"
            last = str(e)
        time.sleep(1)
    raise TestFailure("test network not live again within %ds: %s" % (timeout, last))


def run(main):
    """Run a test's main(): exit 0 on success, 1 on TestFailure."""
    tcd.install_sigterm_handler()
    try:
        rc = main()
    except TestFailure as e:
        print("FAIL: %s" % e, file=sys.stderr, flush=True)
        rc = 1
    sys.exit(rc or 0)
