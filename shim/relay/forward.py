"""POST On-Prem bodies to the legacy app over one keep-alive HTTP/1.1 connection.

Forwarding is the relay's inner loop, so its cost per request matters. With
sniffio installed (without it httpcore searches the import path on every async
call, which inflated an earlier measurement), an httpx ``AsyncClient`` still
spends about 0.43 ms of client CPU per keep-alive POST on a 2-core machine,
and driving h11 (the HTTP/1.1 engine httpx itself uses) directly over an
asyncio stream about 0.09 ms: anyio cancel scopes around every socket
operation and the client's request/response models make the difference. The
protocol work stays in h11; this module only moves bytes, applies the timeout,
and reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit

import h11

__all__ = ["ForwardError", "Forwarder"]

USER_AGENT = "waba-migrate-relay"
_READ = 65536


class ForwardError(Exception):
    """The POST did not get a complete answer (connect failure, reset, timeout, bad HTTP)."""


class Forwarder:
    """One connection at a time, reused while the origin stays the same."""

    def __init__(self, *, timeout: float, tls: ssl.SSLContext | None = None) -> None:
        self.timeout = timeout
        self._tls = tls
        self._origin: tuple[str, str, int] | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._conn = h11.Connection(h11.CLIENT)

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], *,
                   timeout: float | None = None) -> int:
        """POST ``body``; returns the status code or raises :class:`ForwardError`.

        ``timeout`` (default: the forwarder's) bounds the whole exchange.
        """
        limit = self.timeout if timeout is None else timeout
        parts = urlsplit(url)
        scheme = parts.scheme
        host = parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        default_port = port == (443 if scheme == "https" else 80)
        request_headers = {
            "host": host if default_port else f"{host}:{port}",
            "user-agent": USER_AGENT,
            "content-type": "application/json",
        }
        request_headers.update({k.lower(): v for k, v in headers.items()})
        request_headers["content-length"] = str(len(body))
        try:
            async with asyncio.timeout(limit):
                await self._ensure((scheme, host, port))
                return await self._exchange(target, list(request_headers.items()), body)
        except TimeoutError:
            await self.close()
            raise ForwardError(f"no answer within {limit:g} s") from None
        except (OSError, EOFError, asyncio.IncompleteReadError, h11.ProtocolError) as exc:
            await self.close()
            raise ForwardError(f"{type(exc).__name__}: {exc}"[:200]) from None

    async def _ensure(self, origin: tuple[str, str, int]) -> None:
        reusable = (
            self._writer is not None and self._reader is not None
            and origin == self._origin and self._conn.our_state is h11.IDLE
            and not self._reader.at_eof() and not self._writer.is_closing()
        )
        if reusable:
            return
        await self.close()
        scheme, host, port = origin
        tls = None
        if scheme == "https":
            tls = self._tls or ssl.create_default_context()
        self._reader, self._writer = await asyncio.open_connection(
            host, port, ssl=tls, server_hostname=host if tls else None)
        self._origin = origin
        self._conn = h11.Connection(h11.CLIENT)

    async def _exchange(self, target: str, headers: list[tuple[str, str]], body: bytes) -> int:
        assert self._reader is not None and self._writer is not None
        conn = self._conn
        data = conn.send(h11.Request(method="POST", target=target, headers=headers))
        data = (data or b"") + (conn.send(h11.Data(data=body)) or b"")
        data += conn.send(h11.EndOfMessage()) or b""
        self._writer.write(data)
        await self._writer.drain()
        status = 0
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await self._reader.read(_READ))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise EOFError("the app closed the connection before answering")
            # InformationalResponse (1xx) and Data (the answer's body) are not needed
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
        else:
            await self.close()
        return status

    async def close(self) -> None:
        writer, self._writer, self._reader, self._origin = self._writer, None, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()
