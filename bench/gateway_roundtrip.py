"""Gateway cost: flat under concurrency, near a bare proxy, invisible at Cloud latency.

Every server runs in its own process (sandbox playing 360dialog Cloud, the
gateway ``waba-migrate serve`` with its access log on and written to
/dev/null, and a bare pass-through proxy, ``bench/_passthrough_proxy.py``), so
CPU is read per process from /proc and no server's time lands on the client.
The client is one asyncio loop with raw keep-alive sockets (the cheapest
client there is, the same for every side), each connection posting JSON and
checking for a ``messages[0].id`` in a 200. Every request goes to a different
recipient, so the pair rate limit never paces the gateway.

Comparisons, each alternating its sides in blocks over ``--rounds`` rounds and
printing min/median/max of the per-round ratio:

1. concurrency: the gateway at 1 connection vs at ``--connections`` (64):
   gateway CPU per request (target <= 1.3x) and requests/s (target >= 1.0x).
2. vs proxy: gateway CPU per request over the proxy's, at 1 and at 64
   connections (target <= 1.5x). The proxy forwards through the gateway's own
   transport (HTTP/1.1 over asyncio), so a cheaper backend exchange does not flatter
   the gateway.
3. latency: with a second sandbox answering every send ``--backend-latency-ms``
   (50) late, requests/s through the gateway over requests/s calling that
   sandbox directly, at 64 connections (target >= 0.9x). The bare proxy runs
   in the same blocks for reference (no target): what the server stack alone
   (uvicorn, httpx models, the transport) reaches in the same setting, so a
   miss can be told apart from the gateway's own work.
4. vs direct on bare loopback (for reference; no target): the whole round trip
   through the gateway over calling the sandbox directly, 1 and 64 connections.

The gateway serves four numbers and the requests rotate over them: each
number is paced at Cloud's 1,000 messages/s ceiling, which would otherwise cap
the gateway (not its cost) at 1,000 requests/s.

What it does not measure: TLS (every hop is plain HTTP on loopback), real
network latency variance, several gateway workers, and media uploads.
CPU times come from /proc in clock ticks (10 ms), so blocks are sized to make
a tick under 2 % of a block's CPU in the full run; ``--quick`` is for smoke
tests only and its ratios are noise.

Run: ``python bench/gateway_roundtrip.py [--quick] [--rounds 3] [--connections 64]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

CLOUD_KEY = "bench-gw-cloud-key"
LEGACY_KEY = "bench-gw-legacy-key"
TARGET_FLAT_CPU = 1.3
TARGET_FLAT_RPS = 1.0
TARGET_PROXY_CPU = 1.5
TARGET_LATENCY_RPS = 0.9
POOL: list[str] = []
BENCH_DIR = Path(__file__).resolve().parent


def _command() -> list[str]:
    cli = Path(sys.executable).with_name("waba-migrate")
    return [str(cli)] if cli.exists() else [sys.executable, "-m", "shim.cli"]


@dataclass(frozen=True)
class Server:
    url: str
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (Linux /proc)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def process(cmd: list[str], env: dict[str, str] | None = None) -> Iterator[Server]:
    """Run ``cmd`` and yield its base URL (the first word of stdout that is one) and pid."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        url = next((w for w in line.split() if w.startswith("http://")), None)
        if url is None:
            raise RuntimeError(f"{cmd[-1]} did not start: {line!r}")
        yield Server(url.rstrip("/.,"), proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def sandbox() -> contextlib.AbstractContextManager[Server]:
    return process([*_command(), "sandbox", "--api", "360dialog", "--port", "0", "--api-key",
                    CLOUD_KEY, "--open-windows", "--log-level", "error"])


#: Numbers the gateway serves. Each is paced at Cloud's 1,000 mps ceiling, so
#: one number alone would cap the gateway at 1,000 requests/s; the requests
#: rotate over several numbers (as a gateway for several numbers sees them).
CHANNELS = 4


def legacy_key(i: int) -> str:
    return f"{LEGACY_KEY}-{i}"


def gateway(directory: Path, backend: Server) -> contextlib.AbstractContextManager[Server]:
    path = directory / f"gw-{backend.pid}.toml"
    tables = "".join(f"""
[channels.bench{i}]
phone_number = "+49151000000{i:02d}"
backend = "360dialog"
base_url = "{backend.url}"
api_key = "env:BENCH_GW_CLOUD_KEY_{i}"
legacy_api_key = "env:BENCH_GW_LEGACY_KEY_{i}"
mps = 1000
""" for i in range(CHANNELS))
    path.write_text(tables, encoding="utf-8")
    env = {}
    for i in range(CHANNELS):
        env[f"BENCH_GW_CLOUD_KEY_{i}"] = CLOUD_KEY
        env[f"BENCH_GW_LEGACY_KEY_{i}"] = legacy_key(i)
    return process([*_command(), "serve", "--config", str(path), "--port", "0"], env)


GW_KEYS = tuple(legacy_key(i) for i in range(CHANNELS))


def proxy(backend: Server) -> contextlib.AbstractContextManager[Server]:
    return process([sys.executable, str(BENCH_DIR / "_passthrough_proxy.py"), backend.url, *POOL])


def add_backend_latency(server: Server, delay_ms: int) -> None:
    """A delay fault on every send: the sandbox sleeps before answering."""
    import http.client

    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port)
    body = json.dumps({"delay_ms": delay_ms, "count": 100_000, "path": "/messages"})
    conn.request("POST", "/_sandbox/faults", body, {"Content-Type": "application/json"})
    answer = conn.getresponse()
    answer.read()
    conn.close()
    if answer.status >= 300:
        raise SystemExit(f"sandbox refused the latency fault: HTTP {answer.status}")


