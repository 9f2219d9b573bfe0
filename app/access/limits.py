"""Request limits: body size (413) and type (415) before a route runs, the rate (429) once the
guard knows who is asking; and the security headers every response carries."""

import logging
import math
import time

import limits
from limits.aio.strategies import FixedWindowRateLimiter
from limits.storage import storage_from_string
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.problems import (
    PayloadTooLarge,
    Problem,
    RaisedThrough,
    TooManyRequests,
    UnsupportedMediaType,
    problem_response,
)

log = logging.getLogger(__name__)
API = "/api/"
BODY_METHODS = frozenset({b"POST", b"PUT", b"PATCH"})
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    "connect-src 'self'; frame-ancestors 'none'"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'"
# The analyst page: its own script and styles only, and reads from this origin alone.
EXPLORE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _is_json(content_type: str | None) -> bool:
    kind = (content_type or "").split(";")[0].strip().lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


class BodyLimits:
    """413 for a body over `max_bytes` (by Content-Length, or counted as it streams when
    chunked: never read whole into memory first); 415 for an API body that is not JSON."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"].encode() not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        has_body = (length not in (None, "0")) or _header(scope, b"transfer-encoding") is not None
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(scope, receive, send, self._too_large())
            return
        if (
            has_body
            and scope["path"].startswith(API)
            and not _is_json(_header(scope, b"content-type"))
        ):
            problem = UnsupportedMediaType.on(
                "header.Content-Type",
                "not JSON",
                "Content-Type: send JSON (application/json; PATCH also takes "
                "application/merge-patch+json).",
            )
            await self._refuse(scope, receive, send, problem)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise RaisedThrough(self._too_large())
            return message

        await self.app(scope, counted, send)

    def _too_large(self) -> Problem:
        return PayloadTooLarge.on(
            "body",
            f"over {self.max_bytes} bytes",
            f"The body is over the limit of {self.max_bytes} bytes.",
        )

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, problem: Problem) -> None:
        response = problem_response(problem)
        response.headers["Connection"] = "close"  # the unread body is not worth reading
        await response(scope, receive, send)


class RateLimiter:
    """`RATE_LIMIT=120/minute`: a caller's first 120 requests in a minute pass, the next get
    a 429 with Retry-After (fixed windows, counted by the `limits` library). The guard
    names the caller once it knows it: the API key's id, however the header is spelled,
    or the client address for a request without a valid key. Counted in
    `RATE_LIMIT_STORAGE`: this process's memory, or Redis for every worker and replica."""

    def __init__(self, rule: str, storage_uri: str) -> None:
        self.item = limits.parse(rule)
        options: dict[str, str] = {"key_prefix": "battery-intel"}
        if not storage_uri.startswith("memory://"):
            options["implementation"] = "redispy"  # redis-py's asyncio client
        self.storage = storage_from_string(f"async+{storage_uri}", **options)
        self.strategy = FixedWindowRateLimiter(self.storage)

    async def count(self, caller: str) -> None:
        """Count one request of `caller`; a 429 past the limit."""
        try:
            if await self.strategy.hit(self.item, caller):
                return
            stats = await self.strategy.get_window_stats(self.item, caller)
        except Exception as exc:  # the storage is down: serve rather than refuse everyone
            log.warning("rate limit not counted: %s", exc)
            return
        retry = max(1, math.ceil(stats.reset_time - time.time()))
        raise TooManyRequests(
            f"Over {self.item.amount} requests a {self.item.get_expiry()} s; retry after "
            f"{retry} s.",
            headers={"Retry-After": str(retry)},
        )


class SecurityHeaders:
    """nosniff everywhere; a Content-Security-Policy for the API, the docs and the page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path in ("/docs", "/redoc") or path.startswith("/docs/"):
            policy = DOCS_CSP
        elif path == "/explore" or path.startswith("/explore/"):
            policy = EXPLORE_CSP
        else:
            policy = API_CSP

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"content-security-policy", policy.encode()))
                headers.append((b"referrer-policy", b"no-referrer"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
