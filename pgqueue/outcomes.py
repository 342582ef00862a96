"""From a claimed row to one of the four outcomes: the mapping, in one place.

The claim statements return a row in the column order of
``db/sql/part_claimed_row.sql``, which `ClaimedRow` mirrors. `row_outcome`
turns such a row into `Claimed` (a `Command`) or `Failed` (why it cannot be
one); `target_outcome` turns what a targeted claim found (the verdict rows of
``db/sql/claim_target.sql``) into any of the four.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from pgqueue.models import (
    UINT32_MAX,
    AlreadyClaimed,
    Claimed,
    ClaimOutcome,
    Failed,
    RetryLater,
    trusted_command,
)
from pgqueue.states import FINISHED, KNOWN, LEASED, Status

#: A command's identity: (execution_id, command_id), the table's primary key.
CommandKey = tuple[int, int]


class ClaimedRow(NamedTuple):
    """A row as the claim committed it: what the source needs to build a `Command`
    and to fence every later write. A named tuple: made straight from the
    returned row (much cheaper than a frozen dataclass), on the hot path. Its
    fields are the columns of ``part_claimed_row.sql``, in order."""

    execution_id: int
    command_id: int
    step_name: str | None
    tool_kind: str | None
    context: Any
    attempts: int
    max_attempts: int
    token: uuid.UUID
    #: the row's meta (NoETL's: loop fields, its own attempt limit), and its loop
    #: columns: what a report to a control plane names
    meta: Any = None
    loop_event_id: int | None = None
    iter_index: int | None = None
    #: the status the claim found (PENDING; CLAIMED/RUNNING for a rescue; or a stray)
    previous_status: str | None = Status.PENDING

    @property
    def key(self) -> CommandKey:
        return (self.execution_id, self.command_id)


#: how many of a claim's returned columns make a `ClaimedRow`
CLAIMED_COLUMNS = len(ClaimedRow._fields)


@dataclass(frozen=True, slots=True)
class TargetVerdict:
    """What a targeted claim found: ``taken`` (with the row), ``seen`` (locked by us
    but not claimable: see status, due_at), ``busy`` (locked by another), or
    ``missing`` (no such row)."""

    verdict: str
    row: ClaimedRow | None = None
    status: str | None = None
    due_at: datetime | None = None
    tool_kind: str | None = None
    matches: int = 0
    #: what flow control holds a due PENDING row back by (a pause, a full limit)
    reason: str | None = None

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[Any, ...]]) -> TargetVerdict:
        """The verdict in the rows of ``claim_target.sql``: ``verdict``, then a
        claimed row's columns, then ``due_at`` and ``reason``."""
        if not rows:
            return cls("missing")
        first = rows[0]
        if first[0] == "taken":
            return cls("taken", row=ClaimedRow._make(first[1 : 1 + CLAIMED_COLUMNS]), matches=1)
        return cls(
            first[0],
            status=first[CLAIMED_COLUMNS],
            due_at=first[-2],
            tool_kind=first[4],
            matches=len(rows),
            reason=first[-1],
        )


def _kind(value: object) -> str:
    return "an array" if isinstance(value, list) else f"a {type(value).__name__}"


def row_outcome(row: ClaimedRow) -> Claimed | Failed:
    """Turn a claimed row into a `Command`, or say why it cannot be one."""
    if row.previous_status not in KNOWN:
        return Failed(f"unknown status {row.previous_status!r}")
    if row.attempts < 0:
        return Failed(f"attempts is negative ({row.attempts})")
    if row.attempts >= row.max_attempts:
        return Failed(f"attempts exhausted ({row.attempts} of {row.max_attempts})")
    if row.attempts > UINT32_MAX:
        return Failed(f"attempts {row.attempts} does not fit in 32 bits")
    if not row.tool_kind:
        return Failed("no tool kind: tool_kind is empty")
    if not row.step_name:
        return Failed("no step: step_name is empty")
    context = {} if row.context is None else row.context
    if not isinstance(context, dict):
        return Failed(f"context is {_kind(context)}, not a JSON object")
    render_context = context.get("render_context", {})
    if render_context is None:
        render_context = {}
    if not isinstance(render_context, dict):
        return Failed(f"context.render_context is {_kind(render_context)}, not a JSON object")
    command_input = (
        {k: v for k, v in context.items() if k != "render_context"}
        if "render_context" in context
        else context
    )
    # The row came out of typed columns and jsonb, so it is valid by
    # construction; skipping re-validation keeps the hot path lean.
    return Claimed(
        trusted_command(
            command_id=str(row.command_id),
            execution_id=row.execution_id,
            step=row.step_name,
            tool_kind=row.tool_kind,
            input=command_input,
            render_context=render_context,
            attempts=row.attempts,
        )
    )


def target_outcome(
    verdict: TargetVerdict,
    command_id: int,
    execution_id: int | None,
    tool_kinds: Sequence[str] | None,
) -> ClaimOutcome:
    """The outcome of a targeted claim of ``command_id`` (of ``execution_id``, when
    given) by a worker serving ``tool_kinds`` (``None``: all)."""
    if verdict.verdict == "taken" and verdict.row is not None:
        return row_outcome(verdict.row)
    where = f"command {command_id}" + (f" of execution {execution_id}" if execution_id else "")
    if verdict.verdict == "missing":
        return Failed(f"UNRESOLVABLE: no {where}")
    if verdict.matches > 1:
        return Failed(f"UNRESOLVABLE: {where} exists in several executions; give execution_id")
    if verdict.verdict == "busy":
        return AlreadyClaimed()
    status = verdict.status
    if status in FINISHED:
        return AlreadyClaimed()
    not_served = tool_kinds is not None and verdict.tool_kind not in tool_kinds
    if status in LEASED:
        if not_served:
            return RetryLater(f"{where} has tool kind {verdict.tool_kind!r}, not served here")
        return AlreadyClaimed()
    if status == Status.PENDING:
        if not_served:
            return RetryLater(f"{where} has tool kind {verdict.tool_kind!r}, not served here")
        if verdict.reason:
            return RetryLater(f"{where} is held back: {verdict.reason}")
        due = verdict.due_at.isoformat() if verdict.due_at else "later"
        return RetryLater(f"{where} is not due until {due}")
    return Failed(f"{where} has unknown status {status!r}")


@dataclass(frozen=True, slots=True)
class NackResult:
    """How a nack left its row: its status, attempts, when it is due again."""

    status: str
    attempts: int
    due_at: datetime
    #: when the nack was written (the database's clock)
    at: datetime
