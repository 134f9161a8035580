#!/usr/bin/env python3
"""Side-by-side benchmark: C tor's client against torclientd on the private
test network (testnet/), plus the Google Benchmark micro-benchmarks.

Run through scripts/bench.sh (which builds Release into build-bench and runs
this inside testnet/netns-run.sh). This script starts the network itself,
once per network condition:

  loopback  plain loopback
  wan       every relay's ORPort behind a delaying TCP forwarder
            (testnet/delay.py, `testnet.py start --delay-ms D`), if the
            network tool supports it

Per condition, N rounds; in each round C tor's client (A) then torclientd (B)
run the same sequence against the same network, exits and files:

  bootstrap cold   empty data/cache dir; process start -> first SOCKS fetch of
                   a small file succeeds (also: -> "Bootstrapped 100%" seen:
                   C tor's log / `torclientctl show tor status`)
  ttfb             curl time_starttransfer of /bytes/1000 on a new SOCKS
                   stream (same isolation, circuit reused), many iterations
  circuit build    every three-hop circuit the client builds while
                   new-isolation SOCKS streams (a fresh SOCKS username each)
                   run, launch -> last hop: C tor's control port CIRC events
                   (LAUNCHED .. EXTENDED x3 .. BUILT), torclientd's info log
                   "circuit %08x built in N ms (hops a + b + c ms)"; per hop
                   too. Also C tor one at a time on an idle client
                   (`EXTENDCIRCUIT 0` -> `650 CIRC id BUILT`)
  ttfb new circuit curl time_starttransfer with a fresh SOCKS username (both)
  single stream    /100M through one stream: bytes / curl time_total
  100 streams      curl --parallel, 100 x /1M at once: bytes / wall time
  cpu per GB       client utime+stime (/proc/PID/stat) over both throughput
                   phases / GB carried
  peak RSS         VmHWM (/proc/PID/status) after all of the above
  bootstrap warm   restart with the data/cache dir kept

Figures: medians over rounds (p50/p90 over all samples pooled). Ratio is
ours / C tor. Targets are reported, never asserted.
"""
import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TESTNET = os.path.join(REPO, "testnet")
sys.path.insert(0, TESTNET)
import testnet  # noqa: E402

