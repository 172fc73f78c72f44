"""Cloud media: multipart upload, limits, the two-step download on each surface."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest

from shim.mapping.hosts import LOOKASIDE_HOST, rewrite_lookaside_url
from shim.sandbox import RunningSandbox
from tests.sandbox.helpers import LOOPBACK

JPEG = b"\xff\xd8\xff\xe0" + b"sandbox-test-image" * 10 + b"\xff\xd9"


def upload(
    api: httpx.Client,
    data: bytes = JPEG,
    mime: str = "image/jpeg",
    *,
    fields: dict[str, str] | None = None,
) -> httpx.Response:
    form = {"messaging_product": "whatsapp", "type": mime} if fields is None else fields
    return api.post("/media", data=form, files={"file": ("photo.jpg", data, mime)})


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


def media_info_url(cloud: RunningSandbox, media_id: str) -> str:
    """``GET /{media-id}``: unprefixed on 360dialog, ``/vNN.N/{id}`` on Graph."""
    if cloud.api == "meta":
        return f"{cloud.graph_url}/{media_id}"
    return f"{cloud.base_url}/{media_id}"


def test_upload_returns_a_numeric_id(api: httpx.Client) -> None:
    response = upload(api)
    assert response.status_code == 200
    media_id = response.json()["id"]
    assert media_id.isdigit()


def test_two_step_download_360dialog_rewrites_the_lookaside_host(
    d360: RunningSandbox,
) -> None:
    with d360.client() as api:
        media_id = upload(api).json()["id"]
        info = api.get(f"/{media_id}").json()
        assert info["id"] == media_id
        assert info["mime_type"] == "image/jpeg"
        assert info["file_size"] == len(JPEG)
        assert info["sha256"] == hashlib.sha256(JPEG).hexdigest()
        assert info["url"].startswith(
            f"https://{LOOKASIDE_HOST}/whatsapp_business/attachments/?mid="
        )
        proxied = rewrite_lookaside_url(info["url"], d360.base_url)
        assert proxied.startswith(d360.base_url)
        response = api.get(proxied)
        assert response.status_code == 200
        assert response.content == JPEG
        assert response.headers["content-type"] == "image/jpeg"
    # without the key the proxy refuses, with 360dialog's gateway envelope
    refused = LOOPBACK.get(proxied)
    assert refused.status_code == 401
    assert refused.json()["meta"]["success"] is False


def test_two_step_download_meta_needs_the_bearer_token(meta: RunningSandbox) -> None:
    with meta.client() as api:
        media_id = upload(api).json()["id"]
        info = api.get(media_info_url(meta, media_id)).json()
        assert info["url"].startswith(f"{meta.base_url}/whatsapp_business/attachments/?mid=")
        assert api.get(info["url"]).content == JPEG
    refused = LOOPBACK.get(info["url"])
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == 190


def test_tampered_download_url_is_404(d360: RunningSandbox) -> None:
    with d360.client() as api:
        media_id = upload(api).json()["id"]
        url = rewrite_lookaside_url(api.get(f"/{media_id}").json()["url"], d360.base_url)
        response = api.get(url.replace("hash=", "hash=x"))
        assert response.status_code == 404


def test_delete_media_then_it_is_gone(cloud: RunningSandbox, api: httpx.Client) -> None:
    media_id = upload(api).json()["id"]
    url = media_info_url(cloud, media_id)
    assert api.delete(url).json() == {"success": True}
    gone = api.get(url)
    assert gone.status_code == 400
    assert error_of(gone)["code"] == 100
    assert error_of(api.delete(url))["code"] == 100


@pytest.mark.parametrize(
    ("data", "mime", "fragment"),
    [
        (b"x" * (5 * 1024 * 1024 + 1), "image/jpeg", "image limit"),
        (b"RIFF" + b"x" * (500 * 1024), "image/webp", "sticker limit"),
        (b"MZ-executable", "application/x-msdownload", "application/x-msdownload"),
        (b"", "image/png", "empty"),
    ],
)
def test_media_limits_are_131053(api: httpx.Client, data: bytes, mime: str, fragment: str) -> None:
    response = upload(api, data, mime)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == 131053
    assert fragment in error["error_data"]["details"]


def test_upload_without_messaging_product_or_file_is_100(api: httpx.Client) -> None:
    missing_product = upload(api, fields={"type": "image/jpeg"})
    assert error_of(missing_product)["code"] == 100
    assert "messaging_product" in error_of(missing_product)["error_data"]["details"]
    no_file = api.post("/media", data={"messaging_product": "whatsapp", "type": "image/jpeg"})
    assert error_of(no_file)["code"] == 100
    assert "file" in error_of(no_file)["error_data"]["details"]
    not_multipart = api.post("/media", json={"messaging_product": "whatsapp"})
    assert error_of(not_multipart)["code"] == 100
    broken = api.post(
        "/media",
        content=b"--x\r\ngarbage",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert broken.status_code == 400
    assert error_of(broken)["code"] == 100


def test_send_image_by_uploaded_id_and_unknown_id(cloud: RunningSandbox, api: httpx.Client) -> None:
    cloud.configure(open_windows=True)
    media_id = upload(api).json()["id"]

    def send(ident: str) -> httpx.Response:
        body = {
            "messaging_product": "whatsapp",
            "to": "4915112345678",
            "type": "image",
            "image": {"id": ident, "caption": "hi"},
        }
        return api.post("/messages", json=body)

    assert send(media_id).status_code == 200
    unknown = send("123")
    assert error_of(unknown)["code"] == 100
    assert "image['id']" in error_of(unknown)["error_data"]["details"]


def test_inbound_media_is_downloadable(d360: RunningSandbox) -> None:
    payload = b"%PDF-1.4 inbound"
    import base64

    result = d360.inbound(
        "4915112345678",
        type="document",
        document={
            "mime_type": "application/pdf",
            "filename": "a.pdf",
            "data_base64": base64.b64encode(payload).decode(),
        },
    )
    with d360.client() as api:
        info = api.get(f"/{result['media_id']}").json()
        content = api.get(rewrite_lookaside_url(info["url"], d360.base_url)).content
    assert content == payload
