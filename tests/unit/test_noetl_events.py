"""NoETL's event batches as pgqueue builds them (NOETL.md §2)."""

from __future__ import annotations

import email.utils
import json
import time
import uuid
from typing import Any

import pytest

from pgqueue.noetl import NoetlReporter
from pgqueue.noetl.events import MAX_BATCH_BYTES, ended, loop_fields, started
from pgqueue.noetl.reporter import retry_after
from pgqueue.outcomes import ClaimedRow
from pgqueue.reporting import Ending, Report, UnreportableResult, outbox_item


def row(**changes: Any) -> ClaimedRow:
    base = ClaimedRow(
        execution_id=7000000000000000001,
        command_id=7000000000000000042,
        step_name="fetch",
        tool_kind="python",
        context={},
        attempts=0,
        max_attempts=3,
        token=uuid.uuid4(),
        meta={"command_id": 7000000000000000042, "step": "fetch"},
    )
    return base._replace(**changes)


def test_the_start_batch() -> None:
    report = started(row(), "w1")
    body = json.loads(report.body)
    assert body == {
        "execution_id": "7000000000000000001",
        "worker_id": "w1",
        "events": [
            {
                "step": "fetch",
                "name": "command.started",
                "payload": {"command_id": 7000000000000000042, "worker_id": "w1"},
                "actionable": False,
                "informative": True,
                "meta": {"command_id": 7000000000000000042},
            },
            {
                "step": "fetch",
                "name": "step.enter",
                "payload": {"command_id": 7000000000000000042},
                "actionable": False,
                "informative": True,
                "meta": {"command_id": 7000000000000000042},
            },
        ],
    }
    worker, execution, hex_ = report.key.split(":")
    assert (worker, execution, len(hex_)) == ("w1", "7000000000000000001", 32)


def test_the_batch_of_a_completed_command() -> None:
    report = ended(row(), Ending("COMPLETED", 1, result_json='{"rows": [1, 2]}'), "w1")
    body = json.loads(report.body)
    call, exit_, completed = body["events"]
    envelope = call["payload"]["response"]
    assert envelope["data"] == {"rows": [1, 2]}
    assert envelope["status"] == "success"
    uuid.UUID(envelope["id"])
    result = {
        "status": "COMPLETED",
        "context": {"id": envelope["id"], "status": "success", "error": None},
    }
    assert call == {
        "step": "fetch",
        "name": "call.done",
        "payload": {
            "response": envelope,
            "command_id": 7000000000000000042,
            "loop_event_id": None,
            "loop_iteration_index": None,
            "result": result,
        },
        "actionable": True,
        "informative": True,
        "meta": {"command_id": 7000000000000000042},
    }
    assert exit_["name"] == "step.exit" and not exit_["actionable"]
    assert exit_["payload"] == {
        "status": "COMPLETED",
        "result": result,
        "error": None,
        "command_id": 7000000000000000042,
    }
    assert completed["name"] == "command.completed"
    assert completed["payload"] == {
        "command_id": 7000000000000000042,
        "worker_id": "w1",
        "result": result,
    }
    # result holds only what NoETL's rules allow
    assert set(result) <= {"status", "reference", "context"}


def test_the_batch_of_a_failed_command() -> None:
    body = json.loads(ended(row(), Ending("FAILED", 3, error="RuntimeError: down"), "w1").body)
    names = [e["name"] for e in body["events"]]
    assert names == ["call.error", "step.exit", "command.failed"]
    call, exit_, failed = body["events"]
    assert call["actionable"] is True
    assert call["payload"]["error"] == "RuntimeError: down"
    assert call["payload"]["response"]["status"] == "error"
    assert call["payload"]["response"]["error"] == "RuntimeError: down"
    assert call["payload"]["result"]["status"] == "FAILED"
    assert exit_["payload"]["status"] == "FAILED"
    assert exit_["payload"]["error"] == "RuntimeError: down"
    assert failed["payload"]["error"] == "RuntimeError: down"


def test_loop_fields_come_from_meta_first_then_the_columns() -> None:
    meta = {"loop_event_id": 99, "loop_iteration_index": 4}
    assert loop_fields(row(meta=meta, loop_event_id=1, iter_index=None)) == (99, 4)
    assert loop_fields(row(meta=None, loop_event_id=5, iter_index=2)) == (5, 2)
    assert loop_fields(row()) == (None, None)
    body = json.loads(ended(row(meta=meta), Ending("COMPLETED", 1, result_json="1"), "w").body)
    call = body["events"][0]
    assert call["payload"]["loop_event_id"] == 99
    assert call["payload"]["loop_iteration_index"] == 4
    assert call["meta"] == {
        "command_id": 7000000000000000042,
        "loop_event_id": 99,
        "loop_iteration_index": 4,
    }


def test_an_output_past_nodes_batch_limit_is_refused_before_anything_is_written() -> None:
    big = json.dumps("x" * MAX_BATCH_BYTES)
    with pytest.raises(UnreportableResult, match="at most 2,097,152 bytes per event batch"):
        ended(row(), Ending("COMPLETED", 1, result_json=big), "w")
    # just under the limit goes through
    fits = json.dumps("x" * (MAX_BATCH_BYTES - 4096))
    assert len(ended(row(), Ending("COMPLETED", 1, result_json=fits), "w").body) <= MAX_BATCH_BYTES


def test_an_output_holding_the_marker_text_is_kept_whole() -> None:
    # the output is spliced in at a marker: text looking like one stays data
    tricky = json.dumps({"s": "pgqueue-output-x", "q": '"'})
    body = json.loads(ended(row(), Ending("COMPLETED", 1, result_json=tricky), "w").body)
    assert body["events"][0]["payload"]["response"]["data"] == json.loads(tricky)


def test_the_reporter_reports_no_retried_attempt() -> None:
    reporter = NoetlReporter("http://noetl:8082/")
    assert reporter.ended(row(), Ending("RETRIED", 1, error="e"), "w") is None
    assert reporter.ended(row(), Ending("FAILED", 3, error="e"), "w") is not None
    assert reporter.endpoint == "http://noetl:8082/api/events/batch"


@pytest.mark.parametrize("api", ["noetl:8082", "ftp://noetl", ""])
def test_an_api_that_is_no_http_url_is_refused_naming_the_flag(api: str) -> None:
    with pytest.raises(ValueError, match="--noetl-api"):
        NoetlReporter(api)


def test_the_token_is_never_shown() -> None:
    reporter = NoetlReporter("http://noetl:8082", token="s3cret")  # noqa: S106
    assert "s3cret" not in repr(reporter) and "s3cret" not in str(reporter)


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after("5") == 5.0
    assert retry_after(None) is None and retry_after("soon") is None
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= (retry_after(later) or 0) <= 31


def test_an_outbox_item_splices_the_body_in_as_json() -> None:
    item = outbox_item(row(), "finished", Report('{"events": [1]}', "k:1:ab"))
    assert json.loads(item) == {
        "execution_id": 7000000000000000001,
        "command_id": 7000000000000000042,
        "kind": "finished",
        "key": "k:1:ab",
        "body": {"events": [1]},
    }
