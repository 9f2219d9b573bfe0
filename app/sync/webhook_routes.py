"""`/api/v1/webhooks`: subscriptions that push the change feed, for `admin` keys (API.md §11)."""

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlmodel import col

from app.db import ReadSession, WriteSession
from app.resources import cursor
from app.resources.cursor import SortKey
from app.resources.fields import TEXT_MAX, URL_MAX
from app.resources.handlers import API_PREFIX, next_link
from app.resources.pages import keyset_page
from app.resources.query import NoQuery, StrictQuery
from app.resources.rows import dumps
from app.sync import webhooks
from app.sync.webhooks import Webhook, WebhookAttempt

router = APIRouter(
    prefix=f"{API_PREFIX}/webhooks",
    tags=["webhooks"],
)
WebhookKey = Annotated[str, Path(description="The webhook's id.")]
REFUSALS: dict[int | str, dict[str, Any]] = {404: {}, 422: {}}
HOOK = "0b8e2c4a-6f1d-4e7a-9c3b-5d2f8a1e7c40"
OUT_EXAMPLE: dict[str, Any] = {
    "id": HOOK, "url": "https://partner.example/battery-intel", "collections": ["partnerships"],
    "active": True, "after": 120, "description": "Acme's CRM", "disabled_reason": None,
    "created_at": "2026-12-01T09:00:00Z", "updated_at": "2026-12-01T09:00:00Z",
}  # fmt: skip


class NewWebhook(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"url": "https://partner.example/battery-intel",
                                         "collections": ["partnerships", "energy-densities"],
                                         "description": "Acme's CRM"}]},
    )  # fmt: skip

    url: str = Field(max_length=URL_MAX, description="http(s); a public address.")
    collections: list[str] | None = Field(None, description="URL names; absent or empty: all.")
    after: int | None = Field(None, ge=0, description="Send changes after this seq (default: now).")
    description: str | None = Field(None, max_length=TEXT_MAX)


class WebhookPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"active": True}]})

    url: str | None = Field(None, max_length=URL_MAX)
    collections: list[str] | None = None
    active: bool | None = Field(None, description="`true` resumes from the position.")
    description: str | None = Field(None, max_length=TEXT_MAX)


class Replay(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"after": 0}]})

    after: int = Field(ge=0, description="The position to deliver from: changes after it.")


class WebhookOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [OUT_EXAMPLE]})

    id: uuid.UUID
    url: str
    collections: list[str] = Field(description="[] means every collection.")
    active: bool
    after: int = Field(description="The position: every change up to it is acknowledged.")
    description: str | None
    disabled_reason: str | None = Field(description="Why it stopped; null while active.")
    created_at: dt.datetime
    updated_at: dt.datetime = Field(description="Changes on PATCH and replay only.")


class CreatedWebhook(WebhookOut):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{**OUT_EXAMPLE, "secret": "whsec_" + "x" * 43}]}
    )

    secret: str = Field(description="Signs the deliveries; shown in this answer only.")


class WebhookPage(BaseModel):
    items: list[WebhookOut]
    next_cursor: str | None


class DeliveryOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"id": "5c0b6f2e-1d2a-4c3b-8e4f-9a0b1c2d3e4f", "attempt": 1,
                          "first_seq": 121, "last_seq": 140, "status": "succeeded",
                          "response_status": 204, "error": None, "duration_ms": 38.2,
                          "at": "2026-12-01T09:00:01Z"}]
        }
    )  # fmt: skip

    id: uuid.UUID = Field(description="The delivery's Battery-Intel-Delivery header.")
    attempt: int = Field(description="From 1.")
    first_seq: int
    last_seq: int
    status: str = Field(description="`succeeded` or `failed`.")
    response_status: int | None = Field(description="Null when no HTTP answer came.")
    error: str | None = Field(description="Why it failed; null on success.")
    duration_ms: float
    at: dt.datetime = Field(description="When the attempt started.")


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None


class PageQuery(StrictQuery):
    limit: int = Field(50, ge=1, le=500, description="Page size, 1–500.")
    cursor: str | None = Field(None, description="`next_cursor` of the previous page.")


Page = Annotated[PageQuery, Query()]
WEBHOOK_KEYS = [SortKey(col(Webhook.created_at)), SortKey(col(Webhook.id))]
ATTEMPT_KEYS = [SortKey(col(WebhookAttempt.seq), descending=True)]
ATTEMPT: tuple[Any, ...] = tuple(
    col(getattr(WebhookAttempt, name)).label(label)
    for name, label in (("delivery_id", "id"), ("attempt", "attempt"), ("first_seq", "first_seq"),
                        ("last_seq", "last_seq"), ("status", "status"),
                        ("response_status", "response_status"), ("error", "error"),
                        ("duration_ms", "duration_ms"), ("at", "at"), ("seq", "seq"))
)  # fmt: skip


