"""Sandbox send throughput next to a minimal Starlette handler, measured in the same run.

Both servers run in their own process with the same uvicorn settings; this
process drives them with a raw-socket HTTP/1.1 keep-alive load generator (much
cheaper than an HTTP client library, so the servers are what is measured).
The minimal handler reads the JSON body and answers a send-shaped JSON body.
Every request goes to a different recipient (the same bodies for both sides),
so the sandbox's per-recipient bookkeeping is exercised, and the sandbox keeps
at most ``--keep-messages`` sends (its default), so memory stays bounded; its
RSS after the run is printed. The two servers alternate (ABBA) over
``--rounds`` rounds; the per-round ratio is printed as min/median/max, with
each server's CPU per request read from /proc.
Target: the sandbox reaches >= 50 % of the minimal handler's requests/s.

Not measured: webhooks (none configured), the other surfaces, TLS.

    python bench/sandbox_throughput.py            # full run
    python bench/sandbox_throughput.py --quick    # smoke run (seconds)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

TARGET_RATIO = 0.5


def send_body(i: int) -> bytes:
    return json.dumps(
        {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": str(4915100000000 + i),
            "type": "text",
            "text": {"preview_url": False, "body": "Hello from the benchmark"},
        }
    ).encode()


def baseline_app() -> object:
    """The minimal handler: parse the body, answer a send-shaped response."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def messages(request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                "messages": [{"id": "wamid.baseline"}],
            }
        )

    return Starlette(routes=[Route("/messages", messages, methods=["POST"])])


def _serve_baseline() -> None:
    from shim.sandbox import serve_app

    serve_app(baseline_app(), on_ready=lambda url: print(url, flush=True))  # type: ignore[arg-type]


@dataclass
class Server:
    name: str
    process: subprocess.Popen[str]
    host: str
    port: int

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start(name: str, argv: list[str]) -> Server:
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("http://"):
        process.kill()
        raise SystemExit(f"{name} did not start (got {line!r})")
    parts = urlsplit(line)
    assert parts.hostname is not None and parts.port is not None
    return Server(name, process, parts.hostname, parts.port)


def build_request(host: str, port: int, headers: dict[str, str], i: int) -> bytes:
    body = send_body(i)
    lines = [
        "POST /messages HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _connection(host: str, port: int, requests: list[bytes]) -> int:
    """Send ``count`` requests one after another on one connection; return non-200s."""
    reader, writer = await asyncio.open_connection(host, port)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    failures = 0
    try:
        for request in requests:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if head[9:12] != b"200":
                failures += 1
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
    finally:
        writer.close()
    return failures


async def _load(host: str, port: int, requests: list[bytes], connections: int) -> float:
    started = time.perf_counter()
    failures = await asyncio.gather(
        *(_connection(host, port, requests[i::connections]) for i in range(connections))
    )
    elapsed = time.perf_counter() - started
    if sum(failures):
        raise SystemExit(f"{sum(failures)} requests did not answer 200")
    return len(requests) / elapsed


def measure(server: Server, headers: dict[str, str], first: int, total: int,
            connections: int) -> tuple[float, float]:
    """(requests/s, server CPU ms per request) for ``total`` sends to distinct recipients."""
    requests = [build_request(server.host, server.port, headers, first + i)
                for i in range(total)]
    cpu = server.cpu_seconds()
    rate = asyncio.run(_load(server.host, server.port, requests, connections))
    return rate, (server.cpu_seconds() - cpu) * 1e3 / total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run for smoke tests")
    parser.add_argument("--requests", type=int, default=10_000, help="requests per round")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve-baseline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_baseline:
        _serve_baseline()
        return 0
    if args.quick:
        args.requests, args.connections = 300, 8
    args.rounds = max(3, args.rounds)

    baseline = start("baseline", [sys.executable, __file__, "--serve-baseline"])
    sandbox = start(
        "sandbox",
        [
            sys.executable,
            "-c",
            "from shim.cli import main; main()",
            "sandbox",
            "--api",
            "360dialog",
            "--port",
            "0",
            "--open-windows",
        ],
    )
    key = {"D360-API-KEY": "sandbox-key"}
    first = 0
    try:
        for server, headers in ((baseline, {}), (sandbox, key)):  # warm-up
            measure(server, headers, first, min(args.requests, 200), args.connections)
            first += args.requests
        base_runs, sandbox_runs = [], []
        for r in range(args.rounds):  # ABBA, so drift hits both alike
            order = [(baseline, {}, base_runs), (sandbox, key, sandbox_runs)]
            for server, headers, runs in order if r % 2 == 0 else order[::-1]:
                runs.append(measure(server, headers, first, args.requests, args.connections))
                first += args.requests
        rss = sandbox.rss_mb()
    finally:
        baseline.stop()
        sandbox.stop()

    ratios = [s[0] / b[0] for s, b in zip(sandbox_runs, base_runs, strict=True)]
    print(
        f"requests/round: {args.requests} (distinct recipients), connections: "
        f"{args.connections}, rounds: {args.rounds} (alternating)"
    )
    for label, runs in (("baseline (minimal starlette handler)", base_runs),
                        ("sandbox 360dialog POST /messages", sandbox_runs)):
        print(f"{label:<37} {statistics.median(r[0] for r in runs):9.0f} req/s  "
              f"{statistics.median(r[1] for r in runs):6.3f} ms CPU/request (medians)")
    ratio = statistics.median(ratios)
    verdict = "ok" if ratio >= TARGET_RATIO else "BELOW TARGET"
    print(f"ratio: min {min(ratios):.2f} median {ratio:.2f} max {max(ratios):.2f} "
          f"(target >= {TARGET_RATIO:.2f}) {verdict}")
    print(f"sandbox RSS after {first} sends: {rss:.0f} MB (keeps at most its newest "
          "--keep-messages sends)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
