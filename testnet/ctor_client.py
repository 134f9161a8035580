#!/usr/bin/env python3
"""Start/stop C tor's own client against the private test network.

Used as the reference implementation by integration tests and benchmarks.

Python:
    sys.path.insert(0, "<repo>/testnet")
    from ctor_client import CTorClient
    with CTorClient(name="mytest") as c:          # starts + waits for 100%
        subprocess.run(["curl", "--socks5-hostname",
                        "127.0.0.1:%d" % c.socks_port, url])
    # stopped here, also on exceptions

Shell:
    eval "$(testnet/ctor_client.py start --name mytest)"   # sets CTOR_*
    trap 'testnet/ctor_client.py stop --name mytest' EXIT
    curl --socks5-hostname 127.0.0.1:$CTOR_SOCKS_PORT ...

The testnet directory comes from --dir / $TORCLIENT_TESTNET_DIR. The client's
pid file is DIR/pids/ctor-NAME.pid, so `testnet.py stop` also stops clients a
crashed test left behind. Data directory: DIR/clients/NAME (wiped on start).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import testnet  # noqa: E402

LOOPBACK = testnet.LOOPBACK


class CTorClientError(RuntimeError):
    pass


def default_dir():
    return os.environ.get("TORCLIENT_TESTNET_DIR", "./testnet-state")


class CTorClient:
    def __init__(self, testnet_dir=None, name="client", socks_port=None,
                 control_port=None, data_dir=None, extra_torrc=(),
                 keep_data=False):
        self.dir = os.path.abspath(testnet_dir or default_dir())
        self.net = testnet.load_network(self.dir)
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ValueError("bad client name %r" % name)
        self.name = name
        self.socks_port = socks_port or testnet.free_port()
        self.control_port = control_port
        self.data_dir = os.path.abspath(
            data_dir or os.path.join(self.dir, "clients", name))
        self.extra_torrc = list(extra_torrc)
        self.keep_data = keep_data
        self.pidfile = os.path.join(self.dir, "pids", "ctor-%s.pid" % name)
        self.torrc = os.path.join(self.data_dir, "torrc")
        self.log = os.path.join(self.data_dir, "notice.log")
        self.proc = None

    @property
    def socks_addr(self):
        return "%s:%d" % (LOOPBACK, self.socks_port)

    @property
    def proxy_url(self):
        """For curl -x / requests: socks5h (hostname resolved by the exit)."""
        return "socks5h://%s" % self.socks_addr

    def start(self, timeout=90):
        if testnet.pidfile_alive(self.pidfile):
            raise CTorClientError("client %s already running (%s)"
                                  % (self.name, self.pidfile))
        if not self.keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        os.makedirs(self.data_dir, mode=0o700, exist_ok=True)
        os.chmod(self.data_dir, 0o700)
        os.makedirs(os.path.dirname(self.pidfile), exist_ok=True)
        with open(self.torrc, "w") as f:
            f.write(testnet.client_torrc(self.net, self.socks_port,
                                         self.data_dir, self.control_port,
                                         self.log, self.extra_torrc))
        empty = os.path.join(self.data_dir, "empty-defaults-torrc")
        open(empty, "a").close()
        self.proc = testnet.spawn(
            [shutil.which("tor") or "tor", "--defaults-torrc", empty,
             "-f", self.torrc],
            self.pidfile, os.path.join(self.data_dir, "stdout.log"))
        try:
            self.wait_bootstrapped(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def bootstrap_percent(self):
        pct = 0
        try:
            with open(self.log, errors="replace") as f:
                for line in f:
                    m = re.search(r"Bootstrapped (\d+)%", line)
                    if m:
                        pct = int(m.group(1))
        except OSError:
            pass
        return pct

    def wait_bootstrapped(self, timeout=90):
        deadline = time.time() + timeout
        while True:
            if self.bootstrap_percent() >= 100:
                return
            if not testnet.pidfile_alive(self.pidfile):
                raise CTorClientError(
                    "C tor client %s exited during bootstrap:\n%s"
                    % (self.name, "\n".join(self.tail()
                                            + testnet.tail(os.path.join(
                                                self.data_dir, "stdout.log")))))
            if time.time() > deadline:
                raise CTorClientError(
                    "C tor client %s did not bootstrap within %ds (at %d%%):\n%s"
                    % (self.name, timeout, self.bootstrap_percent(),
                       "\n".join(self.tail(20))))
            time.sleep(0.25)

    def tail(self, n=10):
        return testnet.tail(self.log, n)

    def stop(self):
        testnet.stop_pidfile(self.pidfile, quiet=True)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=1)  # reap
            except Exception:
                pass
            self.proc = None

    def __enter__(self):
        if not testnet.pidfile_alive(self.pidfile):
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cmd", choices=["start", "stop"])
    ap.add_argument("--dir", default=default_dir())
    ap.add_argument("--name", default="client")
    ap.add_argument("--socks-port", type=int)
    ap.add_argument("--control-port", type=int)
    ap.add_argument("--timeout", type=int, default=90)
    args = ap.parse_args()
    if args.cmd == "stop":
        # works even if network.json is gone
        testnet.stop_pidfile(os.path.join(os.path.abspath(args.dir), "pids",
                                          "ctor-%s.pid" % args.name), quiet=True)
        return 0
    c = CTorClient(args.dir, args.name, args.socks_port, args.control_port)
    t0 = time.time()
    try:
        c.start(args.timeout)
    except CTorClientError as e:
        print("ctor_client: %s" % e, file=sys.stderr)
        return 1
    print("ctor_client: %s bootstrapped in %.1fs, socks %s"
          % (args.name, time.time() - t0, c.socks_addr), file=sys.stderr)
    print("CTOR_SOCKS_PORT=%d" % c.socks_port)
    print("CTOR_PIDFILE=%s" % c.pidfile)
    print("CTOR_DATA_DIR=%s" % c.data_dir)
    print("CTOR_LOG=%s" % c.log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
