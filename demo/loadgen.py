"""The demo's load generator: open loop, fixed request rate, the latency of every request.

It runs in a pod (python:3.11-slim, this file mounted from a ConfigMap) so that the
NetworkPolicy can let exactly its pods reach the service. The driver steers it through a
file on the shared hostPath volume: CONTROL holds the requests per second (a number), or
"stop". Open loop: request n is due at t0 + n/rate whatever happened to earlier ones, and its
latency is measured from when it was due (a slow server cannot slow the generator down and
hide its own queueing: no coordinated omission). Each request is a new TCP connection, so the
Service's kernel load balancing spreads them over the ready pods.

Output: OUT gets one CSV line per request: due time (epoch s), latency (s), HTTP status
(0: connection error or timeout), model version that answered.
"""

import asyncio
import json
import os
import random
import time

HOST = os.environ["TARGET_HOST"]
PORT = int(os.environ.get("TARGET_PORT", "80"))
CONTROL = os.environ.get("CONTROL", "/data/rate")
OUT = os.environ.get("OUT", "/data/requests.csv")
TIMEOUT = float(os.environ.get("TIMEOUT", "10"))
USERS = int(os.environ.get("USERS", "500"))


async def one(due: float, lines: list[str]) -> None:
    body = json.dumps({"user": random.randrange(USERS), "k": 5}).encode()
    req = (
        f"POST /predict HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    status, version = 0, ""
    try:
        async with asyncio.timeout(TIMEOUT):
            reader, writer = await asyncio.open_connection(HOST, PORT)
            writer.write(req)
            data = await reader.read()
            writer.close()
        head, _, payload = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status == 200:
            version = str(json.loads(payload)["model_version"])
    except (OSError, TimeoutError, ValueError, IndexError, KeyError):
        status = 0
    lines.append(f"{due:.4f},{time.time() - due:.5f},{status},{version}\n")


def read_rate() -> float | None:
    try:
        with open(CONTROL) as f:
            text = f.read().strip()
    except OSError:
        return 0.0
    if text == "stop":
        return None
    try:
        return max(0.0, float(text or 0))
    except ValueError:
        return 0.0


async def main() -> None:
    lines: list[str] = []
    tasks: set[asyncio.Task[None]] = set()
    rate, next_due, last_check = read_rate(), time.time(), 0.0
    out = open(OUT, "a", buffering=1)  # noqa: SIM115
    print(f"load generator: {HOST}:{PORT}, control {CONTROL}", flush=True)
    while True:
        now = time.time()
        if now - last_check >= 0.2:
            last_check = now
            new = read_rate()
            if new is None:
                break
            if new != rate:
                print(f"rate {rate} -> {new} req/s", flush=True)
                next_due = max(next_due, now)
            rate = new
            if lines:
                out.write("".join(lines))
                lines.clear()
        if not rate:
            next_due = now
            await asyncio.sleep(0.05)
            continue
        while next_due <= now:
            t = asyncio.create_task(one(next_due, lines))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
            next_due += 1.0 / rate
        await asyncio.sleep(min(0.05, max(0.0, next_due - time.time())))
    if tasks:
        await asyncio.wait(tasks)
    out.write("".join(lines))
    out.close()
    print("load generator: stopped", flush=True)
    while True:  # stay Running until the driver deletes the Deployment
        await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main())
