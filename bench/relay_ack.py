"""Relay speed against fair baselines, on both stores: acks, delivery, a deep backlog.

Every server runs in its own process; the load generator is a raw-socket
HTTP/1.1 keep-alive client (``--concurrency`` connections, each sending its
next signed Cloud event when the previous one is answered; 100 conversations).
CPU per operation comes from /proc (user+system of the server process), which
on a shared machine is steadier than rates. Phases, per store (SQLite file with
WAL + synchronous=FULL; PostgreSQL on a throw-away local server with fsync on,
or ``--db``):

1. ack + delivery: blocks of events go alternately to a minimal Starlette
   handler (reads the body, answers 200) and to the relay, over >= 3 rounds.
   The relay's figure includes forwarding every body to a local app: its CPU
   is counted until the app has received the whole block.
2. backlog (app down): two relays alternate blocks, one on an empty queue and
   one with ``--backlog`` events already queued (100,000 by default; written
   with the store's own API before the relay starts, then split into
   deliveries). Compared: ack p99 and acks/s, full/empty. Before that, the full
   relay's CPU is sampled while nothing is due (retries back off for minutes).
3. drain: ``--drain`` queued events (100,000 by default) are delivered to a
   local app that comes up; rates of the first and last 10 %, the relay's CPU
   per body in both (steadier than rates when other work shares the machine),
   and the relay's RSS along the way.
4. PostgreSQL against SQLite: drains of ``--pg-block`` events alternate
   between the stores; delivery rate ratio per round.

Not measured: TLS, a remote database or app (loopback only, so round trips
are far cheaper than in production), real Meta retry behaviour, disks other
than this machine's, more than one relay instance per store. The local app is
a minimal asyncio HTTP responder, so its cost is not what limits delivery.
The machine may be shared: figures are noisy; ratios from the same run are the
comparison that counts.

    python bench/relay_ack.py                  # full run (100,000-event backlog and drain)
    python bench/relay_ack.py --quick          # smoke run
    python bench/relay_ack.py --stores sqlite  # one store only
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
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

SECRET = "bench-app-secret"
CHANNEL = "bench"
CONVERSATIONS = 100

#: Targets from the issue (ratios measured in the same run).
P99_RATIO_MAX = 2.0  # ack p99 with the backlog / empty queue
RATE_RATIO_MIN = 0.8  # acks/s with the backlog / empty queue
IDLE_CPU_MAX = 0.05  # share of one core with a full queue and nothing due
DRAIN_SPREAD_MAX = 1.5  # first 10 % vs last 10 % drain rate
PG_RATIO_MIN = 0.5  # PostgreSQL delivery rate / SQLite's


# -- servers (each runs in its own process) -----------------------------------------

def serve_minimal(port: int) -> None:
    """The baseline: read the body, answer 200."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def hook(request: Request) -> PlainTextResponse:
        await request.body()
        return PlainTextResponse("OK")

    app = Starlette(routes=[Route(f"/webhooks/{CHANNEL}", hook, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                lifespan="off")


class _AppProtocol(asyncio.Protocol):
    """The legacy app: answers every POST /hook with 200 and notes when it came.

    ``GET /times`` returns the arrival times since the last ``POST /reset``
    (``GET /count`` just how many: cheap to poll).
    """

    times: list[float] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length:]
            self._answer(head.split(" ", 2)[:2])

    def _answer(self, request: list[str]) -> None:
        body = b"{}"
        if request == ["POST", "/hook"]:
            _AppProtocol.times.append(time.time())
        elif request == ["GET", "/times"]:
            body = json.dumps(_AppProtocol.times).encode()
        elif request == ["GET", "/count"]:
            body = str(len(_AppProtocol.times)).encode()
        elif request == ["POST", "/reset"]:
            _AppProtocol.times = []
        self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body))


def serve_app(port: int) -> None:
    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_AppProtocol, "127.0.0.1", port)
        await server.serve_forever()

    asyncio.run(main())


