"""The forwarding connection against a real server: reuse, reconnects, timeouts, odd answers."""

from __future__ import annotations

import asyncio
import json

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from shim.relay.forward import Forwarder, ForwardError
from tests.relay.loopback import ServerThread, free_port

pytestmark = pytest.mark.anyio
seen: list[tuple[int, dict[str, str], bytes]] = []


async def ok(request: Request) -> Response:
    assert request.client is not None
    seen.append((request.client.port, dict(request.headers), await request.body()))
    return JSONResponse({"ok": True})


async def slow(request: Request) -> Response:
    await asyncio.sleep(1.0)
    return JSONResponse({})


async def close(request: Request) -> Response:
    assert request.client is not None
    seen.append((request.client.port, dict(request.headers), await request.body()))
    return JSONResponse({}, headers={"connection": "close"})


async def chunked(request: Request) -> Response:
    async def parts():  # type: ignore[no-untyped-def]
        for n in range(3):
            yield json.dumps({"part": n}).encode()

    return StreamingResponse(parts(), status_code=202)


async def status(request: Request) -> Response:
    return Response(b"busy", status_code=int(request.path_params["code"]))


APP = Starlette(routes=[Route("/ok", ok, methods=["POST"]), Route("/slow", slow, methods=["POST"]),
                        Route("/close", close, methods=["POST"]),
                        Route("/chunked", chunked, methods=["POST"]),
                        Route("/status/{code}", status, methods=["POST"])])


@pytest.fixture(scope="module")
def server() -> ServerThread:
    with ServerThread(APP) as running:
        yield running  # type: ignore[misc]


async def test_keeps_the_connection_and_sends_headers(server: ServerThread) -> None:
    seen.clear()
    client = Forwarder(timeout=5)
    for n in range(3):
        body = json.dumps({"n": n}).encode()
        assert await client.post(f"{server.url}/ok", body, {"X-Legacy": "yes"}) == 200
    await client.close()
    assert len({port for port, _, _ in seen}) == 1  # one connection for all three
    _, headers, body = seen[-1]
    assert body == b'{"n": 2}' and headers["x-legacy"] == "yes"
    assert headers["content-type"] == "application/json"
    assert headers["host"] == f"127.0.0.1:{server.port}"


async def test_status_codes_chunked_answers_and_connection_close(server: ServerThread) -> None:
    client = Forwarder(timeout=5)
    assert await client.post(f"{server.url}/status/503", b"{}", {}) == 503
    assert await client.post(f"{server.url}/chunked", b"{}", {}) == 202
    seen.clear()
    assert await client.post(f"{server.url}/close", b"{}", {}) == 200
    assert await client.post(f"{server.url}/ok", b"{}", {}) == 200
    (closed_port, _, _), (next_port, _, _) = seen
    assert next_port != closed_port  # a new connection after the server closed the old one
    await client.close()


async def test_timeout_and_refused_connection_raise_forward_error(server: ServerThread) -> None:
    client = Forwarder(timeout=0.2)
    with pytest.raises(ForwardError, match=r"no answer within 0\.2 s"):
        await client.post(f"{server.url}/slow", b"{}", {})
    assert await client.post(f"{server.url}/status/204", b"{}", {}) == 204  # usable again
    with pytest.raises(ForwardError, match=r"ConnectionRefusedError|OSError"):
        await client.post(f"http://127.0.0.1:{free_port()}/ok", b"{}", {})
    await client.close()


async def test_reconnects_when_the_app_dropped_an_idle_connection() -> None:
    import uvicorn

    from tests.relay.loopback import ServerThread as _Server

    class ShortKeepAlive(_Server):
        def __init__(self) -> None:
            super().__init__(APP)
            self.server = uvicorn.Server(uvicorn.Config(APP, log_level="warning",
                                                        timeout_keep_alive=0.1))

    with ShortKeepAlive() as short:
        client = Forwarder(timeout=5)
        seen.clear()
        assert await client.post(f"{short.url}/ok", b"{}", {}) == 200
        await asyncio.sleep(0.5)  # the server closes the idle connection meanwhile
        assert await client.post(f"{short.url}/ok", b"{}", {}) == 200
        await client.close()
    assert len({port for port, _, _ in seen}) == 2
