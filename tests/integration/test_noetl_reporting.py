"""Reporting to NoETL's control plane from a worker in this process, against the
test control plane (tests/noetl_control_plane.py) on NoETL's layout."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import psycopg
import psycopg_pool
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

import pgqueue
from pgqueue import AlreadyClaimed, Command, LeaseLost, RetryLater, ToolContext, Worker
from pgqueue.backoff import RetryPolicy
from pgqueue.db.deadlines import Deadline, Deadlines
from pgqueue.db.gateway import Gateway
from pgqueue.db.outbox import Outbox
from pgqueue.models import Claimed
from pgqueue.noetl import NoetlReporter, RuntimeHeartbeat
from pgqueue.noetl.events import MAX_BATCH_BYTES
from pgqueue.pg_source import PgCommandSource
from pgqueue.relay import Relay
from tests.fixtures.noetl_tools import TOOLS
from tests.helpers import wait_until_async
from tests.noetl_control_plane import ControlPlane, FailingMiddle, Single, insert_command

Conn = psycopg.Connection[Any]


@pytest.fixture
def db(noetl_dsn: str) -> Any:
    with psycopg.connect(noetl_dsn, autocommit=True) as conn:
        yield conn


def outbox_rows(db: Conn) -> list[tuple[Any, ...]]:
    return db.execute("SELECT kind, parked_at, last_error FROM noetl.pgqueue_outbox").fetchall()


@asynccontextmanager
async def reporting_worker(
    dsn: str, plane: ControlPlane, *, wait: bool = True, **tools: Any
) -> AsyncIterator[tuple[Worker, Relay, PgCommandSource]]:
    async with (
        psycopg_pool.AsyncConnectionPool(dsn, min_size=1, max_size=4, open=False) as pool,
        psycopg_pool.AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False) as relay_pool,
    ):
        reporter = NoetlReporter(plane.url)
        relay = Relay(Outbox(relay_pool), reporter, idle=0.1, worker_id="w")
        source = PgCommandSource(
            pool,
            worker_id="w",
            wait=wait,
            poll_interval=0.1,
            lease_for=timedelta(seconds=10),
            retry_policy=RetryPolicy(base=0.05, factor=1, cap=0.05, jitter=0),
            reporter=reporter,
            paused=relay.paused,
        )
        source.completer.on_reports = relay.poke
        source.completer.on_pending = relay.count
        source.completer.on_committed = relay.committed
        worker = Worker(source, concurrency=2, pool=pool, services=[relay])
        for kind, function in {**TOOLS, **tools}.items():
            worker.register(kind, function)
        yield worker, relay, source


async def finished(plane: ControlPlane, execution_id: int, status: str = "COMPLETED") -> None:
    async def done() -> bool:
        return plane.execution_status(execution_id) == status

    await wait_until_async(done, what=f"execution {execution_id} {status}")


async def test_a_503_with_retry_after_is_honoured_and_the_key_kept(
    noetl_dsn: str, db: Conn
) -> None:
    with ControlPlane(noetl_dsn, Single(input={"prev": 1})) as plane:
        plane.script.append((503, {"Retry-After": "2"}))
        async with reporting_worker(noetl_dsn, plane) as (worker, _, _):
            run = asyncio.create_task(worker.run())
            plane.start(7)
            await finished(plane, 7)
            worker.stop()
            await run
    first_key, first_status, first_at = plane.log[0]
    assert first_status == 503
    again = [at for key, status, at in plane.log[1:] if key == first_key]
    assert again and again[0] - first_at >= 2.0  # not before the server said
    assert first_key in [r.key for r in plane.accepted]  # the same key, stored once
    assert len(plane.accepted) == 2 and plane.duplicates == 0
    assert outbox_rows(db) == []


async def test_a_failing_step_reports_its_error_once_after_the_last_attempt(
    noetl_dsn: str, db: Conn
) -> None:
    workflow = Single(tool_kind="fail", meta={"max_attempts": 2})
    with ControlPlane(noetl_dsn, workflow) as plane:
        async with reporting_worker(noetl_dsn, plane) as (worker, _, _):
            run = asyncio.create_task(worker.run())
            plane.start(8)
            await finished(plane, 8, "FAILED")
            worker.stop()
            await run
    status, attempts, error = db.execute(
        "SELECT status, attempts, error FROM noetl.command"
    ).fetchone()  # type: ignore[misc]
    # NoETL's meta.max_attempts (2) is the limit, not the column's default (5)
    assert (status, attempts) == ("FAILED", 2)
    batches = [r.names for r in plane.accepted]
    assert batches == [
        ["command.started", "step.enter"],
        ["call.error", "step.exit", "command.failed"],
    ]
    # sent once the row was FAILED for good, not at the first failed attempt
    assert plane.accepted[1].row == ("FAILED", 2)
    call_error, step_exit, command_failed = plane.accepted[1].body["events"]
    assert call_error["actionable"] is True
    assert "cannot succeed" in call_error["payload"]["error"]
    assert call_error["payload"]["response"]["status"] == "error"
    assert step_exit["payload"]["status"] == "FAILED"
    assert step_exit["payload"]["result"]["status"] == "FAILED"
    assert command_failed["payload"]["error"] == error
    assert command_failed["payload"]["command_id"] == workflow.command_id


@pytest.mark.parametrize("terminal", ["playbook.completed", "execution.cancelled"])
async def test_a_command_of_an_execution_with_a_terminal_event_never_runs(
    noetl_dsn: str, db: Conn, terminal: str
) -> None:
    ran: list[str] = []

    async def python(command: Command, ctx: ToolContext) -> Any:
        ran.append(command.command_id)
        return {}

    db.execute("INSERT INTO noetl.execution (execution_id, status) VALUES (9, 'RUNNING')")
    for event_id, name in enumerate(["playbook.initialized", terminal, "command.issued"]):
        db.execute(
            "INSERT INTO noetl.event (execution_id, event_id, event_type) VALUES (9, %s, %s)",
            (event_id, name),
        )
    insert_command(db, 9, "late")
    with ControlPlane(noetl_dsn, Single()) as plane:
        async with reporting_worker(noetl_dsn, plane, wait=False, python=python) as (w, _, _):
            stats = await asyncio.wait_for(w.run(), 30)
    status, error = db.execute("SELECT status, error FROM noetl.command").fetchone()  # type: ignore[misc]
    assert status == "CANCELLED"
    assert error == f"not started: execution 9 has ended ({terminal})"
    assert ran == []
    assert stats["completed"] == 0
    assert outbox_rows(db) == [] and plane.requests == 0


async def test_a_claim_by_id_of_an_ended_executions_command_cancels_it(
    noetl_dsn: str, db: Conn
) -> None:
    """A source told which command to take: of an execution with a terminal
    event, the command ends CANCELLED, saying why, and is not the source's."""
    db.execute("INSERT INTO noetl.execution (execution_id, status) VALUES (9, 'RUNNING')")
    db.execute(
        "INSERT INTO noetl.event (execution_id, event_id, event_type)"
        " VALUES (9, 1, 'execution.cancelled')"
    )
    command_id = insert_command(db, 9, "late")
    async with psycopg_pool.AsyncConnectionPool(
        noetl_dsn, min_size=1, max_size=2, open=False
    ) as pool:
        source = PgCommandSource(pool, worker_id="w", wait=False)
        pulled = await source.claim(command_id, 9)
    assert isinstance(pulled.outcome, AlreadyClaimed), pulled
    assert db.execute("SELECT status, error, claim_token FROM noetl.command").fetchall() == [
        ("CANCELLED", "not started: execution 9 has ended (execution.cancelled)", None)
    ]


