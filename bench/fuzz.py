"""Fuzz run: mutated WhatsApp payloads through the translators, the gateway and the relay.

What it does: starts from every example payload in ``tests/examples`` (On-Prem
sends, Cloud webhooks, Cloud responses) and mutates each copy a few times at
random places: a value becomes a value of another JSON type (a list where a
string was, ``["image"]`` for ``interactive.header.type``), a huge string, a
string with a lone surrogate or control characters, a deeply nested value,
null; keys are dropped or added. Each input goes through

* the translators in this process (``translate_request`` for sends and a few
  path-carrying calls, ``translate_webhook``, ``translate_response``);
* the gateway over loopback (uvicorn, a real socket), in front of a sandbox
  playing 360dialog Cloud: ``POST /v1/messages`` with the mutated body, and
  mutated path parameters (media ids, message ids, template names);
* the relay over loopback (uvicorn, SQLite store, signed POSTs), with a
  receiving app on loopback.

It counts, per stage, typed outcomes (``TranslationError``, or a 2xx/4xx
answer), exceptions of any other type (translators) or 5xx answers and
dropped connections (servers), and calls slower than 1 s ("hangs"). The run
passes when both of the latter are 0. The seed is printed; ``--seed`` repeats
a run.

What it does NOT measure: speed (the timings are for the hang check only), the
content of the translations (the property tests check that), or inputs that
are not JSON documents at all (the servers' malformed-JSON tests do). Relay
inputs are only acknowledged or refused here; their delivery is the relay
tests' subject. On a loaded machine a call can exceed 1 s for reasons of its
own; such calls are listed so they can be looked at.

Run: ``python bench/fuzz.py [--quick] [--seed N]``. Default 100,000 translator
inputs, 5,000 gateway calls and 5,000 relay POSTs; ``--quick`` runs a small
fraction (used by the smoke test).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import hmac
import json
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from shim.translate import (  # noqa: E402
    TranslationError,
    translate_request,
    translate_response,
    translate_webhook,
)

EXAMPLES = ROOT / "tests" / "examples"
HANG_S = 1.0
DEEP = 200  # nesting depth of a "deep" mutation (past the readers' limit of 64)

Json = Any


def load_corpus() -> dict[str, list[Json]]:
    """Seed documents by kind: On-Prem sends, Cloud webhooks, Cloud responses."""
    corpus: dict[str, list[Json]] = {"send": [], "webhook": [], "response": []}
    for path in sorted(EXAMPLES.glob("*.json")):
        name = path.stem
        doc = json.loads(path.read_text(encoding="utf-8"))
        if name.startswith(("onprem-send-", "cloud-send-")) and "response" not in name:
            corpus["send"].append(doc)
        elif name.startswith("cloud-webhook-"):
            corpus["webhook"].append(doc)
        elif name.startswith(("cloud-", "d360-")) and not name.startswith("cloud-send-"):
            corpus["response"].append(doc)
    return corpus


# -- mutations -------------------------------------------------------------------

_WORDS = ["image", "text", "interactive", "button", "document", "id", "link", "type", "body"]


def random_value(rng: random.Random, depth: int = 0) -> Json:
    """Any JSON value, hostile ones over-represented."""
    pick = rng.randrange(16)
    if pick == 0:
        return None
    if pick == 1:
        return rng.choice([True, False])
    if pick == 2:
        return rng.choice([0, -1, 1, 2**63, -(2**70), 10**12])
    if pick == 3:
        return rng.choice([0.5, -1e308, 1e308, 3.0])
    if pick == 4:
        return rng.choice(_WORDS)
    if pick == 5:
        return "x" * rng.choice([10_000, 200_000])  # huge string
    if pick == 6:
        return rng.choice(["\ud800", "a\udfffb", "\udc80\ud800"])  # lone surrogates
    if pick == 7:
        return rng.choice(["\x00", "a\nb", "\x7f", "../..", "a/b?c#d", "%2e%2e%2f", "..%2F"])
    if pick == 8:
        return [rng.choice(_WORDS)]  # a list where a string was (["image"])
    if pick == 9:
        return {}
    if pick == 10:
        return []
    if pick == 11:
        value: Json = "deep"
        for _ in range(DEEP):
            value = [value] if rng.random() < 0.5 else {"a": value}
        return value
    if pick == 12 and depth < 3:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if pick == 13 and depth < 3:
        return {rng.choice(_WORDS): random_value(rng, depth + 1) for _ in range(rng.randrange(4))}
    if pick == 14:
        return rng.choice(["", " ", "4915112345678", "+1", "wamid.HBgL+/=="])
    return rng.randrange(-5, 5)


def _slots(doc: Json, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in ``doc`` (as a path of keys/indices), the root included."""
    yield path
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _slots(value, (*path, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            yield from _slots(value, (*path, index))


def mutate(doc: Json, rng: random.Random, rounds: int = 3) -> Json:
    """A copy of ``doc`` with 1..rounds random changes."""
    doc = copy.deepcopy(doc)
    for _ in range(rng.randint(1, rounds)):
        slots = list(_slots(doc))
        path = rng.choice(slots)
        if not path:
            if rng.random() < 0.05:
                doc = random_value(rng)
            continue
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        action = rng.random()
        if action < 0.7:
            parent[last] = random_value(rng)
        elif action < 0.85 and isinstance(parent, dict):
            del parent[last]
        elif isinstance(parent, dict):
            parent[rng.choice(_WORDS)] = random_value(rng)
        else:
            parent.append(random_value(rng))
    return doc


# -- stages ----------------------------------------------------------------------


class Tally:
    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0
        self.outcomes: Counter[str] = Counter()
        self.failures: list[str] = []
        self.hangs: list[str] = []

    def record(self, outcome: str, elapsed: float, what: Callable[[], str]) -> None:
        self.count += 1
        self.outcomes[outcome] += 1
        if elapsed > HANG_S:
            self.hangs.append(f"{elapsed:.2f}s {what()[:300]}")

    def fail(self, detail: str, elapsed: float) -> None:
        self.count += 1
        self.outcomes["FAILURE"] += 1
        self.failures.append(detail[:500])
        if elapsed > HANG_S:
            self.hangs.append(f"{elapsed:.2f}s {detail[:300]}")

    def report(self) -> str:
        top = ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items(), key=lambda i: -i[1]))
        return (f"{self.name}: {self.count} inputs; other exceptions/5xx: {len(self.failures)}; "
                f"hangs > {HANG_S:.0f}s: {len(self.hangs)}  [{top}]")


