"""Built-in tools: ``noop`` and ``sleep`` (benchmarks, tests), ``http``, and the
opt-in ``python`` (an allow-list of modules) and ``postgres`` (a parameterised
statement on the worker's pool)."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from pgqueue.errors import PermanentFailure
from pgqueue.models import Command
from pgqueue.tools import ToolContext, ToolFunction


async def noop(command: Command, ctx: ToolContext) -> dict[str, Any]:
    """Does nothing, successfully."""
    return {}


async def sleep(command: Command, ctx: ToolContext) -> dict[str, Any]:
    """Sleeps ``input.seconds`` (default 1); cancellable."""
    seconds = float(command.input.get("seconds", 1))  # type: ignore[arg-type]
    await asyncio.sleep(seconds)
    return {"slept": seconds}


def _http_call(spec: dict[str, Any]) -> dict[str, Any]:
    url = spec.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise PermanentFailure("http: input.url must be an http:// or https:// URL")
    body = spec.get("body")
    headers = dict(spec.get("headers") or {})
    if "json" in spec:
        body = json.dumps(spec["json"])
        headers.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url,
        data=body.encode() if isinstance(body, str) else None,
        headers=headers,
        method=str(spec.get("method", "GET")).upper(),
    )
    try:
        with urllib.request.urlopen(request, timeout=float(spec.get("timeout", 30))) as response:  # noqa: S310
            status, raw, reply_headers = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        status, raw, reply_headers = exc.code, exc.read(), dict(exc.headers)
    text = raw.decode("utf-8", errors="replace")
    if status >= 500 or status in (408, 429):
        raise RuntimeError(f"http: {status} from {url}")  # worth a retry
    if status >= 400:
        raise PermanentFailure(f"http: {status} from {url}: {text[:200]}")
    try:
        payload: Any = json.loads(text)
    except ValueError:
        payload = text
    return {"status": status, "headers": reply_headers, "body": payload}


async def http(command: Command, ctx: ToolContext) -> dict[str, Any]:
    """``{"url", "method"?, "headers"?, "json"? | "body"?, "timeout"?}`` → status and body.

    5xx, 408 and 429 are retried; other 4xx fail permanently."""
    return await asyncio.to_thread(_http_call, dict(command.input))


def python_tool(allowed_modules: Sequence[str]) -> ToolFunction:
    """``{"callable": "module:function", "args"?: [...], "kwargs"?: {...}}``.

    Only functions in ``allowed_modules`` (or their submodules) may be called:
    anyone who can enqueue could otherwise run any code on the worker."""
    allowed = tuple(allowed_modules)

    async def python(command: Command, ctx: ToolContext) -> Any:
        target = command.input.get("callable")
        if not isinstance(target, str) or ":" not in target:
            raise PermanentFailure("python: input.callable must be 'module:function'")
        module_name, _, attribute = target.partition(":")
        if not any(module_name == m or module_name.startswith(m + ".") for m in allowed):
            raise PermanentFailure(f"python: module {module_name!r} is not in the allow-list")
        function = getattr(importlib.import_module(module_name), attribute, None)
        if not callable(function):
            raise PermanentFailure(f"python: {target} is not callable")
        args = command.input.get("args") or []
        kwargs = command.input.get("kwargs") or {}
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise PermanentFailure("python: args must be a list and kwargs an object")
        if inspect.iscoroutinefunction(function):
            return await function(*args, **kwargs)
        return await asyncio.to_thread(function, *args, **kwargs)

    return python


async def postgres(command: Command, ctx: ToolContext) -> Any:
    """``{"sql": "...", "params"?: [...] | {...}}`` on the worker's pool; rows as objects.

    Opt-in (``--enable-postgres-tool``): it runs whatever statement it is given
    with the worker's role, so grant that role only what these statements need."""
    from psycopg.rows import dict_row

    statement = command.input.get("sql")
    if not isinstance(statement, str) or not statement.strip():
        raise PermanentFailure("postgres: input.sql must be a statement")
    params = command.input.get("params")
    if ctx.pool is None:
        raise PermanentFailure("postgres: this worker has no database pool")
    async with ctx.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(statement.encode(), params)  # bytes: a caller-given statement
        if cur.description is None:
            return {"rowcount": cur.rowcount}
        rows = await cur.fetchall()
    return {"rows": json.loads(json.dumps(rows, default=str)), "rowcount": len(rows)}


DEFAULT_TOOLS: dict[str, ToolFunction] = {"noop": noop, "sleep": sleep, "http": http}