# -- process helpers ------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """User+system CPU a process has used so far (Linux /proc; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http(port: int, method: str, path: str, timeout: float = 10, *,
         check: bool = True) -> bytes:
    """One request on a fresh connection; the body of a 200 answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed before answering")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("closed mid-answer")
            body += chunk
    if check and not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"{method} {path}: {head[:80]!r}")
    return body


def wait_http(port: int, path: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server on port {port} exited with {proc.returncode}")
        try:
            http(port, "GET", path, timeout=2, check=False)
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"server on port {port} did not start")


@contextmanager
def process(*args: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, *args], env=env)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


ME = str(Path(__file__).resolve())


@contextmanager
def app_server() -> Iterator[int]:
    port = free_port()
    with process(ME, "--serve-app", str(port)) as proc:
        wait_http(port, "/times", proc)
        yield port


def app_count(port: int) -> int:
    return int(http(port, "GET", "/count"))


def app_times(port: int) -> list[float]:
    times: list[float] = json.loads(http(port, "GET", "/times", timeout=60))
    return times


@dataclass
class Relay:
    proc: subprocess.Popen[bytes]
    port: int


@contextmanager
def relay_server(tmp: Path, db: str, forward_port: int, *flags: str) -> Iterator[Relay]:
    config = tmp / f"relay-{forward_port}-{time.monotonic_ns()}.toml"
    config.write_text(
        f'[channels.{CHANNEL}]\nphone_number = "+15550783881"\nbackend = "360dialog"\n'
        f'api_key = "env:BENCH_D360_KEY"\napp_secret = "env:BENCH_APP_SECRET"\n'
        f'forward_url = "http://127.0.0.1:{forward_port}/hook"\n'
    )
    env = {**os.environ, "BENCH_D360_KEY": "unused", "BENCH_APP_SECRET": SECRET}
    port = free_port()
    with process("-m", "shim.cli", "relay", "--config", str(config), "--port", str(port),
                 "--db", db, "--log-level", "warning", "--concurrency", "32",
                 "--instance-id", f"bench-{port}", *flags, env=env) as proc:
        wait_http(port, "/healthz", proc)
        yield Relay(proc, port)


# -- events and load ------------------------------------------------------------------

class Events:
    """Signed Cloud events with unique message ids (so none is dropped as a redelivery)."""

    def __init__(self) -> None:
        template = json.loads((Path(__file__).parent.parent / "tests" / "examples" /
                               "cloud-webhook-inbound-text.json").read_text())
        self.template = template
        self.next = 0

    def bodies(self, count: int) -> list[bytes]:
        value = self.template["entry"][0]["changes"][0]["value"]
        out = []
        for n in range(self.next, self.next + count):
            wa_id = f"4917{n % CONVERSATIONS:08d}"
            value["contacts"][0]["wa_id"] = wa_id
            value["messages"][0].update({"from": wa_id, "id": f"wamid.bench{n:09d}",
                                         "text": {"body": f"message {n}"}})
            out.append(json.dumps(self.template, separators=(",", ":")).encode())
        self.next += count
        return out

    def requests(self, count: int) -> list[bytes]:
        from shim.webhooks import sign

        return [(f"POST /webhooks/{CHANNEL} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n"
                 f"X-Hub-Signature-256: {sign(SECRET, raw)}\r\n\r\n").encode() + raw
                for raw in self.bodies(count)]


@dataclass
class Block:
    events: int
    seconds: float
    latencies: list[float]
    errors: int
    cpu: float = 0.0  # server CPU seconds for the block (relay: until delivered, if any)
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.events * 1e6


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and int(value):
            await reader.readexactly(int(value))
    return status


async def _drive(port: int, requests: Sequence[bytes], concurrency: int) -> Block:
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
    return Block(len(requests), time.perf_counter() - started, latencies, errors)


def drive(pid: int, port: int, requests: Sequence[bytes], concurrency: int) -> Block:
    cpu = cpu_seconds(pid)
    block = asyncio.run(_drive(port, requests, concurrency))
    block.cpu = cpu_seconds(pid) - cpu
    return block


def wait_count(port: int, count: int, timeout: float) -> list[float]:
    deadline = time.monotonic() + timeout
    while True:
        seen = app_count(port)
        if seen >= count or time.monotonic() > deadline:
            return app_times(port)
        time.sleep(0.1 if count - seen > 1000 else 0.02)


def fill(db: str, bodies: Sequence[bytes]) -> float:
    """Queue ``bodies`` with the store's own API and split them; returns seconds taken."""
    from shim.relay import make_split, open_store

    async def run() -> None:
        store = open_store(db)
        try:
            now = time.time()
            for start in range(0, len(bodies), 1000):
                await asyncio.gather(*(store.add_event(CHANNEL, raw, now)
                                       for raw in bodies[start:start + 1000]))
            split = make_split()
            while await store.expand(split, 2000):
                pass
        finally:
            store.close()

    started = time.perf_counter()
    asyncio.run(run())
    return time.perf_counter() - started


