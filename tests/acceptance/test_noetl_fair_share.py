"""Fair share on NoETL's layout, through the test control plane: a loop of
1,000 iterations, all issued at once, beside ten three-step executions started
after it; the workflows advance only through the workers' reports (which a
fair relay sends round-robin over executions too)."""

from __future__ import annotations

import psycopg
import pytest

import pgqueue
from tests.acceptance.test_noetl import stop, worker
from tests.helpers import wait_until
from tests.noetl_control_plane import ByExecution, Chain, ControlPlane, Loop

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SHORT = range(2, 12)
WARM_UP = 100


def test_three_step_executions_finish_early_beside_a_thousand_iteration_loop(
    noetl_dsn: str,
) -> None:
    loop = Loop(1000, max_in_flight=1000)
    with psycopg.connect(noetl_dsn, autocommit=True) as db:
        pgqueue.set_fair_share_sync(db, "execution")
        with ControlPlane(noetl_dsn, ByExecution({1: loop}, default=Chain(3))) as plane:
            slots = ("--concurrency", "20")
            with (
                worker(noetl_dsn, plane, "w1", *slots) as w1,
                worker(noetl_dsn, plane, "w2", *slots) as w2,
            ):
                # the workers and the control plane warmed up by one execution
                plane.start(WARM_UP)
                wait_until(
                    lambda: plane.execution_status(WARM_UP) == "COMPLETED",
                    what="the warm-up execution to finish",
                )
                plane.start(1)  # its 1,000 iterations PENDING, first in claim order
                for execution in SHORT:
                    plane.start(execution)
                wait_until(
                    lambda: all(plane.execution_status(e) == "COMPLETED" for e in (1, *SHORT)),
                    timeout=240,
                    what="every execution to finish",
                )
                stop(w1), stop(w2)
        assert loop.issued == 1000
        # each short execution's end (its last completion), as a share of the
        # burn-down: from the moment the short ones are enqueued (the loop's
        # 1,000 iterations all PENDING before them) to the last execution's
        # end (the loop's, once its reports have made it to the control plane)
        finished: dict[int, float] = dict(
            db.execute(
                """
                WITH span AS (
                    SELECT min(created_at) AS began,
                           (SELECT max(created_at) FROM noetl.event
                            WHERE event_type = 'playbook.completed') AS ended
                    FROM noetl.command
                    WHERE execution_id = ANY(%s)
                )
                SELECT c.execution_id,
                       extract(epoch FROM max(c.completed_at) - s.began)
                       / extract(epoch FROM s.ended - s.began)
                FROM noetl.command AS c, span AS s
                WHERE c.execution_id NOT IN (1, %s)
                GROUP BY c.execution_id, s.began, s.ended
                """,
                (list(SHORT), WARM_UP),
            ).fetchall()
        )
    print(f"three-step executions finished by: {max(finished.values()):.1%} (worst)")
    assert sorted(finished) == list(SHORT)
    # measured 14-31 % over nine runs, most near 15-19 % (99.6 % without fair
    # share), with the loop's iterations all PENDING before the short ones
    # (they used to be issued one commit each, over three seconds, and were
    # claimed and done before the short executions began). Per step, about
    # 10 ms waiting for a claim, 25 ms running, 110-190 ms until the relay's
    # round in flight ends and the next takes the reports, 40 ms for the final
    # report and 30 ms in the engine: the loop's burst has both cores busy
    # (two workers, the control plane and PostgreSQL). Half is the bound that
    # holds; it still fails without fair share
    assert max(finished.values()) <= 0.5, finished
