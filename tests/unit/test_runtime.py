"""`settle_heap`, in a child interpreter: the collector's settings are process-wide."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

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
