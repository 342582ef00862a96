"""The ``pgqueue`` command line: `main` parses, runs one verb, and turns every
error into one line on stderr and its documented exit code."""

from __future__ import annotations

import argparse
import asyncio
import difflib
import logging
import sys
from collections.abc import Sequence

import psycopg
from rich.console import Console

from pgqueue import dsn as dsns
from pgqueue.cli.common import (
    EXIT_ABORTED,
    EXIT_DATABASE,
    EXIT_FAILED,
    EXIT_SCHEMA,
    EXIT_USAGE,
    CliError,
    say,
    setup_logging,
)
from pgqueue.db.translate import describe
from pgqueue.errors import (
    ConfigurationError,
    DatabaseError,
    DatabaseUnavailable,
    PgQueueError,
    SchemaNotMigrated,
)


def run(argv: Sequence[str] | None = None) -> int:
    from pgqueue.cli.common import joined_negatives
    from pgqueue.cli.parser import parser

    words = joined_negatives(list(sys.argv[1:] if argv is None else argv))
    args = _parse(parser(), words)
    setup_logging(args.verbose, args.log_format)
    console = Console(highlight=False, soft_wrap=True)

    def fail(message: str) -> None:
        # one line, never wrapped or styled, and no password in it
        say(args.command, message, level=logging.ERROR)

    try:
        given = _check_dsns(args)
    except ConfigurationError as exc:
        fail(str(exc))
        return EXIT_USAGE
    for flag in given:
        if flag in words or any(w.startswith(f"{flag}=") for w in words):
            say(
                args.command,
                f"warning: {flag} carries a password, which every local user can read in "
                "ps; use PGPASSFILE, a PGQUEUE_* variable or a service file instead",
            )

    try:
        code: int = asyncio.run(args.handler(args, console))
        return code
    except CliError as exc:
        fail(f"{exc}")
        return exc.code
    except SchemaNotMigrated as exc:
        fail(f"{exc}")
        return EXIT_SCHEMA
    except DatabaseUnavailable as exc:
        fail(f"database unavailable: {exc}")
        return EXIT_DATABASE
    except ConfigurationError as exc:
        fail(f"{exc}")
        return EXIT_DATABASE
    except (DatabaseError, PgQueueError) as exc:
        fail(f"{exc}")
        return EXIT_FAILED
    except psycopg.Error as exc:
        fail(f"{describe(exc)}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_ABORTED


def _parse(top: argparse.ArgumentParser, words: list[str]) -> argparse.Namespace:
    """The arguments; an unknown flag is refused by its verb, with the flag it
    most looks like (``--concurency``: did you mean ``--concurrency``?)."""
    args, extra = top.parse_known_args(words)
    if extra:
        for word in extra:  # a DSN among them is echoed: no password with it
            if "://" in word or "password" in word.lower():
                dsns.remember(word)
        verbs = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
        verb: argparse.ArgumentParser = verbs.choices[args.command]
        options = [o for a in verb._actions for o in a.option_strings if o.startswith("--")]
        unknown = extra[0].split("=", 1)[0]
        close = difflib.get_close_matches(unknown, options, n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]}?)" if close and unknown.startswith("-") else ""
        verb.error(f"unrecognized arguments: {' '.join(extra)}{hint}")
    return args


#: the DSN flags beside --dsn, by the name of their argument
_OTHER_DSNS = {"listen_dsn": "--listen-dsn", "postgres_tool_dsn": "--postgres-tool-dsn"}


def _check_dsns(args: argparse.Namespace) -> list[str]:
    """Every DSN the verb takes, parsed and checked once, before anything
    connects (their passwords remembered, so no message shows them); the flags
    among them that carry a password."""
    with_password: list[str] = []
    found = dsns.resolve(args.dsn)
    if found is not None and found[0]:
        dsn, source = found
        checked = dsns.validate(dsn, name=source)
        if source == "--dsn":
            args.dsn = checked
            if dsns.has_password(dsn):
                with_password.append("--dsn")
    for attribute, flag in _OTHER_DSNS.items():
        value = getattr(args, attribute, None)
        if value:
            setattr(args, attribute, dsns.validate(value, name=flag))
            if dsns.has_password(value):
                with_password.append(flag)
    return with_password


def main() -> None:
    sys.exit(run())
