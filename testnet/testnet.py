#!/usr/bin/env python3
"""Private, loopback-only Tor test network (authorities, relays, HTTP, DNS).

Subcommands (all take --dir DIR, default ./testnet-state):

  start   [--base-port 5100] [--guards 2 --middles 2 --exits 2] [--wait]
          generate keys/torrcs, start 3 authorities + relays + httpd + dnsd,
          write DIR/network.json
  wait    [--timeout 120]     block until every authority serves a complete
                              microdesc consensus + all microdescriptors
  status                      daemons (pid, alive, ports) + consensus state
  stop                        stop every daemon by pid file (idempotent)
  dir-authorities [--stanza]  DirAuthority lines (or dir-authority lines)
  client-torrc [--socks-port P] [--data-dir D]
                              torrc for a C tor reference client

Port layout (B = --base-port): tor node i has ORPort B+i (authorities first),
authority j has DirPort B+50+j, httpd B+90, dnsd B+91 (udp+tcp),
B+95 default SOCKS port of `client-torrc`.

Everything binds to / connects to 127.0.0.1 only.
"""
import argparse
import base64
import concurrent.futures
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import httpd  # noqa: E402  (for generate_files)

LOOPBACK = "127.0.0.1"
DEFAULT_BASE_PORT = 5100
DIRPORT_OFFSET = 50
HTTP_OFFSET = 90
DNS_OFFSET = 91
CLIENT_SOCKS_OFFSET = 95
# --delay-ms: node i really listens on B+DELAY_LISTEN_OFFSET+i (NoAdvertise);
# testnet/delay.py listens on the advertised ORPort B+i and forwards.
DELAY_LISTEN_OFFSET = 100
MAX_NODES = 50
TEST_HOSTS = ["files.testnet.example", "testnet.example", "www.testnet.example"]
NX_HOST = "nx.testnet.example"

TOR = os.environ.get("TOR", "tor")
TOR_GENCERT = os.environ.get("TOR_GENCERT", "tor-gencert")


def log(msg):
    print("testnet: " + msg, file=sys.stderr, flush=True)


def die(msg, code=1):
    log("error: " + msg)
    sys.exit(code)


# --------------------------------------------------------------------------
# process management (pid files; never by name)
# --------------------------------------------------------------------------

