"""``pgqueue worker``'s options: what each flag does, and its default."""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path

from pgqueue.cli.common import (
    duration,
    non_negative_int,
    port,
    positive_duration,
    positive_int,
    retention,
    timeout,
)
from pgqueue.db.deadlines import DEFAULT_DEADLINES
from pgqueue.tools.builtin import HTTP_MAX_BYTES


def add_worker(p: argparse.ArgumentParser) -> None:
    p.epilog = (
        "Durations (--lease, --poll-interval, --timeout, --grace, --statement-timeout, "
        "--lock-timeout, --schema-wait): 250ms, 30s, 5m, 2h, 7d; a bare number is seconds. "
        "--retention's window needs its unit. Every flag has its PGQUEUE_* variable "
        "(--lease: PGQUEUE_LEASE); a flag given wins over it."
    )
    p.add_argument(
        "-c", "--concurrency", type=positive_int, default=10, help="commands at once (default: 10)"
    )
    p.add_argument(
        "--prefetch",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="while the queue is busy, claim up to N commands ahead so short tools never wait "
        "for a claim (their leases run meanwhile; default: 0)",
    )
    p.add_argument(
        "--tools",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE (from the current directory too) and register its TOOLS "
        "mapping; repeatable",
    )
    p.add_argument("--tool-kinds", nargs="+", metavar="KIND", help="claim only these kinds")
    p.add_argument(
        "--http-allow-host",
        action="append",
        default=[],
        metavar="HOST",
        help="enable the http tool for HOST (or *.domain for its subdomains); repeatable",
    )
    p.add_argument(
        "--http-max-bytes",
        type=positive_int,
        default=HTTP_MAX_BYTES,
        metavar="N",
        help=f"the http tool reads at most N bytes of a response (default: {HTTP_MAX_BYTES})",
    )
    p.add_argument(
        "--python-module",
        action="append",
        default=[],
        metavar="PREFIX",
        help="enable the python tool for functions defined in modules under PREFIX; repeatable",
    )
    p.add_argument(
        "--python-callable",
        action="append",
        default=[],
        metavar="MODULE:FUNCTION",
        help="enable the python tool for this one function; repeatable",
    )
    p.add_argument(
        "--enable-postgres-tool",
        action="store_true",
        help="enable the postgres tool: statements on a pool of its own, reset after each",
    )
    p.add_argument(
        "--postgres-tool-dsn",
        metavar="DSN",
        help="the postgres tool's database (default: the worker's)",
    )
    p.add_argument(
        "--postgres-tool-role",
        metavar="ROLE",
        help="the postgres tool's statements run as ROLE (SET ROLE)",
    )
    p.add_argument(
        "--lease",
        type=positive_duration,
        default=timedelta(seconds=30),
        help="lease length (default: 30s)",
    )
    p.add_argument(
        "--poll-interval",
        type=positive_duration,
        default=timedelta(seconds=1),
        help="idle poll when no notification comes (default: 1s)",
    )
    p.add_argument(
        "--timeout",
        type=timeout,
        default=timedelta(minutes=10),
        help="per-command timeout, or 'none' (default: 10m)",
    )
    p.add_argument(
        "--grace",
        type=duration,
        default=timedelta(seconds=30),
        help="on SIGTERM, how long running commands may finish (default: 30s)",
    )
    p.add_argument(
        "--statement-timeout",
        type=positive_duration,
        default=DEFAULT_DEADLINES.claim.statement,
        help="a claim or completion statement is cancelled past this; 2s later the client "
        "drops its connection and retries on another (default: 10s)",
    )
    p.add_argument(
        "--lock-timeout",
        type=positive_duration,
        default=DEFAULT_DEADLINES.claim.lock,
        help="a claim or completion gives up waiting for a lock (a DDL, a held row) past "
        "this, instead of queueing behind it (default: 2s)",
    )
    p.add_argument(
        "--transaction-pooler",
        action="store_true",
        help="the DSN is a transaction-mode pooler (PgBouncer): prepare nothing, and poll "
        "instead of LISTEN unless --listen-dsn names a direct connection",
    )
    p.add_argument(
        "--listen-dsn",
        metavar="DSN",
        help="LISTEN on this connection (direct to the server) instead of the --dsn one",
    )
    p.add_argument(
        "--noetl-api",
        metavar="URL",
        help="report each command to this NoETL control plane (its event batch API), "
        "durably, through the outbox; default: PGQUEUE_NOETL_API. A bearer token for it "
        "comes from PGQUEUE_NOETL_TOKEN",
    )
    p.add_argument(
        "--noetl-backlog",
        type=positive_int,
        default=10_000,
        metavar="N",
        help="with --noetl-api: stop claiming while N reports wait for the control plane "
        "(default: 10000)",
    )
    p.add_argument(
        "--metrics-port",
        type=port,
        metavar="PORT",
        help="serve Prometheus metrics on PORT (/metrics), with probes /healthz (live) "
        "and /readyz (claiming)",
    )
    p.add_argument(
        "--schema-wait",
        type=duration,
        default=timedelta(minutes=2),
        help="on a schema behind this pgqueue (a migration under way), wait this long for "
        "it before exiting 4 (default: 2m)",
    )
    p.add_argument("--until-empty", action="store_true", help="exit when nothing is claimable")
    p.add_argument("--worker-id", help="recorded on claimed rows (default: host-pid)")
    p.add_argument(
        "--retention",
        type=retention,
        default="auto",
        help="prune finished rows older than this, 'off', or 'auto' "
        "(7d on a pgqueue-created table, off on NoETL's)",
    )
    p.add_argument(
        "--schedules",
        type=Path,
        metavar="FILE",
        help="add or change the schedules of this TOML or YAML file at start "
        "(see 'pgqueue schedule add --help' for their fields)",
    )
    p.add_argument(
        "--no-schedules",
        action="store_true",
        help="enqueue no schedule's ticks in this worker (the fleet's others do)",
    )
