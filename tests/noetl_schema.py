"""NoETL's own `noetl.command`, as its control plane creates it: hash-partitioned
by execution_id into 16 partitions, no pgqueue columns, and its own id function."""

from __future__ import annotations

from typing import Any

import psycopg

from pgqueue.cli.bench import noetl_layout

NOETL_DDL = """
CREATE SCHEMA noetl;
CREATE SEQUENCE noetl.noetl_own_seq;
CREATE FUNCTION noetl.snowflake_id() RETURNS bigint LANGUAGE sql AS $$
  SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint * 1000
         + nextval('noetl.noetl_own_seq') % 1000
$$;
CREATE TABLE noetl.command (
    command_id          bigint NOT NULL DEFAULT noetl.snowflake_id(),
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
    created_at          timestamptz DEFAULT now(),
    updated_at          timestamptz DEFAULT now(),
    PRIMARY KEY (execution_id, command_id)
) PARTITION BY HASH (execution_id);
"""


def create_noetl_table(conn: psycopg.Connection[Any], *, rows: int = 40) -> None:
    """NoETL's table with ``rows`` PENDING commands, one COMPLETED and one retried."""
    conn.execute(NOETL_DDL)
    for i in range(16):
        conn.execute(
            f"CREATE TABLE noetl.command_p{i} PARTITION OF noetl.command "
            f"FOR VALUES WITH (MODULUS 16, REMAINDER {i})"
        )
    conn.execute(
        """
        INSERT INTO noetl.command (execution_id, step_name, tool_kind, context)
        SELECT 1000 + g, 'step_' || g, 'http',
               jsonb_build_object('url', 'https://example.com/' || g,
                                  'render_context', jsonb_build_object('n', g))
        FROM generate_series(1, %s) AS g
        """,
        (rows,),
    )
    conn.execute(
        "INSERT INTO noetl.command (execution_id, step_name, tool_kind, status, context, result)"
        " VALUES (1, 'done', 'http', 'COMPLETED', '{}', '{\"ok\": true}')"
    )
    conn.execute(
        "INSERT INTO noetl.command (execution_id, step_name, tool_kind, attempt, context)"
        " VALUES (2, 'retried', 'http', 3, '{}')"
    )


#: NoETL's runtime registry, as its control plane makes it
NOETL_CONTROL_TABLES = """
CREATE TABLE noetl.runtime (
    runtime_id   bigint PRIMARY KEY,
    name         text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('worker_pool', 'server_api', 'broker')),
    uri          text,
    status       text NOT NULL,
    labels       jsonb,
    capabilities jsonb,
    capacity     integer,
    runtime      jsonb,
    heartbeat    timestamptz NOT NULL DEFAULT now(),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX idx_runtime_kind_name ON noetl.runtime (kind, name);
"""


def create_noetl_layout(conn: psycopg.Connection[Any]) -> None:
    """NoETL's whole layout, empty: the partitioned command table with its 12
    indexes, its executions, its event log and its runtime registry."""
    # NoETL's id function (the part of NOETL_DDL before its table), then its
    # current table, as the bench makes it
    conn.execute(NOETL_DDL[: NOETL_DDL.index("CREATE TABLE")])
    noetl_layout.create(conn, "noetl")
    conn.execute(
        "ALTER TABLE noetl.command ALTER COLUMN command_id SET DEFAULT noetl.snowflake_id()"
    )
    conn.execute(NOETL_CONTROL_TABLES)
