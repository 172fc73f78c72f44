"""The blocking client: the On-Prem v1 interface over whichever backend a channel uses."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any

import httpx

from shim.client import helpers as h
from shim.client.bulk import (
    MAX_CONCURRENCY,
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
from shim.client.dispatch import Dispatcher
from shim.client.errors import OutcomeUnknown
from shim.client.pacing import PairLimit
from shim.client.response import ShimResponse
from shim.client.state import StateStore
from shim.config import Config, load_config

__all__ = ["Client"]


class Client:
    """Call On-Prem v1 paths; get On-Prem responses, whatever serves the channel.

    ``channel`` picks the channel for calls that do not name one (optional when
    the config has a single channel); a call can also be routed by the
    ``D360-API-KEY``/Bearer it carries. One connection pool serves all channels.
    An outcome-unknown call raises :class:`OutcomeUnknown` unless
    ``raise_on_unknown=False`` (then the 504 response says so).
    """

    def __init__(
        self,
        config: Config,
        *,
        channel: str | None = None,
        http: httpx.Client | None = None,
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
        self.dispatcher = Dispatcher(self.router, http=http)
        self.raise_on_unknown = raise_on_unknown

    @classmethod
    def from_config(
        cls, path: str | os.PathLike[str] | None = None, channel: str | None = None, **kwargs: Any
    ) -> Client:
        """Load the config (default: ``$WABA_MIGRATE_CONFIG``) and build a client."""
        return cls(load_config(path), channel=channel, **kwargs)

    @property
    def config(self) -> Config:
        return self.router.config

    # -- raw On-Prem calls -----------------------------------------------------

    def request(
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
                else _with_key(options, idempotency_key)
            )
        response = self.dispatcher.dispatch(
            method,
            h.with_query(path, params) if params else path,
            headers=headers,
            content=content,
            json=json,
            channel=channel,
            options=options,
        )
        if response.outcome_unknown and self.raise_on_unknown:
            raise OutcomeUnknown(response)
        return response

    def get(self, path: str, **kwargs: Any) -> ShimResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> ShimResponse:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> ShimResponse:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> ShimResponse:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> ShimResponse:
        return self.request("DELETE", path, **kwargs)

    def _call(
        self, call: h.HelperCall, channel: str | None, options: RequestOptions | None = None
    ) -> ShimResponse:
        return self.request(
            call.method,
            call.path,
            json=call.json,
            content=call.content,
            headers=call.headers,
            channel=channel,
            options=options,
        )

    # -- typed helpers -------------------------------------------------------

    def send(
        self,
        message: Mapping[str, Any],
        *,
        channel: str | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """Send any On-Prem message body; returns the message id."""
        return h.message_id_of(self._call(h.send_call(message, idempotency_key), channel))

    def send_text(
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
        return self.send(msg, channel=channel, idempotency_key=idempotency_key)

    def send_template(
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
        return self.send(msg, channel=channel, idempotency_key=idempotency_key)

    def send_media(
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
        return self.send(msg, channel=channel, idempotency_key=idempotency_key)

    def mark_read(self, message_id: str, *, channel: str | None = None) -> None:
        self._call(h.mark_read_call(message_id), channel).raise_for_status()

    def upload_media(self, data: bytes, mime_type: str, *, channel: str | None = None) -> str:
        return h.media_id_of(self._call(h.upload_media_call(data, mime_type), channel))

    def download_media(self, media_id: str, *, channel: str | None = None) -> bytes:
        response = self._call(h.download_media_call(media_id), channel)
        response.raise_for_status()
        return response.content

    def check_contacts(
        self, contacts: Sequence[str], *, channel: str | None = None
    ) -> list[dict[str, Any]]:
        return h.contacts_of(self._call(h.check_contacts_call(contacts), channel))

    def health(self, *, channel: str | None = None) -> dict[str, Any]:
        response = self._call(h.health_call(), channel).raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def set_webhook(
        self, url: str, headers: Mapping[str, str] | None = None, *, channel: str | None = None
    ) -> None:
        self._call(h.set_webhook_call(url, headers), channel).raise_for_status()

    # -- bulk ------------------------------------------------------------------

    def send_many(
        self,
        messages: Iterable[Mapping[str, Any] | BulkMessage],
        *,
        channel: str | None = None,
        concurrency: int | None = None,
        progress: bool | None = None,
    ) -> list[SendResult]:
        """Send On-Prem message bodies at the channel's mps and pair rate.

        Never raises for a single message: each gets a :class:`SendResult`
        (message id, error, or outcome unknown with its idempotency key), in
        input order. ``concurrency=None`` sizes the number of sends in flight
        from the backend's round trip (see :class:`~shim.client.bulk.Workforce`);
        an int pins it. A progress bar is shown on a terminal (``progress=None``)
        only.
        """
        ch = self.router.channel_for_call(channel)
        items = plan_bulk(self.router, ch.name, messages)
        results: list[SendResult | None] = [None] * len(items)
        bar = Progress(len(items), want_progress(progress), f"sending via {ch.name}")
        clock = self.router.clock
        done = [threading.Event() for _ in items]
        staff = Workforce(items, ch.mps, concurrency)
        finished = threading.Event()
        failures: list[BaseException] = []
        remaining = [len(items)]
        count_lock = threading.Lock()

        def send(item: Queued) -> None:
            try:
                if item.after is not None:
                    done[item.after].wait()
                wait = item.ready_at - clock()
                if wait > 0:
                    time.sleep(wait)
                call = h.send_call(item.body)
                response = self.dispatcher.dispatch(
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
            with count_lock:
                remaining[0] -= 1
                if remaining[0] == 0:
                    finished.set()

        def worker() -> None:
            try:
                while (item := staff.next_item()) is not None:
                    send(item)
                    for _ in range(staff.hire()):
                        pool.submit(worker)
            except BaseException as exc:  # surfaced to the caller below
                staff.quit()
                failures.append(exc)
                finished.set()

        pool = ThreadPoolExecutor(max_workers=MAX_CONCURRENCY, thread_name_prefix="send_many")
        try:
            if items:
                for _ in range(staff.hire()):
                    pool.submit(worker)
                finished.wait()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            bar.close()
        if failures:
            raise failures[0]
        return [r for r in results if r is not None]

    # -- lifecycle ---------------------------------------------------------------

    def close(self) -> None:
        self.dispatcher.close()
        self.router.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _with_key(options: RequestOptions, key: str) -> RequestOptions:
    from dataclasses import replace

    return replace(options, idempotency_key=key)