CURL = shutil.which("curl") or "curl"


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# /proc
# ---------------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(")") + 2:].split()
    # fields 14 (utime) and 15 (stime): rest[11], rest[12]
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def proc_status_kb(pid, field):
    """A "Field:   N kB" line of /proc/PID/status, or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def vm_hwm_kb(pid):
    return proc_status_kb(pid, "VmHWM")


def machine_info():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = open("/proc/loadavg").read().split()[:3]
    except OSError:
        load = []
    tor_version = subprocess.run(["tor", "--version"], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL).stdout.decode().splitlines()
    return {"nproc": os.cpu_count(), "cpu_model": model, "kernel": platform.release(),
            "loadavg_at_start": load, "tor_version": tor_version[0].rstrip(".") if tor_version else "?",
            "note": ("the machine had other load when the run started (load average above "
                     "half its cores): figures are noisy, ratios from the same run only"
                     if load and float(load[0]) > 0.5 * (os.cpu_count() or 1) else
                     "figures are from one run on this machine; compare ratios, not absolute times")}


# ---------------------------------------------------------------------------
# curl helpers
# ---------------------------------------------------------------------------

def curl(proxy, url, max_time=60, extra=(), out="/dev/null"):
    """Returns dict with ok, ttfb, total, size (seconds/bytes)."""
    cmd = [CURL, "-sS", "--fail", "--max-time", str(max_time), "-x", proxy, "-o", out,
           "-w", "%{time_starttransfer} %{time_total} %{size_download}"] + list(extra) + [url]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        t1, tt, sz = r.stdout.decode().split()
        res = {"ttfb": float(t1), "total": float(tt), "size": int(float(sz))}
    except ValueError:
        res = {"ttfb": None, "total": None, "size": 0}
    res["ok"] = r.returncode == 0
    res["err"] = r.stderr.decode(errors="replace").strip()[-300:]
    return res


def proxy_url(port, user=None):
    if user:
        return "socks5h://%s:x@127.0.0.1:%d" % (user, port)
    return "socks5h://127.0.0.1:%d" % port


def pct(values, p):
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    k = (len(v) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def median(values):
    v = [x for x in values if x is not None]
    return statistics.median(v) if v else None


# ---------------------------------------------------------------------------
# the two clients
# ---------------------------------------------------------------------------

class Client:
    label = "?"

    def __init__(self, net):
        self.net = net
        self.proc = None
        self.socks_port = None
        self.t_start = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def proxy(self, user=None):
        return proxy_url(self.socks_port, user)


class CTor(Client):
    label = "ctor"

    def __init__(self, net):
        super().__init__(net)
        self.dir = net["dir"]
        self.data_dir = os.path.join(self.dir, "clients", "bench-ctor")
        self.pidfile = os.path.join(self.dir, "pids", "ctor-bench.pid")
        self.log = os.path.join(self.data_dir, "notice.log")
        self.control_port = None

    def start(self, cold):
        if cold:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        os.makedirs(self.data_dir, mode=0o700, exist_ok=True)
        os.chmod(self.data_dir, 0o700)
        for f in (self.log, os.path.join(self.data_dir, "control_auth_cookie")):
            try:
                os.unlink(f)
            except FileNotFoundError:
                pass
        self.socks_port = testnet.free_port()
        self.control_port = testnet.free_port()
        torrc = os.path.join(self.data_dir, "torrc")
        with open(torrc, "w") as f:
            f.write(testnet.client_torrc(self.net, self.socks_port, self.data_dir,
                                         self.control_port, self.log))
        empty = os.path.join(self.data_dir, "empty-defaults-torrc")
        open(empty, "a").close()
        self.t_start = time.monotonic()
        self.proc = testnet.spawn([shutil.which("tor") or "tor", "--defaults-torrc", empty,
                                   "-f", torrc], self.pidfile,
                                  os.path.join(self.data_dir, "stdout.log"))

    def bootstrapped(self):
        try:
            with open(self.log, errors="replace") as f:
                return "Bootstrapped 100%" in f.read()
        except OSError:
            return False

    def stop(self):
        testnet.stop_pidfile(self.pidfile, quiet=True)
        if self.proc:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.proc = None

    # -- circuit build times through the control port --
    def control(self, timeout=60):
        c = ControlConnection(self.control_port, timeout)
        c.authenticate(open(os.path.join(self.data_dir, "control_auth_cookie"), "rb").read())
        return c

    def circuit_build_times(self, n, timeout=60):
        """n circuits built one at a time with EXTENDCIRCUIT 0 on an otherwise
        idle client: (times, per-hop times, failures)."""
        c = self.control(timeout)
        c.command("SETEVENTS CIRC")
        times, hops, failed = [], [], 0
        for _ in range(n):
            t0 = time.monotonic()
            c.send("EXTENDCIRCUIT 0")
            cid = None
            marks = [t0]  # + one per hop answered (C tor sends EXTENDED for each, then BUILT)
            deadline = t0 + timeout
            while time.monotonic() < deadline:
                line = c.readline()
                m = re.match(r"250 EXTENDED (\d+)", line)
                if m:
                    cid = m.group(1)
                    continue
                if line.startswith("5"):
                    failed += 1
                    break
                m = re.match(r"650 CIRC (\d+) (\w+)", line)
                if m and m.group(1) == cid:
                    if m.group(2) == "EXTENDED":
                        marks.append(time.monotonic())
                    if m.group(2) == "BUILT":
                        times.append((time.monotonic() - t0) * 1000.0)
                        if len(marks) == 4:
                            hops.append([(b - a) * 1000.0 for a, b in zip(marks, marks[1:])])
                        break
                    if m.group(2) in ("FAILED", "CLOSED"):
                        failed += 1
                        break
        c.close()
        return times, hops, failed

    def watch_circuits(self):
        """Start recording the circuits C tor builds on its own (for streams,
        preemptively, conflux legs); stop() gives (times, per-hop times) of the
        three-hop ones: the same thing our client's log gives."""
        return CircuitWatcher(self.control())


class ControlConnection:
    """A control port connection (control-spec) that acknowledges every
    segment at once: TCP_QUICKACK, renewed before each recv. tor's control
    socket uses Nagle: with our ACK of a reply delayed (40 ms on Linux), tor
    held the next events back until it came, and every build measured ~44 ms
    whatever its real time."""

    def __init__(self, port, timeout):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def send(self, line):
        self.s.sendall(line.encode() + b"\r\n")

    def readline(self):
        while b"\n" not in self.buf:
            self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            chunk = self.s.recv(4096)
            if not chunk:
                raise RuntimeError("control connection closed")
            self.buf.extend(chunk)
        i = self.buf.index(b"\n")
        line = bytes(self.buf[:i + 1])
        del self.buf[:i + 1]
        return line.decode(errors="replace").rstrip("\r\n")

    def command(self, line):
        self.send(line)
        reply = self.readline()
        if not reply.startswith("250"):
            raise RuntimeError("control: %s refused: %s" % (line.split()[0], reply))

    def authenticate(self, cookie):
        self.command("AUTHENTICATE " + cookie.hex())

    def close(self):
        try:
            self.send("QUIT")
            self.s.shutdown(socket.SHUT_RDWR)  # wakes a reader blocked in recv
        except OSError:
            pass
        self.s.close()


