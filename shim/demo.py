"""``waba-migrate demo``: the whole migration, offline, in a few seconds.

Every step calls the real library over loopback: two sandboxes (360dialog
Cloud and Meta Graph), the shim client routing two channels to them from a
config file, the webhook adapter turning a Cloud webhook into On-Prem bodies,
the 24 h window error coming back as On-Prem 470, and the codemods rewriting
the bundled On-Prem bot. Nothing is canned: what is printed is what the
parts returned. No account, no network, no environment variables: secrets for
the demo's own config are handed to the client in-process.
"""

from __future__ import annotations

import json
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.rule import Rule
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from shim.client import Client, ShimError, ShimResponse
from shim.config import Config, ConfigError, load_config
from shim.sandbox import RunningSandbox, SandboxStartError, running_asgi, running_sandbox
from shim.translate.types import OnPremWebhook
from shim.webhooks import OnPremWebhookApp, WebhookAuth

__all__ = [
    "CUSTOMER",
    "STRANGER",
    "DemoError",
    "DemoReport",
    "compact_json",
    "find_example_dir",
    "run_demo",
]

CUSTOMER: Final = "4915112345678"
SUPPORT_CUSTOMER: Final = "4917612345678"
STRANGER: Final = "4915100000000"  # never wrote in: outside the 24 h window
SECRET_HEADER: Final = "X-Webhook-Secret"
TEMPLATE: Final[Mapping[str, Any]] = {
    "name": "parcel_shipped",
    "language": "en",
    "category": "UTILITY",
    "components": [{"type": "BODY", "text": "Hi {{1}}, your parcel {{2}} is on its way."}],
}
_WAIT_S: Final = 10.0


class DemoError(RuntimeError):
    """A step did not do what it should; the message says which and why."""


@dataclass
class DemoReport:
    """What the run showed, step by step (also what the tests check)."""

    channels: dict[str, str] = field(default_factory=dict)  # name -> backend
    sent: dict[str, str] = field(default_factory=dict)  # channel -> message id
    onprem_webhooks: list[dict[str, Any]] = field(default_factory=list)
    window_error: dict[str, Any] | None = None
    diff_files: list[str] = field(default_factory=list)
    manual_items: int = 0
    example_dir: Path | None = None
    seconds: float = 0.0


# -- output helpers ---------------------------------------------------------------


def compact_json(data: Any, width: int = 72, indent: int = 0, lead: int = 0) -> str:
    """JSON that inlines every object or array that fits on its line (short demo output).

    ``indent`` is the current nesting, ``lead`` what precedes the value on its
    line (a key); the result carries no leading indentation.
    """
    flat = json.dumps(data, ensure_ascii=False)
    if indent + lead + len(flat) <= width or not isinstance(data, dict | list) or not data:
        return flat
    pad = " " * (indent + 2)
    if isinstance(data, dict):
        items = []
        for key, value in data.items():
            head = f"{json.dumps(key, ensure_ascii=False)}: "
            items.append(pad + head + compact_json(value, width, indent + 2, len(head)))
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    items = [pad + compact_json(v, width, indent + 2) for v in data]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"


def _json(data: Any, width: int = 72) -> Syntax:
    return Syntax(compact_json(data, width), "json", word_wrap=True, background_color="default")


def _json_width(console: Console, side_by_side: bool = True) -> int:
    """Room for JSON inside a panel: half the terminal when two panels fit next to each other."""
    if side_by_side and console.width >= 140:
        return console.width // 2 - 8
    return max(40, min(console.width, 120) - 6)


def _panel(body: RenderableType, title: str) -> Panel:
    return Panel(body, title=title, title_align="left", border_style="dim", expand=True)


def _side_by_side(console: Console, *panels: Panel) -> RenderableType:
    """Panels next to each other on a wide terminal, one under the other otherwise."""
    if console.width < 140:
        return Group(*panels)
    grid = Table.grid(expand=True, padding=(0, 1))
    for _ in panels:
        grid.add_column(ratio=1)
    grid.add_row(*panels)
    return grid


def _step(console: Console, number: int, title: str, why: str) -> None:
    console.print()
    console.print(Rule(f"[bold]{number}. {title}", align="left"))
    console.print(Text(why, style="dim"))


def _short(message_id: str, keep: int = 18) -> str:
    return message_id if len(message_id) <= keep + 3 else message_id[:keep] + "..."


# -- the webhook receiver (an existing On-Prem handler) -----------------------------


