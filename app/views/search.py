"""`GET /api/v1/search`: every collection at once, ranked, keyset-paginated."""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Float,
    FromClause,
    Integer,
    Select,
    and_,
    case,
    cast,
    column,
    literal_column,
    or_,
    select,
    table,
    true,
)
from sqlalchemy.sql.expression import TableClause
from sqlmodel import Session

from app.resources import cursor
from app.resources.catalog import catalog
from app.resources.cursor import SortKey
from app.resources.pages import keyset_page
from app.resources.text_index import (
    ENTRIES,
    VERSIONS,
    fts_matches,
    normalize,
    searched_values,
    text_matches,
)
from app.resources.versions import is_past

SNIPPET_RADIUS = 60


def _score(q: str) -> ColumnElement[float]:
    """An exact name first, then a name that starts with the query, a name that holds it,
    then a match in the text only."""
    norm = normalize(q.strip())
    names = (ENTRIES.c.label_norm, ENTRIES.c.local_norm)  # 蔚来 is NIO's name too
    return cast(
        case(
            (or_(*(name == norm for name in names)), 1.0),
            (or_(*(name.startswith(norm, autoescape=True) for name in names)), 0.75),
            (or_(*(name.contains(norm, autoescape=True) for name in names)), 0.5),
            else_=0.25,
        ),
        Float,
    )


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


# Reading the current entries, for a query the text indexes can answer (3+ characters), no
# query lists every match ("energy 12" has 60,000 text matches at a million records). On
# SQLite the page is read tier by tier (score by score, highest first), each tier newest
# first and limited to what the page still needs: an exact or prefix name through the
# names' btree indexes, a name holding the query through the names' FTS5 table, the text
# alone through the text's (migration 0011). Postgres ranks in two passes (`_in_passes`).
# Otherwise (known_at, a short query), one ranked query with LIMIT.
TEXT_FTS = table("search_fts", column("rowid", Integer))
NAMES_FTS = table("search_names_fts", column("rowid", Integer))


@dataclass(frozen=True)
class Tier:
    score: float
    source: FromClause
    condition: ColumnElement[bool]
    newest: ColumnElement[int]  # the entry's seq, as the tier's index gives it, newest first


def tiers(norm: str) -> list[Tier]:
    e = VERSIONS
    names = (e.c.label_norm, e.c.local_norm)
    in_text = e.c.text.contains(norm, autoescape=True)  # every hit's text holds the query
    # `name = norm` as the range it is: nearly every entry's local name is '', so once
    # ANALYZE has run, SQLite takes `local_norm = ?` for a match of every row and scans all
    # entries (120 ms at L); a range's estimate is not taken from those statistics.
    exact = or_(*(and_(name >= norm, name <= norm) for name in names))
    starts = or_(*(name.startswith(norm, autoescape=True) for name in names))
    holds = or_(*(name.contains(norm, autoescape=True) for name in names))
    after = _successor(norm)
    if after is not None:  # the same names as `starts`, as a range the btree reads
        starts = and_(starts, or_(*(and_(n >= norm, n < after) for n in names)))
    # The names' tiers are few rows, found by the names' indexes and then sorted: `seq + 0`
    # keeps the planner from walking every entry newest first instead.
    by_name = e.c.seq + 0
    return [
        Tier(1.0, e, and_(exact, in_text), by_name),
        Tier(0.75, e, and_(starts, ~exact, in_text), by_name),
        Tier(0.5, _joined(NAMES_FTS), and_(_match(NAMES_FTS, norm), ~starts, in_text),
             NAMES_FTS.c.rowid),
        Tier(0.25, _joined(TEXT_FTS), and_(_match(TEXT_FTS, norm), ~holds), TEXT_FTS.c.rowid),
    ]  # fmt: skip


def _joined(fts: TableClause) -> FromClause:
    return fts.join(VERSIONS, VERSIONS.c.seq == fts.c.rowid)


def _match(fts: TableClause, norm: str) -> ColumnElement[bool]:
    """The FTS5 table's rows that hold `norm`, as one phrase."""
    phrase = '"' + norm.replace('"', '""') + '"'
    return literal_column(fts.name).op("MATCH", return_type=Boolean)(phrase)


def _successor(norm: str) -> str | None:
    """The first string after every string that starts with `norm` (code point order, as
    SQLite compares UTF-8 text): its last character, plus one."""
    following = ord(norm[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates are no characters
        following = 0xE000
    return norm[:-1] + chr(following) if following <= 0x10FFFF else None


def _tiered(
    session: Session, norm: str, collections: list[str], limit: int, start: list[Any] | None
) -> list[Any]:
    """The page's rows (and one more), from the highest tier down, after `start`'s
    (score, seq)."""
    rows: list[Any] = []
    for tier in tiers(norm):
        if start is None or tier.score <= start[0]:
            after = start[1] if start is not None and tier.score == start[0] else None
            rows += session.execute(tier_query(tier, collections, after, limit + 1 - len(rows)))
            if len(rows) > limit:
                break
    return rows


def tier_query(tier: Tier, collections: list[str], after: int | None, limit: int) -> Select[Any]:
    """One tier's hits, newest first (after the entry `after`), at most `limit`."""
    e = VERSIONS
    query = (
        select(
            e.c.record_id.label("id"),
            e.c.collection,
            e.c.label,
            e.c.seq,
            literal_column(repr(tier.score), Float).label("score"),
        )
        .select_from(tier.source)
        .where(e.c.valid_to.is_(None), tier.condition)
        .order_by(tier.newest.desc())
        .limit(limit)
    )
    if collections:
        query = query.where(e.c.collection.in_(collections))
    if after is not None:
        query = query.where(tier.newest < after)
    return query


def _in_passes(
    session: Session, q: str, collections: list[str], limit: int, start: list[Any] | None
) -> list[Any]:
    """Postgres: the page's rows (and one more) in two ranked passes, after `start`'s
    (score, seq): the hits whose names hold the query (found through the names' trigram
    indexes, migration 0011: far fewer than the text's), then, only if the page still has
    room, those whose text alone does."""
    norm = normalize(q.strip())
    names = or_(*(name.contains(norm, autoescape=True)
                  for name in (ENTRIES.c.label_norm, ENTRIES.c.local_norm)))  # fmt: skip
    rows: list[Any] = []
    for matched in (and_(names, text_matches(q)), and_(text_matches(q), ~names)):
        ranked = _hits(q, collections, ENTRIES, matched)
        keys = _keys(ranked)
        page = select(ranked).order_by(*cursor.order_by(keys)).limit(limit + 1 - len(rows))
        if start is not None:
            page = page.where(cursor.after(keys, start))
        rows += session.execute(page).all()
        if len(rows) > limit:
            break
    return rows


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
    if session.get_bind().dialect.name == "sqlite":
        rows = _tiered(session, norm, collections, limit, start)
    else:
        rows = _in_passes(session, q, collections, limit, start)
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
    query = select(
        ENTRIES.c.record_id.label("id"),
        ENTRIES.c.collection,
        ENTRIES.c.label,
        ENTRIES.c.seq,
        _score(q).label("score"),
    ).select_from(found)
    query = query.where(matched)
    if collections:
        query = query.where(ENTRIES.c.collection.in_(collections))
    return query.subquery()


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
