"""``waba-migrate translate``: exit codes, stdout/stderr contract, JSONL, examples."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from shim.cli import main
from tests.conftest import EXAMPLES_DIR, example_names


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["translate", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_request_from_stdin_with_warnings_on_stderr() -> None:
    doc = {
        "method": "POST",
        "path": "/v1/messages",
        "body": {"to": "4915", "preview_url": True, "text": {"body": "hi"}, "ttl": {}},
    }
    code, out, err = run(
        "request", "--target", "meta", "--phone-number-id", "77", "-", stdin=json.dumps(doc)
    )
    assert code == 0
    result = json.loads(out)
    assert result["method"] == "POST" and result["path"] == "/77/messages"
    assert result["body"]["text"]["preview_url"] is True
    assert err.strip().splitlines() == [
        f"warning: $.ttl: {line}"
        for line in [
            "Cloud has no per-message TTL; set message_send_ttl_seconds on the template instead."
        ]
    ]


def test_request_360_path_has_no_phone_number_id() -> None:
    doc = {"method": "PUT", "path": "/v1/messages/gBEG1", "body": {"status": "read"}}
    code, out, _ = run("request", stdin=json.dumps(doc))
    assert code == 0 and json.loads(out) == {
        "method": "POST",
        "path": "/messages",
        "body": {"messaging_product": "whatsapp", "status": "read", "message_id": "gBEG1"},
    }


def test_translation_error_exit_1_with_path() -> None:
    doc = {"path": "/v1/messages", "body": {"to": "1", "type": "fax", "fax": {}}}
    code, out, err = run("request", stdin=json.dumps(doc))
    assert code == 1 and out == ""
    assert err.startswith("error: $.type: unknown message type 'fax'")


def test_text_without_body_exits_1_naming_the_field_and_nulls_warn() -> None:
    doc = {"path": "/v1/messages", "body": {"to": "1", "type": "text", "text": {}}}
    code, out, err = run("request", stdin=json.dumps(doc))
    assert code == 1 and out == "" and err.startswith("error: $.text.body: ")
    doc = {"path": "/v1/messages",
           "body": {"to": "1", "type": "image", "image": {"id": "12", "caption": None}}}
    code, out, err = run("request", stdin=json.dumps(doc))
    assert code == 0 and json.loads(out)["body"]["image"] == {"id": "12"}
    assert err.startswith("warning: $.image.caption: ")


def test_malformed_json_names_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "path": "/v1/messages",\n  "body": {oops}\n}\n')
    code, _, err = run("request", str(bad))
    assert code == 1
    assert "line 3, column 12" in err and "bad.json" in err


def test_usage_error_exit_2() -> None:
    assert run("nonsense")[0] == 2
    assert run("request", "--target", "onprem-ish")[0] == 2


def test_response_translation() -> None:
    doc = {
        "path": "/v1/messages",
        "status": 400,
        "body": json.loads((EXAMPLES_DIR / "cloud-error-131047.json").read_text()),
    }
    code, out, _ = run("response", stdin=json.dumps(doc))
    result = json.loads(out)
    assert code == 0 and result["status"] == 400
    assert result["body"]["errors"][0]["code"] == 470


def test_webhook_outputs_array() -> None:
    code, out, _ = run("webhook", str(EXAMPLES_DIR / "cloud-webhook-inbound-audio-voice.json"))
    bodies = json.loads(out)
    assert code == 0 and isinstance(bodies, list) and bodies[0]["messages"][0]["type"] == "voice"


def test_jsonl_keeps_order_reports_failures_and_exits_1() -> None:
    lines = [
        json.dumps({"path": "/v1/messages", "body": {"to": "1", "text": {"body": "a"}}}),
        "{not json",
        json.dumps({"path": "/v1/messages", "body": {"to": 1, "text": {"body": "b"}}}),
        json.dumps({"path": "/v1/messages", "body": {"to": "2", "text": {"body": "c"}}}),
    ]
    code, out, err = run("request", "--jsonl", stdin="\n".join(lines) + "\n")
    results = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and len(results) == 4
    assert results[0]["body"]["text"]["body"] == "a"
    assert results[1]["error"]["path"] == "$" and "line 2" in results[1]["error"]["message"]
    assert results[2] == {
        "error": {
            "path": "$.to",
            "message": "expected a string (phone number or wa_id), got integer",
        }
    }
    assert results[3]["body"]["text"]["body"] == "c"
    assert "line 2" in err


def test_jsonl_all_good_exits_0() -> None:
    line = json.dumps({"path": "/v1/messages", "body": {"to": "1", "text": {"body": "a"}}})
    code, out, _ = run("request", "--jsonl", stdin=line + "\n" + line + "\n")
    assert code == 0 and len(out.splitlines()) == 2


@pytest.mark.parametrize("name", example_names("cloud-webhook-"))
def test_cli_handles_every_cloud_webhook_example(name: str) -> None:
    code, out, _ = run("webhook", str(EXAMPLES_DIR / f"{name}.json"))
    assert code == 0 and json.loads(out)


@pytest.mark.parametrize("name", [n for n in example_names("onprem-send-") if "response" not in n])
def test_cli_handles_every_onprem_send_example(name: str) -> None:
    body = json.loads((EXAMPLES_DIR / f"{name}.json").read_text())
    code, out, err = run("request", stdin=json.dumps({"path": "/v1/messages", "body": body}))
    if name == "onprem-send-video-id":  # On-Prem media id: refused, by field
        assert code == 1 and err.startswith("error: $.video.id:")
    else:
        assert code == 0 and json.loads(out)["body"]["messaging_product"] == "whatsapp"


def test_console_script_version() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "shim.cli", "--version"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0 and "waba-migrate" in proc.stdout


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b'{"path": "/v1/messages", "body": {"to": "1", "text": {"body": "\xff"}}}', "UTF-8"),
        (b'{"path": "/v1/messages", "body": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
         "nested deeper"),
        (b'{"path": "/v1/messages", "body": {"to": "1", "text": {"body": "\\udc80"}}}',
         "$.body.text.body: the string holds a lone surrogate"),
        (b'{"path": "/v1/messages", "body": {"to": "1", "type": "interactive", '
         b'"interactive": {"type": "button", "header": {"type": ["image"]}}}}', "$.interactive"),
        (b'{"path": ["/v1/messages"]}', "$.path"),
        (b"", "malformed JSON"),
    ],
)
def test_bad_input_is_an_error_line_and_exit_1_never_a_traceback(
    tmp_path: Path, raw: bytes, fragment: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(raw)
    for args in (("request", str(bad)), ("request", "--jsonl", str(bad))):
        proc = subprocess.run(
            [sys.executable, "-m", "shim.cli", "translate", *args],
            capture_output=True, text=True, check=False,
        )
        if not raw and "--jsonl" in args:  # an empty JSONL file holds no documents
            assert proc.returncode == 0
            continue
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.startswith("error: "), proc.stderr
        assert fragment in proc.stderr
        assert "Traceback" not in proc.stderr + proc.stdout
