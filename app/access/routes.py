"""`/api/v1/keys`: API key management, for `admin` keys."""

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from app.access import keys
from app.access.keys import ApiKey, Scope
from app.columns import NAME_MAX
from app.db import ReadSession, WriteSession


def _printable(name: str) -> str:
    if "\x00" in name:
        raise ValueError("must not contain NUL characters")
    return name


KeyName = Annotated[
    str, StringConstraints(min_length=1, max_length=NAME_MAX), AfterValidator(_printable)
]


class NoParameters(BaseModel):
    """No query parameters: any is a 400, as on every operation (API.md §1)."""

    model_config = ConfigDict(extra="forbid")


NoQuery = Annotated[NoParameters, Query()]
router = APIRouter(prefix="/api/v1/keys", tags=["keys"])


class NewKey(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "partner-acme", "scope": "write"}]}
    )

    name: KeyName = Field(description="Unique; recorded as the actor of this key's writes.")
    scope: Scope = Field(description="`read`, `write` (includes read) or `admin` (all).")


class KeyOut(BaseModel):
    name: str
    prefix: str = Field(description="The public part of the key, to tell keys apart.")
    scope: Scope
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class CreatedKey(KeyOut):
    key: str = Field(description="The key itself: shown this once, stored only as a hash.")


class KeyList(BaseModel):
    items: list[KeyOut]
    next_cursor: str | None = Field(description="Always null: every key is on one page.")


def _out(record: ApiKey) -> dict[str, Any]:
    return KeyOut.model_validate(record, from_attributes=True).model_dump(mode="json")


@router.get(
    "",
    response_model=KeyList,
    summary="List API keys",
    description="Every key with its name, prefix, scope and times; never a secret.",
    responses={401: {}, 403: {}},
)
def list_keys(session: ReadSession, _query: NoQuery) -> JSONResponse:
    return JSONResponse({"items": [_out(k) for k in keys.list_keys(session)], "next_cursor": None})


@router.post(
    "",
    status_code=201,
    response_model=CreatedKey,
    summary="Create an API key",
    description="Answers the new key once, in `key`; only its hash is kept.",
    responses={401: {}, 403: {}, 409: {}, 422: {}},
)
def create_key(
    session: WriteSession, body: Annotated[NewKey, Body()], _query: NoQuery
) -> JSONResponse:
    record, key = keys.create_key(session, body.name, body.scope)
    return JSONResponse({**_out(record), "key": key}, status_code=201)


@router.delete(
    "/{name}",
    status_code=204,
    summary="Revoke an API key",
    description="The key stops working at once; it stays listed, with `revoked_at`.",
    responses={401: {}, 403: {}, 404: {}},
)
def revoke_key(
    session: WriteSession,
    name: Annotated[str, Path(description="The key's name.")],
    _query: NoQuery,
) -> Response:
    keys.revoke(session, name)
    return Response(status_code=204)
