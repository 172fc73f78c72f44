"""``waba-migrate scan`` against parsing every file with libcst and with ``ast``, on a real tree.

The tree: N Python files copied from the packages installed next to this
interpreter (its site-packages, without waba-migrate itself and without installed
On-Prem client SDKs such as wabclient, whose findings are real; files over 2 MB,
which scan skips, and files that do not parse are left out; when N is larger
than what is installed, files are copied again into further directories). A
share of them (``--seeded``, default 5 %) get an On-Prem caller appended, so a
seeded file is as large as real code: one caller per pattern of the caller
survey, and the five self-hosted/Turn styles that carry no WhatsApp word at all
(``f"{base}/v1/messages"`` with Bearer and an On-Prem body, ``"%s/v1/messages" %
host``, an ``endpoint = "/v1/messages"`` class attribute joined with ``urljoin``,
an httpx async ``/v1/media`` upload with Bearer, ``PUT {base}/v1/messages/{id}``
with ``{"status": "read"}``).

Each side is a fresh process, so interpreter start-up and imports count, and
each uses the same number of worker processes (``--jobs``, default 2):

* scan:   ``python -m shim.cli scan --format json -j J TREE``;
* libcst: this script's ``--parse-all libcst`` mode: walk the tree, read and
  ``libcst.parse_module`` every ``.py`` file in a pool of J processes;
* ast:    the same with ``ast.parse``.

``--rounds`` (default 3) rounds; the order of the sides rotates every round.
Printed per side: min/median/max seconds; then the ratios of the medians
(targets: libcst/scan >= 10, ast/scan >= 1). Then the peak memory of one scan
of a tree of ``--rss-files`` files (default 10,000; target < 150 MB): the
largest single process (``ru_maxrss`` of the scan and its workers) and the sum
over the scan's process tree, sampled from /proc every 20 ms. Then recall per
caller style (every seeded file must have a finding) and the third-party files
with findings (there should be none). Exit status 1 when recall is below 100 %
or a file fails.

Not measured: ``rewrite`` (only ``scan``); a cold page cache (every side reads
files the generator has just written); trees with more candidates (scan
``ast``-parses every candidate, then libcst-parses only the top-level
statements a rule can look at, see ``codemods.focus``; a candidate whose rule
words are spread over most of its statements is parsed whole, at about 1.6
libcst parses, so the ratios shrink as the share of such bytes grows, and the
libcst tree of the biggest one, about 500 bytes per source byte, sets the peak
memory: a candidate that keeps 200 kB of code takes about 100 MB more than a
worker's start of about 55 MB; big tables no longer count, a file of 200 kB or
more being read by ``ast`` a piece at a time); the peak of a run where both
workers take such a file at once (the summed figure is one run's sample);
other machines (more cores favour neither side: both use J workers).
A loaded machine makes every figure noisy; the alternation spreads the noise
over both sides but does not remove it.

    python bench/codemods_scan.py [--files N] [--seeded SHARE] [--rounds R] [--jobs J]
                                  [--rss-files N] [--quick] [--seed S] [--keep DIR]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

MAX_SIZE = 2_000_000
OWN = ("shim", "codemods", "waba_migrate", "__editable__")
#: Installed packages that are themselves On-Prem API clients (the test extra
#: brings wabclient, a real On-Prem SDK): their findings are true ones, so they
#: cannot stand in for unrelated third-party code.
ONPREM_CLIENTS = ("wabclient",)

# --- On-Prem callers appended to seeded files (our own text, one per pattern) -------------

CLASSIC = [
    '''import requests

GATEWAY = "https://waba.360dialog.io/v1/messages"


def notify_{n}(key, to, text):
    hdrs = {{"D360-API-KEY": key, "Content-Type": "application/json"}}
    return requests.post(GATEWAY, headers=hdrs, json={{"to": to, "type": "text",
                                                     "text": {{"body": text}}}})
''',
    '''import json
import requests
from urllib.parse import urljoin
from django.conf import settings


def send_template_{n}(wa_id, tpl, params):
    msg = {{"to": wa_id, "type": "template",
           "template": {{"namespace": settings.WA_NAMESPACE, "name": tpl,
                        "language": {{"policy": "deterministic", "code": "en"}},
                        "components": [{{"type": "body", "parameters": params}}]}}}}
    auth = {{"Authorization": f"Bearer {{settings.WA_TOKEN}}"}}
    return requests.post(urljoin(settings.WA_BASE, "v1/messages"), headers=auth,
                         data=json.dumps(msg))
''',
    '''import requests


class Bsp{n}:
    def __init__(self, key, base="https://waba.360dialog.io"):
        self.base = base.rstrip("/")
        self.http = requests.Session()
        self.http.headers.update({{"D360-Api-Key": key}})

    def send_text(self, to, text):
        return self.http.post(f"{{self.base}}/v1/messages",
                              json={{"to": to, "type": "text", "text": {{"body": text}}}})

    def mark_read(self, message_id):
        return self.http.put(f"{{self.base}}/v1/messages/{{message_id}}", json={{"status": "read"}})
''',
    '''from urllib.parse import urljoin


def resolve_{n}(s, root, msisdn):
    r = s.post(urljoin(root, "/v1/contacts"), json={{"blocking": "wait", "contacts": [msisdn]}})
    return r.json()["contacts"][0].get("wa_id")


def push_hsm_{n}(s, root, wa_id, ns, element, values):
    msg = {{"to": wa_id, "type": "hsm", "hsm": {{"namespace": ns, "element_name": element,
           "language": {{"policy": "fallback", "code": "en"}},
           "localizable_params": [{{"default": v}} for v in values]}}}}
    return s.post(urljoin(root, "/v1/messages"), json=msg)
''',
    '''from flask import Flask, request

app = Flask(__name__)


@app.route("/hook{n}", methods=["POST"])
def hook_{n}():
    if "statuses" in request.json:
        for status in request.json["statuses"]:
            track(status["id"], status["status"])
        return "ok"
    for message in request.json.get("messages", []):
        answer(message["from"], message["text"]["body"])
    return "ok"
''',
    '''import json

from django.http import HttpResponse


def whatsapp_view_{n}(request):
    data = json.loads(request.body)
    wa_id = data["contacts"][0]["wa_id"]
    handle(wa_id, data["messages"][0])
    return HttpResponse("ok")
''',
    '''import aiohttp

BASE = "https://waba.360dialog.io"


async def send_{n}(token, to, text):
    async with aiohttp.ClientSession(headers={{"D360-API-KEY": token}}) as session:
        async with session.post(BASE + "/v1/messages", json={{
                "to": to, "type": "text", "preview_url": True, "text": {{"body": text}}}}) as r:
            return await r.json()
''',
    '''import httpx

WA_API = "https://waba.360dialog.io/v1"


async def upload_{n}(key, data, mime):
    async with httpx.AsyncClient() as client:
        r = await client.post(f"{{WA_API}}/media", content=data,
                              headers={{"D360-API-KEY": key, "Content-Type": mime}})
        return r.json()["media"][0]["id"]
''',
    '''import requests

HOST = "https://waba.360dialog.io"


class Settings{n}:
    _endpoint = "/v1/settings/application"

    def set_hook(self, token, url):
        return requests.patch("%s%s" % (HOST, self._endpoint), json={{"webhooks": {{"url": url}}}},
                              headers={{"Authorization": "Bearer " + token}})
''',
    '''import requests

NODE = "https://waba.360dialog.io"


def login_{n}(user, pw):
    r = requests.post("{{}}/v1/users/login".format(NODE), auth=(user, pw))
    return r.json()["users"][0]["token"]
''',
]

#: Self-hosted and Turn-hosted callers with no WhatsApp word (issue 12, class 12).
INVISIBLE = [
    '''

class NodeSender{n}:
    def __init__(self, base, token):
        self.base = base
        self.token = token

    def send_text(self, to, text):
        import requests

        return requests.post(f"{{self.base}}/v1/messages",
                             headers={{"Authorization": f"Bearer {{self.token}}"}},
                             json={{"recipient_type": "individual", "to": to, "type": "text",
                                   "text": {{"body": text}}}})
''',
    '''

def node_send_{n}(host, token, to, text):
    import requests

    url = "%s/v1/messages" % host
    body = {{"to": to, "type": "text", "text": {{"body": text}}}}
    return requests.post(url, json=body, headers={{"Authorization": "Bearer " + token}})
''',
    '''

class MessageCommand{n}:
    endpoint = "/v1/messages"

    def __init__(self, node_url, token):
        self.node_url = node_url
        self.token = token

    def run(self, to, text):
        import requests
        from urllib.parse import urljoin

        return requests.post(urljoin(self.node_url, self.endpoint),
                             headers={{"Authorization": f"Bearer {{self.token}}"}},
                             json={{"to": to, "type": "text", "text": {{"body": text}}}})
''',
    '''

async def node_upload_{n}(base, token, data, mime):
    import httpx

    async with httpx.AsyncClient() as client:
        hdrs = {{"Authorization": f"Bearer {{token}}", "Content-Type": mime}}
        r = await client.post(f"{{base}}/v1/media", content=data, headers=hdrs)
        return r.json()["media"][0]["id"]
''',
    '''

def node_mark_read_{n}(base, token, message_id):
    import requests

    return requests.put(f"{{base}}/v1/messages/{{message_id}}", json={{"status": "read"}},
                        headers={{"Authorization": f"Bearer {{token}}"}})
''',
]
STYLES = [f"classic-{i}" for i in range(len(CLASSIC))] + [
    "invisible-fstring-bearer", "invisible-percent", "invisible-class-attr-urljoin",
    "invisible-httpx-media", "invisible-put-read"]
CALLERS = CLASSIC + INVISIBLE


# --- the tree ------------------------------------------------------------------------------


def installed_sources() -> list[Path]:
    """Parsable ``.py`` files of the installed packages, without our own, below 2 MB."""
    root = Path(sysconfig.get_paths()["purelib"])
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        if rel.parts and rel.parts[0].startswith((*OWN, *ONPREM_CLIENTS)):
            dirnames[:] = []
            continue
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in filenames:
            if not name.endswith(".py") or name.startswith(OWN):
                continue
            path = Path(dirpath) / name
            try:
                data = path.read_bytes()
                if len(data) > MAX_SIZE:
                    continue
                ast.parse(data)
            except (OSError, SyntaxError, ValueError):
                continue
            out.append(path)
    return sorted(out)


def generate(tree: Path, files: int, share: float, seed: int,
             sources: list[Path]) -> dict[str, str]:
    """Write the tree; the seeded files (path relative to ``tree``) and their caller style."""
    rng = random.Random(seed)
    purelib = Path(sysconfig.get_paths()["purelib"])
    seeded_at = set(rng.sample(range(files), max(len(CALLERS), round(files * share))))
    seeded: dict[str, str] = {}
    order = list(range(len(sources)))
    rng.shuffle(order)
    for i in range(files):
        src = sources[order[i % len(order)]]
        rel = Path(f"copy{i // len(order)}") / src.relative_to(purelib)
        dest = tree / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        data = src.read_bytes()
        if i in seeded_at:
            style = len(seeded) % len(CALLERS)
            data += b"\n" + CALLERS[style].format(n=len(seeded)).encode()
            seeded[rel.as_posix()] = STYLES[style]
        dest.write_bytes(data)
    return seeded


# --- the baselines (run as this script's child processes) -----------------------------------


def _parse_one(args: tuple[str, str]) -> int:
    path, parser = args
    data = Path(path).read_bytes()
    if parser == "ast":
        ast.parse(data)
    else:
        import libcst

        libcst.parse_module(data)
    return len(data)


def parse_all(tree: str, parser: str, jobs: int) -> None:
    paths = [os.path.join(d, f) for d, _, names in os.walk(tree) for f in names
             if f.endswith(".py")]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        total = sum(pool.map(_parse_one, [(p, parser) for p in paths], chunksize=16))
    print(f"parsed {len(paths)} files, {total} bytes")


# --- measuring ------------------------------------------------------------------------------


def _tree_rss_kib(pid: int) -> int:
    """Memory of ``pid`` and all its descendants, from /proc (0 when gone).

    Proportional set size: a page the forked workers share with the main
    process counts once in the sum, not once per process as RSS would.
    """
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/smaps_rollup") as fh:
                total += next((int(line.split()[1]) for line in fh if line.startswith("Pss:")), 0)
            with open(f"/proc/{p}/task/{p}/children") as fh:
                todo.extend(int(c) for c in fh.read().split())
        except (OSError, ValueError):
            continue
    return total


def run_side(cmd: list[str]) -> tuple[float, str, int]:
    """Wall seconds, stdout, and the peak summed RSS (KiB) of the process tree."""
    peak = 0
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, _tree_rss_kib(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    elapsed = time.perf_counter() - start
    done.set()
    sampler.join()
    if proc.returncode not in (0, 2):
        raise SystemExit(f"{cmd[:4]} failed ({proc.returncode}): {err[-2000:]}")
    return elapsed, out, peak


def largest_process_kib(cmd: list[str]) -> int:
    """``ru_maxrss`` of the largest process ``cmd`` and its workers reach (own child)."""
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], "
             "stdout=subprocess.DEVNULL, check=False); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe, *cmd], capture_output=True, text=True,
                         check=True)
    return int(out.stdout.strip())


def spread(values: list[float]) -> str:
    return (f"min {min(values):7.2f}  median {statistics.median(values):7.2f}  "
            f"max {max(values):7.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--seeded", type=float, default=0.05, help="share of seeded files")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rss-files", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--quick", action="store_true",
                        help="120 files, 1 round, 240 for memory (smoke test)")
    parser.add_argument("--keep", metavar="DIR", help="write the tree here and keep it")
    parser.add_argument("--parse-all", choices=["libcst", "ast"], help=argparse.SUPPRESS)
    parser.add_argument("tree", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.parse_all:
        parse_all(args.tree, args.parse_all, args.jobs)
        return 0
    if args.quick:
        args.files, args.rounds, args.rss_files = 120, 1, 240
    sources = installed_sources()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="waba-scan-bench-"))
    try:
        return _bench(args, sources, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def _bench(args: argparse.Namespace, sources: list[Path], work: Path) -> int:
    tree = work / "tree"
    seeded = generate(tree, args.files, args.seeded, args.seed, sources)
    py = sys.executable
    sides: dict[str, list[str]] = {
        "scan": [py, "-m", "shim.cli", "scan", "--format", "json", "-j", str(args.jobs),
                 str(tree)],
        "libcst": [py, __file__, "--parse-all", "libcst", "--jobs", str(args.jobs), str(tree)],
        "ast": [py, __file__, "--parse-all", "ast", "--jobs", str(args.jobs), str(tree)],
    }
    times: dict[str, list[float]] = {name: [] for name in sides}
    scan_out = ""
    names = list(sides)
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            elapsed, out, _ = run_side(sides[name])
            times[name].append(elapsed)
            if name == "scan":
                scan_out = out
    doc = json.loads(scan_out)
    errors = [f for f in doc["files"] if "error" in f]
    hit = {Path(f["path"]).resolve() for f in doc["files"] if f["findings"]}
    found = {rel for rel in seeded if (tree / rel).resolve() in hit}
    stray = sorted(str(p) for p in hit - {(tree / rel).resolve() for rel in seeded})
    from codemods.prefilter import may_match

    candidates = [p for p in tree.rglob("*.py") if may_match(p.read_bytes())]
    all_bytes = sum(p.stat().st_size for p in tree.rglob("*.py"))
    cand_bytes = sum(p.stat().st_size for p in candidates)

    rss_tree = work / "rss"
    generate(rss_tree, args.rss_files, args.seeded, args.seed + 1, sources)
    rss_cmd = [*sides["scan"][:-1], str(rss_tree)]
    largest = largest_process_kib(rss_cmd)
    _, _, summed = run_side(rss_cmd)

    print(f"tree: {args.files} files, {all_bytes / 1e6:.1f} MB copied from "
          f"{len(sources)} installed files; {len(seeded)} seeded "
          f"({len(seeded) / args.files:.1%}); prefilter candidates {len(candidates)} "
          f"({len(candidates) / args.files:.1%} of files, {cand_bytes / all_bytes:.1%} of bytes)")
    print(f"{args.rounds} rounds, sides alternated, {args.jobs} worker processes each, "
          "start-up included (seconds):")
    for name, label in (("scan", "waba-migrate scan"), ("libcst", "libcst parse of every file"),
                        ("ast", "ast.parse of every file")):
        print(f"  {label:28} {spread(times[name])}")
    med = {name: statistics.median(v) for name, v in times.items()}
    print(f"ratio libcst/scan: {med['libcst'] / med['scan']:.1f}x (target >= 10x)")
    print(f"ratio ast/scan: {med['ast'] / med['scan']:.2f}x (target >= 1x)")
    print(f"peak memory, scan of {args.rss_files} files: largest process "
          f"{largest / 1024:.0f} MB, whole process tree {summed / 1024:.0f} MB (PSS) "
          "(target < 150 MB)")
    by_style = Counter(seeded.values())
    found_by_style = Counter(seeded[rel] for rel in found)
    for style in STYLES:
        print(f"  recall {style:30} {found_by_style[style]}/{by_style[style]}")
    recall = len(found) / len(seeded)
    print(f"recall: {recall:.0%} ({len(found)}/{len(seeded)} seeded files found)")
    print(f"findings in unrelated files: {len(stray)}" + "".join(f"\n  {s}" for s in stray[:10]))
    print(f"errors: {len(errors)}" + "".join(f"\n  {e['path']}: {e['error']}"
                                           for e in errors[:10]))
    return 0 if recall == 1.0 and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
