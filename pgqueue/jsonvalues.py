"""JSON values that PostgreSQL's ``jsonb`` can store and give back unchanged.

Python's ``json`` accepts things ``jsonb`` refuses (NaN, infinities, ``\\u0000``,
lone surrogates) and ``jsonb`` renders some floats as integers (``1e300`` comes
back as ``1000…0``). This module rejects the first kind with a message that
names the offending path and serialises floats so that they come back as
floats.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

#: Deeper documents are refused: PostgreSQL's own parser stops far earlier than
#: its stack would, and a recursive walk must stay inside Python's limit.
MAX_DEPTH = 200

#: About 4000 decimal digits, inside Python's int-to-text limit of 4300.
MAX_INT_BITS = 13_000


class JsonValueError(ValueError):
    """A value that ``jsonb`` cannot store exactly."""


def _path(parts: list[str | int]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts) or "."


def _check(value: Any, parts: list[str | int]) -> None:
    if len(parts) > MAX_DEPTH:
        raise JsonValueError(f"nested deeper than {MAX_DEPTH} levels at {_path(parts[:5])}…")
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        # Python refuses to print integers past 4300 digits (sys.int_info); jsonb
        # could hold more, but nothing could write or read them back.
        if value.bit_length() > MAX_INT_BITS:
            raise JsonValueError(f"integer at {_path(parts)} has more than 4000 digits")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise JsonValueError(f"{value!r} at {_path(parts)} is not a JSON number")
        return
    if isinstance(value, str):
        _check_text(value, parts)
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            parts.append(index)
            _check(item, parts)
            parts.pop()
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise JsonValueError(f"key {key!r} at {_path(parts)} is not a string")
            _check_text(key, parts)
            parts.append(key)
            _check(item, parts)
            parts.pop()
        return
    raise JsonValueError(f"{type(value).__name__} at {_path(parts)} is not a JSON value")


def _check_text(text: str, parts: list[str | int]) -> None:
    if "\x00" in text:
        raise JsonValueError(f"text at {_path(parts)} contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise JsonValueError(
            f"text at {_path(parts)} is not valid Unicode ({exc.reason})"
        ) from None


def check_json_object(value: Any) -> None:
    """Raise `JsonValueError` unless *value* is a dict that ``jsonb`` stores exactly."""
    if not isinstance(value, dict):
        raise JsonValueError("must be a JSON object")
    _check(value, [])


def _float_text(value: float) -> str:
    text = repr(value)
    if "e+" in text or "E+" in text:
        # jsonb prints numeric without an exponent, so 1e300 would come back as
        # an int; writing the exact digits with ".0" keeps it a float.
        return f"{Decimal(value):f}.0"
    return text


def _encode(value: Any) -> Iterator[str]:
    if isinstance(value, float):
        yield _float_text(value)
    elif isinstance(value, dict):
        yield "{"
        for i, (key, item) in enumerate(value.items()):
            if i:
                yield ","
            yield json.dumps(key)
            yield ":"
            yield from _encode(item)
        yield "}"
    elif isinstance(value, list):
        yield "["
        for i, item in enumerate(value):
            if i:
                yield ","
            yield from _encode(item)
        yield "]"
    else:
        yield json.dumps(value)


#: One encoder for every call: ``json.dumps`` with options builds a new one each time.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _exact(value: Any, text: str) -> str:
    """``text`` unless it holds an exponent that ``jsonb`` would turn into digits."""
    if "e+" in text or "E+" in text:
        # a big float needs exact digits (or the exponent was only inside a string)
        return "".join(_encode(value))
    return text


def dumps_checked(value: Any) -> str:
    """`dumps` for values that were not validated: one encoder pass, then cheap
    checks on the text for what ``jsonb`` refuses (the full walk only when a
    check trips). Raises `JsonValueError` (or ``TypeError`` for non-JSON types)."""
    if value is None or (type(value) is dict and not value):
        return "null" if value is None else "{}"  # what most tools return
    try:
        text = _ENCODER.encode(value)
    except ValueError as exc:
        raise JsonValueError(str(exc)) from None
    if "\\u0000" in text:
        _check(value, [])  # a NUL character, or only text that looks like one
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        _check(value, [])  # names the lone surrogate's path
    return _exact(value, text)


#: A document shorter than this holds no integer of more than MAX_INT_BITS bits.
_SHORT = len(str(2**MAX_INT_BITS))


def dumps_object(value: dict[str, Any]) -> str:
    """`dumps` of a JSON object that only pydantic checked (``dict[str, JsonValue]``),
    refusing what `check_json_object` refuses: `dumps_checked`'s one encoder pass
    and cheap checks, and the full walk only for a document long or bracketed
    enough to hold a too-big integer or too deep a nesting. Raises `JsonValueError`."""
    try:
        text = dumps_checked(value)
    except RecursionError:
        check_json_object(value)  # nested past the encoder's limit: this says where
        raise
    if len(text) >= _SHORT or text.count("{") + text.count("[") > MAX_DEPTH:
        check_json_object(value)
    return text


def dumps(value: Any) -> str:
    """Serialise a value already checked by `check_json_object` for ``jsonb``."""
    if type(value) is dict and not value:
        return "{}"
    return _exact(value, _ENCODER.encode(value))
