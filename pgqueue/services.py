"""The worker's background duties, each a small service with one lifecycle.

A `Service` is started once and stopped once; `stop` returns when its work has
ended. Each duty (keeping leases, enforcing timeouts, pruning finished rows) is
a `Loop`: one task running its ``run`` coroutine until stopped. The worker owns
a list of them and starts and stops them together.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol


class Service(Protocol):
    def start(self) -> None: ...
    async def stop(self) -> None: ...


class Loop:
    """A service whose work is one coroutine, `run`, cancelled on `stop`."""

    #: the task's name, for debugging
    name = "pgqueue-service"

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
