#!/usr/bin/env python3
"""Guard state survives a restart (issue 4, guard-spec §4).

Bootstraps with empty directories and fetches 1M (which confirms a guard),
stops, restarts with the same config-dir and checks that
  * config-dir/guards names the same first confirmed guard (or, with none
    confirmed, the same first sampled guard) before and after,
  * `show tor status` lists the same primary guard(s), in the same order,
  * after the restart the first circuit's first hop is that primary guard.
"""
import os
import re

import dirtest
from dirtest import check, log, tcd


def parse_guard_file(path):
    """[(rsa_id, fields)] in file order."""
    out = []
    with open(path) as f:
        for line in f:
            if not line.startswith("Guard "):
                continue
            kv = dict(p.split("=", 1) for p in line.split()[1:] if "=" in p)
            out.append((kv.get("rsa_id", "").upper(), kv))
    return out


def first_guard(entries):
    confirmed = [(int(kv["confirmed_idx"]), rid) for rid, kv in entries if "confirmed_idx" in kv]
    if confirmed:
        return "confirmed", min(confirmed)[1]
    sampled = [(int(kv.get("sampled_idx", 1 << 30)), rid) for rid, kv in entries]
    return "sampled", min(sampled)[1] if sampled else None


def status_guards(text):
    """[(nickname, fpr8, status)] from `show tor status`."""
    out = []
    in_guards = False
    for line in text.splitlines():
        if line.startswith("Guards:"):
            in_guards = True
            continue
        if in_guards:
            m = re.match(r"^  (\S+)\s+\$(\S+)\s*(.*)$", line)
            if not m:
                break
            out.append((m.group(1), m.group(2), m.group(3)))
    return out


def primaries(guards):
    return [(n, f) for n, f, st in guards if st.startswith("primary")]


def main():
    net = tcd.load_network()
    with dirtest.daemon("dir-guards", net) as d:
        gfile = os.path.join(dirtest.config_dir(d), "guards")
        dirtest.start_and_time(d)
        dirtest.fetch(d, net, "1M")
        before_status = d.status()
        before_p = primaries(status_guards(before_status))
        check(before_p, "no primary guard in `show tor status`:\n" + before_status)
        check(d.stop() == 0, "torclientd did not exit cleanly")
        before_entries = parse_guard_file(gfile)
        check(before_entries, "no guards in %s" % gfile)
        kind, first = first_guard(before_entries)
        log("before restart: first %s guard %s; primaries %s" % (kind, first, before_p))

        _, off = dirtest.start_and_time(d)
        runlog = dirtest.log_since(d, off)
        check("loaded from state" in runlog, "guard state not loaded on restart:\n" + runlog[-2000:])
        after_entries = parse_guard_file(gfile)
        kind2, first2 = first_guard(after_entries)
        after_status = d.status()
        after_p = primaries(status_guards(after_status))
        log("after restart: first %s guard %s; primaries %s" % (kind2, first2, after_p))
        check(first2 == first, "first guard changed across the restart: %s %s -> %s %s"
              % (kind, first, kind2, first2))
        check(after_p == before_p, "primary guards changed across the restart:\n%s\n---\n%s"
              % (before_status, after_status))
        dirtest.fetch(d, net, "1M")
        circs, text = d.circuits()
        three_hop = [c for c in circs if len(c["hops"]) == 3]
        check(three_hop, "no 3-hop circuit after the fetch:\n" + text)
        first_hops = {c["hops"][0].split("~")[0] for c in three_hop}
        log("first hops after restart: %s" % sorted(first_hops))
        check(first_hops <= {n for n, _ in after_p},
              "circuits use first hops %s outside the primary guards %s:\n%s"
              % (sorted(first_hops), after_p, text))
        print(after_status, flush=True)
        print(text, flush=True)  # the circuits
    log("OK")
    return 0


if __name__ == "__main__":
    dirtest.run(main)
