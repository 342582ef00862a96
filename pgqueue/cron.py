"""A schedule's ticks: the times a cron expression names in a time zone, or
the multiples of a fixed interval from an anchor; and which of the ticks due
now a policy enqueues.

Cron expressions are read and walked by cronsim: five fields (minute, hour,
day of month, month, day of week), or six with seconds first. cronsim keeps
Debian cron's rules on the nights a clock changes: a time the spring-forward
skips fires once, right after the change; a time the fall-back repeats fires
once, at its first occurrence, while a wildcard hour still fires every hour
that passes. (croniter, the other well-kept parser, fires a 02:30 job twice on
a fall-back night.)

A tick is an aware UTC `datetime`, the same on every host: what a worker
enqueues for it, and the watermark a schedule keeps, are decided by the tick,
never by when a worker happened to look.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from pgqueue.errors import PgQueueError

#: a tick found later than this is missed: the ``skip`` policy drops it, and a
#: ``backfill`` enqueues it within its count and window. Below it a worker that
#: came late (a stall, a restart) still enqueues every tick.
LATE = timedelta(minutes=1)

#: the most missed ticks one backfill enqueues, whatever its window says
MOST_BACKFILLED = 1000

Missed = Literal["skip", "backfill"]


class InvalidSchedule(PgQueueError, ValueError):
    """A schedule that cannot be: the message names the field."""


def zone(name: str) -> ZoneInfo:
    """The time zone ``name`` (IANA, like ``Europe/Berlin``)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidSchedule(
            f"timezone: {name!r} is not a time zone (an IANA name, like Europe/Berlin)"
        ) from None


def check_cron(expression: str) -> str:
    """``expression`` if cronsim reads it, else `InvalidSchedule` naming what is wrong."""
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise InvalidSchedule(
            f"cron: {expression!r} has {len(fields)} fields; give 5 (minute hour day"
            " month weekday) or 6 (seconds first)"
        )
    try:
        CronSim(expression, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise InvalidSchedule(f"cron: {expression!r}: {exc}") from None
    return " ".join(fields)


@dataclass(frozen=True, slots=True)
class Timing:
    """When a schedule ticks: ``cron`` in ``timezone``, or every ``every`` from
    ``anchor`` (the schedule's creation)."""

    cron: str | None
    every: timedelta | None
    timezone: str
    anchor: datetime

    def __post_init__(self) -> None:
        if (self.cron is None) == (self.every is None):
            raise InvalidSchedule("a schedule has a cron expression or an interval (every), one")
        if self.cron is not None:
            check_cron(self.cron)
        if self.every is not None and self.every < timedelta(seconds=1):
            raise InvalidSchedule(f"every: {self.every} is under a second")
        zone(self.timezone)

    def after(self, moment: datetime) -> Iterator[datetime]:
        """The ticks after ``moment``, in order (UTC)."""
        if self.every is not None:
            # the first multiple of the interval past the moment
            steps = max((moment - self.anchor) // self.every + 1, 0)
            tick = self.anchor + steps * self.every
            while True:
                yield tick.astimezone(UTC)
                tick += self.every
        else:
            assert self.cron is not None  # noqa: S101 - one of the two, by __post_init__
            local = moment.astimezone(zone(self.timezone))
            for tick in CronSim(self.cron, local):
                yield tick.astimezone(UTC)

    def before(self, moment: datetime) -> Iterator[datetime]:
        """The ticks at or before ``moment``, latest first (UTC)."""
        if self.every is not None:
            steps = (moment - self.anchor) // self.every
            tick = self.anchor + steps * self.every
            while tick >= self.anchor:
                yield tick.astimezone(UTC)
                tick -= self.every
        else:
            assert self.cron is not None  # noqa: S101
            # cronsim's reverse walk starts strictly before its moment
            local = (moment + timedelta(microseconds=1)).astimezone(zone(self.timezone))
            for tick in CronSim(self.cron, local, reverse=True):
                yield tick.astimezone(UTC)

    def next_after(self, moment: datetime) -> datetime:
        return next(self.after(moment))


@dataclass(frozen=True, slots=True)
class Policy:
    """What happens to missed ticks (`LATE`): ``skip`` them, or ``backfill`` the
    latest ``count`` of them and/or those within ``window`` of now."""

    missed: Missed = "skip"
    count: int | None = None
    window: timedelta | None = None

    def __post_init__(self) -> None:
        if self.missed not in ("skip", "backfill"):
            raise InvalidSchedule(f"missed: 'skip' or 'backfill', not {self.missed!r}")
        if self.missed == "skip" and (self.count is not None or self.window is not None):
            raise InvalidSchedule("backfill: a count or window is for missed='backfill'")
        if self.missed == "backfill" and self.count is None and self.window is None:
            raise InvalidSchedule("backfill: say how far back (a count, a window, or both)")
        if self.count is not None and not 0 < self.count <= MOST_BACKFILLED:
            raise InvalidSchedule(
                f"backfill: a count from 1 to {MOST_BACKFILLED}, not {self.count}"
            )
        if self.window is not None and self.window <= timedelta(0):
            raise InvalidSchedule(f"backfill_window: {self.window} is not a positive duration")


@dataclass(frozen=True, slots=True)
class Due:
    """What a schedule's ticks come to at ``now``: the ticks to enqueue (oldest
    first), the new watermark (the latest due tick, or the old one if none is
    due) and the next tick after now."""

    ticks: tuple[datetime, ...]
    watermark: datetime
    next_tick: datetime
    skipped: int


def due(timing: Timing, policy: Policy, watermark: datetime, now: datetime) -> Due:
    """The ticks after ``watermark`` and at or before ``now``, under ``policy``:
    every tick less than `LATE` late; of the missed ones, none (``skip``), or
    the latest ``count`` and/or those within ``window`` (``backfill``), at most
    `MOST_BACKFILLED`. Walks only as many ticks as it may enqueue, plus one."""
    next_tick = timing.next_after(now)
    late = now - LATE
    recent = list(_between(timing, max(watermark, late), now))
    # missed ones, latest first: only as far back as the policy reaches
    missed: list[datetime] = []
    if policy.missed == "backfill":
        reach = policy.count or MOST_BACKFILLED
        since = watermark if policy.window is None else max(watermark, now - policy.window)
        for tick in islice(timing.before(min(late, now)), reach + 1):
            if tick <= since or (recent and tick >= recent[0]):
                break
            missed.append(tick)
        missed = missed[:reach]
    latest = next(timing.before(now), None)
    mark = watermark if latest is None or latest <= watermark else latest
    ticks = tuple(sorted(missed)) + tuple(recent)
    skipped = _count_between(timing, watermark, mark) - len(ticks)
    return Due(ticks, mark, next_tick, max(skipped, 0))


def _between(timing: Timing, after: datetime, until: datetime) -> Iterator[datetime]:
    for tick in timing.after(after):
        if tick > until:
            return
        yield tick


def _count_between(timing: Timing, after: datetime, until: datetime, cap: int = 100_000) -> int:
    """How many ticks are after ``after`` and at or before ``until`` (to ``cap``)."""
    return sum(1 for _ in islice(_between(timing, after, until), cap))