# -- reporting --------------------------------------------------------------------------

def spread(values: Sequence[float]) -> str:
    return (f"min {min(values):.2f}  median {statistics.median(values):.2f}  "
            f"max {max(values):.2f}")


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


class Report:
    def __init__(self) -> None:
        self.failures: list[str] = []
        self.targets: list[str] = []

    def target(self, name: str, ok: bool, detail: str) -> None:
        line = f"  target {name}: {detail} -> {verdict(ok)}"
        print(line)
        self.targets.append(line)


# -- phases ---------------------------------------------------------------------------------

def phase_ack(store: str, db: Callable[[str], str], tmp: Path, events: Events, args: Args,
              report: Report) -> None:
    print(f"\n[{store}] 1. ack + delivery: minimal handler vs relay, {args.rounds} rounds of "
          f"{args.block:,} events each, alternating")
    ratios: dict[str, list[float]] = {"acks/s": [], "p99": [], "CPU/event": []}
    minimal_port = free_port()
    with app_server() as app, \
            process(ME, "--serve-minimal", str(minimal_port)) as minimal, \
            relay_server(tmp, db("ack"), app) as relay:
        wait_http(minimal_port, "/", minimal)
        drive(minimal.pid, minimal_port, events.requests(200), args.concurrency)  # warm-up
        warm = events.requests(200)
        drive(relay.proc.pid, relay.port, warm, args.concurrency)
        wait_count(app, 200, 60)
        delivered = 200
        for n in range(args.rounds):
            pair = {}
            for side in (("minimal", "relay") if n % 2 == 0 else ("relay", "minimal")):
                requests = events.requests(args.block)
                if side == "minimal":
                    pair[side] = drive(minimal.pid, minimal_port, requests, args.concurrency)
                    continue
                cpu = cpu_seconds(relay.proc.pid)
                block = drive(relay.proc.pid, relay.port, requests, args.concurrency)
                ack_cpu = block.cpu
                delivered += args.block
                times = wait_count(app, delivered, 120)
                block.cpu = cpu_seconds(relay.proc.pid) - cpu
                block.extra = {"ack_cpu_us": ack_cpu / args.block * 1e6,
                               "delivered": len(times) - (delivered - args.block)}
                pair[side] = block
            m, r = pair["minimal"], pair["relay"]
            print(f"  round {n + 1}: minimal {m.rate:7,.0f} acks/s p99 {m.pct(0.99):6.2f} ms "
                  f"CPU {m.cpu_us:4.0f} us/event | relay {r.rate:7,.0f} acks/s p99 "
                  f"{r.pct(0.99):6.2f} ms CPU {r.extra['ack_cpu_us']:4.0f} us/ack, "
                  f"{r.cpu_us:4.0f} us/event with delivery "
                  f"({int(r.extra['delivered'])}/{args.block} delivered)")
            if m.errors or r.errors or r.extra["delivered"] < args.block:
                report.failures.append(f"{store} ack round {n + 1}: errors or undelivered")
            ratios["acks/s"].append(r.rate / m.rate)
            ratios["p99"].append(r.pct(0.99) / m.pct(0.99))
            ratios["CPU/event"].append(r.cpu / m.cpu if m.cpu else float("nan"))
    for name, values in ratios.items():
        print(f"  ratio relay/minimal {name:<10} {spread(values)}")


