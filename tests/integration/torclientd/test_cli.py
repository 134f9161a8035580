#!/usr/bin/env python3
"""Each CLI command through torclientctl against a running torclientd:
show tor status / show tor circuits output, tor client disable (listener
closed: connect refused) and tor client enable port N (reopened, serving),
tor client config dir, help, errors and their exit codes.
"""
import os
import re
import socket
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tcd  # noqa: E402

failures = []


def check(cond, what):
    tcd.log(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def fetch_1m(d, net, port):
    host, hport = net["http"]["host"], net["http"]["port"]
    s, rep = tcd.socks5_connect(port, host, hport)
    if rep != 0:
        return "SOCKS reply 0x%02x" % rep
    with s:
        _, _, digest = tcd.http_get_sha256(s, host, "/1M")
    return digest == net["http"]["files"]["1M"]["sha256"] or "bad sha256"


def main():
    tcd.install_sigterm_handler()
    net = tcd.load_network()
    n_relays = len(net["relays"]) + len(net["authorities"])
    with tcd.Torclientd(name="cli", net=net) as d:
        st = os.stat(d.cli_socket)
        check(stat.S_ISSOCK(st.st_mode) and (st.st_mode & 0o777) == 0o600, "CLI socket mode 0600")
        d.wait_bootstrapped()
        check(fetch_1m(d, net, d.socks_port) is True, "fetch before the CLI commands")

        rc, out, err = d.ctl("show", "tor", "status")
        print(out)
        check(rc == 0, "show tor status: exit 0")
        lines = out.splitlines()
        check(lines[0] == "Tor client: enabled, SOCKS port %d" % d.socks_port, "status line 1: %r" % lines[0])
        check(re.match(r"^Bootstrapped 100%( \(.*\))?$", lines[1]) is not None, "status: %r" % lines[1])
        check(re.match(r"^Consensus: valid-after \d{4}-\d\d-\d\d \d\d:\d\d:\d\d, "
                       r"valid-until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", lines[2]) is not None,
              "status: %r" % lines[2])
        m = re.match(r"^Relays known: (\d+)$", lines[3])
        check(m is not None and 1 <= int(m.group(1)) <= n_relays, "status: %r" % lines[3])
        m = re.search(r"^Guards: (\d+)$", out, re.M)
        check(m is not None and int(m.group(1)) >= 1, "status: guards listed")
        for gl in lines[5:5 + (int(m.group(1)) if m else 0)]:
            check(re.match(r"^  \S+ +\$[0-9A-F]{8}( +\S+)?$", gl) is not None, "guard line %r" % gl)
        m = re.search(r"^Circuits: (\d+) open, streams: (\d+) open$", out, re.M)
        check(m is not None and int(m.group(1)) >= 1, "status: circuits line")
        m = re.search(r"^Traffic: ([\d.]+) (B|kB|MB|GB|TB) in, ([\d.]+) (B|kB|MB|GB|TB) out$", out, re.M)
        check(m is not None and (m.group(2) in ("MB", "GB") or float(m.group(1)) > 1000),
              "status: traffic >= 1 MB in after a 1M fetch")

        rc, out, err = d.ctl("show", "tor", "circuits")
        print(out)
        check(rc == 0, "show tor circuits: exit 0")
        check(out.splitlines()[0].split() == ["ID", "STATE", "AGE", "PATH", "STREAMS", "IN", "OUT"],
              "circuits header")
        rows = tcd.parse_circuits(out)
        check(len(rows) >= 1, "circuits: at least one")
        nicks = {r["nickname"] for r in net["relays"]} | {a["nickname"] for a in net["authorities"]}
        for r in rows:
            ok = all(re.match(r"^(\S+)~[0-9A-F]{8}$", h) and h.split("~")[0] in nicks for h in r["hops"])
            check(ok and re.match(r"^\d+$", r["id"]) is not None, "circuit row %r" % r["path"])
        check(any(len(r["hops"]) == 3 for r in rows), "a 3-hop circuit")

        rc, out, err = d.ctl("help")
        check(rc == 0 and "show tor status" in out and "tor client enable" in out, "help")

        # Disable: the listener goes away.
        rc, out, err = d.ctl("tor", "client", "disable")
        check(rc == 0 and out.strip() == "Tor client disabled", "disable: %r" % out)
        check(not tcd.port_open(d.socks_port), "disabled: connect refused")
        rc, out, err = d.ctl("show", "tor", "status")
        check(out == "Tor client: disabled\n", "status when disabled: %r" % out)
        rc, out, err = d.ctl("tor", "client", "disable")
        check(rc == 0, "disable twice")

        # Enable on another port.
        new_port = tcd.free_port()
        rc, out, err = d.ctl("tor", "client", "enable", "port", str(new_port))
        check(rc == 0 and out.strip() == "Tor client enabled, SOCKS port %d" % new_port,
              "enable port: %r %r" % (out, err))
        check(tcd.port_open(new_port), "enabled: new port accepts")
        check(not tcd.port_open(d.socks_port), "old port still closed")
        check(fetch_1m(d, net, new_port) is True, "fetch on the new port")
        rc, out, err = d.ctl("show", "tor", "status")
        check(out.startswith("Tor client: enabled, SOCKS port %d\n" % new_port), "status after enable")
        rc, out, err = d.ctl("tor", "client", "enable")
        check(rc == 0 and str(new_port) in out, "enable while enabled: %r" % out)

        # Enable on a port someone else holds: an error, the old listener stays.
        blocker = socket.socket()
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        taken = blocker.getsockname()[1]
        rc, out, err = d.ctl("tor", "client", "enable", "port", str(taken))
        check(rc == 1 and "bind" in err, "enable on a taken port -> ERR: %r" % err)
        blocker.close()
        check(tcd.port_open(new_port), "listener kept after a failed move")

        # Config dir.
        newdir = os.path.join(d.tmp, "newstate")
        rc, out, err = d.ctl("tor", "client", "config", "dir", newdir)
        check(rc == 0 and newdir in out and os.path.isdir(newdir), "config dir: %r %r" % (out, err))
        check((os.stat(newdir).st_mode & 0o777) == 0o700, "config dir created 0700")

        # Errors.
        rc, out, err = d.ctl("frobnicate")
        check(rc == 1 and "unknown command" in err and out == "", "unknown command -> exit 1: %r" % err)
        rc, out, err = d.ctl("tor", "client", "enable", "port", "99999")
        check(rc == 1 and "1-65535" in err, "bad port -> exit 1: %r" % err)
        r = tcd.subprocess.run([tcd.TORCLIENTCTL, "-s", os.path.join(d.tmp, "nope.sock"),
                                "show", "tor", "status"], stdout=tcd.subprocess.PIPE,
                               stderr=tcd.subprocess.PIPE)
        check(r.returncode == 3 and b"cannot connect" in r.stderr, "no daemon -> exit 3: %r" % r.stderr)

        # SIGTERM: clean exit 0, socket file removed.
        sock_path = d.cli_socket
        t0 = time.time()
        rc = d.stop()
        check(rc == 0, "SIGTERM -> exit 0 (got %s)" % rc)
        check(time.time() - t0 < 8, "stopped promptly")
        check(not os.path.exists(sock_path), "CLI socket removed at exit")
    if failures:
        print("FAIL: %d check(s) failed: %s" % (len(failures), "; ".join(failures)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
