"""The ``pgqueue`` command line: `main` parses, runs one verb, and turns every
error into one line on stderr and its documented exit code."""

from __future__ import annotations

import asyncio
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
    CliError,
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

    args = parser().parse_args(joined_negatives(list(sys.argv[1:] if argv is None else argv)))
    setup_logging(args.verbose, args.log_format)
    console = Console(highlight=False, soft_wrap=True)
    if args.dsn and dsns.has_password(args.dsn):
        print(
            f"pgqueue {args.command}: warning: --dsn carries a password, which every local "
            "user can read in ps; use PGPASSFILE, PGQUEUE_DSN or a service file instead",
            file=sys.stderr,
        )

    def fail(message: str) -> None:
        # plain print: one line, never wrapped or styled
        print(f"pgqueue {args.command}: {message}", file=sys.stderr)

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


def main() -> None:
    sys.exit(run())
