"""`pgqueue bench` as CI's smoke test: small N, it must finish and verify
exactly-once. No speed is asserted here (the machine is shared and noisy); the
figures are in the README."""

from __future__ import annotations

import json

import psycopg
import pytest

from tests.acceptance.cli import pgqueue

pytestmark = pytest.mark.slow


def test_bench_runs_every_mode_and_verifies_exactly_once(dsn: str) -> None:
    done = pgqueue(
        "bench",
        "--dsn",
        dsn,
        "--mode",
        "all",
        "-n",
        "400",
        "-k",
        "1",
        "2",
        "--rounds",
        "1",
        "--backlog",
        "3000",
        "--noetl-events",
        "2000",
        "--duration",
        "1s",
        "--rate",
        "200",
        "--idle-rate",
        "20",
        "--json",
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)  # stdout is the JSON alone; progress went to stderr
    assert "burn-down x1: every command completed exactly once" in result["verified"]
    assert "burn-down x2: every command completed exactly once" in result["verified"]
    assert "limited x2: every command completed exactly once" in result["verified"]
    assert "fair x2: every command completed exactly once" in result["verified"]
    assert "layout x2, 3,000 finished: every command completed exactly once" in result["verified"]
    names = {f["name"] for f in result["figures"]}
    for expected in (
        "raw loop, minimal table, 1 proc",
        "raw loop, pgqueue table, 2 proc",
        "burn-down, 1 proc, vs own table's raw loop",
        "burn-down, 1 proc",
        "burn-down, 2 proc",
        "bulk enqueue",
        "claim rate, 3,000 finished",
        "burn-down, 2 proc, a limit on every execution",
        "burn-down, 2 proc, fair share over executions",
        "dashboard overview, 3,000 rows",
        "burn-down, 2 proc, NoETL's layout, 3,000 finished",
    ):
        assert expected in names
    assert any(n.startswith("idle 20/s enqueue→claim p50") for n in names)
    for figure in result["figures"]:
        assert figure["value"] > 0
    # the burn-down's ratio is to the minimal table's raw loop of the same round
    (burn_down,) = (f for f in result["figures"] if f["name"] == "burn-down, 1 proc")
    (ceiling,) = (f for f in result["figures"] if f["name"] == "raw loop, minimal table, 1 proc")
    assert burn_down["baseline_name"] == "minimal"
    assert burn_down["ratios"] == [burn_down["runs"][0] / ceiling["runs"][0]]
    assert burn_down["ratio"] == burn_down["ratios"][0]
    assert burn_down["spread"] == [burn_down["ratio"], burn_down["ratio"]]
    # it cleans up after itself
    with psycopg.connect(dsn) as conn:
        assert conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'pgqueue_bench%'"
        ).fetchone() == (0,)