class CircuitWatcher(threading.Thread):
    def __init__(self, conn):
        super().__init__(daemon=True)
        self.conn = conn
        self.conn.command("SETEVENTS CIRC")
        self.marks = {}  # circuit id -> [LAUNCHED time, EXTENDED times...]
        self.times, self.hops = [], []
        self.stopping = False
        self.start()

    def run(self):
        try:
            while not self.stopping:
                line = self.conn.readline()
                m = re.match(r"650 CIRC (\d+) (\w+)(?: (\S+))?", line)
                if not m:
                    continue
                now = time.monotonic()
                cid, status = m.group(1), m.group(2)
                if status == "LAUNCHED":
                    self.marks[cid] = [now]
                elif status == "EXTENDED" and cid in self.marks:
                    self.marks[cid].append(now)
                elif status == "BUILT" and cid in self.marks:
                    marks = self.marks.pop(cid)
                    path = m.group(3) or ""
                    if path.startswith("$") and path.count(",") == 2:
                        self.times.append((now - marks[0]) * 1000.0)
                        if len(marks) == 4:
                            self.hops.append([(b - a) * 1000.0 for a, b in zip(marks, marks[1:])])
                elif status in ("FAILED", "CLOSED"):
                    self.marks.pop(cid, None)
        except (OSError, RuntimeError):
            pass

    def stop(self):
        self.stopping = True
        time.sleep(0.2)  # a BUILT event already on its way
        self.conn.close()
        self.join(timeout=5)
        return list(self.times), list(self.hops)


