"""Enqueue commands inside the caller's own transaction.

`enqueue` and `enqueue_many` take an async psycopg connection; `enqueue_sync`
and `enqueue_many_sync` a sync one. All four validate every command first
(a pydantic `ValidationError` naming the field, nothing written), then write in
one statement: ``INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING``, so
enqueueing the same ``(execution_id, command_id)`` twice is a no-op; or, for a
bulk of new commands (no ids given, no delay), ids drawn in one round trip
while the commands are validated (pipeline mode), then a ``COPY`` the rows are
streamed into. Nothing is committed here: the caller's transaction decides,
and the insert trigger's single NOTIFY is delivered on commit.

Ids: a command id left out is drawn from the table's snowflake generator. An
execution id left out makes the command its own execution, whose id is the
command's id (so ``(execution_id, command_id)`` stays unique, enqueueing a
given ``command_id`` twice is still a no-op, and a bulk draws one id a row).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Required, cast

import psycopg
from psycopg import sql
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    TypeAdapter,
    ValidationError,
    with_config,
)
from typing_extensions import TypedDict  # pydantic needs this one before 3.12

from pgqueue import jsonvalues
from pgqueue.gateway import QueueTable, translate
from pgqueue.models import Int64

#: Attempts a command gets when the caller does not say.
DEFAULT_MAX_ATTEMPTS = 5

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


def _name(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


def _input(value: dict[str, JsonValue]) -> dict[str, JsonValue]:
    if not value:
        return value
    if "render_context" in value:
        raise ValueError("'render_context' is a reserved key: pass it as render_context=")
    jsonvalues.check_json_object(value)
    return value


def _render_context(value: dict[str, JsonValue] | None) -> dict[str, JsonValue] | None:
    if value is not None:
        jsonvalues.check_json_object(value)
    return value


def _delay(value: timedelta | None) -> timedelta | None:
    if value is not None and value < timedelta(0):
        raise ValueError("must not be negative")
    return value


# Each field's rules, once: `NewCommand` and the bulk validator both use them.
Name = Annotated[str, Field(min_length=1), AfterValidator(_name)]
Input = Annotated[dict[str, JsonValue], AfterValidator(_input)]
RenderContext = Annotated[dict[str, JsonValue] | None, AfterValidator(_render_context)]
Delay = Annotated[timedelta | None, AfterValidator(_delay)]
Priority = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX, strict=True)]
MaxAttempts = Annotated[int, Field(ge=1, le=INT32_MAX, strict=True)] | None


class NewCommand(BaseModel):
    """One command to enqueue; the validated form of `enqueue`'s arguments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    step: Name
    tool_kind: Name
    input: Input
    execution_id: Int64 | None = None
    command_id: Int64 | None = None
    render_context: RenderContext = None
    delay: Delay = None
    priority: Priority = 0
    max_attempts: MaxAttempts = None

    def context(self) -> dict[str, Any]:
        """The ``context`` column: the input, plus ``render_context`` when given (read only)."""
        return _context(self.__dict__)


@with_config(ConfigDict(extra="forbid"))
class _Fields(TypedDict, total=False):
    """`NewCommand`'s fields and rules as a plain dict: a bulk of mappings is
    validated without building a model per command (twice as fast), with the
    same errors."""

    step: Required[Name]
    tool_kind: Required[Name]
    input: Required[Input]
    execution_id: Int64 | None
    command_id: Int64 | None
    render_context: RenderContext
    delay: Delay
    priority: Priority
    max_attempts: MaxAttempts


# The same rules, checked by pydantic-core alone: no Python call per field.
# Each is at least as strict as its twin above (a name needs a visible ASCII
# character, the JSON objects are checked for jsonb as they are serialised), so
# what passes them is valid; a bulk they refuse is validated again by the rules
# above, whose error, naming the index and field, is the one raised.
_QuickName = Annotated[str, Field(min_length=1, pattern=r"^[^\x00]*[!-~][^\x00]*$")]


@with_config(ConfigDict(extra="forbid"))
class _QuickFields(TypedDict, total=False):
    step: Required[_QuickName]
    tool_kind: Required[_QuickName]
    input: Required[dict[str, JsonValue]]
    execution_id: Int64 | None
    command_id: Int64 | None
    render_context: dict[str, JsonValue] | None
    delay: Annotated[timedelta | None, Field(ge=timedelta(0))]
    priority: Priority
    max_attempts: MaxAttempts


#: A validated command: a `NewCommand`'s fields, or a validated mapping (keys
#: left out take `NewCommand`'s defaults).
_Valid = Mapping[str, Any]

_many = TypeAdapter(list[_Fields])
_quick = TypeAdapter(list[_QuickFields])


@dataclass(frozen=True, slots=True)
class _Checked:
    """Validated commands, and each one's ``context`` column as JSON text."""

    commands: list[_Valid]
    contexts: list[str]

    @classmethod
    def of(cls, valid: list[_Valid]) -> _Checked:
        """Commands the full rules validated, with their contexts serialised."""
        return cls(valid, [jsonvalues.dumps(_context(c)) for c in valid])


