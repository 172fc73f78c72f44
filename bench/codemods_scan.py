"""``waba-migrate scan`` against parsing every file with libcst, on one generated tree.

Generates N Python files (default 3,000) in a temp dir; 2 % of them call the
On-Prem API in the ways real code does (full URLs, base + path, f-strings,
urljoin, settings bases, class attributes, hsm builders, read receipts,
contact checks, webhook views), the rest are ordinary modules, a few of which
talk to other ``/v1/`` APIs or mention HTTP ``statuses`` so that the prefilter
lets them through and the rules must stay quiet. Then, in the same run:

* baseline: read + ``libcst.parse_module`` every file, one process;
* scan: the runner (walk, read, byte prefilter, rules on the candidates in a
  process pool), as ``waba-migrate scan`` runs it.

Prints both times, the ratio (target >= 10x), recall (every seeded file must
have a finding) and the number of findings in unrelated files (must be 0).
Exit status 1 when recall or precision is off. ``--quick`` uses 150 files.

    python bench/codemods_scan.py [--files N] [--quick] [--seed S] [--jobs J]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import libcst as cst

from codemods.engine import Options
from codemods.runner import run

ONPREM_SHARE = 0.02

# --- On-Prem callers: one template per pattern of the caller survey -----------------

SEEDED = [
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

# --- unrelated modules ---------------------------------------------------------------

FILLER = [
    '''

def mean_{n}(values):
    """Arithmetic mean; empty input gives 0."""
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def clamp_{n}(x, lo, hi):
    return max(lo, min(hi, x))
''',
    '''

class Cache{n}:
    """A tiny LRU cache."""

    def __init__(self, size=128):
        self.size = size
        self.data = {{}}
        self.order = []

    def get(self, key, default=None):
        if key in self.data:
            self.order.remove(key)
            self.order.append(key)
            return self.data[key]
        return default

    def put(self, key, value):
        if key in self.data:
            self.order.remove(key)
        elif len(self.order) >= self.size:
            del self.data[self.order.pop(0)]
        self.data[key] = value
        self.order.append(key)
''',
    '''

def parse_row_{n}(line, sep=","):
    fields = [f.strip() for f in line.split(sep)]
    return {{"id": int(fields[0]), "name": fields[1], "tags": fields[2:]}}


def render_{n}(rows):
    out = []
    for row in rows:
        out.append(f"{{row['id']:>5}} {{row['name']:<20}} {{', '.join(row['tags'])}}")
    return "\\n".join(out)
''',
    '''

def send_mail_{n}(mailer, address, kind):
    message = {{"to": address, "type": kind, "subject": "Hello", "body": "..."}}
    if kind == "welcome":
        message["template"] = "welcome.html"
    return mailer.deliver(message)
''',
    '''

def retry_{n}(fn, attempts=3, delay=0.1):
    import time

    for i in range(attempts):
        try:
            return fn()
        except OSError:
            if i == attempts - 1:
                raise
            time.sleep(delay * 2 ** i)
    return None
''',
]
OTHER_APIS = [
    '''
import requests


def list_users_{n}(base, token):
    r = requests.get(base + "/v1/users", headers={{"Authorization": f"Bearer {{token}}"}})
    return r.json()["data"]


def charge_{n}(key, amount):
    return requests.post("https://api.stripe.com/v1/charges", auth=(key, ""),
                         data={{"amount": amount, "currency": "eur"}})
''',
    '''
from flask import request


def report_{n}():
    body = request.get_json()
    statuses = {{code: name for code, name in body.get("statuses", [])}}
    return {{"messages": len(body.get("messages", [])), "statuses": statuses}}
''',
]


def _unrelated(rng: random.Random, n: int, other_api: bool) -> str:
    parts = [f'"""Module {n}: helpers."""\n\nimport os\nimport logging\n\nlog = logging.getLogger('
             '__name__)\n']
    if other_api:
        parts.append(rng.choice(OTHER_APIS).format(n=n))
    for i in range(rng.randint(4, 9)):
        parts.append(rng.choice(FILLER).format(n=f"{n}_{i}"))
    return "".join(parts)


def _seeded(rng: random.Random, n: int) -> str:
    body = SEEDED[n % len(SEEDED)].format(n=n)
    filler = "".join(rng.choice(FILLER).format(n=f"{n}_{i}") for i in range(rng.randint(2, 6)))
    return body + filler


def generate(root: Path, files: int, seed: int) -> set[Path]:
    rng = random.Random(seed)
    seeded_count = max(1, round(files * ONPREM_SHARE))
    seeded_at = set(rng.sample(range(files), seeded_count))
    seeded: set[Path] = set()
    for i in range(files):
        path = root / f"pkg{i % 37:02d}" / f"mod_{i:05d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        if i in seeded_at:
            path.write_text(_seeded(rng, len(seeded)))
            seeded.add(path.resolve())
        else:
            path.write_text(_unrelated(rng, i, other_api=rng.random() < 0.02))
    return seeded


def parse_all(root: Path) -> float:
    start = time.perf_counter()
    for path in sorted(root.rglob("*.py")):
        cst.parse_module(path.read_bytes())
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--quick", action="store_true", help="150 files (smoke test)")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--jobs", type=int, default=None)
    args = parser.parse_args(argv)
    files = 150 if args.quick else args.files
    with tempfile.TemporaryDirectory(prefix="waba-migrate-bench-") as tmp:
        root = Path(tmp)
        seeded = generate(root, files, args.seed)
        cst.parse_module(b"x = 1\n")  # warm the parser before timing either side
        baseline = parse_all(root)
        start = time.perf_counter()
        result = run([str(root)], Options(), jobs=args.jobs)
        scan = time.perf_counter() - start
        hit = {fr.path.resolve() for fr in result.files if fr.outcome.findings}
        candidates = sum(1 for fr in result.files if fr.candidate)
        errors = [fr for fr in result.files if fr.outcome.error is not None]
    recall = len(hit & seeded) / len(seeded)
    false_hits = len(hit - seeded)
    print(f"files: {files} ({len(seeded)} call the On-Prem API), prefilter candidates: "
          f"{candidates}")
    print(f"parse every file with libcst (1 process): {baseline:8.3f} s")
    print(f"waba-migrate scan (prefilter + pool):     {scan:8.3f} s")
    print(f"ratio: {baseline / scan:.1f}x (target >= 10x)")
    print(f"recall: {recall:.0%} ({len(hit & seeded)}/{len(seeded)} seeded files found)")
    print(f"findings in unrelated files: {false_hits}")
    print(f"errors: {len(errors)}")
    ok = recall == 1.0 and false_hits == 0 and not errors
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
