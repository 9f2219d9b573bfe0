"""The one place access is decided: every API route depends on `guard` (API.md §7)."""

from typing import Annotated

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from app.access.keys import ApiKey, Scope, authenticate, stale, touch
from app.access.limits import RateLimiter
from app.db import read_session, write_session
from app.problems import Forbidden, Unauthorized

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KEYS_PATH = "/api/v1/keys"

bearer = HTTPBearer(
    auto_error=False,
    description="An API key (`battery-intel keys create --name NAME --scope write`). Writes "
    "need `write`, key management `admin`; reads are open unless READS_REQUIRE_KEY=true.",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]


def required_scope(request: Request) -> Scope | None:
    if request.scope["path"].startswith(KEYS_PATH):
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


def _address(request: Request) -> str:
    return f"address:{request.client.host if request.client else '?'}"


def _known_key(request: Request, secret: str) -> ApiKey | None:
    """The live key this secret is, noted as used (at most once a minute: most requests
    write nothing); None for an unknown or revoked one."""
    engine = request.app.state.engine
    with read_session(engine) as session:
        key = authenticate(session, secret)
    if key is not None and stale(key):
        with write_session(engine) as session:
            touch(session, session.merge(key))
    return key