def _context(command: _Valid) -> dict[str, Any]:
    render_context = command.get("render_context")
    if render_context:
        return {**command["input"], "render_context": render_context}
    result: dict[str, Any] = command["input"]
    return result  # validated, and only read from here on


def _quick_check(commands: list[Any]) -> _Checked | None:
    """The bulk validated by the quick rules, or None when they refuse it."""
    try:
        valid = cast(list[_Valid], _quick.validate_python(commands))
        contexts = []
        for c in valid:
            if "render_context" in c["input"]:
                return None  # a reserved key: the full rules say so
            context = _context(c)
            contexts.append(jsonvalues.dumps_object(context) if context else "{}")
    except (ValidationError, jsonvalues.JsonValueError):
        return None
    return _Checked(valid, contexts)


def _validate(commands: Sequence[NewCommand | Mapping[str, Any]]) -> _Checked:
    """Every command validated (a pydantic ``ValidationError`` naming the index
    and field of the first bad ones), with its context serialised."""
    if all(isinstance(c, NewCommand) for c in commands):
        return _Checked.of([c.__dict__ for c in commands])
    plain = [c.__dict__ if isinstance(c, NewCommand) else c for c in commands]
    checked = _quick_check(plain)
    if checked is not None:
        return checked
    return _Checked.of(cast(list[_Valid], _many.validate_python(plain)))


def _params(checked: _Checked) -> dict[str, list[Any]]:
    commands = checked.commands
    return {
        "execution_ids": [c.get("execution_id") for c in commands],
        "command_ids": [c.get("command_id") for c in commands],
        "steps": [c["step"] for c in commands],
        "tool_kinds": [c["tool_kind"] for c in commands],
        "contexts": checked.contexts,
        "priorities": [c.get("priority", 0) for c in commands],
        "max_attempts": [c.get("max_attempts") or DEFAULT_MAX_ATTEMPTS for c in commands],
        "delays": [_seconds(c.get("delay")) for c in commands],
    }


def _seconds(delay: timedelta | None) -> float:
    return delay.total_seconds() if delay else 0.0


#: From this many new commands up (no ids, no delay), enqueue uses COPY.
COPY_THRESHOLD = 200


#: The keys a new command may have (no ids, no delay): a dict with no others
#: is new without a look at its values.
_NEW_KEYS = frozenset({"step", "tool_kind", "input", "render_context", "priority", "max_attempts"})


def _is_new(command: NewCommand | Mapping[str, Any]) -> bool:
    """No ids and no delay: a command COPY can write (no conflict is possible, so
    the idempotency of ON CONFLICT is not needed, and it is due now)."""
    if type(command) is not dict:  # dicts first: an ABC isinstance check is slow
        if isinstance(command, NewCommand):
            command = command.__dict__
        elif not isinstance(command, Mapping):
            return False  # validation will say what is wrong with it
    elif command.keys() <= _NEW_KEYS:
        return True
    return (
        command.get("command_id") is None
        and command.get("execution_id") is None
        and not command.get("delay")
    )


def _may_copy(commands: Sequence[NewCommand | Mapping[str, Any]]) -> bool:
    """A bulk worth a COPY, by its first and last commands: a guess, confirmed
    after validation (a mixed bulk then takes the INSERT, its drawn ids unused)."""
    return len(commands) >= COPY_THRESHOLD and _is_new(commands[0]) and _is_new(commands[-1])


#: COPY's columns after the two ids, and whether every command is new
_Prepared = tuple[_Checked, list[list[Any]] | None]


def _prepare_copy(commands: Sequence[NewCommand | Mapping[str, Any]]) -> _Prepared:
    """Validate, then build COPY's columns: all of it while the server draws the
    ids. ``None`` for the columns when some command has an id or a delay."""
    checked = _validate(commands)
    valid = checked.commands
    # (a look at each dict's keys, in C; the values only where a key is not a new command's)
    if not all(map(_NEW_KEYS.issuperset, valid)) and not all(map(_is_new, valid)):
        return checked, None
    return checked, [
        [c["step"] for c in valid],
        [c["tool_kind"] for c in valid],
        checked.contexts,
        [c.get("priority", 0) for c in valid],
        [c.get("max_attempts") or DEFAULT_MAX_ATTEMPTS for c in valid],
    ]


@dataclass(frozen=True, slots=True)
class _Execute:
    statement: sql.Composed
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Overlap:
    """Run ``statement`` and, while the server works on it, ``meanwhile()`` here;
    the plan gets both results back."""

    statement: sql.Composed
    params: dict[str, Any]
    meanwhile: Callable[[], _Prepared]


@dataclass(frozen=True, slots=True)
class _Copy:
    statement: sql.Composed
    rows: Iterator[tuple[Any, ...]]


_Step = _Execute | _Overlap | _Copy
_Plan = Generator[_Step, Any, list[str]]


