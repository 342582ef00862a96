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

    @property
    def ratio(self) -> float | None:
        if not self.baseline:
            return None
        return self.value / self.baseline

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
    baseline: float | None = None,
    baseline_name: str = "",
    target: float | None = None,
    higher_is_better: bool = True,
) -> Figure:
    """A figure from its runs: their median, beside the baseline's median."""
    return Figure(
        name,
        unit,
        statistics.median(runs),
        baseline,
        baseline_name,
        target,
        higher_is_better,
        runs=runs,
    )


def render(figures: list[Figure]) -> Table:
    table = Table(title="pgqueue bench (medians)", title_justify="left")
    for column in ("measure", "pgqueue", "baseline", "ratio", "target", ""):
        table.add_column(column, justify="left" if column in ("measure", "") else "right")
    for f in figures:
        value = f"{f.value:,.1f} {f.unit}" if f.unit == "ms" else f"{f.value:,.0f} {f.unit}"
        baseline = f"{f.baseline:,.0f} ({f.baseline_name})" if f.baseline is not None else ""
        ratio = f"{f.ratio:.2f}x" if f.ratio is not None else ""
        if f.target is None:
            target = ""
        elif f.baseline is not None:
            target = f"≥ {f.target:.1f}x"
        else:
            target = f"≤ {f.target:g} {f.unit}"
        table.add_row(f.name, value, baseline, ratio, target, f.verdict)
    return table
