"""The text-search index: one row per record, written in the same transaction as the record.

Postgres finds substrings through a pg_trgm GIN index on `text`; SQLite through an
FTS5 trigram table over `text`, kept in step by triggers (migration 0002). Both need
three characters to use the index: shorter queries, such as two-character Chinese
names (蔚来), fall back to a scan of this one narrow table.
"""

import unicodedata
import uuid
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    bindparam,
    column,
    delete,
    false,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal
from sqlmodel import Field, Session, SQLModel, col

from app.market.registry import BY_PATH, BY_TABLE
from app.market.types import NAME_MAX
from app.resources.chunked import IN_CHUNK, rows_in
from app.resources.spec import ResourceSpec

SEARCHED_FIELDS = (
    "name", "name_local", "title", "slug", "description", "note", "commercialization_status",
    "headquarters", "publisher", "cathode", "anode", "electrolyte", "vehicle_models",
)  # fmt: skip
# Collections whose text and label include the names of the records they join.
NAMED_REFS = {
    "partnerships": ("automaker_id", "battery_partner_id"),
    "energy-densities": ("battery_partner_id",),
}
TRIGRAM = 3
LABEL_MAX = 2 * NAME_MAX + 3  # "Automaker × Battery partner"


class SearchEntry(SQLModel, table=True):
    __tablename__ = "search_entries"
    # Client-chosen ids may repeat across collections.
    __table_args__ = (UniqueConstraint("collection", "record_id"),)

    # An INTEGER PRIMARY KEY is SQLite's stable rowid, which the FTS5 table indexes.
    seq: int | None = Field(default=None, primary_key=True, sa_type=Integer)
    record_id: uuid.UUID = Field(sa_type=Uuid)
    collection: str = Field(sa_type=String(32))
    label: str = Field(sa_type=String(LABEL_MAX), description="As shown in results")
    label_norm: str = Field(sa_type=String(LABEL_MAX), description="Normalised, for ranking")
    local_norm: str = Field(sa_type=String(NAME_MAX), description="The local name, normalised")
    text: str = Field(sa_type=Text, description="Normalised searchable text")


ENTRIES: Table = SearchEntry.__table__  # type: ignore[attr-defined]


def normalize(text: str) -> str:
    """Case- and width-insensitive form shared by the index and the queries."""
    return unicodedata.normalize("NFKC", text).lower()


def searchable(q: str) -> bool:
    """A query with no letter or digit matches nothing (API.md §9)."""
    return any(ch.isalnum() for ch in q)


