"""LISTEN on the queue's channel and wake idle claimers.

A dedicated connection (LISTEN needs a session; a pooled one would be handed to
others). When the connection drops, the listener reconnects with backoff and
logs one line per outage; the claimers keep polling meanwhile, so a lost
notification or a pooler that drops LISTEN only adds latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from pgqueue.backoff import RetryPolicy
from pgqueue.db.translate import describe

logger = logging.getLogger(__name__)


#: the payload of a `pgqueue.wait` caller telling the workers it waits
WAITING = "waiting"


def _nothing() -> None:
    return None


class Listener:
    """Sets `event` on every notification of `channel` (counted in `received`)
    but a waiter's (`WAITING`), which calls `on_waiting` instead."""

    def __init__(
        self, conninfo: str, channel: str, connect_kwargs: dict[str, Any] | None = None
    ) -> None:
        self._conninfo = conninfo
        self._channel = channel
        self._kwargs = dict(connect_kwargs or {})
        self._kwargs.pop("autocommit", None)
        self.event = asyncio.Event()
        self.ready = asyncio.Event()
        self.received = 0
        #: a caller of `pgqueue.wait` says it waits (the worker then wakes waiters)
        self.on_waiting: Callable[[], None] = _nothing
        self._task: asyncio.Task[None] | None = None
        self._reconnect = RetryPolicy(base=0.1, factor=2.0, cap=5.0, jitter=0.5)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"pgqueue-listen-{self._channel}")

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True, **self._kwargs
                )
                async with conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
                    if failures:
                        logger.info(
                            "listening again after %d failed attempt(s)",
                            failures,
                            extra={"channel": self._channel, "action": "listen"},
                        )
                    failures = 0
                    self.ready.set()
                    # Whatever was notified while we were away is covered by waking
                    # everyone once: they claim, find work or go back to waiting.
                    self.event.set()
                    async for note in conn.notifies():
                        if note.payload == WAITING:
                            self.on_waiting()
                            continue
                        self.received += 1
                        self.event.set()
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError) as exc:
                self.ready.clear()
                failures += 1
                if failures == 1:
                    logger.warning(
                        "LISTEN connection lost (%s); polling until it is back",
                        describe(exc),
                        extra={"channel": self._channel, "action": "listen"},
                    )
                await asyncio.sleep(self._reconnect.delay(failures).total_seconds())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
