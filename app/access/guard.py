"""The one place access is decided: every API route depends on `guard` (API.md §7)."""

from typing import Annotated

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from app.access.keys import Scope, authenticate, stale, touch
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
    """Check the caller's key against what the request needs; name the actor. Async, so an
    open read costs no threadpool trip; only a key to look up goes to the database."""
    needed = required_scope(request)
    if "authorization" not in request.headers:
        if needed is None:
            return
        raise Unauthorized(f"This request needs an API key with the '{needed}' scope.")
    if credentials is None:
        raise Unauthorized("Authorization: expected 'Bearer <API key>'.")
    await run_in_threadpool(_check_key, request, credentials.credentials, needed)


def _check_key(request: Request, secret: str, needed: Scope | None) -> None:
    engine = request.app.state.engine
    with read_session(engine) as session:
        key = authenticate(session, secret)
    if key is None:
        raise Unauthorized("Unknown or revoked API key.")
    if needed is not None and not key.allows(needed):
        raise Forbidden(f"The key '{key.name}' has the '{key.scope}' scope; this needs '{needed}'.")
    request.state.actor = key.name
    if stale(key):  # at most once a minute a key: most requests write nothing
        with write_session(engine) as session:
            touch(session, session.merge(key))