class _Inbox:
    """What the On-Prem-style handler received, with a wait for the next bodies."""

    def __init__(self) -> None:
        self.items: list[OnPremWebhook] = []
        self._cond = threading.Condition()

    def handle(self, item: OnPremWebhook) -> None:
        with self._cond:
            self.items.append(item)
            self._cond.notify_all()

    def wait_for(self, check: Callable[[list[OnPremWebhook]], bool], what: str) -> None:
        deadline = time.monotonic() + _WAIT_S
        with self._cond:
            while not check(self.items):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DemoError(f"timed out waiting for {what}")
                self._cond.wait(left)

    def bodies_with(self, key: str) -> list[dict[str, Any]]:
        with self._cond:
            return [i.body for i in self.items if key in i.body]


# -- the run --------------------------------------------------------------------------


@dataclass
class _World:
    console: Console
    d360: RunningSandbox
    meta: RunningSandbox
    hook_url: str
    hook_secret: str
    inbox: _Inbox
    workdir: Path
    report: DemoReport
    client: Client | None = None


def find_example_dir(explicit: Path | None = None) -> Path | None:
    """``examples/legacy_bot``: given, under the working directory, or beside the package."""
    if explicit is not None:
        return explicit if explicit.is_dir() else None
    for base in (Path.cwd(), Path(__file__).resolve().parent.parent):
        candidate = base / "examples" / "legacy_bot"
        if candidate.is_dir():
            return candidate
    return None


def run_demo(console: Console | None = None, *, example_dir: Path | None = None) -> DemoReport:
    """Run every step; raises :class:`DemoError` when one does not do what it should."""
    console = console or Console()
    started = time.monotonic()
    report = DemoReport(example_dir=find_example_dir(example_dir))
    console.print(Rule("[bold]waba-migrate demo"))
    console.print(
        "Offline, no account: a local sandbox plays 360dialog Cloud and Meta's Graph API; "
        "your On-Premise code's calls go through the shim to both."
    )
    try:
        with _world(console, report) as world:
            _config(world)
            _webhook(world)
            _send_d360(world)
            _send_meta(world)
            _window(world)
            _statuses(world)
        _rewrite(console, report)
    except (ShimError, SandboxStartError, ConfigError, OSError) as exc:
        # A part of the product misbehaved: name it instead of a traceback.
        raise DemoError(f"{type(exc).__name__}: {exc}") from exc
    report.seconds = time.monotonic() - started
    _closing(console, report)
    return report


@contextmanager
def _world(console: Console, report: DemoReport) -> Iterator[_World]:
    inbox = _Inbox()
    secret = secrets.token_urlsafe(16)
    auth = WebhookAuth.build(secret_header=SECRET_HEADER, header_secrets=secret)
    with ExitStack() as stack:
        d360 = stack.enter_context(running_sandbox("360dialog", seed=7))
        meta = stack.enter_context(running_sandbox("meta", seed=7))
        hook = stack.enter_context(running_asgi(OnPremWebhookApp(inbox.handle, auth)))
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="waba-demo-")))
        world = _World(console, d360, meta, f"{hook}/whatsapp/webhook", secret, inbox,
                       workdir, report)
        console.print(
            f"  360dialog Cloud sandbox  {d360.base_url}\n"
            f"  Meta Graph sandbox       {meta.base_url}\n"
            f"  your webhook handler     {world.hook_url}"
        )
        try:
            yield world
        finally:
            if world.client is not None:
                world.client.close()


def _config_text(world: _World) -> str:
    d360, meta = world.d360, world.meta
    return f"""\
# One table per WhatsApp number; secrets only as env: references.
[channels.shop]
phone_number = "+4930123456"
backend = "360dialog"         # onprem | 360dialog | meta: the line to switch
api_key = "env:SHOP_D360_KEY"
base_url = "{d360.base_url}"  # the sandbox (default: waba-v2)

[channels.support]
phone_number = "+4930654321"
backend = "meta"
phone_number_id = "{meta.phone_number_id}"
waba_id = "{meta.waba_id}"
access_token = "env:SUPPORT_META_TOKEN"
base_url = "{meta.base_url}"  # the sandbox (default: Graph)
"""


def _config(world: _World) -> None:
    console = world.console
    _step(console, 1, "Config: two numbers, two backends",
          "Each channel names its backend; switching one is a one-line edit.")
    path = world.workdir / "waba-migrate.toml"
    path.write_text(_config_text(world), encoding="utf-8")
    config: Config = load_config(path)
    # The demo's own secrets, handed over in-process (no environment variables set).
    environ = {"SHOP_D360_KEY": world.d360.api_key, "SUPPORT_META_TOKEN": world.meta.access_token}
    world.client = Client(config, environ=environ)
    console.print(Syntax(path.read_text(encoding="utf-8"), "toml", word_wrap=True,
                         background_color="default"))
    table = Table(box=None, pad_edge=False)
    for column in ("channel", "backend", "calls go to", "auth"):
        table.add_column(column, style="bold" if column == "channel" else None)
    for name, channel in config.channels.items():
        auth = "Authorization: Bearer" if channel.backend.value == "meta" else "D360-API-KEY"
        table.add_row(name, channel.backend.value, channel.resolved_base_url, auth)
        world.report.channels[name] = channel.backend.value
    console.print(table)


