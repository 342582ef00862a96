"""Who may act: the token, the session it opens, and the checks every action
passes (token, CSRF, same origin). Reading needs nothing: the dashboard binds
127.0.0.1 unless told otherwise.

The token is compared in constant time. Signing in with it sets a session
cookie that is an HMAC of the token (so the server keeps no state and a
restart with a new token ends every session); the CSRF token of a form is an
HMAC of that session. The cookie is ``HttpOnly`` and ``SameSite=Strict``: a
cross-site form never carries it, and a POST whose ``Origin`` is another site
is refused before anything else is looked at.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from starlette.requests import Request

#: the session cookie's name
COOKIE = "pgqueue_dashboard"


class Guard:
    """The checks of one dashboard; ``token`` ``None``: read-only, every action
    refused."""

    def __init__(self, token: str | None, *, read_only: bool) -> None:
        self._token = token.encode() if token else None
        self.read_only = read_only or not token

    def _mac(self, what: str) -> str:
        assert self._token is not None  # noqa: S101 - only called with a token
        return hmac.new(self._token, what.encode(), hashlib.sha256).hexdigest()

    def token_matches(self, given: str) -> bool:
        if self._token is None:
            return False
        return hmac.compare_digest(given.encode(), self._token)

    def session(self) -> str:
        """The cookie's value once the token was given."""
        return self._mac("session")

    def signed_in(self, request: Request) -> bool:
        """Whether the request carries the session cookie or the token itself
        (``Authorization: Bearer``, for scripts)."""
        if self.read_only:
            return False
        bearer = request.headers.get("authorization", "")
        if bearer.lower().startswith("bearer ") and self.token_matches(bearer[7:].strip()):
            return True
        cookie = request.cookies.get(COOKIE, "")
        return bool(cookie) and hmac.compare_digest(cookie, self.session())

    def csrf(self, request: Request) -> str:
        """The CSRF token a form of this session carries (empty when signed out)."""
        if not self.signed_in(request):
            return ""
        return self._mac("csrf:" + request.cookies.get(COOKIE, ""))

    def refusal(self, request: Request, form_csrf: str) -> str | None:
        """Why an action is refused, or ``None`` to let it through."""
        if not same_origin(request):
            return "cross-site request refused"
        if self.read_only:
            return "the dashboard is read-only"
        if not self.signed_in(request):
            return "sign in with the dashboard's token first"
        if request.headers.get("authorization"):
            return None  # a script with the token: no cookie, so no CSRF to check
        if not hmac.compare_digest(form_csrf, self.csrf(request)):
            return "the form's CSRF token does not match this session"
        return None


def same_origin(request: Request) -> bool:
    """Whether a state-changing request comes from the dashboard's own pages:
    its ``Origin`` (or, lacking one, its ``Referer``) names this host. A request
    with neither, such as a script's, passes this check only."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return source != "null"
    host = request.headers.get("host", "")
    return urlsplit(source).netloc == host
