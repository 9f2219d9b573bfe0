"""`GET /api/v1/changes`: the change feed, with long-polling."""

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import Field
from sqlalchemy import Engine

from app.db import read_session
from app.market.registry import BY_PATH, SPECS
from app.problems import BadRequest
from app.resources.query import StrictQuery
from app.sync import feed
from app.sync.hub import hub

router = APIRouter(prefix="/api/v1", tags=["sync"])
MAX_WAIT_S = 60


class ChangesQuery(StrictQuery):
    after: int = Field(0, ge=0, description="The `next_after` of the previous answer; 0 at first.")
    limit: int = Field(100, ge=1, le=1000, description="Changes per answer, 1–1000.")
    collections: str | None = Field(
        None, description="Only these collections, comma-separated URL names: `batteries,sources`."
    )
    wait: float = Field(
        0,
        ge=0,
        le=MAX_WAIT_S,
        description="Seconds (≤ 60) to hold an empty answer open until a change arrives.",
    )


def _collections(raw: str | None) -> list[str]:
    names = [n.strip() for n in (raw or "").split(",") if n.strip()]
    if unknown := [n for n in names if n not in BY_PATH]:
        raise BadRequest(
            f"collections: unknown '{unknown[0]}'; use {', '.join(s.path for s in SPECS)}.",
            errors=[{"field": "query.collections", "message": f"unknown '{unknown[0]}'"}],
        )
    return names


def _read(engine: Engine, after: int, limit: int, collections: list[str]) -> feed.FeedPage:
    with read_session(engine) as session:
        return feed.read(session, after, limit, collections)


@router.get(
    "/changes",
    summary="The change feed",
    description="Every committed create, update and delete, oldest first, each exactly once: "
    "`seq` increases strictly and in commit order, with no gaps. Follow `next_after` from 0 "
    "(or from an export's `next_after`). Deletes are tombstones (`record` null, `version` the "
    "last + 1). With `wait`, an empty answer is held open until a change arrives.",
    responses={400: {}},
)
async def changes(request: Request, query: Annotated[ChangesQuery, Query()]) -> JSONResponse:
    collections = _collections(query.collections)
    engine = request.app.state.engine
    # `known` is taken before each read: a change that commits after it wakes the wait.
    known = hub.head
    page = await run_in_threadpool(_read, engine, query.after, query.limit, collections)
    deadline = asyncio.get_running_loop().time() + query.wait
    while not page.items and not hub.closing:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            break
        await hub.wait_beyond(known, left)  # holds no database connection while waiting
        if hub.head == known:
            break  # timed out, or shutting down
        known = hub.head
        page = await run_in_threadpool(_read, engine, page.next_after, query.limit, collections)
    return JSONResponse({"items": page.items, "next_after": page.next_after})
