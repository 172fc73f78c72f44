"""Gateway round trip (client -> gateway -> sandbox) vs calling the sandbox directly.

Method (same run, same loopback, same sandbox):

* The sandbox (360dialog Cloud surface, ``waba-migrate sandbox``) and the
  gateway (``waba-migrate serve``, one worker, access log on and written to
  /dev/null) each run in their own process, so neither server's CPU time
  lands on the client's GIL.
* Client: the standard library's ``http.client`` with keep-alive connections,
  the cheapest client there is, so its own cost does not dilute the ratio.
* direct: ``POST {sandbox}/messages`` with the Cloud-shaped body and the Cloud
  key; gateway: ``POST {gateway}/v1/messages`` with the On-Prem body and the
  caller's legacy key (key check, translation, routing, pacing, idempotency
  key, backend call over a pooled httpx client, answer translated back).
  Both read ``messages[0].id``. Every request goes to a different recipient
  (the pair rate limit would otherwise pace the gateway).
* Two shapes: sequential (one connection: the latency a caller sees) and
  concurrent (``--connections`` threads, one connection each: throughput).
  Direct and gateway blocks alternate; the median of the per-block ratios is
  reported (robust against a noisy machine), with totals next to it.

Target: overhead <= 1.3x. Run: ``python bench/gateway_roundtrip.py [--quick]``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

TARGET = 1.3
CLOUD_KEY = "bench-gw-cloud-key"
LEGACY_KEY = "bench-gw-legacy-key"


def _command() -> list[str]:
    cli = Path(sys.executable).with_name("waba-migrate")
    return [str(cli)] if cli.exists() else [sys.executable, "-m", "shim.cli"]


@dataclass(frozen=True)
class Server:
    url: str
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (Linux /proc)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def server(args: list[str], env: dict[str, str] | None = None) -> Iterator[Server]:
    """Run ``waba-migrate ARGS`` and yield its base URL (printed first) and pid."""
    proc = subprocess.Popen(
        [*_command(), *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("http://"):
            raise RuntimeError(f"{args[0]} did not start: {line!r}")
        yield Server(line, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def gateway_config(directory: Path, sandbox_url: str) -> Path:
    path = directory / "bench.toml"
    path.write_text(f"""
