"""A bulk of mappings is first checked by quick rules, a column at a time (each
distinct name once, the JSON objects as they are serialised); what they refuse
is validated again by the full rules, a command at a time. The two must agree:
the quick rules never pass what the full rules refuse, and what both pass comes
out the same (every column, and the ``context`` column's JSON text)."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from pgqueue import newcommand

GOOD: dict[str, Any] = {"step": "s", "tool_kind": "http", "input": {"a": 1}}


def _nested(objects: int) -> dict[str, Any]:
    """``objects`` objects, each inside the one before."""
    value: dict[str, Any] = {}
    for _ in range(objects - 1):
        value = {"k": value}
    return value


CHANGES: list[dict[str, Any]] = [
    {},
    {"step": "步骤", "tool_kind": "ツール"},  # valid, with no visible ASCII
    {"step": " a "},
    {"step": ""},
    {"step": " \t"},
    {"step": "\x1c\x1d"},  # Python's str.strip() removes these
    {"step": "\u3000"},
    {"tool_kind": "a\x00b"},
    {"input": {}},
    {"input": {"render_context": {}}},
    {"input": {"x": math.nan}},
    {"input": {"x": [1, {"y": -math.inf}]}},
    {"input": {"x": "a\x00b"}},
    {"input": {"a\x00": 1}},
    {"input": {"x": "\ud800"}},
    {"input": {"x": 1e300, "y": [0.5, -2.5e-300]}},
    {"input": {"x": 2**13000 - 1}},  # the biggest integer allowed
    {"input": {"x": -(2**13000)}},  # a bit too big
    {"input": _nested(201)},  # the deepest nesting allowed: 200 levels below the input
    {"input": _nested(202)},
    {"input": _nested(1500)},  # deeper than the JSON encoder's own recursion limit
    {"input": {"brackets": "{[" * 300}},  # brackets in text: the full walk, which passes
    {"render_context": {"r": [1, "x"]}},
    {"render_context": {"r": math.nan}},
    {"render_context": None},
    {"delay": 0},
    {"delay": 1.5},
    {"delay": -0.001},
    {"delay": timedelta(seconds=-1)},
    {"priority": 3, "max_attempts": 2},
    {"priority": 2**31},
    {"max_attempts": 0},
    {"command_id": 2**63},
    {"unknown": 1},
    {"step": b"bytes"},  # a str field takes bytes (decoded) in pydantic's lax mode
    {"step": ["unhashable"]},
    {"tool_kind": 7},
    {"input": {"t": (1, 2)}},  # a tuple is not a JSON value
    {"input": {1: "a"}},  # nor an object key that is not text
    {"input": [("a", 1)]},
    {"render_context": {}},
    {"priority": True},  # strict: a bool is not an int here
    {"priority": 1.0},
    {"max_attempts": None},
    {"execution_id": 5},
    {"command_id": 7, "execution_id": 7},
    {"execution_id": None, "command_id": None, "delay": None},
]


def _full(commands: list[dict[str, Any]]) -> newcommand.Checked:
    return newcommand.Checked.of(newcommand._many.validate_python(commands))


def _agree(commands: list[dict[str, Any]]) -> None:
    try:
        expected = _full(commands)
    except ValidationError as refused:
        assert newcommand._quick_check(commands) is None
        with pytest.raises(ValidationError) as caught:
            newcommand.validate(commands)
        assert str(caught.value) == str(refused)  # the same errors, the same words
        return
    got = newcommand._quick_check(commands)
    assert got is not None  # what the full rules pass, the quick ones pass too
    assert got.columns == expected.columns
    assert got.contexts == expected.contexts


@pytest.mark.parametrize("change", CHANGES, ids=range(len(CHANGES)))
def test_the_quick_rules_agree_with_the_full_ones(change: dict[str, Any]) -> None:
    _agree([GOOD, {**GOOD, **change}])


@pytest.mark.parametrize("missing", ["step", "tool_kind", "input"])
def test_a_required_field_left_out_is_refused_alike(missing: str) -> None:
    _agree([GOOD, {key: value for key, value in GOOD.items() if key != missing}])


def test_a_field_some_commands_leave_out_takes_its_default() -> None:
    _agree([GOOD, {**GOOD, "priority": 4, "max_attempts": None}, {**GOOD, "max_attempts": 2}])


def test_ordinary_commands_take_the_quick_path() -> None:
    commands = [
        GOOD,
        {"step": "fetch page", "tool_kind": "http", "input": {"url": "https://x", "n": [1, 2.5]}},
        {**GOOD, "render_context": {"user": "ü"}, "priority": -1, "max_attempts": 9},
    ]
    checked = newcommand._quick_check(commands)
    assert checked is not None
    assert checked.contexts == [
        '{"a":1}',
        '{"url":"https://x","n":[1,2.5]}',
        '{"a":1,"render_context":{"user":"ü"}}',
    ]
