"""Export every record as JSON lines, then where to follow the change feed from; and import
such a file (or a CSV of one collection) through the batch machinery, all or nothing."""

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, get_origin

from pydantic import ValidationError
from sqlalchemy import Engine

from app.db import read_session, write_session
from app.problems import body_validation_problem
from app.resources import changelog, reads
from app.resources.catalog import catalog
from app.resources.rows import dumps
from app.resources.sorting import parse_sort
from app.sync import batch

PAGE = 500


def export_lines(engine: Engine) -> Iterator[str]:
    """Every record, collection by collection (references first), then `next_after`.

    The head is read before any record: a change committed later has a higher `seq`,
    so a record that changes during the export is either exported as changed or
    replayed by the feed after `next_after`; never lost.
    """
    with read_session(engine) as session:
        head = changelog.head(session)
    for spec in catalog:
        keys = parse_sort(spec.table, None, ())
        after: str | None = None
        while True:
            with read_session(engine) as session:
                page = reads.list_page(session, spec, keys=keys, limit=PAGE, after=after)
                for record in page.rows:
                    yield dumps({"collection": spec.path, "record": record}).decode() + "\n"
            if page.next_cursor is None:
                break
            after = page.next_cursor
    yield json.dumps({"next_after": head}) + "\n"


@dataclass
class Line:
    number: int
    collection: str
    record: dict[str, Any]


@dataclass
class ImportResult:
    counts: dict[str, int] = field(default_factory=dict)
    rejected: list[tuple[int, str]] = field(default_factory=list)


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


def _problem_text(problem: Any) -> str:
    errors = "; ".join(f"{e['field']}: {e['message']}" for e in problem.errors or [])
    return errors or problem.detail


def _in_order(lines: list[Line]) -> list[Line]:
    """Collections in the registry's order (references first); inside a collection that
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
    ordered, placed, pending = [], set(), list(lines)
    while pending:
        ready = [
            line for line in pending
            if not (parent := _self_ref(line)) or parent in placed
            or parent not in {str(p.record.get("id")) for p in pending}
        ]  # fmt: skip
        ready = ready or pending[:1]  # a cycle: let validation report it
        for line in ready:
            ordered.append(line)
            placed.add(str(line.record.get("id")))
            pending.remove(line)
    return ordered


def _self_ref(line: Line) -> str | None:
    spec = catalog.by_path(line.collection)
    for name, table in spec.refs.items():
        if table == spec.table_name and line.record.get(name):
            return str(line.record[name])
    return None


def import_lines(
    engine: Engine,
    lines: list[Line],
    actor: str,
    progress: Callable[[], None] | None = None,
    unreadable: list[tuple[int, str]] | None = None,
) -> ImportResult:
    """Validate every line, reporting all bad ones (with any `unreadable` lines); apply
    nothing if one is bad, else everything in one transaction."""
    result = ImportResult(rejected=list(unreadable or []))
    for line in lines:
        try:
            catalog.by_path(line.collection).models.create.model_validate(line.record)
        except ValidationError as exc:
            result.rejected.append((line.number, _problem_text(body_validation_problem(exc))))
    if result.rejected:
        result.rejected.sort()
        return result
    ordered = _in_order(lines)
    operations = [
        batch.Operation(
            method="PUT" if line.record.get("id") else "POST",
            collection=line.collection,
            id=str(line.record["id"]) if line.record.get("id") else None,
            body=line.record,
        )
        for line in ordered
    ]
    with write_session(engine) as session:
        outcome = batch.run(
            session, operations, atomic=True, dry_run=False, actor=actor, progress=progress
        )
    if outcome.failed is not None:
        failed = len(outcome.results) - 1 - sum(1 for r in outcome.results if r["status"] == 424)
        result.rejected.append((ordered[failed].number, _problem_text(outcome.failed)))
        return result
    result.counts = outcome.counts
    return result
