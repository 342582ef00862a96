"""Natural batching of writes: whatever is submitted while one flush is in flight
goes into the next one. No linger when idle (a lone write is flushed at once),
large batches under load (one round trip for many rows)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)

logger = logging.getLogger(__name__)

#: Told once whether an item was written: ``(written, None)``, or
#: ``(False, error)`` when its flush failed.
Notify = Callable[[bool, BaseException | None], None]


class Batcher(Generic[T, K]):
    """Flushes submitted items with ``flush(items) -> set of keys written``;
    each submitter learns whether its own item was written: by a callback
    (`submit`, called from the flush, no task switch per item) or a future
    (`submit_nowait`).

    :param linger: seconds to wait before a flush, so items that stop mattering
        meanwhile can be withdrawn (``discard``); 0 flushes at once. (RUNNING
        marks linger; completions do not.)
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
        self._pending: dict[K, tuple[T, Notify]] = {}
        self._flusher: asyncio.Task[None] | None = None

    def submit(self, item: T, notify: Notify) -> None:
        """Queue ``item``; ``notify`` is called once, from the flush, with the outcome."""
        self._pending[self._key(item)] = (item, notify)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._run())

    def submit_nowait(self, item: T) -> asyncio.Future[bool]:
        """Queue ``item``; the future says whether it was written."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def notify(written: bool, error: BaseException | None) -> None:
            if future.done():
                return
            if error is None:
                future.set_result(written)
            else:
                future.set_exception(error)

        self.submit(item, notify)
        return future

    async def drain(self) -> None:
        """Wait until everything submitted so far has been flushed."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.wait([self._flusher])  # not cancelled if the caller is

    def discard(self, key: K) -> bool:
        """Withdraw an item not yet flushed; it is notified as not written."""
        entry = self._pending.pop(key, None)
        if entry is None:
            return False
        _tell(entry[1], False, None)
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
                for _, notify in batch:
                    _tell(notify, False, exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for key, (_, notify) in zip(keys, batch, strict=True):
                _tell(notify, key in written, None)


def _tell(notify: Notify, written: bool, error: BaseException | None) -> None:
    """One submitter's callback; its failure is logged, and the batch goes on."""
    try:
        notify(written, error)
    except Exception:
        logger.exception("a batched write's callback failed", extra={"action": "notify"})
