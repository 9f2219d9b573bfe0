"""The read paths that skip the ORM (app.resources.rows) answer what the models would, and
deep keyset pages seek an index instead of scanning."""

import datetime as dt
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, make_url, text
from sqlmodel import Session, select

from app.db import SQLITE_CACHE_KIB
from app.main import create_app
from app.market.registry import SPECS
from app.resources.formats import record_json
from app.resources.rows import _dashed, _iso_utc, shape
from app.settings import Settings
from tests.builders import API, create
from tests.test_queries import counting, sqlite_plan


def test_rows_are_the_public_models_json(client: TestClient, engine: Engine) -> None:
    partner = create(client, "battery-partners", founded_year=2016, name_local="蔚来")
    create(client, "energy-densities", battery_partner_id=partner["id"], value_min=811.6,
           value_max=None, unit="Wh/L", as_of="2025-06-30")  # fmt: skip
    create(client, "energy-densities", battery_partner_id=partner["id"], value_min=360,
           value_max=360)  # fmt: skip
    with Session(engine) as session:
        for spec in SPECS:
            table: Any = spec.table
            for record in session.scalars(select(table)):
                via_api = client.get(f"{API}/{spec.path}/{record.id}").json()
                assert via_api == record_json(spec, record)
                assert list(via_api) == list(record_json(spec, record)), "same order"
                row = session.execute(
                    select(*shape(spec).columns).where(table.id == record.id)
                ).one()
                assert shape(spec).record(row).keys() == record_json(spec, record).keys()


def test_one_record_is_read_beside_the_engine(client: TestClient) -> None:
    """A plain GET of one record, by id or slug, reads nothing of it through the engine
    (app.loop_reads reads it: on Postgres without a threadpool trip, on SQLite on a
    connection the worker keeps; the API key is still looked up through the engine) and
    answers as the engine does; with `include` or `known_at` it goes through the engine as
    every other read."""
    source = create(client, "sources", title="Ｓｏｕｒｃｅ 電池")
    engine = client.app.state.engine  # type: ignore[attr-defined]
    with counting(engine, on_the_loop=False) as plain:
        by_id = client.get(f"{API}/sources/{source['id']}")
        by_slug = client.get(f"{API}/sources/{source['slug']}")
        missing = client.get(f"{API}/sources/{uuid4()}")
        no_slug = client.get(f"{API}/sources/no-such-source")
    assert by_id.json() == by_slug.json() == source
    assert by_id.headers["etag"] == by_slug.headers["etag"]
    assert (missing.status_code, no_slug.status_code) == (404, 404)
    assert missing.headers["content-type"] == "application/problem+json"
    assert not [sql for sql in plain if "FROM sources" in sql], plain
    if engine.dialect.name == "sqlite":  # the engine's own pragmas, its cache too
        kept = client.app.state.loop_reads._driver  # type: ignore[attr-defined]
        assert kept.execute("PRAGMA cache_size").fetchone() == (-SQLITE_CACHE_KIB,)
        assert kept.execute("PRAGMA journal_mode").fetchone() == ("wal",), "the engine's own"
    with counting(engine) as through_engine:
        now = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
        dated = client.get(f"{API}/sources/{source['id']}", params={"known_at": now})
        included = client.get(f"{API}/energy-densities/{uuid4()}?include=source")
    assert dated.json() == source
    assert included.status_code == 404
    assert [sql for sql in through_engine if "FROM sources" in sql]
    assert [sql for sql in through_engine if "FROM energy_densities" in sql]


def test_a_plain_list_page_is_read_beside_the_engine(client: TestClient) -> None:
    """A page with no `count` or `known_at` is read on the event loop (app.loop_reads), as
    one record is, its includes too, and answers as the engine does."""
    partner = create(client, "battery-partners", name="Ｗｅ 電池")
    for value in (300, 310, 320):
        create(client, "energy-densities", battery_partner_id=partner["id"], value_min=value,
               value_max=None)  # fmt: skip
    engine = client.app.state.engine  # type: ignore[attr-defined]
    url = f"{API}/energy-densities?sort=-value_min&limit=2&include=battery_partner,source"
    with counting(engine, on_the_loop=False) as through_engine, counting(engine) as in_all:
        first = client.get(url)
        second = client.get(first.headers["link"][1 : first.headers["link"].index(">")])
    counted = client.get(f"{url}&count=true")  # through the engine
    assert first.json()["items"] == counted.json()["items"]
    assert first.json()["next_cursor"] == counted.json()["next_cursor"]
    items = first.json()["items"] + second.json()["items"]
    assert [item["value_min"] for item in items] == [320, 310, 300]
    assert all(item["battery_partner"] == partner and item["source"] is None for item in items)
    assert not [s for s in through_engine if "FROM energy_densities" in s], through_engine
    on_the_loop = [s for s in in_all if "FROM energy_densities" in s]
    assert len(on_the_loop) == 2, in_all
    partners = [s for s in in_all if "FROM battery_partners" in s]
    assert len(partners) == 2, "one statement a page for any number of ids"
    if engine.dialect.name == "sqlite":
        assert all("json_each" in s for s in partners), partners


