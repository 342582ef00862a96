"""Schedules from Python: periodic commands, on the caller's own connection (in
its transaction, like `pgqueue.enqueue`), with ``_sync`` twins.

    await pgqueue.add_schedule(conn, "nightly-report", cron="0 3 * * *",
                               timezone="Europe/Berlin",
                               command={"step": "report", "tool_kind": "http", "input": {}})
    await pgqueue.add_schedule(conn, "heartbeat", every=timedelta(seconds=30),
                               command={...}, missed="backfill", backfill=10)
    await pgqueue.pause_schedule(conn, "nightly-report", reason="migrating the API")
    await pgqueue.resume_schedule(conn, "nightly-report")
    ids = await pgqueue.run_schedule_now(conn, "nightly-report")
    await pgqueue.remove_schedule(conn, "heartbeat")
    for s in await pgqueue.schedules(conn): print(s.name, s.last_tick, s.next_tick)

Workers enqueue the ticks (`pgqueue.scheduler`): every tick exactly once across
the fleet, with no leader. A tick's command carries ``{"schedule": name,
"tick": "<UTC ISO time>"}`` in its ``meta``. `pgqueue.schedule_file` reads
schedules from a TOML or YAML file (``pgqueue worker --schedules FILE``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from pydantic import ValidationError

from pgqueue import jsonvalues
from pgqueue.cron import InvalidSchedule, Missed, Policy, Timing
from pgqueue.db.table import QueueTable
from pgqueue.durations import human
from pgqueue.durations import parse as parse_duration
from pgqueue.newcommand import NewCommand, validate
from pgqueue.operations import Rows, _Op, _run, _run_sync

#: the command's columns a schedule stores, as `schedule_insert` reads them
_COLUMNS = (
    "execution_id",
    "tool_kind",
    "priority",
    "max_attempts",
    "event_id",
    "catalog_id",
    "parent_execution_id",
    "parent_command_id",
    "loop_event_id",
    "iter_index",
    "meta",
    "concurrency_key",
)


@dataclass(frozen=True, slots=True)
class Schedule:
    """A schedule as it stands: its timing, its command (the columns each tick
    writes), its policy for missed ticks, its pause, and its ticks: the last
    one dealt with (enqueued, or skipped by the policy) and the next."""

    name: str
    timing: Timing
    command: dict[str, Any]
    policy: Policy
    paused_at: datetime | None
    paused_reason: str | None
    last_tick: datetime
    next_tick: datetime
    created_at: datetime
    updated_at: datetime

    @property
    def paused(self) -> bool:
        return self.paused_at is not None

    @property
    def when(self) -> str:
        """The timing as a person reads it: ``0 3 * * * (Europe/Berlin)``, ``every 30s``."""
        timing = self.timing
        if timing.every is not None:
            return f"every {human(timing.every)}"
        return f"{timing.cron} ({timing.timezone})"


def schedule_of(row: Mapping[str, Any]) -> Schedule:
    timing = Timing(row["cron"], row["every"], row["timezone"], row["anchor"])
    policy = Policy(row["missed"], row["backfill_count"], row["backfill_window"])
    last = row["last_tick"]
    # the first tick after the watermark, or after now when that has passed
    return Schedule(
        name=row["name"],
        timing=timing,
        command=row["command"],
        policy=policy,
        paused_at=row["paused_at"],
        paused_reason=row["paused_reason"],
        last_tick=last,
        next_tick=timing.next_after(max(last, row["now"])),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def command_columns(command: NewCommand | Mapping[str, Any]) -> dict[str, Any]:
    """``command`` validated as `pgqueue.enqueue` validates one, as the columns
    each tick writes. No ``command_id`` (each tick is a new command) and no
    ``delay`` (a tick is due at its time)."""
    given = command.__dict__ if isinstance(command, NewCommand) else dict(command)
    for field, why in (
        ("command_id", "each tick is a new command"),
        ("delay", "a tick is due at its time"),
    ):
        if given.get(field) is not None:
            raise InvalidSchedule(f"command.{field}: not in a schedule ({why})")
    try:
        checked = validate([given])
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"][1:]) or "command"
        raise InvalidSchedule(f"command.{where}: {error['msg']}") from None
    # a column not given is left out: NULL when the tick's command is written
    columns = {
        key: checked.columns[key][0] for key in _COLUMNS if checked.columns[key][0] is not None
    }
    columns["step_name"] = checked.columns["step"][0]
    columns["context"] = json.loads(checked.contexts[0])
    return columns


def _duration(field: str, value: object) -> timedelta | None:
    if value is None or isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise InvalidSchedule(f"{field}: {exc}") from None
    raise InvalidSchedule(f"{field}: a duration (like 30s, 5m, 1h), not {value!r}")


def _put(
    name: str,
    *,
    command: NewCommand | Mapping[str, Any],
    cron: str | None = None,
    every: timedelta | str | None = None,
    timezone: str = "UTC",
    missed: Missed = "skip",
    backfill: int | None = None,
    backfill_window: timedelta | str | None = None,
    table: QueueTable | None = None,
) -> _Op[Schedule]:
    if not isinstance(name, str) or not name.strip():
        raise InvalidSchedule("name: a schedule needs a name")
    interval = _duration("every", every)
    # checked here, before anything is written (the anchor is the database's)
    timing = Timing(cron, interval, timezone, datetime.now().astimezone())
    policy = Policy(missed, backfill, _duration("backfill_window", backfill_window))
    params = {
        "name": name.strip(),
        "cron": timing.cron and " ".join(timing.cron.split()),
        "every": timing.every,
        "timezone": timing.timezone,
        "command": Jsonb(command_columns(command), dumps=jsonvalues.dumps),
        "missed": policy.missed,
        "backfill_count": policy.count,
        "backfill_window": policy.window,
    }
    return _Op(table or QueueTable(), "schedule_put", params, lambda rows: schedule_of(rows[0]))


def _one(name: str) -> Any:
    def found(rows: Rows) -> Schedule:
        if not rows:
            raise ScheduleNotFound(f"no schedule named {name!r}")
        return schedule_of(rows[0])

    return found


class ScheduleNotFound(InvalidSchedule, LookupError):
    """No schedule has that name."""


def _list(name: str | None, table: QueueTable | None) -> _Op[list[Schedule]]:
    return _Op(
        table or QueueTable(),
        "schedule_list",
        {"name": name},
        lambda rows: list(map(schedule_of, rows)),
    )


def _remove(name: str, table: QueueTable | None) -> _Op[Schedule]:
    return _Op(table or QueueTable(), "schedule_remove", {"name": name}, _one(name))


def _pause(name: str, paused: bool, reason: str | None, table: QueueTable | None) -> _Op[Schedule]:
    params = {"name": name, "paused": paused, "reason": reason}
    return _Op(table or QueueTable(), "schedule_pause", params, _one(name))


def _run_now(name: str, table: QueueTable | None) -> _Op[list[str]]:
    def ids(rows: Rows) -> list[str]:
        if not rows:
            raise ScheduleNotFound(f"no schedule named {name!r}")
        return [str(r["command_id"]) for r in rows]

    return _Op(table or QueueTable(), "schedule_run_now", {"name": name}, ids)


# -- async ------------------------------------------------------------------------------


async def add_schedule(
    conn: psycopg.AsyncConnection[Any],
    name: str,
    *,
    command: NewCommand | Mapping[str, Any],
    cron: str | None = None,
    every: timedelta | str | None = None,
    timezone: str = "UTC",
    missed: Missed = "skip",
    backfill: int | None = None,
    backfill_window: timedelta | str | None = None,
    table: QueueTable | None = None,
) -> Schedule:
    """Add schedule ``name``, or change it in place: ``cron`` (5 fields, or 6
    with seconds first) in ``timezone``, or ``every`` interval; ``command``
    as `pgqueue.enqueue` takes one. Missed ticks (over a minute late, see
    `pgqueue.cron.LATE`): ``skip``ped, or ``backfill``ed (the latest
    ``backfill`` of them and/or those within ``backfill_window``). A changed
    timing starts from now; other changes keep the schedule's ticks."""
    op = _put(
        name,
        command=command,
        cron=cron,
        every=every,
        timezone=timezone,
        missed=missed,
        backfill=backfill,
        backfill_window=backfill_window,
        table=table,
    )
    return await _run(conn, op)