class Ours(Client):
    label = "ours"
    # "circuit 8000abcd built in 47 ms (hops 0.9 + 40.2 + 5.8 ms)"
    BUILT_RE = re.compile(r"circuit [0-9a-f]{8} built in (\d+) ms(?: \(hops ([0-9. +]+) ms\))?")

    def __init__(self, net, torclientd, torclientctl):
        super().__init__(net)
        self.dir = net["dir"]
        self.tmp = os.path.join(self.dir, "clients", "bench-tcd")
        self.pidfile = os.path.join(self.dir, "pids", "tcd-bench.pid")
        self.log = os.path.join(self.tmp, "torclientd.log")
        self.cli_socket = os.path.join(self.tmp, "run", "cli.sock")
        self.torclientd = torclientd
        self.torclientctl = torclientctl

    def start(self, cold):
        if cold:
            shutil.rmtree(self.tmp, ignore_errors=True)
        os.makedirs(self.tmp, exist_ok=True)
        for f in (self.log, self.cli_socket):
            try:
                os.unlink(f)
            except FileNotFoundError:
                pass
        self.socks_port = testnet.free_port()
        conf = os.path.join(self.tmp, "torclientd.conf")
        lines = ["tor {", "  enabled",
                 "  socks-port %d" % self.socks_port,
                 "  config-dir %s" % os.path.join(self.tmp, "state"),
                 "  cache-dir %s" % os.path.join(self.tmp, "cache"),
                 "  cli-socket %s" % self.cli_socket,
                 "  log-level info",
                 "  test-network"]
        lines += ["  " + l for l in self.net["dir_authority_stanza_lines"]]
        lines.append("}")
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.t_start = time.monotonic()
        self.proc = testnet.spawn([self.torclientd, "-c", conf], self.pidfile, self.log)

    def bootstrapped(self):
        if not os.path.exists(self.cli_socket):
            return False
        r = subprocess.run([self.torclientctl, "-s", self.cli_socket, "show", "tor", "status"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        m = re.search(r"^Bootstrapped (\d+)%", r.stdout.decode(errors="replace"), re.M)
        return bool(m and int(m.group(1)) >= 100)

    def stop(self):
        testnet.stop_pidfile(self.pidfile, grace=10, quiet=True)
        if self.proc:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.proc = None

    def log_size(self):
        try:
            return os.path.getsize(self.log)
        except OSError:
            return 0

    def built_since(self, offset):
        with open(self.log, "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
        times, hops = [], []
        for m in self.BUILT_RE.finditer(text):
            times.append(float(m.group(1)))
            h = [float(x) for x in (m.group(2) or "").split("+") if x.strip()]
            if len(h) == 3:
                hops.append(h)
        return times, hops


# ---------------------------------------------------------------------------
# one round for one client
# ---------------------------------------------------------------------------

def measure_bootstrap(c, cold, url, timeout=120):
    """Start c; returns (seconds to first successful fetch, seconds to 100%)."""
    c.start(cold)
    t0 = c.t_start
    t_status = [None]
    done = threading.Event()

    def poll():
        while not done.is_set() and time.monotonic() - t0 < timeout:
            if c.bootstrapped():
                t_status[0] = time.monotonic() - t0
                return
            time.sleep(0.02)

    th = threading.Thread(target=poll, daemon=True)
    th.start()
    t_fetch = None
    # The SOCKS port opens a few ms after start-up. Wait for it with cheap
    # connects: a curl refused before it opens, then a sleep, measured the
    # sleep (both clients' first tries were refused), not the client.
    while time.monotonic() - t0 < timeout:
        if not c.alive():
            raise RuntimeError("%s exited during bootstrap" % c.label)
        try:
            socket.create_connection(("127.0.0.1", c.socks_port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.002)
    while time.monotonic() - t0 < timeout:
        if not c.alive():
            raise RuntimeError("%s exited during bootstrap" % c.label)
        # Both clients hold a request until they have a circuit; one that
        # fails anyway (cold: no directory yet) is tried again soon.
        r = curl(c.proxy(), url, max_time=30)
        if r["ok"]:
            t_fetch = time.monotonic() - t0
            break
        time.sleep(0.01)
    th.join(timeout=max(0.0, timeout - (time.monotonic() - t0)))
    done.set()
    return t_fetch, t_status[0]


def proc_cpu_table(net, extra):
    out = {}
    for name, pf in net["pidfiles"].items():
        pid = testnet.pidfile_alive(pf)
        if pid:
            out[name] = cpu_seconds(pid)
    for name, pid in extra.items():
        if pid:
            out[name] = cpu_seconds(pid)
    return out


def rss_anon_kb(pid):
    """Private (anonymous) resident memory: what the process itself costs,
    without the shared libraries (libcrypto, libstdc++) both clients map."""
    return proc_status_kb(pid, "RssAnon")


class AnonPeak(threading.Thread):
    """Samples RssAnon every 50 ms; the kernel keeps no peak of it."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop_ev = pid, 0, threading.Event()

    def run(self):
        while not self.stop_ev.is_set():
            v = rss_anon_kb(self.pid)
            if v is None:
                return
            self.peak = max(self.peak, v)
            self.stop_ev.wait(0.05)

    def stop(self):
        self.stop_ev.set()
        self.join(1)
        return self.peak


def run_client_round(c, net, args, rnd):
    res = {}
    files = net["http"]["files"]
    base = net["http"]["base_url"]
    small = base + "/bytes/1000"
    # cold bootstrap
    tf, ts = measure_bootstrap(c, True, small, timeout=args.bootstrap_timeout)
    res["bootstrap_cold_fetch_s"], res["bootstrap_cold_status_s"] = tf, ts
    log("  %s: cold bootstrap: first fetch %.2fs, 100%% %s" % (
        c.label, tf or -1, "%.2fs" % ts if ts else "not seen"))
    if tf is None:
        raise RuntimeError("%s did not bootstrap" % c.label)
    pid = c.pid
    anon = AnonPeak(pid)
    anon.start()
    # TTFB, circuit reused
    curl(c.proxy(), small)
    tt = []
    for _ in range(args.ttfb):
        r = curl(c.proxy(), small)
        if r["ok"]:
            tt.append(r["ttfb"] * 1000.0)
    res["ttfb_ms"] = tt
    # circuit builds, C tor one at a time on an idle client (EXTENDCIRCUIT)
    if isinstance(c, CTor):
        try:
            times, hops, failed = c.circuit_build_times(args.circuits)
        except (OSError, RuntimeError) as e:
            log("  ctor: control port: %s" % e)
            times, hops, failed = [], [], args.circuits
        res["circuit_build_idle_ms"], res["circuit_hop_idle_ms"] = times, hops
        res["circuit_build_idle_failed"] = failed
        log("  ctor: one circuit at a time (EXTENDCIRCUIT): build p50 %s ms (%d; per hop p50 %s)" % (
            fmt(pct(times, 50)), len(times), " / ".join(fmt(x) for x in hop_p50(hops)) or "-"))
    # circuit builds for both clients alike: every three-hop circuit the
    # client builds while new-isolation streams (a fresh SOCKS username each)
    # make it build them (for the streams, preemptive, conflux legs)
    watcher = None
    if isinstance(c, CTor):
        try:
            watcher = c.watch_circuits()
        except (OSError, RuntimeError) as e:
            log("  ctor: control port: %s" % e)
    new_iso = []
    off = c.log_size() if isinstance(c, Ours) else 0
    for i in range(args.circuits):
        r = curl(c.proxy("b%dr%di%d" % (os.getpid(), rnd, i)), small)
        if r["ok"]:
            new_iso.append(r["ttfb"] * 1000.0)
    res["ttfb_new_circuit_ms"] = new_iso
    if isinstance(c, Ours):
        res["circuit_build_ms"], res["circuit_hop_ms"] = c.built_since(off)
    elif watcher:
        res["circuit_build_ms"], res["circuit_hop_ms"] = watcher.stop()
    else:
        res["circuit_build_ms"], res["circuit_hop_ms"] = [], []
    res["circuit_build_failed"] = args.circuits - len(new_iso)
    cb = res["circuit_build_ms"]
    hp = hop_p50(res.get("circuit_hop_ms", []))
    log("  %s: ttfb p50 %s ms, circuit build p50 %s ms (%d; per hop p50 %s), new-circuit ttfb p50 %s ms" % (
        c.label, fmt(pct(tt, 50)), fmt(pct(cb, 50)), len(cb),
        " / ".join(fmt(x) for x in hp) if hp else "-", fmt(pct(new_iso, 50))))
    # throughput + CPU
    cpu0 = cpu_seconds(pid)
    sys0 = proc_cpu_table(net, {})
    t0 = time.monotonic()
    r = curl(c.proxy(), files[args.single_file]["url"], max_time=args.single_timeout)
    single_wall = time.monotonic() - t0
    sys1 = proc_cpu_table(net, {})
    cpu1 = cpu_seconds(pid)
    single_bytes = r["size"] if r["ok"] else 0
    res["single_ok"] = r["ok"] and r["size"] == files[args.single_file]["size"]
    res["single_MBps"] = (r["size"] / r["total"] / 1e6) if res["single_ok"] else None
    # CPU share of every process during the single stream
    share = {k: (sys1[k] - sys0[k]) / single_wall for k in sys1 if k in sys0}
    share["client"] = (cpu1 - cpu0) / single_wall
    res["single_cpu_share"] = share
    if not res["single_ok"]:
        log("  %s: single stream failed: %s" % (c.label, r["err"]))
    # 100 concurrent streams through one curl process
    url = files[args.multi_file]["url"]
    cmd = [CURL, "-sS", "--fail", "--parallel", "--parallel-immediate",
           "--parallel-max", str(args.streams), "--max-time", str(args.multi_timeout),
           "-x", c.proxy(), "-w", "%{size_download}\n"]
    for _ in range(args.streams):
        cmd += ["-o", "/dev/null", url]
    t0 = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wall = time.monotonic() - t0
    cpu2 = cpu_seconds(pid)
    sizes = [int(float(x)) for x in p.stdout.decode().split()]
    multi_bytes = sum(sizes)
    complete = sum(1 for s in sizes if s == files[args.multi_file]["size"])
    res["multi_complete"] = complete
    res["multi_MBps"] = multi_bytes / wall / 1e6 if complete == args.streams else None
    if complete != args.streams:
        log("  %s: %d/%d streams complete: %s" % (c.label, complete, args.streams,
                                                 p.stderr.decode(errors="replace")[-300:]))
    carried = single_bytes + multi_bytes
    res["cpu_s_per_GB"] = (cpu2 - cpu0) / (carried / 1e9) if carried > 0 else None
    res["peak_rss_MB"] = (vm_hwm_kb(pid) or 0) / 1024.0
    res["peak_anon_MB"] = anon.stop() / 1024.0
    log("  %s: single %s MB/s, %d streams %s MB/s, cpu %s s/GB, peak RSS %.1f MB (private %.1f MB)" % (
        c.label, fmt(res["single_MBps"]), args.streams, fmt(res["multi_MBps"]),
        fmt(res["cpu_s_per_GB"]), res["peak_rss_MB"], res["peak_anon_MB"]))
    if isinstance(c, Ours):
        res["log_bytes"] = c.log_size()
    c.stop()
    # warm bootstrap (cache kept)
    tf, ts = measure_bootstrap(c, False, small, timeout=args.bootstrap_timeout)
    res["bootstrap_warm_fetch_s"], res["bootstrap_warm_status_s"] = tf, ts
    log("  %s: warm bootstrap: first fetch %s s, 100%% %s s" % (c.label, fmt(tf), fmt(ts)))
    c.stop()
    return res


def hop_p50(hop_lists):
    """Per-hop p50 of three-hop builds: [hop 1, hop 2, hop 3] in ms, or []."""
    if not hop_lists:
        return []
    return [pct([h[i] for h in hop_lists], 50) for i in range(3)]


def fmt(x, nd=2):
    return "-" if x is None else ("%.*f" % (nd, x))


# ---------------------------------------------------------------------------
# network per condition
# ---------------------------------------------------------------------------

def testnet_cmd(*a):
    return [sys.executable, os.path.join(TESTNET, "testnet.py")] + list(a)


def testnet_supports_delay():
    r = subprocess.run(testnet_cmd("start", "--help"), stdout=subprocess.PIPE)
    return b"--delay-ms" in r.stdout


def start_network(tdir, delay_ms, kist_ms=2):
    cmd = testnet_cmd("start", "--dir", tdir, "--restart", "--wait", "--timeout", "180",
                      "--kist-ms", str(kist_ms))
    if delay_ms:
        cmd += ["--delay-ms", str(delay_ms)]
    log("starting the test network%s" % (" (delay %d ms per relay link direction)" % delay_ms
                                         if delay_ms else ""))
    r = subprocess.run(cmd)
    if r.returncode != 0:
        raise RuntimeError("testnet start failed")
    # the consensus the authorities just made must reach every relay; give
    # one more voting round so that clients see a settled network
    time.sleep(2)
    return testnet.load_network(tdir)


def stop_network(tdir):
    subprocess.run(testnet_cmd("stop", "--dir", tdir), stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def run_condition(name, delay_ms, args):
    net = start_network(args.testnet_dir, delay_ms, args.kist_ms)
    rounds = {"ctor": [], "ours": []}
    try:
        for rnd in range(args.rounds):
            for c in (CTor(net), Ours(net, args.torclientd, args.torclientctl)):
                log("[%s] round %d/%d: %s" % (name, rnd + 1, args.rounds, c.label))
                try:
                    rounds[c.label].append(run_client_round(c, net, args, rnd))
                except Exception as e:  # keep going: one bad round is a data point
                    log("  %s: round failed: %s" % (c.label, e))
                    rounds[c.label].append({"error": str(e)})
                finally:
                    c.stop()
    finally:
        stop_network(args.testnet_dir)
    return {"condition": name, "delay_ms": delay_ms, "rounds": rounds,
            "summary": summarize(rounds)}


METRICS = [
    # key, label, unit, how, better, target ratio
    ("bootstrap_cold_fetch_s", "bootstrap cold (to first fetch)", "s", "median", "lower", 0.8),
    ("bootstrap_cold_status_s", "bootstrap cold (to Bootstrapped 100%)", "s", "median", "lower", 0.8),
    ("bootstrap_warm_fetch_s", "bootstrap warm (to first fetch)", "s", "median", "lower", 0.8),
    ("bootstrap_warm_status_s", "bootstrap warm (to Bootstrapped 100%)", "s", "median", "lower", 0.8),
    ("circuit_build_ms:50", "circuit build p50", "ms", "pool", "lower", 0.8),
    ("circuit_build_ms:90", "circuit build p90", "ms", "pool", "lower", None),
    ("ttfb_ms:50", "TTFB new stream p50", "ms", "pool", "lower", 0.8),
    ("ttfb_ms:90", "TTFB new stream p90", "ms", "pool", "lower", None),
    ("ttfb_new_circuit_ms:50", "TTFB new isolation (new circuit) p50", "ms", "pool", "lower", None),
    ("ttfb_new_circuit_ms:90", "TTFB new isolation (new circuit) p90", "ms", "pool", "lower", None),
    ("single_MBps", "single stream 100 MB", "MB/s", "median", "higher", 1.2),
    ("multi_MBps", "100 streams aggregate", "MB/s", "median", "higher", 1.2),
    ("cpu_s_per_GB", "client CPU per GB", "s/GB", "median", "lower", 0.5),
    ("peak_rss_MB", "client peak RSS", "MB", "median", "lower", 0.5),
    ("peak_anon_MB", "client peak private memory (RssAnon, sampled)", "MB", "median", "lower", None),
]


def summarize(rounds):
    out = []
    for key, label, unit, how, better, target in METRICS:
        vals = {}
        for who in ("ctor", "ours"):
            rs = [r for r in rounds[who] if "error" not in r]
            if ":" in key:
                k, p = key.split(":")
                pooled = [x for r in rs for x in r.get(k, [])]
                vals[who] = pct(pooled, int(p))
                vals[who + "_n"] = len(pooled)
            else:
                vals[who] = median([r.get(key) for r in rs])
                vals[who + "_n"] = len([r for r in rs if r.get(key) is not None])
        ratio = (vals["ours"] / vals["ctor"]) if vals["ours"] is not None and vals["ctor"] else None
        met = None
        if ratio is not None and target is not None:
            met = ratio <= target if better == "lower" else ratio >= target
        out.append({"metric": key, "label": label, "unit": unit, "ctor": vals["ctor"],
                    "ours": vals["ours"], "n_ctor": vals["ctor_n"], "n_ours": vals["ours_n"],
                    "ratio": ratio, "better": better, "target": target, "met": met})
    return out


# ---------------------------------------------------------------------------
# micro-benchmarks
# ---------------------------------------------------------------------------

def run_micro(binary, min_time):
    if not binary or not os.path.exists(binary):
        log("micro-benchmarks: %s not built (Google Benchmark missing?)" % binary)
        return None
    out = os.path.join(os.path.dirname(binary), "bench_micro.json")
    log("micro-benchmarks: %s" % binary)
    r = subprocess.run([binary, "--benchmark_format=console", "--benchmark_out=" + out,
                        "--benchmark_out_format=json", "--benchmark_min_time=%s" % min_time,
                        "--benchmark_repetitions=3", "--benchmark_report_aggregates_only=true"])
    if r.returncode != 0 or not os.path.exists(out):
        return None
    data = json.load(open(out))
    ns = {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name") != "median":
            continue
        scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
        ns[b["run_name"]] = b["cpu_time"] * scale
    aes = ns.get("BM_Floor_Aes128Ctr_509")
    sha = ns.get("BM_Floor_Sha1_509")
    floors = []
    for name, hops in (("BM_RelayCrypto_Outbound/1", 1), ("BM_RelayCrypto_Inbound/1", 1),
                       ("BM_RelayCrypto_Outbound/3", 3), ("BM_RelayCrypto_Inbound/3", 3)):
        if name in ns and aes and sha:
            floor = hops * aes + sha
            floors.append({"benchmark": name, "hops": hops, "ns_per_cell": ns[name],
                           "floor_ns": floor, "ratio": ns[name] / floor, "target": 1.3,
                           "met": ns[name] / floor <= 1.3})
    return {"context": data.get("context", {}), "median_cpu_ns": ns, "relay_crypto_vs_floor": floors}


# ---------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------

def markdown(result):
    m = result["machine"]
    lines = ["# Benchmark results: torclientd vs C tor's client", "",
             "Generated by `scripts/bench.sh` on %s." % result["date"], "",
             "**Machine:** %d cores, %s, Linux %s; %s. Load average at start: %s." % (
                 m["nproc"], m["cpu_model"], m["kernel"], m["tor_version"],
                 " ".join(m["loadavg_at_start"])),
             "", "**%s**" % m["note"], "",
             "Ratio = ours / C tor. Medians over %d rounds (A B A B ...); p50/p90 over all "
             "samples pooled. Targets are reported, never asserted. The relays' KIST "
             "scheduler runs every %d ms (consensus KISTSchedRunInterval)." % (
                 result["args"]["rounds"], result["args"].get("kist_ms", 2)), ""]
    for cond in result["conditions"]:
        lines.append("## %s%s" % (cond["condition"], " (%d ms added per relay link direction)"
                                  % cond["delay_ms"] if cond["delay_ms"] else ""))
        lines.append("")
        if cond.get("skipped"):
            lines += ["Not run: %s" % cond["skipped"], ""]
            continue
        lines.append("| metric | C tor | ours | ratio | better | target | met |")
        lines.append("|---|---:|---:|---:|---|---|---|")
        for s in cond["summary"]:
            tgt = "" if s["target"] is None else ("<= %.1fx" if s["better"] == "lower"
                                                  else ">= %.1fx") % s["target"]
            met = "" if s["met"] is None else ("yes" if s["met"] else "**no**")
            lines.append("| %s (%s) | %s | %s | %s | %s | %s | %s |" % (
                s["label"], s["unit"], fmt(s["ctor"]), fmt(s["ours"]),
                fmt(s["ratio"]) + "x" if s["ratio"] is not None else "-", s["better"], tgt, met))
        lines.append("")
        hops = {}
        for who in ("ctor", "ours"):
            pooled = [h for r in cond["rounds"][who] if "error" not in r for h in r.get("circuit_hop_ms", [])]
            if pooled:
                hops[who] = (hop_p50(pooled), len(pooled))
        idle = [r for r in cond["rounds"]["ctor"] if "error" not in r]
        idle_times = [t for r in idle for t in r.get("circuit_build_idle_ms", [])]
        idle_hops = [h for r in idle for h in r.get("circuit_hop_idle_ms", [])]
        if hops:
            lines.append("Where circuit build time goes, p50 per hop in ms (hop 1: the client's own "
                         "link to the guard; hops 2 and 3: relay-to-relay links, the relays' "
                         "scheduling and TCP; each hop's share of the build):")
            lines.append("")
            lines.append("| client | builds | p50 | p90 | hop 1 | hop 2 | hop 3 |")
            lines.append("|---|---:|---:|---:|---:|---:|---:|")
            rows = [("C tor, while new-isolation streams run", "ctor"),
                    ("ours, while new-isolation streams run", "ours")]
            for label, who in rows:
                if who not in hops:
                    continue
                p, n = hops[who]
                tl = [t for r in cond["rounds"][who] if "error" not in r
                      for t in r.get("circuit_build_ms", [])]
                lines.append("| %s | %d | %s | %s | %s | %s | %s |" % (
                    label, n, fmt(pct(tl, 50)), fmt(pct(tl, 90)), fmt(p[0]), fmt(p[1]), fmt(p[2])))
            if idle_times:
                p = hop_p50(idle_hops) or [None] * 3
                lines.append("| C tor, one at a time, idle (EXTENDCIRCUIT 0) | %d | %s | %s | %s | %s | %s |" % (
                    len(idle_times), fmt(pct(idle_times, 50)), fmt(pct(idle_times, 90)),
                    fmt(p[0]), fmt(p[1]), fmt(p[2])))
            lines.append("")
        shares = []
        for who in ("ctor", "ours"):
            last = [r for r in cond["rounds"][who] if "single_cpu_share" in r][-1:]
            shares += [(who, r["single_cpu_share"]) for r in last]
        if shares:
            lines.append("CPU share during the single-stream download (CPU seconds per wall "
                         "second, last round; 1.0 = one core):")
            lines.append("")
            for who, sh in shares:
                top = sorted(sh.items(), key=lambda kv: -kv[1])
                lines.append("- %s run: %s; all processes together %.2f of %d cores" % (
                    who, ", ".join("%s %.2f" % kv for kv in top), sum(sh.values()),
                    result["machine"]["nproc"]))
            lines.append("")
    mic = result.get("micro")
    lines.append("## Micro-benchmarks (Google Benchmark, median CPU time)")
    lines.append("")
    if not mic:
        lines.append("Not run.")
    else:
        lines.append("| benchmark | time |")
        lines.append("|---|---:|")
        for k, v in mic["median_cpu_ns"].items():
            lines.append("| %s | %s |" % (k, ("%.0f ns" % v) if v < 1e5 else ("%.2f ms" % (v / 1e6))))
        lines.append("")
        lines.append("Relay-cell crypto against the floor (hops x AES-128-CTR(509 B) + 1 x "
                     "SHA-1(509 B), raw OpenSSL EVP): target <= 1.3x")
        lines.append("")
        lines.append("| benchmark | ns/cell | floor ns | ratio | met |")
        lines.append("|---|---:|---:|---:|---|")
        for f in mic["relay_crypto_vs_floor"]:
            lines.append("| %s | %.0f | %.0f | %.2fx | %s |" % (
                f["benchmark"], f["ns_per_cell"], f["floor_ns"], f["ratio"],
                "yes" if f["met"] else "**no**"))
    lines.append("")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build-bench"))
    ap.add_argument("--testnet-dir", default=os.path.join(REPO, "build-bench", "testnet-state"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--circuits", type=int, default=50)
    ap.add_argument("--ttfb", type=int, default=50)
    ap.add_argument("--streams", type=int, default=100)
    ap.add_argument("--single-file", default="100M")
    ap.add_argument("--multi-file", default="1M")
    ap.add_argument("--single-timeout", type=int, default=300)
    ap.add_argument("--multi-timeout", type=int, default=300)
    ap.add_argument("--bootstrap-timeout", type=int, default=120)
    ap.add_argument("--conditions", default="loopback,wan")
    ap.add_argument("--delay-ms", type=int, default=20)
    ap.add_argument("--kist-ms", type=int, default=2,
                    help="the relays' KIST scheduler tick (consensus KISTSchedRunInterval; "
                    "default 2 as on the public network, tor's built-in default is 10)")
    ap.add_argument("--micro-min-time", default="0.2")
    ap.add_argument("--no-micro", action="store_true")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--render", metavar="JSON",
                    help="only re-write latest.md from an earlier latest.json")
    args = ap.parse_args()
    if args.render:
        md = markdown(json.load(open(args.render)))
        with open(os.path.join(args.out, "latest.md"), "w") as f:
            f.write(md)
        print(md)
        return 0
    args.torclientd = os.path.join(args.build_dir, "src", "app", "torclientd")
    args.torclientctl = os.path.join(args.build_dir, "src", "app", "torclientctl")
    for b in (args.torclientd, args.torclientctl):
        if not os.path.exists(b):
            sys.exit("run_bench: %s not built" % b)

    result = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine_info(),
              "args": {k: v for k, v in vars(args).items()
                       if k not in ("torclientd", "torclientctl")},
              "conditions": []}
    if not args.no_micro:
        # bench/bench_micro with add_subdirectory(bench); at the top with the hook
        micro = next((p for p in (os.path.join(args.build_dir, "bench", "bench_micro"),
                                  os.path.join(args.build_dir, "bench_micro")) if os.path.exists(p)), None)
        result["micro"] = run_micro(micro, args.micro_min_time)
    for cond in [c for c in args.conditions.split(",") if c]:
        if cond == "loopback":
            result["conditions"].append(run_condition("loopback", 0, args))
        elif cond == "wan":
            if not testnet_supports_delay():
                result["conditions"].append({"condition": "wan", "delay_ms": args.delay_ms,
                                             "skipped": "testnet.py has no --delay-ms"})
                continue
            result["conditions"].append(run_condition("wan", args.delay_ms, args))
        else:
            sys.exit("unknown condition %s" % cond)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "latest.json"), "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    md = markdown(result)
    with open(os.path.join(args.out, "latest.md"), "w") as f:
        f.write(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