class _TrigramMatch(ColumnElement[bool]):
    """`text` contains a (3+ character) phrase: FTS5 on SQLite, LIKE (pg_trgm) elsewhere.

    Both forms are built up front as ordinary clauses, so the statement cache keys on
    them and their bound values change with every query.
    """

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [  # noqa: RUF012 - SQLAlchemy's own convention
        ("via_like", InternalTraversal.dp_clauseelement),
        ("via_fts", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, norm: str) -> None:
        self.via_like = col(SearchEntry.text).contains(norm, autoescape=True)
        phrase = '"' + norm.replace('"', '""') + '"'
        rows = text("SELECT rowid FROM search_fts WHERE search_fts MATCH :phrase")
        self.via_fts = col(SearchEntry.seq).in_(
            rows.bindparams(phrase=phrase).columns(column("rowid", Integer))
        )


@compiles(_TrigramMatch)
def _like(element: _TrigramMatch, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.via_like, **kw)


@compiles(_TrigramMatch, "sqlite")
def _fts5(element: _TrigramMatch, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.via_fts, **kw)


def text_matches(q: str) -> ColumnElement[bool]:
    """The entries whose text contains `q`; `%`, `_` and `\\` are plain characters."""
    norm = normalize(q.strip())
    if not searchable(norm):
        return false()
    if len(norm) >= TRIGRAM:
        return _TrigramMatch(norm)
    return col(SearchEntry.text).contains(norm, autoescape=True)


def record_matches(spec: ResourceSpec, q: str) -> ColumnElement[bool]:
    """For `q=` on a collection: its records whose text contains `q`."""
    entries = select(col(SearchEntry.record_id)).where(
        col(SearchEntry.collection) == spec.path, text_matches(q)
    )
    table: Any = spec.table
    return table.id.in_(entries)  # type: ignore[no-any-return]


def names_of(session: Session, spec: ResourceSpec, records: list[Any]) -> list[list[str]]:
    """Names of the records each one joins (a partnership's automaker and partner): one
    query per joined field, however many records (a batch reindexes a thousand at once)."""
    names: list[list[str]] = [[] for _ in records]
    for field in NAMED_REFS.get(spec.path, ()):
        target: Any = BY_TABLE[spec.refs[field]].table
        ids = {getattr(record, field) for record in records} - {None}
        rows = rows_in(session, select(target.id, target.name), target.id, ids)
        found: dict[Any, str] = {row[0]: row[1] for row in rows}
        for its, record in zip(names, records, strict=True):
            its.append(found.get(getattr(record, field)) or "")
    return names


def label_of(
    spec: ResourceSpec, record: Any, names: list[str], rendered: dict[str, Any] | None = None
) -> str:
    """How a record is named in search results (API.md §9, Shapes). `rendered`: the record
    as JSON, if the caller has it, so that `display` needs no second validation."""
    if spec.path == "partnerships":
        return " × ".join(names)
    if spec.path == "energy-densities":
        if rendered is not None:
            return str(rendered["display"])
        return str(spec.models.public.model_validate(record).display)  # type: ignore[attr-defined]
    return str(getattr(record, spec.label_field))


def _text(record: Any, label: str, names: list[str]) -> str:
    parts = [label, *names]
    for field in SEARCHED_FIELDS:
        value = getattr(record, field, None)
        if isinstance(value, list):
            parts += value
        elif value:
            parts.append(str(value))
    return normalize("\n".join(parts))


def _entry(
    spec: ResourceSpec, record: Any, names: list[str], rendered: dict[str, Any] | None
) -> dict[str, str]:
    label = label_of(spec, record, names, rendered)[:LABEL_MAX]
    return {
        "label": label,
        "label_norm": normalize(label)[:LABEL_MAX],
        "local_norm": normalize(getattr(record, "name_local", None) or ""),
        "text": _text(record, label, names),
    }


def reindex(session: Session, spec: ResourceSpec, record: Any, *, renamed: bool = False) -> None:
    """Write the record's entry in the caller's transaction; after a rename, its dependents'."""
    reindex_many(session, spec, [record], renamed=[record] if renamed else [])


ENTRY_VALUES = ("label", "label_norm", "local_norm", "text")
# SQLite: rows a multi-row INSERT, under the 999 bound variables of old builds.
ROWS_A_STATEMENT = 999 // (2 + len(ENTRY_VALUES))


def reindex_many(
    session: Session,
    spec: ResourceSpec,
    records: list[Any],
    *,
    renamed: Sequence[Any] = (),
    rendered: Sequence[dict[str, Any] | None] | None = None,
    fresh: Collection[uuid.UUID] = (),
) -> None:
    """Write the entries of `records` that are new or changed, a few statements for all of
    them; then re-label the dependents of the `renamed` ones. `rendered`: the records as
    JSON, if the caller has them already. `fresh`: ids of records inserted in this
    transaction, not looked up (an entry left over for one would make the insert fail on
    the unique constraint, never be silently doubled)."""
    names = names_of(session, spec, records)
    current = select(ENTRIES.c.record_id, *(ENTRIES.c[name] for name in ENTRY_VALUES)).where(
        ENTRIES.c.collection == spec.path
    )
    ids = [r.id for r in records if r.id not in fresh]
    existing = {
        row[0]: tuple(row[1:]) for row in rows_in(session, current, ENTRIES.c.record_id, ids)
    }
    new, changed = [], []
    for record, its_names, its_json in zip(
        records, names, rendered or [None] * len(records), strict=True
    ):
        values = _entry(spec, record, its_names, its_json)
        entry = {"record_id": record.id, "collection": spec.path, **values}
        if record.id not in existing:
            new.append(entry)
        elif existing[record.id] != tuple(values[name] for name in ENTRY_VALUES):
            changed.append(entry)
    _write_entries(session, spec, new, changed)
    for record in renamed:
        _reindex_dependents(session, spec, record)


def _write_entries(
    session: Session, spec: ResourceSpec, new: list[dict[str, Any]], changed: list[dict[str, Any]]
) -> None:
    """Postgres: executemany. SQLite: multi-row statements, because FTS5 writes its pending
    terms out at every statement, and row-by-row statements through the triggers that keep
    `search_fts` in step made one index segment per entry (5 s a 1000 entries at 1M). A
    changed entry is deleted and inserted again, so that the triggers run in bulk too."""
    if session.get_bind().dialect.name != "sqlite":
        if changed:
            keyed = ENTRIES.c.collection == spec.path
            statement = (
                update(ENTRIES)
                .where(keyed, ENTRIES.c.record_id == bindparam("b_record_id"))
                .values({name: bindparam(name) for name in ENTRY_VALUES})
            )
            session.execute(statement, [{**e, "b_record_id": e["record_id"]} for e in changed])
        if new:
            session.execute(insert(ENTRIES), new)
        return
    if changed:
        ids = [e["record_id"] for e in changed]
        for start in range(0, len(ids), IN_CHUNK):
            session.execute(
                delete(ENTRIES).where(
                    ENTRIES.c.collection == spec.path,
                    ENTRIES.c.record_id.in_(ids[start : start + IN_CHUNK]),
                )
            )
    rows = changed + new
    for start in range(0, len(rows), ROWS_A_STATEMENT):
        session.execute(insert(ENTRIES).values(rows[start : start + ROWS_A_STATEMENT]))


def _reindex_dependents(session: Session, spec: ResourceSpec, record: Any) -> None:
    for path, fields in NAMED_REFS.items():
        dependent = BY_PATH[path]
        for field in fields:
            if dependent.refs[field] != spec.table_name:
                continue
            column = getattr(dependent.table, field)
            rows = list(session.scalars(select(dependent.table).where(column == record.id)))
            reindex_many(session, dependent, rows)


def unindex(session: Session, spec: ResourceSpec, record_id: uuid.UUID) -> None:
    session.execute(
        delete(SearchEntry).where(
            col(SearchEntry.collection) == spec.path, col(SearchEntry.record_id) == record_id
        )
    )
