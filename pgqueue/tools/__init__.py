"""Tools: what a worker runs for each ``tool_kind``.

A tool is ``async def tool(command: Command, ctx: ToolContext) -> JSON`` (a
plain function works too; it runs in a thread). Whatever it returns is stored
in ``result``; an exception spends the attempt (retry with backoff), and
`pgqueue.PermanentFailure` parks the command as ``FAILED`` at once.

Delivery is at-least-once, so a tool must be idempotent: a worker can die
after the tool's side effect and before the completion is recorded, and the
command then runs again. Key external writes on ``command.command_id``.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

import psycopg

from pgqueue import jsonvalues
from pgqueue.db.table import QueueTable
from pgqueue.errors import ConfigurationError
from pgqueue.models import Command, log_id
from pgqueue.tools import flight
from pgqueue.tools.threads import in_thread

ToolResult = Any
ToolFunction = Callable[[Command, "ToolContext"], Awaitable[ToolResult] | ToolResult]


class CommandFields(logging.Filter):
    """Adds the running command's ``command_id``, ``execution_id``, ``tool_kind``,
    ``step`` and ``attempt`` to each record of a tool's logger (as `extra`
    fields: the log formats show them), read when a line is logged only."""

    def filter(self, record: logging.LogRecord) -> bool:
        running = flight.IN_FLIGHT.get()
        if running is not None:
            command = running.command
            record.__dict__.setdefault("command_id", log_id(command.command_id))
            record.__dict__.setdefault("execution_id", command.execution_id)
            record.__dict__.setdefault("tool_kind", command.tool_kind)
            record.__dict__.setdefault("step", command.step)
            record.__dict__.setdefault("attempt", command.attempts + 1)
        return True


#: the logger every tool gets as ``ctx.logger``
TOOL_LOGGER = logging.getLogger("pgqueue.tool")
TOOL_LOGGER.addFilter(CommandFields())


@dataclass(frozen=True, slots=True)
class ToolContext:
    """What a running tool may use besides its command."""

    worker_id: str
    #: the worker's connection pool, for tools that talk to the same database
    pool: Any = None
    #: lines logged here carry the running command's fields
    logger: logging.Logger = field(default_factory=lambda: TOOL_LOGGER)
    #: the queue table, for ``transaction``'s completion
    table: QueueTable | None = None

    def transaction(self) -> AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]:
        """``async with ctx.transaction() as conn``: a transaction of the tool's
        own on the worker's tool pool that ends with the command's completion
        (its result: what `set_result` set, else ``null``). It commits with the
        tool's writes or rolls back with them; committed, the worker writes
        nothing more for the command, even if the tool raises afterwards.
        `LeaseLost` (and a rollback) if the claim no longer holds it."""
        return flight.transaction(self.pool, self.table)

    @staticmethod
    def set_result(result: Any) -> None:
        """The result (any JSON value) ``transaction`` completes the command with."""
        flight.current().result = result

    @staticmethod
    def progress(value: Any) -> None:
        """Say how far the tool has got (any JSON value: ``{"done": 40, "of":
        100}``): written to the command's ``progress`` with the worker's next
        heartbeat (fenced like every write of the claim; only the last value
        said between two beats is written), shown by ``pgqueue show``."""
        flight.current().progress = jsonvalues.dumps_checked(value)


@dataclass(frozen=True, slots=True)
class Tool:
    kind: str
    function: ToolFunction
    #: seconds; ``None`` uses the worker's default
    timeout: float | None = None
    #: ``async def``: awaited in the worker's loop; otherwise run in a thread
    is_async: bool = field(init=False)

    def __post_init__(self) -> None:
        # once, at registration: `inspect` is too slow to ask per command
        object.__setattr__(self, "is_async", inspect.iscoroutinefunction(self.function))

    def __call__(self, command: Command, ctx: ToolContext) -> Awaitable[ToolResult]:
        """The tool's run, to await: an ``async def`` tool's own coroutine (no
        wrapper around it), or a plain function's run in a thread."""
        if self.is_async:
            result: Awaitable[ToolResult] = self.function(command, ctx)
            return result
        return self._in_thread(command, ctx)

    async def _in_thread(self, command: Command, ctx: ToolContext) -> ToolResult:
        # A plain function runs in a (daemon) thread; it cannot be interrupted
        # there, so a cancelled or timed-out one finishes in the background,
        # unrecorded.
        result = await in_thread(self.function, command, ctx, name=f"pgqueue-tool-{self.kind}")
        if inspect.isawaitable(result):
            return await result
        return result


class ToolRegistry:
    """The tools a worker runs, by tool kind."""

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}

    def register(self, kind: str, function: ToolFunction, *, timeout: float | None = None) -> None:
        """Run ``function`` for commands of ``kind`` (replacing any tool it had)."""
        if not isinstance(kind, str) or not kind.strip():
            raise ValueError("a tool kind must not be blank")
        if not callable(function):
            article = "an" if type(function).__name__[0] in "aeiou" else "a"
            raise TypeError(
                f"the tool for kind {kind!r} is {article} {type(function).__name__}, not a function"
            )
        self._tools[kind] = Tool(kind, function, timeout)

    def get(self, kind: str) -> Tool | None:
        return self._tools.get(kind)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The registered kinds, sorted."""
        return tuple(sorted(self._tools))

    @property
    def timeouts(self) -> list[float]:
        """The timeouts the tools set for themselves."""
        return [t.timeout for t in self._tools.values() if t.timeout]

    def __contains__(self, kind: object) -> bool:
        return kind in self._tools

    def __len__(self) -> int:
        return len(self._tools)


def tools_from_module(module: Any) -> Mapping[str, ToolFunction]:
    """A module's ``TOOLS`` mapping (``{"kind": function}``)."""
    tools = getattr(module, "TOOLS", None)
    if not isinstance(tools, Mapping):
        raise TypeError(f"module {module.__name__} has no TOOLS mapping of tool kind to function")
    return tools


def import_tools(module_name: str) -> dict[str, ToolFunction]:
    """The ``TOOLS`` of ``module_name``, imported from the current directory too
    (as uvicorn and celery do: the console script's path holds only its own);
    `ConfigurationError` naming the module for anything that goes wrong."""
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
        return dict(tools_from_module(module))
    except ImportError as exc:
        raise ConfigurationError(f"--tools {module_name}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"--tools {module_name}: {exc}") from None
    except Exception as exc:  # the module itself raised on import
        raise ConfigurationError(f"--tools {module_name}: {type(exc).__name__}: {exc}") from None
