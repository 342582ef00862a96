"""`PgHandle`: the ack handle of one outcome pulled from `PgCommandSource`."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from pgqueue.models import ClaimOutcome
from pgqueue.outcomes import ClaimedRow

_handle_numbers = itertools.count()


@dataclass(eq=False, slots=True)
class PgHandle:
    """The ack handle of one pulled outcome. ``claim`` is the row it holds, if any."""

    outcome: ClaimOutcome
    claim: ClaimedRow | None = None
    #: loop time until which the claim's lease holds for sure (claimed ahead rows
    #: past it are dropped, never run); heartbeats move it on
    fresh_until: float = 0.0
    number: int = field(default_factory=_handle_numbers.__next__)
    settled: bool = False

    def __repr__(self) -> str:
        key = f" {self.claim.execution_id}/{self.claim.command_id}" if self.claim else ""
        return f"<PgHandle #{self.number} {type(self.outcome).__name__}{key}>"
