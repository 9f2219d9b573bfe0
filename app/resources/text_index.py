"""The text index: an entry per record (its label, its normalised text), with what its
collection declares (`ResourceSpec.text`): the fields searched, the label, joined names.

Entries are versioned as records are (app.resources.versions): `search_entry_versions`
keeps each with `valid_from`/`valid_to`, and `search_entries` is a view of the current
ones. A write stages its records' entries; the change log writes them when it publishes
the transaction, with the same time as the records' versions, so a text search `known_at`
an instant matches the text of then. Postgres finds substrings through a pg_trgm GIN index
on `text`; SQLite through an FTS5 trigram table over `text`, kept in step by triggers
(migration 0007). Both need three characters to use the index: shorter queries, such as
two-character Chinese names (蔚来), fall back to a scan of the entries.
"""

import datetime as dt
import functools
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    bindparam,
    column,
    false,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.selectable import TextualSelect
from sqlalchemy.sql.visitors import InternalTraversal
from sqlmodel import Field, Session, SQLModel

from app.columns import NAME_MAX, UTCDateTime, unique_where
from app.resources.catalog import catalog
from app.resources.chunked import rows_in
from app.resources.formats import record_json
from app.resources.spec import ResourceSpec
from app.resources.versions import shadow

TRIGRAM = 3
JOINED_LABEL = " × "  # a label made of the names a record joins: "NIO × WeLion"
LABEL_MAX = 2 * NAME_MAX + len(JOINED_LABEL)
STAGED = "text_index.staged"
ENTRY_VALUES = ("label", "label_norm", "local_norm", "text")


class SearchEntryVersion(SQLModel, table=True):
    """An entry as it was from `valid_from` to `valid_to` (null: as it is now)."""

    __tablename__ = "search_entry_versions"
    # One current entry a record; client-chosen ids may repeat across collections.
    __table_args__ = (
        unique_where(
            "uq_search_entry_versions_current", "collection", "record_id", where="valid_to IS NULL"
        ),
    )

    # An INTEGER PRIMARY KEY is SQLite's stable rowid, which the FTS5 table indexes.
    seq: int | None = Field(default=None, primary_key=True, sa_type=Integer)
    record_id: uuid.UUID = Field(sa_type=Uuid)
    collection: str = Field(sa_type=String(32))
    label: str = Field(sa_type=String(LABEL_MAX), description="As shown in results")
    label_norm: str = Field(sa_type=String(LABEL_MAX), description="Normalised, for ranking")
    local_norm: str = Field(sa_type=String(NAME_MAX), description="The local name, normalised")
    text: str = Field(sa_type=Text, description="Normalised searchable text")
    valid_from: dt.datetime = Field(sa_type=UTCDateTime)
    valid_to: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


VERSIONS: Table = SearchEntryVersion.__table__  # type: ignore[attr-defined]
# The view of the current entries (migration 0007), which queries read: apart from the
# metadata the migrations compare, since it is no table.
ENTRIES = Table(
    "search_entries",
    MetaData(),
    *(Column(c.name, c.type) for c in VERSIONS.columns if c.name not in ("valid_from", "valid_to")),
)
shadow(ENTRIES, VERSIONS)


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
        self.via_like = ENTRIES.c.text.contains(norm, autoescape=True)
        self.via_fts = ENTRIES.c.seq.in_(_fts_seqs(norm))


def _fts_seqs(norm: str) -> TextualSelect:
    """The `seq` of every entry version whose text holds `norm` (3+ characters), by FTS5."""
    phrase = '"' + norm.replace('"', '""') + '"'
    rows = text("SELECT rowid AS seq FROM search_fts WHERE search_fts MATCH :phrase")
    return rows.bindparams(phrase=phrase).columns(column("seq", Integer))


def fts_matches(norm: str) -> TextualSelect | None:
    """SQLite only: the FTS5 matches of `norm`, to join entries to; None when the index
    cannot answer (no letter or digit, or under three characters)."""
    return _fts_seqs(norm) if searchable(norm) and len(norm) >= TRIGRAM else None


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
    return ENTRIES.c.text.contains(norm, autoescape=True)


def record_matches(spec: ResourceSpec, q: str) -> ColumnElement[bool]:
    """For `q=` on a collection: its records whose text contains `q`."""
    entries = select(ENTRIES.c.record_id).where(ENTRIES.c.collection == spec.path, text_matches(q))
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


# SQLite: rows a multi-row INSERT, under the 999 bound variables of old builds.
ROWS_A_STATEMENT = 999 // (5 + len(ENTRY_VALUES))