def proc_starttime(pid):
    """Kernel start time of pid (field 22 of /proc/pid/stat) or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(")") + 2:].split()
    # rest[0] is field 3 (state); field 22 is rest[19]
    if rest[0] in ("Z", "X"):
        return None
    return rest[19]


def pid_alive(pid):
    return pid > 0 and proc_starttime(pid) is not None


def read_pidfile(path):
    """Return (pid, starttime-or-None) or (None, None)."""
    try:
        with open(path) as f:
            pid = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None, None
    st = None
    try:
        with open(path + ".start") as f:
            st = f.read().strip() or None
    except OSError:
        pass
    return pid, st


def pidfile_alive(path):
    """pid if the process recorded in path runs (and is the same process)."""
    pid, st = read_pidfile(path)
    if not pid:
        return None
    cur = proc_starttime(pid)
    if cur is None:
        return None
    if st is not None and cur != st:
        return None  # pid reused by another process
    return pid


def write_pidfile(path, pid):
    with open(path + ".tmp", "w") as f:
        f.write("%d\n" % pid)
    os.replace(path + ".tmp", path)
    st = None
    for _ in range(50):
        st = proc_starttime(pid)
        if st:
            break
        time.sleep(0.01)
    if st:
        with open(path + ".start", "w") as f:
            f.write(st + "\n")


def spawn(argv, pidfile, outfile, cwd=None, env=None):
    """Start argv detached (own session, stdio to files) and write pidfile.

    stdout/stderr must NOT be inherited: ctest waits for its pipes to close.
    """
    with open(outfile, "ab") as out:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                             stderr=subprocess.STDOUT, cwd=cwd, env=env,
                             start_new_session=True, close_fds=True)
    write_pidfile(pidfile, p.pid)
    return p


def stop_pidfile(path, grace=5.0, quiet=False):
    """SIGTERM, wait up to grace seconds, then SIGKILL. Removes the pidfile."""
    pid = pidfile_alive(path)
    stopped = False
    if pid:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.time() + grace
        while time.time() < deadline and pidfile_alive(path):
            time.sleep(0.1)
        if pidfile_alive(path):
            if not quiet:
                log("pid %d (%s) ignored SIGTERM, sending SIGKILL"
                    % (pid, os.path.basename(path)))
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            deadline = time.time() + 5
            while time.time() < deadline and pidfile_alive(path):
                time.sleep(0.05)
        stopped = True
    for p in (path, path + ".start"):
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass
    return pid if stopped else None


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((LOOPBACK, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port():
    """An ephemeral free TCP port on 127.0.0.1 (small race, fine for tests)."""
    s = socket.socket()
    s.bind((LOOPBACK, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def tail(path, n=10):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            lines = f.read().decode("utf-8", "replace").splitlines()
        return lines[-n:]
    except OSError:
        return ["(no log %s)" % path]


def load_network(d):
    path = os.path.join(d, "network.json")
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        die("%s not found: run `testnet.py start --dir %s` first" % (path, d))


def http_get(url, timeout=5.0):
    # never use a proxy from the environment
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as r:
        return r.read()


def b64_to_hex(s):
    s = s + "=" * (-len(s) % 4)
    return base64.b64decode(s).hex().upper()


# --------------------------------------------------------------------------
# network description
# --------------------------------------------------------------------------

def plan_nodes(args):
    nodes = []
    idx = 0
    for i in range(args.authorities):
        nodes.append({"nickname": "auth%d" % i, "role": "authority",
                      "index": idx})
        idx += 1
    for role, count in (("guard", args.guards), ("middle", args.middles),
                        ("exit", args.exits)):
        for i in range(count):
            nodes.append({"nickname": "%s%d" % (role, i), "role": role,
                          "index": idx})
            idx += 1
    if len(nodes) > MAX_NODES:
        die("too many nodes (max %d)" % MAX_NODES)
    b = args.base_port
    a = 0
    for n in nodes:
        n["orport"] = b + n["index"]
        if n["role"] == "authority":
            n["dirport"] = b + DIRPORT_OFFSET + a
            a += 1
        else:
            n["dirport"] = None
        if getattr(args, "delay_ms", 0):
            n["listen_orport"] = b + DELAY_LISTEN_OFFSET + n["index"]
    return nodes


def dirauthority_line(auth, keyword="DirAuthority"):
    return ("%s %s orport=%d no-v2 v3ident=%s %s:%d %s"
            % (keyword, auth["nickname"], auth["orport"], auth["v3ident"],
               LOOPBACK, auth["dirport"], auth["fingerprint"]))


def common_torrc(net, node, datadir):
    lines = [
        "# generated by testnet.py -- private loopback test network",
        "TestingTorNetwork 1",
        "DataDirectory %s" % datadir,
        "Nickname %s" % node["nickname"],
        "ContactInfo %s@testnet.example" % node["nickname"],
        "RunAsDaemon 0",
        "Log notice file %s" % os.path.join(datadir, "notice.log"),
        *(["Log info file %s" % os.path.join(datadir, "info.log")] if os.environ.get("TESTNET_INFO_LOG") else []),
        "SafeLogging 0",
        "LogTimeGranularity 1",
        "ProtocolWarnings 1",
        "ShutdownWaitLength 0",
        "DisableDebuggerAttachment 0",
        "Sandbox 0",
        "ConnLimit 64",
        # loopback only, never public infrastructure
        "UseDefaultFallbackDirs 0",
        "OutboundBindAddress %s" % LOOPBACK,
        "GeoIPFile /dev/null",
        "GeoIPv6File /dev/null",
        "SocksPort 0",
        "ControlPort 0",
        "Address %s" % LOOPBACK,
        "AddressDisableIPv6 1",
    ] + ([
        # WAN-like (--delay-ms): advertise P, listen on Q behind delay.py
        "ORPort %s:%d NoListen IPv4Only" % (LOOPBACK, node["orport"]),
        "ORPort %s:%d NoAdvertise IPv4Only" % (LOOPBACK, node["listen_orport"]),
    ] if node.get("listen_orport") else [
        "ORPort %s:%d IPv4Only" % (LOOPBACK, node["orport"]),
    ]) + [
        # skip self-reachability tests (publish descriptors immediately)
        "AssumeReachable 1",
        # fast network formation (as chutney)
        "PathsNeededToBuildCircuits 0.67",
        "TestingMinExitFlagThreshold 0",
        "V3AuthNIntervalsValid 2",
        # directory flags are deterministic: guards/exits by fingerprint
        "TestingDirAuthVoteGuard %s" % net["guard_set"],
        "TestingDirAuthVoteGuardIsStrict 1",
        "TestingDirAuthVoteExit %s" % net["exit_set"],
        "TestingDirAuthVoteExitIsStrict 1",
        "TestingDirAuthVoteHSDir *",
        # exits (and every relay) resolve through our loopback DNS only
        "ServerDNSResolvConfFile %s" % net["resolv_conf"],
        "ServerDNSDetectHijacking 0",
        "ServerDNSTestAddresses",
        "ServerDNSAllowNonRFC953Hostnames 1",
        "ServerDNSSearchDomains 0",
    ]
    lines += [a["dirauthority"] for a in net["authorities"]]
    return lines


def node_torrc(net, node, datadir):
    lines = common_torrc(net, node, datadir)
    if node["role"] == "authority":
        lines += [
            "DirPort %s:%d IPv4Only" % (LOOPBACK, node["dirport"]),
            "AuthoritativeDirectory 1",
            "V3AuthoritativeDirectory 1",
            "ExitRelay 0",
            "ExitPolicy reject *:*",
            "TestingV3AuthInitialVotingInterval %d" % net["voting"]["initial_interval"],
            "TestingV3AuthInitialVoteDelay %d" % net["voting"]["initial_delay"],
            "TestingV3AuthInitialDistDelay %d" % net["voting"]["initial_delay"],
            "V3AuthVotingInterval %d" % net["voting"]["interval"],
            "V3AuthVoteDelay %d" % net["voting"]["delay"],
            "V3AuthDistDelay %d" % net["voting"]["delay"],
            "TestingV3AuthVotingStartOffset 0",
            # Stable for every running relay, deterministically: otherwise
            # Stable follows relative uptime, a fresh guard can lack it, and
            # C tor's client only samples guards that are Stable (guard-spec
            # §2, "Stable, Fast, V2Dir, Guard"): with no Stable guard it
            # never gets past 75% ("Failed to find node for hop #1").
            "AuthDirVoteStableGuaranteeMinUptime 0",
            "AuthDirVoteStableGuaranteeMTBF 0",
            # Congestion control (proposal 324) as the public network's
            # consensus has it: without cc_alg, 0.4.x relays keep the fixed
            # SENDME windows and refuse to negotiate it. The relays' KIST
            # scheduler ticks every 2 ms as on the public network (its
            # consensus sets KISTSchedRunInterval=2; the built-in default is
            # 10 ms): a cell reaching an otherwise idle relay within a tick
            # of its last run waits for the next one, which put a 10 ms step
            # into every request/response on this network.
            "ConsensusParams cc_alg=2 KISTSchedRunInterval=%d" % net.get("kist_ms", 2),
        ]
    elif node["role"] == "exit":
        lines += [
            "ExitRelay 1",
            "ExitPolicyRejectPrivate 0",
            "ExitPolicy accept 127.0.0.0/8:*",
            # needed so the microdescriptor policy summary is "accept 1-65535"
            # (summaries only count accepts valid for the whole internet);
            # OutboundBindAddress 127.0.0.1 keeps connections on loopback.
            "ExitPolicy accept *:*",
        ]
    else:
        lines += ["ExitRelay 0", "ExitPolicy reject *:*"]
    return "\n".join(lines) + "\n"


def gen_authority_keys(datadir, dirport):
    keys = os.path.join(datadir, "keys")
    os.makedirs(keys, mode=0o700, exist_ok=True)
    cert = os.path.join(keys, "authority_certificate")
    cmd = [TOR_GENCERT, "--create-identity-key", "--passphrase-fd", "0",
           "-i", os.path.join(keys, "authority_identity_key"),
           "-s", os.path.join(keys, "authority_signing_key"),
           "-c", cert, "-m", "12", "-a", "%s:%d" % (LOOPBACK, dirport)]
    r = subprocess.run(cmd, input=b"\n", stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    if r.returncode != 0:
        die("tor-gencert failed: %s" % r.stdout.decode(errors="replace"))
    with open(cert) as f:
        for line in f:
            if line.startswith("fingerprint "):
                return line.split()[1].strip().upper()
    die("no fingerprint in %s" % cert)


def gen_relay_keys(datadir, node):
    """Create RSA/ed25519 identity keys; return (rsa_hex, ed25519_b64)."""
    os.makedirs(datadir, mode=0o700, exist_ok=True)
    empty = os.path.join(os.path.dirname(datadir), "empty-torrc")
    open(empty, "a").close()  # tor refuses /dev/null as a config file
    cmd = [TOR, "--defaults-torrc", empty, "-f", empty,
           "--list-fingerprint", "--DataDirectory", datadir,
           "--ORPort", "%s:%d" % (LOOPBACK, node["orport"]),
           "--Nickname", node["nickname"], "--Log", "err stderr",
           "--UseDefaultFallbackDirs", "0", "--GeoIPFile", "/dev/null",
           "--GeoIPv6File", "/dev/null"]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        die("tor --list-fingerprint failed for %s: %s"
            % (node["nickname"], (r.stdout + r.stderr).decode(errors="replace")))
    fp = None
    for line in r.stdout.decode().splitlines():
        parts = line.split()
        if parts and parts[0] == node["nickname"]:
            fp = "".join(parts[1:]).upper()
    if not fp or len(fp) != 40:
        with open(os.path.join(datadir, "fingerprint")) as f:
            fp = f.read().split()[1].upper()
    ed = None
    try:
        with open(os.path.join(datadir, "fingerprint-ed25519")) as f:
            ed = f.read().split()[1]
    except (OSError, IndexError):
        pass
    return fp, ed


# --------------------------------------------------------------------------
# start / stop
# --------------------------------------------------------------------------

def pid_dir(d):
    return os.path.join(d, "pids")


def all_pidfiles(d):
    pd = pid_dir(d)
    if not os.path.isdir(pd):
        return []
    return sorted(os.path.join(pd, f) for f in os.listdir(pd)
                  if f.endswith(".pid"))


def cmd_start(args):
    d = os.path.abspath(args.dir)
    if args.restart:
        stopped = do_stop(d, quiet=True)
        if stopped:
            log("--restart: stopped leftover daemons " + " ".join(stopped))
    running = [p for p in all_pidfiles(d) if pidfile_alive(p)]
    if running:
        die("a test network is already running in %s (%s); run `stop` first"
            % (d, ", ".join(os.path.basename(p) for p in running)))
    for tool in (TOR, TOR_GENCERT):
        if not shutil.which(tool):
            die("%s not found in PATH" % tool)
    nodes = plan_nodes(args)
    b = args.base_port
    ports = [n["orport"] for n in nodes] + [n["dirport"] for n in nodes if n["dirport"]]
    ports += [b + HTTP_OFFSET, b + DNS_OFFSET]
    ports += [n["listen_orport"] for n in nodes if n.get("listen_orport")]
    busy = [p for p in ports if not port_free(p)]
    if busy:
        die("ports already in use on 127.0.0.1: %s (choose another --base-port)"
            % busy)

    t0 = time.time()
    os.makedirs(d, exist_ok=True)
    for sub in ("nodes", "pids", "logs"):
        shutil.rmtree(os.path.join(d, sub), ignore_errors=True)
    for p in ("network.json", "resolv.conf"):
        try:
            os.unlink(os.path.join(d, p))
        except FileNotFoundError:
            pass
    os.makedirs(pid_dir(d))
    os.makedirs(os.path.join(d, "logs"))

    # test files for the http server (cached across runs, deterministic)
    www = os.path.join(d, "www")
    files = httpd.generate_files(www)

    dns_port = b + DNS_OFFSET
    resolv = os.path.join(d, "resolv.conf")
    with open(resolv, "w") as f:
        # libevent evdns accepts "IP:PORT" here
        f.write("nameserver %s:%d\n" % (LOOPBACK, dns_port))

    # keys
    def keygen(n):
        datadir = os.path.join(d, "nodes", n["nickname"])
        n["datadir"] = datadir
        if n["role"] == "authority":
            n["v3ident"] = gen_authority_keys(datadir, n["dirport"])
        n["fingerprint"], n["ed25519"] = gen_relay_keys(datadir, n)
    os.makedirs(os.path.join(d, "nodes"))
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
        for fut in [ex.submit(keygen, n) for n in nodes]:
            fut.result()
    log("keys generated in %.1fs" % (time.time() - t0))

    auths = [n for n in nodes if n["role"] == "authority"]
    relays = [n for n in nodes if n["role"] != "authority"]
    for a in auths:
        a["dirauthority"] = dirauthority_line(a)
        a["dir_authority_stanza"] = dirauthority_line(a, "dir-authority")
    guard_set = ",".join("$" + n["fingerprint"] for n in nodes if n["role"] == "guard")
    exit_set = ",".join("$" + n["fingerprint"] for n in nodes if n["role"] == "exit")

    def node_json(n):
        o = {k: n[k] for k in ("nickname", "role", "orport", "fingerprint",
                               "ed25519", "datadir")}
        o["address"] = LOOPBACK
        o["dirport"] = n["dirport"]
        if n.get("listen_orport"):
            o["listen_orport"] = n["listen_orport"]
        o["torrc"] = os.path.join(n["datadir"], "torrc")
        o["log"] = os.path.join(n["datadir"], "notice.log")
        o["pidfile"] = os.path.join(pid_dir(d), n["nickname"] + ".pid")
        if n["role"] == "authority":
            o["v3ident"] = n["v3ident"]
            o["dirauthority"] = n["dirauthority"]
            o["dir_authority_stanza"] = n["dir_authority_stanza"]
        return o

    http_port = b + HTTP_OFFSET
    net = {
        "version": 1,
        "dir": d,
        "address": LOOPBACK,
        "base_port": b,
        "started": int(time.time()),
        "tor": shutil.which(TOR),
        "tor_version": subprocess.run([TOR, "--version"], stdout=subprocess.PIPE)
        .stdout.decode().splitlines()[0].strip(),
        "kist_ms": args.kist_ms,
        "voting": {"initial_interval": args.voting_interval_initial,
                   "initial_delay": 2,
                   "interval": args.voting_interval,
                   "delay": max(2, args.voting_interval // 5)},
        "authorities": [node_json(n) for n in auths],
        "relays": [node_json(n) for n in relays],
        "guard_set": guard_set or "",
        "exit_set": exit_set or "",
        "resolv_conf": resolv,
        "dir_authority_lines": [a["dirauthority"] for a in auths],
        "dir_authority_stanza_lines": [a["dir_authority_stanza"] for a in auths],
        "http": {
            "address": LOOPBACK,
            "port": http_port,
            "host": TEST_HOSTS[0],
            "base_url": "http://%s:%d" % (TEST_HOSTS[0], http_port),
            "root": www,
            "files": {k: {"size": v["size"], "sha256": v["sha256"],
                          "path": v["path"],
                          "url": "http://%s:%d/%s" % (TEST_HOSTS[0], http_port, k)}
                      for k, v in files.items()},
            "pidfile": os.path.join(pid_dir(d), "httpd.pid"),
            "log": os.path.join(d, "logs", "httpd.log"),
        },
        "dns": {
            "address": LOOPBACK,
            "port": dns_port,
            "hosts": {h: "127.0.0.1" for h in TEST_HOSTS},
            "nxdomain_host": NX_HOST,
            "ptr": {"1.0.0.127.in-addr.arpa": TEST_HOSTS[0]},
            "pidfile": os.path.join(pid_dir(d), "dnsd.pid"),
            "log": os.path.join(d, "logs", "dnsd.log"),
        },
        "client_socks_port": b + CLIENT_SOCKS_OFFSET,
        "delay_ms": args.delay_ms,
        "pidfiles": {},
    }
    for n in nodes:
        with open(os.path.join(n["datadir"], "torrc"), "w") as f:
            f.write(node_torrc(net, n, n["datadir"]))

    # write network.json before starting so `stop` works even if start fails
    daemons = []
    for n in nodes:
        daemons.append({"name": n["nickname"], "role": n["role"],
                        "pidfile": os.path.join(pid_dir(d), n["nickname"] + ".pid"),
                        "log": os.path.join(n["datadir"], "notice.log"),
                        "ports": [p for p in (n["orport"], n["dirport"]) if p]})
    daemons.append({"name": "httpd", "role": "http", "pidfile": net["http"]["pidfile"],
                    "log": net["http"]["log"], "ports": [http_port]})
    daemons.append({"name": "dnsd", "role": "dns", "pidfile": net["dns"]["pidfile"],
                    "log": net["dns"]["log"], "ports": [dns_port]})
    if args.delay_ms:
        daemons.append({"name": "delay", "role": "delay",
                        "pidfile": os.path.join(pid_dir(d), "delay.pid"),
                        "log": os.path.join(d, "logs", "delay.log"),
                        "ports": [n["orport"] for n in nodes]})
    net["daemons"] = daemons
    net["pidfiles"] = {x["name"]: x["pidfile"] for x in daemons}
    write_network(d, net)

    procs = []
    try:
        py = sys.executable or "python3"
        procs.append(("dnsd", spawn(
            [py, os.path.join(HERE, "dnsd.py"), "--port", str(dns_port)]
            + sum([["--name", h] for h in TEST_HOSTS], []),
            net["dns"]["pidfile"], net["dns"]["log"])))
        if args.delay_ms:
            procs.append(("delay", spawn(
                [py, os.path.join(HERE, "delay.py"), "--delay-ms", str(args.delay_ms)]
                + sum([["--forward", "%d:%d" % (n["orport"], n["listen_orport"])]
                       for n in nodes], []),
                os.path.join(pid_dir(d), "delay.pid"),
                os.path.join(d, "logs", "delay.log"))))
        procs.append(("httpd", spawn(
            [py, os.path.join(HERE, "httpd.py"), "--port", str(http_port),
             "--root", www], net["http"]["pidfile"], net["http"]["log"])))
        for n in auths + relays:
            procs.append((n["nickname"], spawn(
                [TOR, "--defaults-torrc", os.path.join(d, "nodes", "empty-torrc"),
                 "-f", os.path.join(n["datadir"], "torrc")],
                os.path.join(pid_dir(d), n["nickname"] + ".pid"),
                os.path.join(n["datadir"], "stdout.log"))))
        # catch immediate failures (bad option, port in use ...)
        deadline = time.time() + 3
        while time.time() < deadline:
            dead = [(nm, p) for nm, p in procs if p.poll() is not None]
            if dead:
                break
            time.sleep(0.2)
        dead = [(nm, p) for nm, p in procs if p.poll() is not None]
        if dead:
            for nm, p in dead:
                log("%s exited early with status %s" % (nm, p.returncode))
                dd = next((x for x in daemons if x["name"] == nm), None)
                if dd:
                    for line in tail(dd["log"]):
                        log("  %s: %s" % (nm, line))
                    nd = os.path.join(d, "nodes", nm, "stdout.log")
                    if os.path.exists(nd):
                        for line in tail(nd):
                            log("  %s(stdout): %s" % (nm, line))
            raise RuntimeError("daemon(s) failed to start")
    except BaseException as e:
        log("start failed (%s); stopping everything" % e)
        do_stop(d, quiet=True)
        sys.exit(1)
    log("started %d tor daemons + httpd:%d + dnsd:%d in %s (%.1fs)"
        % (len(nodes), http_port, dns_port, d, time.time() - t0))
    if args.wait:
        return do_wait(d, args.timeout, t0)
    return 0


def write_network(d, net):
    path = os.path.join(d, "network.json")
    with open(path + ".tmp", "w") as f:
        json.dump(net, f, indent=2, sort_keys=False)
        f.write("\n")
    os.replace(path + ".tmp", path)


def do_stop(d, quiet=False):
    files = all_pidfiles(d)
    stopped = []
    pids = []
    # SIGTERM everything first (fast), then wait / SIGKILL one by one
    for p in files:
        pid = pidfile_alive(p)
        if pid:
            stopped.append("%s(%d)" % (os.path.basename(p)[:-4], pid))
            pids.append(pid)
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    for p in files:
        stop_pidfile(p, quiet=quiet)
    # our daemons were re-parented to init; give it a moment to reap the
    # zombies so `pgrep tor` right after stop is clean
    deadline = time.time() + 5
    while pids and time.time() < deadline:
        pids = [p for p in pids if os.path.exists("/proc/%d" % p)]
        if pids:
            time.sleep(0.1)
    return stopped


def cmd_stop(args):
    d = os.path.abspath(args.dir)
    stopped = do_stop(d)
    if stopped:
        log("stopped: " + " ".join(stopped))
    else:
        log("nothing running in %s" % d)
    return 0


# --------------------------------------------------------------------------
# consensus checking
# --------------------------------------------------------------------------

def parse_consensus(text):
    """Return dict: routers {fp_hex: {nickname, flags, md, orport}}, meta."""
    routers = {}
    cur = None
    meta = {}
    for line in text.splitlines():
        if line.startswith("r "):
            p = line.split()
            # r nickname identity published-date published-time IP ORPort DirPort
            cur = {"nickname": p[1], "fingerprint": b64_to_hex(p[2]),
                   "address": p[5], "orport": int(p[6]), "flags": set(),
                   "md": None}
            routers[cur["fingerprint"]] = cur
        elif line.startswith("m ") and cur is not None:
            cur["md"] = line.split()[1]
        elif line.startswith("s ") and cur is not None:
            cur["flags"] = set(line.split()[1:])
        elif line.startswith(("valid-after ", "fresh-until ", "valid-until ")):
            k, v = line.split(" ", 1)
            meta[k] = v
        elif line.startswith("directory-footer"):
            cur = None
    return routers, meta


def split_microdescs(text):
    mds = []
    cur = None
    for line in text.splitlines(keepends=True):
        if line.startswith("onion-key"):
            if cur is not None:
                mds.append(cur)
            cur = line
        elif cur is not None:
            cur += line
    if cur is not None:
        mds.append(cur)
    return mds


def check_authority(net, auth):
    """Check one authority's microdesc consensus. Returns (ok, summary)."""
    base = "http://%s:%d" % (LOOPBACK, auth["dirport"])
    try:
        text = http_get(base + "/tor/status-vote/current/consensus-microdesc").decode()
    except urllib.error.HTTPError as e:
        return False, "no consensus yet (HTTP %d)" % e.code
    except (urllib.error.URLError, OSError) as e:
        return False, "dirport unreachable (%s)" % getattr(e, "reason", e)
    routers, meta = parse_consensus(text)
    expected = net["authorities"] + net["relays"]
    missing, notrunning = [], []
    for n in expected:
        r = routers.get(n["fingerprint"])
        if r is None:
            missing.append(n["nickname"])
        elif not {"Running", "Valid"} <= r["flags"]:
            notrunning.append(n["nickname"])
    # Guards as C tor's client counts them (guard-spec §2): a Guard flag
    # without Stable/Fast/V2Dir leaves it unable to build any circuit.
    guards = [r["nickname"] for r in routers.values()
              if {"Guard", "Stable", "Fast", "V2Dir"} <= r["flags"]]
    exits = [r["nickname"] for r in routers.values() if "Exit" in r["flags"]]
    want_guards = min(2, sum(1 for n in net["relays"] if n["role"] == "guard"))
    want_exits = min(2, sum(1 for n in net["relays"] if n["role"] == "exit"))
    problems = []
    if missing:
        problems.append("missing " + ",".join(missing))
    if notrunning:
        problems.append("not Running/Valid " + ",".join(notrunning))
    if len(guards) < want_guards:
        problems.append("usable guards (Guard+Stable+Fast+V2Dir) %d<%d"
                        % (len(guards), want_guards))
    if len(exits) < want_exits:
        problems.append("exits %d<%d" % (len(exits), want_exits))
    if problems:
        return False, "%d routers; %s" % (len(routers), "; ".join(problems))
    digests = [r["md"] for r in routers.values() if r["md"]]
    if len(digests) != len(routers):
        return False, "consensus entries without m line"
    try:
        mdtext = http_get(base + "/tor/micro/d/" + "-".join(sorted(digests))).decode()
    except (urllib.error.URLError, OSError) as e:
        return False, "microdescriptors not available (%s)" % getattr(e, "reason", e)
    got = set()
    for md in split_microdescs(mdtext):
        got.add(base64.b64encode(hashlib.sha256(md.encode()).digest())
                .decode().rstrip("="))
    lacking = set(digests) - got
    if lacking:
        return False, "%d/%d microdescriptors available" % (
            len(digests) - len(lacking), len(digests))
    return True, "%d routers Running+Valid, guards=%s exits=%s, valid-after %s" % (
        len(routers), ",".join(sorted(guards)), ",".join(sorted(exits)),
        meta.get("valid-after", "?"))


