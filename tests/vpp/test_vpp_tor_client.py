#!/usr/bin/env python3
"""The tor_client VPP plugin end to end, against the private test network.

Starts VPP (no DPDK, no hugepages: 4k pages) with the tor_client plugin and
a `tor { }` stanza for the test network, an af_packet host-interface on a
veth whose peer lives in a client network namespace, then checks:
  - the CLI through vppctl (show tor status / show tor circuits, the same
    text as torclientctl; tor client disable / enable port N / config dir),
  - the binary API through vat2 (tor_client_status, tor_client_circuit_dump,
    tor_client_enable_disable),
  - curl --socks5-hostname from the client namespace through VPP's SOCKS
    port: 10M with matching sha256, then 50 concurrent 1M fetches,
  - `tor client disable` closes the listener (connect refused),
  - VPP exits cleanly on SIGTERM (exit 0, promptly).

Exit codes: 0 pass, 1 fail, 77 skipped (no VPP, not root, no netns tools)
(ctest: SKIP_RETURN_CODE 77).

Environment (set by tests/vpp/CMakeLists.txt):
  TORCLIENT_VPP_PREFIX         VPP install prefix (bin/vpp, bin/vppctl, ...)
  TORCLIENT_VPP_PLUGIN_DIR     dir holding tor_client_plugin.so
  TORCLIENT_VAT2_PLUGIN_DIR    dir holding the tor_client vat2 plugin
  TORCLIENT_TESTNET_DIR        the running test network (network.json)
  TORCLIENT_VPP_SKIP_REASON    if set: print it and skip
"""
import glob
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77
failures = []


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def skip(why):
    print("SKIP: %s" % why, flush=True)
    sys.exit(SKIP)


def check(cond, what):
    log(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)
    return cond


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


