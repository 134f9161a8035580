#!/usr/bin/env python3
"""Bad SOCKS input is answered correctly (or closed) while a concurrent good
fetch through the same torclientd still succeeds, and the daemon keeps
serving afterwards. Also RESOLVE [F0] / RESOLVE_PTR [F1] and exit-side
failures mapped to SOCKS5 reply codes.
"""
import hashlib
import os
import socket
import struct
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tcd  # noqa: E402

failures = []


def check(cond, what):
    tcd.log(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def conn(d):
    return socket.create_connection(("127.0.0.1", d.socks_port), timeout=30)


def read_until_close(s, limit=1 << 16):
    try:
        return tcd.recv_all(s, limit)
    except ConnectionResetError:
        return b"<reset>"


def socks5_greeted(d):
    s = conn(d)
    s.sendall(b"\x05\x01\x00")
    assert tcd.recv_exact(s, 2) == b"\x05\x00"
    return s


def main():
    tcd.install_sigterm_handler()
    net = tcd.load_network()
    info = net["http"]["files"]["10M"]
    host, hport = net["http"]["host"], net["http"]["port"]
    with tcd.Torclientd(name="badinput", net=net) as d:
        d.wait_bootstrapped()
        tmp = tempfile.mkdtemp()
        out = os.path.join(tmp, "10M")
        result = {}

        def good_fetch():
            r = tcd.curl_fetch(["--socks5-hostname", d.socks_addr], info["url"], out)
            result["rc"] = r.returncode
            result["err"] = r.stderr.decode(errors="replace")

        t = threading.Thread(target=good_fetch)
        t.start()

        # 1. HTTP sent to the SOCKS port: tor's "not an HTTP proxy" page.
        s = conn(d)
        s.sendall(b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n")
        page = read_until_close(s)
        check(page.startswith(b"HTTP/1.0 501 Tor is not an HTTP Proxy"), "HTTP request -> 501 page")
        # 2. SOCKS version 9: closed without an answer.
        s = conn(d)
        s.sendall(b"\x09\x01\x00\x50")
        check(read_until_close(s) in (b"", b"<reset>"), "SOCKS version 9 -> closed")
        # 3. BIND: command not supported (0x07).
        s = socks5_greeted(d)
        s.sendall(b"\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x50")
        check(tcd.read_socks5_reply(s)[1] == 0x07, "BIND -> 0x07")
        # 4. Unknown address type: 0x08.
        s = socks5_greeted(d)
        s.sendall(b"\x05\x01\x00\x09\x7f\x00\x00\x01\x00\x50")
        check(tcd.read_socks5_reply(s)[1] == 0x08, "atyp 9 -> 0x08")
        # 5. Truncated request, then close (nothing to answer; must not hurt anyone).
        s = socks5_greeted(d)
        s.sendall(b"\x05\x01\x00\x03\x20abc")
        s.close()
        # 6. No acceptable auth method: 0xFF.
        s = conn(d)
        s.sendall(b"\x05\x01\x80")
        check(tcd.recv_exact(s, 2) == b"\x05\xff", "no acceptable method -> 05 FF")
        # 7. A port nobody listens on at the exit: connection refused (0x05).
        dead = tcd.free_port()
        _, rep = tcd.socks5_connect(d.socks_port, "127.0.0.1", dead)
        # C tor exits report a failed connect as END MISC (0x01), not
        # CONNECTREFUSED; either is a correct answer from us.
        check(rep in (0x01, 0x05), "CONNECT to a closed port -> 0x01/0x05 (got 0x%02x)" % rep)
        # 8. A name the exits' DNS does not know: host unreachable (0x04).
        _, rep = tcd.socks5_connect(d.socks_port, net["dns"]["nxdomain_host"], hport)
        check(rep == 0x04, "CONNECT to an NXDOMAIN name -> 0x04 (got 0x%02x)" % rep)
        # 9. SOCKS4 to a closed port: rejected (0x5B).
        s = conn(d)
        s.sendall(b"\x04\x01" + struct.pack(">H", dead) + socket.inet_aton("127.0.0.1") + b"\x00")
        check(tcd.recv_exact(s, 8)[:2] == b"\x00\x5b", "SOCKS4 CONNECT to a closed port -> 0x5B")
        # 10. RESOLVE [F0]: the exit's DNS answers 127.0.0.1.
        s = socks5_greeted(d)
        s.sendall(b"\x05\xf0\x00\x03" + bytes([len(host)]) + host.encode() + b"\x00\x00")
        rep = tcd.read_socks5_reply(s)
        check(rep[1] == 0 and rep[3] == 1 and rep[4:8] == b"\x7f\x00\x00\x01",
              "RESOLVE %s -> 127.0.0.1 (got %r)" % (host, rep))
        # 11. RESOLVE_PTR [F1]: 127.0.0.1 -> files.testnet.example.
        s = socks5_greeted(d)
        s.sendall(b"\x05\xf1\x00\x01\x7f\x00\x00\x01\x00\x00")
        # C tor exits refuse reverse lookups of internal addresses (RESOLVED
        # type ERROR), so 127.0.0.1 -> host unreachable (0x04) is the right
        # answer here; a relay that answers must give the test name.
        rep = tcd.read_socks5_reply(s)
        check((rep[1] == 0 and rep[3] == 3 and rep[5:5 + rep[4]] == host.encode())
              or rep[1] == 0x04, "RESOLVE_PTR 127.0.0.1 -> %s or 0x04 (got %r)" % (host, rep))
        # 12. RESOLVE of an unknown name: 0x04.
        s = socks5_greeted(d)
        nx = net["dns"]["nxdomain_host"].encode()
        s.sendall(b"\x05\xf0\x00\x03" + bytes([len(nx)]) + nx + b"\x00\x00")
        check(tcd.read_socks5_reply(s)[1] == 0x04, "RESOLVE NXDOMAIN -> 0x04")

        t.join(300)
        check(result.get("rc") == 0, "concurrent good fetch succeeded (%s)" % result.get("err", "").strip())
        if result.get("rc") == 0:
            check(tcd.sha256_file(out) == info["sha256"], "concurrent good fetch sha256")
        # Still serving afterwards.
        s, rep = tcd.socks5_connect(d.socks_port, host, hport)
        if rep == 0:
            with s:
                status, n, digest = tcd.http_get_sha256(s, host, "/1M")
            check(digest == net["http"]["files"]["1M"]["sha256"], "fetch after the bad input")
        else:
            check(False, "fetch after the bad input: SOCKS reply 0x%02x" % rep)
        # Half-close: the client sends its request and shuts down its side;
        # the whole response must still arrive (Tor streams cannot
        # half-close, torclientd keeps the Tor->client direction open).
        s, rep = tcd.socks5_connect(d.socks_port, host, hport)
        if rep == 0:
            with s:
                s.sendall(("GET /1M HTTP/1.0\r\nHost: %s\r\n\r\n" % host).encode())
                s.shutdown(socket.SHUT_WR)
                data = tcd.recv_all(s)
            body = data.split(b"\r\n\r\n", 1)[-1]
            check(hashlib.sha256(body).hexdigest() == net["http"]["files"]["1M"]["sha256"],
                  "half-closed client still gets the whole response (%d bytes)" % len(body))
        else:
            check(False, "half-close: SOCKS reply 0x%02x" % rep)
        check(d.alive(), "torclientd alive")
    if failures:
        print("FAIL: %d check(s) failed: %s" % (len(failures), "; ".join(failures)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
