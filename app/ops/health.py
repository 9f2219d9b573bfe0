"""Liveness (`/healthz`, no database) and readiness (`/readyz`: reachable and at head)."""

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from app.problems import problem_response, unavailable
from app.schema import current_revision, head_revision

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready"]
    database: Literal["ok"]
    schema_: str = Field(alias="schema", description="The Alembic revision the database is at.")


@router.get(
    "/healthz",
    response_model=Health,
    summary="Liveness",
    description="200 while the process serves requests; never touches the database.",
)
def get_health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness",
    description="200 when the database answers and its schema is at the Alembic head; "
    "503 problem+json saying which is wrong otherwise.",
    responses={503: {}},
)
def get_readiness(request: Request) -> Any:
    try:
        current = current_revision(request.app.state.engine)
    except SQLAlchemyError:
        return problem_response(unavailable("The database is unreachable.", check="database"))
    head = head_revision()
    if current != head:
        detail = (
            f"The schema is at {current or 'no revision'}, not {head}: run `battery-intel migrate`."
        )
        return problem_response(unavailable(detail, check="schema"))
    return JSONResponse({"status": "ready", "database": "ok", "schema": head})
