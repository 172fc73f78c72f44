"""Translator throughput against a plain JSON round-trip of the same documents.

Both sides parse and serialise every document, so the ratio is the translator's
own cost on top of the JSON work any proxy does anyway. Target: <= 2x for
requests (must not exceed 4x). The sides alternate in blocks of 2,500 documents
(ABBA, so neither always runs first), over at least 3 rounds; the ratio is this
process's CPU time per block, reported as min/median/max over blocks, with CPU
per document. What it does not measure: HTTP, the router around the translator
(see ``shim_send.py``), and documents other than the stored examples.
Run: ``python bench/translate.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shim.translate import translate_request, translate_webhook

EXAMPLES = Path(__file__).resolve().parent.parent / "tests" / "examples"


def _load(name: str) -> Any:
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def request_documents(n: int, rng: random.Random) -> list[str]:
    names = [p.stem for p in sorted(EXAMPLES.glob("onprem-send-*.json"))
             if "response" not in p.stem and p.stem != "onprem-send-video-id"]
    bodies = [_load(name) for name in names]
    docs = []
    for i in range(n):
        body = dict(rng.choice(bodies))
        body["to"] = str(4915100000000 + i)
        docs.append(json.dumps(body))
    return docs


def webhook_documents(n: int, rng: random.Random) -> list[str]:
    bodies = [_load(p.stem) for p in sorted(EXAMPLES.glob("cloud-webhook-*.json"))]
    return [json.dumps(rng.choice(bodies)) for _ in range(n)]


def timed(fn: Callable[[str], object], docs: list[str]) -> float:
    start = time.process_time()
    for doc in docs:
        fn(doc)
    return time.process_time() - start


def compare(fn: Callable[[str], object], docs: list[str], repeat: int,
            block: int = 2_500) -> tuple[float, float, list[float]]:
    """Alternate baseline and translator block by block (ABBA); per-block CPU ratios.

    Alternating keeps both sides under the same machine conditions (frequency,
    neighbours), so drift during the run cannot favour either side.
    """
    base_total = ours_total = 0.0
    ratios = []
    blocks = 0
    for _ in range(repeat):
        for i in range(0, len(docs), block):
            chunk = docs[i : i + block]
            if blocks % 2 == 0:
                base = timed(baseline, chunk)
                ours = timed(fn, chunk)
            else:
                ours = timed(fn, chunk)
                base = timed(baseline, chunk)
            blocks += 1
            base_total += base
            ours_total += ours
            ratios.append(ours / base)
    return base_total / repeat, ours_total / repeat, ratios


def baseline(doc: str) -> str:
    return json.dumps(json.loads(doc))


def translate_one_request(doc: str) -> str:
    result = translate_request("POST", "/v1/messages", json.loads(doc), target="360dialog")
    return json.dumps(result.body)


def translate_one_webhook(doc: str) -> str:
    result = translate_webhook(json.loads(doc))
    return json.dumps([item.body for item in result.bodies])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small run for smoke tests")
    args = parser.parse_args()
    n, repeat = (2_000, 3) if args.quick else (50_000, 3)
    rng = random.Random(7)
    requests = request_documents(n, rng)
    webhooks = webhook_documents(n, rng)
    rows = []
    for label, docs, fn in (("requests", requests, translate_one_request),
                            ("webhook items", webhooks, translate_one_webhook)):
        rows.append((label, *compare(fn, docs, repeat)))
    print(f"{'documents':<14} {'n':>7} {'json round-trip':>16} {'translate':>11}   "
          "CPU ratio per block (min / median / max)")
    for label, base, ours, ratios in rows:
        print(f"{label:<14} {n:>7} {base / n * 1e6:>10.2f} us/doc {ours / n * 1e6:>6.2f} us/doc"
              f"   {min(ratios):.2f}x / {statistics.median(ratios):.2f}x / {max(ratios):.2f}x")
    request_ratio = statistics.median(rows[0][3])
    print(f"requests target <= 2.00x (limit 4.00x): {'ok' if request_ratio <= 2 else 'MISSED'}")
    return 0 if request_ratio <= 4 else 1


if __name__ == "__main__":
    sys.exit(main())