async def schedules(
    conn: psycopg.AsyncConnection[Any], name: str | None = None, *, table: QueueTable | None = None
) -> list[Schedule]:
    """Every schedule (or the one named), by name."""
    return await _run(conn, _list(name, table))


async def remove_schedule(
    conn: psycopg.AsyncConnection[Any], name: str, *, table: QueueTable | None = None
) -> Schedule:
    """Remove schedule ``name`` (`ScheduleNotFound` if there is none); what it
    enqueued stays."""
    return await _run(conn, _remove(name, table))


async def pause_schedule(
    conn: psycopg.AsyncConnection[Any],
    name: str,
    *,
    reason: str | None = None,
    table: QueueTable | None = None,
) -> Schedule:
    """Pause schedule ``name``: no tick of the pause is enqueued, whatever its policy."""
    return await _run(conn, _pause(name, True, reason, table))


async def resume_schedule(
    conn: psycopg.AsyncConnection[Any], name: str, *, table: QueueTable | None = None
) -> Schedule:
    """Resume schedule ``name``: its next tick is the first after now."""
    return await _run(conn, _pause(name, False, None, table))


async def run_schedule_now(
    conn: psycopg.AsyncConnection[Any], name: str, *, table: QueueTable | None = None
) -> list[str]:
    """Enqueue schedule ``name``'s command now, apart from its ticks (its meta
    says ``run_now``); the id, as a one-item list."""
    return await _run(conn, _run_now(name, table))


