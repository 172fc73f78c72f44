"""Sandbox send throughput next to a minimal Starlette handler, measured in the same run.

Both servers run in their own process with the same uvicorn settings; this
process drives them with a raw-socket HTTP/1.1 keep-alive load generator (much
cheaper than an HTTP client library, so the servers are what is measured).
The minimal handler reads the JSON body and answers a send-shaped JSON body.
Target: the sandbox reaches >= 50 % of the minimal handler's requests/s.

    python bench/sandbox_throughput.py            # full run
    python bench/sandbox_throughput.py --quick    # smoke run (seconds)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

TARGET_RATIO = 0.5
SEND_BODY = json.dumps(
    {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "4915112345678",
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


def build_request(host: str, port: int, headers: dict[str, str]) -> bytes:
    lines = [
        "POST /messages HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(SEND_BODY)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + SEND_BODY


async def _connection(host: str, port: int, request: bytes, count: int) -> int:
    """Send ``count`` requests one after another on one connection; return non-200s."""
    reader, writer = await asyncio.open_connection(host, port)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    failures = 0
    try:
        for _ in range(count):
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


async def _load(host: str, port: int, request: bytes, total: int, connections: int) -> float:
    per_connection = max(1, total // connections)
    started = time.perf_counter()
    failures = await asyncio.gather(
        *(_connection(host, port, request, per_connection) for _ in range(connections))
    )
    elapsed = time.perf_counter() - started
    if sum(failures):
        raise SystemExit(f"{sum(failures)} requests did not answer 200")
    return per_connection * connections / elapsed


def measure(server: Server, headers: dict[str, str], total: int, connections: int) -> float:
    request = build_request(server.host, server.port, headers)
    asyncio.run(_load(server.host, server.port, request, min(total, 200), connections))  # warm-up
    return asyncio.run(_load(server.host, server.port, request, total, connections))


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
        args.requests, args.connections, args.rounds = 300, 8, 1

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
    try:
        base_rates, sandbox_rates = [], []
        for _ in range(args.rounds):  # interleaved, so drift hits both alike
            base_rates.append(measure(baseline, {}, args.requests, args.connections))
            sandbox_rates.append(
                measure(sandbox, {"D360-API-KEY": "sandbox-key"}, args.requests, args.connections)
            )
    finally:
        baseline.stop()
        sandbox.stop()

    base, sand = statistics.median(base_rates), statistics.median(sandbox_rates)
    ratio = sand / base
    print(
        f"requests/round: {args.requests}, connections: {args.connections}, rounds: {args.rounds}"
    )
    print(f"baseline (minimal starlette handler): {base:9.0f} req/s")
    print(f"sandbox 360dialog POST /messages:     {sand:9.0f} req/s")
    verdict = "ok" if ratio >= TARGET_RATIO else "BELOW TARGET"
    print(f"ratio: {ratio:.2f} (target >= {TARGET_RATIO:.2f}) {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
