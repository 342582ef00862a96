"""When a source that does not wait (``pgqueue worker --until-empty``) is done:
not while a command of the kinds it serves falls due within its horizon (a
retry in backoff, a short delay), nor while a rate that held its last claim
back opens again within it. The query is ``db/sql/next_due.sql``."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta

from pgqueue.coalescing import RATE_MARGIN
from pgqueue.db.gateway import Gateway
from pgqueue.errors import DatabaseError


def due_soon(
    gateway: Gateway, within: timedelta, kinds: Callable[[], Iterable[str] | None]
) -> Callable[[], Awaitable[float | None]]:
    """A `Coalescer`'s ``due_soon``: seconds until the next command of
    ``kinds()`` (``None``: every kind) falls due within ``within``, or a full
    rate lets commands start again within it (`ClaimMode.next_start`), if either
    comes that soon."""

    async def seconds() -> float | None:
        due = await next_due()
        if gateway.mode.next_start is None:
            return due
        rate = max(gateway.mode.next_start - time.monotonic(), 0.0) + RATE_MARGIN
        if rate > within.total_seconds():
            return due
        return rate if due is None else min(due, rate)

    async def next_due() -> float | None:
        try:
            rows = await gateway.fetch(
                "next_due",
                {"horizon": within, "tool_kinds": list(kinds() or ())},
                role="claim",
            )
        except DatabaseError:
            return None  # an outage is no reason to stay: the run ends as it is
        found = rows[0][0] if rows else None
        return None if found is None else max(float(found), 0.0)

    return seconds


__all__ = ["due_soon"]
