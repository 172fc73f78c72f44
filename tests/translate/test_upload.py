"""``POST /v1/media`` uploads: the MIME type, size limit and refusals, checked exactly."""

from __future__ import annotations

import pytest

from shim.mapping.fields import CLOUD_MEDIA_LIMITS
from shim.translate.request import translate_request
from shim.translate.types import CloudRequest, TranslationError

JPEG_LIMIT = CLOUD_MEDIA_LIMITS["image/jpeg"][1]


def upload(content: bytes | None, content_type: str | None) -> CloudRequest:
    result = translate_request(
        "POST", "/v1/media", target="360dialog", content=content, content_type=content_type
    )
    assert isinstance(result, CloudRequest)
    return result


@pytest.mark.parametrize(
    ("content_type", "mime", "name"),
    [
        ("image/jpeg", "image/jpeg", "upload.jpeg"),
        (" Image/JPEG ; q=1; a=b", "image/jpeg", "upload.jpeg"),
        ("audio/ogg; codecs=opus", "audio/ogg", "upload.ogg"),
    ],
)
def test_upload_body_names_the_mime_type_and_file(content_type: str, mime: str, name: str) -> None:
    request = upload(b"\xff\xd8data", content_type)
    assert (request.method, request.path) == ("POST", "/media")
    assert request.body == {"messaging_product": "whatsapp", "type": mime}
    assert request.file == (name, b"\xff\xd8data", mime)


def test_a_file_at_the_limit_is_accepted_one_byte_more_is_413() -> None:
    assert upload(b"x" * JPEG_LIMIT, "image/jpeg").file is not None
    with pytest.raises(TranslationError) as info:
        upload(b"x" * (JPEG_LIMIT + 1), "image/jpeg")
    assert (info.value.status, info.value.path, str(info.value)) == (
        413,
        "$",
        f"$: {JPEG_LIMIT + 1} bytes of image/jpeg exceed the Cloud limit of {JPEG_LIMIT} bytes",
    )


NEEDS_TYPE = (
    "Content-Type: media upload needs the file's MIME type as Content-Type (e.g. image/jpeg)"
)


@pytest.mark.parametrize(
    ("content", "content_type", "status", "path", "message"),
    [
        (None, "image/jpeg", 400, "$", "$: media upload needs the file bytes as the request body"),
        (b"x", None, 400, "Content-Type", NEEDS_TYPE),
        (b"x", "", 400, "Content-Type", NEEDS_TYPE),
        (b"x", "Application/JSON; charset=utf-8", 400, "Content-Type", NEEDS_TYPE),
        (
            b"x",
            "image/bmp",
            415,
            "Content-Type",
            "Content-Type: Cloud does not accept 'image/bmp' uploads; supported: "
            + ", ".join(sorted(CLOUD_MEDIA_LIMITS)),
        ),
    ],
)
def test_refused_uploads_say_why(
    content: bytes | None, content_type: str | None, status: int, path: str, message: str
) -> None:
    with pytest.raises(TranslationError) as info:
        upload(content, content_type)
    assert (info.value.status, info.value.path, str(info.value)) == (status, path, message)
