"""Named SQL statements, one per file, rendered with `psycopg.sql`.

Each ``.sql`` file is a template: ``{command}`` and ``{snowflake}`` are filled
with `psycopg.sql.Identifier` values, never by string formatting, so a
configured schema or table name can't change the statement's meaning.
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
def render(name: str, schema: str, table: str) -> sql.Composed:
    """``<name>.sql`` with its identifiers filled in for ``schema.table``."""
    return sql.SQL(text(name)).format(
        command=sql.Identifier(schema, table),
        snowflake=sql.Identifier(schema, "snowflake_id"),
    )
