"""Find a PostgreSQL server for the tests: the one configured, the local one, or
an embedded one started for the session (pgserver / pgembed)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo


@dataclass(frozen=True)
class Server:
    """Admin access to a server: where it is and who may create databases."""

    params: dict[str, Any]
    embedded: Any = None

    def dsn(self, dbname: str = "postgres") -> str:
        return make_conninfo("", **{**self.params, "dbname": dbname})

    @property
    def host(self) -> str:
        return str(self.params.get("host") or "localhost")

    @property
    def port(self) -> int:
        return int(self.params.get("port") or 5432)

    @property
    def user(self) -> str:
        return str(self.params.get("user") or "postgres")

    @property
    def password(self) -> str | None:
        value = self.params.get("password")
        return str(value) if value else None


def _reachable(params: dict[str, Any]) -> bool:
    try:
        with psycopg.connect(make_conninfo("", **params), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def find_server() -> Server:
    """``PGQUEUE_TEST_ADMIN_DSN`` if set; else 127.0.0.1:5432 as postgres; else the
    embedded server (``PGQUEUE_TEST_EMBEDDED=1`` forces it)."""
    configured = os.environ.get("PGQUEUE_TEST_ADMIN_DSN")
    if configured:
        params = conninfo_to_dict(configured)
        params.setdefault("dbname", "postgres")
        return Server(params)
    if os.environ.get("PGQUEUE_TEST_EMBEDDED") != "1":
        local = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}
        if _reachable(local):
            return Server(local)
    from pgqueue.cli.embedded import start_embedded

    embedded = start_embedded("tests")
    params = conninfo_to_dict(embedded.dsn)
    return Server(params, embedded=embedded)
