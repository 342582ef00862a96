"""Packed binary array parameters come out of PostgreSQL as they went in."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg
import pytest

from pgqueue.db.wire import Int8Array, JsonbArray, UuidArray, use_binary_results, use_packed_arrays

Conn = psycopg.Connection[Any]


@pytest.mark.parametrize("count", [0, 1, 1000])
def test_arrays_round_trip(db: Conn, count: int) -> None:
    ints = [(-1) ** i * (2**63 - 1 - i) for i in range(count)]
    tokens = [uuid.uuid4() for _ in range(count)]
    texts = ['{"é":[1,2.5,null],"s":"x\\ty"}' if i % 2 else "{}" for i in range(count)]
    packed = Int8Array(ints), UuidArray(tokens), JsonbArray(texts)
    assert [len(array) for array in packed] == [count] * 3  # an empty one is falsy
    with db.cursor() as cur:
        use_packed_arrays(cur)
        cur.execute(
            "SELECT %(ints)b::bigint[], %(tokens)b::uuid[], %(docs)b::jsonb[],"
            " pg_typeof(%(ints)b), cardinality(%(docs)b::jsonb[])",
            {"ints": Int8Array(ints), "tokens": UuidArray(tokens), "docs": JsonbArray(texts)},
        )
        got = cur.fetchone()
    assert got is not None
    assert got[0] == ints
    assert got[1] == tokens
    assert got[2] == [json.loads(t) for t in texts]
    assert got[3] == "bigint[]"
    assert got[4] == count


def test_the_packed_types_need_the_cursor_that_knows_them(db: Conn) -> None:
    # Nothing is registered globally: another cursor refuses them rather than
    # guessing, so no value of the caller's is ever dumped differently.
    with db.cursor() as cur, pytest.raises(psycopg.ProgrammingError):
        cur.execute("SELECT %s::bigint[]", (Int8Array([1]),))


def test_binary_jsonb_results_load_as_json_loads_would(db: Conn) -> None:
    docs = [
        "{}",
        '{"é": [1, 2.5, null, true], "s": "x\\ty\\\\z\\"q", "n": {"deep": []}}',
        '{"big": 1e300, "int": 100000000000000000000000000000, "neg": -0.0, "u": "\\ud83d\\ude00"}',
        "[1, 2]",
        '"text"',
        "null",
    ]
    with db.cursor() as cur:
        use_binary_results(cur)
        cur.execute(
            "SELECT d::jsonb, d::jsonb::text FROM unnest(%s::text[]) AS d", (docs,), binary=True
        )
        rows = cur.fetchall()
    assert [got for got, _ in rows] == [json.loads(text) for _, text in rows]
    assert rows[0][0] == {} and rows[2][0]["int"] == 10**29 and rows[2][0]["u"] == "😀"


def test_a_jsonb_result_in_an_unknown_binary_version_is_refused(db: Conn) -> None:
    with db.cursor() as cur:
        use_binary_results(cur)
        loader = cur.adapters.get_loader(3802, psycopg.pq.Format.BINARY)
        assert loader is not None
        with pytest.raises(psycopg.DataError, match="unknown jsonb binary format"):
            loader(3802, cur).load(b"\x02{}")
