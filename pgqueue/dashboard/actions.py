"""The dashboard's actions: plain form POSTs, each through `Guard.refusal` first
and logged with who and what; bulk ones say how many commands they touch and
ask again before they do."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from pgqueue import flow, operations
from pgqueue.dashboard import forms
from pgqueue.dashboard.pages import Pages
from pgqueue.dashboard.reads import MOST_AT_ONCE
from pgqueue.errors import ConfigurationError, PgQueueError
from pgqueue.schedules import pause_schedule, resume_schedule, run_schedule_now

logger = logging.getLogger(__name__)


class Dashboard(Pages):
    """The pages and the actions of one queue's dashboard."""

    # -- actions -------------------------------------------------------------------

    async def act(
        self,
        request: Request,
        what: str,
        action: Callable[[FormData], Awaitable[str]],
        back: str,
    ) -> Response:
        """Run ``action`` if the guard lets it through, log it, and go ``back``
        with what it did."""
        form = await request.form()
        why = self.guard.refusal(request, str(form.get("csrf") or ""))
        if why is not None:
            logger.warning(
                "dashboard: %s refused: %s",
                what,
                why,
                extra={
                    "action": "dashboard_refused",
                    "client": forms.client_of(request),
                    "what": what,
                },
            )
            return self.refused(request, why)
        try:
            done = await action(form)
        except forms.BadInput as exc:
            return self.refused(request, str(exc), 400)
        except ConfigurationError as exc:  # a limit or a rate it cannot take
            return self.refused(request, f"{what}: {exc}", 400)
        except LookupError as exc:
            return self.refused(request, f"{what}: {exc}", 404)
        except PgQueueError as exc:
            return self.refused(request, f"{what}: {exc}", 409)
        logger.info(
            "dashboard: %s: %s",
            what,
            done,
            extra={"action": "dashboard_action", "client": forms.client_of(request), "what": what},
        )
        separator = "&" if "?" in back else "?"
        root = request.scope.get("root_path", "")
        return RedirectResponse(
            f"{root}{back}{separator}{urlencode({'done': done})}", status_code=303
        )

    async def bulk(self, request: Request) -> Response:
        """Retry or cancel the selected commands, or every one under the filter:
        first a page that says how many and asks again, then the action."""
        form = await request.form()
        why = self.guard.refusal(request, str(form.get("csrf") or ""))
        if why is not None:
            return await self.act(request, "bulk action", _never, "/commands")
        try:
            do = str(form.get("do") or "")
            if do not in ("retry", "cancel", "retry-matching", "cancel-matching"):
                raise forms.BadInput(f"do: {do[:20]!r} is no bulk action")
            verb = do.split("-")[0]
            where = forms.filter_of(form)
            if do.endswith("-matching"):
                ids = await self.reads.matching(where)
                if len(ids) > MOST_AT_ONCE:
                    raise forms.BadInput(
                        f"filter: more than {MOST_AT_ONCE:,} commands match; narrow it first"
                    )
            else:
                ids = [forms.command_id_of(value) for value in form.getlist("ids")]
        except forms.BadInput as exc:
            return self.refused(request, str(exc), 400)
        back = "/commands?" + urlencode(where.query())
        if not ids:
            return self.refused(request, "ids: no command selected", 400)
        if form.get("confirmed") != "yes":
            return self.page(
                request,
                "confirm.html",
                do=do,
                verb=verb,
                ids=ids,
                where=where,
                matching=do.endswith("-matching"),
                back=back,
            )

        async def run(_: FormData) -> str:
            async with self.connection() as conn:
                if verb == "retry":
                    changed = await operations.requeue(conn, ids, table=self.table)
                    return f"{len(changed)} of {len(ids)} sent back to PENDING"
                changed = await operations.cancel(
                    conn, ids, reason="cancelled from the dashboard", table=self.table
                )
                return f"{len(changed)} of {len(ids)} cancelled"

        return await self.act(request, f"{verb} {len(ids)} command(s)", run, back)

    async def command_action(self, request: Request) -> Response:
        command_id = forms.integer(request.path_params, "command_id")
        verb = forms.verb_of(request, ("retry", "retry-now", "cancel"))
        back = f"/commands/{command_id}"

        async def run(_: FormData) -> str:
            ids = [command_id] if command_id is not None else []
            async with self.connection() as conn:
                if verb == "retry":
                    done = await operations.requeue(conn, ids, table=self.table)
                    return "sent back to PENDING" if done else "not FAILED: nothing to retry"
                if verb == "retry-now":
                    done = await operations.retry_now(conn, ids, table=self.table)
                    return "due now" if done else "not waiting out a delay"
                done = await operations.cancel(
                    conn, ids, reason="cancelled from the dashboard", table=self.table
                )
                return "cancelled" if done else "already finished: nothing to cancel"

        return await self.act(request, f"{verb} command {command_id}", run, back)

    async def resend(self, request: Request) -> Response:
        report_id = forms.integer(request.path_params, "report_id")

        async def run(_: FormData) -> str:
            n = await self.reads.outbox.requeue([report_id] if report_id is not None else [])
            return f"{n} report(s) sent again"

        return await self.act(request, f"resend report {report_id}", run, "/reports")

    async def flow_action(self, request: Request) -> Response:
        verb = forms.verb_of(request, ("pause", "resume", "set", "clear"))

        async def run(form: FormData) -> str:
            kind = forms.text(form, "tool_kind")
            async with self.connection() as conn:
                if verb in ("pause", "resume"):
                    if kind is None:
                        raise forms.BadInput("tool_kind: name the kind to pause or resume")
                    if verb == "pause":
                        await flow.pause(
                            conn, kind, reason=forms.text(form, "reason"), table=self.table
                        )
                        return f"{kind} paused"
                    await flow.resume(conn, kind, table=self.table)
                    return f"{kind} resumed"
                key = forms.text(form, "key")
                execution_id = forms.integer(form, "execution_id")
                every_execution = form.get("every_execution") == "yes"
                if verb == "clear":
                    await flow.clear_limit(
                        conn,
                        tool_kind=kind,
                        key=key,
                        execution_id=execution_id,
                        every_execution=every_execution,
                        table=self.table,
                    )
                    return "limit cleared"
                await flow.set_limit(
                    conn,
                    max_running=forms.integer(form, "max_running"),
                    rate=forms.text(form, "rate"),
                    tool_kind=kind,
                    key=key,
                    execution_id=execution_id,
                    every_execution=every_execution,
                    table=self.table,
                )
                return "limit set"

        return await self.act(request, f"flow control: {verb}", run, "/flow")

    async def schedule_action(self, request: Request) -> Response:
        name = request.path_params["name"]
        verb = forms.verb_of(request, ("run-now", "pause", "resume"))

        async def run(_: FormData) -> str:
            async with self.connection() as conn:
                if verb == "run-now":
                    ids = await run_schedule_now(conn, name, table=self.table)
                    return f"{name}: enqueued {', '.join(ids)}"
                if verb == "pause":
                    await pause_schedule(conn, name, table=self.table)
                    return f"{name} paused"
                await resume_schedule(conn, name, table=self.table)
                return f"{name} resumed"

        return await self.act(request, f"schedule {name}: {verb}", run, "/schedules")


async def _never(_: FormData) -> str:
    raise AssertionError("a refused action never runs")  # pragma: no cover
