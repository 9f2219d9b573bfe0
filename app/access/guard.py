"""The one place access is decided: every API route depends on `guard` (API.md §7)."""

import asyncio
import logging
import time
import uuid
from collections.abc import Coroutine
from typing import Annotated, Any

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from app.access.keys import ApiKey, Scope, authenticate, stale, touch
from app.access.limits import RateLimiter
from app.db import read_session, write_session
from app.problems import Forbidden, Unauthorized

log = logging.getLogger(__name__)
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ADMIN_PATHS = ("/api/v1/keys", "/api/v1/webhooks")

bearer = HTTPBearer(
    auto_error=False,
    description="An API key (`battery-intel keys create --name NAME --scope write`). Writes "
    "need `write`, key management `admin`; reads are open unless READS_REQUIRE_KEY=true.",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]


def required_scope(request: Request) -> Scope | None:
    if request.scope["path"].startswith(ADMIN_PATHS):
        return Scope.admin
    if request.method in WRITES:
        return Scope.write
    return Scope.read if request.app.state.settings.reads_require_key else None


async def guard(request: Request, credentials: Credentials) -> None:
    """Check the caller's key against what the request needs, count it against the rate
    limit, name the actor. Async, so an open read costs no threadpool trip; only a key to
    look up goes to the database."""
    needed = required_scope(request)
    limiter: RateLimiter | None = request.app.state.limiter
    if "authorization" not in request.headers or credentials is None:
        if limiter is not None:
            await limiter.count(_address(request))
        if "authorization" in request.headers:
            raise Unauthorized("Authorization: expected 'Bearer <API key>'.")
        if needed is not None:
            raise Unauthorized(f"This request needs an API key with the '{needed}' scope.")
        return
    key = await run_in_threadpool(_known_key, request, credentials.credentials)
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
