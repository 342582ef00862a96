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
import itertools
import operator
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from types import GenericAlias
from typing import Annotated, Any, Required, cast, get_args, get_origin, get_type_hints

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


#: A validated command: a `NewCommand`'s fields, or a validated mapping (keys
#: left out take `NewCommand`'s defaults).
_Valid = Mapping[str, Any]

_many = TypeAdapter(list[_Fields])

_HINTS = get_type_hints(_Fields, include_extras=True)
# (`_Fields.__required_keys__` is empty: its annotations are strings to typing)
_REQUIRED = frozenset(key for key, hint in _HINTS.items() if get_origin(hint) is Required)
#: Each field's rule (``Required[…]`` taken off).
_RULES: dict[str, Any] = {
    key: get_args(hint)[0] if key in _REQUIRED else hint for key, hint in _HINTS.items()
}
_KEYS = frozenset(_RULES)
_DEFAULTS: dict[str, Any] = {key: NewCommand.model_fields[key].default for key in _KEYS - _REQUIRED}

# The quick rules check a bulk a column at a time, by each field's own rule but
# for the two JSON objects: their type only, and jsonb's limits as they are
# serialised (`jsonvalues.dumps_object`), instead of a walk through each first.
_COLUMN_RULES: dict[str, TypeAdapter[list[Any]]] = {
    key: TypeAdapter(cast(Any, GenericAlias(list, (rule,))))
    for key, rule in {
        **_RULES,
        "input": dict[str, JsonValue],
        "render_context": dict[str, JsonValue] | None,
    }.items()
}

#: Exact types whose equal values a rule treats alike (no ``True == 1``), so a
#: column of them is checked one distinct value at a time.
_PLAIN = frozenset({str, int, type(None)})


@dataclass(frozen=True, slots=True)
class _Checked:
    """Validated commands, a column a field (defaults filled in, ``max_attempts``
    resolved), and each one's ``context`` column as JSON text."""

    columns: dict[str, list[Any]]
    contexts: list[str]

    @classmethod
    def of(cls, valid: list[_Valid]) -> _Checked:
        """Commands the full rules validated, with their contexts serialised."""
        columns = {key: [c.get(key, _DEFAULTS.get(key)) for c in valid] for key in _KEYS}
        return cls._resolved(columns, [jsonvalues.dumps(_context(c)) for c in valid])

    @classmethod
    def _resolved(cls, columns: dict[str, list[Any]], contexts: list[str]) -> _Checked:
        attempts = columns["max_attempts"]
        if _all_none(attempts):
            columns["max_attempts"] = [DEFAULT_MAX_ATTEMPTS] * len(attempts)
        elif None in attempts:
            columns["max_attempts"] = [m or DEFAULT_MAX_ATTEMPTS for m in attempts]
        return cls(columns, contexts)

    def is_new(self) -> bool:
        """No ids and no delay (so COPY can write the commands: no conflict is
        possible, and each is due now)."""
        columns = self.columns
        return (
            not any(columns["delay"])
            and _all_none(columns["command_id"])
            and _all_none(columns["execution_id"])
        )


def _all_none(values: list[Any]) -> bool:
    return values.count(None) == len(values)


def _context(command: _Valid) -> dict[str, Any]:
    return _with_render_context(command["input"], command.get("render_context"))


def _with_render_context(
    input: dict[str, Any], render_context: dict[str, Any] | None
) -> dict[str, Any]:
    """The ``context`` column: the input, plus ``render_context`` when given (read only)."""
    return {**input, "render_context": render_context} if render_context else input


def _quick_column(key: str, values: list[Any]) -> list[Any]:
    """``values`` checked by the field's quick rule (raises ``ValidationError``)."""
    rule = _COLUMN_RULES[key]
    if set(map(type, values)) <= _PLAIN:
        # names, numbers, None: each distinct value once (a bulk repeats them),
        # and the column as it is unless the rule converts (delay's seconds)
        distinct = list(dict.fromkeys(values))
        if rule.validate_python(distinct) == distinct:
            return values
    return rule.validate_python(values)


def _quick_check(commands: list[Any]) -> _Checked | None:
    """The bulk validated by the quick rules, or None when they refuse it."""
    if set(map(type, commands)) != {dict}:
        return None  # other mappings: the full rules say
    present: set[str] = set().union(*commands)
    if not present <= _KEYS:
        return None  # a key no command has: the full rules say which
    count = len(commands)
    try:
        columns = {
            key: _quick_column(key, list(map(operator.itemgetter(key), commands)))
            for key in _REQUIRED
        }
        for key, default in _DEFAULTS.items():
            column = [c.get(key, default) for c in commands] if key in present else None
            columns[key] = _quick_column(key, column) if column else [default] * count
        inputs = columns["input"]
        if any(map(operator.contains, inputs, itertools.repeat("render_context"))):
            return None  # a reserved key: the full rules say so
        if "render_context" in present:
            inputs = list(map(_with_render_context, inputs, columns["render_context"]))
        contexts = [jsonvalues.dumps_object(c) if c else "{}" for c in inputs]
    except (KeyError, ValidationError, jsonvalues.JsonValueError):
        return None  # a required field left out, or a value refused
    return _Checked._resolved(columns, contexts)


def _validate(commands: Sequence[NewCommand | Mapping[str, Any]]) -> _Checked:
    """Every command validated (a pydantic ``ValidationError`` naming the index
    and field of the first bad ones), with its context serialised."""
    kinds = set(map(type, commands))
    if kinds == {NewCommand}:
        return _Checked.of([c.__dict__ for c in commands])
    if kinds == {dict}:
        plain: list[Any] = list(commands)
    else:
        plain = [c.__dict__ if isinstance(c, NewCommand) else c for c in commands]
    checked = _quick_check(plain)
    if checked is not None:
        return checked
    return _Checked.of(cast(list[_Valid], _many.validate_python(plain)))


def _params(checked: _Checked) -> dict[str, list[Any]]:
    columns = checked.columns
    return {
        "execution_ids": columns["execution_id"],
        "command_ids": columns["command_id"],
        "steps": columns["step"],
        "tool_kinds": columns["tool_kind"],
        "contexts": checked.contexts,
        "priorities": columns["priority"],
        "max_attempts": columns["max_attempts"],
        "delays": [_seconds(d) for d in columns["delay"]],
    }


def _seconds(delay: timedelta | None) -> float:
    return delay.total_seconds() if delay else 0.0


#: From this many new commands up (no ids, no delay), enqueue uses COPY.
COPY_THRESHOLD = 200


#: The keys a new command may have (no ids, no delay): a dict with no others
#: is new without a look at its values.
_NEW_KEYS = _KEYS - {"command_id", "execution_id", "delay"}


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
    meanwhile: Callable[[], _Checked]


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
    rows, checked = yield _Overlap(
        queue.statement("snowflake_ids"),
        {"count": len(commands)},
        functools.partial(_validate, commands),
    )
    if not checked.is_new():
        return (yield from _insert(checked, queue))
    ids: list[str] = rows[0][0].split(",")
    columns = checked.columns
    yield _Copy(
        queue.statement("copy_commands"),
        zip(
            ids,
            ids,
            columns["step"],
            columns["tool_kind"],
            checked.contexts,
            columns["priority"],
            columns["max_attempts"],
            strict=True,
        ),
    )
    return ids


def _insert(checked: _Checked, queue: QueueTable) -> _Plan:
    """``INSERT … ON CONFLICT DO NOTHING`` of validated commands: their ids."""
    if not checked.contexts:
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