def _client(world: _World) -> Client:
    if world.client is None:
        raise DemoError("the client was not created")
    return world.client


def _expect(response: ShimResponse, status: int, what: str) -> Any:
    body = response.json() if response.content else None
    if response.status_code != status:
        raise DemoError(f"{what}: expected HTTP {status}, got {response.status_code}: {body}")
    return body


def _webhook(world: _World) -> None:
    console, client, d360 = world.console, _client(world), world.d360
    _step(console, 2, "A customer writes in: Cloud webhook -> On-Premise body",
          "The webhook is set through the shim (On-Prem POST /v1/configs/webhook) with a "
          "shared-secret header; the handler behind OnPremWebhookApp gets flat On-Prem bodies.")
    client.set_webhook(world.hook_url, {SECRET_HEADER: world.hook_secret}, channel="shop")
    current = _expect(client.get("/v1/configs/webhook", channel="shop"), 200, "GET webhook")
    console.print(f"  GET /v1/configs/webhook via the shim -> {json.dumps(current)}")
    d360.inbound(CUSTOMER, "Hi, where is my parcel?", name="Anna")
    world.inbox.wait_for(lambda items: any("messages" in i.body for i in items),
                         "the inbound message on the webhook")
    cloud = next(
        (d["payload"] for d in d360.deliveries() if _has_messages(d["payload"])), None
    )
    body = world.inbox.bodies_with("messages")[0]
    world.report.onprem_webhooks.append(body)
    width = _json_width(console)
    console.print(_side_by_side(
        console,
        _panel(_json(cloud, width), "what 360dialog Cloud POSTed (batched entry/changes)"),
        _panel(_json(body, width), "what your On-Prem handler received"),
    ))


def _has_messages(payload: Any) -> bool:
    if not isinstance(payload, dict):
        return False
    return any(
        "messages" in change.get("value", {})
        for entry in payload.get("entry", [])
        for change in entry.get("changes", [])
    )


def _show_send(world: _World, sandbox: RunningSandbox, request: Mapping[str, Any],
               response: ShimResponse, backend: str) -> None:
    body = _expect(response, 200, f"send through {backend}")
    message_id = body["messages"][0]["id"]
    sent = next((m["body"] for m in sandbox.outbox() if m["id"] == message_id), None)
    if sent is None:
        raise DemoError(f"{backend} sandbox has no message {message_id}")
    width = _json_width(world.console)
    world.console.print(_side_by_side(
        world.console,
        _panel(_json(request, width), "your code sends (On-Premise v1)"),
        _panel(_json(sent, width), f"what {backend} received"),
    ))
    world.console.print(_panel(_json(body, _json_width(world.console, side_by_side=False)),
                               f"what your code gets back (HTTP {response.status_code})"))
    for warning in response.warnings:
        world.console.print(
            f"  [yellow]warning {warning.code}[/] {warning.path}: {warning.message}"
        )


def _send_d360(world: _World) -> None:
    client = _client(world)
    _step(world.console, 3, "Reply on channel shop -> 360dialog Cloud",
          "The same POST /v1/messages body as before the migration; the shim adds "
          "messaging_product, moves preview_url into text and routes to waba-v2.")
    request = {
        "recipient_type": "individual",
        "to": CUSTOMER,
        "type": "text",
        "preview_url": True,
        "text": {"body": "Hi Anna, your parcel is on its way: https://example.com/t/DE-4711"},
    }
    response = client.post("/v1/messages", json=request, channel="shop")
    _show_send(world, world.d360, request, response, "360dialog Cloud")
    world.report.sent["shop"] = response.json()["messages"][0]["id"]


def _send_meta(world: _World) -> None:
    client = _client(world)
    _step(world.console, 4, "A legacy hsm on channel support -> Meta Graph",
          "hsm becomes a template (namespace dropped, localizable_params become body "
          "parameters); the template itself was created through the shim too.")
    created = _expect(client.post("/v1/configs/templates", json=dict(TEMPLATE), channel="support"),
                      200, "create template")
    world.console.print(f"  POST /v1/configs/templates via the shim -> {json.dumps(created)}")
    request = {
        "to": SUPPORT_CUSTOMER,
        "type": "hsm",
        "hsm": {
            "namespace": "c8ae5f90_307a_ca4c_b8f6_d1e2a2573574",
            "element_name": "parcel_shipped",
            "language": {"policy": "deterministic", "code": "en"},
            "localizable_params": [{"default": "Ben"}, {"default": "DE-4712"}],
        },
    }
    response = client.post("/v1/messages", json=request, channel="support")
    _show_send(world, world.meta, request, response, "Meta Graph")
    world.report.sent["support"] = response.json()["messages"][0]["id"]


