"""Plain functions run in daemon threads.

A thread cannot be interrupted. `asyncio.to_thread` runs functions on the
loop's default executor, whose threads the interpreter joins at exit: a worker
told to stop at once (a second signal, the grace ended) stayed alive until each
thread returned. A daemon thread per call does not hold the process up; a
stopping worker says which commands it leaves running that way, and does not
let another worker take them before it has exited.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return  # the awaiting task was cancelled: the result goes nowhere
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


async def in_thread(function: Callable[..., T], *args: Any, name: str = "pgqueue-tool") -> T:
    """``function(*args)`` in a daemon thread of its own (with this context's
    variables); cancelling the caller leaves the thread running to its end."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    context = contextvars.copy_context()

    def run() -> None:
        try:
            result, error = context.run(function, *args), None
        except BaseException as exc:
            result, error = None, exc
        # a closed loop: the worker is gone, and so is the caller
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle, future, result, error)

    threading.Thread(target=run, name=name, daemon=True).start()
    return await future
