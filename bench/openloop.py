"""An open-loop HTTP load generator: a fixed request rate, every request's result recorded.

Closed-loop generators (each worker waits for its answer before the next request) slow
down exactly when the server stalls, so they send fewer requests into the bad moment and
undercount failures ("coordinated omission"). Here request ``i`` is started at
``t0 + i / rate`` whatever happened to the earlier ones, each on a new TCP connection
(``Connection: close``, HTTP/1.0), to the targets in turn.

Standard library only, run as a script (by the tests and ``bench endpoints``, inside the
namespaces where the Service is reachable)::

    python openloop.py --rate 100 --seconds 60 --stop FILE --out FILE HOST:PORT [HOST:PORT…]

While it runs, ``FILE.progress`` holds the counts so far (replaced every 50 ms); the run
ends after ``--seconds`` or once ``--stop`` exists, waits for the requests in flight, and
writes ``--out``: ``{"rate", "targets", "requests": [[start, latency, ok, target, what]]}``
with ``start`` in seconds since the first request (monotonic), ``what`` the first word of
the body (ok) or the error.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import time

__all__ = ["main"]


async def _one(host: str, port: int, timeout: float) -> tuple[bool, str]:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError) as e:
        return False, f"connect: {type(e).__name__}: {e}"
    try:
        writer.write(b"GET / HTTP/1.0\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = await asyncio.wait_for(reader.read(-1), timeout)
    except (OSError, TimeoutError) as e:
        return False, f"read: {type(e).__name__}: {e}"
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200")):
        return False, f"answer: {head[:40]!r}"
    words = body.decode(errors="replace").split()
    return True, words[0] if words else ""


async def run(
    targets: list[tuple[str, int]], rate: float, seconds: float, stop: str, timeout: float
) -> list[list[object]]:
    results: list[list[object]] = []
    counts: collections.Counter[str] = collections.Counter()
    t0 = time.monotonic()

    async def request(i: int, start: float) -> None:
        host, port = targets[i % len(targets)]
        ok, what = await _one(host, port, timeout)
        results.append([round(start - t0, 4), round(time.monotonic() - start, 4), int(ok),
                        i % len(targets), what])  # fmt: skip
        counts["ok" if ok else "failed"] += 1
        if ok:
            counts["v:" + what] += 1

    def report() -> None:
        if not stop:
            return
        tmp = f"{stop}.progress.tmp"
        with open(tmp, "w") as f:
            json.dump(dict(counts), f)
        os.replace(tmp, f"{stop}.progress")

    tasks: set[asyncio.Task[None]] = set()
    i = 0
    last_report = t0
    while True:
        now = time.monotonic()
        if now - t0 >= seconds or (stop and os.path.exists(stop)):
            break
        due = t0 + i / rate
        if due > now:
            await asyncio.sleep(min(due - now, 0.05))
        else:
            t = asyncio.ensure_future(request(i, due))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
            i += 1
            counts["sent"] += 1
            continue
        if now - last_report >= 0.05:
            report()
            last_report = now
    if tasks:
        await asyncio.gather(*tasks)
    report()
    results.sort(key=lambda r: float(str(r[0])))
    return results


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--stop", default="")
    ap.add_argument("--out", required=True)
    ap.add_argument("targets", nargs="+")
    args = ap.parse_args(argv)
    targets = []
    for t in args.targets:
        host, _, port = t.rpartition(":")
        targets.append((host, int(port)))
    results = asyncio.run(run(targets, args.rate, args.seconds, args.stop, args.timeout))
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"rate": args.rate, "targets": args.targets, "requests": results}, f)
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
