"""`NewCommand`: what may be enqueued, and the validation of a bulk.

A command to enqueue is validated before anything is written: a pydantic
`ValidationError` names the field (and, in a bulk, the index) of the first bad
one. One command is a `NewCommand`; a bulk of plain mappings is validated a
column at a time by each field's own rule (`validate`), which is twice as fast
as a model per command and gives the same errors (a unit test holds the quick
rules to the full ones).
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from types import GenericAlias
from typing import Annotated, Any, Required, cast, get_args, get_origin, get_type_hints

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    TypeAdapter,
    ValidationError,
    model_validator,
    with_config,
)
from typing_extensions import TypedDict  # pydantic needs this one before 3.12

from pgqueue import jsonvalues
from pgqueue.models import Int64
from pgqueue.states import KNOWN

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


#: the longest delay a command may be given: far beyond any schedule, well
#: within what PostgreSQL's timestamps hold
MAX_DELAY = timedelta(days=36_500)


def _delay(value: timedelta | None) -> timedelta | None:
    if value is not None and value < timedelta(0):
        raise ValueError("must not be negative")
    if value is not None and value > MAX_DELAY:
        raise ValueError(f"must be at most {MAX_DELAY.days} days")
    return value


def _meta(value: dict[str, JsonValue] | None) -> dict[str, JsonValue] | None:
    if value is not None:
        jsonvalues.check_json_object(value)
    return value


#: the states a unique key holds in when the caller does not say: while its
#: command waits or runs
UNIQUE_WHILE = ("CLAIMED", "PENDING", "RUNNING")


def _unique_while(value: list[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    states = tuple(sorted({str(v).upper() for v in value}))
    if not states:
        raise ValueError("give at least one state (or leave it out: PENDING, CLAIMED, RUNNING)")
    unknown = [v for v in states if v not in {s.value for s in KNOWN}]
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not a state ({', '.join(sorted(KNOWN))})")
    return states


# Each field's rules, once: `NewCommand` and the bulk validator both use them.
Name = Annotated[str, Field(min_length=1), AfterValidator(_name)]
Input = Annotated[dict[str, JsonValue], AfterValidator(_input)]
RenderContext = Annotated[dict[str, JsonValue] | None, AfterValidator(_render_context)]
Delay = Annotated[timedelta | None, AfterValidator(_delay)]
Priority = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX, strict=True)]
MaxAttempts = Annotated[int, Field(ge=1, le=INT32_MAX, strict=True)] | None
Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX, strict=True)]
Meta = Annotated[dict[str, JsonValue] | None, AfterValidator(_meta)]
UniqueWhile = Annotated[list[str] | None, AfterValidator(_unique_while)]

#: a unique command's fields: written by their own statement (enqueue_unique.sql)
UNIQUE_COLUMNS = ("unique_key", "unique_while")

#: NoETL's own columns a producer may set (its control plane's table requires
#: ``event_id`` and ``catalog_id``); written only when some command gives one
NOETL_COLUMNS = (
    "event_id",
    "catalog_id",
    "parent_execution_id",
    "parent_command_id",
    "loop_event_id",
    "iter_index",
    "meta",
)


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
    event_id: Int64 | None = None
    catalog_id: Int64 | None = None
    parent_execution_id: Int64 | None = None
    parent_command_id: Int64 | None = None
    loop_event_id: Int64 | None = None
    iter_index: Int32 | None = None
    meta: Meta = None
    concurrency_key: Name | None = None
    unique_key: Name | None = None
    unique_while: UniqueWhile = None

    @model_validator(mode="after")
    def _unique_while_has_a_key(self) -> NewCommand:
        if self.unique_while is not None and self.unique_key is None:
            raise ValueError("unique_while: only with a unique_key")
        return self

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
    event_id: Int64 | None
    catalog_id: Int64 | None
    parent_execution_id: Int64 | None
    parent_command_id: Int64 | None
    loop_event_id: Int64 | None
    iter_index: Int32 | None
    meta: Meta
    concurrency_key: Name | None
    unique_key: Name | None
    unique_while: UniqueWhile


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
class Checked:
    """Validated commands, a column a field (defaults filled in, ``max_attempts``
    resolved), and each one's ``context`` column as JSON text."""

    columns: dict[str, list[Any]]
    contexts: list[str]

    @classmethod
    def of(cls, valid: list[_Valid]) -> Checked:
        """Commands the full rules validated, with their contexts serialised."""
        columns = {key: [c.get(key, _DEFAULTS.get(key)) for c in valid] for key in _KEYS}
        return cls._resolved(columns, [jsonvalues.dumps(_context(c)) for c in valid])

    @classmethod
    def _resolved(cls, columns: dict[str, list[Any]], contexts: list[str]) -> Checked:
        attempts = columns["max_attempts"]
        if _all_none(attempts):
            columns["max_attempts"] = [DEFAULT_MAX_ATTEMPTS] * len(attempts)
        elif None in attempts:
            columns["max_attempts"] = [m or DEFAULT_MAX_ATTEMPTS for m in attempts]
        return cls(columns, contexts)

    def is_new(self) -> bool:
        """No ids, no delay and none of NoETL's columns (so COPY can write the
        commands: no conflict is possible, and each is due now)."""
        columns = self.columns
        return (
            not any(columns["delay"])
            and _all_none(columns["command_id"])
            and _all_none(columns["execution_id"])
            and not self.gives_noetl_columns()
            and not self.gives_unique_keys()
        )

    def gives_noetl_columns(self) -> bool:
        """Whether some command sets one of NoETL's own columns, or a
        concurrency key (the same statement writes them all)."""
        return not all(_all_none(self.columns[key]) for key in (*NOETL_COLUMNS, "concurrency_key"))

    def gives_unique_keys(self) -> bool:
        """Whether some command has a unique key (enqueue_unique.sql writes it)."""
        return not _all_none(self.columns["unique_key"])

    def check_unique(self) -> Checked:
        """``self``, or a ``ValidationError`` naming the first command with
        ``unique_while`` and no ``unique_key``."""
        if _all_none(self.columns["unique_while"]):
            return self
        for index, (key, states) in enumerate(
            zip(self.columns["unique_key"], self.columns["unique_while"], strict=True)
        ):
            if states is not None and key is None:
                raise ValidationError.from_exception_data(
                    "NewCommand",
                    [
                        {
                            "type": "value_error",
                            "loc": (index, "unique_while"),
                            "input": list(states),
                            "ctx": {"error": ValueError("only with a unique_key")},
                        }
                    ],
                )
        return self

    def metas(self) -> list[str | None]:
        """The ``meta`` column as JSON text (``None`` where not given)."""
        return [None if m is None else jsonvalues.dumps(m) for m in self.columns["meta"]]


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


