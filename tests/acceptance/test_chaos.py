"""The chaos run, shortened for CI (the full run: `pgqueue chaos`, see the README)."""

from __future__ import annotations

import json

import pytest

from tests.acceptance.cli import pgqueue

pytestmark = pytest.mark.slow


def test_nothing_is_lost_or_completed_twice_under_faults() -> None:
    done = pgqueue(
        "chaos",
        "--commands",
        "3000",
        "--workers",
        "4",
        "--max-seconds",
        "300",
        "--seed",
        "11",
        "--instance",
        "chaos-ci",
        "--json",
        timeout=420,
    )
    report = json.loads(done.stdout)  # the JSON alone; progress went to stderr
    assert done.returncode == 0, report
    assert report["ok"] is True
    assert report["completed"] == report["commands"] == 3000
    assert (report["lost"], report["completed_twice"], report["never_executed"]) == (0, 0, 0)
    assert report["left_leased"] == 0
    assert report["unexplained"] == 0
    # the faults really happened
    assert report["restarts"] == 1
    assert report["kills"] + report["terminations"] >= 2
    assert (
        report["re_executions"] == report["explained_by_kill"] + report["explained_by_connection"]
    )
