"""RFC 9457 problem details: one error hierarchy, rendered in one place."""

import logging
import re
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:battery-intel:problem:"
RETRY_AFTER_S = 5
log = logging.getLogger(__name__)


class FieldError(BaseModel):
    field: str = Field(examples=["body.value_min"])
    message: str = Field(examples=["Input should be greater than 0"])


class ProblemModel(BaseModel):
    """The body of every error response (RFC 9457)."""

    type: str = Field(examples=[TYPE_PREFIX + "not-found"])
    title: str = Field(examples=["Not Found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["No automakers record with id or slug 'tesla'."])
    errors: list[FieldError] | None = None


class Problem(Exception):
    """Raise anywhere below a route; `add_problem_handlers` renders it."""

    status: int = 500
    slug: str = "internal-error"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": TYPE_PREFIX + self.slug,
            "title": HTTPStatus(self.status).phrase,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


class BadRequest(Problem):
    status, slug = 400, "bad-request"


class NotFound(Problem):
    status, slug = 404, "not-found"


class MethodNotAllowed(Problem):
    status, slug = 405, "method-not-allowed"


class Conflict(Problem):
    status, slug = 409, "conflict"


class PreconditionFailed(Problem):
    status, slug = 412, "precondition-failed"


class Unprocessable(Problem):
    status, slug = 422, "validation-error"


class ServiceUnavailable(Problem):
    status, slug = 503, "service-unavailable"


def field_problem(field: str, message: str) -> Unprocessable:
    return Unprocessable(f"{field}: {message}", errors=[{"field": field, "message": message}])


def problem_response(problem: Problem) -> JSONResponse:
    return JSONResponse(
        problem.body(), status_code=problem.status, headers=problem.headers, media_type=PROBLEM_JSON
    )


def validation_errors(errors: Any, prefix: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """Pydantic's error list as `field`/`message` pairs (`body.value_min`)."""
    out = []
    for error in errors:
        loc = prefix + tuple(str(part) for part in error.get("loc", ()))
        if rule_field := (error.get("ctx") or {}).get("field"):
            loc = (*loc, rule_field)
        out.append({"field": ".".join(loc) or "body", "message": error.get("msg", "invalid")})
    return out


def request_validation_problem(exc: RequestValidationError) -> Problem:
    errors = validation_errors(exc.errors())
    # Bodies are 422; a bad value of a query, path or header parameter is a 400.
    in_body = any(e["field"].startswith("body") for e in errors)
    cls: type[Problem] = Unprocessable if in_body else BadRequest
    listed = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return cls(f"Invalid request: {listed}", errors=errors)


def body_validation_problem(exc: ValidationError) -> Unprocessable:
    errors = validation_errors(exc.errors(), prefix=("body",))
    listed = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return Unprocessable(f"Invalid body: {listed}", errors=errors)


_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (?P<cols>[\w., ]+)")
_SQLITE_CHECK = re.compile(r"CHECK constraint failed: (?P<name>\w+)")


def integrity_problem(exc: IntegrityError) -> Problem:
    """A database constraint error as a client problem, on SQLite and Postgres.

    Constraint names follow the metadata's naming convention, so both
    databases report the same name (Postgres in `diag`, SQLite in the text).
    """
    name = getattr(getattr(exc.orig, "diag", None), "constraint_name", None) or ""
    message = str(exc.orig)
    if match := _SQLITE_UNIQUE.search(message):
        columns = [c.split(".")[-1] for c in match["cols"].split(", ")]
        name = "uq_" + "_".join(columns)
    elif match := _SQLITE_CHECK.search(message):
        name = match["name"]
    if name.startswith("uq_") or name.startswith("pk_") or "UNIQUE" in message:
        return Conflict("A record with the same unique values already exists.", constraint=name)
    if name.startswith("fk_") or "FOREIGN KEY" in message:
        return Conflict("The change would break a reference between records.", constraint=name)
    if name.startswith("ck_") or "CHECK" in message:
        return Unprocessable(f"The record breaks the rule {name or 'a check constraint'}.")
    return Conflict("The change conflicts with the stored data.")


def unavailable(detail: str, **extra: Any) -> ServiceUnavailable:
    return ServiceUnavailable(detail, headers={"Retry-After": str(RETRY_AFTER_S)}, **extra)


def database_problem(exc: DBAPIError) -> Problem:
    """A database that cannot be reached, or has no schema yet, is a 503; the rest a 500."""
    missing_table = getattr(exc.orig, "sqlstate", None) == "42P01"  # Postgres before migrate
    if isinstance(exc, OperationalError) or exc.connection_invalidated or missing_table:
        log.warning("database unavailable: %s", exc.orig)
        return unavailable("The database is unavailable; retry shortly.")
    log.error("database error", exc_info=exc)
    return Problem("Internal error; it has been logged.")


def http_problem(exc: StarletteHTTPException) -> Problem:
    """The framework's own errors (routing 404, 405) in the same shape as ours."""
    problem = Problem(str(exc.detail), headers=dict(exc.headers or {}))
    problem.status = exc.status_code
    problem.slug = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "-")
    if exc.status_code == 404:
        problem.detail = "No such resource. The API lives under /api/v1; see /docs."
    return problem


def add_problem_handlers(app: FastAPI) -> None:
    handlers: dict[type[Exception], Callable[[Any], Problem]] = {
        Problem: lambda exc: exc,
        RequestValidationError: request_validation_problem,
        StarletteHTTPException: http_problem,
        IntegrityError: integrity_problem,
        DBAPIError: database_problem,
    }
    for exc_class, to_problem in handlers.items():
        app.add_exception_handler(exc_class, _handler(to_problem))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=exc)
        return problem_response(Problem("Internal error; it has been logged."))


def _handler(to_problem: Callable[[Any], Problem]) -> Callable[[Request, Any], Awaitable[Response]]:
    async def handle(_request: Request, exc: Any) -> Response:
        return problem_response(to_problem(exc))

    return handle