def phase_backlog(store: str, db: Callable[[str], str], tmp: Path, events: Events, args: Args,
                  report: Report) -> None:
    print(f"\n[{store}] 2. backlog, app down: empty queue vs {args.backlog:,} events queued, "
          f"{args.rounds} rounds of {args.block:,} events each, alternating")
    full_db, empty_db = db("full"), db("empty")
    took = fill(full_db, events.bodies(args.backlog))
    print(f"  queued {args.backlog:,} events with the store API and split them in {took:.1f} s")
    dead = free_port()  # nothing listens: the app is down
    slow = ("--backoff-base", "10m", "--backoff-max", "1h")
    with relay_server(tmp, empty_db, dead, *slow) as empty, \
            relay_server(tmp, full_db, dead, *slow) as full:
        time.sleep(1.0)  # first attempts of the queued heads fail and back off
        rss_before = rss_mb(full.proc.pid)
        cpu = {r.proc.pid: cpu_seconds(r.proc.pid) for r in (empty, full)}
        started = time.monotonic()
        time.sleep(args.idle)
        wall = time.monotonic() - started
        idle = {pid: (cpu_seconds(pid) - c) / wall for pid, c in cpu.items()}
        print(f"  idle with nothing due, {wall:.1f} s: relay CPU {idle[full.proc.pid]:.2%} of a "
              f"core with the backlog, {idle[empty.proc.pid]:.2%} with an empty queue")
        rate_ratios, p99_ratios = [], []
        for n in range(args.rounds):
            pair = {}
            for name, relay in ((("empty", empty), ("full", full)) if n % 2 == 0
                                else (("full", full), ("empty", empty))):
                pair[name] = drive(relay.proc.pid, relay.port, events.requests(args.block),
                                   args.concurrency)
            e, f = pair["empty"], pair["full"]
            print(f"  round {n + 1}: empty {e.rate:7,.0f} acks/s p50 {e.pct(0.5):6.2f} ms p99 "
                  f"{e.pct(0.99):6.2f} ms CPU {e.cpu_us:4.0f} us/ack | backlog {f.rate:7,.0f} "
                  f"acks/s p50 {f.pct(0.5):6.2f} ms p99 {f.pct(0.99):6.2f} ms CPU "
                  f"{f.cpu_us:4.0f} us/ack")
            if e.errors or f.errors:
                report.failures.append(f"{store} backlog round {n + 1}: non-200 answers")
            rate_ratios.append(f.rate / e.rate)
            p99_ratios.append(f.pct(0.99) / e.pct(0.99))
        rss_after = rss_mb(full.proc.pid)
    print(f"  ratio backlog/empty acks/s {spread(rate_ratios)}")
    print(f"  ratio backlog/empty p99    {spread(p99_ratios)}")
    print(f"  relay RSS with the backlog: {rss_before:.0f} MB before the blocks, "
          f"{rss_after:.0f} MB after")
    report.target(f"[{store}] ack p99 backlog/empty <= {P99_RATIO_MAX:g}",
                  statistics.median(p99_ratios) <= P99_RATIO_MAX,
                  f"median {statistics.median(p99_ratios):.2f}")
    report.target(f"[{store}] acks/s backlog/empty >= {RATE_RATIO_MIN:g}",
                  statistics.median(rate_ratios) >= RATE_RATIO_MIN,
                  f"median {statistics.median(rate_ratios):.2f}")
    report.target(f"[{store}] idle CPU with the backlog < {IDLE_CPU_MAX:.0%} of a core",
                  idle[full.proc.pid] < IDLE_CPU_MAX, f"{idle[full.proc.pid]:.2%}")