def reindex_many(
    session: Session,
    spec: ResourceSpec,
    records: list[Any],
    *,
    renamed: Sequence[Any] = (),
    rendered: Sequence[dict[str, Any] | None] | None = None,
) -> None:
    """Stage the entries of `records` (written at publish, `flush`), then re-label the
    dependents of the `renamed` ones. `rendered`: the records as JSON, if the caller has
    them already."""
    names = names_of(session, spec, records)
    staged = session.info.setdefault(STAGED, {})
    for record, its_names, its_json in zip(
        records, names, rendered or [None] * len(records), strict=True
    ):
        staged[(spec.path, record.id)] = _entry(spec, record, its_names, its_json)
    for record in renamed:
        _reindex_dependents(session, spec, record)


def unindex(session: Session, spec: ResourceSpec, record_id: uuid.UUID) -> None:
    session.info.setdefault(STAGED, {})[(spec.path, record_id)] = None


def discard(session: Session) -> None:
    """Forget staged entries (the transaction is being rolled back)."""
    session.info.pop(STAGED, None)


def flush(session: Session, now: dt.datetime) -> None:
    """Write the staged entries that differ from the current ones: the current version
    closed at `now`, the new one open from `now`; a few statements for all of them."""
    staged: dict[tuple[str, uuid.UUID], dict[str, str] | None] = session.info.pop(STAGED, {})
    closing, opening = [], []
    for (path, record_id), (values, now_there) in _with_current(session, staged).items():
        if values is not None and now_there == tuple(values[n] for n in ENTRY_VALUES):
            continue
        if now_there is not None:
            closing.append({"b_collection": path, "b_record_id": record_id})
        if values is not None:
            opening.append({"record_id": record_id, "collection": path, **values,
                            "valid_from": now, "valid_to": None})  # fmt: skip
    if closing:
        current = (
            VERSIONS.c.collection == bindparam("b_collection"),
            VERSIONS.c.record_id == bindparam("b_record_id"),
            VERSIONS.c.valid_to.is_(None),
        )
        session.execute(update(VERSIONS).where(*current).values(valid_to=now), closing)
    _insert(session, opening)


Key = tuple[str, uuid.UUID]


def _with_current(
    session: Session, staged: dict[Key, dict[str, str] | None]
) -> dict[Key, tuple[dict[str, str] | None, tuple[str, ...] | None]]:
    """Each staged entry beside the current one's values (None: it has none), one query
    per collection (and 500 records)."""
    ids: dict[str, list[uuid.UUID]] = {}
    for path, record_id in staged:
        ids.setdefault(path, []).append(record_id)
    found: dict[Key, tuple[str, ...]] = {}
    for path, wanted in ids.items():
        query = select(VERSIONS.c.record_id, *(VERSIONS.c[n] for n in ENTRY_VALUES)).where(
            VERSIONS.c.collection == path, VERSIONS.c.valid_to.is_(None)
        )
        for row in rows_in(session, query, VERSIONS.c.record_id, wanted):
            found[(path, row[0])] = tuple(row[1:])
    return {key: (values, found.get(key)) for key, values in staged.items()}


def _insert(session: Session, rows: list[dict[str, Any]]) -> None:
    """Postgres: executemany. SQLite: multi-row statements, because FTS5 writes its pending
    terms out at every statement, and row-by-row statements through the trigger that keeps
    `search_fts` in step made one index segment per entry (5 s a 1000 entries at 1M)."""
    if not rows:
        return
    if session.get_bind().dialect.name != "sqlite":
        session.execute(insert(VERSIONS), rows)
        return
    connection = session.connection()
    names = tuple(rows[0])
    for start in range(0, len(rows), ROWS_A_STATEMENT):
        chunk = rows[start : start + ROWS_A_STATEMENT]
        sql, process = _rows_insert(connection.dialect, len(chunk), names)
        values = tuple(
            value if convert is None else convert(value)
            for row in chunk
            for value, convert in zip((row[name] for name in names), process, strict=True)
        )
        connection.exec_driver_sql(sql, values)


@functools.lru_cache(maxsize=2 * ROWS_A_STATEMENT)
def _rows_insert(
    dialect: Dialect, count: int, names: tuple[str, ...]
) -> tuple[str, list[Callable[[Any], Any] | None]]:
    """The SQL of a multi-row INSERT of `count` rows, compiled once a size (SQLAlchemy
    caches no multi-row INSERT: compiled afresh, it cost a tenth of a 1000-record batch),
    and the converter of each column's values in a row."""
    statement = insert(VERSIONS).values(
        [{name: bindparam(f"{name}_{i}", type_=VERSIONS.c[name].type) for name in names}
         for i in range(count)]
    )  # fmt: skip
    sql = str(statement.compile(dialect=dialect))
    return sql, [VERSIONS.c[name].type.bind_processor(dialect) for name in names]


def _reindex_dependents(session: Session, spec: ResourceSpec, record: Any) -> None:
    """Re-label the records whose text holds this one's label (a partnership its partner's)."""
    for dependent, field in catalog.referencing(spec):
        if field in dependent.text.names:
            column = getattr(dependent.table, field)
            rows = list(session.scalars(select(dependent.table).where(column == record.id)))
            reindex_many(session, dependent, rows)