async def test_under_a_rate_the_claim_cancels_ended_executions_rows_and_runs_the_rest(
    noetl_dsn: str, db: Conn
) -> None:
    """A claim under a rate has a trail of its own (rate_next.sql) before the
    look for ended executions: each trail's rows are read as their own."""
    pgqueue.set_limit_sync(db, tool_kind="python", rate="100/1s")
    db.execute("INSERT INTO noetl.execution (execution_id, status) VALUES (8, 'RUNNING')")
    db.execute("INSERT INTO noetl.execution (execution_id, status) VALUES (9, 'RUNNING')")
    db.execute(
        "INSERT INTO noetl.event (execution_id, event_id, event_type)"
        " VALUES (9, 1, 'playbook.completed')"
    )
    for execution_id in (8, 9, 8, 9):
        insert_command(db, execution_id, "step")
    ran: list[int] = []

    async def python(command: Command, ctx: ToolContext) -> Any:
        ran.append(command.execution_id)
        return {}

    with ControlPlane(noetl_dsn, Single()) as plane:
        async with reporting_worker(noetl_dsn, plane, wait=False, python=python) as (w, _, _):
            stats = await asyncio.wait_for(w.run(), 30)
    assert sorted(ran) == [8, 8] and stats["completed"] == 2
    assert db.execute(
        "SELECT execution_id, status FROM noetl.command ORDER BY execution_id, status"
    ).fetchall() == [(8, "COMPLETED"), (8, "COMPLETED"), (9, "CANCELLED"), (9, "CANCELLED")]


