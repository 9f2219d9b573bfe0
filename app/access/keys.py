"""API keys: shown once, stored as a SHA-256 hash, found by a public prefix (no scan)."""

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from enum import StrEnum

from sqlalchemy import String, Uuid, select, update
from sqlmodel import Field, Session, SQLModel, col

from app.columns import NAME_MAX, UTCDateTime, enum_check, utcnow
from app.problems import Conflict, NotFound

MARK = "bik_"  # Battery Intelligence key: easy to spot in a leaked log or repository
PREFIX_LEN = 12
TOUCH_EVERY = dt.timedelta(minutes=1)  # last_used_at is a hint, not an audit log


class Scope(StrEnum):
    read = "read"
    write = "write"
    admin = "admin"


RANK = {Scope.read: 1, Scope.write: 2, Scope.admin: 3}  # admin includes write includes read


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"
    __table_args__ = (enum_check("scope", Scope),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True, sa_type=Uuid)
    name: str = Field(sa_type=String(NAME_MAX), unique=True)
    prefix: str = Field(sa_type=String(PREFIX_LEN), unique=True)
    secret_hash: str = Field(sa_type=String(64))
    scope: str = Field(sa_type=String(5))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)

    def allows(self, needed: Scope) -> bool:
        return RANK[Scope(self.scope)] >= RANK[needed]


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, name: str, scope: Scope) -> tuple[ApiKey, str]:
    """A new key and its secret text, which is never stored and never shown again."""
    if session.scalars(select(ApiKey).where(col(ApiKey.name) == name)).first() is not None:
        raise Conflict.on("body.name", "already taken", f"A key named '{name}' exists already.")
    prefix = secrets.token_hex(PREFIX_LEN // 2)
    key = f"{MARK}{prefix}{secrets.token_urlsafe(32)}"
    record = ApiKey(name=name, prefix=prefix, secret_hash=_hash(key), scope=scope.value)
    session.add(record)
    session.commit()
    return record, key


def authenticate(session: Session, key: str) -> ApiKey | None:
    """The live key this text is, or None; constant-time on the secret."""
    if not key.startswith(MARK) or len(key) < len(MARK) + PREFIX_LEN + 20:
        return None
    prefix = key[len(MARK) : len(MARK) + PREFIX_LEN]
    record = session.scalars(select(ApiKey).where(col(ApiKey.prefix) == prefix)).first()
    if record is None or not hmac.compare_digest(record.secret_hash, _hash(key)):
        return None
    return None if record.revoked_at is not None else record


def stale(record: ApiKey) -> bool:
    """Whether `last_used_at` is older than a minute: worth a write."""
    return record.last_used_at is None or utcnow() - record.last_used_at > TOUCH_EVERY


def touch(session: Session, key_id: uuid.UUID) -> None:
    session.execute(update(ApiKey).where(col(ApiKey.id) == key_id).values(last_used_at=utcnow()))
    session.commit()


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(col(ApiKey.created_at), col(ApiKey.name))))


def revoke(session: Session, name: str) -> ApiKey:
    record = session.scalars(select(ApiKey).where(col(ApiKey.name) == name)).first()
    if record is None:
        raise NotFound(f"No API key named '{name[:NAME_MAX]}'.")
    if record.revoked_at is None:
        record.revoked_at = utcnow()
        session.add(record)
        session.commit()
    return record
