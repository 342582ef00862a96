"""Rows of executions that have ended, cancelled by the claim that took them.

Where the schema has NoETL's event table, every claim runs ``cancel_ended.sql``
as a trail, in its own transaction and round trip: the rows it took of an
execution with a terminal event end ``CANCELLED`` (NoETL's claim rule). These
helpers read that trail's rows back into what the claim returns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pgqueue.outcomes import CommandKey, TargetVerdict
from pgqueue.states import Status

#: the trail's statement
TRAIL = "cancel_ended"

#: told of the rows a claim ended: (execution id, command id, terminal event)
Tell = Callable[[list[tuple[int, int, str]]], None]

Rows = list[tuple[Any, ...]]


def _keys(trailed: Rows, tell: Tell) -> set[CommandKey]:
    cancelled = [(int(e), int(c), str(event)) for e, c, event in trailed]
    if cancelled:
        tell(cancelled)
    return {(e, c) for e, c, _ in cancelled}


def live(rows: Rows, trailed: Rows, tell: Tell) -> Rows:
    """A scan claim's ``rows`` less those its trail ended (``trailed``)."""
    gone = _keys(trailed, tell)
    return [row for row in rows if (row[0], row[1]) not in gone] if gone else rows


def verdict(found: TargetVerdict, trailed: Rows, tell: Tell) -> TargetVerdict:
    """A claim by id's verdict: a row its trail ended is found finished, not taken."""
    taken = found.row
    if taken is None or taken.key not in _keys(trailed, tell):
        return found
    return TargetVerdict("seen", status=Status.CANCELLED, tool_kind=taken.tool_kind, matches=1)
