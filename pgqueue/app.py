"""The composition root: one call builds and runs the worker that ``pgqueue
worker`` runs, from `WorkerSettings`.

``pgqueue worker`` maps its flags onto `WorkerSettings` and calls this; an
application that embeds pgqueue does the same with its own settings and tools,
and gets every collaborator the CLI wires (pools, gateway, completer, lease
keeper, relay and outbox, worker registry, NoETL's runtime row, listener,
retention, metrics and probes)::

    settings = WorkerSettings(dsn="postgresql://worker@db/app", concurrency=20)
    stats = await run_worker(settings, tools={"resize": resize})

`WorkerApp` is the same in two steps (``async with WorkerApp(...) as app``:
everything opened and checked; ``await app.run()``), for a caller that wants
the `Worker` in hand first, or what is left unserved afterwards. Shutdown is
the reverse order of use: slots, services (leases, relay, registry), source, pools.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import psycopg
import psycopg_pool

from pgqueue import dsn as dsns
from pgqueue import migrate as migrations
from pgqueue import retention as retentions
from pgqueue.cron import InvalidSchedule
from pgqueue.db.connect import check_reachable, open_pool
from pgqueue.db.deadlines import DEFAULT_DEADLINES, Deadline, Deadlines
from pgqueue.db.gateway import Gateway
from pgqueue.db.noetl import noetl_tables
from pgqueue.db.outbox import Outbox
from pgqueue.db.table import QueueTable
from pgqueue.errors import ConfigurationError, DatabaseUnavailable
from pgqueue.noetl import NoetlReporter, RuntimeHeartbeat
from pgqueue.observability import Metrics, Probe, lifecycle
from pgqueue.pg_source import PgCommandSource
from pgqueue.registry import STALE, Registry
from pgqueue.relay import Relay
from pgqueue.schedule_file import load, put_all
from pgqueue.scheduler import Scheduler
from pgqueue.settings import WorkerSettings
from pgqueue.tools import ToolFunction, import_tools
from pgqueue.tools.builtin import (
    DEFAULT_TOOLS,
    http_tool,
    postgres_tool,
    postgres_tool_pool,
    python_tool,
)
from pgqueue.worker import Worker, WorkerStats

logger = logging.getLogger(__name__)


def deadlines_of(settings: WorkerSettings) -> Deadlines:
    """The deadlines the settings give: claims and completions share theirs."""
    limit = Deadline(settings.statement_timeout, settings.lock_timeout)
    return dataclasses.replace(DEFAULT_DEADLINES, claim=limit, completion=limit)


def resolve_dsn(settings: WorkerSettings) -> str:
    """The settings' DSN, else ``PGQUEUE_DSN``, ``DATABASE_URL``, then libpq's
    ``PG*``; checked (`pgqueue.dsn.validate`). `ConfigurationError` when none."""
    found = dsns.resolve(settings.dsn)
    if found is None:
        raise ConfigurationError(
            "no database configured: pass --dsn, or set PGQUEUE_DSN or DATABASE_URL "
            "(or libpq's PGHOST and friends)"
        )
    dsn, source = found
    return dsns.validate(dsn, name="dsn" if source == "--dsn" else source) if dsn else dsn


class WorkerApp:
    """A worker process's parts, opened by ``async with`` and run by `run`.

    :param tools: tool functions by kind, registered beside the settings' own
        (``tools`` modules, the built-ins the settings enable).
    :param signals: install SIGTERM/SIGINT handlers (the first drains, a second
        stops now); off by default for an embedding application's own loop.
    """

    def __init__(
        self,
        settings: WorkerSettings,
        *,
        tools: Mapping[str, ToolFunction] | None = None,
        signals: bool = False,
    ) -> None:
        self.settings = settings
        self.extra_tools = dict(tools or {})
        self.signals = signals
        self.worker_id = settings.worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.table = QueueTable(schema=settings.schema_name)
        self._stack = contextlib.AsyncExitStack()
        self.worker: Worker
        self.gateway: Gateway
        self.relay: Relay | None = None
        self.probe: Probe | None = None
        self._pruner: retentions.Pruner | None = None

    # -- opening ----------------------------------------------------------------------

    async def __aenter__(self) -> WorkerApp:
        try:
            await self._open()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()

    async def _open(self) -> None:
        settings = self.settings
        dsn = resolve_dsn(settings)
        reporter = self._reporter()
        stack = self._stack
        # The queue's own statements are batched (one claim for all slots, one
        # statement per flush of completions): a few connections carry them,
        # in autocommit mode (each is a transaction of its own). Tools get a
        # pool of their own, so a tool can never starve them. Behind a
        # transaction pooler nothing may be prepared on a connection.
        prepare = {"prepare_threshold": None} if settings.transaction_pooler else {}
        own = {**prepare, "autocommit": True}
        pool = await stack.enter_async_context(open_pool(dsn, max_size=4, kwargs=own))
        tool_pool = await stack.enter_async_context(
            open_pool(dsn, max_size=settings.concurrency, kwargs=prepare, name="pgqueue-tools")
        )
        postgres_pool = None
        if settings.enable_postgres_tool:
            postgres_pool = await self._postgres_tool(settings.postgres_tool_dsn or dsn)
        self.gateway = gateway = Gateway(pool, self.table)
        await migrations.wait_for_revision(
            dsn, settings.schema_name, settings.schema_wait.total_seconds()
        )
        if reporter is not None:
            # deliveries hold their reports locked: a connection of their own
            relay_pool = await stack.enter_async_context(
                open_pool(dsn, max_size=1, name="pgqueue-relay")
            )
            self.relay = Relay(
                Outbox(relay_pool, self.table),
                reporter,
                backlog=settings.noetl_backlog,
                worker_id=self.worker_id,
            )
        self.worker = worker = self._build(pool, tool_pool, postgres_pool)
        self.served = served = sorted(settings.tool_kinds or worker.tools.kinds)
        registry = Registry(
            gateway, worker_id=self.worker_id, tool_kinds=served, concurrency=settings.concurrency
        )
        await registry.join()  # WorkerIdInUse: another live process has this id
        worker.services.append(registry)
        if reporter is not None and (await noetl_tables(gateway)).runtime:
            worker.services.append(
                RuntimeHeartbeat(
                    gateway,
                    worker_id=self.worker_id,
                    capacity=settings.concurrency,
                    tool_kinds=served,
                )
            )
        await self._schedules(dsn)
        retention = await self._retention()
        if retention is not None:
            self._pruner = retentions.Pruner(gateway, retention)
        if logging.getLogger("pgqueue.commands").isEnabledFor(logging.INFO):
            worker.stats.listeners.append(lifecycle)  # a line per command
        self.probe = await self._observe()

    async def _postgres_tool(self, dsn: str) -> psycopg_pool.AsyncConnectionPool[Any]:
        """The postgres tool's pool, checked now: a DSN it cannot use is said at
        start, naming it, not by every command waiting out a pool that never fills."""
        where = "postgres_tool_dsn" if self.settings.postgres_tool_dsn else "dsn"
        try:
            await check_reachable(dsn)
        except DatabaseUnavailable as exc:
            raise DatabaseUnavailable(f"{where}: {exc} (the postgres tool's database)") from None
        pool = postgres_tool_pool(dsn, role=self.settings.postgres_tool_role)
        await self._stack.enter_async_context(pool)
        try:
            await pool.wait(timeout=30)
        except psycopg_pool.PoolTimeout:
            raise ConfigurationError(
                f"{where}: the postgres tool's pool could not open a session in 30s"
                + (
                    f" as role {self.settings.postgres_tool_role}"
                    if self.settings.postgres_tool_role
                    else ""
                )
            ) from None
        return pool

    def _reporter(self) -> NoetlReporter | None:
        api = self.settings.noetl_api
        if not api:
            return None
        token = self.settings.noetl_token
        try:
            return NoetlReporter(api, token=token.get_secret_value() if token else None)
        except ValueError as exc:
            raise ConfigurationError(f"noetl_api: {exc}") from None

    def _build(
        self,
        pool: psycopg_pool.AsyncConnectionPool[Any],
        tool_pool: psycopg_pool.AsyncConnectionPool[Any],
        postgres_pool: psycopg_pool.AsyncConnectionPool[Any] | None,
    ) -> Worker:
        settings, relay = self.settings, self.relay
        source = PgCommandSource(
            pool,
            worker_id=self.worker_id,
            tool_kinds=settings.tool_kinds or None,
            wait=not settings.until_empty,
            # --until-empty is done only once no retry falls due within a lease
            drain_within=settings.lease if settings.until_empty else None,
            lease_for=settings.lease,
            poll_interval=settings.poll_interval.total_seconds(),
            prefetch=settings.prefetch,
            table=self.table,
            deadlines=deadlines_of(settings),
            listen=not settings.transaction_pooler,
            listen_conninfo=settings.listen_dsn,
            reporter=relay.reporter if relay is not None else None,
            paused=relay.paused if relay is not None else None,
        )
        if relay is not None:
            source.completer.on_reports = relay.poke
            source.completer.on_pending = relay.count
            source.completer.on_committed = relay.committed
        worker = Worker(
            source,
            concurrency=settings.concurrency,
            timeout=settings.timeout.total_seconds() if settings.timeout else None,
            grace=settings.grace.total_seconds(),
            pool=tool_pool,
            services=[relay] if relay is not None else [],
        )
        for kind, function in DEFAULT_TOOLS.items():
            worker.register(kind, function)
        if settings.http_allow_host:
            worker.register(
                "http", http_tool(settings.http_allow_host, max_bytes=settings.http_max_bytes)
            )
        if settings.python_module or settings.python_callable:
            worker.register(
                "python",
                python_tool(settings.python_module, callables=settings.python_callable),
            )
        if postgres_pool is not None:
            worker.register("postgres", postgres_tool(postgres_pool))
        given = [(f"--tools {name}", import_tools(name)) for name in settings.tools]
        given.append(("tools", self.extra_tools))
        for where, tools in given:
            for kind, function in tools.items():
                try:
                    worker.register(kind, function)
                except (TypeError, ValueError) as exc:
                    raise ConfigurationError(f"{where}: {exc}") from None
        missing = sorted(set(settings.tool_kinds or ()) - set(worker.tools.kinds))
        if missing:
            them = "it" if len(missing) == 1 else "them"
            raise ConfigurationError(
                f"tool_kinds {' '.join(missing)}: no tool for {them} (tools here: "
                f"{', '.join(worker.tools.kinds)}; add one with --tools MODULE)"
            )
        return worker

    async def _schedules(self, dsn: str) -> None:
        """Add the ``schedules`` file's schedules; run the scheduler unless told not to."""
        path = self.settings.schedules
        if path is not None:
            try:
                entries = load(path)
            except InvalidSchedule as exc:
                raise ConfigurationError(f"schedules: {exc}") from None
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                added = await put_all(conn, entries, self.table)
            logger.info(
                "schedules of %s: %s",
                path,
                ", ".join(s.name for s in added) or "none",
                extra={"worker_id": self.worker_id, "action": "schedule"},
            )
        if not self.settings.no_schedules:
            self.worker.services.append(Scheduler(self.gateway, worker_id=self.worker_id))

    async def _retention(self) -> retentions.Retention | None:
        policy = self.settings.retention
        if policy == "off":
            return None
        if policy == "auto":
            return await retentions.default_for(self.gateway)
        assert not isinstance(policy, str)  # noqa: S101 - a window, by the settings' type
        return retentions.Retention(policy)

    async def _observe(self) -> Probe | None:
        """With ``metrics_port``: metrics on the worker's counts and statements,
        the queue's gauges, and the probes, served on that port."""
        port = self.settings.metrics_port
        if port is None:
            return None
        worker, relay = self.worker, self.relay
        metrics = Metrics()
        worker.stats.listeners.append(metrics.count)
        source = worker.leased
        if isinstance(source, PgCommandSource):
            source.gateway.observe = metrics.statement
            source.completer.heartbeats.observe = metrics.statement
            metrics.read_ahead.set_function(lambda: len(source.prefetched()))
        metrics.slots_busy.set_function(lambda: worker.in_flight)
        worker.on_progress = metrics.progress.inc

        def claim_error() -> str | None:
            # the source knows whether its last claim ran: an idle worker gets no
            # outcome that would tell it the database is back
            return source.claim_error if isinstance(source, PgCommandSource) else None

        metrics.outage.set_function(lambda: claim_error() is not None)

        def not_ready() -> str | None:
            if worker.stopping:
                return "stopping"
            error = claim_error()
            if error is not None:
                return f"cannot claim: {error}"
            return relay.paused() if relay is not None else None

        probe = Probe(metrics, not_ready, port=port, gateway=self.gateway)
        try:
            await probe.open()
        except OSError as exc:
            raise ConfigurationError(f"metrics_port {port}: {exc.strerror}") from None
        self._stack.push_async_callback(probe.stop)
        logger.info(
            "metrics on port %d: /metrics, /healthz, /readyz",
            probe.port,
            extra={"worker_id": self.worker_id, "action": "metrics", "port": probe.port},
        )
        return probe

    # -- running ----------------------------------------------------------------------

    async def run(self) -> WorkerStats:
        """Run until stopped (or, with ``until_empty``, until nothing is claimable)."""
        from pgqueue.runtime import settle_heap

        if self.signals:
            self.worker.install_signal_handlers()
        settle_heap()  # start-up is done: this process now only runs the worker
        if self._pruner is not None:
            self._pruner.start()
        try:
            return await self.worker.run()
        finally:
            if self._pruner is not None:
                await self._pruner.stop()

    async def unserved(self) -> list[dict[str, Any]]:
        """Pending kinds no live worker serves, this one aside (after
        ``until_empty``, they wait forever): ``tool_kind`` and ``pending`` each."""
        rows = await self.gateway.read("status_unserved", {"stale": STALE})
        return [r for r in rows if r["tool_kind"] not in self.served]

    async def later(self) -> list[dict[str, Any]]:
        """Pending commands of the kinds this worker served (after
        ``until_empty``: due beyond a lease, so it did not wait for them):
        ``tool_kind``, ``pending`` and ``next_due`` each."""
        return await self.gateway.read("status_later", {"tool_kinds": self.served})


async def run_worker(
    settings: WorkerSettings, *, tools: Mapping[str, ToolFunction] | None = None
) -> WorkerStats:
    """Build the worker ``settings`` describe, with ``tools`` besides its own, and
    run it until `Worker.stop` (or, with ``until_empty``, until the queue is
    empty); its stats. See `WorkerApp` to hold the worker while it runs."""
    async with WorkerApp(settings, tools=tools) as app:
        return await app.run()


__all__ = ["WorkerApp", "deadlines_of", "run_worker"]