# -- sync -------------------------------------------------------------------------------


def add_schedule_sync(
    conn: psycopg.Connection[Any],
    name: str,
    *,
    command: NewCommand | Mapping[str, Any],
    cron: str | None = None,
    every: timedelta | str | None = None,
    timezone: str = "UTC",
    missed: Missed = "skip",
    backfill: int | None = None,
    backfill_window: timedelta | str | None = None,
    table: QueueTable | None = None,
) -> Schedule:
    """`add_schedule` on a sync connection."""
    op = _put(
        name,
        command=command,
        cron=cron,
        every=every,
        timezone=timezone,
        missed=missed,
        backfill=backfill,
        backfill_window=backfill_window,
        table=table,
    )
    return _run_sync(conn, op)


def schedules_sync(
    conn: psycopg.Connection[Any], name: str | None = None, *, table: QueueTable | None = None
) -> list[Schedule]:
    return _run_sync(conn, _list(name, table))


def remove_schedule_sync(
    conn: psycopg.Connection[Any], name: str, *, table: QueueTable | None = None
) -> Schedule:
    return _run_sync(conn, _remove(name, table))


def pause_schedule_sync(
    conn: psycopg.Connection[Any],
    name: str,
    *,
    reason: str | None = None,
    table: QueueTable | None = None,
) -> Schedule:
    return _run_sync(conn, _pause(name, True, reason, table))


def resume_schedule_sync(
    conn: psycopg.Connection[Any], name: str, *, table: QueueTable | None = None
) -> Schedule:
    return _run_sync(conn, _pause(name, False, None, table))


def run_schedule_now_sync(
    conn: psycopg.Connection[Any], name: str, *, table: QueueTable | None = None
) -> list[str]:
    return _run_sync(conn, _run_now(name, table))


__all__ = [
    "InvalidSchedule",
    "Schedule",
    "ScheduleNotFound",
    "add_schedule",
    "add_schedule_sync",
    "pause_schedule",
    "pause_schedule_sync",
    "remove_schedule",
    "remove_schedule_sync",
    "resume_schedule",
    "resume_schedule_sync",
    "run_schedule_now",
    "run_schedule_now_sync",
    "schedules",
    "schedules_sync",
]
