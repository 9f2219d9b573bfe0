"""Batches: many operations in order, in one transaction (atomic) or each on its own.

The same `apply_*` functions as the single-record routes do the work, so every result
carries the status that the same request alone would get.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session

from app.problems import (
    BadRequest,
    FailedDependency,
    Problem,
    body_validation_problem,
    database_problem,
    integrity_problem,
)
from app.resources import writes
from app.resources.bulk import RunItem, apply_run
from app.resources.catalog import catalog
from app.resources.changelog import Op
from app.resources.idempotency import Idempotency, StepTaken
from app.resources.preconditions import Conditions

MAX_OPERATIONS = 1000
MIN_RUN = 2  # one operation alone gains nothing from the set-based path
RUN_METHODS = ("POST", "PUT")


class Operation(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"method": "PUT", "collection": "sources",
                          "id": "0b0e7c55-1f3a-4d5e-8f00-8a1c7c9e0001",
                          "body": {"slug": "q3-report", "title": "Q3 report", "kind": "report"}}]
        },
    )  # fmt: skip

    method: Literal["POST", "PUT", "PATCH", "DELETE"]
    collection: str = Field(description="The URL name: `battery-partners`.")
    id: str | None = Field(None, description="For PUT (a UUID), PATCH and DELETE (id or slug).")
    body: dict[str, Any] | None = Field(None, description="For POST, PUT and PATCH.")
    if_match: str | None = Field(None, description='As the If-Match header: `"3"`.')

    @field_validator("collection")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in catalog:
            raise ValueError(f"unknown collection; use one of {', '.join(catalog.paths)}")
        return value


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    atomic: bool = Field(True, description="All or nothing (default), or each on its own.")
    operations: list[Operation] = Field(description="Up to 1000, applied in order.")


@dataclass
class Outcome:
    results: list[dict[str, Any]] = field(default_factory=list)
    failed: Problem | None = None
    counts: dict[str, int] = field(default_factory=dict)


def apply_operation(session: Session, op: Operation, actor: str) -> writes.Written:
    """One operation, inside the caller's transaction, as the same request alone would go."""
    spec = catalog.by_path(op.collection)
    conditions = Conditions.parse(op.if_match, None)
    needs_id = op.method != "POST"
    if needs_id and not op.id:
        raise BadRequest.on("id", "required", "id: required for PUT, PATCH and DELETE.")
    if op.method in ("POST", "PUT", "PATCH") and op.body is None:
        raise BadRequest.on("body", "required", "body: required for POST, PUT and PATCH.")
    try:
        if op.method == "DELETE":
            return writes.apply_delete(session, spec, str(op.id), conditions, actor)
        if op.method == "PATCH":
            changes = spec.models.update.model_validate(op.body).model_dump(exclude_unset=True)
            return writes.apply_patch(session, spec, str(op.id), changes, conditions, actor)
        body = spec.models.create.model_validate(op.body)
    except ValidationError as exc:
        raise body_validation_problem(exc) from None
    if op.method == "POST":
        return writes.apply_create(session, spec, body, actor)
    try:
        record_id = UUID(str(op.id))
    except ValueError:
        raise BadRequest.on("id", "must be a UUID", "id: PUT needs a UUID.") from None
    return writes.apply_put(session, spec, record_id, body, conditions, actor)


def run_length(operations: list[Operation], start: int) -> int:
    """How many operations from `start` form a run: POST or PUT, one collection, no If-Match
    (a precondition needs the row's version as each earlier operation left it)."""
    first, end = operations[start], start
    while end < len(operations):
        op = operations[end]
        if op.method not in RUN_METHODS or op.collection != first.collection or op.if_match:
            break
        end += 1
    return end - start


def _apply_run(session: Session, run: list[Operation], actor: str) -> list[writes.Written] | None:
    """The run set-based, or None when it must go op by op (app.resources.bulk declines, or
    an operation lacks what it needs, which the op-by-op path reports)."""
    items = []
    for op in run:
        if op.body is None or (op.method == "PUT" and not op.id):
            return None
        try:
            record_id = UUID(str(op.id)) if op.method == "PUT" else None
        except ValueError:
            return None
        items.append(RunItem(record_id, op.body))
    return apply_run(session, catalog.by_path(run[0].collection), items, actor)


