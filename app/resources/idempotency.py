"""Idempotency keys: a retried POST (or batch) replays the first answer instead of writing
twice. The key is stored in the same transaction as the write it answers, so a crash can
never leave a write without its key or a key without its write.

A non-atomic batch commits operation by operation; each operation's answer is stored as
a step in that operation's own transaction, so a retry after a crash at any point skips
what was done and applies the rest: every operation exactly once in all."""

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import Response
from sqlalchemy import JSON, ColumnElement, Integer, String, Text, delete, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col

from app.actor import current_actor
from app.columns import NAME_MAX, UTCDateTime, utcnow
from app.db import dialect_insert
from app.problems import BadRequest, Unprocessable

KEEP = dt.timedelta(hours=24)
REPLAYED_HEADERS = ("content-type", "location", "etag")
_KEY = re.compile(r"[\x21-\x7e]{1,255}")
NOT_GENERATED = {"autoincrement": False}


class IdempotencyKey(SQLModel, table=True):
    __tablename__ = "idempotency_keys"

    scope: str = Field(sa_type=String(NAME_MAX), primary_key=True)  # the caller
    key: str = Field(sa_type=String(255), primary_key=True)
    fingerprint: str = Field(sa_type=String(64))
    status: int = Field(sa_type=Integer)
    headers: dict[str, str] = Field(sa_type=JSON)
    body: str = Field(sa_type=Text)
    created_at: dt.datetime = Field(sa_type=UTCDateTime, index=True)


class IdempotencyStep(SQLModel, table=True):
    """The answer of one operation of a non-atomic batch sent with an Idempotency-Key."""

    __tablename__ = "idempotency_steps"

    scope: str = Field(sa_type=String(NAME_MAX), primary_key=True)
    key: str = Field(sa_type=String(255), primary_key=True)
    step: int = Field(sa_type=Integer, primary_key=True, sa_column_kwargs=NOT_GENERATED)
    fingerprint: str = Field(sa_type=String(64))
    result: dict[str, Any] = Field(sa_type=JSON)
    created_at: dt.datetime = Field(sa_type=UTCDateTime, index=True)


STEPS = IdempotencyStep.__table__  # type: ignore[attr-defined]


class StepTaken(Exception):
    """Another request with the same key stored this step first (its operation is done)."""


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
        self._same_request(stored.fingerprint)
        headers = {**stored.headers, "Idempotent-Replayed": "true"}
        return Response(stored.body, status_code=stored.status, headers=headers)

    def _same_request(self, fingerprint: str) -> None:
        if fingerprint != self.fingerprint:
            raise Unprocessable.on(
                "header.Idempotency-Key",
                "reused with another body",
                "Idempotency-Key: this key was used with a different request; use a new key.",
            )

    def remember(self, session: Session, response: Response) -> None:
        """Store the answer in the caller's transaction (in place of a stale one, or of an
        identical one a concurrent retry stored), drop its steps and keys past their time."""
        old = utcnow() - KEEP
        session.execute(delete(IdempotencyKey).where(col(IdempotencyKey.created_at) < old))
        session.execute(delete(STEPS).where(STEPS.c.created_at < old))
        session.execute(delete(STEPS).where(*self._steps()))
        answer = {
            "fingerprint": self.fingerprint,
            "status": response.status_code,
            "headers": {k: v for k, v in response.headers.items() if k in REPLAYED_HEADERS},
            "body": bytes(response.body).decode(),
            "created_at": utcnow(),
        }
        insert = dialect_insert(session)(IdempotencyKey.__table__)  # type: ignore[attr-defined]
        insert = insert.values(scope=self.scope, key=self.key, **answer)
        session.execute(insert.on_conflict_do_update(index_elements=["scope", "key"], set_=answer))

    def _steps(self) -> tuple[ColumnElement[bool], ...]:
        return (STEPS.c.scope == self.scope, STEPS.c.key == self.key)

    def steps_done(self, session: Session) -> dict[int, dict[str, Any]]:
        """The answers of the steps already done, by their index; 422 if they were done for
        another request under this key."""
        rows = session.execute(
            select(STEPS.c.step, STEPS.c.fingerprint, STEPS.c.result).where(*self._steps())
        ).all()
        for row in rows[:1]:
            self._same_request(row.fingerprint)
        return {row.step: row.result for row in rows}

    def store_step(self, session: Session, step: int, result: dict[str, Any]) -> None:
        """Store one operation's answer in its own transaction; StepTaken if a concurrent
        request with the key stored it first (so that operation is not applied twice)."""
        row = {"scope": self.scope, "key": self.key, "step": step, "result": result,
               "fingerprint": self.fingerprint, "created_at": utcnow()}  # fmt: skip
        try:
            with session.begin_nested():
                session.execute(insert(STEPS), [row])
        except IntegrityError:
            raise StepTaken(step) from None


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