# -- the client -------------------------------------------------------------------------


def onprem_body(i: int) -> bytes:
    return json.dumps({"recipient_type": "individual", "to": str(4915100000000 + i),
                       "type": "text", "text": {"body": f"Your parcel {i} has shipped"},
                       "preview_url": False}).encode()


def cloud_body(i: int) -> bytes:
    return json.dumps({"messaging_product": "whatsapp", "recipient_type": "individual",
                       "to": str(4915100000000 + i), "type": "text",
                       "text": {"body": f"Your parcel {i} has shipped", "preview_url": False}}
                      ).encode()


@dataclass(frozen=True)
class Target:
    """One side of a comparison: where to POST, what, and whose CPU counts."""

    name: str
    server: Server           # the process whose CPU is this side's cost
    url: str                 # where requests go
    path: str
    keys: tuple[str, ...]  # rotated per request
    body: Callable[[int], bytes]


class Counter:
    def __init__(self) -> None:
        self.value = 0

    def take(self) -> int:
        self.value += 1
        return self.value


async def _connection(target: Target, n: int, counter: Counter) -> None:
    parts = urlsplit(target.url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    heads = [(f"POST {target.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
              f"D360-API-KEY: {key}\r\nContent-Type: application/json\r\n")
             for key in target.keys]
    try:
        for _ in range(n):
            i = counter.take()
            body = target.body(i)
            head = heads[i % len(heads)]
            writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            data = await reader.readexactly(length)
            if b" 200 " not in status_line or b'"messages"' not in data:
                raise RuntimeError(f"{target.name}: {status_line!r} {data[:200]!r}")
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def block(target: Target, connections: int, requests: int, counter: Counter
          ) -> tuple[float, float]:
    """Send ``requests`` over ``connections`` fresh connections: (wall s, server CPU s)."""
    share = [requests // connections + (1 if i < requests % connections else 0)
             for i in range(connections)]

    async def run() -> None:
        await asyncio.gather(*(_connection(target, n, counter) for n in share if n))

    cpu = target.server.cpu_seconds()
    start = time.perf_counter()
    asyncio.run(run())
    return time.perf_counter() - start, target.server.cpu_seconds() - cpu


@dataclass
class Sample:
    rps: float
    cpu_ms: float


def alternate(sides: list[tuple[Target, int]], requests: int, rounds: int,
              counter: Counter) -> list[list[Sample]]:
    """Each round runs one block per side, in turn; per side, one sample per round."""
    for target, conns in sides:  # warm pools, code paths, connections
        block(target, conns, max(conns * 4, requests // 5), counter)
    samples: list[list[Sample]] = [[] for _ in sides]
    for r in range(rounds):
        order = list(enumerate(sides))
        if r % 2:
            order.reverse()  # ABBA: neither side always runs first
        for i, (target, conns) in order:
            wall, cpu = block(target, conns, requests, counter)
            samples[i].append(Sample(requests / wall, cpu * 1e3 / requests))
    return samples


def spread(values: list[float]) -> str:
    return (f"min {min(values):5.2f}  median {statistics.median(values):5.2f}  "
            f"max {max(values):5.2f}")


def verdict(value: float, target: float, at_most: bool) -> str:
    ok = value <= target if at_most else value >= target
    return f"target {'<=' if at_most else '>='} {target:.2f}: {'met' if ok else 'MISSED'}"


def side_line(label: str, samples: list[Sample]) -> str:
    rps = statistics.median(s.rps for s in samples)
    cpu = statistics.median(s.cpu_ms for s in samples)
    return f"    {label:<28} {rps:8.0f} req/s  {cpu:7.3f} ms CPU/request (medians)"


def ratio_line(label: str, values: list[float], target: float, at_most: bool) -> float:
    median = statistics.median(values)
    print(f"  {label:<30} {spread(values)}  {verdict(median, target, at_most)}")
    return median


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small run for smoke tests")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--requests", type=int, default=0,
                        help="requests per block (default 2000; 60 with --quick)")
    parser.add_argument("--backend-latency-ms", type=int, default=50)
    args = parser.parse_args()
    requests = args.requests or (60 if args.quick else 2000)
    rounds = max(1, args.rounds)
    many = args.connections
    counter = Counter()
    missed = 0
    print(f"{requests} requests per block, {rounds} rounds, 1 vs {many} connections, "
          f"{os.cpu_count()} CPUs{' (quick: ratios are noise)' if args.quick else ''}")
    with tempfile.TemporaryDirectory() as tmp, sandbox() as sb, gateway(Path(tmp), sb) as gw, \
            proxy(sb) as px:
        via = Target("gateway", gw, gw.url, "/v1/messages", GW_KEYS, onprem_body)
        bare = Target("proxy", px, px.url, "/messages", (CLOUD_KEY,), cloud_body)
        direct = Target("direct", sb, sb.url, "/messages", (CLOUD_KEY,), cloud_body)

        print(f"1. concurrency: gateway at 1 vs {many} connections")
        one, lots = alternate([(via, 1), (via, many)], requests, rounds, counter)
        print(side_line("gateway, 1 connection", one))
        print(side_line(f"gateway, {many} connections", lots))
        cpu = ratio_line("CPU/request ratio", [b.cpu_ms / a.cpu_ms for a, b in
                                                zip(one, lots, strict=True)],
                         TARGET_FLAT_CPU, True)
        rps = ratio_line("requests/s ratio", [b.rps / a.rps for a, b in
                                               zip(one, lots, strict=True)],
                         TARGET_FLAT_RPS, False)
        missed += cpu > TARGET_FLAT_CPU or rps < TARGET_FLAT_RPS

        print("2. gateway vs a bare pass-through proxy (server CPU per request)")
        for conns in (1, many):
            g, p = alternate([(via, conns), (bare, conns)], requests, rounds, counter)
            print(side_line(f"gateway, {conns} conn", g))
            print(side_line(f"proxy, {conns} conn", p))
            value = ratio_line(f"CPU ratio at {conns} conn", [a.cpu_ms / b.cpu_ms for a, b in
                                                               zip(g, p, strict=True)],
                               TARGET_PROXY_CPU, True)
            missed += value > TARGET_PROXY_CPU

        print("4. (reference) whole round trip vs calling the sandbox directly, bare loopback")
        for conns in (1, many):
            g, d = alternate([(via, conns), (direct, conns)], requests, rounds, counter)
            print(side_line(f"gateway, {conns} conn", g))
            print(side_line(f"direct, {conns} conn", d))
            values = [b.rps / a.rps for a, b in zip(g, d, strict=True)]
            print(f"  {'wall ratio at ' + str(conns) + ' conn':<30} {spread(values)}"
                  "  (no target on bare loopback)")

    if args.backend_latency_ms:
        with tempfile.TemporaryDirectory() as tmp, sandbox() as slow, \
                gateway(Path(tmp), slow) as gw, proxy(slow) as px:
            add_backend_latency(slow, args.backend_latency_ms)
            via = Target("gateway", gw, gw.url, "/v1/messages", GW_KEYS, onprem_body)
            bare = Target("proxy", px, px.url, "/messages", (CLOUD_KEY,), cloud_body)
            direct = Target("direct", slow, slow.url, "/messages", (CLOUD_KEY,), cloud_body)
            print(f"3. backend answering {args.backend_latency_ms} ms late, {many} connections")
            g, p, d = alternate([(via, many), (bare, many), (direct, many)], requests, rounds,
                                counter)
            print(side_line("gateway", g))
            print(side_line("proxy (reference)", p))
            print(side_line("direct", d))
            value = ratio_line("requests/s gateway/direct",
                               [a.rps / b.rps for a, b in zip(g, d, strict=True)],
                               TARGET_LATENCY_RPS, False)
            missed += value < TARGET_LATENCY_RPS
            values = [a.rps / b.rps for a, b in zip(p, d, strict=True)]
            print(f"  {'requests/s proxy/direct':<30} {spread(values)}  (reference, no target)")
    print("all targets met" if not missed else f"{missed} target(s) MISSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
