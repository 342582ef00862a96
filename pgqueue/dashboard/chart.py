"""The overview's throughput chart: an SVG of stacked bars, one per minute of
the last hour, drawn on the server (no chart library; static/live.js draws the
same from each live snapshot)."""

from __future__ import annotations

from dataclasses import dataclass

#: the outcomes stacked, bottom first, and their CSS classes
OUTCOMES = ("COMPLETED", "FAILED", "CANCELLED")
WIDTH, HEIGHT, BAR = 600, 120, 10


@dataclass(frozen=True)
class Bar:
    x: int
    y: float
    height: float
    outcome: str
    title: str


def bars(throughput: list[tuple[int, dict[str, int]]]) -> list[Bar]:
    """The bars of ``throughput`` (per minute, commands by outcome), scaled to
    the busiest minute."""
    peak = max((sum(counts.values()) for _, counts in throughput), default=0) or 1
    drawn: list[Bar] = []
    for i, (_, counts) in enumerate(throughput):
        base = float(HEIGHT)
        for outcome in OUTCOMES:
            n = counts.get(outcome, 0)
            if not n:
                continue
            height = n / peak * HEIGHT
            base -= height
            minutes_ago = len(throughput) - 1 - i
            when = "this minute" if minutes_ago == 0 else f"{minutes_ago} min ago"
            drawn.append(Bar(i * BAR, base, height, outcome.lower(), f"{n} {outcome}, {when}"))
    return drawn
