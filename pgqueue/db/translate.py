"""psycopg's errors mapped onto the pgqueue hierarchy, in one place.

Every statement pgqueue runs goes through `translate` on failure, which keeps
the SQLSTATE and says whether the error is worth a retry; `describe` gives the
one line a log or a CLI error shows, without connection secrets.
"""

from __future__ import annotations

import psycopg
import psycopg_pool

from pgqueue.errors import DatabaseError, DatabaseUnavailable, SchemaNotMigrated

#: SQLSTATEs that mean "try again": serialization failure, deadlock, lock not
#: available, query cancelled (statement_timeout), admin shutdown, crash
#: shutdown, cannot connect now, too many connections.
TRANSIENT_SQLSTATES = frozenset(
    {"40001", "40P01", "55P03", "57014", "57P01", "57P02", "57P03", "53300", "53400"}
)

#: SQLSTATEs of a schema that is not there or not up to date: undefined table,
#: column or function, invalid schema name.
MISSING_SCHEMA_SQLSTATES = frozenset({"42P01", "42703", "42883", "3F000"})

#: what `translate` catches
DRIVER_ERRORS = (psycopg.Error, psycopg_pool.PoolTimeout)


def describe(exc: BaseException) -> str:
    """One line about a database error, without connection secrets."""
    if isinstance(exc, psycopg.Error):
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        state = f"{exc.sqlstate} " if exc.sqlstate else ""
        return f"{state}{type(exc).__name__}: {first}"
    return f"{type(exc).__name__}: {exc}"


def translate(exc: BaseException) -> DatabaseError:
    """Map a psycopg or pool error onto the pgqueue hierarchy."""
    message = describe(exc)
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return DatabaseUnavailable(f"connection pool exhausted: {message}", transient=True)
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError) and (
        exc.sqlstate is None or exc.sqlstate.startswith("08")
    ):
        return DatabaseUnavailable(message, sqlstate=exc.sqlstate, transient=True)
    if isinstance(exc, psycopg.Error):
        if exc.sqlstate == "23502" and exc.diag.column_name:
            # NoETL's own table requires columns pgqueue's does not (event_id,
            # catalog_id): say which, and how to give it
            column, table = exc.diag.column_name, exc.diag.table_name or "the queue table"
            return DatabaseError(
                f"{table} requires {column} (NOT NULL, no default), and this command does "
                f"not give it: pass {column}= to enqueue",
                sqlstate=exc.sqlstate,
            )
        if exc.sqlstate in MISSING_SCHEMA_SQLSTATES:
            return SchemaNotMigrated(f"{SchemaNotMigrated.__doc__} ({message})")
        transient = exc.sqlstate in TRANSIENT_SQLSTATES or exc.sqlstate is None
        return DatabaseError(message, sqlstate=exc.sqlstate, transient=transient)
    return DatabaseError(message)