class Env:
    """VPP, its client namespace and veth, all torn down by close()."""

    def __init__(self, prefix, plugin_dir, vat2_dir, net):
        self.prefix = prefix
        self.plugin_dir = plugin_dir
        self.vat2_dir = vat2_dir
        self.net = net
        self.tmp = tempfile.mkdtemp(prefix="vpp-tor-")
        tag = "%05d" % (os.getpid() % 100000)
        self.if_vpp = "tcv%s" % tag     # host side, taken by VPP's af_packet
        self.if_cli = "tcc%s" % tag     # peer, in the client namespace
        self.shm_prefix = "tcvpp%s" % tag
        self.vpp_ip, self.cli_ip = "10.77.0.2", "10.77.0.1"
        self.socks_port = 9150
        self.ns_proc = None
        self.vpp = None
        self.cli_sock = os.path.join(self.tmp, "cli.sock")
        # VPP worker threads (TORCLIENT_VPP_WORKERS=N): sessions then live on
        # the workers, each with its own completion queue and eventfd.
        self.workers = int(os.environ.get("TORCLIENT_VPP_WORKERS", "0"))

    # -- client namespace -----------------------------------------------------
    def ns(self, *cmd, **kw):
        return ["nsenter", "--net=/proc/%d/ns/net" % self.ns_proc.pid] + list(cmd)

    def run_ns(self, *cmd, timeout=60, check_rc=True):
        r = subprocess.run(self.ns(*cmd), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
        if check_rc and r.returncode != 0:
            raise RuntimeError("%s: rc=%d %s" % (" ".join(cmd), r.returncode,
                                                  r.stderr.decode(errors="replace")))
        return r

    def setup_netns(self):
        self.ns_proc = subprocess.Popen(["unshare", "-n", "sleep", "3600"],
                                        start_new_session=True)
        time.sleep(0.2)
        sh = lambda *c: subprocess.run(c, check=True)
        sh("ip", "link", "add", self.if_vpp, "type", "veth", "peer", "name", self.if_cli)
        sh("ip", "link", "set", self.if_cli, "netns", str(self.ns_proc.pid))
        sh("ip", "link", "set", self.if_vpp, "up")
        self.run_ns("ip", "link", "set", "lo", "up")
        self.run_ns("ip", "addr", "add", self.cli_ip + "/24", "dev", self.if_cli)
        self.run_ns("ip", "link", "set", self.if_cli, "up")
        # Checksum offload on a veth leaves partial checksums that VPP's
        # af_packet input would have to finish; keep them whole.
        if shutil.which("ethtool"):
            for cmd in (["ethtool", "-K", self.if_vpp, "tx", "off", "rx", "off"],):
                subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.run_ns("ethtool", "-K", self.if_cli, "tx", "off", "rx", "off", check_rc=False)

    # -- VPP ----------------------------------------------------------------------
    def startup_conf(self):
        lines = [
            "tor {",
            "  enabled",
            "  socks-port %d" % self.socks_port,
            "  socks-address 0.0.0.0",
            "  config-dir %s" % os.path.join(self.tmp, "state"),
            "  cache-dir %s" % os.path.join(self.tmp, "cache"),
            "  log-level info",
            "  log-file %s" % os.path.join(self.tmp, "tor.log"),
            "  test-network",
        ] + ["  " + l for l in self.net["dir_authority_stanza_lines"]] + ["}"]
        tor = "\n".join(lines)
        setup_cli = os.path.join(self.tmp, "setup.cli")
        with open(setup_cli, "w") as f:
            f.write("create host-interface name %s\n" % self.if_vpp)
            f.write("set interface state host-%s up\n" % self.if_vpp)
            f.write("set interface ip address host-%s %s/24\n" % (self.if_vpp, self.vpp_ip))
        core_plugins = glob.glob(os.path.join(self.prefix, "lib", "*", "vpp_plugins")) + \
            glob.glob(os.path.join(self.prefix, "lib", "vpp_plugins"))
        plugin_path = ":".join(core_plugins + [self.plugin_dir])
        return """
unix {
  nodaemon
  cli-listen %(cli)s
  log %(tmp)s/vpp.log
  startup-config %(setup)s
  coredump-size 0
  poll-sleep-usec 100
}
api-segment { prefix %(shm)s }
socksvr { socket-name %(tmp)s/api.sock }
statseg { socket-name %(tmp)s/stats.sock size 32m page-size 4k }
# The Tor runtime thread allocates from VPP's main heap (VPP replaces malloc).
memory { main-heap-size 1G main-heap-page-size 4k }
buffers { buffers-per-numa 16384 page-size 4k }
cpu { main-core 0%(workers)s }
plugins {
  path %(path)s
  plugin default { disable }
  plugin af_packet_plugin.so { enable }
  plugin tor_client_plugin.so { enable }
}
session { enable }
%(tor)s
""" % dict(cli=self.cli_sock, tmp=self.tmp, setup=setup_cli, shm=self.shm_prefix,
           path=plugin_path, tor=tor,
           workers=(" workers %d" % self.workers) if self.workers else "")

    def start_vpp(self):
        conf = os.path.join(self.tmp, "startup.conf")
        with open(conf, "w") as f:
            f.write(self.startup_conf())
        self.vpp_out = os.path.join(self.tmp, "vpp.stdout")
        with open(self.vpp_out, "wb") as out:
            self.vpp = subprocess.Popen([os.path.join(self.prefix, "bin", "vpp"), "-c", conf],
                                        stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.vpp.poll() is not None:
                raise RuntimeError("vpp exited with %s at start:\n%s"
                                   % (self.vpp.returncode, self.tail()))
            if os.path.exists(self.cli_sock) and self.vppctl("show version")[0] == 0:
                return
            time.sleep(0.2)
        raise RuntimeError("vpp did not open its CLI socket:\n" + self.tail())

    def vppctl(self, cmd, timeout=30):
        r = subprocess.run([os.path.join(self.prefix, "bin", "vppctl"), "-s", self.cli_sock] +
                           cmd.split(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
        # vppctl ends lines with CRLF (a terminal's newline): compare text as lines.
        return (r.returncode, r.stdout.decode(errors="replace").replace("\r\n", "\n"),
                r.stderr.decode(errors="replace"))

    def vat2(self, msg, args="{}"):
        cmd = [os.path.join(self.prefix, "bin", "vat2"), "-s", self.shm_prefix,
               "-p", self.vat2_dir, msg, args]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        out = r.stdout.decode(errors="replace")
        try:
            return r.returncode, json.loads(out) if out.strip() else None, out + r.stderr.decode(errors="replace")
        except ValueError:
            return r.returncode, None, out + r.stderr.decode(errors="replace")

    def tail(self, n=40):
        out = []
        for p in (getattr(self, "vpp_out", ""), os.path.join(self.tmp, "vpp.log"),
                  os.path.join(self.tmp, "tor.log")):
            try:
                with open(p, errors="replace") as f:
                    out.append("==> %s <==\n%s" % (p, "".join(f.readlines()[-n:])))
            except OSError:
                pass
        return "\n".join(out)

    def stop_vpp(self, timeout=15):
        if not self.vpp or self.vpp.poll() is not None:
            return self.vpp.returncode if self.vpp else None
        self.vpp.send_signal(signal.SIGTERM)
        try:
            self.vpp.wait(timeout)
        except subprocess.TimeoutExpired:
            log("vpp did not stop in %ds: SIGKILL" % timeout)
            self.vpp.kill()
            self.vpp.wait()
        return self.vpp.returncode

    def close(self, keep=False):
        self.stop_vpp()
        subprocess.run(["ip", "link", "del", self.if_vpp], stderr=subprocess.DEVNULL)
        if self.ns_proc:
            self.ns_proc.kill()
            self.ns_proc.wait()
        for p in glob.glob("/dev/shm/%s*" % self.shm_prefix):
            try:
                os.unlink(p)
            except OSError:
                pass
        if not keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- traffic --------------------------------------------------------------
    def curl(self, url, out, port=None, max_time=240, proto="--socks5-hostname"):
        port = port or self.socks_port
        return subprocess.Popen(self.ns("curl", "-sS", "--fail", "--max-time", str(max_time),
                                        proto, "%s:%d" % (self.vpp_ip, port),
                                        "-o", out, url),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def raw_exchange(self, data, timeout=10):
        """Sends raw bytes to the SOCKS port from the client namespace and
        returns everything that comes back until the server closes."""
        code = ("import socket,sys\n"
                "s=socket.create_connection((%r,%d),timeout=%d)\n"
                "s.sendall(bytes.fromhex(%r))\n"
                "out=b''\n"
                "try:\n"
                " while True:\n"
                "  d=s.recv(4096)\n"
                "  if not d: break\n"
                "  out+=d\n"
                "except OSError: pass\n"
                "sys.stdout.write(out.hex())\n") % (self.vpp_ip, self.socks_port, timeout, data.hex())
        r = self.run_ns(sys.executable, "-c", code, check_rc=False, timeout=timeout + 10)
        return bytes.fromhex(r.stdout.decode().strip() or "")

    def port_state(self, port):
        """'open', 'refused' or 'timeout' for a TCP connect from the client side."""
        code = ("import socket,sys\n"
                "s=socket.socket(); s.settimeout(5)\n"
                "try:\n s.connect((%r,%d)); print('open')\n"
                "except ConnectionRefusedError: print('refused')\n"
                "except OSError as e: print('timeout', e)\n") % (self.vpp_ip, port)
        r = self.run_ns(sys.executable, "-c", code, check_rc=False)
        return r.stdout.decode().split(" ")[0].strip()


def papi_client(env):
    """VPP's Python API (vpp_papi) on VPP's API socket with the tor_client
    messages loaded, or (None, why) where vpp_papi is not importable."""
    try:
        import vpp_papi  # noqa: F401
    except ImportError:
        for d in glob.glob(os.path.join(env.prefix, "lib", "python3*", "*-packages")):
            sys.path.insert(0, d)
        try:
            import vpp_papi  # noqa: F401
        except ImportError:
            return None, "vpp_papi not importable (install VPP's python3-vpp-api)"
    from vpp_papi import VPPApiClient
    apifiles = glob.glob(os.path.join(env.prefix, "share", "vpp", "api", "core", "*.api.json"))
    apifiles += glob.glob(os.path.join(env.prefix, "share", "vpp", "api", "plugins", "*.api.json"))
    ours = glob.glob(os.path.join(os.path.dirname(env.plugin_dir), "..", "**", "tor_client.api.json"),
                     recursive=True)
    if not ours:
        return None, "tor_client.api.json not found next to the plugin"
    c = VPPApiClient(apifiles=apifiles + ours[:1], use_socket=True,
                     server_address=os.path.join(env.tmp, "api.sock"))
    c.connect("tor-client-test")
    return c, ""


# A SOCKS5 client (in the client namespace) that reads HEAD bytes of a URL's
# body, stops reading for PAUSE seconds (printing "paused"), then reads the rest
# and prints "done SIZE SHA256". The proxy must then hold the data back.
STALLED_READER = r"""
import hashlib, socket, struct, sys, time
proxy, port, host, hport, path, head, pause = sys.argv[1:8]
s = socket.create_connection((proxy, int(port)), timeout=120)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.sendall(b"\x05\x01\x00")
assert s.recv(2) == b"\x05\x00"
h = host.encode()
s.sendall(b"\x05\x01\x00\x03" + bytes([len(h)]) + h + struct.pack(">H", int(hport)))
rep = s.recv(10)
assert rep[:2] == b"\x05\x00", rep
s.sendall(("GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path, host)).encode())
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(4096)
body = buf.split(b"\r\n\r\n", 1)[1]
sha = hashlib.sha256(body)
n = len(body)
while n < int(head):
    d = s.recv(65536)
    if not d:
        break
    sha.update(d); n += len(d)
print("paused", n, flush=True)
time.sleep(float(pause))
while True:
    d = s.recv(1 << 20)
    if not d:
        break
    sha.update(d); n += len(d)
print("done", n, sha.hexdigest(), flush=True)
"""


def wait_bootstrapped(env, timeout=150):
    deadline = time.time() + timeout
    last = ""
    while time.time() < deadline:
        if env.vpp.poll() is not None:
            raise RuntimeError("vpp died (rc %s):\n%s" % (env.vpp.returncode, env.tail()))
        rc, out, _ = env.vppctl("show tor status")
        m = re.search(r"^Bootstrapped (\d+)%", out, re.M)
        if m:
            last = m.group(0)
            if int(m.group(1)) >= 100:
                return out
        time.sleep(0.5)
    raise RuntimeError("not bootstrapped after %ds (last: %s):\n%s" % (timeout, last, env.tail()))


def fetch(env, name, port=None, attempts=2, proto="--socks5-hostname"):
    info = env.net["http"]["files"][name]
    out = os.path.join(env.tmp, "fetch-" + name)
    for attempt in range(1, attempts + 1):
        t0 = time.time()
        p = env.curl(info["url"], out, port=port, proto=proto)
        _, err = p.communicate()
        dt = time.time() - t0
        if p.returncode == 0:
            break
        log("curl attempt %d failed (rc=%d): %s" % (attempt, p.returncode, err.decode().strip()))
    else:
        return False, 0
    ok = os.path.getsize(out) == info["size"] and sha256_file(out) == info["sha256"]
    os.unlink(out)
    return ok, dt


def main():
    if os.environ.get("TORCLIENT_VPP_SKIP_REASON"):
        skip(os.environ["TORCLIENT_VPP_SKIP_REASON"])
    prefix = os.environ.get("TORCLIENT_VPP_PREFIX", "")
    plugin_dir = os.environ.get("TORCLIENT_VPP_PLUGIN_DIR", "")
    vat2_dir = os.environ.get("TORCLIENT_VAT2_PLUGIN_DIR", "")
    if not prefix or not os.path.exists(os.path.join(prefix, "bin", "vpp")):
        skip("no VPP install (configure with -DTORCLIENT_VPP_PREFIX=/opt/vpp)")
    if not os.path.exists(os.path.join(plugin_dir, "tor_client_plugin.so")):
        skip("tor_client_plugin.so not built in %r" % plugin_dir)
    if os.geteuid() != 0:
        skip("needs root (veth, network namespaces, af_packet)")
    for tool in ("ip", "unshare", "nsenter", "curl"):
        if not shutil.which(tool):
            skip("%s not found" % tool)
    if not os.environ.get("TORCLIENT_IN_NETNS"):
        # The test network binds 127.0.0.1: VPP's Tor thread must share its
        # namespace, and nothing here may touch the host's interfaces.
        skip("not inside the test network's namespace (run ctest via testnet/netns-run.sh)")
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))

    with open(os.path.join(os.environ["TORCLIENT_TESTNET_DIR"], "network.json")) as f:
        net = json.load(f)
    env = Env(prefix, plugin_dir, vat2_dir, net)
    ok = False
    try:
        env.setup_netns()
        env.start_vpp()
        rc, out, err = env.vppctl("show interface addr")
        log("interfaces:\n" + out)
        t0 = time.time()
        wait_bootstrapped(env)
        log("bootstrapped in %.1fs" % (time.time() - t0))
        n_relays = len(net["relays"]) + len(net["authorities"])

        # 10 MB through VPP's SOCKS port.
        good, dt = fetch(env, "10M")
        if check(good, "curl --socks5-hostname 10M through VPP: size and sha256"):
            log("10M in %.2fs: %.1f MB/s through VPP" % (dt, 10.48576 / dt))

        # show tor status: torclientctl's format.
        rc, out, err = env.vppctl("show tor status")
        print(out)
        lines = out.splitlines()
        check(lines and lines[0] == "Tor client: enabled, SOCKS port %d" % env.socks_port,
              "status line 1: %r" % (lines[:1],))
        check(len(lines) > 3 and re.match(r"^Bootstrapped 100%( \(.*\))?$", lines[1]) is not None,
              "status: bootstrapped line")
        check(re.search(r"^Consensus: valid-after \d{4}-\d\d-\d\d \d\d:\d\d:\d\d, "
                        r"valid-until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", out, re.M) is not None,
              "status: consensus line")
        m = re.search(r"^Relays known: (\d+)$", out, re.M)
        check(m is not None and 1 <= int(m.group(1)) <= n_relays, "status: relays known")
        m = re.search(r"^Traffic: ([\d.]+) (B|kB|MB|GB|TB) in, ", out, re.M)
        check(m is not None and m.group(2) in ("MB", "GB"), "status: traffic >= 1 MB in")

        # 50 concurrent fetches.
        info = net["http"]["files"]["1M"]
        t0 = time.time()
        procs = []
        for i in range(50):
            o = os.path.join(env.tmp, "c%02d" % i)
            procs.append((o, env.curl(info["url"], o)))
        n_ok = 0
        for o, p in procs:
            _, err = p.communicate()
            if p.returncode == 0 and os.path.getsize(o) == info["size"] and \
                    sha256_file(o) == info["sha256"]:
                n_ok += 1
            elif p.returncode != 0:
                log("concurrent curl failed: rc=%d %s" % (p.returncode, err.decode().strip()))
            if os.path.exists(o):
                os.unlink(o)
        check(n_ok == 50, "50 concurrent 1M fetches: %d ok in %.1fs" % (n_ok, time.time() - t0))

        # show tor circuits.
        rc, out, err = env.vppctl("show tor circuits")
        print(out)
        rows = [l for l in out.splitlines() if l.strip()]
        check(rows and rows[0].split() == ["ID", "STATE", "AGE", "PATH", "STREAMS", "IN", "OUT"],
              "circuits header")
        check(any(len(re.split(r"\s{2,}", r.strip())) == 7 and
                  len(re.split(r"\s{2,}", r.strip())[3].split(" > ")) == 3 for r in rows[1:]),
              "a 3-hop circuit")

        # Binary API through vat2.
        rc, st, raw = env.vat2("tor_client_status")
        check(rc == 0 and isinstance(st, dict), "vat2 tor_client_status: %s" % raw.strip()[:300])
        if isinstance(st, dict):
            check(st.get("retval") == 0 and st.get("enabled") is True and
                  st.get("socks_port") == env.socks_port and st.get("bootstrap_percent") == 100,
                  "status reply fields")
            check(st.get("relays_known", 0) >= 1 and st.get("bytes_in", 0) > 10 << 20,
                  "status reply counters")
        rc, dump, raw = env.vat2("tor_client_circuit_dump")
        check(rc == 0 and isinstance(dump, list) and len(dump) >= 1,
              "vat2 tor_client_circuit_dump: %s" % raw.strip()[:300])
        if isinstance(dump, list) and dump:
            check(any(d.get("n_hops") == 3 and d.get("path", "").count(" > ") == 2 for d in dump),
                  "circuit details with a 3-hop path")

        # The handshake is the library's parser: SOCKS4a works, bad input is
        # refused with the right reply, and the others keep being served.
        good, _ = fetch(env, "1M", proto="--socks4a")
        check(good, "curl --socks4a 1M through VPP: size and sha256")
        _, st_a, _ = env.vat2("tor_client_status")
        http = env.raw_exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        check(http.startswith(b"HTTP/1.0 501"), "HTTP on the SOCKS port: 501 page (%r)" % http[:40])
        check(env.raw_exchange(b"\x09\x01\x00") == b"", "version 9: closed without a reply")
        resolve = env.raw_exchange(b"\x05\x01\x00" + b"\x05\xf0\x00\x03\x04a.bc\x00\x00")
        check(resolve[:2] == b"\x05\x00" and resolve[2:4] == b"\x05\x07",
              "RESOLVE: command not supported here (%r)" % resolve)
        bind = env.raw_exchange(b"\x05\x01\x00" + b"\x05\x02\x00\x01\x0a\x00\x00\x01\x00\x50")
        check(bind[2:4] == b"\x05\x07", "BIND: command not supported (%r)" % bind)
        _, st_b, _ = env.vat2("tor_client_status")
        if isinstance(st_a, dict) and isinstance(st_b, dict):
            check(st_b.get("socks_refused", 0) - st_a.get("socks_refused", 0) >= 3,
                  "refused handshakes counted (%s -> %s)" % (st_a.get("socks_refused"),
                                                            st_b.get("socks_refused")))
        good, _ = fetch(env, "1M")
        check(good, "still serving after the refusals")

        # The same binary API through VPP's Python API.
        papi, why = papi_client(env)
        if papi is None:
            log("note: Python API check skipped: %s" % why)
        else:
            try:
                r = papi.api.tor_client_status()
                check(r.retval == 0 and r.enabled and r.bootstrap_percent == 100 and
                      r.socks_port == env.socks_port and r.bytes_in > 10 << 20,
                      "vpp_papi tor_client_status: percent %d, %d relays, %d bytes in" % (
                          r.bootstrap_percent, r.relays_known, r.bytes_in))
                dump = papi.api.tor_client_circuit_dump()
                check(len(dump) >= 1 and any(d.n_hops == 3 for d in dump),
                      "vpp_papi tor_client_circuit_dump: %d circuits" % len(dump))
            finally:
                papi.disconnect()

        # Backpressure: a client that stops reading a 100 MB body holds the
        # Tor stream back (VPP's tx fifo full -> the library's stream buffer
        # full -> no more window/XON for the exit), then gets all of it.
        big = net["http"]["files"]["100M"]
        host, hport = re.match(r"http://([^:/]+):(\d+)", big["url"]).groups()
        path = big["url"].split(hport, 1)[1]
        _, st0, _ = env.vat2("tor_client_status")
        reader = subprocess.Popen(env.ns(sys.executable, "-c", STALLED_READER, env.vpp_ip,
                                         str(env.socks_port), host, hport, path, str(1 << 20), "6"),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = reader.stdout.readline().decode()
        check(line.startswith("paused"), "stalled reader started: %r" % line.strip())
        time.sleep(2)
        _, st1, _ = env.vat2("tor_client_status")
        time.sleep(2)
        _, st2, _ = env.vat2("tor_client_status")
        if isinstance(st0, dict) and isinstance(st1, dict) and isinstance(st2, dict):
            held = st2["bytes_in"] - st0["bytes_in"]
            grew = st2["bytes_in"] - st1["bytes_in"]
            # fifos (2 x 256 KiB), the library's stream buffer (256 KiB),
            # cells in flight (windows), the kernel's socket buffers: a few MB.
            check(held < 16 << 20 and grew < 4 << 20,
                  "stalled reader: %.1f MB carried while it read 1 MB, +%.1f MB in 2 s" % (
                      held / 1e6, grew / 1e6))
            # (Sessions of the refused clients above may still be in TCP's
            # close timers; the Tor side holds exactly the one stream.)
            check(st2.get("socks_sessions", 0) >= 1 and st2.get("open_streams") == 1,
                  "stalled reader: its session, 1 Tor stream (%s sessions, %s streams)" % (
                      st2.get("socks_sessions"), st2.get("open_streams")))
        if env.workers:
            # The paused session lives on a worker (af_packet input runs there).
            _, out_s, _ = env.vppctl("show session")
            per_thread = {int(t): int(n) for t, n in
                          re.findall(r"^Thread (\d+): (?:active sessions )?(\d+)", out_s, re.M)}
            check(any(t > 0 and n > 0 for t, n in per_thread.items()),
                  "with %d worker(s): sessions on a worker thread %s" % (env.workers, per_thread))
        out, err = reader.communicate(timeout=300)
        last = out.decode().split()
        check(reader.returncode == 0 and last[:1] == ["done"] and int(last[1]) == big["size"] and
              last[2] == big["sha256"], "stalled reader then got all 100 MB with matching sha256 (%s)" %
              (out.decode().strip() or err.decode().strip()[-200:]))

        # A client that vanishes mid-stream: its Tor stream ends with it.
        p = env.curl(big["url"], "/dev/null", max_time=1)
        p.communicate()
        t_abort = time.time()
        deadline = t_abort + 30  # the Tor stream ends at once; VPP's TCP keeps the session for its close timers
        st = None
        while time.time() < deadline:
            _, st, _ = env.vat2("tor_client_status")
            if isinstance(st, dict):
                log("  after %.1fs: %d sessions, %d streams" % (time.time() - t_abort,
                    st.get("socks_sessions", -1), st.get("open_streams", -1)))
            if isinstance(st, dict) and st.get("socks_sessions") == 0 and st.get("open_streams") == 0:
                break
            time.sleep(0.5)
        check(isinstance(st, dict) and st.get("socks_sessions") == 0 and st.get("open_streams") == 0,
              "after an aborted client: no sessions, no streams left (%s)" % (
                  {k: st.get(k) for k in ("socks_sessions", "open_streams")} if isinstance(st, dict) else st))

        # tor client disable: the listener goes away.
        rc, out, err = env.vppctl("tor client disable")
        check(out.strip() == "Tor client disabled", "disable: %r" % out)
        check(env.port_state(env.socks_port) == "refused", "disabled: connect refused")
        rc, out, err = env.vppctl("show tor status")
        check(out.strip() == "Tor client: disabled", "status when disabled: %r" % out)
        rc, out, err = env.vppctl("tor client disable")
        check(out.strip() == "Tor client already disabled", "disable twice: %r" % out)

        # Enable on another port (CLI), then back through the API.
        new_port = env.socks_port + 1
        rc, out, err = env.vppctl("tor client enable port %d" % new_port)
        check(out.strip() == "Tor client enabled, SOCKS port %d" % new_port, "enable port: %r" % out)
        check(env.port_state(new_port) == "open", "enabled: new port accepts")
        check(env.port_state(env.socks_port) == "refused", "old port closed")
        good, _ = fetch(env, "1M", port=new_port)
        check(good, "fetch on the new port")
        rc, out, err = env.vppctl("tor client enable")
        check(out.strip() == "Tor client already enabled, SOCKS port %d" % new_port,
              "enable while enabled: %r" % out)
        rc, rep, raw = env.vat2("tor_client_enable_disable", '{"enable": false, "port": 0}')
        check(rc == 0 and isinstance(rep, dict) and rep.get("retval") == 0,
              "API disable: %s" % raw.strip()[:200])
        check(env.port_state(new_port) == "refused", "API disable closes the listener")
        rc, rep, raw = env.vat2("tor_client_enable_disable",
                                '{"enable": true, "port": %d}' % env.socks_port)
        check(rc == 0 and isinstance(rep, dict) and rep.get("retval") == 0,
              "API enable: %s" % raw.strip()[:200])
        check(env.port_state(env.socks_port) == "open", "API enable opens the listener")

        # Config dir.
        newdir = os.path.join(env.tmp, "newstate")
        rc, out, err = env.vppctl("tor client config dir %s" % newdir)
        check(out.strip() == "Config dir set to %s (takes effect at the next start)" % newdir,
              "config dir: %r %r" % (out, err))
        check(os.path.isdir(newdir) and (os.stat(newdir).st_mode & 0o777) == 0o700,
              "config dir created 0700")

        # Clean exit.
        t0 = time.time()
        rc = env.stop_vpp()
        check(rc == 0, "SIGTERM -> vpp exit 0 (got %s)" % rc)
        check(time.time() - t0 < 10, "vpp stopped promptly (%.1fs)" % (time.time() - t0))
        ok = not failures
    except Exception as e:  # noqa: BLE001 - report and fail
        failures.append("exception: %s" % e)
        log("exception: %s" % e)
    finally:
        if not ok:
            log("logs:\n" + env.tail())
        env.close(keep=not ok and bool(os.environ.get("TORCLIENT_VPP_KEEP")))
    if failures:
        print("FAIL: %d check(s) failed: %s" % (len(failures), "; ".join(failures)), file=sys.stderr)
        return 1
    log("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
