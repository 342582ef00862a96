"""The ``pgqueue`` argument parser: one sub-command per verb, from `VERBS`.

Each verb's module declares its own arguments (``add_<verb>``) and handler;
this module only lists them, with the options every verb shares.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pgqueue.cli import (
    bench,
    chaos,
    commands,
    dashboard,
    demo,
    environment,
    flow,
    prune,
    retry_now,
    schedule,
    show,
    status,
    worker,
    worker_options,
)
from pgqueue.cli.common import OneLineParser

EPILOG = """\
The database comes from --dsn, else PGQUEUE_DSN, else DATABASE_URL, else
libpq's PG* variables. A password in --dsn shows in ps to every local user:
put it in a password file (PGPASSFILE, ~/.pgpass), in PGQUEUE_DSN, or in a
service file (PGSERVICEFILE, then --dsn service=NAME) instead.

Exit codes: 0 done, 1 failed or nothing matched, 2 bad usage or input,
3 database unreachable, 4 schema not migrated, 130 stopped by a second signal.

examples:
  pgqueue demo                                  # no database needed
  pgqueue migrate
  pgqueue enqueue --step fetch --tool-kind http --input '{"url": "https://example.com"}'
  pgqueue worker --concurrency 20 --tools myapp.tools
  pgqueue status
  pgqueue requeue --tool-kind http
"""


@dataclass(frozen=True, slots=True)
class Verb:
    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    handler: Callable[..., Awaitable[int]]


VERBS = (
    Verb(
        "migrate",
        "create or upgrade the queue schema (alembic, idempotent)",
        commands.add_migrate,
        commands.migrate,
    ),
    Verb("enqueue", "add commands (in one transaction)", commands.add_enqueue, commands.enqueue),
    Verb(
        "worker",
        "run commands until stopped (SIGTERM drains, a second signal stops now)",
        worker_options.add_worker,
        worker.worker,
    ),
    Verb(
        "status",
        "counts by state and tool kind, backlog, leases, recent failures",
        status.add_status,
        status.status,
    ),
    Verb(
        "show",
        "one command as it stands: its state, attempts, history, result or error",
        show.add_show,
        show.show,
    ),
    Verb(
        "requeue",
        "send FAILED commands back to PENDING with fresh attempts",
        commands.add_requeue,
        commands.requeue,
    ),
    Verb(
        "retry-now",
        "make PENDING commands waiting out a delay or a retry's backoff due now",
        retry_now.add_retry_now,
        retry_now.retry_now,
    ),
    Verb(
        "cancel",
        "cancel PENDING or running commands (a running tool stops at its next heartbeat)",
        commands.add_cancel,
        commands.cancel,
    ),
    Verb(
        "limit",
        "concurrency and rate limits by tool kind, concurrency key or execution: set, list, clear",
        lambda p: None,  # its own verbs take the shared flags: see parser()
        flow.limit,
    ),
    Verb(
        "pause",
        "stop claiming tool kinds (running commands finish; the rest stay PENDING)",
        flow.add_pause,
        flow.pause,
    ),
    Verb("resume", "claim paused tool kinds again", flow.add_resume, flow.resume),
    Verb(
        "fair-share",
        "spread each claim round-robin over executions or concurrency keys, or show it",
        flow.add_fair_share,
        flow.fair_share,
    ),
    Verb(
        "schedule",
        "periodic commands, each tick enqueued once by the fleet: add, list, remove, pause, "
        "resume, run-now",
        lambda p: None,  # its own verbs take the shared flags: see parser()
        schedule.schedule,
    ),
    Verb(
        "dashboard",
        "see and steer the queue in a browser (127.0.0.1:8080; actions need "
        "PGQUEUE_DASHBOARD_TOKEN)",
        dashboard.add_arguments,
        dashboard.run_dashboard,
    ),
    Verb(
        "prune",
        "delete finished commands older than a window",
        prune.add_prune,
        prune.prune,
    ),
    Verb(
        "demo",
        "run a realistic batch end to end (an embedded PostgreSQL if none is configured)",
        demo.add_arguments,
        demo.run_demo,
    ),
    Verb(
        "bench",
        "measure pgqueue against the raw SQL ceiling on this machine",
        bench.add_arguments,
        bench.run_bench,
    ),
    Verb(
        "chaos",
        "prove nothing is lost under SIGKILL, cut connections and a server restart "
        "(on an embedded PostgreSQL of its own)",
        chaos.add_arguments,
        chaos.run_chaos,
    ),
)


def _common(database: bool = True) -> OneLineParser:
    """The flags every verb takes; ``database``: and where its database is (chaos
    runs on an embedded server of its own, and offers neither)."""
    common = OneLineParser(add_help=False)
    if database:
        common.add_argument(
            "--dsn",
            help="PostgreSQL connection string (default: PGQUEUE_DSN, DATABASE_URL, PG*); "
            "keep its password out of it: every local user can read it in ps",
        )
        common.add_argument(
            "--schema", help="schema of the command table (default: noetl; demo: pgqueue_demo)"
        )
    else:
        common.set_defaults(dsn=None, schema=None)
    common.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more of pgqueue's own lines (worker: one per command claimed and ended; "
        "migrate: each step); -vv adds debug lines and every library's own",
    )
    common.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="log lines as text, or as one JSON object each with every field (default: text)",
    )
    return common


def parser() -> argparse.ArgumentParser:
    from pgqueue import __version__

    top = OneLineParser(
        prog="pgqueue",
        description="A PostgreSQL-native command queue: workers claim rows of noetl.command "
        "with FOR UPDATE SKIP LOCKED, run their tools and record the results.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"pgqueue {__version__}")
    sub = top.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser
    )
    common, own_server = _common(), _common(database=False)
    for verb in VERBS:
        p = sub.add_parser(
            verb.name,
            parents=[own_server if verb.name == "chaos" else common],
            help=verb.help,
            description=verb.help,
        )
        p.set_defaults(handler=verb.handler)
        if verb.name == "limit":
            flow.add_limit(p, common)
        elif verb.name == "schedule":
            schedule.add_schedule(p, common)
        else:
            verb.arguments(p)
        if verb.name == "worker":
            environment.apply(p)  # every worker flag has its PGQUEUE_* variable
    return top


__all__: list[Any] = ["VERBS", "parser"]
