"""`GET /api/v1/search`: every collection at once, ranked, keyset-paginated."""

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import Float, case, cast, or_, select
from sqlmodel import Session

from app.resources import cursor
from app.resources.catalog import catalog
from app.resources.cursor import SortKey
from app.resources.pages import keyset_page
from app.resources.text_index import ENTRIES, normalize, searched_values, text_matches

SNIPPET_RADIUS = 60
# Exact label first, then labels that start with the query, then any label or text match.
SCORES = (1.0, 0.75, 0.5, 0.25)


def _ranked(q: str, collections: list[str]) -> Any:
    norm = normalize(q.strip())
    names = (ENTRIES.c.label_norm, ENTRIES.c.local_norm)  # 蔚来 is NIO's name too
    score = case(
        (or_(*(name == norm for name in names)), SCORES[0]),
        (or_(*(name.startswith(norm, autoescape=True) for name in names)), SCORES[1]),
        (or_(*(name.contains(norm, autoescape=True) for name in names)), SCORES[2]),
        else_=SCORES[3],
    )
    query = select(
        ENTRIES.c.record_id.label("id"),
        ENTRIES.c.collection.label("collection"),
        ENTRIES.c.label.label("label"),
        cast(score, Float).label("score"),
    ).where(text_matches(q))
    if collections:
        query = query.where(ENTRIES.c.collection.in_(collections))
    return query.subquery()


def _keys(ranked: Any) -> list[SortKey]:
    return [
        SortKey(ranked.c.score, descending=True),
        SortKey(ranked.c.collection),
        SortKey(ranked.c.id),
    ]


def scope_of_search(q: str, collections: list[str], known_at: dt.datetime | None) -> str:
    return cursor.scope_of("search", normalize(q.strip()), sorted(collections), known_at)


def page_keys(q: str, collections: list[str]) -> list[SortKey]:
    """The order results come in, to check a cursor before any output."""
    return _keys(_ranked(q, collections))


def search(
    session: Session,
    q: str,
    collections: list[str],
    limit: int,
    after: str | None,
    known_at: dt.datetime | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of hits; `session` reads as of `known_at` (app.resources.versions.at)."""
    ranked = _ranked(q, collections)
    page = keyset_page(
        session,
        select(ranked),
        _keys(ranked),
        limit=limit,
        after=after,
        scope=scope_of_search(q, collections, known_at),
    )
    records = _records(session, page.rows)
    items = []
    for row in page.rows:
        record = records.get((row.collection, row.id))
        items.append({
            "collection": row.collection,
            "id": str(row.id),
            "slug": getattr(record, "slug", None),
            "label": row.label,
            "snippet": _snippet(row.collection, record, q, row.label),
            "score": row.score,
        })  # fmt: skip
    return items, page.next_cursor


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
