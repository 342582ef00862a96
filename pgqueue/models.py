"""The wire format: `Command`, the four claim outcomes and `Pulled`.

`Command` is the pydantic model of the seed's serde struct: its JSON matches
the Rust worker's in both directions (``render_context`` defaults to ``{}``,
``attempts`` to 0). The outcomes are frozen slotted dataclasses so that
``match outcome: case Claimed(command=c): ...`` reads naturally.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from pgqueue.jsonvalues import check_json_object

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
#: the seed's ``attempts: u32``
UINT32_MAX = 2**32 - 1

Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX, strict=True)]


class Command(BaseModel):
    """One command a worker dispatches to a tool (the seed's `Command`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    command_id: str
    execution_id: Int64
    step: str
    tool_kind: str
    input: dict[str, JsonValue]
    render_context: dict[str, JsonValue] = Field(default_factory=dict)
    attempts: int = Field(default=0, ge=0, le=UINT32_MAX)

    @field_validator("input", "render_context")
    @classmethod
    def _storable_json(cls, value: dict[str, JsonValue]) -> dict[str, JsonValue]:
        check_json_object(value)
        return value


_COMMAND_FIELDS = frozenset(Command.model_fields)


def trusted_command(**values: Any) -> Command:
    """A `Command` from values already known to be valid (typed columns and jsonb
    from the claim), without re-validating them: the claim's hot path. Same
    object as ``Command.model_validate`` would give (a unit test holds it to that)."""
    command = Command.__new__(Command)
    object.__setattr__(command, "__dict__", values)
    object.__setattr__(command, "__pydantic_fields_set__", _COMMAND_FIELDS)
    object.__setattr__(command, "__pydantic_extra__", None)
    object.__setattr__(command, "__pydantic_private__", None)
    return command


@dataclass(frozen=True, slots=True)
class Claimed:
    """This worker owns the command: ack, then dispatch."""

    command: Command


@dataclass(frozen=True, slots=True)
class AlreadyClaimed:
    """Another worker owns the command, or it is finished: ack, skip."""


@dataclass(frozen=True, slots=True)
class RetryLater:
    """Transient: contention, overload, a database blip, not yet due: nack, back off."""

    reason: str


@dataclass(frozen=True, slots=True)
class Failed:
    """Terminal: malformed row, unknown command, attempts exhausted: nack, report."""

    reason: str


ClaimOutcome = Claimed | AlreadyClaimed | RetryLater | Failed

H = TypeVar("H")


@dataclass(frozen=True, slots=True)
class Pulled(Generic[H]):
    """One pulled item: a claim outcome and the handle to `ack` or `nack` exactly once."""

    outcome: ClaimOutcome
    ack: H = field(repr=False)


def log_id(command_id: str | int) -> int | str:
    """A command id as log lines carry it: the table's BIGINT as an integer (one
    JSON type per field); an in-memory source's free-form id as it is."""
    try:
        return int(command_id)
    except ValueError:
        return command_id
