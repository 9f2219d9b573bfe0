"""RFC 9457 problem details: one error hierarchy, rendered in one place."""

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Self

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import MetaData, PrimaryKeyConstraint, UniqueConstraint
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.columns import metadata

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:battery-intel:problem:"
RETRY_AFTER_S = 5
RETRYABLE = frozenset({"40P01", "40001"})  # Postgres: deadlock, serialization failure
log = logging.getLogger(__name__)


class FieldError(BaseModel):
    field: str = Field(examples=["body.value_min"])
    message: str = Field(examples=["Input should be greater than 0"])


class ProblemDetails(BaseModel):
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

    def __init_subclass__(cls, *, status: int, slug: str, **kwargs: Any) -> None:
        """Each kind of problem has its fixed status and its `type` (a URN ending in `slug`)."""
        super().__init_subclass__(**kwargs)
        cls.status, cls.slug = status, slug

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

    @classmethod
    def on(cls, field: str, message: str, detail: str | None = None, **extra: Any) -> Self:
        """A problem with one named field (`query.sort`, `body.value_min`, `header.If-Match`):
        the one way every error list is made."""
        errors = [{"field": field, "message": message}]
        return cls(detail or f"{field}: {message}", errors=errors, **extra)

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


class BadRequest(Problem, status=400, slug="bad-request"):
    """A query, path or header parameter is wrong (unknown ones included)."""


class Unauthorized(Problem, status=401, slug="unauthorized"):
    """No API key, or one that is malformed, unknown or revoked."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="battery-intel"'})


class Forbidden(Problem, status=403, slug="forbidden"):
    """The API key's scope does not allow this."""


class NotFound(Problem, status=404, slug="not-found"):
    """No such record (any more)."""


class Conflict(Problem, status=409, slug="conflict"):
    """A duplicate unique value, a record still referenced, or a collision with a writer."""


class PreconditionFailed(Problem, status=412, slug="precondition-failed"):
    """`If-Match` or `If-None-Match` did not hold; nothing was changed."""


class PayloadTooLarge(Problem, status=413, slug="payload-too-large"):
    """A body over the limit, declared or counted as it streamed; a batch too long."""


class UnsupportedMediaType(Problem, status=415, slug="unsupported-media-type"):
    """A body that is not JSON."""


class Unprocessable(Problem, status=422, slug="validation-error"):
    """A body that breaks the rules; `errors` names each field."""


class FailedDependency(Problem, status=424, slug="failed-dependency"):
    """An operation of an atomic batch not applied because an earlier one failed."""


class TooManyRequests(Problem, status=429, slug="too-many-requests"):
    """Over the rate limit; `Retry-After` says when to try again."""


class ServiceUnavailable(Problem, status=503, slug="service-unavailable"):
    """The database is unreachable or not migrated; `Retry-After` says when to retry."""


def field_problem(field: str, message: str) -> Unprocessable:
    return Unprocessable.on(field, message)


class RaisedThrough(StarletteHTTPException):
    """Carries a Problem through code that lets only HTTPException pass: FastAPI turns any
    other error raised while it reads a body into a 400, and a body that grows over the
    limit as it streams must be the same 413 as one whose Content-Length says so."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.status, problem.detail)
        self.problem = problem


def problem_response(problem: Problem) -> JSONResponse:
    return JSONResponse(
        problem.body(), status_code=problem.status, headers=problem.headers, media_type=PROBLEM_JSON
    )


def validation_errors(errors: Any, prefix: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """Pydantic's error list as `field`/`message` pairs (`body.value_min`)."""
    out = []
    for error in errors:
        loc = prefix + tuple(str(part) for part in error.get("loc", ()))
        if error.get("type") == "json_invalid":
            loc = loc[:1]  # FastAPI appends the character offset
        if rule_field := (error.get("ctx") or {}).get("field"):
            loc = (*loc, rule_field)
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if error.get("type") == "extra_forbidden":
            message = "unknown parameter (see /docs)" if loc[:1] == ("query",) else "unknown field"
        out.append({"field": ".".join(loc) or "body", "message": message})
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


@dataclass(frozen=True)
class UniqueRule:
    name: str
    table: str
    columns: tuple[str, ...]


def _unique_rules(metadata: MetaData) -> list[UniqueRule]:
    rules = []
    for table in metadata.tables.values():
        for constraint in table.constraints:
            if isinstance(constraint, UniqueConstraint | PrimaryKeyConstraint):
                columns = tuple(c.name for c in constraint.columns)
                rules.append(UniqueRule(str(constraint.name), table.name, columns))
        for index in table.indexes:
            if index.unique:
                columns = tuple(str(c.name) for c in index.columns)
                rules.append(UniqueRule(str(index.name), table.name, columns))
    return rules


