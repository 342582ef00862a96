"""Where the database is: ``--dsn``, then ``PGQUEUE_DSN``, then ``DATABASE_URL``,
then libpq's own ``PG*`` variables. And how to show a DSN without its secret."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from psycopg.conninfo import conninfo_to_dict

from pgqueue.errors import ConfigurationError

#: libpq variables that, when set, describe a database on their own.
LIBPQ_VARIABLES = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE")

_DRIVER_SUFFIX = re.compile(r"^(postgres(?:ql)?)\+\w+://")
_URL_PASSWORD = re.compile(r"^([a-z][a-z0-9+.-]*://[^:/@?#]*:)([^@/?#]*)(@)", re.IGNORECASE)
_KV_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def normalize(dsn: str) -> str:
    """Accept SQLAlchemy-style URLs (``postgresql+psycopg://``) as libpq URLs."""
    return _DRIVER_SUFFIX.sub(r"\1://", dsn.strip())


def resolve(
    explicit: str | None = None, environ: Mapping[str, str] | None = None
) -> tuple[str, str] | None:
    """The DSN to use and where it came from, or ``None`` when nothing is configured.

    A DSN of ``""`` means "libpq's defaults and ``PG*`` variables".
    """
    env = os.environ if environ is None else environ
    if explicit:
        return normalize(explicit), "--dsn"
    for name in ("PGQUEUE_DSN", "DATABASE_URL"):
        if env.get(name):
            return normalize(env[name]), name
    if any(env.get(name) for name in LIBPQ_VARIABLES):
        return "", "PG* variables"
    return None


def validate(dsn: str) -> str:
    """Parse the DSN, raising `ConfigurationError` (secret masked) if it is malformed."""
    try:
        conninfo_to_dict(dsn)
    except Exception as exc:
        raise ConfigurationError(f"invalid DSN {mask(dsn)!r}: {_first_line(exc)}") from None
    return dsn


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def mask(dsn: str) -> str:
    """The DSN with any password replaced by ``****``; safe to log."""
    masked = _URL_PASSWORD.sub(r"\1****\3", dsn)
    masked = _KV_PASSWORD.sub(r"\1****", masked)
    # Query-string passwords: postgresql://host/db?password=secret
    return re.sub(r"([?&]password=)[^&]*", r"\1****", masked, flags=re.IGNORECASE)
