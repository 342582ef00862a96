"""The bench's ratios: the median of per-round ratios, with their range."""

from __future__ import annotations

from pgqueue.cli.bench.figures import figure, render


def test_a_ratio_is_the_median_of_the_per_round_ratios_not_a_ratio_of_medians() -> None:
    # round 2 caught the baseline in a slow spell: the ratio of medians
    # (20 / 20 = 1.0) hides that pgqueue ran at half the baseline in 2 rounds of 3
    ours = [10.0, 20.0, 30.0]
    theirs = [20.0, 5.0, 60.0]
    f = figure("burn-down", "cmd/s", ours, baseline=theirs, baseline_name="minimal", target=0.85)
    assert f.ratios == [0.5, 4.0, 0.5]
    assert f.ratio == 0.5
    assert f.spread == (0.5, 4.0)
    assert f.baseline == 20.0
    assert f.verdict == "missed"


def test_a_figure_without_a_baseline_has_no_ratio() -> None:
    f = figure("raw loop", "cmd/s", [1.0, 3.0, 2.0])
    assert (f.value, f.ratio, f.spread, f.verdict) == (2.0, None, None, "")


def test_the_table_prints_the_range_of_the_ratios() -> None:
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(render([figure("burn-down", "cmd/s", [1.0, 2.0], baseline=[2.0, 2.0])]))
    text = console.export_text()
    assert "0.75x (0.50 to 1.00)" in text
