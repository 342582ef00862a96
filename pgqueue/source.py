"""The pull-model `CommandSource` protocol and an in-memory source.

Every handle a source pulls is settled exactly once, by `ack` or by `nack`; a
second settlement raises `HandleAlreadySettled`. Concurrent `next()` calls are
safe and each gets its own handle. `next()` returns ``None`` only when a
finite source is drained (or a closed one stops).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar, runtime_checkable

from pgqueue.errors import HandleAlreadySettled
from pgqueue.models import ClaimOutcome, Pulled

H = TypeVar("H")


@runtime_checkable
class CommandSource(Protocol[H]):
    """Where a worker gets its next command from."""

    async def next(self) -> Pulled[H] | None:
        """Pull one outcome, or ``None`` when the source is drained."""
        ...

    async def ack(self, handle: H) -> object:
        """Commit the pull: nothing is redelivered."""
        ...

    async def nack(self, handle: H) -> object:
        """Reject the pull: the source's own redelivery policy applies."""
        ...


@dataclass(frozen=True, slots=True)
class Settlement:
    """One entry of `InMemorySource.log`."""

    action: Literal["ack", "nack"]
    handle: int


class InMemorySource:
    """Yields a fixed sequence of outcomes, numbering handles from 0, and records
    every ack and nack in order. For tests and local runs."""

    def __init__(self, outcomes: Iterable[ClaimOutcome] = ()) -> None:
        self._queue: deque[ClaimOutcome] = deque(outcomes)
        self._next_handle = 0
        self._settled: set[int] = set()
        self._lock = asyncio.Lock()
        self.log: list[Settlement] = []

    async def next(self) -> Pulled[int] | None:
        async with self._lock:
            if not self._queue:
                return None
            handle = self._next_handle
            self._next_handle += 1
            return Pulled(self._queue.popleft(), handle)

    def _settle(self, action: Literal["ack", "nack"], handle: int) -> None:
        if handle in self._settled:
            raise HandleAlreadySettled(f"handle {handle} was already settled")
        if not 0 <= handle < self._next_handle:
            raise HandleAlreadySettled(f"handle {handle} was never pulled from this source")
        self._settled.add(handle)
        self.log.append(Settlement(action, handle))

    async def ack(self, handle: int) -> None:
        self._settle("ack", handle)

    async def nack(self, handle: int) -> None:
        self._settle("nack", handle)
