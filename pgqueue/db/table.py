"""Where the queue lives."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from psycopg import sql

from pgqueue.db import statements


@dataclass(frozen=True, slots=True)
class QueueTable:
    """Where the queue lives. Names reach SQL only through `psycopg.sql.Identifier`."""

    schema: str = "noetl"
    table: str = "command"

    @property
    def channel(self) -> str:
        """The LISTEN/NOTIFY channel the insert trigger notifies."""
        return f"pgqueue.{self.schema}.{self.table}"

    @property
    def done_channel(self) -> str:
        """Where `pgqueue.wait` hears that a command it waits for finished."""
        return f"{self.channel}.done"

    @property
    def identifier(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.table)

    def statement(
        self, name: str, *, package: str = statements.CORE, **literals: Hashable
    ) -> sql.Composed:
        """Statement ``name`` (of ``package``'s ``sql`` folder) for this table, each
        value slot named in ``literals`` (``limit=100``) written in as a literal,
        the others (and any given as ``None``, as ``limit=None`` always meant) left
        as parameters."""
        return statements.render(
            name, self.schema, self.table, statements.literals(**literals), package
        )