def problem_of(exc: Exception) -> Problem:
    """What an operation's failure answers: a problem, database errors included."""
    if isinstance(exc, IntegrityError):
        return integrity_problem(exc)
    if isinstance(exc, DBAPIError):
        return database_problem(exc)
    assert isinstance(exc, Problem)
    return exc


def _commit_step(
    session: Session, steps: Idempotency | None, index: int, result: dict[str, Any]
) -> None:
    """Commit one operation of a non-atomic batch, with its answer as a step if a key asks."""
    store = None if steps is None else (lambda own: steps.store_step(own, index, result))
    writes.commit(session, store)


def _store_failure(
    session: Session, steps: Idempotency | None, index: int, outcome: Outcome
) -> None:
    """A failed operation's answer is a step too: a retry answers it the same way."""
    if steps is None:
        return
    try:
        _commit_step(session, steps, index, outcome.results[-1])
    except StepTaken:
        writes.rollback(session)
        outcome.results[-1] = steps.steps_done(session)[index]


def _result(written: writes.Written) -> dict[str, Any]:
    if written.status == 204:
        return {"status": 204}
    return {"status": written.status, "body": written.json}


def _record(outcome: Outcome, written: writes.Written, progress: Callable[[], None] | None) -> None:
    outcome.results.append(_result(written))
    name = {Op.create: "created", Op.update: "updated", Op.delete: "deleted", None: "unchanged"}
    outcome.counts[name[written.op]] = outcome.counts.get(name[written.op], 0) + 1
    if progress is not None:
        progress()


def run(
    session: Session,
    operations: list[Operation],
    *,
    atomic: bool,
    dry_run: bool,
    actor: str,
    remember: Callable[[Session, "Outcome"], None] | None = None,
    progress: Callable[[], None] | None = None,
    steps: Idempotency | None = None,
) -> Outcome:
    """Apply `operations`; an atomic batch stops at the first failure and keeps nothing.

    Without `atomic`, each operation is its own unit: committed on success (or, in a dry
    run, kept in a savepoint so later operations see it), undone alone on failure. With
    `steps` (its Idempotency-Key), each operation's answer is stored in its own
    transaction, and operations whose answers are stored already are not applied again.
    An atomic batch (dry run or not) applies each run of POSTs and PUTs on one collection
    set-based (app.resources.bulk), replaying the run op by op when that path declines; a
    non-atomic batch, whose operations each commit (or keep a savepoint) alone, always
    goes op by op.
    """
    outcome = Outcome()
    done = steps.steps_done(session) if steps is not None else {}
    index, one_by_one_until = 0, 0
    while index < len(operations):
        if index in done:  # applied before a crash, or by a concurrent retry
            outcome.results.append(done[index])
            index += 1
            continue
        if atomic and index >= one_by_one_until:
            end = index + run_length(operations, index)
            run = operations[index:end]
            applied = _apply_run(session, run, actor) if len(run) >= MIN_RUN else None
            if applied is not None:
                for written in applied:
                    _record(outcome, written, progress)
                index = end
                continue
            one_by_one_until = end  # the same answers as ever, failing index and all
        op = operations[index]
        own = session.begin_nested() if not atomic and dry_run else None
        try:
            written = apply_operation(session, op, actor)
            if own is not None:
                own.commit()
            elif not atomic:
                _commit_step(session, steps, index, _result(written))
            _record(outcome, written, progress)
        except StepTaken:
            writes.rollback(session)
            outcome.results.append(steps.steps_done(session)[index])  # type: ignore[union-attr]
        except (Problem, DBAPIError) as exc:
            if atomic and isinstance(exc, DBAPIError) and not isinstance(exc, IntegrityError):
                raise  # a deadlock or an outage: the caller may retry the whole batch
            problem = problem_of(exc)
            if own is not None:
                own.rollback()
            else:
                writes.rollback(session)
            outcome.results.append({"status": problem.status, "problem": problem.body()})
            if not atomic and own is None:  # the answer stays this failure on a retry
                _store_failure(session, steps, index, outcome)
            if atomic:
                outcome.failed = problem
                skipped = FailedDependency(f"Not applied: operation {index} failed.")
                rest = len(operations) - index - 1
                outcome.results += [{"status": skipped.status, "problem": skipped.body()}] * rest
                return outcome
        index += 1
    if dry_run:
        writes.rollback(session)
    else:  # atomic: everything with its answer; otherwise just the answer, after the rest
        writes.commit(session, remember and (lambda own: remember(own, outcome)))
    return outcome
