"""The natural batcher behind completions: what is submitted during a flush goes
in the next one, and every submitter hears about its own item exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from pgqueue.batching import Batcher


class Sink:
    """A flush that records its batches, writes the even items, and can be held."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail: BaseException | None = None

    async def flush(self, items: Sequence[int]) -> set[int]:
        self.batches.append(list(items))
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return {i for i in items if i % 2 == 0}


async def test_items_submitted_during_a_flush_go_in_the_next_and_each_hears_once() -> None:
    sink = Sink()
    sink.gate.clear()
    batcher: Batcher[int, int] = Batcher(sink.flush, key=lambda i: i)
    heard: list[tuple[int, bool, BaseException | None]] = []
    batcher.submit(0, lambda w, e: heard.append((0, w, e)))
    await asyncio.sleep(0)  # the first flush starts with item 0 alone
    futures = [batcher.submit_nowait(i) for i in (1, 2)]
    batcher.submit(3, lambda w, e: heard.append((3, w, e)))
    sink.gate.set()
    assert [await f for f in futures] == [False, True]
    assert sink.batches == [[0], [1, 2, 3]]
    assert heard == [(0, True, None), (3, False, None)]


async def test_a_failed_flush_is_told_to_every_item_and_the_next_one_runs() -> None:
    sink = Sink()
    sink.fail = RuntimeError("database away")
    batcher: Batcher[int, int] = Batcher(sink.flush, key=lambda i: i)
    heard: list[BaseException | None] = []
    batcher.submit(1, lambda w, e: heard.append(e))
    future = batcher.submit_nowait(2)
    with pytest.raises(RuntimeError, match="database away"):
        await future
    assert [str(e) for e in heard] == ["database away"]
    sink.fail = None
    assert await batcher.submit_nowait(4) is True


async def test_a_callback_that_raises_is_logged_and_spares_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = Sink()
    batcher: Batcher[int, int] = Batcher(sink.flush, key=lambda i: i)

    def broken(written: bool, error: BaseException | None) -> None:
        raise ValueError("bug in a submitter")

    batcher.submit(0, broken)
    future = batcher.submit_nowait(2)
    assert await future is True
    assert "callback failed" in caplog.text and "bug in a submitter" in caplog.text


async def test_a_discarded_item_is_not_flushed_and_hears_not_written() -> None:
    sink = Sink()
    batcher: Batcher[int, int] = Batcher(sink.flush, key=lambda i: i, linger=0.01)
    heard: list[tuple[bool, BaseException | None]] = []
    batcher.submit(2, lambda w, e: heard.append((w, e)))
    kept = batcher.submit_nowait(4)
    assert batcher.discard(2) is True
    assert batcher.discard(2) is False
    assert await kept is True
    assert heard == [(False, None)]
    assert sink.batches == [[4]]
