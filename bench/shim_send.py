"""Shim send vs the bare httpx transport, against the same loopback sandbox.

Baseline (the cheapest honest way to do the same work with httpx, as the
target pins it): the Cloud-shaped body is serialized into an ``httpx.Request``
and sent through a bare ``httpx.HTTPTransport`` (httpcore; no client layer: no
cookie jar, auth flow, hooks or redirect logic), then ``messages[0].id`` is
read from the parsed answer. The On-Prem -> Cloud translation of the body is
done outside the timed region. The constant parts of the request (the parsed
``httpx.URL`` and ``httpx.Headers``) are built once, as the shim builds them
once per channel: an earlier version parsed the URL string on every send,
which charged the baseline about 10 % more CPU than it needs and flattered the
shim's ratio.

Shim: ``Client.post("/v1/messages", json=<On-Prem body>)`` and the same read:
channel routing, translation both ways, pacing (channel rate and pair rate),
idempotency key, retries bookkeeping, sent through the shim's own transport,
``shim.client.http1_sync.HTTP1Transport`` (blocking sockets, httptools), not
httpcore. Because that transport is much cheaper than httpcore, the ratio
against the baseline says little about the shim's own layers, so a third side,
"own", sends the prebuilt request bare through ``HTTP1Transport`` exactly as
the baseline does through httpx: shim / own is the shim's own overhead.

Blocks of ``--block`` sends (default 200, four times the channel's 50-send
burst at 1,000 mps), so the shim's pacing really schedules and sleeps; the
three sides rotate, the order reversed every other round (ABC CBA), over
``--rounds`` rounds (at least 3). Reported per block: this process's CPU per
send (the target: shim <= 1.10x the baseline) and wall time (the shim's is
bounded below by the 1,000 mps pacing, by design, so its wall ratio is printed
but not judged). The sandbox runs in its own process, so its CPU is not
counted for any side. ``httpx.Client.post`` is printed as a reference only.

What it does not measure: TLS, network latency, the async client (see
``send_many.py``), retries (the sandbox answers every send), and several
threads sharing the pool. On a loaded machine the spread is wide: read
min/median/max, not one figure.
Run: ``python bench/shim_send.py [--quick]`` (exit 1 when the CPU ratio is
over target in a full run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _sandbox_proc import API_KEY, sandbox_process

from shim import Client
from shim.client.http1_sync import HTTP1Transport
from shim.config import parse_config
from shim.translate import translate_send_body

TARGET_CPU = 1.10

Body = dict[str, object]
Timing = tuple[float, float]  # (wall seconds, this process's CPU seconds)


def onprem_body(i: int) -> Body:
    return {
        "recipient_type": "individual",
        "to": str(4915100000000 + i),
        "type": "text",
        "text": {"body": f"Your parcel {i} has shipped"},
        "preview_url": False,
    }


def timed(send: Callable[[Body], str], bodies: list[Body]) -> Timing:
    start, cpu = time.perf_counter(), time.process_time()
    for body in bodies:
        if not send(body):
            raise RuntimeError("no message id")
    return time.perf_counter() - start, time.process_time() - cpu


def spread(values: list[float]) -> str:
    return f"min {min(values):.3f}  median {statistics.median(values):.3f}  max {max(values):.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small run for smoke tests")
    parser.add_argument("--block", type=int, default=0, help="sends per block (default 200)")
    parser.add_argument("--rounds", type=int, default=0, help="rounds (default 15; 3 quick)")
    args = parser.parse_args()
    block = args.block or (60 if args.quick else 200)
    rounds = max(3, args.rounds or (3 if args.quick else 15))
    os.environ["BENCH_D360_KEY"] = API_KEY
    with sandbox_process("360dialog") as base_url:
        config = parse_config({"channels": {"bench": {
            "phone_number": "+15550000001", "backend": "360dialog", "base_url": base_url,
            "api_key": "env:BENCH_D360_KEY", "mps": 1000}}})
        url = f"{base_url}/messages"
        headers = {"D360-API-KEY": API_KEY, "Content-Type": "application/json"}
        prebuilt_url, prebuilt_headers = httpx.URL(url), httpx.Headers(headers)
        extensions = {"timeout": httpx.Timeout(30).as_dict()}
        with httpx.Client(trust_env=False, timeout=30) as http, \
                httpx.HTTPTransport() as transport, HTTP1Transport() as own_transport, \
                Client(config) as client:

            def reference(body: Body) -> str:
                return str(http.post(url, json=body, headers=headers).json()["messages"][0]["id"])

            def bare(through: httpx.BaseTransport) -> Callable[[Body], str]:
                def send(body: Body) -> str:
                    request = httpx.Request(
                        "POST", prebuilt_url, headers=prebuilt_headers,
                        content=json.dumps(body, separators=(",", ":")).encode(),
                        extensions=extensions,
                    )
                    response = through.handle_request(request)
                    try:
                        response.read()
                    finally:
                        response.close()
                    return str(json.loads(response.content)["messages"][0]["id"])
                return send

            baseline, own = bare(transport), bare(own_transport)

            def shim(body: Body) -> str:
                return str(client.post("/v1/messages", json=body).json()["messages"][0]["id"])

            counter = [0]

            def bodies() -> list[Body]:
                first = counter[0]
                counter[0] += block
                return [onprem_body(first + i) for i in range(block)]

            def run(name: str) -> Timing:
                onprem = bodies()
                if name == "shim":
                    return timed(shim, onprem)
                cloud = [translate_send_body(b) for b in onprem]  # not timed
                return timed({"baseline": baseline, "own": own}.get(name, reference), cloud)

            sides = ["baseline", "shim", "own"]
            for name in (*sides, "reference"):  # warm pools and code paths
                run(name)
            times: dict[str, list[Timing]] = {name: [] for name in (*sides, "reference")}
            for r in range(rounds):
                for name in sides if r % 2 == 0 else sides[::-1]:
                    times[name].append(run(name))
            for _ in range(max(1, rounds // 5)):
                times["reference"].append(run("reference"))

    def per_send(name: str, i: int) -> float:
        return statistics.median(t[i] for t in times[name]) / block * 1e6

    def ratios(side: str, against: str, i: int) -> list[float]:
        return [a[i] / b[i] for a, b in zip(times[side], times[against], strict=True)]

    cpu, wall = ratios("shim", "baseline", 1), ratios("shim", "baseline", 0)
    print(f"{rounds} rounds x {block} sends per side, order reversed every round (ABC CBA); "
          f"channel at 1,000 mps (burst 50), so the shim's pacing schedules every block")
    labels = {"baseline": "bare httpx transport", "shim": "shim Client.post",
              "own": "bare shim HTTP1Transport", "reference": "httpx.Client.post (ref)"}
    for name, label in labels.items():
        print(f"{label:<25}: {per_send(name, 1):7.1f} us CPU/send, "
              f"{per_send(name, 0):7.1f} us wall/send (medians of blocks)")
    median_cpu = statistics.median(cpu)
    print(f"CPU ratio shim / bare transport:  {spread(cpu)}  target <= {TARGET_CPU:.2f}: "
          f"{'met' if median_cpu <= TARGET_CPU else 'MISSED'}")
    print(f"wall ratio shim / bare transport: {spread(wall)}  (paced at 1,000 mps; not judged)")
    print(f"CPU ratio shim / bare own transport (the shim's own layers): "
          f"{spread(ratios('shim', 'own', 1))}")
    print(f"CPU ratio own transport / bare httpx transport: {spread(ratios('own', 'baseline', 1))}")
    return 0 if median_cpu <= TARGET_CPU or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