def _window(world: _World) -> None:
    client = _client(world)
    _step(world.console, 5, "Outside the 24 h window: Cloud 131047 comes back as On-Prem 470",
          "Free-form text to someone who has not written in the last 24 h. Code that "
          "handled 470 on On-Prem (send a template instead) keeps working.")
    request = {"to": STRANGER, "type": "text", "text": {"body": "Your parcel is ready."}}
    response = client.post("/v1/messages", json=request, channel="shop")
    body = _expect(response, 400, "send outside the window")
    code = body["errors"][0]["code"]
    if code != 470:
        raise DemoError(f"expected On-Prem error 470, got {code}")
    world.report.window_error = body
    world.console.print(_panel(_json(body["errors"], _json_width(world.console, False)),
                               f"HTTP {response.status_code}, errors[]"))


def _statuses(world: _World) -> None:
    _step(world.console, 6, "Delivery statuses arrive On-Premise shaped",
          "Cloud batches and may reorder statuses; each still reaches the handler flat, with "
          "recipient_id also under message.recipient_id as On-Prem >= v2.45 readers expect.")
    sent_id = world.report.sent["shop"]
    world.inbox.wait_for(
        lambda items: _statuses_for(items, sent_id) >= {"sent", "delivered", "read"},
        "sent/delivered/read statuses",
    )
    table = Table(box=None, pad_edge=False)
    for column in ("message id", "status", "recipient_id", "message.recipient_id"):
        table.add_column(column)
    for body in world.inbox.bodies_with("statuses"):
        for status in body["statuses"]:
            world.report.onprem_webhooks.append({"statuses": [status]})
            nested = status.get("message", {}).get("recipient_id", "")
            table.add_row(_short(status["id"]), status["status"], status.get("recipient_id", ""),
                          nested)
    world.console.print(table)


def _statuses_for(items: list[OnPremWebhook], message_id: str) -> set[str]:
    return {
        s.get("status")
        for i in items
        for s in i.body.get("statuses", [])
        if s.get("id") == message_id
    }


def _rewrite(console: Console, report: DemoReport) -> None:
    _step(console, 7, "Codemods: waba-migrate rewrite --diff on examples/legacy_bot",
          "A small On-Prem bot (requests, hsm, media, read receipts, a Flask-style webhook). "
          "--diff changes nothing; --write would apply it and mark the manual items.")
    example = report.example_dir
    if example is None:
        console.print(
            "  examples/legacy_bot not found: run the demo from a source checkout "
            "(or pass --example-dir) to see the rewrite."
        )
        return
    try:  # imported here: libcst is only needed for this step
        from codemods.engine import Options
        from codemods.report import rewrite_summary, unified_diff
        from codemods.runner import run
    except ImportError as exc:
        raise DemoError(f"the codemods are not importable: {exc}") from exc
    from shim.mapping.hosts import Target

    result = run([str(example)], Options(target=Target.D360, rewrite=True))
    if result.errors or result.missing:
        raise DemoError(f"rewrite failed on {[f.display for f in result.errors] or result.missing}")
    for changed in result.changed:
        report.diff_files.append(changed.display)
        _print_diff(console, unified_diff(changed))
    report.manual_items = sum(
        1 for f in result.files for finding in f.outcome.findings if finding.fix == "manual"
    )
    for line in rewrite_summary(result, mode="diff", target=Target.D360.value, strategy="native"):
        console.print(Text(line, style="dim"))


def _print_diff(console: Console, diff: str) -> None:
    styles = {"+": "green", "-": "red", "@": "cyan"}
    for line in diff.splitlines():
        style = "bold" if line.startswith(("+++", "---")) else styles.get(line[:1], "")
        console.print(Text(line, style=style), soft_wrap=True)


def _closing(console: Console, report: DemoReport) -> None:
    console.print()
    console.print(Rule(f"[bold]done in {report.seconds:.1f} s"))
    console.print(Group(
        Text("Next steps, one number at a time (MIGRATION.md has the whole plan):"),
        Text("  waba-migrate scan src/                               inventory"),
        Text("  waba-migrate rewrite src/ --target 360dialog --diff  see the change"),
        Text("  waba-migrate config check waba-migrate.toml          validate a channel"),
        Text("  waba-migrate relay --config waba-migrate.toml        webhooks for the old app"),
        Text("  waba-migrate sandbox --api 360dialog --port 9000     try it all locally"),
    ))
