"""What a worker's next scan claim runs, as the database last said
(``claim_lock.sql``, or ``claim_mode.sql`` after a plain claim that took
nothing): the plain claim or the one that counts limits, fair or not, with
``rate_next.sql`` after it while a rate is set; and when a rate that held it
back lets a command start again.

The plain claim runs alone, with no lead: it takes nothing while a limit
exists or the fleet shares fairly (``part_plain_filter.sql``), and a claim
that took nothing asks which claim to run (`ClaimMode.asks`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class ClaimMode:
    #: a limit exists (the claim lock was exclusive): claim_limited.sql
    limited: bool = False
    #: a rate is set: rate_next.sql follows the claim
    rated: bool = False
    #: the fleet's fair share (``execution``, ``key``), or ``None``
    fair: str | None = None
    #: when (`time.monotonic`) a full rate lets a command start again; ``None``:
    #: no rate held the last claim back
    next_start: float | None = None

    @property
    def statement(self) -> str:
        return "claim_limited" if self.limited else "claim_batch"

    @property
    def which(self) -> tuple[bool, bool, str | None]:
        """What picks the claim statement: limited, rated, fair."""
        return self.limited, self.rated, self.fair

    @property
    def lead(self) -> str | None:
        """The statement before the claim, in its transaction: the claim lock
        (a limited claim's, exclusive; a fair claim's, shared) that also says
        which claim the next one is; none before the plain claim."""
        return "claim_lock" if self.limited or self.fair is not None else None

    def asks(self, took: int) -> bool:
        """Whether, after a claim that took ``took`` rows, the worker asks the
        database which claim to run (``claim_mode.sql``): a plain claim says
        nothing of it, and takes nothing when it is the wrong one."""
        return self.lead is None and took == 0

    @property
    def trail(self) -> str | None:
        """The statement after the claim: under a rate, age out old starts and
        learn when the next may come."""
        return "rate_next" if self.limited and self.rated else None

    def learn(self, lock: tuple[Any, ...], after: list[tuple[Any, ...]]) -> None:
        """From the claim lock's row and the trailing statement's rows."""
        self.limited = lock[0] == "exclusive"
        self.rated, self.fair = bool(lock[1]), lock[2]
        if after:
            wait = after[0][0]
            self.next_start = None if wait is None else time.monotonic() + max(wait, 0.0)
        elif not self.rated:
            self.next_start = None