async def test_a_claim_whose_look_for_ended_executions_fails_leaves_nothing_claimed(
    noetl_dsn: str, db: Conn
) -> None:
    """The look for ended executions (cancel_ended.sql) fails: here on a lock
    held on NoETL's event table past the lock deadline. It runs in the claim's
    transaction, so the claim is undone with it: the rows stay PENDING, no
    attempt counted, and run once the lock is gone. (Run after the claim had
    committed, it left them CLAIMED, to wait out their leases, and a worker
    that ran until the queue was empty ended without them.)"""
    db.execute("INSERT INTO noetl.execution (execution_id, status) VALUES (9, 'RUNNING')")
    for step in ("a", "b", "c"):
        insert_command(db, 9, step)
    limit = Deadline(timedelta(seconds=1), timedelta(seconds=0.3))
    async with psycopg_pool.AsyncConnectionPool(
        noetl_dsn, min_size=1, max_size=2, open=False
    ) as pool:
        source = PgCommandSource(
            pool, worker_id="w", wait=False, deadlines=Deadlines(claim=limit, completion=limit)
        )
        with psycopg.connect(noetl_dsn) as holder:
            holder.execute("LOCK TABLE noetl.event IN ACCESS EXCLUSIVE MODE")
            pulled = await source.next()
            assert pulled is not None and isinstance(pulled.outcome, RetryLater), pulled
            assert (
                db.execute("SELECT status, attempts, claim_token FROM noetl.command").fetchall()
                == [("PENDING", 0, None)] * 3
            )
        ran: list[str] = []

        async def python(command: Command, ctx: ToolContext) -> Any:
            ran.append(command.step)
            return {}

        worker = Worker(source, concurrency=2, pool=pool)
        worker.register("python", python)
        stats = await asyncio.wait_for(worker.run(), 30)
    assert sorted(ran) == ["a", "b", "c"] and stats["completed"] == 3
    assert (
        db.execute("SELECT status, attempts FROM noetl.command").fetchall()
        == [("COMPLETED", 0)] * 3
    )


async def test_a_failed_execution_row_without_a_terminal_event_still_runs_its_commands(
    noetl_dsn: str, db: Conn
) -> None:
    """NoETL's claim rule: the row's FAILED status does not stop the work, only a
    terminal event does (NOETL.md §5)."""
    db.execute("INSERT INTO noetl.execution (execution_id, status) VALUES (12, 'FAILED')")
    insert_command(db, 12, "after_the_failure", input={"prev": 1})
    with ControlPlane(noetl_dsn, Single()) as plane:
        async with reporting_worker(noetl_dsn, plane, wait=False) as (w, _, _):
            stats = await asyncio.wait_for(w.run(), 30)

            async def both() -> bool:
                return len(plane.accepted) == 2

            await wait_until_async(both, what="both reports to arrive")
    assert db.execute("SELECT status, result FROM noetl.command").fetchone() == (
        "COMPLETED",
        {"n": 2},
    )
    assert stats["completed"] == 1
    assert [r.names[0] for r in plane.accepted] == ["command.started", "call.done"]


