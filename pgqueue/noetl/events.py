"""NoETL's event batches, as its own worker posts them (docs/noetl.md has examples).

A start batch (``command.started``, ``step.enter``) and a final one: on success
``call.done``, ``step.exit`` (``COMPLETED``), ``command.completed``; on failure
``call.error``, ``step.exit`` (``FAILED``), ``command.failed``. Each event is
``{step, name, payload, actionable, informative, meta}``; ``command_id`` is the
row's id as a JSON integer; ``call.done``/``call.error`` carry the tool's output
in NoETL's result envelope (``response``) and the control summary (``result``),
plus the loop iteration's ``loop_event_id`` and ``loop_iteration_index``.

The control plane's rules are checked here, before anything is written: a
batch of at most `MAX_BATCH_BYTES`, a ``result`` of only ``status`` and a small
``context``. An output that cannot fit raises `UnreportableResult`, and the
command fails saying so, instead of writing a report the server would refuse.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from pgqueue.outcomes import ClaimedRow
from pgqueue.reporting import Ending, Report, UnreportableResult

#: NoETL takes at most 2 MiB per event batch
MAX_BATCH_BYTES = 2 * 1024 * 1024
#: NoETL drops a result context past 100 KiB; an error text is kept well within it
MAX_ERROR_CHARS = 8 * 1024


def loop_fields(row: ClaimedRow) -> tuple[Any, Any]:
    """A loop iteration's ``(loop_event_id, loop_iteration_index)``: from the row's
    meta first (NoETL's server leaves ``iter_index`` NULL for loop commands),
    then from its columns; ``(None, None)`` outside a loop."""
    meta = row.meta if isinstance(row.meta, dict) else {}
    event_id = meta.get("loop_event_id", row.loop_event_id)
    index = meta.get("loop_iteration_index", row.iter_index)
    return event_id, index


def idempotency_key(row: ClaimedRow, worker_id: str) -> str:
    """A key of NoETL's own worker's form, ``<worker_id>:<execution_id>:<uuid hex>``,
    drawn once per report and sent with every delivery of it."""
    return f"{worker_id}:{row.execution_id}:{uuid.uuid4().hex}"


def _event(
    row: ClaimedRow,
    name: str,
    payload: dict[str, Any],
    *,
    actionable: bool = False,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "step": row.step_name,
        "name": name,
        "payload": payload,
        "actionable": actionable,
        "informative": True,
        "meta": meta or {"command_id": row.command_id},
    }


def _batch(row: ClaimedRow, worker_id: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    return {"execution_id": str(row.execution_id), "worker_id": worker_id, "events": events}


def started(row: ClaimedRow, worker_id: str) -> Report:
    """The start batch: ``command.started``, ``step.enter``."""
    command_id = row.command_id
    body = _batch(
        row,
        worker_id,
        [
            _event(row, "command.started", {"command_id": command_id, "worker_id": worker_id}),
            _event(row, "step.enter", {"command_id": command_id}),
        ],
    )
    return Report(json.dumps(body, separators=(",", ":")), idempotency_key(row, worker_id))


def ended(row: ClaimedRow, ending: Ending, worker_id: str) -> Report:
    """The final batch of a command that completed or failed for good."""
    command_id = row.command_id
    loop_event_id, loop_index = loop_fields(row)
    envelope_id = str(uuid.uuid4())
    completed = ending.status == "COMPLETED"
    error = None if completed else (ending.error or "failed")[:MAX_ERROR_CHARS]
    # the output is spliced in as the JSON text it already is, at this marker
    marker = f"pgqueue-output-{envelope_id}"
    envelope: dict[str, Any] = {
        "id": envelope_id,
        "status": "success" if completed else "error",
        "data": marker if completed else None,
    }
    if error is not None:
        envelope["error"] = error
    status = "COMPLETED" if completed else "FAILED"
    # the control summary: only the envelope's scalars, never the data
    result = {
        "status": status,
        "context": {"id": envelope_id, "status": envelope["status"], "error": error},
    }
    meta: dict[str, Any] = {"command_id": command_id}
    if loop_event_id is not None or loop_index is not None:
        meta.update(loop_event_id=loop_event_id, loop_iteration_index=loop_index)
    call: dict[str, Any] = {
        "response": envelope,
        "command_id": command_id,
        "loop_event_id": loop_event_id,
        "loop_iteration_index": loop_index,
        "result": result,
    }
    if error is not None:
        call["error"] = error
    final: dict[str, Any] = {"command_id": command_id, "worker_id": worker_id, "result": result}
    if error is not None:
        final["error"] = error
    events = [
        _event(row, "call.done" if completed else "call.error", call, actionable=True, meta=meta),
        _event(
            row,
            "step.exit",
            {"status": status, "result": result, "error": error, "command_id": command_id},
        ),
        _event(row, "command.completed" if completed else "command.failed", final),
    ]
    text = json.dumps(_batch(row, worker_id, events), separators=(",", ":"))
    if completed:
        output = ending.result_json if ending.result_json is not None else "null"
        size = len(text) - len(marker) - 2 + len(output.encode())
        if size > MAX_BATCH_BYTES:
            raise UnreportableResult(
                f"the tool's output is {len(output.encode()):,} bytes: NoETL takes at most "
                f"{MAX_BATCH_BYTES:,} bytes per event batch; put it in a store and return a "
                "reference to it"
            )
        text = text.replace(json.dumps(marker), output, 1)
    return Report(text, idempotency_key(row, worker_id))