def _quick_check(commands: list[Any]) -> Checked | None:
    """The bulk validated by the quick rules, or None when they refuse it."""
    if set(map(type, commands)) != {dict}:
        return None  # other mappings: the full rules say
    present: set[str] = set().union(*commands)
    if not present <= _KEYS:
        return None  # a key no command has: the full rules say which
    if "meta" in present:
        return None  # a third JSON object: the full rules check it
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
    return Checked._resolved(columns, contexts)


def validate(commands: Sequence[NewCommand | Mapping[str, Any]]) -> Checked:
    """Every command validated (a pydantic ``ValidationError`` naming the index
    and field of the first bad ones), with its context serialised."""
    kinds = set(map(type, commands))
    if kinds == {NewCommand}:
        return Checked.of([c.__dict__ for c in commands]).check_unique()
    if kinds == {dict}:
        plain: list[Any] = list(commands)
    else:
        plain = [c.__dict__ if isinstance(c, NewCommand) else c for c in commands]
    checked = _quick_check(plain)
    if checked is not None:
        return checked.check_unique()
    return Checked.of(cast(list[_Valid], _many.validate_python(plain))).check_unique()


#: The keys a new command may have (no ids, no delay): a dict with no others
#: is new without a look at its values.
_NEW_KEYS = _KEYS - {"command_id", "execution_id", "delay", *NOETL_COLUMNS, *UNIQUE_COLUMNS}


def is_new(command: NewCommand | Mapping[str, Any]) -> bool:
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
        and all(command.get(key) is None for key in NOETL_COLUMNS)
        and command.get("unique_key") is None
    )
