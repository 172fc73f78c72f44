"""Relay acknowledgement speed next to a minimal Starlette handler, in the same run.

20,000 signed Cloud events are posted to ``waba-migrate relay`` (SQLite store,
WAL, synchronous=FULL, group commit) and, before that, to a minimal Starlette
handler that only reads the body and answers 200 (same uvicorn settings, own
process). Reported: events acknowledged per second, ack latency p50/p99, the
ratio relay/minimal, and how fast the relay forwarded the On-Prem bodies to a
local receiver (which runs while events are still arriving).

The load generator is a raw-socket HTTP/1.1 keep-alive client (cheaper than an
HTTP client library, so the servers are what is measured), ``--concurrency``
connections each sending its next event when the previous one is answered.
Server CPU per event (from /proc) is printed too: on a shared machine it is a
steadier comparison than events/s. During the burst the relay holds delivery
back to one trickling slot (acks first), so forwarding mostly happens after it.

Targets on a 2-core machine: >= 2,000 events/s acknowledged, p99 <= 20 ms.

    python bench/relay_ack.py                  # full run (20,000 events)
    python bench/relay_ack.py --quick          # smoke run (a few seconds)
    python bench/relay_ack.py --db postgresql://user@127.0.0.1/db   # shared store
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

TARGET_RATE = 2000.0
TARGET_P99_MS = 20.0
SECRET = "bench-app-secret"
CHANNEL = "bench"


# -- servers (each runs in its own process) -----------------------------------------

def _serve(app: object, port: int) -> None:
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning",  # type: ignore[arg-type]
                access_log=False, lifespan="off")


def serve_minimal(port: int) -> None:
    """The baseline: read the body, answer 200."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def hook(request: Request) -> PlainTextResponse:
        await request.body()
        return PlainTextResponse("OK")

    _serve(Starlette(routes=[Route(f"/webhooks/{CHANNEL}", hook, methods=["POST"])]), port)


def serve_receiver(port: int) -> None:
    """The legacy app the relay forwards to: counts bodies."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    seen = {"bodies": 0, "first": 0.0, "last": 0.0}

    async def hook(request: Request) -> JSONResponse:
        await request.body()
        now = time.time()
        seen["first"] = seen["first"] or now
        seen["last"] = now
        seen["bodies"] += 1
        return JSONResponse({})

    async def count(request: Request) -> JSONResponse:
        return JSONResponse(seen)

    _serve(Starlette(routes=[Route("/hook", hook, methods=["POST"]),
                             Route("/count", count)]), port)


# -- load generator -------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """User+system CPU a process has used so far (Linux /proc; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    label: str
    events: int
    seconds: float
    latencies: list[float]
    errors: int
    cpu: float = 0.0  # server CPU seconds while the events were acknowledged

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def build_events(count: int) -> list[bytes]:
    """Signed POST requests, one inbound text per event, 100 conversations."""
    from shim.webhooks import sign

    template = json.loads((Path(__file__).parent.parent / "tests" / "examples" /
                           "cloud-webhook-inbound-text.json").read_text())
    value = template["entry"][0]["changes"][0]["value"]
    requests = []
    for n in range(count):
        wa_id = f"4917{n % 100:08d}"
        value["contacts"][0]["wa_id"] = wa_id
        value["messages"][0].update({"from": wa_id, "id": f"wamid.bench{n:08d}",
                                     "text": {"body": f"message {n}"}})
        raw = json.dumps(template, separators=(",", ":")).encode()
        head = (f"POST /webhooks/{CHANNEL} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n"
                f"X-Hub-Signature-256: {sign(SECRET, raw)}\r\n\r\n").encode()
        requests.append(head + raw)
    return requests


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def drive(label: str, port: int, requests: Sequence[bytes], concurrency: int) -> Result:
    latencies: list[float] = []
    errors = 0
    queue = iter(requests)

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for request in queue:
            started = time.perf_counter()
            writer.write(request)
            status = await _read_response(reader)
            latencies.append(time.perf_counter() - started)
            errors += status != 200
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return Result(label, len(requests), time.perf_counter() - started, latencies, errors)


# -- orchestration ----------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(port: int, path: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server on port {port} exited with {proc.returncode}")
        try:
            httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit(f"server on port {port} did not start")


def spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, *args], env=env)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def receiver_count(port: int) -> dict[str, float]:
    import httpx

    result: dict[str, float] = httpx.get(f"http://127.0.0.1:{port}/count", timeout=5).json()
    return result