def relays_without_consensus(net):
    # An exit refuses streams from a middle it does not know ("open a stream
    # from unknown relay"), so every relay must hold a consensus before the
    # network is usable, not just the authorities.
    # An early consensus may list only some relays: it must list them all.
    nodes = net["authorities"] + net["relays"]
    lacking = []
    for n in nodes:
        dd = n["datadir"]
        best = 0
        for f in ("cached-consensus", "cached-microdesc-consensus"):
            try:
                with open(os.path.join(dd, f)) as fh:
                    best = max(best, sum(1 for line in fh if line.startswith("r ")))
            except OSError:
                pass
        if best < len(nodes):
            lacking.append(n["nickname"])
    return lacking


def check_network(net):
    results = []
    for a in net["authorities"]:
        ok, msg = check_authority(net, a)
        results.append((a["nickname"], ok, msg))
    if all(ok for _, ok, _ in results):
        lacking = relays_without_consensus(net)
        if lacking:
            results.append(("relays", False, "no consensus yet at " + ",".join(lacking)))
    return all(ok for _, ok, _ in results), results


def dead_daemons(net):
    return [x for x in net["daemons"] if not pidfile_alive(x["pidfile"])]


def do_wait(d, timeout, t0=None):
    net = load_network(d)
    start = time.time()
    t0 = t0 or start
    last_report = 0
    results = []
    while True:
        dead = dead_daemons(net)
        if dead:
            log("error: daemon(s) not running: %s"
                % ", ".join(x["name"] for x in dead))
            dump_logs(net, only=dead)
            return 1
        ok, results = check_network(net)
        now = time.time()
        if ok:
            log("network ready after %.1fs (since start: %.1fs): %s"
                % (now - start, now - t0, results[0][2]))
            return 0
        if now - start > timeout:
            break
        if now - last_report >= 10:
            last_report = now
            log("waiting (%.0fs): " % (now - t0)
                + " | ".join("%s: %s" % (n, m) for n, ok_, m in results))
        time.sleep(1)
    log("error: test network not ready within %ds" % timeout)
    for n, ok, m in results:
        log("  %s: %s" % (n, m))
    dump_logs(net)
    return 1


