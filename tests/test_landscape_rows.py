"""The landscape rows kept by the writes (app.market.landscape) equal the rows made from the
records after every kind of write that shows in a row: a partnership's own changes and
delete, a figure of each tier created, moved and deleted, renamed automakers (a brand's and
its group's), partners, batteries and sources (a partnership's and a figure's), a batch and
a restore; migration 0014 fills them as the writes would; a row missing or of another
shape is made as the page is read. The oracle is the table itself against `rows_of`: no
row missing, none left over, none stale."""

import datetime as dt
from pathlib import Path
from typing import Any

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, select, update

from app.db import get_engine, read_session, write_session
from app.market.demo import seed
from app.market.landscape import ROWS, SHAPE, rows_of
from app.market.programmes import Partnership
from app.schema import downgrade, upgrade
from app.sync.export import export_lines
from app.sync.imports import read_jsonl, restore_lines
from tests.builders import API, create
from tests.conftest import _clean, fresh_database
from tests.test_queries import counting


def _pages(client: TestClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        body = client.get(f"{API}/landscape", params=params).json()
        items += body["items"]
        if (cursor := body["next_cursor"]) is None:
            return items


def assert_kept(engine: Engine, client: TestClient | None = None) -> None:
    """Every partnership has its row, made now from the records, and no other row is kept;
    the pages serve them."""
    with read_session(engine) as session:
        ids = list(session.scalars(select(Partnership.id)))  # type: ignore[call-overload]
        made = rows_of(session, ids)
        kept = {r.partnership_id: r for r in session.execute(select(ROWS))}
    assert kept.keys() == made.keys()
    for partnership_id, row in made.items():
        assert kept[partnership_id].shape == SHAPE
        assert orjson.loads(kept[partnership_id].body) == row, row
    if client is not None:
        assert sorted(_pages(client), key=str) == sorted(made.values(), key=str)


def _patch(client: TestClient, path: str, record_id: str, **body: Any) -> None:
    response = client.patch(f"{API}/{path}/{record_id}", json=body)
    assert response.status_code == 200, response.text


def _delete(client: TestClient, path: str, record_id: str) -> None:
    response = client.delete(f"{API}/{path}/{record_id}")
    assert response.status_code == 204, response.text


def test_kept_rows_follow_every_write_that_shows_in_them(
    client: TestClient, engine: Engine
) -> None:
    group, brand = create(client, "automakers"), create(client, "automakers")
    partner, other_partner = create(client, "battery-partners"), create(client, "battery-partners")
    battery = create(client, "batteries", battery_partner_id=partner["id"])
    cited, cited_by_figure = create(client, "sources"), create(client, "sources")
    another = create(client, "sources")
    pair = {"automaker_id": brand["id"], "battery_partner_id": partner["id"]}
    with_battery = create(client, "partnerships", **pair, battery_id=battery["id"],
                          source_id=cited["id"])  # fmt: skip
    without_battery = create(client, "partnerships", **pair)
    elsewhere = create(client, "partnerships", automaker_id=group["id"],
                       battery_partner_id=other_partner["id"])  # fmt: skip
    assert_kept(engine, client)

    # A figure of each tier, then one that outranks the others; each write checked apart,
    # as a later write would rewrite the rows an earlier one missed.
    by_partner = create(client, "energy-densities", battery_partner_id=partner["id"],
                        level="pack", source_id=cited_by_figure["id"])  # fmt: skip
    assert_kept(engine, client)
    by_battery = create(client, "energy-densities", battery_partner_id=partner["id"],
                        battery_id=battery["id"], level="module", value_min=320,
                        value_max=None)  # fmt: skip
    assert_kept(engine, client)
    own = create(client, "energy-densities", battery_partner_id=partner["id"],
                 partnership_id=with_battery["id"], value_min=350, value_max=360,
                 status="targeted")  # fmt: skip
    assert_kept(engine, client)

    # Each column a row shows or chooses its figure by, changed: a dated figure outranks
    # an undated one, the newer date the older.
    dated = create(client, "energy-densities", battery_partner_id=partner["id"],
                   partnership_id=with_battery["id"], as_of="2025-01-01")  # fmt: skip
    assert_kept(engine, client)
    _patch(client, "energy-densities", own["id"], as_of="2026-01-01")
    assert_kept(engine, client)
    _delete(client, "energy-densities", dated["id"])
    assert_kept(engine, client)
    for change in [{"status": "measured"}, {"source_id": another["id"]}, {"value_max": 400},
                   {"unit": "Wh/L"}, {"level": "pack"}]:  # fmt: skip
        _patch(client, "energy-densities", own["id"], **change)
        assert_kept(engine, client)
    shown: list[dict[str, Any]] = [{"commercialization_status": "Shipping"}, {"source_id": None}]
    for change in shown:
        _patch(client, "partnerships", with_battery["id"], **change)
        assert_kept(engine, client)
    # A change no row shows rewrites none.
    for path, record_id, change in [
        ("energy-densities", own["id"], {"note": "Not shown"}),
        ("partnerships", with_battery["id"], {"description": "Not shown"}),
        ("battery-partners", partner["id"], {"headquarters": "Hefei"}),
    ]:
        with counting(engine) as statements:
            _patch(client, path, record_id, **change)
        assert not [s for s in statements if "landscape_rows" in s], statements

    # Renames of everything a row names; a brand joins a group, which is renamed.
    for path, record, change in [
        ("sources", cited_by_figure, {"title": "A figure's new source"}),
        ("sources", cited, {"title": "A partnership's new source"}),
        ("batteries", battery, {"name": "Renamed cell"}),
        ("batteries", battery, {"technology": "liquid"}),
        ("battery-partners", partner, {"name": "Renamed partner"}),
        ("automakers", brand, {"parent_id": group["id"]}),
        ("automakers", group, {"name": "Renamed group"}),
    ]:
        _patch(client, path, record["id"], **change)
        assert_kept(engine, client)

    # A figure moved to another partnership leaves the first; deletes fall back a tier.
    _patch(client, "energy-densities", own["id"], partnership_id=elsewhere["id"],
           battery_partner_id=other_partner["id"])  # fmt: skip
    assert_kept(engine, client)
    _delete(client, "energy-densities", by_battery["id"])
    assert_kept(engine, client)
    _patch(client, "energy-densities", by_partner["id"], value_min=280)
    assert_kept(engine, client)
    _patch(client, "partnerships", without_battery["id"], vehicle_models=["ET9"], stage="sample")
    assert_kept(engine, client)
    _delete(client, "energy-densities", own["id"])
    _delete(client, "partnerships", elsewhere["id"])
    assert_kept(engine, client)

    operations = [
        {"method": "POST", "collection": "partnerships",
         "body": {"automaker_id": group["id"], "battery_partner_id": other_partner["id"],
                  "status": "announced"}},
        {"method": "PATCH", "collection": "battery-partners", "id": other_partner["id"],
         "body": {"name": "Renamed in a batch"}},
        {"method": "DELETE", "collection": "energy-densities", "id": by_partner["id"]},
    ]  # fmt: skip
    response = client.post(f"{API}/batch", json={"operations": operations})
    assert response.status_code == 200, response.text
    assert_kept(engine, client)


def test_a_restore_is_kept_like_any_write(client: TestClient, engine: Engine) -> None:
    seed(engine)
    lines = list(export_lines(engine))
    assert_kept(engine, client)
    _clean(engine)
    records, unreadable = read_jsonl(lines)
    assert not unreadable
    assert restore_lines(engine, records, "test", []).rejected == []
    assert_kept(engine, client)


def test_a_row_missing_or_of_another_shape_is_made_as_the_page_is_read(
    client: TestClient, engine: Engine
) -> None:
    seed(engine)
    kept = _pages(client)
    with write_session(engine) as session:
        first, second, *_ = session.scalars(select(ROWS.c.partnership_id))
        stale = {"shape": 0, "body": b'{"made by": "older code"}'}
        session.execute(update(ROWS).where(ROWS.c.partnership_id == first).values(**stale))
        session.execute(delete(ROWS).where(ROWS.c.partnership_id == second))
        session.commit()
    assert _pages(client) == kept


def _kept_rows(engine: Engine) -> list[Any]:
    with read_session(engine) as session:
        return sorted(session.execute(select(ROWS)).all())


def test_migration_fills_what_the_writes_keep(tmp_path: Path) -> None:
    for url in fresh_database(tmp_path, "landscape"):
        upgrade(url)
        engine = get_engine(url)
        seed(engine)

        by_the_writes = _kept_rows(engine)
        assert len(by_the_writes) >= 3
        downgrade(url, "0013")
        upgrade(url)
        assert _kept_rows(engine) == by_the_writes
        engine.dispose()


def test_a_page_of_the_present_is_read_beside_the_engine(
    client: TestClient, engine: Engine
) -> None:
    """The kept rows are read on the event loop (app.loop_reads), filtered and paged by
    cursor as through the engine; a page of the past is made from the records."""
    seed(engine)
    technology = {"technology": "semi_solid", "limit": 2}
    with counting(engine, on_the_loop=False) as through_engine, counting(engine) as in_all:
        pages = _pages(client)
        first = client.get(f"{API}/landscape", params=technology).json()
        second = client.get(
            f"{API}/landscape", params={**technology, "cursor": first["next_cursor"]}
        ).json()
    assert not [s for s in through_engine if "landscape_rows" in s], through_engine
    assert len([s for s in in_all if "landscape_rows" in s]) >= 3
    with read_session(engine) as session:
        made = rows_of(session, session.scalars(select(Partnership.id)))  # type: ignore[call-overload]
    assert sorted(pages, key=str) == sorted(made.values(), key=str)
    now = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
    past = client.get(f"{API}/landscape", params={**technology, "limit": 4, "known_at": now})
    assert first["items"] + second["items"] == past.json()["items"][:4]
    assert all(item["technology"] == "semi_solid" for item in past.json()["items"])
