"""The statement templates: value slots as parameters or as literals."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pgqueue import QueueTable

CLAIM_VALUES = {
    "any_kind": False,
    "lease": timedelta(seconds=30),
    "limit": 100,
    "tool_kinds": ("http", "it's"),
    "worker_id": "w'1",
}


def test_a_claim_rendered_with_every_value_has_no_parameter_left() -> None:
    # A statement with no parameter gets its generic plan from its first run.
    text = QueueTable().statement("claim_batch", **CLAIM_VALUES).as_string(None)
    assert "%(" not in text
    assert "LIMIT 100" in text
    assert "worker_id = 'w''1'" in text
    assert "tool_kind = ANY('{http,it''s}')" in text


def test_slots_not_given_stay_parameters() -> None:
    text = QueueTable().statement("claim_batch", limit=5).as_string(None)
    assert "LIMIT 5" in text
    for slot in ("worker_id", "lease", "any_kind", "tool_kinds"):
        assert f"%({slot})s" in text


def test_a_slot_given_as_none_stays_a_parameter() -> None:
    # never a literal NULL: ``LIMIT NULL`` would be no limit at all
    text = QueueTable().statement("claim_batch", limit=None).as_string(None)
    assert "LIMIT %(limit)s" in text


def test_an_unknown_value_slot_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'limt' is not a value slot"):
        QueueTable().statement("claim_batch", limt=5)
