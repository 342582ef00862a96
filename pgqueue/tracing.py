"""OpenTelemetry spans, when ``opentelemetry-api`` is installed (``pip install
'pgqueue[tracing]'``): one around each enqueue (``pgqueue enqueue``), one around
each command's run (``pgqueue run <tool_kind>``), and the trace carried from the
one to the other in the command's ``meta`` (``meta.pgqueue_trace``, W3C trace
context), so a command's run is a child of the request that enqueued it, in
whichever worker it ran. Without the package, or with no span current when
enqueueing, nothing is written and nothing is traced; with no SDK configured
(no tracer provider set), no span is made at all.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

try:
    from opentelemetry import propagate, trace
except ImportError:  # pragma: no cover - the extra is not installed
    trace = None  # type: ignore[assignment]
    propagate = None  # type: ignore[assignment]

#: the key of ``meta`` that carries the trace context
META_KEY = "pgqueue_trace"

_tracer = trace.get_tracer("pgqueue") if trace is not None else None


#: whether an SDK is configured, and when that was last looked at
_configured = False
_looked_at = -1.0
#: seconds between looks while none is: setting one is a start-up step
_LOOK_EVERY = 1.0


def active() -> bool:
    """Whether an SDK is configured: with none (the API's default provider) a
    span would only cost each run its context switches. Asking the API takes
    a microsecond, a good part of a short command's cost: once one is
    configured it stays (the API sets a provider once), and until then the
    answer is looked up at most once a second."""
    global _configured, _looked_at
    if _configured or _tracer is None:
        return _configured
    now = time.monotonic()
    if now - _looked_at >= _LOOK_EVERY:
        _looked_at = now
        _configured = not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    return _configured


@contextlib.contextmanager
def enqueueing(count: int) -> Iterator[None]:
    """A span around an enqueue of ``count`` commands."""
    if not active():
        yield
        return
    assert _tracer is not None  # noqa: S101 - active() says so
    with _tracer.start_as_current_span(
        "pgqueue enqueue",
        kind=trace.SpanKind.PRODUCER,
        attributes={"messaging.system": "pgqueue", "messaging.batch.message_count": count},
    ):
        yield


def carrier() -> dict[str, str] | None:
    """The current trace context to write into a command's meta (``None``: no
    span is current, nothing to carry)."""
    if propagate is None or not trace.get_current_span().get_span_context().is_valid:
        return None
    found: dict[str, str] = {}
    propagate.inject(found)
    return found or None


@contextlib.contextmanager
def running(tool_kind: str, command_id: str, execution_id: int, meta: Any) -> Iterator[None]:
    """A span around a command's run, a child of the enqueue that carried its
    trace context in ``meta`` (a new trace when none did)."""
    if not active():
        yield
        return
    assert _tracer is not None  # noqa: S101 - active() says so
    carried = meta.get(META_KEY) if isinstance(meta, dict) else None
    parent = propagate.extract(carried) if isinstance(carried, dict) else None
    with _tracer.start_as_current_span(
        f"pgqueue run {tool_kind}",
        context=parent,
        kind=trace.SpanKind.CONSUMER,
        attributes={
            "messaging.system": "pgqueue",
            "messaging.message.id": command_id,
            "pgqueue.execution_id": execution_id,
            "pgqueue.tool_kind": tool_kind,
        },
    ):
        yield
