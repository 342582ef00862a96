"""`settle_heap`, in a child interpreter: the collector's settings are process-wide."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from pgqueue.runtime import YOUNG_GENERATION_THRESHOLD


def test_settle_heap_freezes_start_up_and_collects_young_objects_less_often() -> None:
    script = textwrap.dedent(
        """
        import gc, json
        import pgqueue.worker  # a worker's imports: what start-up leaves on the heap
        from pgqueue.runtime import settle_heap

        before = gc.get_threshold()
        cycle = []
        cycle.append(cycle)  # start-up garbage: collected, not frozen
        del cycle
        settle_heap()
        print(json.dumps({
            "frozen": gc.get_freeze_count(),
            "tracked": len(gc.get_objects()),
            "before": before,
            "after": gc.get_threshold(),
            "garbage": gc.collect(),
        }))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    found = json.loads(out.stdout)
    assert found["frozen"] > 10_000  # pydantic, psycopg and pgqueue itself
    assert found["tracked"] < 1_000  # what the collector still walks
    assert found["after"] == [YOUNG_GENERATION_THRESHOLD, *found["before"][1:]]
    assert found["garbage"] == 0


def test_a_failed_embedded_start_says_why_in_one_line(tmp_path: Path) -> None:
    from pgqueue.cli.embedded import _why

    log = tmp_path / "server.log"
    log.write_text(
        "2026-12-01 10:00:00 UTC [1] LOG:  starting PostgreSQL 17.2\n"
        "2026-12-01 10:00:00 UTC [1] FATAL:  database files are incompatible with server\n"
        "2026-12-01 10:00:00 UTC [1] DETAIL:  The data directory was initialized by "
        "PostgreSQL version 16, which is not compatible with this version 17.2.\n"
        "2026-12-01 10:00:00 UTC [1] LOG:  database system is shut down\n"
    )
    assert _why(log) == (
        "database files are incompatible with server: The data directory was initialized by "
        "PostgreSQL version 16, which is not compatible with this version 17.2."
    )
    assert _why(tmp_path / "missing.log") == "no log was written"