_PATH_CALLS = [
    ("GET", "/v1/media/{}"), ("DELETE", "/v1/media/{}"), ("PUT", "/v1/messages/{}"),
    ("DELETE", "/v1/configs/templates/{}"),
]


def _path_value(rng: random.Random) -> str:
    value = random_value(rng)
    # Long enough to matter, short enough for a URL (clients refuse 64 KB URLs themselves).
    return (value if isinstance(value, str) else json.dumps(value))[:1000]


def translator_inputs(corpus: dict[str, list[Json]], rng: random.Random) -> Iterator[
        tuple[str, Callable[[], object], Callable[[], str]]]:
    """Endless (stage label, call, description) triples for the translators."""
    targets = ("360dialog", "meta")
    while True:
        kind = rng.choice(["send", "send", "webhook", "webhook", "response", "path"])
        target = rng.choice(targets)
        if kind == "send":
            body = mutate(rng.choice(corpus["send"]), rng)
            yield ("send", lambda b=body, t=target: translate_request(
                "POST", "/v1/messages", b, target=t, phone_number_id="1", waba_id="2"),
                lambda b=body: _short(b))
        elif kind == "webhook":
            body = mutate(rng.choice(corpus["webhook"]), rng)
            yield ("webhook", lambda b=body: translate_webhook(b), lambda b=body: _short(b))
        elif kind == "response":
            body = mutate(rng.choice(corpus["response"]), rng)
            status = rng.choice([200, 400, 401, 404, 429, 500])
            path = rng.choice(["/v1/messages", "/v1/media/1", "/v1/health", "/v1/configs/templates",
                               "/v1/settings/profile/about", "/v1/media"])
            method = "POST" if path in ("/v1/messages", "/v1/media") else "GET"
            yield ("response", lambda b=body, s=status, p=path, m=method, t=target:
                   translate_response(m, p, s, b, target=t), lambda b=body: _short(b))
        else:
            method, template = rng.choice(_PATH_CALLS)
            path = template.format(_path_value(rng))
            body = {"status": "read"} if method == "PUT" else None
            yield ("path", lambda m=method, p=path, b=body, t=target: translate_request(
                m, p, b, target=t, phone_number_id="1", waba_id="2"), lambda p=path: repr(p))


