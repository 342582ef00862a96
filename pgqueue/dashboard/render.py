"""How the dashboard's pages are rendered: Jinja2 with autoescaping on, the
filters its templates use, and the headers on every response."""

from __future__ import annotations

from datetime import datetime

from jinja2 import Environment, PackageLoader

from pgqueue.durations import age
from pgqueue.levers import Limit

#: headers on every response: no inline script or style, no framing
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def when(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def limit_form(limit: Limit) -> dict[str, str]:
    """The fields that name ``limit`` to ``/flow/clear``."""
    field = {"tool_kind": "tool_kind", "key": "key", "execution": "execution_id"}
    if limit.scope == "every_execution":
        return {"every_execution": "yes"}
    return {field[limit.scope]: limit.key}


def environment() -> Environment:
    env = Environment(loader=PackageLoader("pgqueue.dashboard"), autoescape=True)
    env.filters["age"] = age
    env.filters["when"] = when
    env.filters["number"] = lambda n: f"{n:,}"
    env.filters["limit_form"] = limit_form
    env.filters["items_to_dict"] = dict
    return env
