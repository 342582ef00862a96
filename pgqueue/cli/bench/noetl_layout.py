"""NoETL's own layout of the command table, for ``pgqueue bench
--layout noetl``: hash-partitioned 16 ways on ``execution_id``, with NoETL's 12
indexes (a worker pays for each on every update), and its ``execution`` table
(whose finished executions get no more work: a look-up in every claim).
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


def create(conn: psycopg.Connection[Any], schema: str) -> None:
    """NoETL's schema objects in ``schema``: the partitioned command table with
    its indexes, and the execution table."""
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
