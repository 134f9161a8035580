#!/usr/bin/env python3
"""Writes the text seeds of fuzz/corpus from real documents.

  fuzz/tools/cut_seeds.py [--testnet STATE_DIR]

Public network (../shared/testdata/public-network-2022-11): the consensus of
each flavour cut to its header, the first 20 router entries and the footer
with the real signatures; the authority certificates; the first 25
microdescriptors. Private network (a testnet/ state dir, optional): its
small documents whole. Plus hand-written config stanzas, CLI lines, SOCKS
handled by make_seeds.cpp, and HTTP responses in every Content-Encoding.
Keep the corpus small (it is in git): each seed is a few KB.
"""
import argparse
import json
import lzma
import os
import pathlib
import subprocess
import zlib

REPO = pathlib.Path(__file__).resolve().parents[2]
CORPUS = REPO / "fuzz" / "corpus"
PUBLIC = REPO.parent / "shared" / "testdata" / "public-network-2022-11"


def write(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / name).write_bytes(data)


def lf(b):
    return b.replace(b"\r\n", b"\n")


def cut_consensus(text, routers=20):
    lines = text.split(b"\n")
    out, n, in_footer = [], 0, False
    for line in lines:
        if line.startswith(b"r "):
            n += 1
        if line.startswith(b"directory-footer"):
            in_footer = True
        if n > routers and not in_footer:
            continue
        out.append(line)
    return b"\n".join(out)


def split_docs(text, first_keyword):
    docs, cur = [], []
    for line in text.split(b"\n"):
        if line.startswith(first_keyword) and cur:
            docs.append(b"\n".join(cur) + b"\n")
            cur = []
        cur.append(line)
    if cur and any(cur):
        docs.append(b"\n".join(cur).rstrip(b"\n") + b"\n")
    return docs


def public():
    for name in ("cached-microdesc-consensus", "cached-consensus"):
        text = (PUBLIC / name).read_bytes()
        write("fuzz_consensus", "public-" + name + "-20", cut_consensus(text))
        write("fuzz_consensus", "public-" + name + "-1", cut_consensus(text, 1))
    certs = lf((PUBLIC / "cached-certs").read_bytes())
    write("fuzz_authority_cert", "public-cached-certs", certs)
    for i, c in enumerate(split_docs(certs, b"dir-key-certificate-version")[:3]):
        write("fuzz_authority_cert", "public-cert-%d" % i, c)
    mds = (PUBLIC / "cached-microdescs.new").read_bytes()
    docs = split_docs(mds, b"@last-listed")
    write("fuzz_microdesc", "public-microdescs-25", b"".join(docs[:25]))
    write("fuzz_microdesc", "public-microdesc-1", docs[0])
    # The same without annotations.
    write("fuzz_microdesc", "public-microdesc-1-bare",
          b"".join(l + b"\n" for l in docs[1].split(b"\n") if l and not l.startswith(b"@")))
    write("fuzz_microdesc", "policy-accept", "accept 20-23,43,53,79-81,88,110,143,194,220,389,443,464-465,531")
    write("fuzz_microdesc", "policy-reject", "reject 1-65535")
    # tor 0.4.7's default authorities (auth_dirs.inc), as in the netdoc tests.
    lines = [
        "moria1 orport=9101 v3ident=D586D18309DED4CD6D57C18FDB97EFA96D330566 128.31.0.39:9131 "
        "9695 DFC3 5FFE B861 329B 9F1A B04C 4639 7020 CE31",
        "tor26 orport=443 v3ident=14C131DFC5C6F93646BE72FA1401C02A8DF2E8B4 "
        "ipv6=[2001:858:2:2:aabb:0:563b:1526]:443 86.59.21.38:80 847B 1F85 0344 D787 6491 A548 92F9 0493 4E4E B85D",
        "Serge orport=9001 bridge 66.111.2.131:9030 BA44 A889 E64B 93FA A2B1 14E0 2C2A 279A 8555 C533",
        "dannenberg orport=443 v3ident=0232AF901C31A04EE9848595AF9BB7620D4C5B2E "
        "ipv6=[2001:678:558:1000::244]:443 193.23.244.244:80 7BE6 83E6 5D48 1413 21C5 ED92 F075 C553 64AC 7123",
        "auth0 orport=5000 no-v2 hs weight=10 v3ident=0123456789ABCDEF0123456789ABCDEF01234567 "
        "127.0.0.1:7000 ABCDABCDABCDABCDABCDABCDABCDABCDABCDABCD",
    ]
    for i, l in enumerate(lines):
        write("fuzz_dirauthority", "public-%d" % i, l)
    write("fuzz_dirauthority", "public-all", "\n".join(lines) + "\n")


