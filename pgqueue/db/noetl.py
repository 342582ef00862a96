"""The statements on NoETL's own tables beside the command table, through the
`Gateway`: which of them exist, and the worker's row in NoETL's runtime
registry. (Commands of ended executions are cancelled by the claim itself,
``sql/cancel_ended.sql``.)"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from psycopg import sql

from pgqueue.db.gateway import Gateway


@dataclass(frozen=True, slots=True)
class NoetlTables:
    """Which of NoETL's tables the queue's schema has."""

    event: bool
    runtime: bool


async def noetl_tables(gateway: Gateway) -> NoetlTables:
    schema = gateway.table.schema
    rows = await gateway.fetch(
        "noetl_tables",
        {
            "event": sql.Identifier(schema, "event").as_string(None),
            "runtime": sql.Identifier(schema, "runtime").as_string(None),
        },
        # on the claim path (the first claim asks): the claim's deadline
        role="claim",
    )
    return NoetlTables(bool(rows[0][0]), bool(rows[0][1]))


async def runtime_beat(
    gateway: Gateway,
    *,
    name: str,
    capacity: int,
    tool_kinds: Sequence[str],
    uri: str | None = None,
    runtime: dict[str, object] | None = None,
) -> None:
    """Make or refresh the worker's ``worker_pool`` row, status ``ready``."""
    await gateway.fetch(
        "runtime_beat",
        {
            "name": name,
            "uri": uri,
            "capacity": capacity,
            "capabilities": json.dumps({"tool_kinds": list(tool_kinds), "capacity": capacity}),
            "runtime": json.dumps({"type": "pgqueue", **(runtime or {})}),
        },
        role="heartbeat",
    )


async def runtime_stop(gateway: Gateway, *, name: str) -> None:
    """Mark the worker's row ``offline``."""
    await gateway.fetch("runtime_stop", {"name": name}, role="heartbeat")