@dataclass
class Drained:
    rate: float  # bodies/s, first to last arrival
    times: list[float]  # arrival times at the app
    rss: list[float]  # relay RSS samples, MB
    cpu: float  # relay CPU seconds per delivered body
    samples: list[tuple[int, float]]  # (bodies delivered, relay CPU seconds) while draining

    def cpu_per_body(self, lo: float, hi: float) -> float:
        """Relay CPU per body between the samples nearest ``lo`` and ``hi`` (shares)."""
        total = len(self.times)
        inside = [s for s in self.samples if lo * total <= s[0] <= hi * total]
        if len(inside) < 2 or inside[-1][0] == inside[0][0]:
            return float("nan")
        return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


def drain(db: str, tmp: Path, app: int, count: int) -> Drained:
    """Start a relay on a filled queue with the app up and wait until all arrived."""
    http(app, "POST", "/reset")
    rss: list[float] = []
    samples: list[tuple[int, float]] = []
    with relay_server(tmp, db, app) as relay:
        cpu = cpu_seconds(relay.proc.pid)
        deadline = time.monotonic() + max(120.0, count / 50)
        while True:
            rss.append(rss_mb(relay.proc.pid))
            seen = app_count(app)
            samples.append((seen, cpu_seconds(relay.proc.pid) - cpu))
            if seen >= count or time.monotonic() > deadline:
                break
            time.sleep(0.25 if count > 5000 else 0.05)
        used = cpu_seconds(relay.proc.pid) - cpu
    times = app_times(app)
    rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    return Drained(rate, times, rss, used / max(1, len(times)), samples)


