"""Shared state: its cost per send, and a two-gateway fleet held at the channel's rate.

Part 1, cost per send. Four ``Client`` s send the same keyed messages (each
claims its idempotency key before the send and records the answer after it;
the channel and pair limiters run over the same store) to loopback sandboxes:
the in-memory store (the baseline), a SQLite file, a PostgreSQL database on
loopback, and a floor: the in-memory store plus one autocommitted one-row
INSERT per send into a SQLite file (WAL, synchronous=NORMAL, as the SQLite
store), the least any SQLite store pays per send. Sends go round robin over
``--channels`` channels (one sandbox each) of 1,000 mps, so no side's
limiter makes it wait: a wait costs CPU (a sleep and a wake-up) that depends
on how close the machine's send rate comes to ``mps`` and on the limiter (the
shared one spaces sends evenly, the in-process one allows a burst), not on
the store; each side's pacing waits per send are printed to show it.
``--channels 1`` is the single-channel setting of earlier runs. Blocks of
``--block`` sends alternate between the sides (ABCD, DCBA, ...) over
``--rounds`` rounds (at least 3). Reported per side: this process's CPU per
send, wall per send, the time spent inside store calls per send (timed
around every call), and the statements and round trips the store made per
send, on the caller's path and behind it (the outcome writer), and the bytes
each side writes to files per send beyond the memory side (on Linux: SQLite's
WAL frames, one 4 KiB page each, and checkpoints). Targets:
SQLite CPU <= 1.2x memory; PostgreSQL adds <= 0.5 ms per send (the larger of
the wall difference and the store-call time difference, median over rounds).

Part 2, the fleet. Two ``waba-migrate serve`` processes share one PostgreSQL
store; 64 concurrent connections per gateway send for ``--seconds``. The
sandbox enforces the channel's ``mps`` itself (a bucket of one second of the
rate; sends beyond it answer 130429) and the gateways do not retry, so every
throttled send reaches a caller. Reported per round: the rate the sandbox
accepted in the steady part (first and last second left out) as a share of
``mps``, and throttling errors. Targets: >= 95 % of ``mps``, 0 throttling errors. For contrast, one
round runs with ``--state memory`` (each gateway paces alone) in a full run.

What it does not measure: the PostgreSQL server's own CPU (another process;
only its latency shows, in wall time), the sandboxes' CPU, pacing waits
(part 1 keeps every channel under its rate; part 2 is the pacing test), TLS,
a network between machines (add its round trip twice per keyed send),
contention from many more processes, random keys and recipients (part 1's
rise per channel, so one channel's claims fill one page of the SQLite file
after another; a random key is a page of its own), and a backend slower than
the loopback sandbox.

Run: ``python bench/fleet_state.py [--quick] [--timeline]`` (exit 1 when a target is
missed in a full run). ``--timeline`` prints, for every part-2 round, the sends the
sandbox accepted and each gateway's answers per half second: a round below the target
shows whether one gateway or both slowed, and when.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _sandbox_proc import API_KEY, control, sandbox_process

from shim import Client
from shim.client import RequestOptions
from shim.client.state import Claim, MemoryStateStore, SlotRequest, StateStore, open_state
from shim.config import parse_config
from tests.fleet.processes import GatewayProcess
from tests.pgserver import PostgresServer, _pg_bindir

TARGET_SQLITE_CPU = 1.2
TARGET_PG_ADDED_MS = 0.5
TARGET_SHARE = 0.95
CALLER_KEY = "bench-caller-key"

Timing = tuple[float, float, float, int]  # wall s, CPU s, store s, bytes written
COUNTS = ("statements", "round_trips", "behind_statements", "behind_round_trips")


class TimedStore:
    """A state store whose every call is timed (the time a send spends in the store)."""

    def __init__(self, inner: StateStore) -> None:
        self.inner = inner
        self.shared = inner.shared
        self.where = inner.where
        self.spent = 0.0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if not callable(method):
            return method

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.spent += time.perf_counter() - start

        return timed


def spread(values: list[float], fmt: str = ".3f") -> str:
    return (f"min {min(values):{fmt}}  median {statistics.median(values):{fmt}}  "
            f"max {max(values):{fmt}}")


@contextmanager
def postgres() -> Iterator[str]:
    if _pg_bindir() is None:
        raise SystemExit("PostgreSQL server binaries (initdb, pg_ctl) not found")
    server = PostgresServer(_pg_bindir())  # type: ignore[arg-type]
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def channel(base_url: str, mps: int, **extra: Any) -> dict[str, Any]:
    return {"phone_number": "+15550000001", "backend": "360dialog", "base_url": base_url,
            "api_key": "env:BENCH_D360_KEY", "legacy_api_key": "env:BENCH_CALLER_KEY",
            "mps": mps, **extra}


# -- part 1 ----------------------------------------------------------------------


class FloorStore(MemoryStateStore):
    """The in-memory store plus one autocommitted one-row INSERT per claim into a SQLite
    file (WAL, synchronous=NORMAL, as the SQLite store): the least a SQLite store pays."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute("CREATE TABLE floor (key TEXT PRIMARY KEY) WITHOUT ROWID")

    def claim(self, channel: str, key: str, owner: str, lease_s: float, now: float,
              pace: SlotRequest | None = None) -> Claim:
        self.conn.execute("INSERT INTO floor (key) VALUES (?)", (key,))
        return super().claim(channel, key, owner, lease_s, now, pace)

    def close(self) -> None:
        self.conn.close()


