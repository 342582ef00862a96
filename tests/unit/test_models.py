"""The wire format matches the seed's serde struct in both directions."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from pgqueue import AlreadyClaimed, Claimed, Command, Failed, Pulled, RetryLater


def test_defaults_apply_when_render_context_and_attempts_are_absent() -> None:
    command = Command.model_validate_json(
        json.dumps(
            {
                "command_id": "cmd-1",
                "execution_id": 7,
                "step": "s",
                "tool_kind": "http",
                "input": {"url": "https://example.com"},
            }
        )
    )
    assert command.render_context == {}
    assert command.attempts == 0


def test_every_field_round_trips_through_json() -> None:
    wire = {
        "command_id": "cmd-2",
        "execution_id": 12345,
        "step": "process",
        "tool_kind": "rhai",
        "input": {"code": "1 + 1"},
        "render_context": {"workload.region": "us-east-1"},
        "attempts": 3,
    }
    command = Command.model_validate_json(json.dumps(wire))
    assert command.attempts == 3
    assert command.render_context["workload.region"] == "us-east-1"
    assert json.loads(command.model_dump_json()) == wire


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("attempts", -1),
        ("attempts", 2**32),
        ("execution_id", 2**63),
        ("execution_id", -(2**63) - 1),
        ("input", [1, 2]),
        ("render_context", "nope"),
    ],
)
def test_out_of_range_fields_are_rejected_by_name(field: str, value: object) -> None:
    wire = {"command_id": "c", "execution_id": 1, "step": "s", "tool_kind": "k", "input": {}}
    wire[field] = value
    with pytest.raises(ValidationError) as info:
        Command.model_validate(wire)
    assert info.value.errors()[0]["loc"][0] == field


def test_execution_id_accepts_the_full_int64_range() -> None:
    for value in (-(2**63), 2**63 - 1):
        command = Command(command_id="c", execution_id=value, step="s", tool_kind="k", input={})
        assert Command.model_validate_json(command.model_dump_json()).execution_id == value


def describe(outcome: object) -> str:
    match outcome:
        case Claimed(command=c):
            return f"claimed {c.command_id}"
        case AlreadyClaimed():
            return "already"
        case RetryLater(reason=r):
            return f"retry: {r}"
        case Failed(reason=r):
            return f"failed: {r}"
    return "?"


def test_outcomes_work_with_match() -> None:
    command = Command(command_id="a", execution_id=1, step="s", tool_kind="k", input={})
    assert describe(Claimed(command)) == "claimed a"
    assert describe(AlreadyClaimed()) == "already"
    assert describe(RetryLater("overload")) == "retry: overload"
    assert describe(Failed("malformed payload")) == "failed: malformed payload"


def test_pulled_carries_its_outcome_and_handle() -> None:
    pulled = Pulled(RetryLater("x"), 41)
    assert pulled.outcome == RetryLater("x")
    assert pulled.ack == 41
