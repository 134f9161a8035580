#!/usr/bin/env python3
"""Delaying TCP forwarder for a WAN-like test network (no netem here).

Each tor node then has two ORPorts: the advertised one (`ORPort P NoListen`),
where this forwarder listens, and the real listener (`ORPort Q NoAdvertise`)
it forwards to. Every byte is held for --delay-ms in each direction, in
order, so a relay link gets a round trip of 2 x delay on top of loopback.

    delay.py --delay-ms 20 --forward 5103:5203 --forward 5104:5204 ...

Loopback only. Backpressure: a direction stops reading while more than
--max-queued bytes are in flight (a bandwidth-delay product cap).
"""
import argparse
import asyncio
import signal
import sys
import time

LOOPBACK = "127.0.0.1"
CHUNK = 64 * 1024


async def pump(reader, writer, delay, max_queued):
    q = asyncio.Queue()
    queued = [0]
    room = asyncio.Event()
    room.set()

    async def send():
        try:
            while True:
                due, data = await q.get()
                if data is None:
                    break
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
                queued[0] -= len(data)
                if queued[0] <= max_queued:
                    room.set()
        finally:
            try:
                if writer.can_write_eof():
                    writer.write_eof()
            except OSError:
                pass

    sender = asyncio.ensure_future(send())
    try:
        while True:
            await room.wait()
            data = await reader.read(CHUNK)
            if not data:
                break
            q.put_nowait((time.monotonic() + delay, data))
            queued[0] += len(data)
            if queued[0] > max_queued:
                room.clear()
    except (ConnectionError, OSError):
        pass
    q.put_nowait((time.monotonic() + delay, None))
    try:
        await sender
    except (ConnectionError, OSError):
        pass


async def handle(target, delay, max_queued, creader, cwriter):
    try:
        sreader, swriter = await asyncio.open_connection(LOOPBACK, target)
    except OSError:
        cwriter.close()
        return
    await asyncio.gather(pump(creader, swriter, delay, max_queued),
                         pump(sreader, cwriter, delay, max_queued))
    for w in (swriter, cwriter):
        try:
            w.close()
        except OSError:
            pass


async def main_async(args):
    delay = args.delay_ms / 1000.0
    servers = []
    for f in args.forward:
        listen, target = (int(x) for x in f.split(":"))
        servers.append(await asyncio.start_server(
            lambda r, w, t=target: handle(t, delay, args.max_queued, r, w),
            LOOPBACK, listen, reuse_address=True))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    print("delay.py: %d forwarders, %d ms each way" % (len(servers), args.delay_ms), flush=True)
    await stop.wait()
    for s in servers:
        s.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--delay-ms", type=float, required=True)
    ap.add_argument("--forward", action="append", default=[], metavar="LISTEN:TARGET")
    ap.add_argument("--max-queued", type=int, default=8 << 20)
    args = ap.parse_args()
    if not args.forward:
        ap.error("no --forward")
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
