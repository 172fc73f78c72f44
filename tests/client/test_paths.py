"""Strict path parameters: a caller's path never becomes another backend route.

The backend here is a real loopback server that records every request it
gets, so "nothing reached the backend" is observed, not assumed. Calls go
through the router seam (what the client, drop-ins and gateway share) and
through ``Client.download_media``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from starlette.types import Receive, Scope, Send

from shim import Client
from shim.client import ApiError, Dispatcher, Router
from shim.config import Config, parse_config
from shim.mapping.hosts import DEFAULT_GRAPH_VERSION
from shim.sandbox import running_asgi

ENV = {"P_KEY": "path-backend-key", "P_LEGACY": "path-legacy-key"}
PNID = "1000000001"
WABA = "2000000002"


@dataclass
class Recorder:
    """A backend that answers like Cloud/On-Prem would and remembers every request."""

    url: str = ""
    seen: list[tuple[str, str, bytes]] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        target = scope["raw_path"].decode("latin-1")
        if scope["query_string"]:
            target += "?" + scope["query_string"].decode("latin-1")
        self.seen.append((scope["method"], target, body))
        last = scope["path"].rstrip("/").rpartition("/")[2]
        ctype, payload = b"application/json", b'{"success": true}'
        if scope["path"].endswith("/file"):
            ctype, payload = b"image/png", b"PNG-BYTES"
        elif scope["method"] == "GET" and last.isdigit():
            payload = json.dumps({"id": last, "url": f"{self.url}/file",
                                  "mime_type": "image/png", "file_size": 9}).encode()
        elif scope["path"].endswith("/messages"):
            payload = b'{"messages": [{"id": "wamid.ok"}]}'
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", ctype)]})
        await send({"type": "http.response.body", "body": payload})

    def paths(self) -> list[str]:
        return [f"{method} {target}" for method, target, _ in self.seen]


@pytest.fixture(scope="module")
def backend() -> Iterator[Recorder]:
    recorder = Recorder()
    with running_asgi(recorder) as url:
        recorder.url = url
        yield recorder


@pytest.fixture
def recorder(backend: Recorder) -> Recorder:
    backend.seen.clear()
    return backend


def config(recorder: Recorder, backend: str) -> Config:
    table: dict[str, Any] = {
        "phone_number": "+15550000001", "backend": backend, "base_url": recorder.url,
        "legacy_api_key": "env:P_LEGACY", "retry": {"max_attempts": 1},
    }
    if backend == "meta":
        table.update(phone_number_id=PNID, waba_id=WABA, access_token="env:P_KEY")
    else:
        table["api_key"] = "env:P_KEY"
    return parse_config({"channels": {"main": table}})


def call(cfg: Config, method: str, path: str, body: Any = None) -> Any:
    with Dispatcher(Router(cfg, environ=ENV)) as d:
        return d.dispatch(method, path, json=body) if body is not None else d.dispatch(
            method, path)


BACKENDS = ["360dialog", "meta", "onprem"]
HOSTILE_MEDIA_IDS = [
    "..%2F2000000002%2Fmessage_templates%3Fname%3Dvictim",
    "%2E%2E", "..%2F..%2Fme%3Ffields%3Dpermissions", "%00", "%0A", "1%3Fx", "1%23x",
    "1%2F2", "1%5C..", "%2e%2e%2f1000000001%2fmessages",
]


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("media_id", HOSTILE_MEDIA_IDS)
@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_hostile_media_ids_are_400_naming_media_id_and_reach_no_backend(
    recorder: Recorder, backend_name: str, media_id: str, method: str
) -> None:
    response = call(config(recorder, backend_name), method, f"/v1/media/{media_id}")
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["code"] == 1009 and error["details"].startswith(("media_id:", "path:"))
    assert recorder.seen == []


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("path", ["/v1/media/..", "/v1/media/./x", "/v1/messages/../media/1",
                                  "/v1/media/1\x00", "/v1/health/..", "/v1/x/%2e%2e/y"])
def test_dot_segments_and_control_characters_anywhere_are_refused(
    recorder: Recorder, backend_name: str, path: str
) -> None:
    method = "PUT" if path.startswith("/v1/messages") else "GET"
    response = call(config(recorder, backend_name), method, path,
                    {"status": "read"} if method == "PUT" else None)
    assert response.status_code in (400, 404), response.text
    assert recorder.seen == []


@pytest.mark.parametrize("backend_name", ["360dialog", "meta"])
def test_cloud_media_ids_are_digits(recorder: Recorder, backend_name: str) -> None:
    response = call(config(recorder, backend_name), "GET", "/v1/media/abc")
    assert response.status_code == 400
    assert "digits" in response.json()["errors"][0]["details"]
    assert recorder.seen == []


@pytest.mark.parametrize("path", ["/v1/media/123456", "/v1/media//123456", "/v1/media/123456/",
                                  "//v1//media///123456//"])
@pytest.mark.parametrize("backend_name", ["360dialog", "meta"])
def test_repeated_and_trailing_slashes_reach_the_mapped_route(
    recorder: Recorder, backend_name: str, path: str
) -> None:
    response = call(config(recorder, backend_name), "GET", path)
    assert response.status_code == 200, response.text
    assert response.content == b"PNG-BYTES"
    prefix = f"/{DEFAULT_GRAPH_VERSION}" if backend_name == "meta" else ""
    assert recorder.paths() == [f"GET {prefix}/123456", "GET /file"]


def test_repeated_slashes_on_an_onprem_backend_are_collapsed(recorder: Recorder) -> None:
    response = call(config(recorder, "onprem"), "GET", "/v1/media//4a0c2a4e-2f53-4d5b-9a3e-1")
    assert response.status_code == 200
    assert recorder.paths() == ["GET /v1/media/4a0c2a4e-2f53-4d5b-9a3e-1"]


WAMID = "wamid.HBgLMTY0NjcwNDM1OTUVAgASGBQzQTRB+/Nj=="


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("spelled", ["encoded", "raw"])
def test_cloud_message_ids_with_slash_plus_equals_are_encoded_not_refused(
    recorder: Recorder, backend_name: str, spelled: str
) -> None:
    from urllib.parse import quote

    in_path = quote(WAMID, safe="") if spelled == "encoded" else WAMID
    response = call(config(recorder, backend_name), "PUT", f"/v1/messages/{in_path}",
                    {"status": "read"})
    assert response.status_code == 200, response.text
    [(method, target, body)] = recorder.seen
    if backend_name == "onprem":
        assert (method, target) == ("PUT", "/v1/messages/" + quote(WAMID, safe="+=:"))
    else:
        assert method == "POST" and target.endswith("/messages")
        assert json.loads(body)["message_id"] == WAMID


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_a_message_id_holding_a_double_slash_is_kept_whole(
    recorder: Recorder, backend_name: str
) -> None:
    wamid = "wamid.FQIAERgSNDkxNTExMjM0NTY3OHuatv58q5bghvTC//nmn4Feqw=="  # base64 "//"
    response = call(config(recorder, backend_name), "PUT", f"/v1//messages/{wamid}",
                    {"status": "read"})
    assert response.status_code == 200, response.text
    [(method, target, body)] = recorder.seen
    if backend_name == "onprem":
        assert (method, target) == ("PUT", "/v1/messages/" + quote(wamid, safe="+=:"))
    else:
        assert json.loads(body)["message_id"] == wamid


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("name", ["a%3Fb", "a%2Fb", "..", "x%23y", "%00"])
def test_template_names_are_checked(recorder: Recorder, backend_name: str, name: str) -> None:
    response = call(config(recorder, backend_name), "DELETE", f"/v1/configs/templates/{name}")
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["details"].startswith(("name:", "path:"))
    assert recorder.seen == []


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_a_good_template_name_reaches_its_route(recorder: Recorder, backend_name: str) -> None:
    response = call(config(recorder, backend_name), "DELETE", "/v1/configs/templates/order_ready")
    assert response.status_code == 200, response.text
    expected = {
        "360dialog": "DELETE /v1/configs/templates/order_ready",
        "meta": f"DELETE /{DEFAULT_GRAPH_VERSION}/{WABA}/message_templates?name=order_ready",
        "onprem": "DELETE /v1/configs/templates/order_ready",
    }[backend_name]
    assert recorder.paths() == [expected]


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_client_download_media_refuses_traversal(recorder: Recorder, backend_name: str) -> None:
    with Client(config(recorder, backend_name), environ=ENV) as client:
        with pytest.raises(ApiError) as exc:
            client.download_media(f"../{WABA}/message_templates?name=victim")
        assert exc.value.status_code == 400 and exc.value.details.startswith("media_id:")
        assert recorder.seen == []
        if backend_name != "onprem":
            assert client.download_media("987654") == b"PNG-BYTES"
