"""`Coalescer`: what concurrent callers of `next` share."""

from __future__ import annotations

import asyncio

from pgqueue.coalescing import Coalescer
from pgqueue.models import Pulled, RetryLater


def drained(due_soon_looks: list[int]) -> Coalescer[None]:
    """A coalescer over a queue with nothing claimable, whose ``due_soon`` takes
    a moment (a statement) and counts its looks."""

    async def claim(limit: int) -> list[Pulled[None]]:
        return []

    async def due_soon() -> float | None:
        due_soon_looks.append(1)
        await asyncio.sleep(0.05)
        return None

    return Coalescer(
        claim,
        lambda reason: Pulled(RetryLater(reason), None),
        wait=False,
        max_batch=100,
        prefetch=0,
        poll_interval=1.0,
        listener=None,
        due_soon=due_soon,
    )


async def test_a_drained_queue_is_asked_once_what_falls_due_not_once_per_slot() -> None:
    looks: list[int] = []
    source = drained(looks)
    ends = await asyncio.gather(*(source.next() for _ in range(50)))
    assert ends == [None] * 50
    # every slot found the queue dry at once: one statement for the 50 of them
    assert len(looks) == 1


async def test_a_slot_cancelled_while_it_waits_does_not_cancel_the_others_look() -> None:
    looks: list[int] = []
    source = drained(looks)
    slots = [asyncio.ensure_future(source.next()) for _ in range(3)]
    await asyncio.sleep(0.01)  # all three wait on the one look
    slots[0].cancel()
    ends = await asyncio.gather(*slots, return_exceptions=True)
    assert isinstance(ends[0], asyncio.CancelledError)
    assert ends[1:] == [None, None]
    assert len(looks) == 1
