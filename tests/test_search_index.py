"""The text search is served by an index on each database, not by scanning records."""

from sqlalchemy import Engine, select, text
from sqlmodel import col

from app.resources.text_index import SearchEntry, text_matches


def test_long_queries_use_the_text_index(engine: Engine) -> None:
    query = select(col(SearchEntry.record_id)).where(text_matches("welion"))
    sql = str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            plan = [str(row) for row in connection.execute(text(f"EXPLAIN QUERY PLAN {sql}"))]
            assert any("search_fts VIRTUAL TABLE INDEX" in row for row in plan), plan
        else:
            connection.execute(text("SET enable_seqscan = off"))
            lines = [str(row[0]) for row in connection.execute(text(f"EXPLAIN {sql}"))]
            assert any("ix_search_entries_text_trgm" in line for line in lines), lines
