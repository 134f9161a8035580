#!/usr/bin/env python3
"""Throughput through the tor_client VPP plugin beside torclientd, same run.

Both carry the same fetches over the same private test network (its own,
started here), alternately (VPP, torclientd, VPP, ...):

  single stream   /100M through one SOCKS stream: bytes / curl time_total
  50 streams      50 x /1M at once: bytes / wall time

The VPP side is what a user of the plugin gets: curl in a client network
namespace -> veth -> VPP's af_packet interface -> VPP's TCP and session layer
-> the plugin's SOCKS5 -> libtorclient. torclientd's clients use the
kernel's loopback. So the figures compare the whole paths, not the library.
A warm-up fetch on each side first (the first stream on a fresh circuit and
a fresh TCP connection is not what this measures).

Needs root (veth, namespaces, af_packet), a VPP install and a build with the
plugin:
  cmake -S . -B build-vpp -DTORCLIENT_VPP_PREFIX=/opt/vpp && ninja -C build-vpp
  testnet/netns-run.sh python3 bench/vpp_bench.py --build-dir build-vpp --vpp-prefix /opt/vpp
Writes bench/results/vpp.{json,md}. Never part of the test suite.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "vpp"))
import run_bench  # noqa: E402  (testnet helpers, torclientd driver)
import test_vpp_tor_client as vpptest  # noqa: E402  (VPP + veth + namespace driver)


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def curl_timed(argv_prefix, proxy_args, url, max_time=300):
    cmd = argv_prefix + ["curl", "-sS", "--fail", "--max-time", str(max_time), "-o", "/dev/null",
                         "-w", "%{time_total} %{size_download}"] + proxy_args + [url]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        return None
    t, size = r.stdout.decode().split()
    return float(t), int(float(size))


def parallel(argv_prefix, proxy_args, url, n, max_time=300):
    t0 = time.monotonic()
    procs = [subprocess.Popen(argv_prefix + ["curl", "-sS", "--fail", "--max-time", str(max_time),
                                             "-o", "/dev/null", "-w", "%{size_download}"] +
                              proxy_args + [url], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(n)]
    total, ok = 0, 0
    for p in procs:
        out, _ = p.communicate()
        if p.returncode == 0:
            ok += 1
            total += int(float(out.decode() or 0))
    return ok, total, time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build-vpp"))
    ap.add_argument("--vpp-prefix", default="/opt/vpp")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--streams", type=int, default=50)
    ap.add_argument("--testnet-dir", default=os.path.join(REPO, "build-vpp", "bench-vpp-net"))
    args = ap.parse_args()
    build = os.path.abspath(args.build_dir)
    plugin_dir = os.path.join(build, "vpp", "tor_client", "lib", "vpp_plugins")
    vat2_dir = os.path.join(build, "vpp", "tor_client", "lib", "vat2_plugins")
    torclientd = os.path.join(build, "src", "app", "torclientd")
    torclientctl = os.path.join(build, "src", "app", "torclientctl")
    for p in (os.path.join(args.vpp_prefix, "bin", "vpp"), os.path.join(plugin_dir, "tor_client_plugin.so"),
              torclientd):
        if not os.path.exists(p):
            sys.exit("missing %s (see the usage above)" % p)
    if not os.environ.get("TORCLIENT_IN_NETNS"):
        sys.exit("run inside testnet/netns-run.sh (the test network binds loopback)")

    net = run_bench.start_network(args.testnet_dir, 0)
    env = vpptest.Env(args.vpp_prefix, plugin_dir, vat2_dir, net)
    ours = run_bench.Ours(net, torclientd, torclientctl)
    files = net["http"]["files"]
    results = {"vpp": {"single_MBps": [], "multi_MBps": []},
               "torclientd": {"single_MBps": [], "multi_MBps": []}}
    try:
        env.setup_netns()
        env.start_vpp()
        vpptest.wait_bootstrapped(env)
        ours.start(cold=True)
        deadline = time.time() + 120
        while not ours.bootstrapped():
            if time.time() > deadline:
                raise RuntimeError("torclientd did not bootstrap")
            time.sleep(0.2)
        sides = {
            "vpp": (env.ns(), ["--socks5-hostname", "%s:%d" % (env.vpp_ip, env.socks_port)]),
            "torclientd": ([], ["--socks5-hostname", "127.0.0.1:%d" % ours.socks_port]),
        }
        for name, (prefix, proxy) in sides.items():
            if curl_timed(prefix, proxy, files["10M"]["url"]) is None:
                raise RuntimeError("%s: warm-up fetch failed" % name)
        for rnd in range(args.rounds):
            for name, (prefix, proxy) in sides.items():
                r = curl_timed(prefix, proxy, files["100M"]["url"])
                if r and r[1] == files["100M"]["size"]:
                    results[name]["single_MBps"].append(r[1] / r[0] / 1e6)
                ok, total, wall = parallel(prefix, proxy, files["1M"]["url"], args.streams)
                if ok == args.streams:
                    results[name]["multi_MBps"].append(total / wall / 1e6)
                log("round %d %s: single %s MB/s, %d streams %s MB/s (%d ok)" % (
                    rnd + 1, name, "%.1f" % results[name]["single_MBps"][-1] if r else "-",
                    args.streams, "%.1f" % (total / wall / 1e6), ok))
    finally:
        ours.stop()
        env.close()
        run_bench.stop_network(args.testnet_dir)

    rows = []
    for key, label in (("single_MBps", "single stream 100 MB"),
                       ("multi_MBps", "%d streams x 1 MB aggregate" % args.streams)):
        v = statistics.median(results["vpp"][key]) if results["vpp"][key] else None
        t = statistics.median(results["torclientd"][key]) if results["torclientd"][key] else None
        rows.append((label, v, t, v / t if v and t else None))
    md = ["# tor_client in VPP beside torclientd (MB/s, medians of %d rounds)" % args.rounds, "",
          "Machine: %(nproc)s cores, %(cpu_model)s, kernel %(kernel)s, %(tor_version)s "
          "(load average at start %(load)s; shared machine)" % dict(run_bench.machine_info(), load=" ".join(
              run_bench.machine_info()["loadavg_at_start"])), "",
          "| metric | VPP plugin | torclientd | VPP / torclientd |", "|---|---|---|---|"]
    for label, v, t, ratio in rows:
        md.append("| %s | %s | %s | %s |" % (label, run_bench.fmt(v, 1), run_bench.fmt(t, 1),
                                             run_bench.fmt(ratio, 2)))
    text = "\n".join(md) + "\n"
    print(text)
    outdir = os.path.join(HERE, "results")
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "vpp.md"), "w") as f:
        f.write(text)
    with open(os.path.join(outdir, "vpp.json"), "w") as f:
        json.dump({"rounds": results, "streams": args.streams}, f, indent=1)


if __name__ == "__main__":
    main()
