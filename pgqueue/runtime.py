"""Settings for a process whose main job is running a worker.

A worker allocates a handful of short-lived objects per command. Almost all of
them are freed by reference counting, but the cyclic garbage collector still
walks them, and every so often walks the whole heap too: the tens of thousands
of objects that imports and start-up left behind (pydantic, psycopg, the tools),
none of which will ever be garbage. On a no-op burn-down that was a fifth of a
worker's CPU (docs/performance.md).

`settle_heap` is called by ``pgqueue worker`` (and the bench's workers) once
start-up is done. An application that embeds a `Worker` in its own process can
call it at the same point, if it owns the process.
"""

from __future__ import annotations

import gc
import logging

logger = logging.getLogger(__name__)

#: Allocations between two young-generation collections (CPython's default is
#: 700). Objects that die young are freed by reference counting long before the
#: collector would look at them, so a rarer pass scans far fewer of them.
YOUNG_GENERATION_THRESHOLD = 20_000


def settle_heap() -> None:
    """Collect start-up garbage, move what survives to the permanent generation
    (`gc.freeze`: the collector never walks it again), and collect the young
    generation less often. Process-wide; call it once, after start-up.

    Objects frozen here are never collected as cycles later on; that is the
    trade, and why this is for a process that exists to run a worker.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, old)
    logger.debug(
        "start-up heap frozen: %d objects the collector will not walk again",
        gc.get_freeze_count(),
        extra={"action": "settle_heap", "frozen": gc.get_freeze_count()},
    )