def _where(exc: BaseException) -> str:
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/shim/" in f.filename] or frames
    last = ours[-1]
    return f"{Path(last.filename).name}:{last.lineno}"


def _short(value: Json) -> str:
    try:
        return json.dumps(value, ensure_ascii=True)[:300]
    except (ValueError, TypeError, RecursionError):
        return repr(value)[:300]


def run_translators(n: int, corpus: dict[str, list[Json]], rng: random.Random) -> Tally:
    tally = Tally("translators")
    source = translator_inputs(corpus, rng)
    for _ in range(n):
        label, call, what = next(source)
        started = time.perf_counter()
        try:
            call()
        except TranslationError:
            tally.record(f"{label}:TranslationError", time.perf_counter() - started, what)
        except Exception as exc:  # the defect this run looks for
            tally.fail(f"{label}: {type(exc).__name__}: {exc} at {_where(exc)} <- {what()}",
                       time.perf_counter() - started)
        else:
            tally.record(f"{label}:ok", time.perf_counter() - started, what)
    return tally


def _encode(value: Json) -> bytes:
    # Lone surrogates travel as JSON escapes (what a hostile sender writes on the wire).
    return json.dumps(value, ensure_ascii=True).encode()


def run_gateway(n: int, corpus: dict[str, list[Json]], rng: random.Random) -> Tally:
    """Mutated sends and path parameters through a gateway in front of a sandbox."""
    import httpx

    from shim.config import parse_config
    from shim.gateway import create_app
    from shim.sandbox import running_sandbox
    from shim.sandbox.runner import running_asgi

    tally = Tally("gateway")
    env = {"FUZZ_D360": "fuzz-d360-key", "FUZZ_LEGACY": "fuzz-legacy-key"}
    with running_sandbox("360dialog", api_key=env["FUZZ_D360"], open_windows=True) as sb:
        config = parse_config({"channels": {"main": {
            "phone_number": "+15550000001", "backend": "360dialog", "base_url": sb.base_url,
            "api_key": "env:FUZZ_D360", "legacy_api_key": "env:FUZZ_LEGACY", "mps": 1000,
            "retry": {"max_attempts": 1}, "timeouts": {"read": 5.0},
        }}})
        app = create_app(config, environ=env)
        with running_asgi(app) as url, httpx.Client(
            base_url=url, headers={"D360-API-KEY": env["FUZZ_LEGACY"]}, timeout=10.0,
            trust_env=False,
        ) as http:
            for i in range(n):
                if i % 4 == 3:
                    method, template = rng.choice(_PATH_CALLS)
                    raw = _path_value(rng)
                    target = template.format(_quote_some(raw, rng))
                    content = b'{"status": "read"}' if method == "PUT" else None
                    what = f"{method} {target!r}"
                else:
                    method, target = "POST", "/v1/messages"
                    body = mutate(rng.choice(corpus["send"]), rng)
                    if isinstance(body, dict) and "to" in body:
                        body["to"] = str(10**10 + i)  # one recipient each: no pair pacing
                    content = _encode(body)
                    what = content[:300].decode("ascii", "replace")
                _send(tally, http, method, target, content, what)
                if i % 200 == 199:
                    sb.reset()
    return tally


def _quote_some(raw: str, rng: random.Random) -> str:
    """Some path values percent-encoded (as a careful client would), some raw."""
    from urllib.parse import quote

    # Surrogates travel as the bytes a careless encoder writes for them (surrogatepass).
    if rng.random() < 0.5:
        return quote(raw, safe="", errors="surrogatepass")
    return "".join(
        c if c.isascii() and c.isprintable() and c not in " #?"
        else quote(c, safe="", errors="surrogatepass")
        for c in raw
    )


