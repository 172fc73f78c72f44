"""aiohttp code after ``rewrite --strategy shim`` runs: the expected files, called as is.

The shim-mode expected files of the aiohttp fixtures (``tests/codemods/fixtures/http``)
are imported and their functions awaited with the caller's old On-Prem key.
They keep their production host (``waba.360dialog.io``); the drop-in routes
it to the 360dialog sandbox on loopback by the channel config. Every send
must come back 200 with the id of the message the sandbox received.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from shim.sandbox import RunningSandbox
from tests.codemods.conftest import FIXTURES
from tests.compat.conftest import SHOP_OLD_KEY, TO

pytestmark = pytest.mark.anyio

#: case -> (function, keyword arguments); each sends one text message.
CALLS: dict[str, tuple[str, dict[str, Any]]] = {
    "aiohttp_session": ("send", {"token": SHOP_OLD_KEY, "to": TO, "text": "hi"}),
    "aiohttp_from_import": ("notify", {"api_key": SHOP_OLD_KEY, "phone": TO, "text": "hi"}),
}


@pytest.fixture
def loaded(request: pytest.FixtureRequest) -> Iterator[ModuleType]:
    case = str(request.param)
    path = FIXTURES / "http" / f"{case}.after-shim.py"
    name = f"_rewritten_{case}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[name]


@pytest.mark.parametrize("loaded", sorted(CALLS), indirect=True)
async def test_rewritten_aiohttp_code_sends_through_the_shim(
    loaded: ModuleType, config_file: Path, sb360: RunningSandbox
) -> None:
    case = loaded.__name__.removeprefix("_rewritten_")
    assert "from shim.compat" in Path(loaded.__file__ or "").read_text(encoding="utf-8")
    function, kwargs = CALLS[case]
    answer = await getattr(loaded, function)(**kwargs)
    sent_id = answer if isinstance(answer, str) else answer["messages"][0]["id"]
    outbox = await sb360.aoutbox()
    assert [m["id"] for m in outbox] == [sent_id]
    assert outbox[0]["body"]["messaging_product"] == "whatsapp"
