"""Webhooks (API.md §11): subscriptions that push the change feed to partners, and the log of
every attempt to deliver it. Webhooks are not records: no change log, history or export.

A webhook's secret is never stored. It is derived from the server's signing key, the
webhook's id and a nonce (app.sync.signing), so that a dump of the database alone cannot
forge a signature; the answer to the create shows it once.
"""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    select,
)
from sqlmodel import Field, Session, SQLModel, col

from app.columns import UTCDateTime, utcnow
from app.problems import NotFound, Unprocessable
from app.resources import changelog
from app.resources.catalog import catalog
from app.resources.fields import URL_MAX
from app.sync import addresses, signing

NOT_GENERATED = {"autoincrement": False}


class Webhook(SQLModel, table=True):
    __tablename__ = "webhooks"
    __table_args__ = (Index("ix_webhooks_created_at_id", "created_at", "id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True, sa_type=Uuid)
    url: str = Field(sa_type=String(URL_MAX))
    collections: list[str] = Field(default_factory=list, sa_type=JSON)
    active: bool = Field(default=True, sa_type=Boolean)
    after: int = Field(sa_type=BigInteger)
    description: str | None = Field(default=None, sa_type=Text)
    disabled_reason: str | None = Field(default=None, sa_type=Text)
    secret_nonce: str = Field(sa_type=String(64))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # The delivery under way (none when its id is null): the same bytes on every attempt.
    pending_id: uuid.UUID | None = Field(default=None, sa_type=Uuid)
    pending_body: str | None = Field(default=None, sa_type=Text)
    pending_first: int | None = Field(default=None, sa_type=BigInteger)
    pending_last: int | None = Field(default=None, sa_type=BigInteger)
    pending_next_after: int | None = Field(default=None, sa_type=BigInteger)
    attempts: int = Field(default=0, sa_type=Integer)
    first_failed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_attempt_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Which process is delivering it, until when (app.sync.deliveries).
    lease_owner: str | None = Field(default=None, sa_type=String(100))
    lease_until: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebhookAttempt(SQLModel, table=True):
    """One attempt to deliver, as `GET /webhooks/{id}/deliveries` lists it."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_webhook_id_seq", "webhook_id", "seq"),)

    seq: int | None = Field(default=None, primary_key=True, sa_type=Integer)
    webhook_id: uuid.UUID = Field(
        sa_type=Uuid, sa_column_args=[ForeignKey("webhooks.id", ondelete="CASCADE")]
    )
    delivery_id: uuid.UUID = Field(sa_type=Uuid)
    attempt: int = Field(sa_type=Integer)
    first_seq: int = Field(sa_type=BigInteger)
    last_seq: int = Field(sa_type=BigInteger)
    status: str = Field(sa_type=String(9))  # succeeded | failed
    response_status: int | None = Field(default=None, sa_type=Integer)
    error: str | None = Field(default=None, sa_type=Text)
    duration_ms: float
    at: dt.datetime = Field(sa_type=UTCDateTime)


PUBLIC = ("id", "url", "collections", "active", "after", "description", "disabled_reason",
          "created_at", "updated_at")  # fmt: skip
NOT_PENDING: dict[str, Any] = {
    "pending_id": None, "pending_body": None, "pending_first": None, "pending_last": None,
    "pending_next_after": None,
}  # fmt: skip
FRESH: dict[str, Any] = {"attempts": 0, "first_failed_at": None, "next_attempt_at": None}


def public(hook: Webhook) -> dict[str, Any]:
    """A webhook as reads show it: every field but its secret."""
    return {name: getattr(hook, name) for name in PUBLIC}


def get(session: Session, key: str, *, for_update: bool = False) -> Webhook:
    try:
        webhook_id = uuid.UUID(key)
    except ValueError:
        webhook_id = None
    query = select(Webhook).where(col(Webhook.id) == webhook_id)
    hook = session.scalars(query.with_for_update() if for_update else query).one_or_none()
    if webhook_id is None or hook is None:
        raise NotFound(f"No webhook with id '{key[:64]}'.")
    return hook


def collections_of(given: list[str]) -> list[str]:
    """The collections named, in the catalog's order; a 422 naming an unknown one."""
    if unknown := [name for name in given if name not in catalog]:
        raise Unprocessable.on(
            "body.collections",
            f"unknown collection '{unknown[0]}'; use {', '.join(catalog.paths)}",
        )
    return [path for path in catalog.paths if path in given]


def position(session: Session, after: int | None) -> int:
    """A feed position to start from: the head by default; a 422 beyond it."""
    head = changelog.head(session)
    if after is None:
        return head
    if after > head:
        raise Unprocessable.on("body.after", f"beyond the newest seq, {head}")
    return after


def checked_url(url: str, allow_private: bool) -> str:
    try:
        addresses.check(url, allow_private=allow_private)
    except addresses.Refused as exc:
        raise Unprocessable.on("body.url", str(exc)) from None
    return url


def create(
    session: Session, values: dict[str, Any], key: bytes, allow_private: bool
) -> tuple[Webhook, str]:
    """A new webhook and its secret (shown this once)."""
    hook = Webhook(
        url=checked_url(values["url"], allow_private),
        collections=collections_of(values.get("collections") or []),
        after=position(session, values.get("after")),
        description=values.get("description"),
        secret_nonce=signing.new_nonce(),
    )
    session.add(hook)
    session.commit()
    return hook, signing.secret(key, hook.id, hook.secret_nonce)


def patch(session: Session, key: str, changes: dict[str, Any], allow_private: bool) -> Webhook:
    """`url` applies from the next attempt; new `collections` drop the pending delivery;
    `active: true` on an inactive one resumes from its position with a fresh 72 hours."""
    hook = get(session, key, for_update=True)
    values: dict[str, Any] = {}
    if changes.get("url") is not None:
        values["url"] = checked_url(changes["url"], allow_private)
    if "collections" in changes:
        values["collections"] = collections_of(changes["collections"] or [])
        if values["collections"] != hook.collections:
            values |= NOT_PENDING
    if "description" in changes:
        values["description"] = changes["description"]
    if changes.get("active") is True and not hook.active:
        values |= {"active": True, "disabled_reason": None, **FRESH}
    elif changes.get("active") is False:
        values["active"] = False
    return _save(session, hook, values)


def replay(session: Session, key: str, after: int) -> Webhook:
    """Back (or forward) to `after`, active again; the pending delivery is dropped."""
    hook = get(session, key, for_update=True)
    values = {"after": position(session, after), "active": True, "disabled_reason": None}
    return _save(session, hook, values | NOT_PENDING | FRESH)


def delete(session: Session, key: str) -> None:
    session.delete(get(session, key, for_update=True))
    session.commit()


def _save(session: Session, hook: Webhook, values: dict[str, Any]) -> Webhook:
    for name, value in values.items():
        setattr(hook, name, value)
    hook.updated_at = utcnow()
    session.add(hook)
    session.commit()
    session.refresh(hook)
    return hook