def test_uuids_and_times_read_from_sqlite_text_are_the_apis_text() -> None:
    for made in (uuid4(), UUID(int=0), UUID(int=2**128 - 1)):
        assert _dashed(made.hex) == str(made)
        assert _dashed(str(made)) == str(made)  # a dashed form written by hand still reads
    assert _dashed(None) is None
    for stored, written in [
        ("2026-12-01 09:00:00.123456", "2026-12-01T09:00:00.123456Z"),
        ("2026-12-01 09:00:00.000000", "2026-12-01T09:00:00Z"),
    ]:
        assert _iso_utc(stored) == written
        # as pydantic writes the same instant
        instant = dt.datetime.fromisoformat(stored).replace(tzinfo=dt.UTC)
        assert orjson.dumps(instant, option=orjson.OPT_UTC_Z).decode().strip('"') == written
    assert _iso_utc("2026-12-01 09:00:00") == dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
    assert _iso_utc(None) is None


def test_a_deep_page_is_a_row_value_seek(client: TestClient) -> None:
    partner = create(client, "battery-partners")["id"]
    for value in (300, 310, 310, 320):
        create(client, "energy-densities", battery_partner_id=partner, value_min=value,
               value_max=value)  # fmt: skip
    url = f"{API}/energy-densities?sort=-value_min&limit=1"
    seen = []
    with counting(client.app.state.engine) as statements:  # type: ignore[attr-defined]
        while url:
            page = client.get(url)
            seen += [item["value_min"] for item in page.json()["items"]]
            link = page.headers.get("link")
            url = link[1 : link.index(">")] if link else ""
    assert seen == [320, 310, 310, 300]
    assert any("(energy_densities.value_min, energy_densities.id) <" in s for s in statements), (
        statements
    )


def test_an_enum_filter_does_not_steer_sqlite_off_the_sort_index(client: TestClient) -> None:
    """SQLite would take `status`'s index and sort every match; `+status` keeps it on the
    `(value_min, id)` index, which stops after a page at any size. Postgres is left alone."""
    partner = create(client, "battery-partners")["id"]
    for status in ("claimed", "measured", "claimed"):
        create(client, "energy-densities", battery_partner_id=partner, status=status)
    engine = client.app.state.engine  # type: ignore[attr-defined]
    url = f"{API}/energy-densities?status=claimed&level=cell&sort=-value_min&limit=1"
    with counting(engine) as statements:
        items = client.get(url).json()["items"]
    assert [item["status"] for item in items] == ["claimed"]
    (listing,) = [s for s in statements if "ORDER BY" in s]
    if engine.dialect.name == "sqlite":
        assert "+energy_densities.status = ?" in listing, listing
        plan = sqlite_plan(engine, listing, "x", 2)
        assert not any("TEMP B-TREE" in step for step in plan), plan
    else:
        assert "+" not in listing, listing


def test_one_filter_value_is_an_equality_and_several_an_in_list(client: TestClient) -> None:
    """An IN list is rendered into the SQL on every execution; `= ?` is compiled once."""
    partner = create(client, "battery-partners")["id"]
    for status in ("claimed", "measured", "targeted"):
        create(client, "energy-densities", battery_partner_id=partner, status=status)
    engine = client.app.state.engine  # type: ignore[attr-defined]
    for statuses, equality, found in (
        ("claimed", True, {"claimed"}),
        ("claimed,claimed", True, {"claimed"}),
        ("claimed,measured", False, {"claimed", "measured"}),
    ):
        with counting(engine) as statements:
            items = client.get(f"{API}/energy-densities?status={statuses}").json()["items"]
        assert {item["status"] for item in items} == found
        (listing,) = [s for s in statements if "ORDER BY" in s]
        assert ("status = " in listing) is equality, listing
        assert ("status IN " in listing) is not equality, listing


@pytest.mark.postgres
def test_times_read_from_postgres_are_utc_whatever_its_time_zone(
    migrated: tuple[str, str],
) -> None:
    """psycopg gives times in the session's zone; the API writes them in UTC (`Z`) whether
    that zone is UTC (kept as it is, app.resources.rows._in_utc) or not (converted), on
    the event loop and through the engine alike."""
    url, key = migrated
    database = make_url(url).database
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"ALTER DATABASE \"{database}\" SET timezone TO 'Asia/Tokyo'"))
    admin.dispose()
    settings = Settings(database_url=url, _env_file=None)
    with TestClient(create_app(settings)) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        with client.app.state.engine.connect() as connection:  # type: ignore[attr-defined]
            assert connection.scalar(text("SHOW timezone")) == "Asia/Tokyo"
        written = create(client, "sources")
        one = client.get(f"{API}/sources/{written['id']}").json()  # on the loop
        (paged,) = client.get(f"{API}/sources").json()["items"]  # on the loop
        (counted,) = client.get(f"{API}/sources?count=true").json()["items"]  # the engine
    assert one == paged == counted == written
    assert written["created_at"].endswith("Z"), written
