"""Unknown /v1/ paths passed through to an On-Prem backend: their decoded form is checked too."""

from __future__ import annotations

import pytest

from shim.translate.request import translate_request
from shim.translate.types import CloudRequest, TranslationError

DOTS = 'path: "." and ".." segments are not allowed in a path'
CONTROL = "path: control characters are not allowed in a path"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/v1/custom/%2e%2e/x", DOTS),
        ("/v1/custom/%2E%2E", DOTS),
        ("/v1/custom/.%2e/x", DOTS),
        ("/v1/custom/%2e", DOTS),
        ("/v1/custom/%00x", CONTROL),
        ("/v1/custom/%7f", CONTROL),
        ("/v1/custom/%1F/x", CONTROL),
    ],
)
def test_encoded_traversal_or_control_bytes_are_refused(path: str, message: str) -> None:
    with pytest.raises(TranslationError) as info:
        translate_request("GET", path, target="onprem")
    assert (info.value.path, str(info.value)) == ("path", message)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/custom/a%2Fb",
        "/v1/custom/%zz",
        "/v1/custom/%ff",
        "/v1/custom/%2e%2ex",
        "/v1/custom/a.b",
        "/v1/custom/.well-known/x",
    ],
)
def test_other_encoded_paths_pass_through_unchanged(path: str) -> None:
    result = translate_request("get", path, target="onprem")
    assert isinstance(result, CloudRequest)
    assert (result.endpoint, result.method, result.path) == ("passthrough", "GET", path)