def _send(tally: Tally, http: Any, method: str, target: str, content: bytes | None,
          what: str, headers: dict[str, str] | None = None) -> None:
    import httpx

    started = time.perf_counter()
    try:
        response = http.request(method, target, content=content,
                                headers={"Content-Type": "application/json", **(headers or {})})
    except httpx.HTTPError as exc:
        tally.fail(f"{type(exc).__name__}: {exc} <- {what}", time.perf_counter() - started)
        return
    elapsed = time.perf_counter() - started
    if response.status_code >= 500:
        tally.fail(f"HTTP {response.status_code} {response.text[:200]} <- {what}", elapsed)
    else:
        tally.record(str(response.status_code), elapsed, lambda: what)


def run_relay(n: int, corpus: dict[str, list[Json]], rng: random.Random) -> Tally:
    """Signed, mutated webhook POSTs to a relay process (``waba-migrate relay``, SQLite)."""
    import os
    import socket
    import subprocess

    import httpx

    from shim.sandbox.runner import running_asgi

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    tally = Tally("relay")
    secret = "fuzz-app-secret"
    env = {**os.environ, "FUZZ_D360": "k", "FUZZ_SECRET": secret}
    with tempfile.TemporaryDirectory() as tmp, running_asgi(app) as hook:
        config = Path(tmp) / "relay.toml"
        config.write_text(f"""
[channels.main]
phone_number = "+15550000001"
backend = "360dialog"
api_key = "env:FUZZ_D360"
phone_number_id = "1000000001"
app_secret = "env:FUZZ_SECRET"
forward_url = "{hook}/hook"
""", encoding="utf-8")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        cli = Path(sys.executable).with_name("waba-migrate")
        command = [str(cli)] if cli.exists() else [sys.executable, "-m", "shim.cli"]
        proc = subprocess.Popen(
            [*command, "relay", "--config", str(config), "--db", f"{tmp}/relay.db",
             "--port", str(port), "--log-level", "error", "--backoff-base", "0.05s"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=url, timeout=10.0, trust_env=False) as http:
                _wait_listening(http, proc)
                for _ in range(n):
                    body = mutate(rng.choice(corpus["webhook"]), rng)
                    content = _encode(body)
                    signature = "sha256=" + hmac.new(secret.encode(), content,
                                                     hashlib.sha256).hexdigest()
                    _send(tally, http, "POST", "/webhooks/main", content,
                          content[:300].decode("ascii", "replace"),
                          {"X-Hub-Signature-256": signature})
                health = http.get("/healthz")
                if health.status_code >= 500:
                    tally.fail(f"/healthz answered {health.status_code} after the run", 0.0)
        finally:
            proc.terminate()
            proc.wait(10)
    return tally


def _wait_listening(http: Any, proc: Any) -> None:
    import httpx

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the relay exited at start")
        try:
            http.get("/healthz")
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("the relay did not start listening")


def main(argv: list[str] | None = None) -> int:
    import logging

    # Servers log refusals and failures; the tally below reports them instead.
    logging.disable(logging.CRITICAL)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small run (smoke test)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--translators", type=int, default=100_000)
    parser.add_argument("--gateway", type=int, default=5_000)
    parser.add_argument("--relay", type=int, default=5_000)
    args = parser.parse_args(argv)
    if args.quick:
        args.translators, args.gateway, args.relay = 2_000, 100, 100
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    corpus = load_corpus()
    print(f"fuzz: seed {seed}; seeds: {', '.join(f'{k} {len(v)}' for k, v in corpus.items())}")
    tallies = []
    for name, count, runner in (("translators", args.translators, run_translators),
                                ("gateway", args.gateway, run_gateway),
                                ("relay", args.relay, run_relay)):
        if count <= 0:
            continue
        started = time.perf_counter()
        tally = runner(count, corpus, random.Random(f"{seed}-{name}"))
        print(f"{tally.report()} ({time.perf_counter() - started:.1f}s)")
        # One example per place of failure, then the hangs.
        seen: dict[str, str] = {}
        for line in tally.failures:
            seen.setdefault(line.partition(" <- ")[0].rpartition(" at ")[2], line)
        for line in [*list(seen.values())[:20], *tally.hangs[:10]]:
            print(f"    {line}")
        tallies.append(tally)
    total = sum(t.count for t in tallies)
    failures = sum(len(t.failures) for t in tallies)
    hangs = sum(len(t.hangs) for t in tallies)
    print(f"total: {total} inputs, {failures} untyped exceptions/5xx, {hangs} hangs > {HANG_S}s")
    return 0 if failures == 0 and hangs == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
