"""``pgqueue worker``: the flags mapped onto `WorkerSettings`, then the library's
composition root (`pgqueue.app.WorkerApp`) builds and runs the worker; its
errors become one line and the documented exit code."""

from __future__ import annotations

import argparse
import logging
import os
from datetime import UTC

from rich.console import Console

from pgqueue.app import WorkerApp
from pgqueue.cli import environment
from pgqueue.cli.common import (
    EXIT_ABORTED,
    EXIT_DATABASE,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    say,
)
from pgqueue.errors import ConfigurationError, DatabaseUnavailable
from pgqueue.registry import WorkerIdInUse
from pgqueue.settings import WorkerSettings, build

#: the settings' fields a flag of another name sets
_FLAG_OF = {"schema_name": "--schema"}


def flag_of(field: str) -> str:
    """The flag that sets a settings field (``poll_interval``: ``--poll-interval``)."""
    return _FLAG_OF.get(field, "--" + field.replace("_", "-"))


async def left_behind(app: WorkerApp, verb: str) -> None:
    """After ``--until-empty``: what is left PENDING, and why: due later than a
    lease (a retry's backoff, a delay), or of a kind no live worker serves (add
    its tool with --tools, or start a worker that has it)."""
    for r in await app.later():
        say(
            verb,
            f"left {r['pending']} PENDING command(s) of kind {r['tool_kind']!r}, due later "
            f"than a lease from now (the first at "
            f"{r['next_due'].astimezone(UTC).isoformat(timespec='seconds')})",
            level=logging.INFO,
            action="left_later",
            tool_kind=r["tool_kind"],
            pending=int(r["pending"]),
        )
    left = await app.unserved()
    if left:
        kinds = ", ".join(f"{r['pending']} of kind {r['tool_kind']!r}" for r in left)
        say(
            verb,
            f"warning: left PENDING, served by no live worker: {kinds} (a worker serves "
            "a kind once it has a tool for it: --tools MODULE)",
            action="unserved",
            unserved={str(r["tool_kind"]): int(r["pending"]) for r in left},
        )


def in_flag_terms(message: str) -> str:
    """A library message that opens with a settings field, opening with its flag
    (``tool_kinds typo: …`` is ``--tool-kinds typo: …`` on the command line)."""
    for field in sorted(WorkerSettings.model_fields, key=len, reverse=True):
        if message.startswith((f"{field}:", f"{field} ")):
            return flag_of(field) + message[len(field) :]
    return message


def settings_of(args: argparse.Namespace) -> WorkerSettings:
    """The parsed flags (their ``PGQUEUE_*`` variables already in them) as
    settings; a value they refuse is one line naming the flag."""
    values = {
        field: getattr(args, field)
        for field in WorkerSettings.model_fields
        if field not in ("schema_name", "noetl_token") and hasattr(args, field)
    }
    if args.schema:
        values["schema_name"] = args.schema
    # the control plane's token from the environment only: ps shows flags
    token = os.environ.get("PGQUEUE_NOETL_TOKEN")
    if token:
        values["noetl_token"] = token
    names = {field: flag_of(field) for field in WorkerSettings.model_fields}
    names["noetl_token"] = "PGQUEUE_NOETL_TOKEN"  # noqa: S105 - a variable name
    try:
        return build(values, names)
    except ConfigurationError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


async def worker(args: argparse.Namespace, console: Console) -> int:
    refused = environment.refused(args)
    if refused is not None:
        raise CliError(refused, EXIT_USAGE)
    settings = settings_of(args)
    try:
        async with WorkerApp(settings, signals=True) as app:
            stats = await app.run()
            counts = dict(sorted(stats.counts.items()))
            summary = ", ".join(f"{k} {v}" for k, v in counts.items()) or "nothing to do"
            if args.log_format == "json":
                say(
                    args.command,
                    f"worker {app.worker_id} stopped: {summary}",
                    level=logging.INFO,
                    worker_id=app.worker_id,
                    action="summary",
                    counts=counts,
                )
            else:
                console.print(f"worker {app.worker_id} stopped: {summary}", highlight=False)
            if settings.until_empty:
                await left_behind(app, args.command)
            return EXIT_ABORTED if app.worker.signals > 1 else EXIT_OK
    except (ConfigurationError, WorkerIdInUse) as exc:
        raise CliError(in_flag_terms(str(exc)), EXIT_USAGE) from None
    except DatabaseUnavailable as exc:
        raise CliError(in_flag_terms(str(exc)), EXIT_DATABASE) from None