def count_waits(client: Client, waits: list[int]) -> None:
    """Count the channel limiters' answers that made a send wait (``waits[0]``)."""
    for name in client.router.config.channels:
        limiter = client.router.limiter(name)
        reserve = limiter.reserve

        def counted(reserve: Callable[[], float] = reserve) -> float:
            wait = reserve()
            waits[0] += wait > 0
            return wait

        limiter.reserve = counted  # type: ignore[method-assign]


def cost_per_send(base_urls: list[str], pg_url: str, block: int,
                  rounds: int) -> dict[str, Any]:
    """Part 1; one channel per sandbox in ``base_urls`` (a routing key selects one channel,
    and a sandbox takes one backend key)."""
    channels = len(base_urls)
    names_of = [f"bench{n}" for n in range(channels)]
    tables = {}
    for n, (name, url) in enumerate(zip(names_of, base_urls, strict=True)):
        os.environ[f"BENCH_D360_KEY_{n}"] = f"{API_KEY}-{n}"
        os.environ[f"BENCH_CALLER_KEY_{n}"] = f"{CALLER_KEY}-{n}"
        tables[name] = channel(url, 1000, phone_number=f"+1555000{n:04d}",
                               api_key=f"env:BENCH_D360_KEY_{n}",
                               legacy_api_key=f"env:BENCH_CALLER_KEY_{n}")
    config = parse_config({"channels": tables})
    tmp = tempfile.mkdtemp(prefix="waba-bench-state-")
    stores = {
        "memory": TimedStore(open_state("memory")),
        "floor": TimedStore(FloorStore(f"{tmp}/floor.db")),
        "sqlite": TimedStore(open_state(f"sqlite:///{tmp}/state.db")),
        "postgresql": TimedStore(open_state(pg_url)),
    }
    counter = [0]
    waits = {name: [0] for name in stores}
    with ExitStack() as stack:
        clients = {name: stack.enter_context(Client(config, state=store))  # type: ignore[arg-type]
                   for name, store in stores.items()}
        for name, client in clients.items():
            count_waits(client, waits[name])

        def run(name: str) -> Timing:
            client, store = clients[name], stores[name]
            first = counter[0]
            counter[0] += block
            spent = store.spent
            wrote = written()
            start, cpu = time.perf_counter(), time.process_time()
            for i in range(first, first + block):
                body = {"to": str(4915100000000 + i), "text": {"body": f"parcel {i}"}}
                response = client.post("/v1/messages", json=body, channel=names_of[i % channels],
                                       options=RequestOptions(idempotency_key=f"bench-{i}"))
                if response.status_code != 200:
                    raise RuntimeError(f"{name}: HTTP {response.status_code}: {response.text}")
            store.inner.flush()  # its queued writes are charged to this block, not the next
            return (time.perf_counter() - start, time.process_time() - cpu,
                    store.spent - spent, written() - wrote)

        for name in clients:  # warm up pools, prepared statements, code paths
            run(name)
        for store in stores.values():  # let warm-up outcomes land before counting
            store.inner.flush()
        before = {name: counts(store) for name, store in stores.items()}
        for found in waits.values():
            found[0] = 0
        times: dict[str, list[Timing]] = {name: [] for name in clients}
        names = list(clients)
        for r in range(rounds):
            for name in names if r % 2 == 0 else reversed(names):
                times[name].append(run(name))
        for store in stores.values():
            store.inner.flush()
        made = {name: [(b - a) / (rounds * block) for a, b in zip(before[name], counts(store),
                                                                  strict=True)]
                for name, store in stores.items()}
    for store in stores.values():
        store.inner.close()
    return {"times": times, "block": block, "counts": made, "channels": channels,
            "waits": {name: found[0] / (rounds * block) for name, found in waits.items()}}