def dump_logs(net, only=None, n=10):
    for x in (only or net["daemons"]):
        log("---- last log lines of %s (%s) ----" % (x["name"], x["log"]))
        for line in tail(x["log"], n):
            log("  " + line)


def cmd_wait(args):
    return do_wait(os.path.abspath(args.dir), args.timeout)


def cmd_status(args):
    d = os.path.abspath(args.dir)
    net = load_network(d)
    print("%-10s %-10s %8s %-6s %s" % ("NAME", "ROLE", "PID", "ALIVE", "PORTS"))
    for x in net["daemons"]:
        pid, _ = read_pidfile(x["pidfile"])
        alive = bool(pidfile_alive(x["pidfile"]))
        print("%-10s %-10s %8s %-6s %s" % (x["name"], x["role"], pid or "-",
                                          "yes" if alive else "no",
                                          ",".join(map(str, x["ports"]))))
    extra = [p for p in all_pidfiles(d)
             if p not in {x["pidfile"] for x in net["daemons"]}]
    for p in extra:
        pid, _ = read_pidfile(p)
        print("%-10s %-10s %8s %-6s %s" % (os.path.basename(p)[:-4], "client",
                                          pid or "-",
                                          "yes" if pidfile_alive(p) else "no", ""))
    ok, results = check_network(net)
    for n, ok_, m in results:
        print("consensus@%s: %s: %s" % (n, "complete" if ok_ else "INCOMPLETE", m))
    print("consensus: %s" % ("complete" if ok else "incomplete"))
    return 0 if ok else 3


