"""Where the database is: ``--dsn``, then ``PGQUEUE_DSN``, then ``DATABASE_URL``,
then libpq's own ``PG*`` variables. And how to show a DSN without its secret."""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Mapping
from urllib.parse import unquote

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


#: how to write a password libpq would misread
ENCODING_ADVICE = (
    "percent-encode it (@ as %40, # as %23, ? as %3F, / as %2F, % as %25), or leave "
    "the password out of the DSN and use PGPASSFILE or PGPASSWORD"
)


def validate(dsn: str, *, name: str = "the DSN") -> str:
    """Parse and check the DSN once, before anything connects: its password is
    remembered (`scrub` takes it out of any text), a URL whose password holds
    an unencoded ``@``, ``#``, ``?``, ``/`` or a stray ``%`` is refused, and a
    malformed one too; each with a `ConfigurationError` of one line, naming
    ``name`` (the flag or variable) and never the secret. The DSN, normalized."""
    dsn = normalize(dsn)
    remember(dsn)
    problem = _ambiguous_password(dsn)
    if problem is not None:
        raise ConfigurationError(f"{name}: {problem}: {ENCODING_ADVICE}")
    try:
        conninfo_to_dict(dsn)
    except Exception as exc:
        raise ConfigurationError(
            f"{name}: invalid DSN {mask(dsn)!r}: {scrub(_first_line(exc))}"
        ) from None
    return dsn


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*://)(.*)$", re.IGNORECASE | re.DOTALL)
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")

#: shown instead of a DSN in which no secret could be told apart
HIDDEN = "<a DSN that could not be parsed; not shown>"


def _intended_password(rest: str) -> str | None:
    """What a person meant as the password of a URL (``rest``: the text after the
    scheme): from the user's ``:`` to the last ``@``, read the way a person
    writes it, not the way libpq parses it."""
    at = rest.rfind("@")
    if at < 0:
        return None
    user, colon, password = rest[:at].partition(":")
    return password if colon and "@" not in user and "/" not in user else None


#: why a URL's password would not be read as written: each message whole, with
#: nothing of the password in it
UNENCODED = "its password holds an unencoded '@', '#', '?' or '/'"
UNENCODED_HASH = "its password holds an unencoded '#'"
STRAY_PERCENT = "its password holds a '%' that is not a percent-encoding"
UNENCODED_SLASH = "its password holds an unencoded '/' or '?'"
PASSWORD_PROBLEMS = (UNENCODED, UNENCODED_HASH, STRAY_PERCENT, UNENCODED_SLASH)


def _ambiguous_password(dsn: str) -> str | None:
    """Why libpq would not read a URL's password as written, or ``None``."""
    url = _SCHEME.match(dsn)
    if url is None:
        return None
    rest = url.group(2)
    # libpq's user info runs to the first "@" met before any "/"
    first_at, first_slash = rest.find("@"), rest.find("/")
    if first_at < 0:
        return None
    if first_slash < 0 or first_at < first_slash:
        userinfo, after = rest[:first_at], rest[first_at + 1 :]
        host = re.split(r"[/?]", after, maxsplit=1)[0]
        # another "@" before the query: the password's own, read as the host's
        # or the database's (a database named with an "@" is written %40)
        if "@" in after.split("?", 1)[0] or "#" in host:
            return UNENCODED
        if "#" in userinfo:
            return UNENCODED_HASH
        if _PERCENT.search(userinfo):
            return STRAY_PERCENT
        return None
    # a "/" before the first "@": libpq reads no user info at all, and the
    # password's tail as the database name (unless what comes before the "/"
    # is a host and its port, and the "@" is a query's)
    before = re.sub(r"\[[^\]]*\]", "", rest[:first_slash])
    in_path = "@" in rest[first_slash:].split("?", 1)[0]
    if ":" in before and (in_path or not re.fullmatch(r"[^:@?#]*:\d*", before)):
        return UNENCODED_SLASH
    return None


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
    """Whether the DSN itself carries a password, as its writer meant it (a URL's
    ``user:password@``, however libpq would read it, or a ``password``
    parameter): a scheme with a user and no password carries none."""
    url = _SCHEME.match(dsn)
    if url is not None:
        rest = url.group(2)
        if _intended_password(rest):
            return True
        return re.search(r"[?&]password=[^&]", rest, flags=re.IGNORECASE) is not None
    try:
        return bool(conninfo_to_dict(dsn).get("password"))
    except Exception:
        return "password" in dsn.lower()


# -- secrets out of every text -------------------------------------------------------

#: the passwords of every DSN this process was given (`remember`)
_SECRETS: set[str] = set()

#: the shortest run of a password's characters that `scrub` takes out, and the
#: shortest password it looks for at all (shorter ones are as likely to be
#: ordinary text: scrubbing a one-letter password would erase that letter from
#: every message)
SCRUB_RUN = 3


def remember(dsn: str) -> None:
    """Keep the passwords ``dsn`` carries (as libpq reads them and as a person
    meant them), and ``PGPASSWORD``'s, so that `scrub` can take them out."""
    found: set[str] = set()
    try:
        parsed: str | None = str(conninfo_to_dict(dsn).get("password") or "")
    except Exception:
        parsed = None
    url = _SCHEME.match(dsn)
    # what a person meant, where libpq reads it otherwise or not at all (a
    # valid URL's password is what libpq reads: a last "@" may be in its query)
    if url is not None and (parsed is None or _ambiguous_password(dsn) is not None):
        intended = _intended_password(url.group(2))
        if intended:
            found.add(intended)
            with contextlib.suppress(Exception):
                found.add(unquote(intended, errors="strict"))
    found.update(re.findall(r"password\s*=\s*'?([^'&\s]+)", dsn, flags=re.IGNORECASE))
    found.add(parsed or "")
    if os.environ.get("PGPASSWORD"):
        found.add(os.environ["PGPASSWORD"])
    _SECRETS.update(secret for secret in found if len(secret) >= SCRUB_RUN)


def forget() -> None:
    """Forget every remembered password (a test's, or an embedding app's that
    is done with its DSNs)."""
    _SECRETS.clear()


def scrub(text: str, secrets: set[str] | None = None) -> str:
    """``text`` with every run of a remembered password's characters (any part
    of it of `SCRUB_RUN` characters or more) replaced by ``****``: libpq's
    messages quote a password's head or tail."""
    for secret in sorted(_SECRETS if secrets is None else secrets, key=len, reverse=True):
        text = _scrub_one(text, secret)
    return text


def _scrub_one(text: str, secret: str) -> str:
    shortest = SCRUB_RUN
    out: list[str] = []
    i = 0
    while i < len(text):
        longest = 0
        for start in range(len(secret)):
            n = 0
            while (
                i + n < len(text) and start + n < len(secret) and text[i + n] == secret[start + n]
            ):
                n += 1
            longest = max(longest, n)
        if longest >= shortest:
            out.append("****")
            i += longest
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


class ScrubSecrets(logging.Filter):
    """Takes every remembered password out of a log record: its message, its
    ``extra=`` fields and its exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _SECRETS:
            return True
        record.msg = scrub(record.getMessage())
        record.args = None
        for key, value in list(record.__dict__.items()):
            if isinstance(value, str) and key not in ("msg", "name", "levelname", "pathname"):
                record.__dict__[key] = scrub(value)
        if record.exc_info:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


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
