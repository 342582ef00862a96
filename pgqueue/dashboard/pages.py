"""The dashboard's pages: each reads what it shows and renders its template."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import psycopg
import psycopg_pool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from pgqueue import flow, operations
from pgqueue.dashboard import chart, forms, render
from pgqueue.dashboard.guard import COOKIE, Guard
from pgqueue.dashboard.live import Live
from pgqueue.dashboard.reads import DEADLINES, PAGE, STATES, Reads
from pgqueue.db.deadlines import deadline, settings_statement
from pgqueue.db.gateway import Gateway
from pgqueue.db.table import QueueTable
from pgqueue.db.translate import DRIVER_ERRORS, translate
from pgqueue.schedules import schedules as list_schedules

logger = logging.getLogger(__name__)


class Pages:
    """The pages of one queue's dashboard, and signing in."""

    def __init__(
        self,
        pool: psycopg_pool.AsyncConnectionPool[Any],
        table: QueueTable,
        guard: Guard,
        *,
        refresh: float,
        where: str,
    ) -> None:
        self.pool = pool
        self.table = table
        self.guard = guard
        self.where = where
        self.gateway = Gateway(pool, table, DEADLINES)
        self.reads = Reads(self.gateway)
        self.live = Live(self.reads, refresh)
        self.env = render.environment()

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A pooled connection in a transaction of its own, under the dashboard's
        deadline (statement and lock timeouts for the transaction only, and the
        client's own deadline past them), for the operator API's statements:
        the pool may be the host application's, with no timeout of its own."""
        limits = DEADLINES.operator
        try:
            async with (
                self.pool.connection(timeout=limits.client_seconds) as conn,
                deadline(conn, limits.client_seconds),
                conn.transaction(),
            ):
                await conn.execute(settings_statement(limits))
                yield conn
        except DRIVER_ERRORS as exc:
            raise translate(exc) from exc

    # -- rendering -----------------------------------------------------------------

    def page(
        self, request: Request, template: str, status_code: int = 200, **values: Any
    ) -> HTMLResponse:
        values.update(
            request=request,
            # where the app is mounted in a host application ("" on its own)
            root=request.scope.get("root_path", ""),
            queue_name=self.where,
            read_only=self.guard.read_only,
            signed_in=self.guard.signed_in(request),
            csrf=self.guard.csrf(request),
            flash=request.query_params.get("done"),
        )
        html = self.env.get_template(template).render(**values)
        return HTMLResponse(html, status_code=status_code, headers=render.SECURITY_HEADERS)

    def refused(self, request: Request, why: str, status_code: int = 403) -> HTMLResponse:
        return self.page(request, "error.html", status_code=status_code, error=why)

    # -- pages ---------------------------------------------------------------------

    async def overview(self, request: Request) -> Response:
        now = await self.reads.overview()
        return self.page(
            request,
            "overview.html",
            now=now,
            states=STATES,
            bars=chart.bars(now.throughput),
            chart_width=chart.WIDTH,
            chart_height=chart.HEIGHT,
        )

    async def commands(self, request: Request) -> Response:
        params = request.query_params
        where = forms.filter_of(params)
        before = forms.integer(params, "before")
        rows = await self.reads.commands(where, before, PAGE + 1)
        more = len(rows) > PAGE
        rows = rows[:PAGE]
        next_page = None
        if more:
            next_page = "?" + urlencode(where.query() | {"before": rows[-1]["command_id"]})
        return self.page(
            request,
            "commands.html",
            rows=rows,
            where=where,
            states=STATES,
            next_page=next_page,
            first_page="?" + urlencode(where.query()) if before is not None else None,
        )

    async def command(self, request: Request) -> Response:
        command_id = forms.integer(request.path_params, "command_id")
        execution_id = forms.integer(request.query_params, "execution_id")
        assert command_id is not None  # noqa: S101 - the route's pattern is digits
        async with self.connection() as conn:
            state = await operations.get(
                conn, command_id, execution_id=execution_id, table=self.table
            )
            why = await flow.why(
                conn, command_id, execution_id=state.execution_id, table=self.table
            )
        timeline = [
            (label, value)
            for label, value in (
                ("created", state.created_at),
                ("due", state.due_at),
                ("claimed", state.claimed_at),
                ("started", state.started_at),
                ("finished", state.completed_at),
            )
            if value is not None
        ]
        return self.page(request, "command.html", c=state, why=why, timeline=timeline)

    async def execution(self, request: Request) -> Response:
        execution_id = forms.integer(request.path_params, "execution_id")
        assert execution_id is not None  # noqa: S101
        rows, reports = await self.reads.execution(execution_id)
        starts = [r["created_at"] for r in rows if r["created_at"] is not None]
        ends = [r["completed_at"] or r["created_at"] for r in rows if r["created_at"]]
        span = None
        if starts and ends:
            first, last = min(starts), max(ends)
            total = max((last - first).total_seconds(), 0.001)
            span = [
                {
                    "left": (r["created_at"] - first).total_seconds() / total * 100,
                    "width": max(
                        ((r["completed_at"] or last) - r["created_at"]).total_seconds()
                        / total
                        * 100,
                        0.5,
                    ),
                }
                for r in rows
            ]
        return self.page(
            request,
            "execution.html",
            execution_id=execution_id,
            rows=rows,
            reports=reports,
            span=span,
        )

    async def workers(self, request: Request) -> Response:
        return self.page(request, "workers.html", rows=await self.reads.workers())

    async def reports(self, request: Request) -> Response:
        counts = await self.reads.outbox.counts()
        parked = await self.reads.outbox.parked(100)
        return self.page(request, "reports.html", counts=counts, parked=parked)

    async def flow_page(self, request: Request) -> Response:
        async with self.connection() as conn:
            limits = await flow.limits(conn, table=self.table)
            paused = await flow.paused(conn, table=self.table)
        return self.page(request, "flow.html", limits=limits, paused=paused)

    async def schedules_page(self, request: Request) -> Response:
        async with self.connection() as conn:
            found = await list_schedules(conn, table=self.table)
        return self.page(request, "schedules.html", schedules=found)

    async def events(self, request: Request) -> Response:
        async def stream() -> AsyncIterator[str]:
            async for snapshot in self.live.listen():
                yield f"data: {snapshot}\n\n"

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", **render.SECURITY_HEADERS},
        )

    # -- signing in ----------------------------------------------------------------

    async def login_page(self, request: Request) -> Response:
        return self.page(request, "login.html")

    async def login(self, request: Request) -> Response:
        form = await request.form()
        if self.guard.read_only:
            return self.refused(
                request, "the dashboard is read-only: there is nothing to sign in to"
            )
        if not self.guard.token_matches(str(form.get("token") or "")):
            logger.warning(
                "dashboard: a sign-in with a wrong token",
                extra={"action": "dashboard_sign_in", "client": forms.client_of(request)},
            )
            return self.page(request, "login.html", status_code=403, error="wrong token")
        response = RedirectResponse(request.scope.get("root_path", "") + "/", status_code=303)
        response.set_cookie(
            COOKIE, self.guard.session(), httponly=True, samesite="strict", path="/"
        )
        return response

    async def logout(self, request: Request) -> Response:
        response = RedirectResponse(request.scope.get("root_path", "") + "/", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response