async def test_a_step_after_a_failing_step_runs_and_the_execution_ends_failed(
    noetl_dsn: str, db: Conn
) -> None:
    """A playbook whose middle step fails and whose last step follows it
    unconditionally ends with ``playbook.failed`` once that last step is reported
    (it was cancelled because the execution row said FAILED, and the execution
    never ended)."""
    workflow = FailingMiddle()
    with ControlPlane(noetl_dsn, workflow) as plane:
        async with reporting_worker(noetl_dsn, plane) as (worker, _, _):
            run = asyncio.create_task(worker.run())
            plane.start(14)

            async def ended() -> bool:
                return plane.terminal_event(14) is not None

            await wait_until_async(ended, timeout=30, what="the execution's terminal event")
            worker.stop()
            await run
        assert plane.terminal_event(14) == "playbook.failed"
    rows = db.execute("SELECT step_name, status FROM noetl.command ORDER BY step_name").fetchall()
    assert rows == [("step_a", "COMPLETED"), ("step_b", "FAILED"), ("step_c", "COMPLETED")]
    finals = {
        r.body["events"][0]["step"]: r.names[0]
        for r in plane.accepted
        if r.names[0] != "command.started"
    }
    assert finals == {"step_a": "call.done", "step_b": "call.error", "step_c": "call.done"}


async def test_a_stale_worker_writes_no_report(noetl_dsn: str, db: Conn) -> None:
    db.execute("INSERT INTO noetl.execution (execution_id) VALUES (10)")
    for step in ("a", "b"):
        insert_command(db, 10, step)
    with ControlPlane(noetl_dsn, Single()) as plane:
        async with reporting_worker(noetl_dsn, plane, wait=False) as (_, _, source):
            handles = []
            for _ in range(2):
                pulled = await source.next()
                assert pulled is not None and isinstance(pulled.outcome, Claimed)
                handles.append(pulled.ack)
            await source.ack(handles[0])  # to complete it; the other is nacked
            # another worker's claim now: this one's lease is lost
            db.execute("UPDATE noetl.command SET claim_token = gen_random_uuid()")
            with pytest.raises(LeaseLost):
                await source.complete(handles[0], {"n": 1})
            with pytest.raises(LeaseLost):
                await source.nack(handles[1], reason="boom")
            await source.close()
    assert outbox_rows(db) == []
    assert (
        db.execute("SELECT count(*) FROM noetl.command WHERE status = 'CLAIMED'").fetchone()[0] == 2
    )  # type: ignore[index]


async def test_an_output_noetl_would_refuse_fails_the_command_saying_why(
    noetl_dsn: str, db: Conn
) -> None:
    async def python(command: Command, ctx: ToolContext) -> Any:
        return {"blob": "x" * MAX_BATCH_BYTES}

    with ControlPlane(noetl_dsn, Single()) as plane:
        async with reporting_worker(noetl_dsn, plane, python=python) as (worker, _, _):
            run = asyncio.create_task(worker.run())
            plane.start(11)
            await finished(plane, 11, "FAILED")
            worker.stop()
            await run
    status, error = db.execute("SELECT status, error FROM noetl.command").fetchone()  # type: ignore[misc]
    assert status == "FAILED"
    assert "at most 2,097,152 bytes per event batch" in error
    assert [r.names[0] for r in plane.accepted] == ["command.started", "call.error"]


