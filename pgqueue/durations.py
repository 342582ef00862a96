"""Durations as people write them: ``250ms``, ``30s``, ``5m``, ``2h``, ``7d``.

One parser for the flags, their ``PGQUEUE_*`` variables and `WorkerSettings`.
A bare number is seconds where that is the documented reading, and refused
where it is dangerous (``allow_bare=False``: a retention window of ``7`` is far
more likely to mean seven days than seven seconds)."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(-?)(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse(text: str, *, allow_bare: bool = True) -> timedelta:
    """``text`` as a duration, never negative; `ValueError` saying why not."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration (try 30s, 5m, 2h, 7d)")
    if match.group(1):
        raise ValueError(f"{text!r} is negative: give a duration from 0 up")
    if match.group(3) is None and not allow_bare:
        raise ValueError(
            f"{text!r} has no unit: write {match.group(2)}s for seconds, "
            f"{match.group(2)}d for days (30s, 5m, 2h, 7d)"
        )
    try:
        return timedelta(seconds=float(match.group(2)) * _UNITS[match.group(3)])
    except OverflowError:
        raise ValueError(f"{text!r} is too long a duration") from None


def human(value: timedelta) -> str:
    """A duration as a person writes it: ``7d``, ``36h``, ``90s``, ``250ms``."""
    seconds = value.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds * 1000:g}ms" if seconds < 1 else f"{seconds:g}s"


def age(seconds: float | None) -> str:
    """How long ago (or until), to a tenth of its unit: ``12.3s``, ``4.5m``,
    ``1.2h``, ``3.4d``; ``-`` for none. (`pgqueue status` and the dashboard;
    the dashboard's live.js writes the same.)"""
    if seconds is None:
        return "-"
    seconds = max(seconds, 0.0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.1f}s"


__all__ = ["age", "human", "parse"]
