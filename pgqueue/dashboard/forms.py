"""The dashboard's inputs: query strings, forms and path parts, each read into
a value or refused with `BadInput`, whose one line names the field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request

from pgqueue.dashboard.reads import STATES, Filter


class BadInput(ValueError):
    """A field the dashboard cannot use; its message names the field."""


def integer(form: Mapping[str, Any], field: str) -> int | None:
    value = str(form.get(field) or "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise BadInput(f"{field}: {value[:40]!r} is not a whole number") from None


def text(form: Mapping[str, Any], field: str) -> str | None:
    value = str(form.get(field) or "").strip()
    return value or None


def filter_of(form: Mapping[str, Any]) -> Filter:
    status = text(form, "status")
    if status is not None and status not in STATES:
        raise BadInput(f"status: {status[:40]!r} is none of {', '.join(STATES)}")
    return Filter(
        status=status,
        tool_kind=text(form, "tool_kind"),
        execution_id=integer(form, "execution_id"),
        concurrency_key=text(form, "concurrency_key"),
        text=text(form, "text"),
    )


def command_id_of(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise BadInput(f"ids: {str(value)[:40]!r} is not a command id") from None


def verb_of(request: Request, verbs: tuple[str, ...]) -> str:
    verb = str(request.path_params["verb"])
    if verb not in verbs:
        raise BadInput(f"action: {verb[:20]!r} is none of {', '.join(verbs)}")
    return verb


def client_of(request: Request) -> str:
    return request.client.host if request.client is not None else "?"