def written() -> int:
    """Bytes this process handed to write() and pwrite() so far (0 where /proc lacks it):
    the SQLite files' WAL frames and checkpoints (socket sends do not count)."""
    try:
        with open("/proc/self/io") as io:
            return next(int(v) for k, _, v in (line.partition(": ") for line in io)
                        if k == "wchar")
    except (OSError, StopIteration, ValueError):
        return 0


def counts(store: TimedStore) -> list[int]:
    """The store's statement and round-trip counters (zeros for the in-memory store)."""
    found = getattr(store.inner, "counts", None)
    return [getattr(found, name, 0) for name in COUNTS]


def report_cost(result: dict[str, Any], rounds: int) -> bool:
    times, block = result["times"], result["block"]
    print(f"part 1: {rounds} rounds x {block} keyed sends per side, alternating (ABCD/DCBA); "
          f"round robin over {result['channels']} channel(s) of 1,000 mps")
    for name, rows in times.items():
        wall = statistics.median(t[0] for t in rows) / block * 1e3
        cpu = statistics.median(t[1] for t in rows) / block * 1e6
        store = statistics.median(t[2] for t in rows) / block * 1e3
        print(f"  {name:<10}: {cpu:7.1f} us CPU/send  {wall:6.3f} ms wall/send  "
              f"{store:6.3f} ms in store calls/send (medians of blocks), "
              f"{result['waits'][name]:.2f} pacing waits/send")
    mem_bytes = statistics.median(t[3] for t in times["memory"]) / block
    for name, rows in times.items():
        extra = statistics.median(t[3] for t in rows) / block - mem_bytes
        if name != "memory" and extra > 100:
            print(f"  {name:<10}: {extra / 1024:5.1f} KiB written per send beyond the memory "
                  f"side's (about {extra / 4120:.1f} WAL frames of a 4 KiB page)")
    for name, made in result["counts"].items():
        if any(made):
            print(f"  {name:<10}: per send {made[0]:.2f} statements in {made[1]:.2f} round trips "
                  f"on the caller's path, {made[2]:.2f} in {made[3]:.2f} behind it")
    mem = times["memory"]
    sqlite_cpu = [s[1] / m[1] for s, m in zip(times["sqlite"], mem, strict=True)]
    pg_cpu = [p[1] / m[1] for p, m in zip(times["postgresql"], mem, strict=True)]
    pg_wall = [(p[0] - m[0]) / block * 1e3 for p, m in zip(times["postgresql"], mem, strict=True)]
    pg_store = [(p[2] - m[2]) / block * 1e3
                for p, m in zip(times["postgresql"], mem, strict=True)]
    floor_cpu = [f[1] / m[1] for f, m in zip(times["floor"], mem, strict=True)]
    sqlite_ok = statistics.median(sqlite_cpu) <= TARGET_SQLITE_CPU
    added = max(statistics.median(pg_wall), statistics.median(pg_store))
    pg_ok = added <= TARGET_PG_ADDED_MS
    print(f"  CPU ratio sqlite / memory:     {spread(sqlite_cpu)}  target <= "
          f"{TARGET_SQLITE_CPU:.2f}: {'met' if sqlite_ok else 'MISSED'}")
    print(f"  CPU ratio floor / memory:      {spread(floor_cpu)}  (one autocommitted one-row "
          "INSERT per send)")
    print(f"  CPU ratio postgresql / memory: {spread(pg_cpu)}  (client process only)")
    print(f"  postgresql added wall ms/send: {spread(pg_wall)}")
    print(f"  postgresql added store ms/send: {spread(pg_store)}  target <= "
          f"{TARGET_PG_ADDED_MS:.1f} ms: {'met' if pg_ok else 'MISSED'}")
    return sqlite_ok and pg_ok