async def test_the_runtime_row_is_heartbeated_and_marked_offline(noetl_dsn: str, db: Conn) -> None:
    async with psycopg_pool.AsyncConnectionPool(noetl_dsn, min_size=1, open=False) as pool:
        beat = RuntimeHeartbeat(
            Gateway(pool), worker_id="w-beat", capacity=3, tool_kinds=["python"], interval=0.1
        )
        beat.start()

        async def beats(n: int) -> bool:
            return beat.beats >= n

        await wait_until_async(lambda: beats(1), what="a first beat")
        first = db.execute("SELECT heartbeat FROM noetl.runtime").fetchone()[0]  # type: ignore[index]
        await wait_until_async(lambda: beats(3), what="more beats")
        row = db.execute(
            "SELECT kind, name, status, heartbeat, capabilities, capacity FROM noetl.runtime"
        ).fetchone()
        assert row is not None
        assert row[:3] == ("worker_pool", "w-beat", "ready")
        assert row[3] > first
        assert row[4] == {"tool_kinds": ["python"], "capacity": 3}
        await beat.stop()
    assert db.execute("SELECT status, count(*) FROM noetl.runtime GROUP BY 1").fetchall() == [
        ("offline", 1)
    ]


@pytest.mark.parametrize(
    "context",
    [
        # NoETL's Python server
        {
            "tool_config": {"code": "def main(prev):\n    return prev\n"},
            "input": {"prev": 1},
            "render_context": {"workload": {"n": 1}},
            "spec": None,
        },
        # its Rust server, with a field externalised as a reference
        {
            "tool_config": {"code": "def main():\n    return 1\n"},
            "args": {
                "big": {
                    "kind": "temp_ref",
                    "ref": "noetl://temp/1/big",
                    "store": "kv",
                    "scope": "execution",
                    "meta": {"bytes": 9000},
                    "correlation": {"execution_id": "12"},
                }
            },
            "render_context": {},
        },
    ],
)
async def test_both_context_shapes_reach_the_tool_as_they_are(
    noetl_dsn: str, db: Conn, context: dict[str, Any]
) -> None:
    seen: list[Command] = []

    async def python(command: Command, ctx: ToolContext) -> Any:
        seen.append(command)
        return {}

    command_id = insert_command(db, 12, "shape")
    db.execute(
        "UPDATE noetl.command SET context = %s WHERE command_id = %s",
        (json.dumps(context), command_id),
    )
    async with psycopg_pool.AsyncConnectionPool(noetl_dsn, min_size=1, open=False) as pool:
        worker = Worker(PgCommandSource(pool, worker_id="w", wait=False), pool=pool)
        worker.register("python", python)
        await asyncio.wait_for(worker.run(), 30)
    (command,) = seen
    assert command.input == {k: v for k, v in context.items() if k != "render_context"}
    assert command.render_context == context["render_context"]


@pytest.fixture
def worker_login(noetl_dsn: str, db: Conn) -> Any:
    """A LOGIN role in ``pgqueue_worker`` only; its DSN for the NoETL database."""
    name = f"t_noetl_worker_{uuid.uuid4().hex[:8]}"
    db.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE pgqueue_worker").format(sql.Identifier(name)))
    yield make_conninfo("", **{**conninfo_to_dict(noetl_dsn), "user": name})
    db.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
    db.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


async def test_the_worker_role_may_report_and_keep_its_runtime_row(
    worker_login: str, db: Conn
) -> None:
    # the control plane is NoETL's: it connects as the owner
    with ControlPlane(db.info.dsn, Single(input={"prev": 1})) as plane:
        async with reporting_worker(worker_login, plane) as (worker, _, _):
            run = asyncio.create_task(worker.run())
            plane.start(13)
            await finished(plane, 13)
            worker.stop()
            await run
        async with psycopg_pool.AsyncConnectionPool(worker_login, min_size=1, open=False) as pool:
            beat = RuntimeHeartbeat(
                Gateway(pool), worker_id="w-role", capacity=1, tool_kinds=["python"], interval=5
            )
            beat.start()

            async def beaten() -> bool:
                return beat.beats >= 1

            await wait_until_async(beaten, what="a beat as the worker role")
            await beat.stop()
    assert outbox_rows(db) == []
    assert db.execute("SELECT status FROM noetl.runtime WHERE name = 'w-role'").fetchone() == (
        "offline",
    )


