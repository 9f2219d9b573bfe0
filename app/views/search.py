"""`GET /api/v1/search`: every collection at once, ranked, keyset-paginated."""

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    FromClause,
    literal_column,
    select,
    true,
)
from sqlmodel import Session

from app.resources import cursor
from app.resources.catalog import catalog
from app.resources.cursor import SortKey
from app.resources.pages import keyset_page
from app.resources.text_index import (
    ENTRIES,
    fts_matches,
    normalize,
    searched_values,
    text_matches,
)
from app.resources.versions import is_past
from app.views.search_tiers import hit_columns, scored, tiered

SNIPPET_RADIUS = 60


# Within a score, the most recently written first (the entry's `seq`).
KEYS = [
    SortKey(literal_column("score", Float), descending=True),
    SortKey(ENTRIES.c.seq, descending=True),
]


def _matching(session: Session, q: str) -> tuple[FromClause, ColumnElement[bool]]:
    """The entries that match `q`, as a FROM and a condition. On SQLite, joined to the
    FTS5 table's matches: as `seq IN (matches)`, the planner walked every entry newest
    first testing each (seconds at L when few match); joined, it looks the matches up."""
    if session.get_bind().dialect.name == "sqlite":
        matches = fts_matches(normalize(q.strip()))
        if matches is not None:
            found = matches.subquery("matches")
            return ENTRIES.join(found, ENTRIES.c.seq == found.c.seq), true()
    return ENTRIES, text_matches(q)


# Reading the current entries, for a query the text indexes can answer (3+ characters), a
# page is read tier by tier (app.views.search_tiers), so that no query lists every match.
# Otherwise (known_at, a short query), one ranked query with LIMIT.


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
    """A page of hits; `session` reads as of `known_at` (app.resources.versions.at)."""
    scope = scope_of_search(q, collections, known_at)
    norm = normalize(q.strip())
    if is_past(session) or fts_matches(norm) is None:  # one ranked query
        rows, next_cursor = _ranked(session, q, collections, limit, after, scope)
        return _items(session, q, rows), next_cursor
    start = None if after is None else cursor.decode(after, KEYS, scope)
    rows = tiered(session, norm, collections, limit, start)
    next_cursor = cursor.encode(KEYS, rows[limit - 1], scope) if len(rows) > limit else None
    return _items(session, q, rows[:limit]), next_cursor


def _ranked(
    session: Session, q: str, collections: list[str], limit: int, after: str | None, scope: str
) -> tuple[list[Any], str | None]:
    """The page in one query, ranked by score then seq, limited (the database keeps the
    page's best rows as it reads the matches: a top-N sort)."""
    ranked = _hits(q, collections, *_matching(session, q))
    page = keyset_page(
        session, select(ranked), _keys(ranked), limit=limit, after=after, scope=scope
    )
    return page.rows, page.next_cursor


def _hits(q: str, collections: list[str], found: FromClause, matched: ColumnElement[bool]) -> Any:
    """Every entry of `found` that `matched` selects, with its score: a subquery to page."""
    score = scored(ENTRIES, normalize(q.strip()))
    return hit_columns(ENTRIES, score, collections).select_from(found).where(matched).subquery()


def _keys(ranked: Any) -> list[SortKey]:
    return [SortKey(ranked.c.score, descending=True), SortKey(ranked.c.seq, descending=True)]


def _items(session: Session, q: str, rows: list[Any]) -> list[dict[str, Any]]:
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
    return items


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
