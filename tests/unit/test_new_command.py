"""Enqueue input validation: a ValidationError that names the field."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from pgqueue import NewCommand
from pgqueue.jsonvalues import dumps

VALID: dict[str, Any] = {"step": "s", "tool_kind": "http", "input": {"a": 1}}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"step": ""}, "step"),
        ({"step": None}, "step"),
        ({"tool_kind": ""}, "tool_kind"),
        ({"tool_kind": "   "}, "tool_kind"),
        ({"input": [1]}, "input"),
        ({"input": "text"}, "input"),
        ({"input": {"x": math.nan}}, "input"),
        ({"input": {"x": math.inf}}, "input"),
        ({"input": {"x": "a\x00b"}}, "input"),
        ({"input": {"x": "\ud800"}}, "input"),
        ({"input": {"x": {1, 2}}}, "input"),
        ({"input": {"render_context": {}}}, "input"),
        ({"render_context": [1]}, "render_context"),
        ({"command_id": 2**63}, "command_id"),
        ({"execution_id": -(2**63) - 1}, "execution_id"),
        ({"priority": 2**31}, "priority"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"delay": -1}, "delay"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_input_names_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        NewCommand.model_validate({**VALID, **change})
    assert field in {str(e["loc"][0]) for e in info.value.errors()}


def test_delay_accepts_seconds_and_timedelta() -> None:
    assert NewCommand.model_validate({**VALID, "delay": 1.5}).delay == timedelta(seconds=1.5)
    assert NewCommand.model_validate({**VALID, "delay": timedelta(minutes=1)}).delay == timedelta(
        minutes=1
    )


def test_render_context_is_folded_into_the_context_column() -> None:
    command = NewCommand.model_validate({**VALID, "render_context": {"r": 1}})
    assert command.context() == {"a": 1, "render_context": {"r": 1}}


def test_big_floats_keep_a_decimal_point_for_jsonb() -> None:
    text = dumps({"x": 1e300, "y": 1.5})
    assert '"y":1.5' in text
    assert text.split('"x":')[1].split(",")[0].endswith(".0")