async def test_a_start_report_that_lands_after_its_attempt_failed_leaves_no_stranded_row(
    noetl_dsn: str, db: Conn
) -> None:
    """The window docs/noetl.md admitted: a start batch on its way when its
    attempt fails. NoETL accepts it and moves the row, now waiting for its
    retry, to RUNNING: a row without a lease that nobody would run again. The
    relay puts such a row back to PENDING as it settles the delivery."""
    attempts: list[int] = []

    async def python(command: Command, ctx: ToolContext) -> Any:
        attempts.append(command.attempts)
        if command.attempts == 0:
            await asyncio.sleep(0.3)  # long enough for the start report to leave
            raise RuntimeError("the first attempt fails")
        return {"n": 1}

    def hold_the_start(body: dict[str, Any]) -> None:
        # the start batch arrives; it is accepted only once the attempt has failed
        if body["events"][0]["name"] != "command.started":
            return
        command_id = body["events"][0]["payload"]["command_id"]
        deadline = time.monotonic() + 20
        with psycopg.connect(noetl_dsn, autocommit=True) as conn:
            while time.monotonic() < deadline:
                found = conn.execute(
                    "SELECT status, attempts FROM noetl.command WHERE command_id = %s",
                    (command_id,),
                ).fetchone()
                if found is not None and found[1] >= 1:
                    return
                time.sleep(0.01)

    with ControlPlane(noetl_dsn, Single(meta={"max_attempts": 3})) as plane:
        plane.before_accept = hold_the_start
        async with reporting_worker(noetl_dsn, plane, python=python) as (worker, _, _):
            run = asyncio.create_task(worker.run())
            plane.start(15)
            await finished(plane, 15)
            worker.stop()
            await run
    assert attempts == [0, 1]
    assert db.execute("SELECT status, attempts FROM noetl.command").fetchone() == ("COMPLETED", 1)


async def test_reports_being_written_keep_the_backlog_pause_until_written(
    noetl_dsn: str, db: Conn
) -> None:
    """The relay's count of the outbox cannot see reports whose write is not
    over yet; the pause must not lift for want of them (CI saw the bound
    overshot by a round that counted the outbox between a completion and its
    write)."""
    async with psycopg_pool.AsyncConnectionPool(noetl_dsn, min_size=1, open=False) as pool:
        relay = Relay(Outbox(pool), NoetlReporter("http://127.0.0.1:1"), backlog=6)
        relay.count(8)  # four commands finished, their reports on their way
        assert relay.paused() is not None
        await relay._measure()  # the outbox is empty: the write is not over
        assert relay.waiting == 8 and relay.paused() is not None
        relay.committed(8)  # the write failed, say: nothing of it waits
        await relay._measure()
        assert relay.waiting == 0 and relay.paused() is None
        await relay.reporter.aclose()


async def test_a_tools_own_transaction_writes_the_reports_with_its_completion(
    noetl_dsn: str, db: Conn
) -> None:
    """A tool that finishes its command in its own transaction (ctx.transaction())
    writes the reports in it: the first attempt's transaction rolls back (its
    write, the completion and the reports with it), the second commits them and
    the control plane gets the command's start and its result, once each."""
    db.execute("CREATE TABLE app_writes (command_id bigint, attempt int)")

    async def transactional(command: Command, ctx: ToolContext) -> None:
        async with ctx.transaction() as conn:
            await conn.execute(
                "INSERT INTO app_writes VALUES (%s, %s)", (command.command_id, command.attempts)
            )
            ctx.set_result({"done": command.attempts})
            if command.attempts == 0:
                raise RuntimeError("rolled back: the write, the completion, the reports")

    with ControlPlane(noetl_dsn, Single(tool_kind="transactional")) as plane:
        async with reporting_worker(noetl_dsn, plane, transactional=transactional) as (
            worker,
            _,
            _,
        ):
            run = asyncio.create_task(worker.run())
            plane.start(21)
            await finished(plane, 21)
            worker.stop()
            await run
    assert db.execute("SELECT attempt FROM app_writes").fetchall() == [(1,)]
    names = [r.names[0] for r in plane.accepted]
    assert names.count("call.done") == 1 and plane.duplicates == 0
    done = next(r for r in plane.accepted if r.names[0] == "call.done")
    assert json.dumps({"done": 1}).strip("{}") in json.dumps(done.body)
    assert outbox_rows(db) == []
