"""Schedules on a real table: the API, and the scheduler's rounds, exactly
once however many workers run them at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import psycopg
import psycopg_pool
import pytest

import pgqueue
from pgqueue import QueueTable
from pgqueue.db.gateway import Gateway
from pgqueue.schedule_file import load, put_all
from pgqueue.scheduler import Scheduler
from pgqueue.schedules import InvalidSchedule, ScheduleNotFound
from tests.acceptance.cli import pgqueue as pgqueue_cli

Conn = psycopg.Connection[Any]
Pool = psycopg_pool.AsyncConnectionPool[Any]

REPORT = {"step": "report", "tool_kind": "noop", "input": {"to": "ops"}, "priority": 3}


def fired(db: Conn, name: str = "s") -> list[dict[str, Any]]:
    """The commands schedule ``name`` enqueued, by tick."""
    with db.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(
            "SELECT command_id, step_name, tool_kind, context, priority, meta, status"
            " FROM noetl.command WHERE meta ->> 'schedule' = %s ORDER BY meta ->> 'tick'",
            (name,),
        ).fetchall()


def set_back(db: Conn, name: str, by: timedelta) -> None:
    """As if no worker had run for ``by``: the watermark that long ago."""
    db.execute(
        "UPDATE noetl.pgqueue_schedule SET last_tick = now() - %s, anchor = anchor - %s"
        " WHERE name = %s",
        (by, by, name),
    )


async def test_a_due_tick_is_enqueued_once_with_the_schedule_and_tick_in_its_meta(
    pool: Pool, db: Conn
) -> None:
    pgqueue.add_schedule_sync(db, "s", every="10s", command=REPORT)
    set_back(db, "s", timedelta(seconds=25))
    scheduler = Scheduler(Gateway(pool, QueueTable()), worker_id="w")
    wait = await scheduler.round()
    rows = fired(db)
    assert len(rows) == 2 and scheduler.fired == 2  # the ticks 20 s and 10 s ago
    assert {(r["step_name"], r["tool_kind"], r["priority"], r["status"]) for r in rows} == {
        ("report", "noop", 3, "PENDING")
    }
    assert rows[0]["context"] == {"to": "ops"}
    assert rows[0]["meta"]["tick"] < rows[1]["meta"]["tick"]
    assert rows[0]["meta"]["tick"].endswith("Z")
    assert 0 < wait <= 1.0
    # the next round finds nothing more due
    await scheduler.round()
    assert len(fired(db)) == 2


async def test_many_schedulers_at_once_enqueue_each_tick_exactly_once(dsn: str, db: Conn) -> None:
    """Eight schedulers on eight connections run their rounds at once, over
    ticks that fall due as they go: each tick once, none missing."""
    pgqueue.add_schedule_sync(db, "s", every="1s", command=REPORT)
    set_back(db, "s", timedelta(seconds=30))
    async with psycopg_pool.AsyncConnectionPool(dsn, min_size=8, max_size=8, open=False) as many:
        await many.wait()
        schedulers = [Scheduler(Gateway(many, QueueTable()), worker_id=f"w{n}") for n in range(8)]
        for _ in range(5):
            await asyncio.gather(*(s.round() for s in schedulers))
    ticks = [r["meta"]["tick"] for r in fired(db)]
    assert len(ticks) == len(set(ticks)) == sum(s.fired for s in schedulers)
    # the ticks of the last LATE (a minute) less than 30 s ago: every second of it
    assert 29 <= len(ticks) <= 32


async def test_skip_drops_a_downtime_and_backfill_enqueues_its_count_or_window(
    pool: Pool, db: Conn
) -> None:
    minute = {**REPORT, "step": "minutely"}
    pgqueue.add_schedule_sync(db, "skip", cron="* * * * *", command=minute)
    pgqueue.add_schedule_sync(
        db, "count", cron="* * * * *", command=minute, missed="backfill", backfill=3
    )
    pgqueue.add_schedule_sync(
        db, "window", cron="* * * * *", command=minute, missed="backfill", backfill_window="10m"
    )
    for name in ("skip", "count", "window"):
        set_back(db, name, timedelta(hours=2))
    await Scheduler(Gateway(pool, QueueTable()), worker_id="w").round()
    # under a minute late: one tick; 3 missed more; 9 or 10 within ten minutes
    assert len(fired(db, "skip")) == 1
    assert len(fired(db, "count")) == 4
    assert len(fired(db, "window")) in (10, 11)


async def test_a_paused_schedule_fires_nothing_and_resumes_from_now(pool: Pool, db: Conn) -> None:
    pgqueue.add_schedule_sync(db, "s", every="1s", command=REPORT, missed="backfill", backfill=50)
    paused = pgqueue.pause_schedule_sync(db, "s", reason="the API is down")
    assert paused.paused and paused.paused_reason == "the API is down"
    set_back(db, "s", timedelta(seconds=20))
    scheduler = Scheduler(Gateway(pool, QueueTable()), worker_id="w")
    await scheduler.round()
    assert fired(db) == []
    resumed = pgqueue.resume_schedule_sync(db, "s")
    assert not resumed.paused and resumed.next_tick > resumed.last_tick
    await scheduler.round()
    # the pause's ticks are not enqueued, backfill or not: only a tick after the
    # resume may have come due since
    after = [r["meta"]["tick"] for r in fired(db)]
    assert len(after) <= 1
    resumed_at = resumed.last_tick.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert all(tick > resumed_at for tick in after)


def test_a_changed_timing_starts_from_now_and_other_changes_keep_the_ticks(db: Conn) -> None:
    pgqueue.add_schedule_sync(db, "s", every="1m", command=REPORT)
    set_back(db, "s", timedelta(hours=1))
    before = pgqueue.schedules_sync(db, "s")[0].last_tick
    kept = pgqueue.add_schedule_sync(db, "s", every="1m", command={**REPORT, "priority": 9})
    assert kept.last_tick == before and kept.command["priority"] == 9
    moved = pgqueue.add_schedule_sync(db, "s", every="2m", command=REPORT)
    assert moved.last_tick > before


def test_run_now_enqueues_the_command_apart_from_the_ticks(db: Conn) -> None:
    added = pgqueue.add_schedule_sync(
        db, "s", cron="0 3 * * *", timezone="Europe/Berlin", command=REPORT
    )
    (command_id,) = pgqueue.run_schedule_now_sync(db, "s")
    rows = fired(db)
    assert [str(r["command_id"]) for r in rows] == [command_id]
    assert rows[0]["meta"] == {"schedule": "s", "run_now": True}
    assert pgqueue.schedules_sync(db, "s")[0].last_tick == added.last_tick
    with pytest.raises(ScheduleNotFound, match="no schedule named 'nope'"):
        pgqueue.run_schedule_now_sync(db, "nope")


def test_remove_keeps_what_was_enqueued(db: Conn) -> None:
    pgqueue.add_schedule_sync(db, "s", every="1m", command=REPORT)
    pgqueue.run_schedule_now_sync(db, "s")
    assert pgqueue.remove_schedule_sync(db, "s").name == "s"
    assert pgqueue.schedules_sync(db) == [] and len(fired(db)) == 1
    with pytest.raises(ScheduleNotFound):
        pgqueue.remove_schedule_sync(db, "s")


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"cron": "0 25 * * *"}, "cron: '0 25 \\* \\* \\*': Bad hour"),
        ({"every": "soon"}, "every: 'soon' is not a duration"),
        ({"cron": "* * * * *", "command": {**REPORT, "step": ""}}, "command.step: "),
        (
            {"cron": "* * * * *", "command": {**REPORT, "delay": 5}},
            "command.delay: not in a schedule",
        ),
        ({"cron": "* * * * *", "missed": "backfill"}, "backfill: say how far back"),
    ],
)
def test_a_bad_schedule_is_one_line_naming_the_field_and_writes_nothing(
    db: Conn, kwargs: dict[str, Any], says: str
) -> None:
    with pytest.raises(InvalidSchedule, match=says) as raised:
        pgqueue.add_schedule_sync(db, "bad", **{"command": REPORT, **kwargs})
    assert "\n" not in str(raised.value)
    assert db.execute("SELECT count(*) FROM noetl.pgqueue_schedule").fetchone() == (0,)


async def test_a_file_of_schedules_is_checked_then_added(tmp_path: Path, db: Conn) -> None:
    toml = tmp_path / "schedules.toml"
    toml.write_text(
        """
        [nightly]
        cron = "0 3 * * *"
        timezone = "Europe/Berlin"
        command = { step = "report", tool_kind = "noop", input = {} }

        [often]
        every = "30s"
        missed = "backfill"
        backfill = 5
        command = { step = "ping", tool_kind = "noop", input = { n = 1 } }
        """
    )
    yaml = tmp_path / "schedules.yaml"
    yaml.write_text(
        "hourly:\n  cron: '0 * * * *'\n  command: {step: tick, tool_kind: noop, input: {}}\n"
    )
    entries = load(toml) + load(yaml)
    async with await psycopg.AsyncConnection.connect(db.info.dsn) as conn:
        added = await put_all(conn, entries)
    assert [s.name for s in added] == ["nightly", "often", "hourly"]
    assert [s.name for s in pgqueue.schedules_sync(db)] == ["hourly", "nightly", "often"]
    bad = tmp_path / "bad.toml"
    bad.write_text('[x]\ncron = "* * * * *"\nevry = "1s"\ncommand = {}\n')
    with pytest.raises(InvalidSchedule, match=r"bad.toml: schedule 'x': unknown field 'evry'"):
        load(bad)


def test_a_worker_adds_the_schedules_of_its_file_and_refuses_a_bad_one(
    tmp_path: Path, dsn: str, db: Conn
) -> None:
    good = tmp_path / "schedules.toml"
    good.write_text(
        '[nightly]\ncron = "0 3 * * *"\ntimezone = "Europe/Berlin"\n'
        'command = { step = "report", tool_kind = "noop", input = {} }\n'
    )
    done = pgqueue_cli("worker", "--dsn", dsn, "--schedules", str(good), "--until-empty")
    assert done.returncode == 0, done.stderr
    (nightly,) = pgqueue.schedules_sync(db)
    assert (nightly.name, nightly.when) == ("nightly", "0 3 * * * (Europe/Berlin)")
    bad = tmp_path / "bad.toml"
    bad.write_text('[x]\ncron = "0 25 * * *"\ncommand = { step = "s", tool_kind = "noop" }\n')
    refused = pgqueue_cli("worker", "--dsn", dsn, "--schedules", str(bad), "--until-empty")
    assert refused.returncode == 2
    (line,) = refused.stderr.strip().splitlines()
    assert "schedule 'x': cron: '0 25 * * *': Bad hour" in line
    assert [s.name for s in pgqueue.schedules_sync(db)] == ["nightly"]
