"""The gateway benchmark's baseline: the cheapest honest proxy on the gateway's stack.

A bare ASGI app on uvicorn (httptools, no access log) that reads the caller's
body and POSTs it unchanged to ``UPSTREAM + path`` over an httpx pool, then
copies status and body back. It does none of the gateway's work (no key check,
no translation, no routing, no pacing, no metrics, no log line), so the ratio
gateway/proxy is what that work costs on the same stack.

It forwards through the same transport as the gateway (``--pool http1``, the
default: :class:`shim.client.http1.AsyncHTTP1Transport`), so the gateway's
cheaper backend exchange does not make it look better than the proxy;
``--pool httpx`` runs a plain ``httpx.AsyncClient`` pool.

Run: ``python bench/_passthrough_proxy.py UPSTREAM [--pool http1|httpx]``;
prints its base URL on the first line of stdout.
"""

from __future__ import annotations

import argparse
import socket
import sys
from typing import Any

import httpx
import uvicorn

from shim.client.dispatch import KEEPALIVE_EXPIRY, default_limits
from shim.client.http1 import AsyncHTTP1Transport


def make_app(upstream: str, pool: str) -> Any:
    transport: httpx.AsyncBaseTransport
    if pool == "http1":
        transport = AsyncHTTP1Transport(keepalive_expiry=KEEPALIVE_EXPIRY)
    else:
        transport = httpx.AsyncHTTPTransport(limits=default_limits())
    client = httpx.AsyncClient(transport=transport, trust_env=False, timeout=30.0)
    base = upstream.rstrip("/")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await client.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]
                   if k.lower() in (b"authorization", b"d360-api-key", b"content-type")]
        answer = await client.post(base + scope["path"], content=b"".join(chunks),
                                   headers=headers)
        await send({"type": "http.response.start", "status": answer.status_code,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(answer.content)).encode())]})
        await send({"type": "http.response.body", "body": answer.content})

    return app


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("upstream")
    parser.add_argument("--pool", choices=("http1", "httpx"), default="http1")
    args = parser.parse_args()
    # IPPROTO_TCP, as the gateway does: asyncio then sets TCP_NODELAY on accepted sockets.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    port = sock.getsockname()[1]
    print(f"http://127.0.0.1:{port}", flush=True)
    config = uvicorn.Config(make_app(args.upstream, args.pool), log_level="error",
                            access_log=False, http="httptools", lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