def cmd_dir_authorities(args):
    net = load_network(os.path.abspath(args.dir))
    key = "dir_authority_stanza" if args.stanza else "dirauthority"
    for a in net["authorities"]:
        print(a[key])
    return 0


def client_torrc(net, socks_port, data_dir, control_port=None, log_file=None,
                 extra=()):
    data_dir = os.path.abspath(data_dir)
    lines = [
        "# C tor reference client for the testnet in %s" % net["dir"],
        "TestingTorNetwork 1",
        "DataDirectory %s" % data_dir,
        "SocksPort %s:%d" % (LOOPBACK, socks_port),
        "ControlPort %s" % ("%s:%d" % (LOOPBACK, control_port) if control_port else "0"),
        "CookieAuthentication %d" % (1 if control_port else 0),
        "RunAsDaemon 0",
        "Log notice file %s" % (log_file or os.path.join(data_dir, "notice.log")),
        "SafeLogging 0",
        "LogTimeGranularity 1",
        "UseDefaultFallbackDirs 0",
        "OutboundBindAddress %s" % LOOPBACK,
        "ClientUseIPv6 0",
        "ClientUseIPv4 1",
        "ClientPreferIPv6ORPort 0",
        "GeoIPFile /dev/null",
        "GeoIPv6File /dev/null",
        "Sandbox 0",
        "ShutdownWaitLength 0",
        "PathsNeededToBuildCircuits 0.67",
        "DisableDebuggerAttachment 0",
    ]
    lines += [a["dirauthority"] for a in net["authorities"]]
    lines += list(extra)
    return "\n".join(lines) + "\n"


