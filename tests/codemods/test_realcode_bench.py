"""The real-code evaluation runs end to end on a tiny corpus of our own, and its checks can fail."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench" / "codemods_realcode.py"

# Three small callers written for this test: a 360dialog sender, a self-hosted
# node with a login, and another vendor's /v1/messages API that must stay untouched.
CORPUS = {
    "d360_sender.py": '''import requests

D360_URL = "https://waba.360dialog.io/v1/messages"


def tell(key, wa_id, words):
    hdrs = {"D360-API-KEY": key, "Content-Type": "application/json"}
    body = {"recipient_type": "individual", "to": wa_id, "type": "text",
            "text": {"body": words}}
    return requests.post(D360_URL, json=body, headers=hdrs)
''',
    "node_client.py": '''import requests


class Node:
    def __init__(self, base, user, password):
        self.base = base
        reply = requests.post(base + "/v1/users/login", auth=(user, password))
        self.token = reply.json()["users"][0]["token"]

    def send(self, wa_id, words):
        return requests.post(self.base + "/v1/messages",
                             headers={"Authorization": "Bearer " + self.token},
                             json={"to": wa_id, "type": "text", "text": {"body": words}})
''',
    "llm_chat.py": '''import requests


def ask(key, question):
    return requests.post("https://llm.example.com/v1/messages",
                         headers={"x-api-key": key},
                         json={"model": "small", "messages": [{"role": "user",
                                                                "content": question}]})
''',
}


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("codemods_realcode", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["codemods_realcode"] = module
    spec.loader.exec_module(module)
    return module


def test_realcode_benchmark_quick(tmp_path: Path) -> None:
    corpus = tmp_path / "files"
    corpus.mkdir()
    for name, text in CORPUS.items():
        (corpus / name).write_text(text)
    (tmp_path / "INDEX.tsv").write_text(
        "file\trepository\tpath\tcommit\tcategory\n"
        "llm_chat.py\tus/ours\tllm_chat.py\t0\tnegative\n")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(BENCH), str(corpus), "--quick", "--out", str(out),
                           "--jobs", "1"], capture_output=True, text=True, timeout=600,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "hard failures: 0" in proc.stdout
    doc = json.loads((out / "summary.json").read_text())
    modes = [t["mode"] for t in doc["totals"]]
    assert modes == ["360dialog/native", "meta/shim"]
    for totals in doc["totals"]:
        assert totals["parses"] == totals["idempotent"] == totals["files"] == 3
        assert totals["onprem_files"] == 2
    # what --diff printed is kept per file for a person to read
    diffs = {p.name for p in (out / "360dialog-native" / "diffs").iterdir()}
    changed = {n for n, f in doc["files"]["360dialog/native"].items() if f["changed"]}
    assert diffs == {f"{n}.diff" for n in changed}
    assert (out / "meta-shim" / "after" / "llm_chat.py").read_text() == CORPUS["llm_chat.py"]


def test_checks_catch_an_unmarked_leftover_and_an_edit_outside() -> None:
    bench = _load()
    old = b"import requests\n\nA = 1\n\nrequests.post(URL, json=x)\n"
    new = b"import requests\n\nA = 2\n\nrequests.post(URL, json=x)\n"
    report = bench.FileReport("f.py", findings=[
        {"line": 5, "rule": "WM101", "fix": "safe", "message": "", "column": 0}])
    bench._check_file(report, old, new, new,
                      [{"line": 5, "rule": "WM101", "fix": "safe"}])
    assert report.unmarked == ["WM101@5"]
    assert report.outside == [3]
    assert report.hint() == "P-unmarked"


def test_checks_accept_a_marker_and_an_added_import() -> None:
    bench = _load()
    old = b"import requests\n\nrequests.post(URL, json=x)\n"
    new = (b"import os\nimport requests\n\n# waba-migrate: WM905: point URL at the Cloud host\n"
           b"requests.post(URL, json=x)\n")
    report = bench.FileReport("f.py", findings=[
        {"line": 3, "rule": "WM905", "fix": "manual", "message": "", "column": 0}])
    bench._check_file(report, old, new, new, [{"line": 5, "rule": "WM905", "fix": "manual"}])
    assert (report.marked, report.unmarked, report.held_unmarked) == (1, [], [])
    assert report.outside == []
    assert report.hint() == "P"


def test_a_held_back_unsafe_fix_needs_a_marker_even_when_the_rescan_loses_it() -> None:
    bench = _load()
    old = b'import requests\n\nrequests.post(URL + "/v1/messages", headers=h, json=x)\n'
    new = b'import requests\n\nrequests.post(URL + "/messages", headers=h, json=x)\n'
    report = bench.FileReport("f.py", findings=[
        {"line": 3, "rule": "WM202", "fix": "unsafe", "message": "", "column": 0},
        {"line": 3, "rule": "WM101", "fix": "safe", "message": "", "column": 0}])
    bench._check_file(report, old, new, new, [])
    assert report.held_unmarked == ["WM202@3"]
    assert report.applied == 1


def test_a_part_held_for_another_item_is_covered_by_that_items_marker() -> None:
    bench = _load()
    old = b'body = {"to": x}\n\nrequests.post(URL, data=blob)\n'
    new = (b'body = {"to": x}\n\n# waba-migrate: WM906: not rewritten until this is done\n'
           b'requests.post(URL, data=blob)\n')
    report = bench.FileReport("f.py", findings=[
        {"line": 1, "rule": "WM301", "fix": "manual", "column": 0,
         "message": "add messaging_product (not applied: the request also needs `WM906`)"},
        {"line": 3, "rule": "WM906", "fix": "manual", "column": 0, "message": "adapt"}])
    bench._check_file(report, old, new, new, [])
    assert (report.marked, report.held_unmarked) == (2, [])
    other = bench.FileReport("f.py", findings=[
        {"line": 1, "rule": "WM301", "fix": "manual", "column": 0,
         "message": "add messaging_product (not applied: the request also needs `WM907`)"}])
    bench._check_file(other, old, new, new, [])
    assert other.held_unmarked == ["WM301@1"]


def test_a_held_constant_is_covered_by_the_marker_on_its_requests_call() -> None:
    bench = _load()
    old = b'URL = "https://waba-sandbox.360dialog.io/v1/messages"\n\nrequests.post(URL, json=x)\n'
    new = (b'URL = "https://waba-sandbox.360dialog.io/v1/messages"\n\n'
           b"# waba-migrate: WM101: held back (sandbox host): `--unsafe` would rewrite this\n"
           b"requests.post(URL, json=x)\n")
    report = bench.FileReport("f.py", findings=[
        {"line": 1, "rule": "WM101", "fix": "unsafe", "message": "", "column": 0}])
    bench._check_file(report, old, new, new, [{"line": 1, "rule": "WM101", "fix": "unsafe"}])
    assert (report.marked, report.held_unmarked) == (1, [])
    # without the marker on the call it is a held-back site with no trace
    bare = bench.FileReport("f.py", findings=list(report.findings))
    bench._check_file(bare, old, old, old, [{"line": 1, "rule": "WM101", "fix": "unsafe"}])
    assert bare.held_unmarked == ["WM101@1"]


def test_test_files_are_reported_not_written() -> None:
    bench = _load()
    assert bench.is_test_path("repo/app/tests/test_send.py")
    assert bench.is_test_path("repo/conftest.py") and not bench.is_test_path("repo/app/send.py")
    old = b'responses.add(responses.POST, "http://x/v1/messages", json={})\n'
    report = bench.FileReport("t.py", findings=[
        {"line": 1, "rule": "WM918", "fix": "manual", "message": "", "column": 0}])
    bench._check_file(report, old, old, old, [{"line": 1, "rule": "WM918", "fix": "manual"}],
                      report_only=True)
    assert (report.reported, report.held_unmarked) == (1, [])
    assert report.hint() == "R"
    # a safe fix (the shim's import swap) is only reported there too, not left "unmarked"
    swap = b"from requests import RequestException\n"
    safe = bench.FileReport("t.py", findings=[
        {"line": 1, "rule": "WM501", "fix": "safe", "message": "", "column": 0}])
    bench._check_file(safe, swap, swap, swap, [{"line": 1, "rule": "WM501", "fix": "safe"}],
                      report_only=True)
    assert (safe.reported, safe.unmarked, safe.hint()) == (1, [], "R")