def _plan(commands: list[NewCommand | Mapping[str, Any]], queue: QueueTable) -> _Plan:
    """The writes of a bulk enqueue, without I/O: the sync and async forms only
    drive this generator (each step's result is sent back into it).

    Every command is validated before anything is written. For a bulk of new
    commands the ids are drawn while the validation runs (ids drawn for
    commands that turn out invalid are simply never used), then the rows are
    streamed into COPY. Each command is its own execution: its execution id is
    its command id.
    """
    if not _may_copy(commands):
        return (yield from _insert(_validate(commands), queue))
    rows, (checked, columns) = yield _Overlap(
        queue.statement("snowflake_ids"),
        {"count": len(commands)},
        functools.partial(_prepare_copy, commands),
    )
    if columns is None:
        return (yield from _insert(checked, queue))
    ids: list[str] = rows[0][0].split(",")
    yield _Copy(queue.statement("copy_commands"), zip(ids, ids, *columns, strict=True))
    return ids


def _insert(checked: _Checked, queue: QueueTable) -> _Plan:
    """``INSERT … ON CONFLICT DO NOTHING`` of validated commands: their ids."""
    if not checked.commands:
        return []
    rows = yield _Execute(queue.statement("enqueue"), _params(checked))
    return [str(row[0]) for row in rows]


async def enqueue_many(
    conn: psycopg.AsyncConnection[Any],
    commands: Iterable[NewCommand | Mapping[str, Any]],
    *,
    table: QueueTable | None = None,
) -> list[str]:
    """Enqueue many commands in one statement; their command ids, in order."""
    plan = _plan(list(commands), table or QueueTable())
    try:
        async with conn.cursor() as cur:
            step = next(plan)
            while True:
                result: Any
                if isinstance(step, _Execute):
                    await cur.execute(step.statement, step.params)
                    result = await cur.fetchall()
                elif isinstance(step, _Overlap):
                    async with conn.pipeline():
                        await cur.execute(step.statement, step.params)  # sent, not awaited
                        meanwhile = step.meanwhile()
                    result = (await cur.fetchall(), meanwhile)
                else:
                    async with cur.copy(step.statement) as copy:
                        for row in step.rows:
                            await copy.write_row(row)
                    result = None
                step = plan.send(result)
    except StopIteration as done:
        enqueued: list[str] = done.value
        return enqueued
    except psycopg.Error as exc:
        raise translate(exc) from exc


async def enqueue(
    conn: psycopg.AsyncConnection[Any],
    *,
    step: str,
    tool_kind: str,
    input: Mapping[str, Any],
    execution_id: int | None = None,
    command_id: int | None = None,
    render_context: Mapping[str, Any] | None = None,
    delay: timedelta | float | None = None,
    priority: int = 0,
    max_attempts: int | None = None,
    table: QueueTable | None = None,
) -> str:
    """Enqueue one ``PENDING`` command in the caller's transaction; its command id."""
    command = NewCommand.model_validate(
        {
            "step": step,
            "tool_kind": tool_kind,
            "input": input,
            "execution_id": execution_id,
            "command_id": command_id,
            "render_context": render_context,
            "delay": delay,
            "priority": priority,
            "max_attempts": max_attempts,
        }
    )
    (command_id_out,) = await enqueue_many(conn, [command], table=table)
    return command_id_out


def enqueue_many_sync(
    conn: psycopg.Connection[Any],
    commands: Iterable[NewCommand | Mapping[str, Any]],
    *,
    table: QueueTable | None = None,
) -> list[str]:
    """`enqueue_many` for a sync psycopg connection (the same plan, driven without await)."""
    plan = _plan(list(commands), table or QueueTable())
    try:
        with conn.cursor() as cur:
            step = next(plan)
            while True:
                result: Any
                if isinstance(step, _Execute):
                    cur.execute(step.statement, step.params)
                    result = cur.fetchall()
                elif isinstance(step, _Overlap):
                    with conn.pipeline():
                        cur.execute(step.statement, step.params)  # sent, not awaited
                        meanwhile = step.meanwhile()
                    result = (cur.fetchall(), meanwhile)
                else:
                    with cur.copy(step.statement) as copy:
                        for row in step.rows:
                            copy.write_row(row)
                    result = None
                step = plan.send(result)
    except StopIteration as done:
        enqueued: list[str] = done.value
        return enqueued
    except psycopg.Error as exc:
        raise translate(exc) from exc


def enqueue_sync(
    conn: psycopg.Connection[Any],
    *,
    step: str,
    tool_kind: str,
    input: Mapping[str, Any],
    execution_id: int | None = None,
    command_id: int | None = None,
    render_context: Mapping[str, Any] | None = None,
    delay: timedelta | float | None = None,
    priority: int = 0,
    max_attempts: int | None = None,
    table: QueueTable | None = None,
) -> str:
    """`enqueue` for a sync psycopg connection."""
    command = NewCommand.model_validate(
        {
            "step": step,
            "tool_kind": tool_kind,
            "input": input,
            "execution_id": execution_id,
            "command_id": command_id,
            "render_context": render_context,
            "delay": delay,
            "priority": priority,
            "max_attempts": max_attempts,
        }
    )
    (command_id_out,) = enqueue_many_sync(conn, [command], table=table)
    return command_id_out
