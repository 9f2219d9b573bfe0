"""`GET /api/v1/changes`: the change feed, with long-polling."""

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import Field
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from app import db
from app.actor import Actor
from app.db import WriteSession
from app.problems import (
    RETRYABLE,
    Conflict,
    PayloadTooLarge,
    Unprocessable,
    problem_response,
)
from app.resources import feed, writes
from app.resources.catalog import catalog
from app.resources.idempotency import IdempotencyDep
from app.resources.query import StrictQuery
from app.resources.rows import dumps
from app.sync import batch as batch_ops
from app.sync.answers import BatchAnswer, BatchRefusal, ChangesPage
from app.sync.batch import MAX_OPERATIONS, BatchRequest
from app.sync.export import export_lines
from app.sync.hub import hub

router = APIRouter(prefix="/api/v1", tags=["sync"])
MAX_WAIT_S = 60
BATCH_ATTEMPTS = 3


class ChangesQuery(StrictQuery):
    after: int = Field(
        0, ge=0, le=2**63 - 1, description="The `next_after` of the previous answer; 0 at first."
    )
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


async def _read(engine: Engine, after: int, limit: int, names: list[str]) -> feed.FeedPage:
    return await db.read(engine, lambda connection: feed.read(connection, after, limit, names))


@router.get(
    "/changes",
    response_model=ChangesPage,
    summary="The change feed",
    description="Every committed create, update and delete, oldest first, each exactly once: "
    "`seq` increases strictly and in commit order, with no gaps. Follow `next_after` from 0 "
    "(or from an export's `next_after`). Deletes are tombstones (`record` null, `version` the "
    "last + 1). With `wait`, an empty answer is held open until a change arrives.",
    responses={400: {}},
)
async def list_changes(request: Request, query: Annotated[ChangesQuery, Query()]) -> Response:
    collections = catalog.parse_paths(query.collections, "collections")
    engine = request.app.state.engine
    # `known` is taken before each read: a change that commits after it wakes the wait.
    known = hub.head
    page = await _read(engine, query.after, query.limit, collections)
    deadline = asyncio.get_running_loop().time() + query.wait
    while not page.items and not hub.closing:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            break
        await hub.wait_beyond(known, left)  # holds no database connection while waiting
        if hub.head == known:
            break  # timed out, or shutting down
        known = hub.head
        page = await _read(engine, page.next_after, query.limit, collections)
    body = dumps({"items": page.items, "next_after": page.next_after})
    return Response(body, media_type="application/json")


BATCH_EXAMPLES = {
    "upsert": {
        "summary": "Create a maker and its battery, the second referencing the first by slug",
        "value": {
            "atomic": True,
            "operations": [
                {"method": "PUT", "collection": "battery-partners",
                 "id": "5f0c6f7e-9d4b-4d8a-9a52-0d2b1f6f7a10",
                 "body": {"slug": "welion", "name": "WeLion", "country": "CN"}},
                {"method": "POST", "collection": "batteries",
                 "body": {"slug": "welion-cell", "name": "WeLion cell",
                          "battery_partner_id": "welion", "technology": "semi_solid"}},
            ],
        },
    }
}  # fmt: skip


class BatchQuery(StrictQuery):
    dry_run: bool = Field(False, description="`true` validates and applies nothing.")


@router.post(
    "/batch",
    summary="Apply many operations",
    description="Up to 1000 operations (`POST`, `PUT`, `PATCH`, `DELETE`), applied in order; "
    "a later one may reference a record an earlier one created, by slug or id. Atomic (the "
    "default): all or nothing; a failure answers 422 (409 for a conflict) with every "
    "operation's result under `results`, later ones 424. `atomic: false` applies what it "
    "can and answers 200. Each result has the status the same request alone would get. "
    "Over 1000 operations is a 413.",
    response_model=BatchAnswer,
    responses={
        400: {},
        409: {"model": BatchRefusal, "description": "A conflict, or an Idempotency-Key in use."},
        413: {},
        422: {"model": BatchRefusal, "description": "A failed operation, or an invalid request."},
    },
)
def apply_batch(
    session: WriteSession,
    actor: Actor,
    idempotency: IdempotencyDep,
    request: Annotated[BatchRequest, Body(openapi_examples=BATCH_EXAMPLES)],
    query: Annotated[BatchQuery, Query()],
) -> Response:
    if len(request.operations) > MAX_OPERATIONS:
        raise PayloadTooLarge.on(
            "body.operations",
            f"more than {MAX_OPERATIONS}",
            f"operations: {len(request.operations)} given, at most {MAX_OPERATIONS} a batch.",
        )
    if idempotency and (replay := idempotency.replay(session)):
        return replay

    def remember(own: Session, outcome: batch_ops.Outcome) -> None:
        if idempotency:  # only applied batches: a failed one changed nothing to replay
            idempotency.remember(own, _batch_answer(outcome, query.dry_run))

    # A non-atomic batch commits as it goes: with a key, each operation's answer is kept
    # with it, so a retry after a crash applies only what was not done.
    steps = idempotency if idempotency and not request.atomic and not query.dry_run else None
    for attempt in range(BATCH_ATTEMPTS):
        try:
            outcome = batch_ops.run(
                session,
                request.operations,
                atomic=request.atomic,
                dry_run=query.dry_run,
                actor=actor,
                remember=remember,
                steps=steps,
            )
            return _batch_answer(outcome, query.dry_run)
        except DBAPIError as exc:
            # Batches lock rows in the order their operations name them, so two can
            # deadlock; Postgres aborts one, and running it again is safe.
            writes.rollback(session)
            if (
                getattr(exc.orig, "sqlstate", None) not in RETRYABLE
                or attempt + 1 == BATCH_ATTEMPTS
            ):
                raise
    raise AssertionError("unreachable")


def _batch_answer(outcome: batch_ops.Outcome, dry_run: bool) -> Response:
    if outcome.failed is None:
        body: dict[str, Any] = {"results": outcome.results}
        if dry_run:
            body["dry_run"] = True
        return Response(dumps(body), media_type="application/json")  # orjson: 1000 records
    kind = Conflict if outcome.failed.status == 409 else Unprocessable
    detail = f"Nothing was applied: {outcome.failed.detail}"
    return problem_response(kind(detail, results=outcome.results))


class ExportQuery(StrictQuery):
    format: Literal["jsonl"] = Field("jsonl", description="JSON lines, the only format.")


@router.get(
    "/export",
    summary="Export every record",
    description='Streams every record as JSON lines, `{"collection", "record"}`, '
    'references first, then a last line `{"next_after": <seq>}`: bootstrap a copy from '
    "this, then follow `/changes?after=<next_after>`. A record that changes meanwhile is "
    "either exported as changed or in the feed after `next_after`.",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/x-ndjson": {"schema": {"type": "string"}}}},
        400: {},
    },
)
def get_export(request: Request, query: Annotated[ExportQuery, Query()]) -> StreamingResponse:
    del query  # only validated: jsonl is the one format
    return StreamingResponse(
        (line.encode() for line in export_lines(request.app.state.engine)),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="battery-intel.jsonl"'},
    )
