"""Sandbox fixtures: one real server per API per module (reset before each test)
and a real webhook receiver on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from shim.sandbox import RunningSandbox, running_asgi, running_sandbox
from tests.sandbox.helpers import WebhookReceiver


@pytest.fixture(scope="module")
def _receiver_server() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver()
    with running_asgi(hook.app()) as base_url:
        hook.url = f"{base_url}/hook"
        yield hook
        hook.gate.set()


@pytest.fixture
def receiver(_receiver_server: WebhookReceiver) -> Iterator[WebhookReceiver]:
    """A real webhook endpoint on loopback, emptied before each test."""
    _receiver_server.reset()
    yield _receiver_server
    _receiver_server.gate.set()


def _module_sandbox(api: str) -> Callable[[], Iterator[RunningSandbox]]:
    def fixture() -> Iterator[RunningSandbox]:
        with running_sandbox(api, seed=7, webhook_backoff_s=0.01) as sandbox:
            yield sandbox

    return fixture


_d360_server = pytest.fixture(scope="module", name="_d360_server")(_module_sandbox("360dialog"))
_meta_server = pytest.fixture(scope="module", name="_meta_server")(_module_sandbox("meta"))
_onprem_server = pytest.fixture(scope="module", name="_onprem_server")(_module_sandbox("onprem"))


@pytest.fixture
def d360(_d360_server: RunningSandbox) -> RunningSandbox:
    _d360_server.reset()
    return _d360_server


@pytest.fixture
def meta(_meta_server: RunningSandbox) -> RunningSandbox:
    _meta_server.reset()
    return _meta_server


@pytest.fixture
def onprem(_onprem_server: RunningSandbox) -> RunningSandbox:
    _onprem_server.reset()
    return _onprem_server


@pytest.fixture(params=["360dialog", "meta"])
def cloud(request: pytest.FixtureRequest) -> RunningSandbox:
    """Each Cloud surface in turn: the rules are the same on both."""
    name = "d360" if request.param == "360dialog" else "meta"
    sandbox: RunningSandbox = request.getfixturevalue(name)
    return sandbox


@pytest.fixture
def api(cloud: RunningSandbox) -> Iterator[httpx.Client]:
    """An authenticated client whose base URL is the surface's messaging prefix."""
    with cloud.client() as client:
        yield client
