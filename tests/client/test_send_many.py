"""send_many: paced bulk sends with one result per message, sync and async."""

from __future__ import annotations

import pytest

from shim import AsyncClient, Client
from shim.client import BulkMessage
from shim.sandbox import RunningSandbox
from tests.client.conftest import config_for


def batch(n: int) -> list[dict[str, object]]:
    return [{"to": f"49151{i:07d}", "type": "text", "text": {"body": f"n{i}"}} for i in range(n)]


def test_results_are_per_message_in_input_order(
    cloud_sandbox: RunningSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    messages: list[object] = [*batch(30)]
    messages.insert(5, {"type": "text", "text": {"body": "no recipient"}})
    messages.append(BulkMessage({"to": "4915100000", "text": {"body": "keyed"}}, "bulk-key-1"))
    with Client(config_for(cloud_sandbox)) as client:
        results = client.send_many(messages)  # type: ignore[arg-type]
    assert [r.index for r in results] == list(range(32))
    bad = results[5]
    assert not bad.ok and bad.error_code == 1008 and "$.to" in (bad.error or "")
    good = [r for r in results if r.ok]
    assert len(good) == 31 and results[-1].idempotency_key == "bulk-key-1"
    outbox = {m["body"]["biz_opaque_callback_data"]: m["id"] for m in cloud_sandbox.outbox()}
    assert outbox == {r.idempotency_key: r.message_id for r in good}
    assert capsys.readouterr().err == ""  # not a terminal: no progress bar


def test_a_lost_response_is_reported_not_resent(sb360: RunningSandbox) -> None:
    sb360.reset()
    sb360.fault(drop_after_accept=True, path="/messages")
    with Client(config_for(sb360)) as client:
        results = client.send_many(batch(10), concurrency=1)
    unknown = [r for r in results if r.outcome_unknown]
    assert len(unknown) == 1 and unknown[0].idempotency_key
    assert sum(r.ok for r in results) == 9
    outbox = sb360.outbox()
    assert len(outbox) == 10  # the lost one was accepted once, never twice
    assert unknown[0].idempotency_key in {m["body"]["biz_opaque_callback_data"] for m in outbox}


def test_progress_bar_when_asked(sb360: RunningSandbox, capsys: pytest.CaptureFixture[str]) -> None:
    sb360.reset()
    with Client(config_for(sb360)) as client:
        client.send_many(batch(3), progress=True)
    err = capsys.readouterr().err
    assert "sending via main" in err and "3/3" in err


@pytest.mark.anyio
async def test_async_send_many(sbmeta: RunningSandbox) -> None:
    await sbmeta.areset()
    async with AsyncClient(config_for(sbmeta)) as client:
        results = await client.send_many(batch(25), concurrency=8)
    assert all(r.ok for r in results) and len(results) == 25
    assert sorted(m["id"] for m in await sbmeta.aoutbox()) == sorted(
        r.message_id
        for r in results  # type: ignore[misc]
    )


def test_send_many_needs_a_channel_when_there_are_several(
    sb360: RunningSandbox, sbmeta: RunningSandbox
) -> None:
    from shim.client import ChannelError
    from shim.config import parse_config
    from tests.client.conftest import channel_table

    cfg = parse_config({"channels": {"a": channel_table(sb360), "b": channel_table(sbmeta)}})
    with Client(cfg) as client, pytest.raises(ChannelError, match="pass channel="):
        client.send_many(batch(1))
