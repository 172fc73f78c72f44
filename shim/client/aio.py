"""The asyncio/trio client: same surface as :class:`~shim.client.sync.Client`, awaited."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any

import anyio
import httpx

from shim.client import helpers as h
from shim.client.bulk import (
    BulkMessage,
    Progress,
    Queued,
    SendResult,
    Workforce,
    options_for,
    plan_bulk,
    result_of,
    want_progress,
)
from shim.client.core import UNSET, RequestOptions, Router
from shim.client.dispatch import AsyncDispatcher
from shim.client.errors import OutcomeUnknown
from shim.client.pacing import PairLimit
from shim.client.response import ShimResponse
from shim.client.state import StateStore
from shim.config import Config, load_config

__all__ = ["AsyncClient"]


class AsyncClient:
    """Async twin of :class:`shim.Client` (one ``httpx.AsyncClient`` for all channels)."""

    def __init__(
        self,
        config: Config,
        *,
        channel: str | None = None,
        http: httpx.AsyncClient | None = None,
        state: StateStore | None = None,
        environ: Mapping[str, str] | None = None,
        raise_on_unknown: bool = True,
        pair_limit: PairLimit | None = None,
    ) -> None:
        self.router = Router(
            config,
            default_channel=channel,
            state=state,
            environ=environ,
            pair_limit=pair_limit,
        )
        self.dispatcher = AsyncDispatcher(self.router, http=http)
        self.raise_on_unknown = raise_on_unknown

    @classmethod
    def from_config(
        cls, path: str | os.PathLike[str] | None = None, channel: str | None = None, **kwargs: Any
    ) -> AsyncClient:
        return cls(load_config(path), channel=channel, **kwargs)

    @property
    def config(self) -> Config:
        return self.router.config

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = UNSET,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        channel: str | None = None,
        idempotency_key: str | None = None,
        options: RequestOptions | None = None,
    ) -> ShimResponse:
        if isinstance(content, str):
            content = content.encode()
        if idempotency_key is not None:
            options = (
                RequestOptions(idempotency_key=idempotency_key)
                if options is None
                else replace(options, idempotency_key=idempotency_key)
            )
        response = await self.dispatcher.dispatch(
            method,
            h.with_query(path, params),
            headers=headers,
            content=content,
            json=json,
            channel=channel,
            options=options,
        )
        if response.outcome_unknown and self.raise_on_unknown:
            raise OutcomeUnknown(response)
        return response

    async def get(self, path: str, **kwargs: Any) -> ShimResponse:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> ShimResponse:
        return await self.request("POST", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> ShimResponse:
        return await self.request("PUT", path, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> ShimResponse:
        return await self.request("PATCH", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> ShimResponse:
        return await self.request("DELETE", path, **kwargs)

    async def _call(self, call: h.HelperCall, channel: str | None) -> ShimResponse:
        return await self.request(
            call.method,
            call.path,
            json=call.json,
            content=call.content,
            headers=call.headers,
            channel=channel,
        )

    async def send(
        self,
        message: Mapping[str, Any],
        *,
        channel: str | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        return h.message_id_of(await self._call(h.send_call(message, idempotency_key), channel))

    async def send_text(
        self,
        to: str,
        body: str,
        *,
        preview_url: bool | None = None,
        reply_to: str | None = None,
        channel: str | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        msg = h.text_message(to, body, preview_url=preview_url, reply_to=reply_to)
        return await self.send(msg, channel=channel, idempotency_key=idempotency_key)

    async def send_template(
        self,
        to: str,
        name: str,
        language: str = "en",
        components: Sequence[Mapping[str, Any]] | None = None,
        namespace: str | None = None,
        *,
        channel: str | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        msg = h.template_message(to, name, language, components, namespace)
        return await self.send(msg, channel=channel, idempotency_key=idempotency_key)

    async def send_media(
        self,
        to: str,
        kind: str,
        *,
        media_id: str | None = None,
        link: str | None = None,
        caption: str | None = None,
        filename: str | None = None,
        channel: str | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        msg = h.media_message(
            to, kind, media_id=media_id, link=link, caption=caption, filename=filename
        )
        return await self.send(msg, channel=channel, idempotency_key=idempotency_key)

    async def mark_read(self, message_id: str, *, channel: str | None = None) -> None:
        (await self._call(h.mark_read_call(message_id), channel)).raise_for_status()

    async def upload_media(self, data: bytes, mime_type: str, *, channel: str | None = None) -> str:
        return h.media_id_of(await self._call(h.upload_media_call(data, mime_type), channel))

    async def download_media(self, media_id: str, *, channel: str | None = None) -> bytes:
        response = await self._call(h.download_media_call(media_id), channel)
        response.raise_for_status()
        return response.content

    async def check_contacts(
        self, contacts: Sequence[str], *, channel: str | None = None
    ) -> list[dict[str, Any]]:
        return h.contacts_of(await self._call(h.check_contacts_call(contacts), channel))

    async def health(self, *, channel: str | None = None) -> dict[str, Any]:
        response = (await self._call(h.health_call(), channel)).raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def set_webhook(
        self, url: str, headers: Mapping[str, str] | None = None, *, channel: str | None = None
    ) -> None:
        (await self._call(h.set_webhook_call(url, headers), channel)).raise_for_status()

    async def send_many(
        self,
        messages: Iterable[Mapping[str, Any] | BulkMessage],
        *,
        channel: str | None = None,
        concurrency: int | None = None,
        progress: bool | None = None,
    ) -> list[SendResult]:
        """See :meth:`shim.Client.send_many`; workers are tasks instead of threads."""
        ch = self.router.channel_for_call(channel)
        items = plan_bulk(self.router, ch.name, messages)
        results: list[SendResult | None] = [None] * len(items)
        bar = Progress(len(items), want_progress(progress), f"sending via {ch.name}")
        clock = self.router.clock
        done = [anyio.Event() for _ in items]
        staff = Workforce(items, ch.mps, concurrency)

        async def send(item: Queued) -> None:
            try:
                if item.after is not None:
                    await done[item.after].wait()
                wait = item.ready_at - clock()
                if wait > 0:
                    await anyio.sleep(wait)
                call = h.send_call(item.body)
                response = await self.dispatcher.dispatch(
                    call.method,
                    call.path,
                    json=call.json,
                    channel=ch.name,
                    options=options_for(item),
                )
                staff.observe(response)
                results[item.index] = result_of(item, response)
            finally:
                done[item.index].set()
            bar.advance()

        try:
            async with anyio.create_task_group() as tg:

                async def worker() -> None:
                    try:
                        while (item := staff.next_item()) is not None:
                            await send(item)
                            for _ in range(staff.hire()):
                                tg.start_soon(worker)
                    except BaseException:
                        staff.quit()
                        raise

                for _ in range(staff.hire()):
                    tg.start_soon(worker)
        finally:
            bar.close()
        return [r for r in results if r is not None]

    async def aclose(self) -> None:
        await self.dispatcher.aclose()
        self.router.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
