"""Live figures for every open page from one read: a poller that runs while
anyone listens, reads the overview once per interval and hands the same
snapshot to every listener. Ten open tabs cost the database what one does."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator

from pgqueue.dashboard.reads import Reads
from pgqueue.errors import DatabaseError

logger = logging.getLogger(__name__)


class Live:
    """The overview, read every ``interval`` seconds while anyone listens."""

    def __init__(self, reads: Reads, interval: float) -> None:
        self.reads = reads
        self.interval = interval
        #: reads of the overview so far (the test of ten tabs counts them)
        self.polls = 0
        self._listeners: set[asyncio.Queue[str]] = set()
        self._poller: asyncio.Task[None] | None = None

    async def listen(self) -> AsyncIterator[str]:
        """Each snapshot as JSON, the first at once, until the caller stops."""
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=2)
        self._listeners.add(queue)
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll())
        try:
            while True:
                yield await queue.get()
        finally:
            self._listeners.discard(queue)

    async def _poll(self) -> None:
        while self._listeners:
            try:
                snapshot = json.dumps((await self.reads.overview()).as_json())
            except DatabaseError as exc:
                logger.warning("dashboard: cannot read the overview: %s", exc)
                snapshot = json.dumps({"error": str(exc)})
            self.polls += 1
            for queue in list(self._listeners):
                if queue.full():  # a slow tab skips a snapshot, not the others
                    with contextlib.suppress(asyncio.QueueEmpty):
                        queue.get_nowait()
                queue.put_nowait(snapshot)
            await asyncio.sleep(self.interval)

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
