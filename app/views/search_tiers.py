"""A search page read tier by tier (score by score, highest first), each tier newest first
and limited to what the page still needs, so that no query lists every match ("energy 12"
has 60,000 text matches at a million records, "motors 1" 37,000 names holding it).

SQLite: an exact or prefix name through the names' btree indexes, a name holding the query
through the names' FTS5 table, the text alone through the text's (migration 0011); FTS5
gives its matches newest first, so no tier sorts more than its exact and prefix names.

Postgres: the trigram indexes find a tier's matches in no order, and scoring and sorting
all the names holding "motors 1" took 80 ms at L. Its planner cannot know how many of a
tier's matches are recent (its estimate of a `LIKE '%…%'` on the text is a guess from the
pattern), so the choice is made here: a tier is first looked for among the newest
`WINDOW` current entries (one backward walk of the primary key a page, bounded); a tier
too sparse to fill the page there is read through its index (the names' btree indexes for
an exact or prefix name, migration 0013; the names' or the text's trigram index otherwise)
and all its matches sorted. That is cheap when they are few, and no better than before
when many old entries match and few recent ones do: GIN gives no order to stop early in
(SQLite's FTS5 walks its matches newest first).
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Float,
    FromClause,
    Integer,
    Row,
    Select,
    and_,
    case,
    cast,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
)
from sqlalchemy.sql.expression import TableClause
from sqlmodel import Session

from app.resources.text_index import VERSIONS

TEXT_FTS = table("search_fts", column("rowid", Integer))
NAMES_FTS = table("search_names_fts", column("rowid", Integer))
SCORES = (1.0, 0.75, 0.5, 0.25)  # exact name, name starting with it, holding it, text only
# Entries a Postgres tier is first looked for among: under a millisecond to read at S, so
# the walk costs little when it does not help; a tier holding 2% of recent entries fills a
# page of 21 from it.
WINDOW = 1024


@dataclass(frozen=True)
class Tier:
    score: float
    source: FromClause
    condition: ColumnElement[bool]
    newest: ColumnElement[int]  # the entry's seq, as the tier's index gives it, newest first


def tiers(norm: str) -> list[Tier]:
    """SQLite's tiers, each read through its own index."""
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


def postgres_tiers(norm: str) -> list[Tier]:
    """Postgres's tiers, each read through its index and sorted: ordered by `seq + 0`, which
    no index gives, so that the planner does not walk the primary key instead."""
    e = VERSIONS
    names = (e.c.label_norm, e.c.local_norm)
    # `strpos`, not LIKE, for the names' tiers: the planner guesses a LIKE on the text to
    # match a few rows and would read the text's trigram index before the names' btree
    # (migration 0013), which finds these tiers' few.
    in_text = func.strpos(e.c.text, norm) > 0
    exact = or_(*(name == norm for name in names))
    starts = or_(*(name.startswith(norm, autoescape=True) for name in names))
    holds = or_(*(name.contains(norm, autoescape=True) for name in names))
    newest = e.c.seq + 0
    return [
        Tier(1.0, e, and_(exact, in_text), newest),
        Tier(0.75, e, and_(starts, ~exact, in_text), newest),
        Tier(0.5, e, and_(holds, ~starts, in_text), newest),
        Tier(0.25, e, and_(e.c.text.contains(norm, autoescape=True), ~holds), newest),
    ]


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


def tiered(
    session: Session, norm: str, collections: list[str], limit: int, start: list[Any] | None
) -> list[Row[Any]]:
    """The page's rows (and one more), from the highest tier down, after `start`'s
    (score, seq)."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    reader = _SqliteTiers(session, norm) if sqlite else _PostgresTiers(session, norm)
    rows: list[Row[Any]] = []
    for index, score in enumerate(SCORES):
        if start is None or score <= start[0]:
            after = start[1] if start is not None and score == start[0] else None
            rows += reader.read(index, collections, after, limit + 1 - len(rows))
            if len(rows) > limit:
                break
    return rows


class _SqliteTiers:
    def __init__(self, session: Session, norm: str) -> None:
        self.session = session
        self.tiers = tiers(norm)  # once a page: built for each tier read, a tenth of the CPU

    def read(
        self, index: int, collections: list[str], after: int | None, limit: int
    ) -> list[Row[Any]]:
        query = tier_query(self.tiers[index], collections, after, limit)
        return list(self.session.execute(query))


class _PostgresTiers:
    """Each tier from the hits among the newest `WINDOW` entries, walked once a page, when
    it has enough there; otherwise through its index (which finds the window's hits again).
    The window holds a tier's newest hits only below the `after` it was walked from: the
    first tier a page reads."""

    def __init__(self, session: Session, norm: str) -> None:
        self.session = session
        self.norm = norm
        self.tiers = postgres_tiers(norm)
        self.window: tuple[int | None, list[Row[Any]]] | None = None

    def read(
        self, index: int, collections: list[str], after: int | None, limit: int
    ) -> list[Row[Any]]:
        if self.window is None:
            self.window = (after, self._walk(collections, after))
        walked_after, hits = self.window
        if walked_after == after:
            found = [hit for hit in hits if hit.score == SCORES[index]]
            if len(found) >= limit:
                return found[:limit]
        query = tier_query(self.tiers[index], collections, after, limit)
        return list(self.session.execute(query))

    def _walk(self, collections: list[str], after: int | None) -> list[Row[Any]]:
        """The window's hits with their scores, newest first: one backward walk of the
        primary key, bounded."""
        window = VERSIONS.select().where(VERSIONS.c.valid_to.is_(None))
        if after is not None:
            window = window.where(VERSIONS.c.seq < after)
        recent = window.order_by(VERSIONS.c.seq.desc()).limit(WINDOW).subquery("recent")
        query = (
            hit_columns(recent, scored(recent, self.norm), collections)
            .where(func.strpos(recent.c.text, self.norm) > 0)
            .order_by(recent.c.seq.desc())
        )
        return list(self.session.execute(query))


def tier_query(tier: Tier, collections: list[str], after: int | None, limit: int) -> Select[Any]:
    """One tier's hits, newest first (after the entry `after`), at most `limit`."""
    score = literal_column(repr(tier.score), Float)
    query = (
        hit_columns(VERSIONS, score, collections)
        .select_from(tier.source)
        .where(VERSIONS.c.valid_to.is_(None), tier.condition)
        .order_by(tier.newest.desc())
        .limit(limit)
    )
    if after is not None:
        query = query.where(tier.newest < after)
    return query


def scored(e: FromClause, norm: str) -> ColumnElement[float]:
    """The score of each entry of `e` whose text holds `norm` (`SCORES`): an exact name
    first, then a name that starts with it, a name that holds it, then the text only."""
    names = (e.c.label_norm, e.c.local_norm)  # 蔚来 is NIO's name too
    return cast(
        case(
            (or_(*(name == norm for name in names)), SCORES[0]),
            (or_(*(name.startswith(norm, autoescape=True) for name in names)), SCORES[1]),
            (or_(*(name.contains(norm, autoescape=True) for name in names)), SCORES[2]),
            else_=SCORES[3],
        ),
        Float,
    )


def hit_columns(e: FromClause, score: ColumnElement[float], collections: list[str]) -> Select[Any]:
    """What a search hit reads of the entries `e`, in `collections` (every one if none)."""
    query = select(
        e.c.record_id.label("id"), e.c.collection, e.c.label, e.c.seq, score.label("score")
    )
    if collections:
        query = query.where(e.c.collection.in_(collections))
    return query
