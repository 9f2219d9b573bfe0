"""The one place access is decided (API.md §7): `Guard`, an ASGI middleware that every
request under /api/ passes before it is routed."""

import asyncio
import logging
import time
import uuid
from collections.abc import Coroutine
from typing import Any

from fastapi import Request
from sqlalchemy import Engine
from starlette import types as asgi
from starlette.concurrency import run_in_threadpool

from app.access.keys import ApiKey, Scope, authenticate, stale, touch
from app.access.limits import RateLimiter
from app.db import read_session, write_session
from app.problems import BadRequest, Forbidden, Unauthorized, as_problem, problem_response

log = logging.getLogger(__name__)
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ADMIN_PATHS = ("/api/v1/keys", "/api/v1/webhooks")

API_PATHS = "/api/"
# How /openapi.json describes the scheme (app.docs puts it on every API operation).
BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "An API key (`battery-intel keys create --name NAME --scope write`). Writes "
    "need `write`, key management `admin`; reads are open unless READS_REQUIRE_KEY=true.",
}


class Guard:
    """Every API request, before routing: its query string holds each parameter once, its
    key (if any) is known and live and has the scope the request needs, and it is counted
    against the rate limit. Decided once here rather than as route dependencies, which
    FastAPI resolves anew on every request, at a third of a short read's time.

    So an unknown path or method under /api/ is refused as any request is (401, 403, 429)
    before it is a 404 or a 405."""

    def __init__(self, app: asgi.ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PATHS):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            single_valued(request)
            await guard(request, bearer_token(request))
        except Exception as exc:  # rendered as the app's handlers would
            await problem_response(as_problem(exc))(scope, receive, send)
            return
        await self.app(scope, receive, send)


def bearer_token(request: Request) -> str | None:
    """The key of `Authorization: Bearer <key>` (any case of `Bearer`); None otherwise."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def single_valued(request: Request) -> None:
    """`?limit=1&limit=2` is a 400: a repeated parameter is a typo, not a choice."""
    seen: set[str] = set()
    for name, _ in request.query_params.multi_items():
        if name in seen:
            raise BadRequest.on(
                f"query.{name}",
                "repeated parameter",
                f"{name}: given more than once; use one value (comma-separated for any of).",
            )
        seen.add(name)


def required_scope(request: Request) -> Scope | None:
    if request.scope["path"].startswith(ADMIN_PATHS):
        return Scope.admin
    if request.method in WRITES:
        return Scope.write
    return Scope.read if request.app.state.settings.reads_require_key else None


async def guard(request: Request, secret: str | None) -> None:
    """Check the caller's key against what the request needs, count it against the rate
    limit, name the actor. Only a key to look up goes to the database (in a thread)."""
    needed = required_scope(request)
    limiter: RateLimiter | None = request.app.state.limiter
    if "authorization" not in request.headers or secret is None:
        if limiter is not None:
            await limiter.count(_address(request))
        if "authorization" in request.headers:
            raise Unauthorized("Authorization: expected 'Bearer <API key>'.")
        if needed is not None:
            raise Unauthorized(f"This request needs an API key with the '{needed}' scope.")
        return
    key = await run_in_threadpool(_known_key, request, secret)
    if limiter is not None:  # a key's requests count against the key, from any address
        await limiter.count(f"key:{key.id}" if key is not None else _address(request))
    if key is None:
        raise Unauthorized("Unknown or revoked API key.")
    if needed is not None and not key.allows(needed):
        raise Forbidden(f"The key '{key.name}' has the '{key.scope}' scope; this needs '{needed}'.")
    request.state.actor = key.name
    now = time.monotonic()
    if stale(key) and now - _last_touch.get(key.id, -TOUCH_EVERY_S) >= TOUCH_EVERY_S:
        _last_touch[key.id] = now  # one write a minute a key, however many requests race
        _soon(run_in_threadpool(_touch, request.app.state.engine, key.id))


# `last_used_at` is a hint, written beside the request rather than in its way: a write lock
# held elsewhere (a locked SQLite file) must not hold up a read.
TOUCH_EVERY_S = 60.0
_last_touch: dict[uuid.UUID, float] = {}  # this process's last write for each key
_touching: set[asyncio.Task[None]] = set()


def _soon(work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.get_running_loop().create_task(work)
    _touching.add(task)
    task.add_done_callback(_touched)


def _touched(task: asyncio.Task[None]) -> None:
    _touching.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.warning("last_used_at not written: %s", task.exception())


def _touch(engine: Engine, key_id: uuid.UUID) -> None:
    with write_session(engine) as session:
        touch(session, key_id)


def _address(request: Request) -> str:
    return f"address:{request.client.host if request.client else '?'}"


def _known_key(request: Request, secret: str) -> ApiKey | None:
    """The live key this secret is; None for an unknown or revoked one."""
    with read_session(request.app.state.engine) as session:
        return authenticate(session, secret)
