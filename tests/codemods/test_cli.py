"""``waba-migrate scan`` / ``rewrite`` through the real click group: exit codes, JSON, files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result

from shim.cli import main

ONPREM = '''import requests

URL = "https://waba.360dialog.io/v1/messages"


def send(key, to, text):
    return requests.post(URL, headers={"D360-API-KEY": key},
                         json={"to": to, "type": "text", "text": {"body": text}})
'''
CONTACTS = '''import requests


def check(key, phone):
    return requests.post("https://waba.360dialog.io/v1/contacts", headers={"D360-API-KEY": key},
                         json={"blocking": "wait", "contacts": [phone]})
'''
PLAIN = "def add(a, b):\n    return a + b\n"
BROKEN = 'URL = "https://waba.360dialog.io/v1/messages"\nprint "hello"\n'


def _tree(root: Path, **files: str) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_commands_are_registered() -> None:
    result = _run("--help")
    assert "scan" in result.output and "rewrite" in result.output


def test_scan_json_shape_and_exit_code_with_a_broken_file(tmp_path: Path) -> None:
    _tree(tmp_path, **{"a.py": ONPREM, "b/c.py": CONTACTS, "d.py": PLAIN, "e.py": BROKEN})
    result = _run("scan", "--format", "json", str(tmp_path))
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert set(doc) == {"files", "summary"}
    assert set(doc["summary"]) == {"files_scanned", "files_with_findings", "findings", "errors"}
    assert doc["summary"]["files_scanned"] == 4
    assert doc["summary"]["errors"] == 1
    by_path = {Path(f["path"]).name: f for f in doc["files"]}
    assert set(by_path) == {"a.py", "c.py", "e.py"}
    for entry in doc["files"]:
        assert {"path", "findings"} <= set(entry)
        for f in entry["findings"]:
            assert set(f) == {"line", "column", "rule", "message", "fix"}
            assert isinstance(f["line"], int) and isinstance(f["column"], int)
            assert f["fix"] in ("safe", "unsafe", "manual")
            assert f["rule"].startswith("WM") and f["message"]
    assert {f["rule"] for f in by_path["a.py"]["findings"]} == {"WM101", "WM301"}
    assert [f["rule"] for f in by_path["c.py"]["findings"]] == ["WM901"]
    assert by_path["e.py"]["findings"] == []
    assert by_path["e.py"]["error"]["type"] == "syntax-error"
    assert by_path["e.py"]["error"]["line"] == 2
    assert doc["summary"]["files_with_findings"] == 2
    assert doc["summary"]["findings"] == sum(len(f["findings"]) for f in doc["files"])


def test_scan_text_and_clean_exit(tmp_path: Path) -> None:
    _tree(tmp_path, **{"a.py": ONPREM, "d.py": PLAIN})
    result = _run("scan", str(tmp_path))
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert any(line.endswith("(send_message)") and ":3:7: WM101 [safe] " in line
               for line in lines)
    assert lines[-2].startswith("Scanned 2 files: 1 with findings, 2 findings")
    assert lines[-1] == "By rule: WM101 1, WM301 1"
    assert "analysing" not in result.stderr  # no progress bar without a terminal


def test_scan_missing_path(tmp_path: Path) -> None:
    result = _run("scan", "--format", "json", str(tmp_path / "nope"))
    assert result.exit_code == 2
    assert json.loads(result.stdout)["files"][0]["error"]["type"] == "not-found"


def test_rewrite_defaults_to_a_diff_and_changes_nothing(tmp_path: Path) -> None:
    _tree(tmp_path, **{"a.py": ONPREM})
    result = _run("rewrite", str(tmp_path), "--target", "360dialog")
    assert result.exit_code == 0
    assert "--- a/" in result.stdout and "+++ b/" in result.stdout
    assert '+URL = "https://waba-v2.360dialog.io/messages"' in result.stdout
    assert (tmp_path / "a.py").read_text() == ONPREM
    assert "1 would change" in result.stderr


def test_check_then_write_then_check(tmp_path: Path) -> None:
    _tree(tmp_path, **{"a.py": ONPREM, "b.py": CONTACTS, "c.py": PLAIN})
    check = _run("rewrite", str(tmp_path), "--target", "meta", "--check")
    assert check.exit_code == 1
    assert "would rewrite" in check.stderr and check.stdout == ""
    assert (tmp_path / "a.py").read_text() == ONPREM
    write = _run("rewrite", str(tmp_path), "--target", "meta", "--write")
    assert write.exit_code == 0
    assert "graph.facebook.com" in (tmp_path / "a.py").read_text()
    assert "# waba-migrate: WM901:" in (tmp_path / "b.py").read_text()
    assert "Manual items (1):" in write.stderr
    assert (tmp_path / "c.py").read_text() == PLAIN
    again = _run("rewrite", str(tmp_path), "--target", "meta", "--check")
    assert again.exit_code == 0, again.stderr


def test_a_broken_file_fails_the_run_but_not_the_others(tmp_path: Path) -> None:
    _tree(tmp_path, **{"a.py": ONPREM, "e.py": BROKEN})
    result = _run("rewrite", str(tmp_path), "--target", "360dialog", "--write")
    assert result.exit_code == 2
    assert (tmp_path / "e.py").read_text() == BROKEN
    assert "waba-v2" in (tmp_path / "a.py").read_text()
    assert "e.py:2:" in result.stderr and "syntax-error" in result.stderr
    check = _run("rewrite", str(tmp_path), "--target", "360dialog", "--check")
    assert check.exit_code == 2  # 2 (failure) beats 1 (changes)


def test_unsafe_select_ignore_flags(tmp_path: Path) -> None:
    body = ONPREM.replace('"body": text}', '"body": text}, "ttl": 60')
    _tree(tmp_path, **{"a.py": body})
    held = _run("rewrite", str(tmp_path), "--target", "360dialog")
    # the unsafe ttl drop holds back the whole request: URL, messaging_product and ttl
    assert "3 unsafe fixes held back" in held.stderr and '"ttl": 60' in held.stdout
    assert "+    # waba-migrate: WM305: held back" in held.stdout
    assert "waba-v2" not in held.stdout and "messaging_product" not in held.stdout
    applied = _run("rewrite", str(tmp_path), "--target", "360dialog", "--unsafe")
    assert '-                         json={"to": to' in applied.stdout
    assert '"ttl"' not in applied.stdout.split("+++")[1].split("\n-")[0]
    assert "held back" not in applied.stdout
    only_urls = _run("rewrite", str(tmp_path), "--target", "360dialog", "--select", "WM1",
                     "--unsafe")
    assert "messaging_product" not in only_urls.stdout and "waba-v2" in only_urls.stdout
    ignored = _run("rewrite", str(tmp_path), "--target", "360dialog", "--ignore", "WM1,WM3")
    assert ignored.stdout == ""


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    _tree(tmp_path, **{"a.py": ONPREM})
    assert _run("rewrite", str(tmp_path)).exit_code == 2  # --target is required
    assert _run("rewrite", str(tmp_path), "--target", "onprem").exit_code == 2
    bad = _run("rewrite", str(tmp_path), "--target", "meta", "--select", "WM777")
    assert bad.exit_code == 2 and "unknown rule code" in bad.output


def test_discovery_skips_ignored_and_build_trees(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    _tree(tmp_path, **{
        ".gitignore": "generated/\n*_secret.py\n",
        "app/send.py": ONPREM,
        "app/local_secret.py": ONPREM,
        "generated/send.py": ONPREM,
        "build/lib/send.py": ONPREM,
        "node_modules/x/send.py": ONPREM,
        "env/pyvenv.cfg": "home = /usr\n",
        "env/lib/send.py": ONPREM,
        "legacy/send.py": ONPREM,
        "app/sub/.gitignore": "skip.py\n",
        "app/sub/skip.py": ONPREM,
        "app/sub/keep.py": ONPREM,
    })
    result = _run("scan", "--format", "json", "--exclude", "legacy/", str(tmp_path))
    paths = sorted(Path(f["path"]).relative_to(tmp_path.resolve()).as_posix()
                   if Path(f["path"]).is_absolute() else f["path"]
                   for f in json.loads(result.stdout)["files"])
    assert [p.split("/")[-2] + "/" + p.split("/")[-1] for p in paths] == [
        "app/send.py", "sub/keep.py"]
    explicit = _run("scan", "--format", "json", str(tmp_path / "build/lib/send.py"))
    assert json.loads(explicit.stdout)["summary"]["files_with_findings"] == 1


def test_real_process_with_a_worker_pool(tmp_path: Path) -> None:
    for i in range(10):
        _tree(tmp_path, **{f"m{i}.py": ONPREM})
    _tree(tmp_path, **{"e.py": BROKEN})
    proc = subprocess.run(
        [sys.executable, "-c", "from shim.cli import main; main()", "scan", "--format", "json",
         "-j", "2", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["summary"] == {"files_scanned": 11, "files_with_findings": 10,
                              "findings": 20, "errors": 1}


def test_progress_bar_only_on_a_terminal(tmp_path: Path) -> None:
    import os
    import pty
    import select

    _tree(tmp_path, **{"a.py": ONPREM})
    pid, fd = pty.fork()
    if pid == 0:  # child: stderr is the pseudo-terminal
        os.execv(sys.executable, [sys.executable, "-c", "from shim.cli import main; main()",
                                  "rewrite", str(tmp_path), "--target", "360dialog", "--check"])
    out = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 1
    assert b"analysing" in out  # the bar, drawn on the terminal
    assert b"1 would change" in out


SELF_HOSTED = '''import requests

NODE = "https://wa-node.internal:9090"


def send(token, payload):
    return requests.post(NODE + "/v1/messages", json=payload,
                         headers={"Authorization": "Bearer " + token})
'''


def test_test_files_are_reported_not_rewritten(tmp_path: Path) -> None:
    _tree(tmp_path, **{"app.py": ONPREM, "tests/fixtures.py": ONPREM, "test_send.py": ONPREM,
                       "pkg/send_test.py": ONPREM, "conftest.py": ONPREM})
    scan = _run("scan", "--format", "json", str(tmp_path))
    assert len(json.loads(scan.stdout)["files"]) == 5  # every file is reported
    write = _run("rewrite", str(tmp_path), "--target", "360dialog", "--write")
    assert write.exit_code == 0
    assert "waba-v2" in (tmp_path / "app.py").read_text()
    for name in ("tests/fixtures.py", "test_send.py", "pkg/send_test.py", "conftest.py"):
        assert (tmp_path / name).read_text() == ONPREM, name
    included = _run("rewrite", str(tmp_path), "--target", "360dialog", "--write",
                    "--include-tests")
    assert included.exit_code == 0
    assert "waba-v2" in (tmp_path / "tests/fixtures.py").read_text()


def test_declared_onprem_hosts(tmp_path: Path) -> None:
    _tree(tmp_path, **{"a.py": SELF_HOSTED})
    unproven = _run("scan", "--format", "json", str(tmp_path))
    assert [f["rule"] for f in json.loads(unproven.stdout)["files"][0]["findings"]] == ["WM917"]
    declared = _run("scan", "--format", "json", "--onprem-host", "wa-node.internal:9090",
                    str(tmp_path))
    rules = {f["rule"] for f in json.loads(declared.stdout)["files"][0]["findings"]}
    assert "WM917" not in rules and "WM101" in rules
    config = tmp_path.parent / f"{tmp_path.name}.toml"
    config.write_text('[channels.node]\nphone_number = "+4915112345678"\nbackend = "meta"\n'
                      'phone_number_id = "1000000001"\naccess_token = "env:NODE_TOKEN"\n'
                      'legacy_base_url = "https://wa-node.internal:9090"\n')
    from_config = _run("rewrite", str(tmp_path), "--target", "meta", "--config", str(config),
                       "--unsafe")  # the Bearer login token must become a system-user token
    assert from_config.exit_code == 0, from_config.output
    assert "graph.facebook.com" in from_config.stdout
    bad = _run("scan", "--onprem-host", "://", str(tmp_path))
    assert bad.exit_code == 2
