#!/usr/bin/env python3
"""SIGTERM stops the client's work: no channel, circuit or conflux set is
made after it, and torclientd exits 0 with "torclientd stopped".

Right after "Bootstrapped 100%" the client builds its preemptive conflux
pair, so a SIGTERM sent the moment that line appears finds builds in
flight. Shutdown closes every channel; before the fix those builds failed,
tried again on fresh channels and finished circuits after the SIGTERM
(the log went on with "TCP connected", "built in" and "conflux set" lines
until the runtime stopped).

Each round restarts the same daemon (warm cache: bootstrap in tens of ms),
watches its debug log, sends SIGTERM on "Bootstrapped 100%" and checks the
log after "Received SIGTERM". At least one round must have caught a build
in flight (its failure, "shutting down", is logged), or the test did not
test anything and says so.

usage: test_shutdown.py
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tcd  # noqa: E402

ROUNDS = 6
# Made only by a running client: none may follow the SIGTERM line.
AFTER_STOP_FORBIDDEN = ("TCP connected", " built in ", "conflux set of", "SOCKS listener open")


def read_from(path, offset):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


def one_round(d, n):
    offset = os.path.getsize(d.log_path) if os.path.exists(d.log_path) else 0
    # Not d.start(): it polls for the CLI socket every 0.1 s, by when a warm
    # client has bootstrapped and built its preemptive pair.
    with open(d.log_path, "ab") as logf:
        d.proc = subprocess.Popen([tcd.TORCLIENTD, "-c", d.config_path], stdin=subprocess.DEVNULL,
                                  stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 60
    while "Bootstrapped 100%" not in read_from(d.log_path, offset):
        if time.time() > deadline:
            return "round %d: not bootstrapped in 60 s:\n%s" % (n, d.tail(30)), False
        if not d.alive():
            return "round %d: torclientd died:\n%s" % (n, d.tail(30)), False
        time.sleep(0.002)
    d.proc.send_signal(signal.SIGTERM)
    rc = d.stop(timeout=15)
    text = read_from(d.log_path, offset)
    if rc != 0:
        return "round %d: exit code %s after SIGTERM:\n%s" % (n, rc, text[-3000:]), False
    head, sep, after = text.partition("Received SIGTERM")
    if not sep:
        return "round %d: no 'Received SIGTERM' in the log:\n%s" % (n, text[-3000:]), False
    if "torclientd stopped" not in after:
        return "round %d: no 'torclientd stopped' after SIGTERM:\n%s" % (n, after[-3000:]), False
    for line in after.splitlines():
        if any(f in line for f in AFTER_STOP_FORBIDDEN):
            return "round %d: after SIGTERM: %s\n--- log after SIGTERM:\n%s" % (n, line.strip(), after[-3000:]), False
    in_flight = "circuit build failed" in after and "shutting down" in after
    tcd.log("round %d: stopped cleanly%s" % (n, ", with a build in flight" if in_flight else ""))
    return None, in_flight


def main():
    tcd.install_sigterm_handler()
    net = tcd.load_network()
    caught = 0
    with tcd.Torclientd(name="shutdown", net=net, log_level="debug") as d:
        # The first start is cold (directory download); from then on warm.
        d.wait_bootstrapped()
        d.stop()
        for n in range(1, ROUNDS + 1):
            err, in_flight = one_round(d, n)
            if err:
                print("FAIL: " + err, file=sys.stderr)
                return 1
            caught += in_flight
    if caught == 0:
        print("FAIL: no round caught a circuit build in flight at SIGTERM; nothing was tested",
              file=sys.stderr)
        return 1
    tcd.log("OK: %d rounds stopped cleanly, %d with builds in flight" % (ROUNDS, caught))
    return 0


if __name__ == "__main__":
    sys.exit(main())
