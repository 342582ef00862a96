"""Exponential backoff with jitter and a cap, and retrying a write by it."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from pgqueue.errors import DatabaseError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Delay before attempt ``n + 1`` after ``n`` failed attempts.

    The un-jittered delay is ``base * factor ** (n - 1)``, capped at ``cap``;
    jitter then takes up to ``jitter`` (a fraction) off it, so delays spread out
    and never exceed the cap.
    """

    base: float = 1.0
    factor: float = 2.0
    cap: float = 300.0
    jitter: float = 0.25

    def __post_init__(self) -> None:
        if self.base < 0 or self.cap < 0:
            raise ValueError("base and cap must be >= 0")
        if self.factor < 1:
            raise ValueError("factor must be >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")

    def ceiling(self, attempts: int) -> float:
        """The delay in seconds before jitter, after ``attempts`` failures (>= 1)."""
        exponent = max(attempts, 1) - 1
        # Compare in log space first so a large attempt count can't overflow.
        if self.base == 0:
            return 0.0
        if exponent * math.log(self.factor) >= math.log(self.cap / self.base):
            return self.cap
        return float(self.base * self.factor**exponent)

    def delay(self, attempts: int, *, rng: random.Random | None = None) -> timedelta:
        """The jittered delay after ``attempts`` failures."""
        ceiling = self.ceiling(attempts)
        draw = (rng or random).random()
        return timedelta(seconds=ceiling * (1 - self.jitter * draw))


#: Writes after a tool ran are retried through a short database blip (an
#: unrecorded result would make the command run again): 3 tries, about 0.6 s
#: then 1.8 s apart.
WRITE_RETRY = RetryPolicy(base=0.6, factor=3.0, cap=5.0, jitter=0.25)
WRITE_TRIES = 3


async def retrying(
    write: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy = WRITE_RETRY,
    tries: int = WRITE_TRIES,
) -> T:
    """``write()``, tried again after ``policy``'s delay while it fails with a
    transient `DatabaseError`, at most ``tries`` times in all."""
    for attempt in range(1, tries + 1):
        try:
            return await write()
        except DatabaseError as exc:
            if not exc.transient or attempt == tries:
                raise
            await asyncio.sleep(policy.delay(attempt).total_seconds())
    raise AssertionError("unreachable: tries must be >= 1")
