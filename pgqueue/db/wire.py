"""Binary wire formats for the hot path: packed array parameters, and a faster
``jsonb`` result loader.

The batched writes send four arrays of up to a thousand elements each
(execution ids, command ids, claim tokens, results). psycopg dumps a list
element by element through its generic array dumper, which cost as much as
the rest of a completion (docs/performance.md). These wrappers are packed with
`struct` (a C loop) instead, and their dumpers declare the array type, so the
statement's ``::bigint[]`` cast is a no-op. The dumpers are registered on the
cursor that sends them, for these private types only: no connection's or
pool's adapters are touched, and no other value is dumped differently.

The fenced writes name their rows by key and claim token, packed the same way
(`claim_keys`, `fenced_keys`).

Claimed rows come back in binary, and their ``jsonb`` context is parsed by the
JSON module's C scanner directly (`use_binary_results`): psycopg's loader calls
`json.loads` on bytes, which first detects the encoding and skips whitespace in
Python, most of what a context took to load. Registered the same way, on the
claiming cursor only.
"""

from __future__ import annotations

import json
import json.scanner
import struct
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from psycopg import DataError, adapt, pq
from psycopg.abc import AdaptContext, Buffer

from pgqueue.outcomes import ClaimedRow

# array_send's header: dimensions, has-nulls flag, element type; then per
# dimension its length and lower bound (1). An empty array has no dimension.
_HEADER = struct.Struct(">iiiii")
_EMPTY = struct.Struct(">iii")
_INT8_OID, _UUID_OID, _JSONB_OID = 20, 2950, 3802
_INT8_ARRAY_OID, _UUID_ARRAY_OID, _JSONB_ARRAY_OID = 1016, 2951, 3807
#: binary jsonb: a version byte, then the JSON text
_JSONB_VERSION = b"\x01"


class _Packed:
    """An array already in binary wire format."""

    __slots__ = ("count", "data")

    def __init__(self, oid: int, count: int, body: bytes) -> None:
        self.count = count
        if count:
            self.data = _HEADER.pack(1, 0, oid, count, 1) + body
        else:  # an empty array has no dimensions at all
            self.data = _EMPTY.pack(0, 0, oid)

    def __len__(self) -> int:
        return self.count


class Int8Array(_Packed):
    """A ``bigint[]`` parameter."""

    def __init__(self, values: Iterable[int]) -> None:
        items = list(values)
        n = len(items)
        body = struct.pack(f">{'iq' * n}", *[x for v in items for x in (8, v)])
        super().__init__(_INT8_OID, n, body)


class UuidArray(_Packed):
    """A ``uuid[]`` parameter."""

    def __init__(self, values: Iterable[uuid.UUID]) -> None:
        parts = [b"\x00\x00\x00\x10" + v.bytes for v in values]
        super().__init__(_UUID_OID, len(parts), b"".join(parts))


class JsonbArray(_Packed):
    """A ``jsonb[]`` parameter from JSON texts that are already valid."""

    def __init__(self, texts: Iterable[str]) -> None:
        parts = []
        for text in texts:
            data = text.encode()
            parts.append(struct.pack(">i", len(data) + 1) + _JSONB_VERSION + data)
        super().__init__(_JSONB_OID, len(parts), b"".join(parts))


def _dumper(array_oid: int) -> type[adapt.Dumper]:
    class PackedDumper(adapt.Dumper):
        format = pq.Format.BINARY
        oid = array_oid

        def dump(self, obj: object) -> bytes:
            assert isinstance(obj, _Packed)  # noqa: S101 - registered for _Packed types only
            return obj.data

    return PackedDumper


_DUMPERS = (
    (Int8Array, _dumper(_INT8_ARRAY_OID)),
    (UuidArray, _dumper(_UUID_ARRAY_OID)),
    (JsonbArray, _dumper(_JSONB_ARRAY_OID)),
)


def use_packed_arrays(context: AdaptContext) -> None:
    """Let ``context`` (a cursor) send the packed array types."""
    for cls, dumper in _DUMPERS:
        context.adapters.register_dumper(cls, dumper)


#: the C scanner behind `json.loads`: one JSON value from a position
_scan: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(
    json.JSONDecoder()  # type: ignore[arg-type]  # typeshed: it takes the decoder
)


class _JsonbLoader(adapt.Loader):
    """Binary ``jsonb``: a version byte, then the JSON text. PostgreSQL writes one
    value with no space around it, so the scanner's value is the whole text; the
    result is what `json.loads` gives."""

    format = pq.Format.BINARY

    def load(self, data: Buffer) -> Any:
        if data[:1] != _JSONB_VERSION:
            raise DataError(f"unknown jsonb binary format: {bytes(data[:1])!r}")
        value, _ = _scan(bytes(data[1:]).decode(), 0)
        return value


def use_binary_results(context: AdaptContext) -> None:
    """Let ``context`` (a cursor) parse binary ``jsonb`` results with `_JsonbLoader`."""
    context.adapters.register_loader(_JSONB_OID, _JsonbLoader)


#: a claim's identity for the fenced writes: key and token
ClaimKey = tuple[int, int, uuid.UUID]


def claim_keys(claims: Iterable[ClaimedRow]) -> dict[str, Any]:
    """The packed key and token arrays of a fenced write on ``claims``."""
    return fenced_keys((c.execution_id, c.command_id, c.token) for c in claims)


def fenced_keys(items: Iterable[ClaimKey]) -> dict[str, Any]:
    """The packed key and token arrays of a fenced write on ``items``."""
    execution_ids: list[int] = []
    command_ids: list[int] = []
    tokens: list[uuid.UUID] = []
    for execution_id, command_id, token in items:
        execution_ids.append(execution_id)
        command_ids.append(command_id)
        tokens.append(token)
    return {
        "execution_ids": Int8Array(execution_ids),
        "command_ids": Int8Array(command_ids),
        "tokens": UuidArray(tokens),
    }