def testnet(state):
    state = pathlib.Path(state)
    net = json.loads((state / "network.json").read_text())
    node = state / "nodes" / net["authorities"][0]["nickname"]
    write("fuzz_consensus", "private-cached-microdesc-consensus", (node / "cached-microdesc-consensus").read_bytes())
    write("fuzz_consensus", "private-cached-consensus", (node / "cached-consensus").read_bytes())
    write("fuzz_authority_cert", "private-cached-certs", (node / "cached-certs").read_bytes())
    write("fuzz_microdesc", "private-cached-microdescs", (node / "cached-microdescs.new").read_bytes())
    write("fuzz_dirauthority", "private-all", "\n".join(net["dir_authority_lines"]).replace("DirAuthority ", "") + "\n")
    stanza = "tor {\n  enabled\n  test-network\n  socks-port 9150\n"
    stanza += "".join("  %s\n" % l for l in net["dir_authority_stanza_lines"]) + "}\n"
    write("fuzz_config", "private-testnet", stanza)


def handwritten():
    write("fuzz_config", "full", """# torclientd configuration
tor {
  enabled
  socks-port 9150
  socks-address 127.0.0.1
  config-dir /var/lib/tc
  cache-dir /var/cache/tc   # trailing comment
  cli-socket /run/tc/cli.sock
  dir-authority auth0 orport=5000 no-v2 v3ident=0123456789ABCDEF0123456789ABCDEF01234567 127.0.0.1:7000 ABCD ABCD ABCD ABCD ABCD ABCD ABCD ABCD ABCD ABCD
  test-network
  log-level info
  log-file /var/log/tc.log
  safe-logging off
  max-connections 512
  max-circuit-dirtiness 300
  per-client-rate 1048576
}
""")
    write("fuzz_config", "startup-conf", """unix {
  nodaemon
  log /var/log/vpp/vpp.log
  cli-listen /run/vpp/cli.sock
}
dpdk {
  dev 0000:02:00.0 { num-rx-queues 2 name eth0 }
}
tor {
  enabled
  public-network
  socks-port 9055
  socks-address ::1
}
cpu { main-core 1 }
""")
    write("fuzz_config", "one-line", "tor { enabled socks-port 9050 log-level debug }\n")
    write("fuzz_config", "empty", "")
    cli = ["show tor status", "show tor circuits", "tor client enable", "tor client enable port 9150",
           "tor client disable", "tor client config dir /var/lib/torclient",
           "tor client config cache-dir /var/cache/torclient", "help", "  show   tor  status  "]
    for i, l in enumerate(cli):
        write("fuzz_control", "cli-%d" % i, l)
    write("fuzz_control", "cli-all", "\n".join(cli) + "\n")
    write("fuzz_control", "frames-request", "show tor status\nhelp\n")
    write("fuzz_control", "frames-reply", "OK 5\nhelloERR 12\nbad command\n")

    body = (PUBLIC / "cached-microdescs.new").read_bytes()[:3000]
    zstd = subprocess.run(["zstd", "-q", "-c"], input=body, capture_output=True, check=True).stdout
    encodings = [("identity", None, body), ("deflate", "deflate", zlib.compress(body)),
                 ("x-zstd", "x-zstd", zstd), ("x-tor-lzma", "x-tor-lzma", lzma.compress(body))]
    for name, enc, data in encodings:
        head = b"HTTP/1.0 200 OK\r\nDate: Sat, 19 Nov 2022 10:30:00 GMT\r\nContent-Type: text/plain\r\n"
        if enc:
            head += b"Content-Encoding: " + enc.encode() + b"\r\n"
        write("fuzz_http", "200-" + name, head + b"\r\n" + data)
    write("fuzz_http", "404", b"HTTP/1.0 404 Not found\r\n\r\n")
    write("fuzz_http", "503-busy", b"HTTP/1.0 503 Directory busy, try again later\r\nContent-Length: 0\r\n\r\n")
    write("fuzz_http", "200-content-length", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")


def certs():
    payload = (REPO / "tests" / "unit" / "handshake" / "data" / "certs_cell.bin").read_bytes()
    write("fuzz_certs", "certs-cell-relay-0.4.9", payload)
    n, pos = payload[0], 1
    for _ in range(n):
        ctype, length = payload[pos], int.from_bytes(payload[pos + 1:pos + 3], "big")
        body = payload[pos + 3:pos + 3 + length]
        pos += 3 + length
        if ctype in (4, 5, 6, 7):  # Ed25519 certs and the RSA->Ed25519 cross-cert
            write("fuzz_certs", "cert-type-%d" % ctype, body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--testnet", help="testnet/ state dir (network.json) for the private network's documents")
    args = ap.parse_args()
    public()
    handwritten()
    certs()
    if args.testnet:
        testnet(args.testnet)


if __name__ == "__main__":
    main()
