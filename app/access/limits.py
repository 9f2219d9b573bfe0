"""Request limits, checked before a route runs: body size (413), body type (415), rate (429);
and the security headers every response carries."""

import math
import re
import time
from collections.abc import MutableMapping
from typing import ClassVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.problems import (
    PayloadTooLarge,
    Problem,
    RaisedThrough,
    TooManyRequests,
    UnsupportedMediaType,
    problem_response,
)

API = "/api/"
BODY_METHODS = frozenset({b"POST", b"PUT", b"PATCH"})
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    "connect-src 'self'; frame-ancestors 'none'"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'"


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


class RateLimit:
    """`RATE_LIMIT=120/minute`: per API key, or per client address without one; 429 with
    Retry-After past it. Counted per process, in fixed windows."""

    UNITS: ClassVar[dict[str, int]] = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}

    def __init__(self, app: ASGIApp, rule: str) -> None:
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(second|minute|hour|day)\s*", rule)
        if not match:
            raise ValueError(f"RATE_LIMIT: expected like '120/minute', got '{rule}'")
        self.app = app
        self.limit, self.window = int(match[1]), self.UNITS[match[2]]
        self.counts: MutableMapping[tuple[str, int], int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API):
            await self.app(scope, receive, send)
            return
        now = time.time()
        window = int(now // self.window)
        who = _header(scope, b"authorization") or (scope.get("client") or ("?",))[0]
        key = (str(who)[:64], window)
        if len(self.counts) > 100_000:  # old windows go; memory stays bounded
            self.counts = {k: v for k, v in self.counts.items() if k[1] == window}
        self.counts[key] = self.counts.get(key, 0) + 1
        if self.counts[key] > self.limit:
            retry = max(1, math.ceil((window + 1) * self.window - now))
            problem = TooManyRequests(
                f"Over {self.limit} requests a {self.window} s; retry after {retry} s.",
                headers={"Retry-After": str(retry)},
            )
            await problem_response(problem)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class SecurityHeaders:
    """nosniff everywhere; a Content-Security-Policy that still lets the docs pages work."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope["path"] in ("/docs", "/redoc") or scope["path"].startswith("/docs/")
        policy = DOCS_CSP if docs else API_CSP

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"content-security-policy", policy.encode()))
                headers.append((b"referrer-policy", b"no-referrer"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
