"""`NoetlReporter`: reports to NoETL's control plane, as its own workers do.

``POST {api}/api/events/batch`` with the batch (`pgqueue.noetl.events`) and its
``Idempotency-Key``, over one kept-alive HTTP client. What the answer means for
the relay: 2xx delivered; 408, 429, 5xx or no answer: tried again (after
``Retry-After`` when given); any other 4xx: refused for good, parked. The
bearer token is sent, never logged or shown.
"""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any

import anyio
import httpx

from pgqueue.noetl import events
from pgqueue.outcomes import ClaimedRow
from pgqueue.reporting import Delivered, Delivery, Ending, OutboxEntry, Refused, Report, Retry

#: statuses worth another delivery: timeout, too many requests, and every 5xx
_TRANSIENT = {408, 429}


def retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


class NoetlReporter:
    """Reports each command's start and end to the NoETL API at ``api``.

    :param api: the control plane's base URL (``http://noetl:8082``).
    :param token: a bearer token for its API, if it wants one.
    :param timeout: seconds one delivery may take.
    """

    def __init__(self, api: str, *, token: str | None = None, timeout: float = 10.0) -> None:
        url = httpx.URL(api)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"--noetl-api: {api!r} is not an http(s) URL")
        self.api = str(url).rstrip("/")
        self.endpoint = f"{self.api}/api/events/batch"
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._headers = headers
        self._timeout = timeout
        # made now, not at the first report: building the client (its TLS
        # context above all) took about 100 ms, which the first step's report
        # waited for
        self._client: httpx.AsyncClient | None = self._new_client()

    def _new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self._timeout, headers=self._headers)

    def __repr__(self) -> str:  # never the token
        return f"NoetlReporter({self.api!r})"

    # -- what is reported --------------------------------------------------------------

    def started(self, row: ClaimedRow, worker_id: str) -> Report | None:
        return events.started(row, worker_id)

    def ended(self, row: ClaimedRow, ending: Ending, worker_id: str) -> Report | None:
        # an attempt pgqueue retries is not NoETL's business: its call.error would
        # make the engine act on a failure that is not final
        if not ending.final:
            return None
        return events.ended(row, ending, worker_id)

    # -- delivering ----------------------------------------------------------------------

    async def deliver(self, entry: OutboxEntry) -> Delivery:
        if self._client is None:
            self._client = self._new_client()
        body: Any = entry.body
        content = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
        try:
            response = await self._client.post(
                self.endpoint, content=content, headers={"Idempotency-Key": entry.key}
            )
        except httpx.HTTPError as exc:
            return Retry(f"{self.api}: {type(exc).__name__}: {exc}".rstrip(": "))
        status = response.status_code
        if 200 <= status < 300:
            return Delivered()
        text = response.text[:4000]
        if status in _TRANSIENT or status >= 500:
            return Retry(
                f"{self.api} answered {status}: {text[:200]}",
                after=retry_after(response.headers.get("Retry-After")),
            )
        return Refused(status, text)

    async def warm(self) -> None:
        """Load what the first delivery would: httpx's async backend (anyio's
        asyncio support) is imported at the first request, about 20 ms that the
        first report of a worker's life waited for."""
        await anyio.sleep(0)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
