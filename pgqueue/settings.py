"""`WorkerSettings`: everything a worker process is configured with, validated
once, each error naming its field.

The fields are the ``pgqueue worker`` flags (``--poll-interval`` is
``poll_interval``) and their ``PGQUEUE_*`` variables (``PGQUEUE_POLL_INTERVAL``):
the CLI maps its flags onto this model, and an application that embeds pgqueue
builds the same worker from it with `pgqueue.app.run_worker`. Durations take a
`timedelta` or text as the flags do (``30s``, ``5m``, ``2h``, ``7d``)."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from pgqueue import durations
from pgqueue.db.deadlines import DEFAULT_DEADLINES
from pgqueue.errors import ConfigurationError
from pgqueue.tools.builtin import HTTP_MAX_BYTES


def _duration(value: Any) -> Any:
    return durations.parse(value) if isinstance(value, str) else value


def _optional_duration(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() == "none":
        return None
    return _duration(value)


def _words(value: Any) -> Any:
    # a variable's list: "a b" or "a,b"
    return value.replace(",", " ").split() if isinstance(value, str) else value


Duration = Annotated[timedelta, BeforeValidator(_duration)]
Words = Annotated[list[str], BeforeValidator(_words)]


class WorkerSettings(BaseModel):
    """A worker's settings; see ``pgqueue worker --help`` for what each does."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    #: the database; ``None``: ``PGQUEUE_DSN``, ``DATABASE_URL``, then libpq's ``PG*``
    dsn: str | None = None
    #: the queue's schema (``schema=`` or ``schema_name=``; ``PGQUEUE_SCHEMA``)
    schema_name: str = Field("noetl", alias="schema", min_length=1)
    concurrency: int = Field(10, ge=1, le=10_000)
    prefetch: int = Field(0, ge=0)
    #: modules whose ``TOOLS`` mapping is registered (imported from the current
    #: directory too)
    tools: Words = []
    #: claim only these kinds (``None``: every kind a tool is registered for)
    tool_kinds: Annotated[list[str] | None, BeforeValidator(_words)] = None
    http_allow_host: Words = []
    http_max_bytes: int = Field(HTTP_MAX_BYTES, ge=1)
    python_module: Words = []
    python_callable: Words = []
    enable_postgres_tool: bool = False
    postgres_tool_dsn: str | None = None
    postgres_tool_role: str | None = None
    lease: Duration = timedelta(seconds=30)
    poll_interval: Duration = timedelta(seconds=1)
    #: a command's timeout (``None``: none at all)
    timeout: Annotated[timedelta | None, BeforeValidator(_optional_duration)] = timedelta(
        minutes=10
    )
    grace: Duration = timedelta(seconds=30)
    statement_timeout: Duration = DEFAULT_DEADLINES.claim.statement
    lock_timeout: Duration = DEFAULT_DEADLINES.claim.lock
    transaction_pooler: bool = False
    listen_dsn: str | None = None
    noetl_api: str | None = None
    #: the control plane's bearer token (``PGQUEUE_NOETL_TOKEN``; never a flag)
    noetl_token: SecretStr | None = None
    noetl_backlog: int = Field(10_000, ge=1)
    metrics_port: int | None = Field(None, ge=0, le=65_535)
    schema_wait: Duration = timedelta(minutes=2)
    until_empty: bool = False
    worker_id: str | None = None
    #: ``auto`` (7 days on a table pgqueue created, off on NoETL's), ``off``, or
    #: a window with its unit
    retention: Literal["auto", "off"] | timedelta = "auto"
    #: a TOML or YAML file of schedules to add (or change) at start
    schedules: Path | None = None
    #: enqueue no schedule's ticks here (every worker does by default, each
    #: tick exactly once across the fleet)
    no_schedules: bool = False

    @field_validator("lease", "poll_interval", "statement_timeout", "lock_timeout")
    @classmethod
    def _above_zero(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be more than 0")
        return value

    @field_validator("grace", "schema_wait")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("must not be negative")
        return value

    @field_validator("timeout")
    @classmethod
    def _a_timeout(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("would stop every command at once: give a duration, or None")
        return value

    @field_validator("retention", mode="before")
    @classmethod
    def _a_window(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in ("auto", "off"):
            value = durations.parse(value, allow_bare=False)
        if isinstance(value, timedelta) and value <= timedelta(0):
            raise ValueError("would delete every finished command: give a window above 0")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> WorkerSettings:
        if self.postgres_tool_dsn and not self.enable_postgres_tool:
            raise ValueError("postgres_tool_dsn is set but enable_postgres_tool is not")
        return self

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> WorkerSettings:
        """The settings the ``PGQUEUE_*`` variables give (``PGQUEUE_LEASE=10s``;
        switches as ``1``/``0``, ``true``/``false``, ``yes``/``no``, ``on``/``off``),
        with ``overrides`` winning; raises `ConfigurationError` naming the variable."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        names: dict[str, str] = {}
        for name, field in cls.model_fields.items():
            key = field.alias or name
            variable = f"PGQUEUE_{key.upper()}"
            if variable in environ:
                values[key] = (
                    _switch(environ[variable]) if field.annotation is bool else (environ[variable])
                )
                names[key] = variable
        values.update(overrides)
        return build(values, names)


def _switch(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    return text  # pydantic says it is no switch


def build(values: Mapping[str, Any], names: Mapping[str, str] | None = None) -> WorkerSettings:
    """`WorkerSettings` from ``values``, or one `ConfigurationError` of one line
    naming the field (as ``names`` calls it: a flag, a variable) and what is wrong."""
    try:
        return WorkerSettings.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = str(error["loc"][0]) if error["loc"] else "settings"
        shown = (names or {}).get(where, where)
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            known = [f.alias or n for n, f in WorkerSettings.model_fields.items()]
            close = difflib.get_close_matches(where, known, n=1)
            message = "no such setting" + (f" (did you mean {close[0]}?)" if close else "")
        raise ConfigurationError(f"{shown}: {message}") from None


__all__ = ["WorkerSettings", "build"]
