"""Named SQL statements, one per file, rendered with `psycopg.sql`.

Each ``.sql`` file is a template: ``{command}`` and ``{snowflake}`` are filled
with `psycopg.sql.Identifier` values, never by string formatting, so a
configured schema or table name can't change the statement's meaning.
``{limit}`` is a claim's size: the ``%(limit)s`` parameter, or a literal where
the planner must know it (see ``claim_batch.sql``). A rule
that several statements share lives in one ``part_*.sql`` file, filled in as
``{claim_set}``, ``{claimed_row}``, ``{same_claim}`` or ``{leased}``.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import LiteralString

from psycopg import sql


@cache
def text(name: str) -> LiteralString:
    """The raw template of ``<name>.sql``."""
    # The files ship with the package and are never built from input, which is
    # what LiteralString promises to psycopg.
    return resources.files(__package__).joinpath(f"{name}.sql").read_text("utf-8")


@cache
def render(name: str, schema: str, table: str, limit: int | None = None) -> sql.Composed:
    """``<name>.sql`` with its identifiers filled in for ``schema.table``, and
    ``{limit}`` with ``limit`` as a literal (the ``%(limit)s`` parameter when None)."""
    return sql.SQL(text(name)).format(
        command=sql.Identifier(schema, table),
        limit=sql.Placeholder("limit") if limit is None else sql.Literal(limit),
        snowflake=sql.Identifier(schema, "snowflake_id"),
        # shared parts (``part_*.sql``), so a rule is written in one place
        claim_set=_part("claim_set"),
        claimed_row=_part("claimed_row"),
        same_claim=_part("same_claim"),
        leased=_part("leased"),
    )


def _part(name: str) -> sql.SQL:
    return sql.SQL(text(f"part_{name}").rstrip())
