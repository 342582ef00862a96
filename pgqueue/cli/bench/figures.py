"""The bench's results: a `Figure` per line, and the table a person reads."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from rich.table import Table


@dataclass
class Figure:
    """One line of the results table."""

    name: str
    unit: str
    value: float
    baseline: float | None = None
    baseline_name: str = ""
    target: float | None = None
    higher_is_better: bool = True
    runs: list[float] = field(default_factory=list)
    #: the ratio of each round: this figure's run over its baseline's run of the
    #: same round, so that a slow spell weighs on both sides of one ratio
    ratios: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        """The median of the per-round ratios (not a ratio of medians)."""
        if self.ratios:
            return statistics.median(self.ratios)
        if not self.baseline:
            return None
        return self.value / self.baseline

    @property
    def spread(self) -> tuple[float, float] | None:
        """The lowest and highest per-round ratio."""
        return (min(self.ratios), max(self.ratios)) if self.ratios else None

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        measured = self.ratio if self.baseline is not None else self.value
        if measured is None:
            return ""
        ok = measured >= self.target if self.higher_is_better else measured <= self.target
        return "met" if ok else "missed"


def figure(
    name: str,
    unit: str,
    runs: list[float],
    *,
    baseline: list[float] | None = None,
    baseline_name: str = "",
    target: float | None = None,
    higher_is_better: bool = True,
) -> Figure:
    """A figure from its runs: their median, beside the median of the baseline's
    runs of the same rounds, and the ratio of each round."""
    return Figure(
        name,
        unit,
        statistics.median(runs),
        statistics.median(baseline) if baseline else None,
        baseline_name,
        target,
        higher_is_better,
        runs=runs,
        ratios=[ours / theirs for ours, theirs in zip(runs, baseline, strict=True)]
        if baseline
        else [],
    )


def render(figures: list[Figure]) -> Table:
    table = Table(
        title="pgqueue bench: medians of the rounds; a ratio is the median of the "
        "per-round ratios, its range in brackets",
        title_justify="left",
    )
    for column in ("measure", "pgqueue", "baseline", "ratio", "target", ""):
        table.add_column(column, justify="left" if column in ("measure", "") else "right")
    for f in figures:
        value = f"{f.value:,.1f} {f.unit}" if f.unit == "ms" else f"{f.value:,.0f} {f.unit}"
        baseline = f"{f.baseline:,.0f} ({f.baseline_name})" if f.baseline is not None else ""
        ratio = f"{f.ratio:.2f}x" if f.ratio is not None else ""
        if f.spread is not None and len(f.ratios) > 1:
            ratio += f" ({f.spread[0]:.2f} to {f.spread[1]:.2f})"
        if f.target is None:
            target = ""
        elif f.baseline is not None:
            target = f"≥ {f.target:g}x"
        else:
            target = f"≤ {f.target:g} {f.unit}"
        table.add_row(f.name, value, baseline, ratio, target, f.verdict)
    return table
