"""Where the database is: ``--dsn``, then ``PGQUEUE_DSN``, then ``DATABASE_URL``,
then libpq's own ``PG*`` variables. And how to show a DSN without its secret."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgqueue.errors import ConfigurationError

#: libpq variables that, when set, describe a database on their own.
LIBPQ_VARIABLES = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE")

_DRIVER_SUFFIX = re.compile(r"^(postgres(?:ql)?)\+\w+://")


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


_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*://)(.*)$", re.IGNORECASE | re.DOTALL)

#: shown instead of a DSN in which no secret could be told apart
HIDDEN = "<a DSN that could not be parsed; not shown>"


def mask(dsn: str) -> str:
    """The DSN with its password replaced by ``****``; safe to log.

    A URL's user info runs to its last ``@`` (a password may hold ``?``, ``#``,
    ``/`` or an unencoded ``@``, which libpq itself reads as part of the host or
    the database); a ``password`` parameter is masked wherever it is; and the
    password libpq's own parser finds is masked wherever it still shows. A
    key/value DSN is rebuilt by libpq's rules with the password replaced.
    """
    url = _SCHEME.match(dsn)
    try:
        params = conninfo_to_dict(dsn)
    except Exception:
        params = None
    if url is None:
        if params is not None:
            if "password" not in params:
                return dsn
            return make_conninfo("", **{**params, "password": "****"})
        # malformed: where its password ends is anybody's guess
        return HIDDEN if "password" in dsn.lower() else dsn
    scheme, rest = url.groups()
    at = rest.rfind("@")
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        user, colon, _ = userinfo.partition(":")
        rest = f"{user}{':****' if colon else ''}@{rest}"
    masked = scheme + re.sub(r"([?&]password=)[^&]*", r"\1****", rest, flags=re.IGNORECASE)
    secret = str((params or {}).get("password") or "")
    if secret:
        masked = masked.replace(secret, "****")
    return masked


def has_password(dsn: str) -> bool:
    """Whether the DSN itself carries a password (as libpq reads it)."""
    try:
        return bool(conninfo_to_dict(dsn).get("password"))
    except Exception:
        return "password" in dsn.lower() or (_SCHEME.match(dsn) is not None and "@" in dsn)


#: TCP keepalives for the connections pgqueue opens itself: a peer gone without
#: a word (a host that died, a dropped NAT entry) is noticed in about a minute
#: instead of the kernel's two hours. They do not help against a live host whose
#: backend answers nothing; the statement deadlines do (`pgqueue.db.deadlines`).
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


def keepalives(conninfo: str, kwargs: Mapping[str, object]) -> dict[str, object]:
    """`KEEPALIVES`, less whatever the DSN or the connection arguments set."""
    try:
        given = {**conninfo_to_dict(conninfo), **kwargs}
    except Exception:
        given = dict(kwargs)
    return {k: v for k, v in KEEPALIVES.items() if k not in given}
