"""Idempotency keys: a retried POST (or batch) replays the first answer instead of writing
twice. The key is stored in the same transaction as the write it answers, so a crash can
never leave a write without its key or a key without its write."""

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.responses import Response
from sqlalchemy import JSON, Integer, String, Text, delete, text
from sqlmodel import Field, Session, SQLModel, col

from app.actor import current_actor
from app.columns import NAME_MAX, UTCDateTime, utcnow
from app.problems import BadRequest, Unprocessable

KEEP = dt.timedelta(hours=24)
REPLAYED_HEADERS = ("content-type", "location", "etag")
_KEY = re.compile(r"[\x21-\x7e]{1,255}")


class IdempotencyKey(SQLModel, table=True):
    __tablename__ = "idempotency_keys"

    scope: str = Field(sa_type=String(NAME_MAX), primary_key=True)  # the caller
    key: str = Field(sa_type=String(255), primary_key=True)
    fingerprint: str = Field(sa_type=String(64))
    status: int = Field(sa_type=Integer)
    headers: dict[str, str] = Field(sa_type=JSON)
    body: str = Field(sa_type=Text)
    created_at: dt.datetime = Field(sa_type=UTCDateTime, index=True)


@dataclass(frozen=True)
class Idempotency:
    """An `Idempotency-Key` request: who asked, the key, and what exactly was asked."""

    scope: str
    key: str
    fingerprint: str

    def replay(self, session: Session) -> Response | None:
        """The stored answer to this key, if any; 422 if the key came with another request."""
        if session.get_bind().dialect.name == "postgresql":
            # Two requests with one key run one after the other: the second waits here,
            # then finds the first one's answer. (SQLite writers are serialised anyway.)
            lock = int.from_bytes(
                hashlib.sha256(f"{self.scope}\n{self.key}".encode()).digest()[:8],
                "big",
                signed=True,
            )
            session.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": lock})
        stored = session.get(IdempotencyKey, (self.scope, self.key))
        if stored is None or stored.created_at < utcnow() - KEEP:
            return None
        if stored.fingerprint != self.fingerprint:
            raise Unprocessable.on(
                "header.Idempotency-Key",
                "reused with another body",
                "Idempotency-Key: this key was used with a different request; use a new key.",
            )
        headers = {**stored.headers, "Idempotent-Replayed": "true"}
        return Response(stored.body, status_code=stored.status, headers=headers)

    def remember(self, session: Session, response: Response) -> None:
        """Store the answer in the caller's transaction, and drop keys past their time."""
        session.execute(
            delete(IdempotencyKey).where(col(IdempotencyKey.created_at) < utcnow() - KEEP)
        )
        headers = {k: v for k, v in response.headers.items() if k in REPLAYED_HEADERS}
        session.add(
            IdempotencyKey(
                scope=self.scope,
                key=self.key,
                fingerprint=self.fingerprint,
                status=response.status_code,
                headers=headers,
                body=bytes(response.body).decode(),
                created_at=utcnow(),
            )
        )


def _fingerprint(method: str, path: str, body: bytes) -> str:
    try:  # the same JSON however it is spaced or ordered
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(b"\n".join((method.encode(), path.encode(), canonical))).hexdigest()


async def _idempotency(
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            description="Any unique string (a UUID): a retry with the same key and body replays "
            "the first answer (marked `Idempotent-Replayed: true`) instead of writing again. "
            "Kept 24 hours.",
        ),
    ] = None,
) -> Idempotency | None:
    if idempotency_key is None:
        return None
    if not _KEY.fullmatch(idempotency_key):
        raise BadRequest.on(
            "header.Idempotency-Key",
            "malformed key",
            "Idempotency-Key: 1–255 visible ASCII characters.",
        )
    body = await request.body()
    target = f"{request.url.path}?{request.url.query}"  # ?dry_run=true is another request
    fingerprint = _fingerprint(request.method, target, body)
    return Idempotency(current_actor(request), idempotency_key, fingerprint)


IdempotencyDep = Annotated[Idempotency | None, Depends(_idempotency)]
