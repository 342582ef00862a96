"""A file of schedules (``pgqueue worker --schedules FILE``): TOML, or YAML
with PyYAML installed; a table of schedules by name, each with
`pgqueue.add_schedule`'s fields::

    [nightly-report]
    cron = "0 3 * * *"
    timezone = "Europe/Berlin"
    command = { step = "report", tool_kind = "http", input = {} }

Every schedule is checked before any is written, and all are added (or
changed) in one transaction.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from pgqueue.cron import InvalidSchedule
from pgqueue.db.table import QueueTable
from pgqueue.operations import _run
from pgqueue.schedules import Schedule, _put


@dataclass(frozen=True, slots=True)
class Entry:
    """One schedule of a file: `add_schedule`'s arguments."""

    name: str
    arguments: dict[str, Any]


_KEYS = {"cron", "every", "timezone", "command", "missed", "backfill", "backfill_window"}


def load(path: Path) -> list[Entry]:
    """The schedules of a TOML or YAML file, each checked (`InvalidSchedule`
    naming the file, the schedule and the field). The file is a table of
    schedules by name::

        [nightly-report]
        cron = "0 3 * * *"
        timezone = "Europe/Berlin"
        command = { step = "report", tool_kind = "http", input = {} }
    """
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise InvalidSchedule(f"schedules: cannot read {path}: {exc.strerror}") from None
    data = _parse(path, text)
    if not isinstance(data, dict):
        raise InvalidSchedule(f"{path}: a table of schedules by name")
    entries = []
    for name, body in data.items():
        if not isinstance(body, dict):
            raise InvalidSchedule(f"{path}: schedule {name!r}: a table of its fields")
        unknown = sorted(set(body) - _KEYS)
        if unknown:
            raise InvalidSchedule(
                f"{path}: schedule {name!r}: unknown field {unknown[0]!r}"
                f" (fields: {', '.join(sorted(_KEYS))})"
            )
        if "command" not in body:
            raise InvalidSchedule(f"{path}: schedule {name!r}: command: missing")
        try:
            _put(str(name), **body)
        except InvalidSchedule as exc:
            raise InvalidSchedule(f"{path}: schedule {name!r}: {exc}") from None
        entries.append(Entry(str(name), dict(body)))
    return entries


def _parse(path: Path, text: str) -> Any:
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise InvalidSchedule(
                f"{path}: a YAML file needs PyYAML (pip install 'noetl-pgqueue[yaml]'),"
                " or write it as TOML"
            ) from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidSchedule(f"{path}: not YAML: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidSchedule(f"{path}: not TOML: {exc}") from None


async def put_all(
    conn: psycopg.AsyncConnection[Any], entries: Sequence[Entry], table: QueueTable | None = None
) -> list[Schedule]:
    """Add or change every schedule of a file, in one transaction."""
    async with conn.transaction():
        return [await _run(conn, _put(e.name, **e.arguments, table=table)) for e in entries]
