"""What the seed's own MockSource tests cover, on `InMemorySource`."""

from __future__ import annotations

import asyncio

import pytest

from pgqueue import (
    AlreadyClaimed,
    Claimed,
    Command,
    CommandSource,
    Failed,
    HandleAlreadySettled,
    InMemorySource,
    RetryLater,
)
from pgqueue.source import Settlement


def command(command_id: str) -> Command:
    return Command(
        command_id=command_id,
        execution_id=12345,
        step="fetch",
        tool_kind="http",
        input={"url": "https://example.com"},
    )


async def test_empty_source_returns_none() -> None:
    assert await InMemorySource().next() is None


async def test_yields_in_order_and_numbers_handles() -> None:
    source = InMemorySource([Claimed(command("a")), Claimed(command("b"))])
    first, second = await source.next(), await source.next()
    assert first is not None and second is not None
    assert (first.ack, second.ack) == (0, 1)
    assert first.outcome == Claimed(command("a"))
    assert second.outcome == Claimed(command("b"))
    assert await source.next() is None


async def test_ack_and_nack_are_logged_in_order() -> None:
    source = InMemorySource([AlreadyClaimed()] * 3)
    handles = [p.ack for p in [await source.next() for _ in range(3)] if p]
    await source.ack(handles[0])
    await source.nack(handles[1])
    await source.ack(handles[2])
    assert source.log == [Settlement("ack", 0), Settlement("nack", 1), Settlement("ack", 2)]


async def test_already_claimed_is_acked() -> None:
    source = InMemorySource([AlreadyClaimed()])
    pulled = await source.next()
    assert pulled is not None and pulled.outcome == AlreadyClaimed()
    await source.ack(pulled.ack)
    assert source.log == [Settlement("ack", 0)]


@pytest.mark.parametrize("outcome", [RetryLater("overload"), Failed("malformed payload")])
async def test_reasons_are_carried(outcome: RetryLater | Failed) -> None:
    pulled = await InMemorySource([outcome]).next()
    assert pulled is not None and pulled.outcome.reason == outcome.reason


async def test_a_second_settlement_raises() -> None:
    source = InMemorySource([AlreadyClaimed()])
    pulled = await source.next()
    assert pulled is not None
    await source.ack(pulled.ack)
    with pytest.raises(HandleAlreadySettled):
        await source.nack(pulled.ack)
    with pytest.raises(HandleAlreadySettled):
        await source.ack(99)
    assert source.log == [Settlement("ack", 0)]


async def test_concurrent_next_calls_get_distinct_handles() -> None:
    source = InMemorySource([AlreadyClaimed()] * 50)
    pulled = await asyncio.gather(*(source.next() for _ in range(60)))
    handles = [p.ack for p in pulled if p is not None]
    assert sorted(handles) == list(range(50))


def test_in_memory_source_satisfies_the_protocol() -> None:
    assert isinstance(InMemorySource(), CommandSource)
