"""What a worker shows an operator: Prometheus metrics, health probes, and one log
line per command lifecycle event.

`Metrics` keeps its own `prometheus_client` registry: per tool kind, commands by
outcome and their tools' run time; the claim and completion statements'
latency; slots busy, read-ahead depth, the claim outage; and the queue itself
(pending and due by tool kind, the oldest due command's age, leased and failed
commands) and its flow control (each limit's places and holders, the due
commands held back by a full limit, a full rate or a pause, the paused kinds), read once
per scrape. `Probe` serves
them on ``--metrics-port``: ``/metrics``, ``/healthz`` (live: the worker's loop
answers) and ``/readyz`` (ready: it is claiming; 503 while it cannot, is paused
by a report backlog, or is stopping).

`lifecycle` logs each command's claim and end (completed, retried, failed,
lost, cancelled) at INFO on the ``pgqueue.commands`` logger, with
``command_id``, ``execution_id``, ``tool_kind``, ``attempt`` and ``duration``
as `extra` fields; the CLI turns it on with ``-v``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from pgqueue import flow
from pgqueue.db.gateway import Gateway
from pgqueue.errors import DatabaseError
from pgqueue.models import Command, log_id
from pgqueue.outcomes import ClaimedRow

logger = logging.getLogger(__name__)
commands_logger = logging.getLogger("pgqueue.commands")

#: the outcomes counted per tool kind (the rest are the worker's, not a command's)
OUTCOMES = frozenset(
    {"claimed", "completed", "failed", "retried", "lost", "cancelled", "released", "claim_failed"}
)
#: the outcomes logged as lifecycle lines
LIFECYCLE = {
    "claimed": "claimed",
    "completed": "completed",
    "retried": "failed, due again",
    "failed": "failed for good",
    "lost": "lease lost",
    "cancelled": "cancelled",
}


def _kind(command: Command | ClaimedRow | None) -> str:
    return (command.tool_kind if command is not None else None) or ""


class Metrics:
    """A worker's metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.commands = Counter(
            "pgqueue_commands", "Commands by outcome", ["tool_kind", "outcome"], registry=r
        )
        self.duration = Histogram(
            "pgqueue_command_duration_seconds",
            "How long each command's tool ran",
            ["tool_kind"],
            registry=r,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900),
        )
        self.progress = Counter(
            "pgqueue_progress_updates",
            "Progress values tools reported (ctx.progress) that heartbeats wrote",
            registry=r,
        )
        self.statements = Histogram(
            "pgqueue_statement_duration_seconds",
            "Latency of the worker's statements, by name",
            ["statement"],
            registry=r,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
        )
        self.slots_busy = Gauge("pgqueue_slots_busy", "Commands running now", registry=r)
        self.read_ahead = Gauge(
            "pgqueue_read_ahead", "Commands claimed ahead, waiting for a slot", registry=r
        )
        self.outage = Gauge(
            "pgqueue_claim_outage", "1 while the worker cannot claim (it backs off)", registry=r
        )
        self.pending = Gauge("pgqueue_queue_pending", "PENDING commands", ["tool_kind"], registry=r)
        self.due = Gauge("pgqueue_queue_due", "PENDING commands due now", ["tool_kind"], registry=r)
        self.oldest_due = Gauge(
            "pgqueue_queue_oldest_due_seconds", "Age of the oldest due command", registry=r
        )
        self.leased = Gauge("pgqueue_queue_leased", "CLAIMED or RUNNING commands", registry=r)
        self.failed = Gauge("pgqueue_queue_failed", "FAILED commands", registry=r)
        # flow control, read per scrape too (pgqueue limit list, pgqueue status)
        self.limit_max = Gauge(
            "pgqueue_limit_max_running", "A concurrency limit", ["limit"], registry=r
        )
        self.limit_running = Gauge(
            "pgqueue_limit_running", "Commands holding a limit's places", ["limit"], registry=r
        )
        self.rate_max = Gauge(
            "pgqueue_limit_rate_max_starts",
            "Starts a rate allows in any window of its period",
            ["limit"],
            registry=r,
        )
        self.rate_period = Gauge(
            "pgqueue_limit_rate_period_seconds", "A rate's window", ["limit"], registry=r
        )
        self.rate_started = Gauge(
            "pgqueue_limit_rate_started",
            "Commands started within a rate's window now",
            ["limit"],
            registry=r,
        )
        self.held_back = Gauge(
            "pgqueue_held_back",
            "Due commands held back, by what: a full limit, a full rate, or a paused kind",
            ["reason"],
            registry=r,
        )
        self.paused = Gauge(
            "pgqueue_paused",
            "A paused tool kind (1), with its reason",
            ["tool_kind", "reason"],
            registry=r,
        )
        #: each limit's name and the gauges it was last set in (to drop when gone)
        self._limits: dict[str, tuple[Gauge, ...]] = {}
        self._pauses: set[tuple[str, str]] = set()
        self._kinds: set[str] = set()

    def count(
        self, outcome: str, command: Command | ClaimedRow | None, duration: float | None
    ) -> None:
        """A `WorkerStats` listener."""
        if outcome not in OUTCOMES:
            return
        kind = _kind(command)
        self.commands.labels(kind, outcome).inc()
        if duration is not None:
            self.duration.labels(kind).observe(duration)

    def statement(self, name: str, seconds: float) -> None:
        """A `Gateway` observer."""
        self.statements.labels(name).observe(seconds)

    def queue(self, rows: list[dict[str, Any]]) -> None:
        """The queue's gauges from one read of ``metrics_queue.sql``."""
        seen: set[str] = set()
        oldest = 0.0
        for row in rows:
            kind = row["tool_kind"] or ""
            seen.add(kind)
            self.pending.labels(kind).set(row["pending"])
            self.due.labels(kind).set(row["due"])
            oldest = max(oldest, float(row["oldest_due_seconds"] or 0))
        for gone in self._kinds - seen:
            self.pending.labels(gone).set(0)
            self.due.labels(gone).set(0)
        self._kinds |= seen
        self.oldest_due.set(oldest)
        self.leased.set(sum(int(r["leased"]) for r in rows))
        self.failed.set(sum(int(r["failed"]) for r in rows))

    def flow(self, limits: list[dict[str, Any]], pauses: list[dict[str, Any]]) -> None:
        """The flow-control gauges from ``limit_list.sql`` and ``pause_list.sql``:
        each limit's places and holders (not the default for every execution,
        which has no one count), and the due commands held back."""
        seen: dict[str, tuple[Gauge, ...]] = {}
        held = {"limit": 0, "rate": 0}
        for row in limits:
            limit = flow.limit_of(row)
            if limit.scope == "every_execution":
                continue
            gauges: tuple[Gauge, ...] = ()
            if limit.max_running is not None:
                self.limit_max.labels(limit.name).set(limit.max_running)
                self.limit_running.labels(limit.name).set(limit.running or 0)
                gauges += (self.limit_max, self.limit_running)
            if limit.rate is not None:
                self.rate_max.labels(limit.name).set(limit.rate.count)
                self.rate_period.labels(limit.name).set(limit.rate.period.total_seconds())
                self.rate_started.labels(limit.name).set(limit.started or 0)
                gauges += (self.rate_max, self.rate_period, self.rate_started)
            seen[limit.name] = gauges
            # a command held by both counts once, under the concurrency limit
            if limit.full:
                held["rate" if not limit.running_full else "limit"] += limit.waiting or 0
        for name, gauges in self._limits.items():
            for gauge in set(gauges) - set(seen.get(name, ())):
                gauge.remove(name)
        self._limits = seen
        for reason, count in held.items():
            self.held_back.labels(reason).set(count)
        paused = {(row["tool_kind"], row["reason"] or "") for row in pauses}
        for kind, reason in paused:
            self.paused.labels(kind, reason).set(1)
        for lifted in self._pauses - paused:
            self.paused.remove(*lifted)
        self._pauses = paused
        self.held_back.labels("pause").set(sum(int(row["waiting"]) for row in pauses))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class Probe:
    """``/metrics``, ``/healthz`` and ``/readyz`` on ``port`` (0: any free port)."""

    def __init__(
        self,
        metrics: Metrics,
        ready: Callable[[], str | None],
        *,
        port: int,
        gateway: Gateway | None = None,
        host: str = "0.0.0.0",  # noqa: S104 - probes come from outside the pod
    ) -> None:
        self.metrics = metrics
        #: where the queue's gauges are read, at each scrape
        self.gateway = gateway
        #: why the worker is not ready (``None``: it is)
        self.ready = ready
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass  # the headers: nothing in them matters here
            parts = request.decode("latin-1").split()
            path = parts[1].split("?")[0] if len(parts) > 1 else "/"
            if path == "/metrics" and self.gateway is not None:
                # the queue as it is now; a scrape during an outage shows the rest
                with contextlib.suppress(DatabaseError, TimeoutError):
                    rows = await asyncio.wait_for(self.gateway.read("metrics_queue"), 5)
                    self.metrics.queue(rows)
                    limits = await asyncio.wait_for(self.gateway.read("limit_list"), 5)
                    pauses = await asyncio.wait_for(self.gateway.read("pause_list"), 5)
                    self.metrics.flow(limits, pauses)
            status, body, kind = self._answer(path)
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    def _answer(self, path: str) -> tuple[str, bytes, str]:
        if path == "/metrics":
            return "200 OK", self.metrics.render(), CONTENT_TYPE_LATEST
        if path == "/healthz":
            return "200 OK", b"live\n", "text/plain"
        if path == "/readyz":
            why = self.ready()
            if why is None:
                return "200 OK", b"ready\n", "text/plain"
            return "503 Service Unavailable", f"not ready: {why}\n".encode(), "text/plain"
        return "404 Not Found", b"try /metrics, /healthz or /readyz\n", "text/plain"


def lifecycle(outcome: str, command: Command | ClaimedRow | None, duration: float | None) -> None:
    """A `WorkerStats` listener: one INFO line per lifecycle event of a command."""
    what = LIFECYCLE.get(outcome)
    if what is None or command is None or not commands_logger.isEnabledFor(logging.INFO):
        return
    attempt = command.attempts + 1
    fields: dict[str, Any] = {
        "command_id": log_id(command.command_id),
        "execution_id": command.execution_id,
        "tool_kind": command.tool_kind,
        "attempt": attempt,
        "action": outcome,
    }
    if duration is not None:
        fields["duration"] = round(duration, 6)
    # the run's own time, said as such: "due again … in 0.000s" read as the delay
    took = f", ran {duration:.3f}s" if duration is not None else ""
    commands_logger.info(
        "command %s %s (attempt %d%s)", command.command_id, what, attempt, took, extra=fields
    )
