"""Shim send vs raw httpx, against the same loopback sandbox (360dialog Cloud surface).

Baseline: an ``httpx.Client`` posting the already-Cloud-shaped body to
``/messages`` and reading ``messages[0].id``. Shim: ``Client.post("/v1/messages",
json=<On-Prem body>)`` (translation, routing, pacing, idempotency key, response
translation) and the same read. Both are sequential, on the same machine, in
the same run, in short alternating blocks; the median of the per-block ratios
is reported (robust against a noisy machine), with the totals next to it.
Target <= 1.05x, must not exceed 1.25x.
Run: ``python bench/shim_send.py [--quick]`` (exit 1 when over the limit; the
quick smoke run only reports). Client CPU time per send is printed too: on a
busy machine it shows the shim's own cost better than wall time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _sandbox_proc import API_KEY, sandbox_process

from shim import Client
from shim.config import parse_config
from shim.translate import translate_send_body

TARGET, LIMIT = 1.05, 1.25


def onprem_body(i: int) -> dict[str, object]:
    return {
        "recipient_type": "individual",
        "to": str(4915100000000 + i),
        "type": "text",
        "text": {"body": f"Your parcel {i} has shipped"},
        "preview_url": False,
    }


Timing = tuple[float, float]  # (wall seconds, this process's CPU seconds)


def run_raw(http: httpx.Client, url: str, bodies: list[dict[str, object]]) -> Timing:
    headers = {"D360-API-KEY": API_KEY}
    start, cpu = time.perf_counter(), time.process_time()
    for body in bodies:
        response = http.post(url, json=body, headers=headers)
        assert response.json()["messages"][0]["id"]
    return time.perf_counter() - start, time.process_time() - cpu


def run_shim(client: Client, bodies: list[dict[str, object]]) -> Timing:
    start, cpu = time.perf_counter(), time.process_time()
    for body in bodies:
        response = client.post("/v1/messages", json=body)
        assert response.json()["messages"][0]["id"]
    return time.perf_counter() - start, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small run for smoke tests")
    args = parser.parse_args()
    # Short alternating blocks: machine noise hits both sides alike; the median
    # of the per-block ratios is robust to a noisy neighbour.
    block, blocks = (20, 10) if args.quick else (50, 80)
    os.environ["BENCH_D360_KEY"] = API_KEY
    with sandbox_process("360dialog") as base_url:
        config = parse_config(
            {
                "channels": {
                    "bench": {
                        "phone_number": "+15550000001",
                        "backend": "360dialog",
                        "base_url": base_url,
                        "api_key": "env:BENCH_D360_KEY",
                        "mps": 1000,
                    }
                }
            }
        )
        url = f"{base_url}/messages"
        with httpx.Client(trust_env=False, timeout=30) as http, Client(config) as client:
            warm = [onprem_body(i) for i in range(50)]
            run_raw(http, url, [translate_send_body(b) for b in warm])
            run_shim(client, warm)
            raw_times, shim_times = [], []
            for k in range(blocks):
                first = 1_000 + k * block
                onprem = [onprem_body(first + i) for i in range(block)]
                cloud = [translate_send_body(b) for b in onprem]  # Cloud-shaped up front
                if k % 2:
                    shim_times.append(run_shim(client, onprem))
                    raw_times.append(run_raw(http, url, cloud))
                else:
                    raw_times.append(run_raw(http, url, cloud))
                    shim_times.append(run_shim(client, onprem))
    n = block * blocks
    ratio = statistics.median(s[0] / r[0] for s, r in zip(shim_times, raw_times, strict=True))
    raw, shim = sum(t[0] for t in raw_times), sum(t[0] for t in shim_times)
    raw_cpu, shim_cpu = sum(t[1] for t in raw_times), sum(t[1] for t in shim_times)
    print(f"sends per side: {n} in {blocks} alternating blocks of {block}")
    print(
        f"raw httpx (Cloud body) : {raw:.3f}s  {raw / n * 1e6:7.1f} us/send wall, "
        f"{raw_cpu / n * 1e6:6.1f} us/send client CPU"
    )
    print(
        f"shim Client.post       : {shim:.3f}s  {shim / n * 1e6:7.1f} us/send wall, "
        f"{shim_cpu / n * 1e6:6.1f} us/send client CPU"
    )
    verdict = "ok" if ratio <= TARGET else ("within limit" if ratio <= LIMIT else "OVER LIMIT")
    print(
        f"ratio shim/raw: {ratio:.3f}x wall (median of blocks; totals {shim / raw:.3f}x), "
        f"{shim_cpu / raw_cpu:.3f}x client CPU"
    )
    print(f"target <= {TARGET}x, limit {LIMIT}x: {verdict}")
    # Quick mode is a smoke run (too short to judge speed): it never fails on the ratio.
    return 0 if ratio <= LIMIT or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
