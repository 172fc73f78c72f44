"""Shim send vs raw httpx, against the same loopback sandbox (360dialog Cloud surface).

Baseline (the target's reference): an ``httpx.Client`` posting the
already-Cloud-shaped body to ``/messages`` and reading ``messages[0].id``.
Shim: ``Client.post("/v1/messages", json=<On-Prem body>)`` (channel routing,
translation, pacing, idempotency key, response translation) and the same read.
A second reference, a bare ``httpx.HTTPTransport`` sending a prebuilt request,
is printed for transparency: the shim sends through the transport too (it needs
no cookie jar, auth flow or hooks), so that ratio isolates the shim's own work.

All three run sequentially in the same run, in short alternating blocks; the
median of the per-block ratios is reported (robust against a noisy machine),
with totals and this process's CPU time per send next to it.
Target <= 1.05x, must not exceed 1.25x (against the ``httpx.Client`` baseline).
Run: ``python bench/shim_send.py [--quick]`` (exit 1 when over the limit; the
quick smoke run only reports).
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
from shim.config import parse_config
from shim.translate import translate_send_body

TARGET, LIMIT = 1.05, 1.25

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
        assert send(body)
    return time.perf_counter() - start, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small run for smoke tests")
    args = parser.parse_args()
    block, blocks = (20, 10) if args.quick else (50, 80)
    os.environ["BENCH_D360_KEY"] = API_KEY
    with sandbox_process("360dialog") as base_url:
        config = parse_config({"channels": {"bench": {
            "phone_number": "+15550000001", "backend": "360dialog", "base_url": base_url,
            "api_key": "env:BENCH_D360_KEY", "mps": 1000}}})
        url = f"{base_url}/messages"
        headers = {"D360-API-KEY": API_KEY}
        extensions = {"timeout": httpx.Timeout(30).as_dict()}
        with httpx.Client(trust_env=False, timeout=30) as http, \
                httpx.HTTPTransport() as transport, Client(config) as client:

            def raw_client(body: Body) -> str:
                return str(http.post(url, json=body, headers=headers).json()["messages"][0]["id"])

            def raw_transport(body: Body) -> str:
                request = httpx.Request(
                    "POST", url, headers={**headers, "Content-Type": "application/json"},
                    content=json.dumps(body, separators=(",", ":")).encode(),
                    extensions=extensions,
                )
                response = transport.handle_request(request)
                response.read()
                return str(response.json()["messages"][0]["id"])

            def shim(body: Body) -> str:
                return str(client.post("/v1/messages", json=body).json()["messages"][0]["id"])

            sides = {"client": raw_client, "transport": raw_transport}
            warm = [onprem_body(i) for i in range(30)]
            for fn in sides.values():
                timed(fn, [translate_send_body(b) for b in warm])
            timed(shim, warm)
            times: dict[str, list[Timing]] = {"client": [], "transport": [], "shim": []}
            for k in range(blocks):
                first = 1_000 + k * block
                onprem = [onprem_body(first + i) for i in range(block)]
                cloud = [translate_send_body(b) for b in onprem]  # Cloud-shaped up front
                order = ["client", "transport", "shim"]
                for name in order[k % 3 :] + order[: k % 3]:  # rotate who goes first
                    if name == "shim":
                        times[name].append(timed(shim, onprem))
                    else:
                        times[name].append(timed(sides[name], cloud))
    n = block * blocks

    def total(name: str, i: int) -> float:
        return sum(t[i] for t in times[name])

    def ratio(base: str) -> float:
        return statistics.median(
            s[0] / r[0] for s, r in zip(times["shim"], times[base], strict=True)
        )

    print(f"sends per side: {n} in {blocks} alternating blocks of {block}")
    labels = {"client": "raw httpx.Client.post", "transport": "raw httpx transport",
              "shim": "shim Client.post"}
    for name, label in labels.items():
        print(f"{label:<22}: {total(name, 0):7.3f}s  {total(name, 0) / n * 1e6:7.1f} us/send "
              f"wall, {total(name, 1) / n * 1e6:7.1f} us/send client CPU")
    main_ratio = ratio("client")
    print(f"ratio shim / httpx.Client: {main_ratio:.3f}x wall (median of blocks), "
          f"{total('shim', 1) / total('client', 1):.3f}x CPU")
    print(f"ratio shim / httpx transport: {ratio('transport'):.3f}x wall, "
          f"{total('shim', 1) / total('transport', 1):.3f}x CPU (the shim's own work)")
    verdict = "ok" if main_ratio <= TARGET else (
        "within limit" if main_ratio <= LIMIT else "OVER LIMIT")
    print(f"target <= {TARGET}x, limit {LIMIT}x: {verdict}")
    # Quick mode is a smoke run (too short to judge speed): it never fails on the ratio.
    return 0 if main_ratio <= LIMIT or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