def report(result: Result) -> None:
    print(f"  {result.label:<22} {result.rate:>9,.0f} events/s   p50 {result.pct(0.5):6.2f} ms"
          f"   p99 {result.pct(0.99):6.2f} ms   server CPU {result.cpu / result.events * 1e6:5.0f}"
          f" us/event   non-200: {result.errors}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--db", help="relay store (default: a SQLite file in a temp dir)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 400 events")
    parser.add_argument("--serve-minimal", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-receiver", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_minimal:
        serve_minimal(args.serve_minimal)
        return 0
    if args.serve_receiver:
        serve_receiver(args.serve_receiver)
        return 0
    events = 400 if args.quick else args.events
    me = str(Path(__file__).resolve())
    requests = build_events(events)
    print(f"relay ack benchmark: {events:,} signed events, {args.concurrency} connections, "
          f"{os.cpu_count()} CPUs")

    with tempfile.TemporaryDirectory() as tmp:
        minimal_port, receiver_port, relay_port = free_port(), free_port(), free_port()
        minimal = spawn(me, "--serve-minimal", str(minimal_port))
        try:
            wait_http(minimal_port, "/", minimal)
            asyncio.run(drive("warm-up", minimal_port, requests[:200], args.concurrency))
            cpu = cpu_seconds(minimal.pid)
            baseline = asyncio.run(drive("minimal handler", minimal_port, requests,
                                         args.concurrency))
            baseline.cpu = cpu_seconds(minimal.pid) - cpu
        finally:
            stop(minimal)

        config = Path(tmp) / "relay.toml"
        config.write_text(
            f'[channels.{CHANNEL}]\nphone_number = "+15550783881"\nbackend = "360dialog"\n'
            f'api_key = "env:BENCH_D360_KEY"\napp_secret = "env:BENCH_APP_SECRET"\n'
            f'forward_url = "http://127.0.0.1:{receiver_port}/hook"\n'
        )
        env = {**os.environ, "BENCH_D360_KEY": "unused", "BENCH_APP_SECRET": SECRET}
        db = args.db or str(Path(tmp) / "relay.db")
        receiver = spawn(me, "--serve-receiver", str(receiver_port))
        relay = spawn("-m", "shim.cli", "relay", "--config", str(config), "--port",
                      str(relay_port), "--db", db, "--log-level", "warning",
                      "--concurrency", "32", env=env)
        try:
            wait_http(receiver_port, "/count", receiver)
            wait_http(relay_port, "/healthz", relay)
            ack_started = time.time()
            cpu = cpu_seconds(relay.pid)
            relayed = asyncio.run(drive("relay (ack)", relay_port, requests, args.concurrency))
            relayed.cpu = cpu_seconds(relay.pid) - cpu
            deadline = time.monotonic() + max(60.0, events / 200)
            seen = receiver_count(receiver_port)
            while seen["bodies"] < events and time.monotonic() < deadline:
                time.sleep(0.2)
                seen = receiver_count(receiver_port)
            total_cpu = cpu_seconds(relay.pid) - cpu
        finally:
            stop(relay)
            stop(receiver)

    print()
    report(baseline)
    report(relayed)
    ratio = relayed.rate / baseline.rate
    print(f"  ratio relay/minimal: {ratio:.2f}")
    forwarded = int(seen["bodies"])
    span = (seen["last"] - ack_started) if forwarded else float("nan")
    print(f"  forwarded {forwarded:,}/{events:,} On-Prem bodies to the receiver, "
          f"{forwarded / span:,.0f} bodies/s (first ack to last delivery, {span:.1f} s); "
          f"relay CPU for ack+forward {total_cpu / events * 1e6:,.0f} us/event")
    met = relayed.rate >= TARGET_RATE and relayed.pct(0.99) <= TARGET_P99_MS
    print(f"  target >= {TARGET_RATE:,.0f} events/s and p99 <= {TARGET_P99_MS:.0f} ms: "
          f"{'met' if met else 'NOT met'}")
    return 0 if relayed.errors == 0 and forwarded == events else 1


if __name__ == "__main__":
    raise SystemExit(main())
