"""`GET /api/v1/search`: every collection at once, ranked, keyset-paginated."""

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import ColumnElement, Float, and_, literal, literal_column, not_, or_, select
from sqlmodel import Session

from app.resources import cursor
from app.resources.catalog import catalog
from app.resources.cursor import SortKey
from app.resources.text_index import ENTRIES, normalize, searched_values, text_matches

SNIPPET_RADIUS = 60


def _tiers(q: str) -> list[tuple[float, ColumnElement[bool]]]:
    """Each score beside the entries that earn it: an exact name, a name that starts with
    the query, a name that holds it, then a match in the text only. Disjoint, best first."""
    norm = normalize(q.strip())
    names = (ENTRIES.c.label_norm, ENTRIES.c.local_norm)  # 蔚来 is NIO's name too
    exact = or_(*(name == norm for name in names))
    prefix = or_(*(name.startswith(norm, autoescape=True) for name in names))
    inside = or_(*(name.contains(norm, autoescape=True) for name in names))
    return [
        (1.0, exact),
        (0.75, and_(prefix, not_(exact))),
        (0.5, and_(inside, not_(prefix))),
        (0.25, not_(inside)),
    ]


# Within a score, the most recently indexed first: the entry's `seq`, which the text index
# (FTS5's rowid on SQLite) walks in order, so a page stops after `limit` matches instead
# of ranking every one (at a million entries, a common word matches a hundred thousand).
SCORE = literal_column("score", Float)
KEYS = [SortKey(SCORE, descending=True), SortKey(ENTRIES.c.seq, descending=True)]


def scope_of_search(q: str, collections: list[str], known_at: dt.datetime | None) -> str:
    return cursor.scope_of("search", normalize(q.strip()), sorted(collections), known_at)


def page_keys() -> list[SortKey]:
    """The order results come in, to check a cursor before any output."""
    return KEYS


def search(
    session: Session,
    q: str,
    collections: list[str],
    limit: int,
    after: str | None,
    known_at: dt.datetime | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of hits; `session` reads as of `known_at` (app.resources.versions.at). One
    ranked, limited query a score, from the cursor's on, until the page is full."""
    scope = scope_of_search(q, collections, known_at)
    start = cursor.decode(after, KEYS, scope) if after is not None else None
    rows: list[Any] = []
    for score, earns in _tiers(q):
        if start is not None and score > start[0]:
            continue
        query = select(
            ENTRIES.c.record_id.label("id"),
            ENTRIES.c.collection,
            ENTRIES.c.label,
            ENTRIES.c.seq,
            literal(score, Float).label("score"),
        ).where(text_matches(q), earns)
        if collections:
            query = query.where(ENTRIES.c.collection.in_(collections))
        if start is not None and score == start[0]:
            query = query.where(ENTRIES.c.seq < start[1])
        wanted = limit + 1 - len(rows)
        rows += session.execute(query.order_by(ENTRIES.c.seq.desc()).limit(wanted))
        if len(rows) > limit:
            break
    next_cursor = cursor.encode(KEYS, rows[limit - 1], scope) if len(rows) > limit else None
    rows = rows[:limit]
    records = _records(session, rows)
    items = []
    for row in rows:
        record = records.get((row.collection, row.id))
        items.append({
            "collection": row.collection,
            "id": str(row.id),
            "slug": getattr(record, "slug", None),
            "label": row.label,
            "snippet": _snippet(row.collection, record, q, row.label),
            "score": row.score,
        })  # fmt: skip
    return items, next_cursor


def _records(session: Session, rows: list[Any]) -> dict[tuple[str, Any], Any]:
    """The page's records by (collection, id), one query per collection present: ids are
    unique within a collection only (a partner may PUT one id into two)."""
    ids: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        ids[row.collection].append(row.id)
    found = {}
    for path, wanted in ids.items():
        table: Any = catalog.by_path(path).table
        for record in session.scalars(select(table).where(table.id.in_(wanted))):
            found[(path, record.id)] = record
    return found


def _snippet(path: str, record: Any, q: str, label: str) -> str:
    """The text around the first match, from the field it was found in."""
    norm = normalize(q.strip())
    for _, text in searched_values(catalog.by_path(path), record) if record is not None else ():
        at = normalize(text).find(norm)
        if at >= 0:
            start, end = max(0, at - SNIPPET_RADIUS), at + len(norm) + SNIPPET_RADIUS
            return ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")
    return label  # matched in the label or a joined name: the label says it all