def _answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(body), status_code=status, media_type="application/json", headers=headers)


def _woken(request: Request) -> None:
    """Tell this process's deliverer at once (a new position, a webhook made or resumed)."""
    deliverer = getattr(request.app.state, "deliverer", None)
    if deliverer is not None:
        deliverer.wake()


@router.post(
    "",
    status_code=201,
    response_model=CreatedWebhook,
    summary="Create a webhook",
    responses={409: {}, 422: {}},
)
def create_webhook(
    request: Request, session: WriteSession, body: Annotated[NewWebhook, Body()], _query: NoQuery
) -> Response:
    """Deliveries of the change feed to `url`, from `after` (default: the feed's head, so
    only later changes), filtered to `collections` (all when absent or empty). The answer
    holds the `secret` that signs them, this once."""
    settings = request.app.state.settings
    hook, secret = webhooks.create(
        session, body.model_dump(), request.app.state.webhook_key, settings.webhook_allow_private
    )
    _woken(request)
    location = {"Location": f"{API_PREFIX}/webhooks/{hook.id}"}
    return _answer({**webhooks.public(hook), "secret": secret}, 201, location)


@router.get("", response_model=WebhookPage, summary="List webhooks", responses={400: {}})
def list_webhooks(request: Request, session: ReadSession, page: Page) -> Response:
    """Every webhook, oldest first, as `GET /webhooks/{id}` shows each."""
    found = keyset_page(session, select(Webhook.__table__), WEBHOOK_KEYS, limit=page.limit,  # type: ignore[attr-defined]
                        after=page.cursor, scope="webhooks")  # fmt: skip
    items = [{name: getattr(row, name) for name in webhooks.PUBLIC} for row in found.rows]
    return _answer({"items": items, "next_cursor": found.next_cursor},
                   headers=next_link(request, found.next_cursor))  # fmt: skip


@router.get("/{id}", response_model=WebhookOut, summary="Get a webhook", responses={404: {}})
def get_webhook(session: ReadSession, id: WebhookKey, _query: NoQuery) -> Response:
    """The webhook with its position; never its secret."""
    return _answer(webhooks.public(webhooks.get(session, id)))


@router.patch("/{id}", response_model=WebhookOut, summary="Change a webhook", responses=REFUSALS)
def update_webhook(
    request: Request,
    session: WriteSession,
    id: WebhookKey,
    body: Annotated[WebhookPatch, Body()],
    _query: NoQuery,
) -> Response:
    """`url` applies from the next attempt; new `collections` drop the pending delivery (the
    next one gets a new id); `active: true` resumes an inactive webhook from its position."""
    allow = request.app.state.settings.webhook_allow_private
    hook = webhooks.patch(session, id, body.model_dump(exclude_unset=True), allow)
    _woken(request)
    return _answer(webhooks.public(hook))


@router.delete("/{id}", status_code=204, summary="Delete a webhook", responses={404: {}})
def delete_webhook(session: WriteSession, id: WebhookKey, _query: NoQuery) -> Response:
    """Deliveries stop; the webhook and its log are gone."""
    webhooks.delete(session, id)
    return Response(status_code=204)


@router.get(
    "/{id}/deliveries",
    response_model=DeliveryPage,
    summary="A webhook's delivery attempts",
    responses={400: {}, 404: {}},
)
def list_webhook_deliveries(
    request: Request, session: ReadSession, id: WebhookKey, page: Page
) -> Response:
    """Every attempt, newest first: the delivery's id, its attempt number, the changes it
    carried (`first_seq`, `last_seq`), how it went and how long it took."""
    hook = webhooks.get(session, id)
    query = select(*ATTEMPT).where(col(WebhookAttempt.webhook_id) == hook.id)
    found = keyset_page(session, query, ATTEMPT_KEYS, limit=page.limit, after=page.cursor,
                        scope=cursor.scope_of("deliveries", str(hook.id)))  # fmt: skip
    items = [{k: v for k, v in row._mapping.items() if k != "seq"} for row in found.rows]
    return _answer({"items": items, "next_cursor": found.next_cursor},
                   headers=next_link(request, found.next_cursor))  # fmt: skip


@router.post("/{id}/replay", response_model=WebhookOut, summary="Deliver again", responses=REFUSALS)
def replay_webhook(
    request: Request,
    session: WriteSession,
    id: WebhookKey,
    body: Annotated[Replay, Body()],
    _query: NoQuery,
) -> Response:
    """Sets the position back (or forward) to `after` and re-activates the webhook; the
    pending delivery is dropped and the next one gets a new id."""
    hook = webhooks.replay(session, id, body.after)
    _woken(request)
    return _answer(webhooks.public(hook))
