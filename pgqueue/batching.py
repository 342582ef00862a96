"""Natural batching of writes: whatever is submitted while one flush is in flight
goes into the next one. No linger when idle (a lone write is flushed at once),
large batches under load (one round trip for many rows)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


class Batcher(Generic[T, K]):
    """Flushes submitted items with ``flush(items) -> set of keys written``;
    each submitter learns whether its own item was written.

    :param linger: seconds to wait before a flush, so items that stop mattering
        meanwhile can be withdrawn (``discard``); 0 flushes at once.
    """

    def __init__(
        self,
        flush: Callable[[Sequence[T]], Awaitable[set[K]]],
        key: Callable[[T], K],
        *,
        max_batch: int = 500,
        linger: float = 0.0,
    ) -> None:
        self._flush = flush
        self._key = key
        self._max_batch = max_batch
        self._linger = linger
        self._pending: dict[K, tuple[T, asyncio.Future[bool]]] = {}
        self._flusher: asyncio.Task[None] | None = None

    def submit_nowait(self, item: T) -> asyncio.Future[bool]:
        """Queue ``item``; the future says whether it was written."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending[self._key(item)] = (item, future)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._run())
        return future

    def discard(self, key: K) -> bool:
        """Withdraw an item not yet flushed; its future resolves to ``False``."""
        entry = self._pending.pop(key, None)
        if entry is None:
            return False
        if not entry[1].done():
            entry[1].set_result(False)
        return True

    async def _run(self) -> None:
        if self._linger:
            await asyncio.sleep(self._linger)
        while self._pending:
            keys = list(self._pending)[: self._max_batch]
            batch = [self._pending.pop(k) for k in keys]
            try:
                written = await self._flush([item for item, _ in batch])
            except BaseException as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for key, (_, future) in zip(keys, batch, strict=True):
                if not future.done():
                    future.set_result(key in written)
