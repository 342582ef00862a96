"""The levers of flow control as values: a `Limit` (a concurrency limit, a
`Rate`, or both, on one key), a `Pause`, and the checks that refuse a bad one
with `InvalidLimit`, naming the field. `pgqueue.flow` reads and writes them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pgqueue import durations
from pgqueue.errors import ConfigurationError

Scope = Literal["tool_kind", "key", "execution", "every_execution"]
#: one of a limit's two levers, for `clear_limit`
Lever = Literal["max_running", "rate"]
#: what a fair claim spreads over (``None``: fair share is off)
FairShare = Literal["execution", "key"]


class InvalidLimit(ConfigurationError, ValueError):
    """A limit or a pause asked for something that cannot be (the message names
    the field)."""


_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\S+)\s*$")


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``count`` starts in any window of ``period``: ``Rate.parse("50/1s")``."""

    count: int
    period: timedelta

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise InvalidLimit(f"rate: the count must be a positive integer, not {self.count!r}")
        if not isinstance(self.period, timedelta) or self.period <= timedelta(0):
            raise InvalidLimit(f"rate: the period must be a positive duration, not {self.period!r}")

    @classmethod
    def parse(cls, text: str) -> Rate:
        """``N/PERIOD`` as people write it: ``50/1s``, ``1000/1h``, ``5/250ms``."""
        match = _RATE.match(text)
        if not match:
            raise InvalidLimit(f"rate: {text!r} is not N/PERIOD (try 50/1s, 1000/1h)")
        try:
            period = durations.parse(match.group(2), allow_bare=False)
        except ValueError as exc:
            raise InvalidLimit(f"rate: {exc}") from None
        return cls(int(match.group(1)), period)

    def __str__(self) -> str:
        return f"{self.count}/{durations.human(self.period)}"


@dataclass(frozen=True, slots=True)
class Limit:
    """One limit, and how it stands: at most ``max_running`` of its key running
    at once, at most ``rate`` starting (either may be ``None``). `limits` fills
    ``running``, ``waiting`` and, under a rate, ``started`` (in the window
    now) and ``next_start`` (when a full window has room again); `set_limit`
    and `clear_limit` leave them ``None``."""

    scope: Scope
    key: str
    max_running: int | None
    rate: Rate | None = None
    running: int | None = None
    waiting: int | None = None
    started: int | None = None
    next_start: datetime | None = None
    updated_at: datetime | None = None

    @property
    def full(self) -> bool:
        """Whether it holds its commands back now (as `limits` found it)."""
        return self.running_full or self.rate_full

    @property
    def running_full(self) -> bool:
        """Whether as many run as it allows now (as `limits` found it)."""
        return self.max_running is not None and (self.running or 0) >= self.max_running

    @property
    def rate_full(self) -> bool:
        """Whether its rate's window is full now (as `limits` found it)."""
        return self.rate is not None and (self.started or 0) >= self.rate.count

    @property
    def levers(self) -> str:
        """What it allows, as the CLI says it: ``at most 10 running, 50/1s``."""
        parts = []
        if self.max_running is not None:
            parts.append(f"at most {self.max_running} running")
        if self.rate is not None:
            parts.append(
                f"at most {self.rate.count} starts in any {durations.human(self.rate.period)}"
            )
        return ", ".join(parts)

    @property
    def name(self) -> str:
        """As the CLI names it: ``tool kind http``, ``key tenant-42``…"""
        match self.scope:
            case "every_execution":
                return "every execution"
            case "tool_kind":
                return f"tool kind {self.key}"
            case _:
                return f"{self.scope} {self.key}"


@dataclass(frozen=True, slots=True)
class Pause:
    """A paused tool kind (`paused` fills ``waiting``)."""

    tool_kind: str
    reason: str | None
    paused_at: datetime
    waiting: int | None = None


def limit_scope(
    *,
    tool_kind: str | None = None,
    key: str | None = None,
    execution_id: int | str | None = None,
    every_execution: bool = False,
) -> tuple[Scope, str]:
    """The ``(scope, key)`` of a limit from exactly one of its four forms."""
    given: list[tuple[Scope, str]] = []
    if tool_kind is not None:
        if not tool_kind.strip():
            raise InvalidLimit("tool_kind: must not be blank")
        given.append(("tool_kind", tool_kind))
    if key is not None:
        if not key.strip():
            raise InvalidLimit("key: must not be blank")
        given.append(("key", key))
    if execution_id is not None:
        try:
            execution = int(execution_id)
        except ValueError:
            raise InvalidLimit(f"execution_id: {execution_id!r} is not an integer") from None
        given.append(("execution", str(execution)))
    if every_execution:
        given.append(("every_execution", ""))
    if len(given) != 1:
        raise InvalidLimit(
            "a limit names exactly one of tool_kind, key, execution_id or every_execution"
        )
    return given[0]


def max_running_of(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidLimit(f"max_running: must be a positive integer, not {value!r}")
    return value


def rate_of(value: object) -> Rate | None:
    if value is None or isinstance(value, Rate):
        return value
    if isinstance(value, str):
        return Rate.parse(value)
    raise InvalidLimit(f"rate: give N/PERIOD (such as '50/1s') or a Rate, not {value!r}")


def kinds_of(tool_kinds: Sequence[str] | str) -> list[str]:
    kinds = [tool_kinds] if isinstance(tool_kinds, str) else list(tool_kinds)
    if not kinds:
        raise InvalidLimit("tool_kinds: name at least one tool kind")
    for kind in kinds:
        if not isinstance(kind, str) or not kind.strip():
            raise InvalidLimit(f"tool_kinds: {kind!r} is not a tool kind")
    return kinds


def limit_of(row: dict[str, Any]) -> Limit:
    """A row of ``limit_list.sql`` (or of a limit's write) as a `Limit`."""
    rate = None if row["rate_count"] is None else Rate(row["rate_count"], row["rate_period"])
    return Limit(
        scope=row["scope"],
        key=row["key"],
        max_running=row["max_running"],
        rate=rate,
        running=None if row.get("running") is None else int(row["running"]),
        waiting=None if row.get("waiting") is None else int(row["waiting"]),
        started=None if rate is None or row.get("started") is None else int(row["started"]),
        next_start=row.get("next_start"),
        updated_at=row.get("updated_at"),
    )


def pause_of(row: dict[str, Any]) -> Pause:
    waiting = row.get("waiting")
    return Pause(
        row["tool_kind"], row["reason"], row["paused_at"], None if waiting is None else int(waiting)
    )


def fair_share_of(value: object) -> FairShare | None:
    """``value`` as a fair share: ``"execution"``, ``"key"``, or ``None``/``"off"``."""
    if value is None or value == "off":
        return None
    if value == "execution" or value == "key":
        return value
    raise InvalidLimit(f"fair_share: 'execution', 'key' or 'off', not {value!r}")
