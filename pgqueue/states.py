"""The state machine of a command, as NoETL names its states.

``PENDING → CLAIMED → RUNNING → COMPLETED | FAILED | CANCELLED``. ``FAILED`` is
the dead letter: terminal, with its ``error`` kept, and an operator may requeue
it. Every state literal in pgqueue's SQL is one of these values (a unit test
reads the ``.sql`` files to hold them to it).
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    PENDING = "PENDING"
    CLAIMED = "CLAIMED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


#: held by a worker under a lease (claimable again once the lease ends)
LEASED = frozenset({Status.CLAIMED, Status.RUNNING})
#: finished: nothing claims these again (FAILED only through an operator's requeue)
FINISHED = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})
#: every state NoETL knows; a row in any other is a stray, claimed to be parked
KNOWN = frozenset(Status)