def phase_drain(store: str, db: Callable[[str], str], tmp: Path, events: Events, args: Args,
                report: Report) -> None:
    print(f"\n[{store}] 3. drain: {args.drain:,} queued events, the app comes up")
    path = db("drain")
    took = fill(path, events.bodies(args.drain))
    print(f"  queued and split in {took:.1f} s")
    with app_server() as app:
        drained = drain(path, tmp, app, args.drain)
    rate, times, rss, cpu = drained.rate, drained.times, drained.rss, drained.cpu
    if len(times) < args.drain:
        report.failures.append(f"{store} drain: {len(times)}/{args.drain} delivered")
        print(f"  only {len(times):,}/{args.drain:,} delivered in time")
        return
    k = max(2, len(times) // 10)
    first = (k - 1) / (times[k - 1] - times[0])
    last = (k - 1) / (times[-1] - times[-k])
    print(f"  {rate:,.0f} bodies/s overall, relay CPU {cpu * 1e6:,.0f} us/body; first 10 % "
          f"{first:,.0f}/s, last 10 % {last:,.0f}/s")
    print(f"  relay CPU per body: first 10 % {drained.cpu_per_body(0, 0.1) * 1e6:,.0f} us, "
          f"last 10 % {drained.cpu_per_body(0.9, 1) * 1e6:,.0f} us (steadier than rates "
          "on a loaded machine)")
    print(f"  relay RSS: first {rss[0]:.0f} MB, max {max(rss):.0f} MB, last {rss[-1]:.0f} MB "
          f"({len(rss)} samples)")
    worse = max(first / last, last / first)
    report.target(f"[{store}] drain rate last vs first 10 % within {DRAIN_SPREAD_MAX:g}x",
                  worse <= DRAIN_SPREAD_MAX, f"{worse:.2f}x")


def phase_pg_vs_sqlite(dbs: dict[str, Callable[[str], str]], tmp: Path, events: Events,
                       args: Args, report: Report) -> None:
    print(f"\n4. delivery, PostgreSQL vs SQLite: drains of {args.pg_block:,} events, "
          f"{args.rounds} rounds, alternating")
    ratios = []
    with app_server() as app:
        for n in range(args.rounds):
            rates = {}
            for store in (("sqlite", "postgresql") if n % 2 == 0 else ("postgresql", "sqlite")):
                path = dbs[store](f"cmp{n}")
                fill(path, events.bodies(args.pg_block))
                drained = drain(path, tmp, app, args.pg_block)
                rate, times, cpu = drained.rate, drained.times, drained.cpu
                if len(times) < args.pg_block:
                    report.failures.append(f"{store} comparison drain: not all delivered")
                rates[store] = rate
                print(f"  round {n + 1} {store:<10} {rate:7,.0f} bodies/s, relay CPU "
                      f"{cpu * 1e6:5,.0f} us/body")
            ratios.append(rates["postgresql"] / rates["sqlite"])
    print(f"  ratio PostgreSQL/SQLite delivery rate {spread(ratios)}")
    report.target(f"PostgreSQL delivery >= {PG_RATIO_MIN:.0%} of SQLite",
                  statistics.median(ratios) >= PG_RATIO_MIN,
                  f"median {statistics.median(ratios):.2f}")


# -- main ---------------------------------------------------------------------------------------

@dataclass
class Args:
    rounds: int
    block: int
    backlog: int
    drain: int
    pg_block: int
    idle: float
    concurrency: int


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: small blocks, a 2,000-event backlog and drain")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--block", type=int, default=4000, help="events per ack block")
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--drain", type=int, default=100_000)
    parser.add_argument("--pg-block", type=int, default=5000)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle sampling")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--stores", default="sqlite,postgresql",
                        help="comma-separated: sqlite, postgresql")
    parser.add_argument("--phases", default="ack,backlog,drain,compare",
                        help="comma-separated subset of: ack, backlog, drain, compare")
    parser.add_argument("--db", help="a PostgreSQL server URL to use instead of a local one "
                        "(databases are created on it)")
    parser.add_argument("--serve-minimal", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-app", type=int, help=argparse.SUPPRESS)
    ns = parser.parse_args(argv)
    if ns.serve_minimal:
        serve_minimal(ns.serve_minimal)
        return 0
    if ns.serve_app:
        serve_app(ns.serve_app)
        return 0
    args = Args(max(3, ns.rounds), ns.block, ns.backlog, ns.drain, ns.pg_block, ns.idle,
                ns.concurrency)
    if ns.quick:
        args = Args(3, 300, 2000, 2000, 400, 2.0, ns.concurrency)
    stores = [s.strip() for s in ns.stores.split(",") if s.strip()]
    print(f"relay benchmark: {os.cpu_count()} CPUs, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}, {args.concurrency} connections, "
          f"{CONVERSATIONS} conversations")
    report = Report()
    events = Events()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        dbs: dict[str, Callable[[str], str]] = {}
        if "sqlite" in stores:
            dbs["sqlite"] = lambda name: str(tmp / f"{name}.db")
        if "postgresql" in stores:
            from _postgres import bindir, new_database, postgres_server

            if ns.db is None and bindir() is None:
                print("PostgreSQL server binaries not found: PostgreSQL skipped")
            else:
                server = ns.db or stack.enter_context(postgres_server())
                dbs["postgresql"] = lambda name: new_database(server, f"bench_{name}")
        phases = {p.strip() for p in ns.phases.split(",")}
        for store, db in dbs.items():
            if "ack" in phases:
                phase_ack(store, db, tmp, events, args, report)
            if "backlog" in phases:
                phase_backlog(store, db, tmp, events, args, report)
            if "drain" in phases:
                phase_drain(store, db, tmp, events, args, report)
        if len(dbs) == 2 and "compare" in phases:
            phase_pg_vs_sqlite(dbs, tmp, events, args, report)
    print(f"\ntargets (load average now {os.getloadavg()[0]:.2f}):")
    for line in report.targets:
        print(line)
    for failure in report.failures:
        print(f"  FAILED: {failure}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
