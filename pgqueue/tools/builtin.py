"""Built-in tools: ``noop`` and ``sleep`` (benchmarks, tests) are on by default.
``http``, ``python`` and ``postgres`` are opt-in, because anyone who can
enqueue a command chooses their input: each is built for a worker by a factory
that says exactly what it may reach (hosts, functions, a pool of its own)."""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

import psycopg_pool

from pgqueue.errors import ConfigurationError, PermanentFailure
from pgqueue.models import Command
from pgqueue.tools import ToolContext, ToolFunction
from pgqueue.tools.threads import in_thread

#: the most bytes of a response the ``http`` tool reads (and stores) by default
HTTP_MAX_BYTES = 1024 * 1024


async def noop(command: Command, ctx: ToolContext) -> dict[str, Any]:
    """Does nothing, successfully."""
    return {}


async def sleep(command: Command, ctx: ToolContext) -> dict[str, Any]:
    """Sleeps ``input.seconds`` (default 1); cancellable."""
    seconds = float(command.input.get("seconds", 1))  # type: ignore[arg-type]
    await asyncio.sleep(seconds)
    return {"slept": seconds}


# -- http -----------------------------------------------------------------------------


class _Hosts:
    """An allow-list of hosts: ``example.com`` exactly, ``*.example.com`` for its
    subdomains (not itself)."""

    def __init__(self, hosts: Sequence[str]) -> None:
        self.exact = {h.lower() for h in hosts if not h.startswith("*.")}
        self.suffixes = tuple(h[1:].lower() for h in hosts if h.startswith("*."))
        if not hosts or any(not h.strip("*.") for h in hosts):
            raise ConfigurationError("http: give the hosts it may reach, e.g. api.example.com")

    def check(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise PermanentFailure("http: input.url must be an http:// or https:// URL")
        host = (parts.hostname or "").lower()
        if host not in self.exact and not host.endswith(self.suffixes or ("\x00",)):
            raise PermanentFailure(f"http: host {host!r} is not in the allow-list")


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to an allowed host: a redirect must not reach
    what the request itself could not."""

    def __init__(self, hosts: _Hosts) -> None:
        self.hosts = hosts

    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        try:
            self.hosts.check(newurl)
        except PermanentFailure:
            fp.close()  # the refused redirect's own response
            raise
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _http_call(spec: dict[str, Any], hosts: _Hosts, max_bytes: int) -> dict[str, Any]:
    url = spec.get("url")
    if not isinstance(url, str):
        raise PermanentFailure("http: input.url must be an http:// or https:// URL")
    hosts.check(url)
    body = spec.get("body")
    headers = dict(spec.get("headers") or {})
    if "json" in spec:
        body = json.dumps(spec["json"])
        headers.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(  # noqa: S310 - scheme and host checked above
        url,
        data=body.encode() if isinstance(body, str) else None,
        headers=headers,
        method=str(spec.get("method", "GET")).upper(),
    )
    opener = urllib.request.build_opener(_CheckedRedirects(hosts))
    try:
        with opener.open(request, timeout=float(spec.get("timeout", 30))) as response:
            status, raw, reply_headers = (
                response.status,
                response.read(max_bytes + 1),
                dict(response.headers),
            )
    except urllib.error.HTTPError as exc:
        with exc:
            status, raw, reply_headers = exc.code, exc.read(max_bytes + 1), dict(exc.headers)
    if len(raw) > max_bytes:
        raise PermanentFailure(f"http: the response from {url} is larger than {max_bytes} bytes")
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


def http_tool(allowed_hosts: Sequence[str], *, max_bytes: int = HTTP_MAX_BYTES) -> ToolFunction:
    """``{"url", "method"?, "headers"?, "json"? | "body"?, "timeout"?}`` → status and body,
    for URLs (and redirects) on ``allowed_hosts`` only, reading at most
    ``max_bytes`` of the response.

    5xx, 408 and 429 are retried; other 4xx, a host not allowed and a response
    over the cap fail permanently."""
    hosts = _Hosts(allowed_hosts)
    if max_bytes < 1:
        raise ConfigurationError("http: max_bytes must be at least 1")

    async def http(command: Command, ctx: ToolContext) -> dict[str, Any]:
        return await in_thread(
            _http_call, dict(command.input), hosts, max_bytes, name="pgqueue-http"
        )

    return http


# -- python ---------------------------------------------------------------------------


def python_tool(allowed_modules: Sequence[str], *, callables: Sequence[str] = ()) -> ToolFunction:
    """``{"callable": "module:function", "args"?: [...], "kwargs"?: {...}}``.

    Only functions *defined* in ``allowed_modules`` (or their submodules) may be
    called, and any ``module:function`` named in ``callables``: anyone who can
    enqueue could otherwise run any code on the worker, through whatever an
    allowed module happens to import (``subprocess.check_output``)."""
    allowed = tuple(allowed_modules)
    named = frozenset(callables)

    def within(module: str) -> bool:
        return any(module == m or module.startswith(m + ".") for m in allowed)

    async def python(command: Command, ctx: ToolContext) -> Any:
        target = command.input.get("callable")
        if not isinstance(target, str) or ":" not in target:
            raise PermanentFailure("python: input.callable must be 'module:function'")
        module_name, _, attribute = target.partition(":")
        if target not in named and not within(module_name):
            raise PermanentFailure(f"python: module {module_name!r} is not in the allow-list")
        if attribute.startswith("_") or "." in attribute:
            raise PermanentFailure(f"python: {target} is not a public function")
        function = getattr(importlib.import_module(module_name), attribute, None)
        if target not in named and not (
            inspect.isfunction(function) and within(getattr(function, "__module__", "") or "")
        ):
            raise PermanentFailure(
                f"python: {target} is not a function defined in an allowed module"
            )
        if not callable(function):
            raise PermanentFailure(f"python: {target} is not callable")
        args = command.input.get("args") or []
        kwargs = command.input.get("kwargs") or {}
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise PermanentFailure("python: args must be a list and kwargs an object")
        if inspect.iscoroutinefunction(function):
            return await function(*args, **kwargs)
        return await in_thread(functools.partial(function, *args, **kwargs), name="pgqueue-python")

    return python


# -- postgres -------------------------------------------------------------------------


def postgres_tool(pool: psycopg_pool.AsyncConnectionPool[Any]) -> ToolFunction:
    """``{"sql": "...", "params"?: [...] | {...}}`` on ``pool``; rows as objects.

    Give it a pool of its own (`postgres_tool_pool`), never the worker's: it runs
    whatever statement it is given, and a statement can change the session it
    runs on (``SET default_transaction_read_only = on``). Grant that pool's role
    only what these statements need."""

    async def postgres(command: Command, ctx: ToolContext) -> Any:
        from psycopg.rows import dict_row

        statement = command.input.get("sql")
        if not isinstance(statement, str) or not statement.strip():
            raise PermanentFailure("postgres: input.sql must be a statement")
        params = command.input.get("params")
        async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(statement.encode(), params)  # bytes: a caller-given statement
            if cur.description is None:
                return {"rowcount": cur.rowcount}
            rows = await cur.fetchall()
        return {"rows": json.loads(json.dumps(rows, default=str)), "rowcount": len(rows)}

    return postgres


def postgres_tool_pool(
    conninfo: str, *, role: str | None = None, max_size: int = 4
) -> psycopg_pool.AsyncConnectionPool[Any]:
    """A pool for the ``postgres`` tool, not yet open: each statement is its own
    transaction, the session is reset (``DISCARD ALL``) every time a connection
    comes back, and with ``role`` every session runs as that role
    (``SET ROLE``, which the pool's login role must be a member of)."""
    from psycopg import AsyncConnection, sql

    async def as_role(conn: AsyncConnection[Any]) -> None:
        if role is not None:
            await conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))

    async def reset(conn: AsyncConnection[Any]) -> None:
        # whatever the caller's statement set on the session goes with it
        await conn.execute("DISCARD ALL")
        await as_role(conn)

    return psycopg_pool.AsyncConnectionPool(
        conninfo,
        min_size=1,
        max_size=max_size,
        open=False,
        name="pgqueue-postgres-tool",
        kwargs={"autocommit": True},
        configure=as_role,
        reset=reset,
    )


DEFAULT_TOOLS: dict[str, ToolFunction] = {"noop": noop, "sleep": sleep}
