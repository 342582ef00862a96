"""NoETL's own layout of the command table, for ``pgqueue bench
--layout noetl``: hash-partitioned 16 ways on ``execution_id``, with NoETL's 12
indexes (a worker pays for each on every update), its ``execution`` table,
and its ``event`` log with its indexes (an execution with a terminal event gets
no more work: a look-up after every claim, measured against a log of millions
of events).
Made before pgqueue's migrations, as on a NoETL database."""

from __future__ import annotations

from typing import Any, LiteralString

import psycopg
from psycopg import sql

#: partitions of NoETL's command table
PARTITIONS = 16

_TABLE: LiteralString = """
CREATE TABLE {command} (
    command_id          bigint NOT NULL,
    event_id            bigint,
    execution_id        bigint NOT NULL,
    catalog_id          bigint,
    parent_execution_id bigint,
    parent_command_id   bigint,
    step_name           text,
    tool_kind           text,
    status              text DEFAULT 'PENDING',
    worker_id           text,
    claimed_at          timestamptz,
    started_at          timestamptz,
    completed_at        timestamptz,
    attempt             integer DEFAULT 1,
    context             jsonb,
    meta                jsonb,
    result              jsonb,
    error               text,
    loop_event_id       bigint,
    iter_index          integer,
    stage_id            bigint,
    frame_id            bigint,
    latest_event_id     bigint,
    created_at          timestamptz DEFAULT now(),
    updated_at          timestamptz DEFAULT now(),
    PRIMARY KEY (execution_id, command_id)
) PARTITION BY HASH (execution_id)
"""

#: NoETL's indexes on the command table, as its control plane makes them
INDEXES: tuple[tuple[str, LiteralString], ...] = (
    ("idx_command_execution_id", "(execution_id)"),
    ("idx_command_execution_step", "(execution_id, step_name)"),
    ("idx_command_command_id", "(command_id)"),
    ("idx_command_status_open", "(status) WHERE status IN ('PENDING', 'CLAIMED')"),
    (
        "idx_command_execution_status",
        "(execution_id, status) WHERE status IN ('PENDING', 'CLAIMED', 'RUNNING')",
    ),
    ("idx_command_worker_claimed", "(worker_id, updated_at) WHERE status = 'CLAIMED'"),
    (
        "idx_command_loop",
        "(execution_id, loop_event_id, status) WHERE loop_event_id IS NOT NULL",
    ),
    (
        "idx_command_loop_iter",
        "(execution_id, step_name, loop_event_id, status, iter_index)"
        " WHERE loop_event_id IS NOT NULL",
    ),
    (
        "idx_command_loop_pending",
        "(execution_id, step_name, loop_event_id, created_at, iter_index)"
        " WHERE status = 'PENDING' AND iter_index IS NOT NULL",
    ),
    ("idx_command_stage", "(execution_id, stage_id, status) WHERE stage_id IS NOT NULL"),
    (
        "idx_command_stage_slot",
        "(execution_id, stage_id, (meta->>'worker_slot_id'))"
        " WHERE stage_id IS NOT NULL AND meta ? 'worker_slot_id'",
    ),
    ("idx_command_frame", "(execution_id, frame_id) WHERE frame_id IS NOT NULL"),
)

_EXECUTION: LiteralString = """
CREATE TABLE {execution} (
    execution_id bigint PRIMARY KEY,
    status       text NOT NULL DEFAULT 'RUNNING',
    start_time   timestamptz NOT NULL DEFAULT now(),
    end_time     timestamptz
)
"""


_EVENT: LiteralString = """
CREATE TABLE {event} (
    execution_id        bigint,
    catalog_id          bigint,
    event_id            bigint,
    parent_event_id     bigint,
    parent_execution_id bigint,
    created_at          timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
    event_type          varchar,
    node_id             varchar,
    node_name           varchar,
    node_type           varchar,
    status              varchar,
    duration            double precision,
    context             jsonb,
    result              jsonb,
    meta                jsonb,
    error               text,
    worker_id           varchar,
    PRIMARY KEY (execution_id, event_id)
)
"""

#: NoETL's indexes on its event log
EVENT_INDEXES: tuple[tuple[str, LiteralString], ...] = (
    ("idx_event_execution_id", "(execution_id)"),
    ("idx_event_catalog_id", "(catalog_id)"),
    ("idx_event_type", "(event_type)"),
    ("idx_event_status", "(status)"),
    ("idx_event_created_at", "(created_at)"),
    ("idx_event_node_name", "(node_name)"),
    ("idx_event_parent_event_id", "(parent_event_id)"),
    ("idx_event_parent_execution_id", "(parent_execution_id)"),
    ("idx_event_exec_id_event_id_desc", "(execution_id, event_id DESC)"),
    ("idx_event_exec_type", "(execution_id, event_type, event_id DESC)"),
)

#: one execution's events in the filled log: its life, then (one in ten) its end
_LIFE = ("playbook.initialized", "command.issued", "command.started", "call.done", "step.exit")


def fill_events(conn: psycopg.Connection[Any], schema: str, rows: int) -> None:
    """NoETL's event log with ``rows`` events of past executions (20 each, one
    execution in ten ended by a terminal event), none of the bench's own."""
    event = sql.Identifier(schema, "event")
    conn.execute(
        sql.SQL(
            """
            INSERT INTO {event} (execution_id, event_id, catalog_id, event_type, node_name,
                                 status, meta)
            SELECT g / 20, g, 1,
                   CASE WHEN g % 200 = 199 THEN 'playbook.completed'
                        ELSE ({life}::text[])[1 + g % 5] END,
                   'step_' || (g % 20), 'COMPLETED', jsonb_build_object('command_id', g)
            FROM generate_series(0, {rows} - 1) AS g
            """
        ).format(
            event=event,
            life=sql.Literal(list(_LIFE)),
            rows=sql.Literal(rows),
        )
    )
    conn.execute(sql.SQL("ANALYZE {}").format(event))


def create(conn: psycopg.Connection[Any], schema: str) -> None:
    """NoETL's schema objects in ``schema``: the partitioned command table with
    its indexes, the execution table and the event log with its indexes."""
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    command = sql.Identifier(schema, "command")
    conn.execute(sql.SQL(_TABLE).format(command=command))
    for i in range(PARTITIONS):
        conn.execute(
            sql.SQL(
                "CREATE TABLE {part} PARTITION OF {command}"
                " FOR VALUES WITH (MODULUS {modulus}, REMAINDER {remainder})"
            ).format(
                part=sql.Identifier(schema, f"command_p{i:02d}"),
                command=command,
                modulus=sql.Literal(PARTITIONS),
                remainder=sql.Literal(i),
            )
        )
    for name, definition in INDEXES:
        conn.execute(
            sql.SQL("CREATE INDEX {name} ON {command} " + definition).format(
                name=sql.Identifier(name), command=command
            )
        )
    conn.execute(sql.SQL(_EXECUTION).format(execution=sql.Identifier(schema, "execution")))
    event = sql.Identifier(schema, "event")
    conn.execute(sql.SQL(_EVENT).format(event=event))
    for name, definition in EVENT_INDEXES:
        conn.execute(
            sql.SQL("CREATE INDEX {name} ON {event} " + definition).format(
                name=sql.Identifier(name), event=event
            )
        )
