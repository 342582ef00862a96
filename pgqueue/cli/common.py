"""What every ``pgqueue`` command shares: exit codes, argument types, logging,
and how the database is found and reached."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

import psycopg_pool

from pgqueue import dsn as dsns
from pgqueue import durations
from pgqueue.db import connect
from pgqueue.db.table import QueueTable
from pgqueue.errors import ConfigurationError, DatabaseUnavailable

logger = logging.getLogger("pgqueue.cli")

#: Exit codes: 0 done; 1 failed (or nothing matched); 2 bad usage or input;
#: 3 database unreachable or not configured; 4 schema not migrated;
#: 130 stopped by a second signal.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DATABASE, EXIT_SCHEMA, EXIT_ABORTED = 0, 1, 2, 3, 4, 130


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


# -- argument types -------------------------------------------------------------------


def duration(text: str) -> timedelta:
    """``250ms``, ``30s``, ``5m``, ``2h``, ``7d`` or plain seconds; not negative."""
    try:
        return durations.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def window(text: str) -> timedelta:
    """A retention window: a `duration` with its unit (a bare ``7`` would be
    seven seconds, and delete nearly everything), above 0."""
    try:
        value = durations.parse(text, allow_bare=False)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value <= timedelta(0):
        raise argparse.ArgumentTypeError(
            f"{text!r} would delete every finished command: give a window above 0"
        )
    return value


def positive_duration(text: str) -> timedelta:
    """A `duration` of more than nothing (a lease, a poll interval)."""
    value = duration(text)
    if value <= timedelta(0):
        raise argparse.ArgumentTypeError(f"must be more than 0 (got {text!r})")
    return value


def timeout(text: str) -> timedelta | None:
    """A command's timeout: a `duration` above 0, or ``none`` for none at all."""
    if text.strip().lower() == "none":
        return None
    value = duration(text)
    if value <= timedelta(0):
        raise argparse.ArgumentTypeError(
            f"{text} would stop every command at once: give a duration, or 'none' for no timeout"
        )
    return value


def retention(text: str) -> str:
    """``auto``, ``off``, or a `window` (checked now, used once connected)."""
    if text not in ("auto", "off"):
        window(text)
    return text


def port(text: str) -> int:
    """A TCP port: 0 (any free one) to 65535."""
    value = _whole_number(text, "a port number")
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 to 65535)")
    return value


human = durations.human


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (``pgqueue enqueue: --delay: …``), exit 2."""

    def error(self, message: str) -> NoReturn:
        message = re.sub(r"^argument ([^:]+): ", r"\1: ", message)
        # "-c/--concurrency" names both spellings: the long one reads best
        message = re.sub(r"^-\w/(--[\w-]+): ", r"\1: ", message)
        message = dsns.scrub(message)
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def joined_negatives(argv: list[str]) -> list[str]:
    """``--delay -5s`` as ``--delay=-5s``: argparse reads a value that starts with a
    dash as an option of its own (and says only "expected one argument"); joined,
    the option's own check says what is wrong with it."""
    out: list[str] = []
    index = 0
    while index < len(argv):
        token = argv[index]
        following = argv[index + 1] if index + 1 < len(argv) else ""
        if token.startswith("--") and "=" not in token and re.match(r"^-\d", following):
            out.append(f"{token}={following}")
            index += 2
            continue
        out.append(token)
        index += 1
    return out


def _whole_number(text: str, what: str = "a whole number") -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def positive_int(text: str) -> int:
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def non_negative_int(text: str) -> int:
    value = _whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def command_id(text: str) -> int:
    return _whole_number(text, "a command id (an integer)")


#: the largest JSON a flag reads (``--input @file``): a command carries a
#: message, not a data set (PostgreSQL's jsonb stops at 255 MB, after a long
#: upload); put large data in a store and pass its reference
MAX_JSON_BYTES = 64 * 1024 * 1024


def json_object(text: str) -> Any:
    """JSON from the argument, ``@file``, or ``-`` for standard input."""
    if text == "-":
        text = sys.stdin.read(MAX_JSON_BYTES + 1)
    elif text.startswith("@"):
        path = Path(text[1:])
        try:
            size = path.stat().st_size
            if size > MAX_JSON_BYTES:
                raise argparse.ArgumentTypeError(
                    f"{path} holds {size:,} bytes, more than a command carries "
                    f"({MAX_JSON_BYTES:,}): put the data in a store and pass its reference"
                )
            text = path.read_text("utf-8")
        except OSError as exc:
            raise argparse.ArgumentTypeError(f"cannot read {path}: {exc.strerror}") from None
    if len(text) > MAX_JSON_BYTES:
        raise argparse.ArgumentTypeError(
            f"more than {MAX_JSON_BYTES:,} bytes, more than a command carries: put the data "
            "in a store and pass its reference"
        )
    try:
        return json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None


