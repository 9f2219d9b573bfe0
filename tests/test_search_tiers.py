"""Search pages read in tiers (app.views.search_tiers): the same
hits, in the same order, as the one ranked query, page after page; and no query lists every
text match."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text

from app.db import read_session
from app.views import search, search_tiers
from tests.builders import API, create
from tests.conftest import POSTGRES_URL

QUERIES = ["volt", "Volt", "olt", "revolt", "voltaic motors", "伏特汽", "wh/kg cell", 'ab"c']


@pytest.fixture
def volts(client: TestClient) -> None:
    """Every kind of hit for "volt": exact names (also local), prefixes, names holding it,
    text alone, figures labelled by display only, renamed and deleted records."""
    create(client, "automakers", name="Volt", name_local="伏特汽车")
    create(client, "automakers", name="Voltaic Motors", description="volt again")
    revolt = create(client, "automakers", name="Revolt")["id"]
    partner = create(client, "battery-partners", name="Volta Cells", slug="volt")["id"]
    create(client, "partnerships", automaker_id=revolt, battery_partner_id=partner)
    for n in range(6):
        create(client, "batteries", name=f"Pack {n}", description=f"{n} volt architecture")
        create(client, "energy-densities", battery_partner_id=partner,
               note=f"measured at 4.{n} volt, wh/kg cell")  # fmt: skip
    renamed = create(client, "automakers", name="Volt Old")["id"]
    assert client.patch(f"{API}/automakers/{renamed}", json={"name": "Amp New"}).status_code == 200
    gone = create(client, "automakers", name="Volt Gone")["id"]
    assert client.delete(f"{API}/automakers/{gone}").status_code == 204


def _walk(client: TestClient, q: str, limit: int) -> list[tuple[Any, ...]]:
    hits: list[tuple[Any, ...]] = []
    cursor = None
    while True:
        params = {"q": q, "limit": limit, **({"cursor": cursor} if cursor else {})}
        body = client.get(f"{API}/search", params=params).json()
        hits += [(i["collection"], i["id"], i["score"]) for i in body["items"]]
        if (cursor := body["next_cursor"]) is None:
            return hits


@pytest.mark.usefixtures("volts")
@pytest.mark.parametrize("q", QUERIES)
def test_tiers_answer_as_the_ranked_query(client: TestClient, engine: Engine, q: str) -> None:
    with read_session(engine) as session:
        ranked, _ = search._ranked(session, q, [], 500, None, "")
    expected = [(r.collection, str(r.id), r.score) for r in ranked]
    assert _walk(client, q, 500) == expected
    assert _walk(client, q, 2) == expected, "pages of two cross the tiers as one query does"
    if q == "volt":
        assert expected[0][0::2] == ("automakers", 1.0)
        assert {score for *_, score in expected} == {1.0, 0.75, 0.5, 0.25}
    only = client.get(f"{API}/search", params={"q": q, "collections": "batteries"}).json()
    assert [(i["collection"], i["id"], i["score"]) for i in only["items"]] == [
        hit for hit in expected if hit[0] == "batteries"
    ]


@pytest.mark.skipif(not POSTGRES_URL, reason="Postgres's window of the newest entries")
@pytest.mark.usefixtures("volts")
@pytest.mark.parametrize("window", [1, 3, 7])
def test_a_tier_beyond_the_window_answers_as_the_ranked_query(
    client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch, window: int
) -> None:
    """A window smaller than the tiers, so that pages are read from the window, from the
    trigram indexes, and from both across a page."""
    monkeypatch.setattr(search_tiers, "WINDOW", window)
    for q in QUERIES:
        with read_session(engine) as session:
            ranked, _ = search._ranked(session, q, [], 500, None, "")
        expected = [(r.collection, str(r.id), r.score) for r in ranked]
        assert _walk(client, q, 500) == expected, q
        assert _walk(client, q, 2) == expected, q
        assert _walk(client, q, 5) == expected, q


# sqlite_stat1 as ANALYZE left it at L (1.2M entries): every local name the same ('').
AT_SCALE = {
    "ix_search_names_local": "1206800 1206800",
    "ix_search_names_label": "1206800 5",
    "uq_search_entry_versions_current": "1206800 172400 1",
}


@pytest.mark.skipif(bool(POSTGRES_URL), reason="SQLite's FTS5 tiers")
@pytest.mark.parametrize("at_scale", [False, True])
def test_no_tier_lists_every_match(engine: Engine, at_scale: bool) -> None:
    """The text's and names' matches are walked newest first by their FTS5 tables and stop
    at the page (no sort); exact and prefix names come from the names' indexes, also with
    the statistics ANALYZE leaves at L, where nearly every local name is '' (SQLite's
    documented way to plan as for a large database: sqlite_stat1 written, then reloaded)."""
    with engine.connect() as connection:
        if at_scale:  # in this connection's transaction only, rolled back below
            _plan_as_at_scale(connection)
        try:
            for tier in search_tiers.tiers("volt"):
                query = search_tiers.tier_query(tier, [], 10**9, 51)
                literal = {"literal_binds": True}
                sql = str(query.compile(dialect=engine.dialect, compile_kwargs=literal))
                explained = connection.execute(text(f"EXPLAIN QUERY PLAN {sql}"))
                plan = [str(row) for row in explained]
                if tier.score < 0.75:
                    assert any("VIRTUAL TABLE" in row for row in plan), (tier.score, plan)
                    assert not any("TEMP B-TREE" in row for row in plan), (tier.score, plan)
                else:
                    searched = [row for row in plan if "SEARCH" in row or "SCAN" in row]
                    assert len(searched) == 2, plan  # label and local name, each by its index
                    assert all("ix_search_names_" in r and "SEARCH" in r for r in searched)
        finally:
            connection.rollback()
            connection.execute(text("ANALYZE sqlite_schema"))  # the suite's own statistics


def _plan_as_at_scale(connection: Connection) -> None:
    """The search entries' statistics replaced with L's, and loaded."""
    connection.execute(text("ANALYZE search_entry_versions"))  # makes sqlite_stat1
    connection.execute(text("DELETE FROM sqlite_stat1 WHERE tbl = 'search_entry_versions'"))
    connection.execute(
        text("INSERT INTO sqlite_stat1 VALUES ('search_entry_versions', :index, :stat)"),
        [{"index": index, "stat": stat} for index, stat in AT_SCALE.items()],
    )
    connection.execute(text("ANALYZE sqlite_schema"))