# -- part 2 ----------------------------------------------------------------------


async def load(urls: list[str], connections: int, seconds: float,
               answered: dict[str, list[float]] | None = None) -> dict[int | str, int]:
    """``connections`` senders per gateway for ``seconds``; answers counted by status
    (transport failures by their exception name). With ``answered``, the wall time of
    every answer is kept per gateway URL (for ``--timeline``)."""
    counts: dict[int | str, int] = {}
    stop = time.monotonic() + seconds
    seq = [0]

    async def sender(client: httpx.AsyncClient) -> None:
        while time.monotonic() < stop:
            seq[0] += 1
            body = {"to": str(4917000000000 + seq[0]), "text": {"body": "fleet"}}
            status: int | str
            try:
                response = await client.post("/v1/messages", json=body)
                status = response.status_code
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            counts[status] = counts.get(status, 0) + 1
            if answered is not None:
                answered.setdefault(str(client.base_url), []).append(time.time())

    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    clients = [httpx.AsyncClient(base_url=u, timeout=60, trust_env=False, limits=limits,
                                 headers={"D360-API-KEY": CALLER_KEY}) for u in urls]
    try:
        await asyncio.gather(*(sender(c) for c in clients for _ in range(connections)))
    finally:
        for c in clients:
            await c.aclose()
    return counts


def per_half_second(stamps: list[float], start: float) -> str:
    """Counts per half second from ``start``: where in a round a rate fell."""
    counts = [0] * (int((max(stamps) - start) * 2) + 1) if stamps else []
    for t in stamps:
        counts[int((t - start) * 2)] += 1
    return " ".join(str(n) for n in counts)


def fleet_round(base_url: str, config: Path, state: str, connections: int,
                seconds: float, mps: int,
                timeline: bool = False) -> tuple[float, int, dict[int | str, int]]:
    control(base_url, "POST", "/_sandbox/reset")
    control(base_url, "POST", "/_sandbox/config", {"throughput_mps": mps, "open_windows": True})
    env = {"BENCH_D360_KEY": API_KEY, "BENCH_CALLER_KEY": CALLER_KEY}
    gateways = [GatewayProcess(config, env, "--state", state) for _ in range(2)]
    try:
        for gateway in gateways:
            gateway.start()
        answered: dict[str, list[float]] = {}
        counts = asyncio.run(load([g.url for g in gateways], connections, seconds, answered))
    finally:
        for gateway in gateways:
            gateway.stop()
    outbox: Any = control(base_url, "GET", "/_sandbox/outbox")
    stamps = sorted(m["at"] for m in outbox)
    if timeline and stamps:
        print(f"    sandbox accepted per 0.5 s: {per_half_second(stamps, stamps[0])}")
        for n, times in enumerate(answered.values()):
            print(f"    gateway {n + 1} answered per 0.5 s: {per_half_second(times, stamps[0])}")
    start, end = stamps[0] + 1.0, stamps[-1] - 1.0
    steady = sum(1 for t in stamps if start <= t < end)
    rate = steady / (end - start) if end > start else 0.0
    throttled = counts.get(429, 0)
    return rate / mps, throttled, counts