# -- plumbing ---------------------------------------------------------------------------


#: the attributes every LogRecord has: what is left over came in through ``extra=``
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


def extras(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra=`` fields of a record, in the order they were given."""
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and v is not None}


class KeyValueFormatter(logging.Formatter):
    """``time level logger: message key=value …`` with every ``extra=`` field."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        pairs = [f"{k}={v}" for k, v in extras(record).items()]
        return f"{line} {' '.join(pairs)}" if pairs else line


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, and every ``extra=`` field."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(extras(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


#: the CLI's own lines (`say`) as JSON too: set by `setup_logging`
_JSON_LINES = False
cli_logger = logging.getLogger("pgqueue.cli")


def say(verb: str, message: str, *, level: int = logging.WARNING, **fields: Any) -> None:
    """One line of the CLI's own on stderr (an error, a warning, a closing
    summary): ``pgqueue VERB: message``, or with ``--log-format json`` one JSON
    object like every other line, ``fields`` with it. Never a password."""
    message = dsns.scrub(message)
    if _JSON_LINES:
        cli_logger.log(level, message, extra={"verb": verb, **fields})
    else:
        print(f"pgqueue {verb}: {message}", file=sys.stderr)


def setup_logging(verbosity: int, log_format: str = "text") -> None:
    global _JSON_LINES
    _JSON_LINES = log_format == "json"
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        formatter: logging.Formatter = JsonFormatter()
        formatter.converter = time.gmtime
    else:
        formatter = KeyValueFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(formatter)
    # no password of a DSN this process was given, in any line of anybody's
    handler.addFilter(dsns.ScrubSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # -v adds pgqueue's own lines only; -vv opens every library's too (psycopg's
    # pool logged thousands of INFO lines under -v, httpx one per report)
    root.setLevel(logging.WARNING if verbosity <= 1 else logging.DEBUG)
    logging.getLogger("pgqueue").setLevel(logging.INFO if verbosity <= 1 else logging.DEBUG)
    # a line per command claimed and ended: with -v only
    logging.getLogger("pgqueue.commands").setLevel(
        logging.WARNING if verbosity == 0 else logging.INFO
    )
    # the migrations' steps are pgqueue's own: with -v
    logging.getLogger("alembic").setLevel(logging.WARNING if verbosity == 0 else logging.INFO)
    # psycopg's and its pool's own lines about lost connections (a pipeline
    # ended on a dead one, a reconnection that failed): the worker says an
    # outage once ("cannot claim…", then "claiming again"); -vv shows theirs too
    logging.getLogger("psycopg").setLevel(logging.CRITICAL if verbosity <= 1 else logging.DEBUG)


def database_dsn(args: argparse.Namespace) -> str:
    found = dsns.resolve(args.dsn)
    if found is None:
        raise CliError(
            "no database configured: pass --dsn, or set PGQUEUE_DSN or DATABASE_URL "
            "(or libpq's PGHOST and friends)",
            EXIT_DATABASE,
        )
    try:
        return dsns.validate(found[0])
    except ConfigurationError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


async def check_reachable(dsn: str) -> None:
    """Fail with one clear line (password masked) when the database is not there."""
    try:
        await connect.check_reachable(dsn)
    except DatabaseUnavailable as exc:
        raise CliError(str(exc), EXIT_DATABASE) from None


@asynccontextmanager
async def open_pool(
    dsn: str, *, max_size: int = 4, kwargs: dict[str, Any] | None = None
) -> AsyncIterator[psycopg_pool.AsyncConnectionPool[Any]]:
    async with contextlib.AsyncExitStack() as stack:
        try:
            pool = await stack.enter_async_context(
                connect.open_pool(dsn, max_size=max_size, kwargs=kwargs)
            )
        except DatabaseUnavailable as exc:
            raise CliError(str(exc), EXIT_DATABASE) from None
        yield pool


def schema_of(args: argparse.Namespace) -> str:
    return str(args.schema or ("pgqueue_demo" if args.command == "demo" else "noetl"))


def table_of(args: argparse.Namespace) -> QueueTable:
    return QueueTable(schema=schema_of(args))
