#!/usr/bin/env python3
"""Minimal loopback-only DNS responder (UDP and TCP) for the test network.

Answers, for the configured test names (case-insensitively, echoing the
question exactly as sent -- tor's evdns randomizes the case of queries
and checks that the answer matches):
  A     <name>                      -> 127.0.0.1
  AAAA  <name>                      -> NOERROR, no answer (NODATA), or ::1
                                       with --aaaa
  PTR   1.0.0.127.in-addr.arpa      -> first test name
  anything else under a known name  -> NXDOMAIN
  other names                       -> NXDOMAIN

Binds ONLY to 127.0.0.1.

Usage: dnsd.py --port PORT [--name NAME ...] [--aaaa]
"""
import argparse
import signal
import socket
import socketserver
import struct
import sys
import threading

LOOPBACK = "127.0.0.1"
DEFAULT_NAMES = ["files.testnet.example", "testnet.example",
                 "www.testnet.example"]
TTL = 60

QTYPE_A, QTYPE_PTR, QTYPE_AAAA, QTYPE_ANY = 1, 12, 28, 255


class Config:
    names = {n.lower() for n in DEFAULT_NAMES}
    first_name = DEFAULT_NAMES[0]
    aaaa = False


def parse_name(msg, off):
    """Parse a (possibly compressed) name; return (labels as bytes, new_off)."""
    labels = []
    jumped = False
    end = off
    for _ in range(128):
        if off >= len(msg):
            raise ValueError("truncated name")
        ln = msg[off]
        if ln == 0:
            off += 1
            if not jumped:
                end = off
            return labels, end
        if ln & 0xC0 == 0xC0:
            ptr = ((ln & 0x3F) << 8) | msg[off + 1]
            if not jumped:
                end = off + 2
            jumped = True
            off = ptr
            continue
        labels.append(msg[off + 1:off + 1 + ln])
        off += 1 + ln
    raise ValueError("name loop")


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        b = label.encode()
        out += bytes([len(b)]) + b
    return out + b"\0"


def answer(query: bytes):
    """Build a response to a DNS query message, or None to ignore it."""
    if len(query) < 12:
        return None
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", query[:12])
    if flags & 0x8000:  # a response, not a query
        return None
    opcode = (flags >> 11) & 0xF
    rd = flags & 0x0100
    if opcode != 0 or qd != 1:
        # NOTIMP / FORMERR; echo nothing but header
        rcode = 4 if opcode != 0 else 1
        return struct.pack("!HHHHHH", qid, 0x8000 | (opcode << 11) | rd | rcode,
                           0, 0, 0, 0)
    try:
        labels, off = parse_name(query, 12)
        qtype, qclass = struct.unpack("!HH", query[off:off + 4])
    except (ValueError, struct.error, IndexError):
        return struct.pack("!HHHHHH", qid, 0x8000 | rd | 1, 0, 0, 0, 0)
    question = query[12:off + 4]  # echo question verbatim (case preserved)
    qname = b".".join(labels).decode("ascii", "replace").lower()
    answers = []
    rcode = 0
    name_ptr = b"\xc0\x0c"  # pointer to the question name
    if qname in Config.names:
        if qtype in (QTYPE_A, QTYPE_ANY):
            answers.append(name_ptr + struct.pack("!HHIH", QTYPE_A, 1, TTL, 4)
                           + socket.inet_aton("127.0.0.1"))
        if qtype in (QTYPE_AAAA, QTYPE_ANY) and Config.aaaa:
            answers.append(name_ptr + struct.pack("!HHIH", QTYPE_AAAA, 1, TTL, 16)
                           + socket.inet_pton(socket.AF_INET6, "::1"))
        # other types: NOERROR/NODATA
    elif qname == "1.0.0.127.in-addr.arpa":
        if qtype in (QTYPE_PTR, QTYPE_ANY):
            rdata = encode_name(Config.first_name)
            answers.append(name_ptr + struct.pack("!HHIH", QTYPE_PTR, 1, TTL,
                                                  len(rdata)) + rdata)
    else:
        rcode = 3  # NXDOMAIN
    # QR=1, AA=1, RD copied, RA=1
    rflags = 0x8000 | 0x0400 | rd | 0x0080 | rcode
    hdr = struct.pack("!HHHHHH", qid, rflags, 1, len(answers), 0, 0)
    return hdr + question + b"".join(answers)


class UDPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        resp = answer(data)
        if resp is not None:
            sock.sendto(resp, self.client_address)


class TCPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        conn = self.request
        conn.settimeout(10)
        try:
            while True:
                hdr = self._recv_exact(conn, 2)
                if not hdr:
                    return
                (ln,) = struct.unpack("!H", hdr)
                data = self._recv_exact(conn, ln)
                if data is None:
                    return
                resp = answer(data)
                if resp is None:
                    return
                conn.sendall(struct.pack("!H", len(resp)) + resp)
        except OSError:
            return

    @staticmethod
    def _recv_exact(conn, n):
        buf = b""
        while len(buf) < n:
            b = conn.recv(n - len(buf))
            if not b:
                return None
            buf += b
        return buf


class UDPServer(socketserver.ThreadingMixIn, socketserver.UDPServer):
    daemon_threads = True
    allow_reuse_address = True


class TCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--name", action="append",
                    help="test host name resolving to 127.0.0.1 (repeatable)")
    ap.add_argument("--aaaa", action="store_true",
                    help="answer AAAA queries for test names with ::1")
    args = ap.parse_args()
    if args.name:
        Config.names = {n.lower().rstrip(".") for n in args.name}
        Config.first_name = args.name[0].rstrip(".")
    Config.aaaa = args.aaaa
    udp = UDPServer((LOOPBACK, args.port), UDPHandler)
    tcp = TCPServer((LOOPBACK, args.port), TCPHandler)
    threading.Thread(target=tcp.serve_forever, daemon=True).start()
    print("dnsd listening on %s:%d (udp+tcp) names=%s"
          % (LOOPBACK, args.port, sorted(Config.names)), flush=True)
    try:
        udp.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    sys.exit(main())