[channels.bench]
phone_number = "+4915100000001"
backend = "360dialog"
base_url = "{sandbox_url}"
api_key = "env:BENCH_GW_CLOUD_KEY"
legacy_api_key = "env:BENCH_GW_LEGACY_KEY"
mps = 1000
""", encoding="utf-8")
    return path


class Caller:
    """One keep-alive connection posting JSON and reading ``messages[0].id``."""

    def __init__(self, base_url: str, path: str, key: str) -> None:
        parts = urlsplit(base_url)
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port,
                                               timeout=30)
        self.path = path
        self.headers = {"D360-API-KEY": key, "Content-Type": "application/json"}

    def send(self, body: bytes) -> None:
        self.conn.request("POST", self.path, body, self.headers)
        response = self.conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {data[:300]!r}")
        if not json.loads(data)["messages"][0]["id"]:
            raise RuntimeError("no message id")

    def close(self) -> None:
        self.conn.close()


def onprem_body(i: int) -> bytes:
    return json.dumps({"recipient_type": "individual", "to": str(4915100000000 + i),
                       "type": "text", "text": {"body": f"Your parcel {i} has shipped"},
                       "preview_url": False}).encode()


def cloud_body(i: int) -> bytes:
    return json.dumps({"messaging_product": "whatsapp", "recipient_type": "individual",
                       "to": str(4915100000000 + i), "type": "text",
                       "text": {"body": f"Your parcel {i} has shipped", "preview_url": False}}
                      ).encode()


def timed_block(callers: list[Caller], bodies: list[bytes]) -> float:
    """Send ``bodies`` spread over ``callers`` (one thread each); wall seconds.

    Each block starts on fresh connections: the other side's block may outlast
    the servers' keep-alive timeout.
    """
    for caller in callers:
        caller.close()
    if len(callers) == 1:
        start = time.perf_counter()
        for body in bodies:
            callers[0].send(body)
        return time.perf_counter() - start
    errors: list[BaseException] = []
    share = [bodies[i :: len(callers)] for i in range(len(callers))]

    def work(caller: Caller, mine: list[bytes]) -> None:
        try:
            for body in mine:
                caller.send(body)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c, s)) for c, s in zip(callers, share,
                                                                          strict=True)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - start


@dataclass
class Side:
    """Totals of one side (direct or gateway) over all its timed blocks."""

    wall: float = 0.0
    client_cpu: float = 0.0
    sandbox_cpu: float = 0.0
    gateway_cpu: float = 0.0

    def block(self, callers: list[Caller], bodies: list[bytes], sandbox: Server,
              gateway: Server) -> float:
        cpu = (time.process_time(), sandbox.cpu_seconds(), gateway.cpu_seconds())
        wall = timed_block(callers, bodies)
        self.wall += wall
        self.client_cpu += time.process_time() - cpu[0]
        self.sandbox_cpu += sandbox.cpu_seconds() - cpu[1]
        self.gateway_cpu += gateway.cpu_seconds() - cpu[2]
        return wall

    def cpu(self) -> float:
        return self.client_cpu + self.sandbox_cpu + self.gateway_cpu


def compare(label: str, sandbox: Server, gateway: Server, connections: int, per_block: int,
            blocks: int, counter: list[int]) -> tuple[float, Side, Side]:
    direct = [Caller(sandbox.url, "/messages", CLOUD_KEY) for _ in range(connections)]
    via = [Caller(gateway.url, "/v1/messages", LEGACY_KEY) for _ in range(connections)]

    def next_bodies(shape: Callable[[int], bytes], n: int = per_block) -> list[bytes]:
        start = counter[0]
        counter[0] += n
        return [shape(i) for i in range(start, start + n)]

    d_side, g_side, ratios = Side(), Side(), []
    try:
        warm = max(20, per_block // 5)  # connections, pools, code paths
        timed_block(direct, next_bodies(cloud_body, warm))
        timed_block(via, next_bodies(onprem_body, warm))
        for _ in range(blocks):
            d = d_side.block(direct, next_bodies(cloud_body), sandbox, gateway)
            g = g_side.block(via, next_bodies(onprem_body), sandbox, gateway)
            ratios.append(g / d)
    finally:
        for c in (*direct, *via):
            c.close()
    n = per_block * blocks
    ratio = statistics.median(ratios)
    print(f"{label:<11} {connections:>5} {n:>6} "
          f"{d_side.wall / n * 1e3:>8.3f}ms {n / d_side.wall:>7.0f}/s "
          f"{g_side.wall / n * 1e3:>8.3f}ms {n / g_side.wall:>7.0f}/s {ratio:>6.2f}x")
    return ratio, d_side, g_side


def breakdown(gateway: Server, n: int, counter: list[int]) -> None:
    """Gateway CPU per request for calls that stop at successive layers."""
    parts = urlsplit(gateway.url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    headers = {"D360-API-KEY": LEGACY_KEY, "Content-Type": "application/json"}
    contacts = json.dumps({"blocking": "wait", "contacts": ["+4915100000000"]}).encode()
    layers: list[tuple[str, str, str, Callable[[int], bytes | None]]] = [
        ("GET /healthz", "GET", "/healthz", lambda i: None),
        ("POST /v1/contacts", "POST", "/v1/contacts", lambda i: contacts),
        ("POST /v1/messages", "POST", "/v1/messages", onprem_body),
    ]
    print("gateway CPU per request by layer (same process, sequential):")
    try:
        for label, method, path, body in layers:
            before = gateway.cpu_seconds()
            for _ in range(n):
                counter[0] += 1
                conn.request(method, path, body(counter[0]), headers)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    raise RuntimeError(f"{label}: HTTP {response.status}")
            print(f"  {label:<18} {(gateway.cpu_seconds() - before) * 1e3 / n:6.3f} ms")
    finally:
        conn.close()
    print("  (healthz: HTTP framing + a small JSON document; contacts: + key check, limits,"
          " routing, local answer, metrics, access log; messages: + translation both ways"
          " and the backend call)")


def cpu_line(label: str, side: Side, n: int) -> str:
    per = 1e3 / n
    return (f"  {label:<8} client {side.client_cpu * per:6.3f}  sandbox "
            f"{side.sandbox_cpu * per:6.3f}  gateway {side.gateway_cpu * per:6.3f}  "
            f"total {side.cpu() * per:6.3f} ms/request")


def add_backend_latency(sandbox_url: str, delay_ms: int) -> None:
    """A delay fault on every send: the sandbox sleeps before answering."""
    parts = urlsplit(sandbox_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port)
    body = json.dumps({"delay_ms": delay_ms, "count": 10**9, "path": "/messages"})
    conn.request("POST", "/_sandbox/faults", body, {"Content-Type": "application/json"})
    answer = conn.getresponse()
    answer.read()
    conn.close()
    if answer.status >= 300:
        raise SystemExit(f"sandbox refused the latency fault: HTTP {answer.status}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small run for smoke tests")
    parser.add_argument("--connections", type=int, default=8,
                        help="connections for the concurrent shape (default 8)")
    parser.add_argument("--backend-latency-ms", type=int, default=0,
                        help="make the sandbox answer every send this much later (a stand-in "
                        "for Cloud's network round trip; default 0: bare loopback)")
    args = parser.parse_args()
    per_block, blocks = (25, 4) if args.quick else (100, 30)
    env = {"BENCH_GW_CLOUD_KEY": CLOUD_KEY, "BENCH_GW_LEGACY_KEY": LEGACY_KEY}
    counter = [0]
    results = []
    with tempfile.TemporaryDirectory() as tmp, server(
        ["sandbox", "--api", "360dialog", "--port", "0", "--api-key", CLOUD_KEY,
         "--open-windows", "--log-level", "error"]
    ) as sandbox:
        if args.backend_latency_ms:
            add_backend_latency(sandbox.url, args.backend_latency_ms)
            print(f"backend latency: every send answered {args.backend_latency_ms} ms late")
        config = gateway_config(Path(tmp), sandbox.url)
        with server(["serve", "--config", str(config), "--port", "0"], env) as gateway:
            print(f"sandbox {sandbox.url}, gateway {gateway.url}; {per_block} requests x "
                  f"{blocks} alternating blocks per shape; {os.cpu_count()} CPUs")
            print(f"{'shape':<11} {'conns':>5} {'n':>6} {'direct/req':>10} {'direct':>9} "
                  f"{'gateway/req':>10} {'gateway':>9} {'ratio':>7}")
            for label, conns in (("sequential", 1), ("concurrent", args.connections)):
                results.append((label, *compare(label, sandbox, gateway, conns, per_block,
                                                blocks, counter)))
            breakdown(gateway, per_block * 4, counter)
    n = per_block * blocks
    print("CPU time per request (all processes; robust on a busy machine):")
    for label, _, d_side, g_side in results:
        print(f" {label}")
        print(cpu_line("direct", d_side, n))
        print(cpu_line("gateway", g_side, n))
        added = (g_side.cpu() - d_side.cpu()) * 1e3 / n
        print(f"  gateway adds {added:.3f} ms CPU per request "
              f"({g_side.cpu() / d_side.cpu():.2f}x the direct total)")
    seq, conc = results[0][1], results[1][1]
    print(f"ratio gateway/direct: sequential {seq:.2f}x, concurrent {conc:.2f}x "
          f"(target <= {TARGET:.1f}x: {'met' if max(seq, conc) <= TARGET else 'MISSED'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
