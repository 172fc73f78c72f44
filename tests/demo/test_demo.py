"""``waba-migrate demo``: offline, no environment, exit 0, and every step really happened."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from shim.cli import main
from shim.demo import CUSTOMER, compact_json, find_example_dir, run_demo

ROOT = Path(__file__).resolve().parents[2]


def _command() -> list[str]:
    script = Path(sys.executable).with_name("waba-migrate")
    return [str(script)] if script.exists() else [sys.executable, "-m", "shim.cli"]


def test_waba_migrate_demo_runs_offline_with_no_environment(tmp_path: Path) -> None:
    # Only what a process needs to start: no config, no keys, no proxies.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    result = subprocess.run(
        [*_command(), "demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "Traceback" not in out + result.stderr
    for step in range(1, 8):
        assert f"\n{step}. " in out, f"step {step} missing"
    assert '"messaging_product": "whatsapp"' in out
    assert '"code": 470' in out and "131047" in out
    assert "+from shim.webhooks import onprem_view" in out
    assert "-    payload = request.get_json()" in out
    assert "done in" in out


def test_run_demo_reports_what_each_step_did(tmp_path: Path) -> None:
    example = tmp_path / "legacy_bot"
    shutil.copytree(ROOT / "examples" / "legacy_bot", example)
    files_before = {p.name: p.read_bytes() for p in example.iterdir() if p.is_file()}
    env_before = dict(os.environ)
    buffer = io.StringIO()
    report = run_demo(Console(file=buffer, width=100), example_dir=example)
    assert dict(os.environ) == env_before  # the demo's secrets never touch the environment
    assert report.channels == {"shop": "360dialog", "support": "meta"}
    assert set(report.sent) == {"shop", "support"}
    assert all(mid.startswith("wamid.") for mid in report.sent.values())

    inbound = report.onprem_webhooks[0]
    assert "entry" not in inbound and "object" not in inbound
    assert inbound["messages"][0]["from"] == CUSTOMER
    assert inbound["messages"][0]["text"] == {"body": "Hi, where is my parcel?"}
    statuses = [w["statuses"][0] for w in report.onprem_webhooks[1:]]
    mine = [s for s in statuses if s["id"] == report.sent["shop"]]
    assert {s["status"] for s in mine} >= {"sent", "delivered", "read"}
    assert all(s["message"]["recipient_id"] == CUSTOMER for s in mine)

    assert report.window_error is not None
    [error] = report.window_error["errors"]
    assert error["code"] == 470
    assert "131047" in error["details"]

    assert sorted(Path(f).name for f in report.diff_files) == ["webhook.py", "whatsapp.py"]
    assert report.manual_items >= 1
    # --diff only: the bot is left as it was.
    assert {p.name: p.read_bytes() for p in example.iterdir() if p.is_file()} == files_before


def test_demo_without_the_example_still_finishes(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo", "--example-dir", str(tmp_path / "nope")])
    assert result.exit_code == 0, result.output
    assert "examples/legacy_bot not found" in result.output


def test_find_example_dir_prefers_the_given_directory(tmp_path: Path) -> None:
    assert find_example_dir(tmp_path) == tmp_path
    assert find_example_dir(tmp_path / "missing") is None
    assert find_example_dir() == ROOT / "examples" / "legacy_bot"


@settings(max_examples=60)
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                               max_size=4),
    max_leaves=20,
))
def test_compact_json_is_json(value: object) -> None:
    text = compact_json(value, width=30)
    assert json.loads(text) == value


@pytest.mark.parametrize("width", [20, 40, 72])
def test_compact_json_keeps_lines_short_when_it_can(width: int) -> None:
    value = {"contacts": [{"profile": {"name": "Anna"}, "wa_id": "4915112345678"}],
             "messages": [{"from": "4915112345678", "type": "text", "text": {"body": "hi"}}]}
    lines = compact_json(value, width).splitlines()
    # Only lines holding a single scalar (that cannot be split) may be longer.
    assert all(len(line) <= width or line.strip().count(":") <= 1 for line in lines)
