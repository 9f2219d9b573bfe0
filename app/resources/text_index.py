"""The text index: one row per record, written in the same transaction as the record, with
what its collection declares (`ResourceSpec.text`): the fields searched, the label.

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

from app.columns import NAME_MAX
from app.resources.catalog import catalog
from app.resources.chunked import IN_CHUNK, rows_in
from app.resources.formats import record_json
from app.resources.spec import ResourceSpec

TRIGRAM = 3
JOINED_LABEL = " × "  # a label made of the names a record joins: "NIO × WeLion"
LABEL_MAX = 2 * NAME_MAX + len(JOINED_LABEL)


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
    """Labels of the records each one joins (`text.names`: a partnership's automaker and
    partner), one query per joined field however many records (a batch has a thousand)."""
    names: list[list[str]] = [[] for _ in records]
    for field in spec.text.names:
        target = catalog.target(spec, field)
        table: Any = target.table
        ids = {getattr(record, field) for record in records} - {None}
        label = getattr(table, str(target.text.label))
        found: dict[Any, str] = dict(rows_in(session, select(table.id, label), table.id, ids))
        for its, record in zip(names, records, strict=True):
            its.append(found.get(getattr(record, field)) or "")
    return names


def label_of(
    spec: ResourceSpec, record: Any, names: list[str], rendered: dict[str, Any] | None = None
) -> str:
    """How a record is named in search results (API.md §9, Shapes): its label field (a
    computed one, such as `display`, from its JSON: `rendered` when the caller has it), or
    the names it joins."""
    label = spec.text.label
    if label is None:
        return JOINED_LABEL.join(names)
    if label in spec.sa_table.c:
        return str(getattr(record, label))
    return str((rendered or record_json(spec, record))[label])


def searched_values(spec: ResourceSpec, record: Any) -> list[tuple[str, str]]:
    """(field, text) for each searched field that has a value, in the declared order; a
    list field's items as one text, `; ` between them."""
    found = []
    for field in spec.text.fields:
        value = getattr(record, field, None)
        if isinstance(value, list):
            found.append((field, "; ".join(map(str, value))))
        elif value:
            found.append((field, str(value)))
    return found


def _text(spec: ResourceSpec, record: Any, label: str, names: list[str]) -> str:
    parts = [label, *names]
    for field in spec.text.fields:
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
    local = getattr(record, spec.text.local, None) if spec.text.local else None
    return {
        "label": label,
        "label_norm": normalize(label)[:LABEL_MAX],
        "local_norm": normalize(local or ""),
        "text": _text(spec, record, label, names),
    }


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
    """Re-label the records whose text holds this one's label (a partnership its partner's)."""
    for dependent, field in catalog.referencing(spec):
        if field in dependent.text.names:
            column = getattr(dependent.table, field)
            rows = list(session.scalars(select(dependent.table).where(column == record.id)))
            reindex_many(session, dependent, rows)


def unindex(session: Session, spec: ResourceSpec, record_id: uuid.UUID) -> None:
    session.execute(
        delete(SearchEntry).where(
            col(SearchEntry.collection) == spec.path, col(SearchEntry.record_id) == record_id
        )
    )
