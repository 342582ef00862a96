"""Enqueue: inside the caller's transaction, idempotent, validated, round-tripping."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import psycopg
import psycopg_pool
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pgqueue import (
    Claimed,
    Command,
    PgCommandSource,
    enqueue,
    enqueue_many,
    enqueue_many_sync,
    enqueue_sync,
)
from tests.helpers import row, snapshot, status_counts

Conn = psycopg.Connection[Any]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"))
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(
                alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
                max_size=8,
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)
json_objects = st.dictionaries(
    st.text(
        max_size=8, alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
    ).filter(lambda k: k != "render_context"),
    json_values,
    max_size=5,
)


@pytest.fixture
def claimer(dsn: str) -> Iterator[tuple[asyncio.Runner, PgCommandSource]]:
    """One event loop and source for every hypothesis example of a test."""
    with asyncio.Runner() as runner:
        pool = psycopg_pool.AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False)
        runner.run(pool.open(wait=True))
        source = PgCommandSource(pool, worker_id="rt", wait=False)
        yield runner, source
        runner.run(source.close())
        runner.run(pool.close())


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    step=st.text(min_size=1, max_size=20).filter(lambda s: s.strip() and "\x00" not in s),
    tool_kind=st.sampled_from(["http", "python", "postgres", "rhai"]),
    payload=json_objects,
    render_context=json_objects,
    execution_id=st.integers(min_value=-(2**63), max_value=2**63 - 1),
)
def test_enqueue_then_claim_round_trips_a_command_exactly(
    claimer: tuple[asyncio.Runner, PgCommandSource],
    db: Conn,
    step: str,
    tool_kind: str,
    payload: dict[str, Any],
    render_context: dict[str, Any],
    execution_id: int,
) -> None:
    db.execute("DELETE FROM noetl.command")
    command_id = enqueue_sync(
        db,
        step=step,
        tool_kind=tool_kind,
        input=payload,
        render_context=render_context,
        execution_id=execution_id,
    )
    expected = Command(
        command_id=command_id,
        execution_id=execution_id,
        step=step,
        tool_kind=tool_kind,
        input=payload,
        render_context=render_context,
        attempts=0,
    )
    runner, source = claimer
    pulled = runner.run(source.next())
    assert pulled is not None and isinstance(pulled.outcome, Claimed)
    runner.run(source.ack(pulled.ack))
    got = pulled.outcome.command
    assert got == expected
    # and through the seed's JSON wire format too
    assert Command.model_validate_json(got.model_dump_json()) == expected


async def test_enqueue_happens_inside_the_callers_transaction(dsn: str, db: Conn) -> None:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        await enqueue(conn, step="s", tool_kind="noop", input={})
        assert status_counts(db) == {}  # not committed yet
        await conn.rollback()
        assert status_counts(db) == {}
        await enqueue(conn, step="s", tool_kind="noop", input={})
        await conn.commit()
    assert status_counts(db) == {"PENDING": 1}


async def test_enqueue_is_idempotent_on_the_primary_key(dsn: str, db: Conn) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        first = await enqueue(
            conn, step="s", tool_kind="noop", input={"v": 1}, execution_id=9, command_id=99
        )
        again = await enqueue(
            conn, step="s", tool_kind="noop", input={"v": 2}, execution_id=9, command_id=99
        )
    assert first == again == "99"
    assert status_counts(db) == {"PENDING": 1}
    assert row(db, 99)["context"] == {"v": 1}  # the first one stands


async def test_enqueue_many_returns_ids_in_input_order_and_applies_options(
    dsn: str, db: Conn
) -> None:
    commands = [
        {"step": "a", "tool_kind": "noop", "input": {"i": 0}},
        {"step": "b", "tool_kind": "noop", "input": {"i": 1}, "command_id": 5, "execution_id": 6},
        {
            "step": "c",
            "tool_kind": "noop",
            "input": {"i": 2},
            "priority": 7,
            "max_attempts": 2,
            "delay": 60,
        },
    ]
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        ids = await enqueue_many(conn, commands)
    assert ids[1] == "5"
    assert [row(db, i)["step_name"] for i in ids] == ["a", "b", "c"]
    third = row(db, ids[2])
    assert (third["priority"], third["max_attempts"]) == (7, 2)
    assert 55 < (third["due_at"] - third["created_at"]).total_seconds() < 65
    assert row(db, ids[0])["max_attempts"] == 5


@pytest.mark.parametrize("count", [3, 300], ids=["insert", "copy"])
async def test_a_command_without_an_execution_is_its_own(dsn: str, db: Conn, count: int) -> None:
    # Its execution id is its command id, drawn once: on the INSERT path and on
    # the COPY path alike.
    new = [{"step": "s", "tool_kind": "noop", "input": {}}] * count
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        ids = await enqueue_many(conn, new)
        named = await enqueue(conn, step="s", tool_kind="noop", input={}, command_id=77)
        again = await enqueue(conn, step="s", tool_kind="noop", input={}, command_id=77)
        inside = await enqueue(conn, step="s", tool_kind="noop", input={}, execution_id=8)
    assert named == again == "77"  # a given command id alone is idempotent too
    keys = db.execute("SELECT execution_id, command_id FROM noetl.command").fetchall()
    assert len(keys) == count + 2
    assert {str(c) for e, c in keys if e == c} == {*ids, "77"}
    assert (8, int(inside)) in keys


def test_sync_forms_work_on_a_sync_connection(dsn: str, db: Conn) -> None:
    with psycopg.connect(dsn) as conn:
        one = enqueue_sync(conn, step="s", tool_kind="noop", input={})
        many = enqueue_many_sync(conn, [{"step": "s", "tool_kind": "noop", "input": {}}] * 3)
        conn.commit()
    assert len({one, *many}) == 4
    assert status_counts(db) == {"PENDING": 4}


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"step": ""}, "step"),
        ({"tool_kind": ""}, "tool_kind"),
        ({"input": ["not", "an", "object"]}, "input"),
        ({"input": {"x": float("nan")}}, "input"),
        ({"command_id": 2**64}, "command_id"),
    ],
)
async def test_bad_input_raises_naming_the_field_and_writes_nothing(
    dsn: str, db: Conn, bad: dict[str, Any], field: str
) -> None:
    good = {"step": "s", "tool_kind": "noop", "input": {}}
    enqueue_sync(db, **good)
    before = snapshot(db)
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        with pytest.raises(ValidationError) as single:
            await enqueue(conn, **{**good, **bad})
        assert field in str(single.value)
        # in a bulk enqueue one bad command stops the whole batch
        with pytest.raises(ValidationError) as bulk:
            await enqueue_many(conn, [good, {**good, **bad}, good])
        assert bulk.value.errors()[0]["loc"][:2] == (1, field)
    assert snapshot(db) == before


async def test_a_bulk_large_enough_for_copy_round_trips_in_order(dsn: str, db: Conn) -> None:
    # 500 new commands take the COPY path: ids drawn while validating, rows
    # streamed into COPY; the ids come back in input order.
    commands = [
        {"step": f"s{i}", "tool_kind": "noop", "input": {"i": i, "big": 1e300}} for i in range(500)
    ]
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        ids = await enqueue_many(conn, commands)
        assert status_counts(db) == {}  # the caller's transaction decides
        await conn.commit()
    assert len(set(ids)) == 500
    got = db.execute(
        "SELECT command_id::text, step_name, context FROM noetl.command ORDER BY command_id"
    ).fetchall()
    by_id = {command_id: (step, context) for command_id, step, context in got}
    assert [by_id[i][0] for i in ids] == [f"s{i}" for i in range(500)]
    assert by_id[ids[7]][1] == {"i": 7, "big": 1e300}
    assert isinstance(by_id[ids[7]][1]["big"], float)


@pytest.mark.parametrize("where", [0, 150, 299])
async def test_a_copy_sized_bulk_with_one_named_command_lands_whole(
    dsn: str, db: Conn, where: int
) -> None:
    # The COPY path is chosen by a look at the first and last commands and
    # confirmed after validation; a bulk with a named command anywhere takes
    # the INSERT (its ON CONFLICT keeps the named one idempotent).
    commands: list[dict[str, Any]] = [
        {"step": f"s{i}", "tool_kind": "noop", "input": {}} for i in range(300)
    ]
    commands[where] = {**commands[where], "command_id": 5, "execution_id": 6, "delay": 0}
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        ids = await enqueue_many(conn, commands)
        again = await enqueue_many(conn, [commands[where]])
    assert ids[where] == again[0] == "5"
    assert len(set(ids)) == 300
    assert [row(db, i)["step_name"] for i in ids] == [f"s{i}" for i in range(300)]
    assert status_counts(db) == {"PENDING": 300}


@pytest.mark.parametrize("form", ["async", "sync"])
async def test_a_bad_command_in_a_copy_sized_bulk_writes_nothing_and_spares_the_transaction(
    dsn: str, db: Conn, form: str
) -> None:
    good = {"step": "s", "tool_kind": "noop", "input": {}}
    commands = [good] * 300 + [{**good, "tool_kind": "  "}] + [good] * 10
    if form == "async":
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            with pytest.raises(ValidationError) as caught:
                await enqueue_many(conn, commands)
            # the transaction is still usable: the next enqueue lands
            await enqueue_many(conn, [good] * 250)
            await conn.commit()
    else:
        with psycopg.connect(dsn) as sync_conn:
            with pytest.raises(ValidationError) as caught:
                enqueue_many_sync(sync_conn, commands)
            enqueue_many_sync(sync_conn, [good] * 250)
            sync_conn.commit()
    assert caught.value.errors()[0]["loc"][:2] == (300, "tool_kind")
    assert status_counts(db) == {"PENDING": 250}


def test_an_enqueue_has_a_deadline_and_leaves_the_callers_limits_alone(
    dsn: str, db: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from pgqueue import DatabaseError
    from pgqueue.db import plans
    from pgqueue.db.deadlines import Deadline

    monkeypatch.setattr(plans, "LIMITS", Deadline(timedelta(seconds=2), timedelta(seconds=0.3)))
    with psycopg.connect(dsn) as caller:
        caller.execute("SET statement_timeout = '12345ms'")
        enqueue_sync(caller, step="s", tool_kind="k", input={})
        # the rest of the caller's transaction runs under its own limits
        assert caller.execute("SHOW statement_timeout").fetchone() == ("12345ms",)
        assert caller.execute("SHOW lock_timeout").fetchone() == ("0",)
        caller.commit()
    # behind a DDL's lock, an enqueue gives up after its lock timeout instead
    # of queueing every producer behind it
    with psycopg.connect(dsn) as holder, psycopg.connect(dsn) as caller:
        holder.execute("LOCK TABLE noetl.command IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(DatabaseError) as info:
            enqueue_many_sync(caller, [{"step": "s", "tool_kind": "k", "input": {}}] * 300)
        assert info.value.sqlstate == "55P03" and info.value.transient
        holder.rollback()
    assert status_counts(db) == {"PENDING": 1}
