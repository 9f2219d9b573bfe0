"""The text search is served by an index on each database, not by scanning entries."""

import uuid

from sqlalchemy import Engine, delete, insert, or_, select, text

from app.columns import utcnow
from app.resources.text_index import ENTRIES, VERSIONS, text_matches


def test_long_queries_use_the_text_index(engine: Engine) -> None:
    # Enough entries, old and current, for the planner to prefer the index to a scan.
    filler = [
        {"record_id": uuid.uuid4(), "collection": "sources", "label": f"Filler {n}",
         "label_norm": f"filler {n}", "local_norm": "", "text": f"filler {n} energy cell",
         "valid_from": utcnow(), "valid_to": None if n % 3 else utcnow()}
        for n in range(40_000)
    ]  # fmt: skip
    with engine.begin() as connection:
        connection.execute(insert(VERSIONS), filler)
    if engine.dialect.name == "postgresql":
        # VACUUM empties the GIN index's pending list, whose size the planner charges to
        # the index: after the writes of earlier tests it could prefer another index.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE search_entry_versions"))
    try:
        query = select(ENTRIES.c.record_id).where(text_matches("welion"))
        sql = str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                plan = [str(row) for row in connection.execute(text(f"EXPLAIN QUERY PLAN {sql}"))]
                assert any("search_fts VIRTUAL TABLE INDEX" in row for row in plan), plan
            else:
                connection.execute(text("SET enable_seqscan = off"))  # small tables: cheaper
                lines = [str(row[0]) for row in connection.execute(text(f"EXPLAIN {sql}"))]
                assert any("ix_search_entry_versions_text_trgm" in line for line in lines), lines
                # Search's first pass: the names that hold the query (app.views.search).
                names = or_(*(n.contains("welion", autoescape=True)
                              for n in (ENTRIES.c.label_norm, ENTRIES.c.local_norm)))  # fmt: skip
                sql = str(
                    select(ENTRIES.c.seq)
                    .where(names)
                    .compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
                )
                lines = [str(row[0]) for row in connection.execute(text(f"EXPLAIN {sql}"))]
                for index in ("ix_search_names_label_trgm", "ix_search_names_local_trgm"):
                    assert any(index in line for line in lines), lines
    finally:
        with engine.begin() as connection:
            connection.execute(delete(VERSIONS).where(VERSIONS.c.label.like("Filler %")))