def _unique_rule(exc: IntegrityError, metadata: MetaData) -> UniqueRule | None:
    """The unique rule broken: by name on Postgres, by table and columns on SQLite."""
    name = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
    match = _SQLITE_UNIQUE.search(str(exc.orig))
    columns = [c.strip() for c in match["cols"].split(",")] if match else []
    for rule in _unique_rules(metadata):
        if rule.name == name or [f"{rule.table}.{c}" for c in rule.columns] == columns:
            return rule
    return None


def integrity_problem(exc: IntegrityError) -> Problem:
    """A database constraint error as a client problem, the same on SQLite and Postgres.

    Constraint names follow the metadata's naming convention; Postgres reports the
    name, SQLite the columns, and both lead to the same rule and the same answer.
    """
    if rule := _unique_rule(exc, metadata):
        fields = [c for c in rule.columns if c != "id"] or ["id"]
        return Conflict(
            f"A record with the same {', '.join(fields)} already exists.",
            errors=[{"field": f"body.{f}", "message": "already taken"} for f in fields],
            constraint=rule.name,
        )
    message = str(exc.orig)
    name = getattr(getattr(exc.orig, "diag", None), "constraint_name", None) or ""
    if match := _SQLITE_CHECK.search(message):
        name = match["name"]
    if name.startswith("ck_"):
        return Unprocessable(f"The record breaks the rule {name}.", constraint=name)
    # A reference that vanished (or appeared) between our check and the write.
    return Conflict("A referenced record changed meanwhile; read it again and retry.")


def unavailable(detail: str, **extra: Any) -> ServiceUnavailable:
    return ServiceUnavailable(detail, headers={"Retry-After": str(RETRY_AFTER_S)}, **extra)


def database_problem(exc: DBAPIError) -> Problem:
    """A database that cannot be reached, or has no schema yet, is a 503; a value the
    database cannot hold (out of range) came from the client, a 400; the rest a 500."""
    if isinstance(exc, DataError):
        return BadRequest("A value is out of the range the database can hold.")
    if getattr(exc.orig, "sqlstate", None) in RETRYABLE:
        return Conflict("The write collided with concurrent writes; retry it.")
    missing_table = getattr(exc.orig, "sqlstate", None) == "42P01"  # Postgres before migrate
    if isinstance(exc, OperationalError) and "database is locked" in str(exc.orig):
        # SQLite: another process held the write lock past the busy timeout.
        log.warning("database busy: %s", exc.orig)
        return unavailable("The database is busy with another writer; retry shortly.")
    if isinstance(exc, OperationalError) or exc.connection_invalidated or missing_table:
        log.warning("database unavailable: %s", exc.orig)
        return unavailable("The database is unavailable; retry shortly.")
    log.error("database error", exc_info=exc)
    return Problem("Internal error; it has been logged.")


def http_problem(exc: StarletteHTTPException) -> Problem:
    """The framework's own errors (routing 404, 405) in the same shape as ours."""
    if isinstance(exc, RaisedThrough):
        return exc.problem
    problem = Problem(str(exc.detail), headers=dict(exc.headers or {}))
    problem.status = exc.status_code
    problem.slug = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "-")
    if exc.status_code == 404:
        problem.detail = "No such resource. The API lives under /api/v1; see /docs."
    if exc.status_code == 400:  # FastAPI's own: a body it could not even decode
        return Unprocessable.on("body", str(exc.detail), "The body is not valid UTF-8 JSON.")
    return problem


PROBLEMS: dict[type[Exception], Callable[[Any], Problem]] = {
    Problem: lambda exc: exc,
    RequestValidationError: request_validation_problem,
    StarletteHTTPException: http_problem,
    IntegrityError: integrity_problem,
    DBAPIError: database_problem,
}


def as_problem(exc: Exception) -> Problem:
    """The problem an exception is, for code that runs outside the app's exception handlers
    (an ASGI middleware): the same mapping they use."""
    for kind in type(exc).__mro__:
        if kind in PROBLEMS:
            return PROBLEMS[kind](exc)
    log.error("unhandled error", exc_info=exc)
    return Problem("Internal error; it has been logged.")


def add_problem_handlers(app: FastAPI) -> None:
    for exc_class, to_problem in PROBLEMS.items():
        app.add_exception_handler(exc_class, _handler(to_problem))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        return problem_response(as_problem(exc))


def _handler(to_problem: Callable[[Any], Problem]) -> Callable[[Request, Any], Awaitable[Response]]:
    async def handle(_request: Request, exc: Any) -> Response:
        return problem_response(to_problem(exc))

    return handle
