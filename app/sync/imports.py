"""Read records back from an export's JSON lines (or a list's CSV): every line checked and
every bad one named by its number, then all or nothing. A plain import goes through the
batch machinery, as the API would take the same writes; a restore keeps each record's id,
version and times, so that ETags held by clients still match."""

import csv
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, get_origin
from uuid import UUID

from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session

from app.db import read_session, write_session
from app.problems import Problem, body_validation_problem, integrity_problem
from app.resources import writes
from app.resources.catalog import catalog
from app.resources.records import RecordOut
from app.sync import batch

RESTORE_RUN = 1000  # records written set-based at once by a restore


@dataclass
class Line:
    number: int
    collection: str
    record: dict[str, Any]


@dataclass
class ImportResult:
    counts: dict[str, int] = field(default_factory=dict)
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line number, why)
    refused: str | None = None  # why nothing was even tried


def read_jsonl(text: Iterable[str]) -> tuple[list[Line], list[tuple[int, str]]]:
    lines, bad = [], []
    for number, raw in enumerate(text, start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except ValueError as exc:
            bad.append((number, f"not JSON: {exc}"))
            continue
        if isinstance(item, dict) and set(item) == {"next_after"}:
            continue
        if not (isinstance(item, dict) and item.get("collection") in catalog
                and isinstance(item.get("record"), dict)):  # fmt: skip
            bad.append((number, 'expected {"collection": "<known name>", "record": {...}}'))
            continue
        lines.append(Line(number, item["collection"], item["record"]))
    return lines, bad


def read_csv(text: str, collection: str) -> list[Line]:
    """A list's CSV back into records: empty cells are null, lists are split on `; `."""
    create = catalog.by_path(collection).models.create
    fields, read_only = create.model_fields, create.read_only  # type: ignore[attr-defined]
    lists = {name for name, info in fields.items() if get_origin(info.annotation) is list}
    lines = []
    for number, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        record: dict[str, Any] = {}
        for name, cell in row.items():
            if name is None or name in read_only:
                continue
            if name in lists:
                record[name] = [v for v in (cell or "").split("; ") if v]
            else:
                record[name] = cell if cell != "" else None
        lines.append(Line(number, collection, record))
    return lines


def import_lines(
    engine: Engine,
    lines: list[Line],
    actor: str,
    progress: Callable[[], None] | None = None,
    unreadable: list[tuple[int, str]] | None = None,
) -> ImportResult:
    """Write every line as the API would (PUT at its id, POST without one), in one
    transaction; nothing if a line is bad, and then every bad line is named: a body that
    breaks the rules, a repeated id, a reference that resolves nowhere, a duplicate slug."""
    rejected = [*(unreadable or []), *_invalid(lines), *_repeated(lines)]
    named = {number for number, _ in rejected}
    ordered = _in_order([line for line in lines if line.number not in named])
    operations = [
        batch.Operation(
            method="PUT" if line.record.get("id") else "POST",
            collection=line.collection,
            id=str(line.record["id"]) if line.record.get("id") else None,
            body=line.record,
        )
        for line in ordered
    ]
    if not rejected:
        with write_session(engine) as session:
            outcome = batch.run(
                session, operations, atomic=True, dry_run=False, actor=actor, progress=progress
            )
        if outcome.failed is None:
            return ImportResult(counts=outcome.counts)
    rejected += _every_failure(engine, ordered, operations, actor)
    return ImportResult(rejected=sorted(rejected))


def _every_failure(
    engine: Engine, ordered: list[Line], operations: list[batch.Operation], actor: str
) -> list[tuple[int, str]]:
    """Apply each operation in a savepoint of one transaction that is then rolled back,
    noting each failure: the atomic batch stops at the first, and the user wants all."""
    failures = []
    with write_session(engine) as session:
        for line, op in zip(ordered, operations, strict=True):
            savepoint = session.begin_nested()
            try:
                batch.apply_operation(session, op, actor)
                savepoint.commit()
            except (Problem, DBAPIError) as exc:
                savepoint.rollback()
                failures.append((line.number, _text(batch.problem_of(exc))))
        writes.rollback(session)
    return sorted(failures)


def restore_lines(
    engine: Engine, lines: list[Line], actor: str, unreadable: list[tuple[int, str]]
) -> ImportResult:
    """Into an empty database only: every record as it was, its id, version, `created_at`
    and `updated_at` kept, and one `create` in the change log for each (at its version),
    so that its history and the feed start from it. All or nothing, every bad line named."""
    with read_session(engine) as session:
        held = [spec.path for spec in catalog if session.scalar(select(spec.table).limit(1))]
    if held:
        return ImportResult(refused=f"the database already holds {', '.join(held)}")
    rejected = [*unreadable, *_invalid(lines, whole=True), *_repeated(lines)]
    named = {number for number, _ in rejected}
    with write_session(engine) as session:
        for run in _runs(_in_order([line for line in lines if line.number not in named])):
            rejected += _restore_run(session, run, actor)
        if rejected:
            writes.rollback(session)
            return ImportResult(rejected=sorted(rejected))
        writes.commit(session)
    return ImportResult(counts={"created": len(lines)})


def _restore_run(session: Session, run: list[Line], actor: str) -> list[tuple[int, str]]:
    """Write a run set-based in a savepoint; when the database refuses it (a slug twice),
    line by line, to say which lines."""
    spec = catalog.by_path(run[0].collection)
    planned = []
    for line in run:
        kept = RecordOut.model_validate(line.record).model_dump(exclude={"id"})
        values = {**writes.body_values(spec.models.create.model_validate(line.record)), **kept}
        planned.append(writes.Planned(UUID(str(line.record["id"])), values))
    problems = writes.resolve(session, spec, planned)
    failed = [(line.number, _text(p)) for line, p in zip(run, problems, strict=True) if p]
    if failed:
        return failed
    try:
        with session.begin_nested():
            writes.write_rows(session, spec, planned, {}, actor)
        return []
    except IntegrityError:
        if len(run) == 1:
            raise
    return [failure for line in run for failure in _restore_alone(session, line, actor)]


def _restore_alone(session: Session, line: Line, actor: str) -> list[tuple[int, str]]:
    try:
        with session.begin_nested():
            return _restore_run(session, [line], actor)
    except IntegrityError as exc:
        return [(line.number, _text(integrity_problem(exc)))]


def _runs(ordered: list[Line]) -> Iterable[list[Line]]:
    """Consecutive lines of one collection, up to RESTORE_RUN, none referencing another
    line of its own run (a brand and its group): each run's references are written first."""
    run: list[Line] = []
    ids: set[str] = set()
    for line in ordered:
        parent = _self_ref(line)
        full = len(run) >= RESTORE_RUN
        if run and (line.collection != run[0].collection or parent in ids or full):
            yield run
            run, ids = [], set()
        run.append(line)
        ids.add(str(line.record.get("id")))
    if run:
        yield run


def _invalid(lines: list[Line], *, whole: bool = False) -> list[tuple[int, str]]:
    """Lines whose record breaks its collection's rules; with `whole`, also those without a
    valid id, version, created_at and updated_at (what a restore keeps)."""
    bad = []
    for line in lines:
        models: list[type[BaseModel]] = [catalog.by_path(line.collection).models.create]
        models += [RecordOut] if whole else []
        for model in models:
            try:
                model.model_validate(line.record)
            except ValidationError as exc:
                bad.append((line.number, _text(body_validation_problem(exc))))
                break
    return bad


def _repeated(lines: list[Line]) -> list[tuple[int, str]]:
    """A record's id given twice in one file: the later line is the bad one."""
    first: dict[tuple[str, str], int] = {}
    bad = []
    for line in lines:
        if not line.record.get("id"):
            continue
        key = (line.collection, str(line.record["id"]))
        if key in first:
            bad.append((line.number, f"id: the same {line.collection} id as line {first[key]}"))
        else:
            first[key] = line.number
    return bad


def _text(problem: Problem) -> str:
    errors = "; ".join(f"{e['field']}: {e['message']}" for e in problem.errors or [])
    return errors or problem.detail


def _in_order(lines: list[Line]) -> list[Line]:
    """Collections in the catalog's order (references first); inside a collection that
    references itself (brands and groups), parents before their children."""
    rank = {path: i for i, path in enumerate(catalog.paths)}
    groups: dict[str, list[Line]] = {}
    for line in lines:
        groups.setdefault(line.collection, []).append(line)
    return [
        line
        for path in sorted(groups, key=rank.__getitem__)
        for line in _parents_first(groups[path])
    ]


def _parents_first(lines: list[Line]) -> list[Line]:
    """By depth in the file: a line whose parent is not in the file first, then their
    children, and so on; the file's order kept within a depth. A cycle is left for the
    rules to report."""
    by_id = {str(line.record.get("id")): line for line in lines}
    depth: dict[int, int] = {}

    def depth_of(line: Line) -> int:
        chain, seen = [], set()
        node: Line | None = line
        while node is not None and id(node) not in depth and id(node) not in seen:
            seen.add(id(node))
            chain.append(node)
            parent = _self_ref(node)
            node = by_id.get(parent) if parent else None
        level = depth.get(id(node), -1) if node is not None else -1
        for step in reversed(chain):
            level += 1
            depth[id(step)] = level
        return depth[id(line)]

    return sorted(lines, key=depth_of)


def _self_ref(line: Line) -> str | None:
    spec = catalog.by_path(line.collection)
    for name, table in spec.refs.items():
        if table == spec.table_name and line.record.get(name):
            return str(line.record[name])
    return None