def cmd_client_torrc(args):
    net = load_network(os.path.abspath(args.dir))
    socks = args.socks_port or net["client_socks_port"]
    data_dir = args.data_dir or os.path.join(net["dir"], "clients", "default")
    text = client_torrc(net, socks, data_dir, args.control_port)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dir", default=os.environ.get("TORCLIENT_TESTNET_DIR",
                                                        "./testnet-state"),
                        help="state directory (default $TORCLIENT_TESTNET_DIR "
                        "or ./testnet-state)")
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("start", parents=[common], help="start the network")
    p.add_argument("--base-port", type=int, default=DEFAULT_BASE_PORT)
    p.add_argument("--authorities", type=int, default=3)
    p.add_argument("--guards", type=int, default=2)
    p.add_argument("--middles", type=int, default=2)
    p.add_argument("--exits", type=int, default=2)
    p.add_argument("--voting-interval", type=int, default=20,
                   help="V3AuthVotingInterval (s)")
    p.add_argument("--voting-interval-initial", type=int, default=10,
                   help="TestingV3AuthInitialVotingInterval (s)")
    p.add_argument("--wait", action="store_true", help="then wait until ready")
    p.add_argument("--restart", action="store_true",
                   help="stop a network still running in --dir first")
    p.add_argument("--timeout", type=int, default=120)
    p.add_argument("--delay-ms", type=int, default=0,
                   help="WAN-like: put every ORPort behind testnet/delay.py, "
                   "adding this delay per direction on every relay link (default 0: off)")
    p.add_argument("--kist-ms", type=int, default=2, choices=range(1, 101), metavar="1..100",
                   help="KISTSchedRunInterval in the consensus: how often the relays' "
                   "(and C tor clients') KIST scheduler runs (default 2, as on the public "
                   "network; tor's built-in default is 10)")
    p.set_defaults(func=cmd_start)

    p = sub.add_parser("wait", parents=[common], help="wait until usable")
    p.add_argument("--timeout", type=int, default=120)
    p.set_defaults(func=cmd_wait)

    p = sub.add_parser("status", parents=[common], help="show daemons")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("stop", parents=[common], help="stop all daemons")
    p.set_defaults(func=cmd_stop)

    p = sub.add_parser("dir-authorities", parents=[common],
                       help="print DirAuthority lines")
    p.add_argument("--stanza", action="store_true",
                   help="print `dir-authority ...` lines for our tor { } stanza")
    p.set_defaults(func=cmd_dir_authorities)

    p = sub.add_parser("client-torrc", parents=[common],
                       help="print a torrc for a C tor client")
    p.add_argument("--socks-port", type=int)
    p.add_argument("--control-port", type=int)
    p.add_argument("--data-dir")
    p.add_argument("--output", "-o")
    p.set_defaults(func=cmd_client_torrc)

    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