def fleet(base_url: str, pg_url: str, rounds: int, seconds: float, mps: int,
          contrast: bool, timeline: bool = False) -> bool:
    tmp = Path(tempfile.mkdtemp(prefix="waba-bench-fleet-"))
    config = tmp / "fleet.toml"
    table = channel(base_url, mps)
    lines = ["[channels.bench]", *(f"{k} = {json.dumps(v)}" for k, v in table.items()),
             "[channels.bench.retry]", "max_attempts = 1"]
    config.write_text("\n".join(lines) + "\n")
    print(f"part 2: 2 gateways x 64 connections on one PostgreSQL state store, channel at "
          f"{mps} mps (the sandbox refuses more with 130429), {seconds:.0f} s per round")
    shares: list[float] = []
    errors = 0
    for r in range(rounds):
        share, throttled, counts = fleet_round(base_url, config, pg_url, 64, seconds, mps,
                                               timeline)
        shares.append(share)
        errors += throttled + sum(n for s, n in counts.items() if s not in (200, 429))
        print(f"  round {r + 1}: {share * 100:5.1f} % of mps accepted, {throttled} throttling "
              f"errors, answers {dict(sorted(counts.items(), key=str))}")
    ok = min(shares) >= TARGET_SHARE and errors == 0
    print(f"  share of mps: {spread([s * 100 for s in shares], '.1f')} %  target >= "
          f"{TARGET_SHARE * 100:.0f} % and 0 errors: {'met' if ok else 'MISSED'}")
    if contrast:
        share, throttled, counts = fleet_round(base_url, config, "memory", 64, seconds, mps,
                                               timeline)
        print(f"  contrast, --state memory (each gateway paces alone): {share * 100:5.1f} % "
              f"of mps accepted, {throttled} throttling errors")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small run for smoke tests")
    parser.add_argument("--block", type=int, default=0,
                        help="sends per block (default 1000: a block of 200 lasted about "
                             "0.15 s, short enough for one scheduler hiccup to move its "
                             "ratio by half)")
    parser.add_argument("--rounds", type=int, default=0, help="rounds (default 9; 3 quick)")
    parser.add_argument("--seconds", type=float, default=0, help="fleet round length (15 s)")
    parser.add_argument("--mps", type=int, default=0, help="fleet channel rate (default 200)")
    parser.add_argument("--channels", type=int, default=4,
                        help="part 1: channels the sends go round robin over (default 4)")
    parser.add_argument("--only", choices=["cost", "fleet"], help="run one part only")
    parser.add_argument("--timeline", action="store_true",
                        help="part 2: print the sandbox's accepted sends and each gateway's "
                             "answers per half second of every round")
    args = parser.parse_args()
    block = args.block or (40 if args.quick else 1000)
    rounds = max(3, args.rounds or (3 if args.quick else 9))
    seconds = args.seconds or (4.0 if args.quick else 15.0)
    mps = args.mps or (50 if args.quick else 200)
    os.environ["BENCH_D360_KEY"] = API_KEY
    os.environ["BENCH_CALLER_KEY"] = CALLER_KEY
    with sandbox_process("360dialog") as base_url, postgres() as pg_url, ExitStack() as more:
        cost_ok = fleet_ok = True
        if args.only != "fleet":
            urls = [more.enter_context(sandbox_process("360dialog", f"{API_KEY}-{n}"))
                    for n in range(max(1, args.channels))]
            cost_ok = report_cost(cost_per_send(urls, pg_url, block, rounds), rounds)
        if args.only != "cost":
            fleet_ok = fleet(base_url, pg_url, 3, seconds, mps, contrast=not args.quick,
                             timeline=args.timeline)
    print("note: measured on a shared, loaded machine; figures are noisy")
    return 0 if (cost_ok and fleet_ok) or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
