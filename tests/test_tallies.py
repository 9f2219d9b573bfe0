"""The statistics kept by the writes (app.market.tallies) equal the figures' own after every
kind of write: creates, updates of each grouped field, PUT, deletes, a battery's new
technology, atomic batches (set-based) and a restore; migrations 0010 and 0012 fill them
as the writes would. Over every figure and over each status's (`status=`, read from the
kept rows too). The oracle is computed here, in Python, from the records the API lists."""

import random
import statistics
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from app.access.keys import Scope, create_key
from app.db import get_engine, read_session, write_session
from app.main import create_app
from app.market.demo import seed
from app.market.tallies import GROUPS
from app.schema import downgrade, upgrade
from app.settings import Settings
from app.sync.export import export_lines
from app.sync.imports import read_jsonl, restore_lines
from tests.builders import API, create
from tests.conftest import _clean, fresh_database

GROUPINGS = ("level", "battery_partner", "year", "technology")
UNITS = ("Wh/kg", "Wh/L")
VALUES = (250, 300, 300.5, 350, 400)  # few values, so figures repeat as the market's do
STATUSES = ("claimed", "targeted", "measured", "certified")


def _all(client: TestClient, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        body = client.get(f"{API}/{path}", params=params).json()
        items += body["items"]
        if (cursor := body["next_cursor"]) is None:
            return items


def _oracle(
    market: dict[str, list[dict[str, Any]]], group_by: str, unit: str, status: str | None
) -> dict[Any, dict[str, Any]]:
    technology = {b["id"]: b["technology"] for b in market["batteries"]}
    slug = {p["id"]: p["slug"] for p in market["battery-partners"]}
    key_of: Callable[[dict[str, Any]], Any] = {
        "level": lambda f: f["level"],
        "battery_partner": lambda f: slug[f["battery_partner_id"]],
        "year": lambda f: int(f["as_of"][:4]) if f["as_of"] else None,
        "technology": lambda f: technology.get(f["battery_id"]),
    }[group_by]
    values: dict[Any, list[float]] = {}
    for figure in market["energy-densities"]:
        if figure["unit"] == unit and status in (None, figure["status"]):
            values.setdefault(key_of(figure), []).append(figure["value_min"])
    return {
        key: {
            "count": len(v),
            "min": min(v),
            "max": max(v),
            "mean": pytest.approx(statistics.mean(v)),
            "median": pytest.approx(statistics.median(v)),
        }
        for key, v in values.items()
    }


def assert_kept(client: TestClient) -> None:
    market = {path: _all(client, path) for path in ("batteries", "battery-partners",
                                                    "energy-densities")}  # fmt: skip
    for group_by in GROUPINGS:
        for unit in UNITS:
            for status in (None, *STATUSES):
                params = {"group_by": group_by, "unit": unit}
                if status is not None:
                    params["status"] = status
                body = client.get(f"{API}/stats/energy-density", params=params).json()
                got = {
                    g["key"]: {k: v for k, v in g.items() if k not in ("key", "label")}
                    for g in body["groups"]
                }
                expected = _oracle(market, group_by, unit, status)
                assert got == expected, (group_by, unit, status)


def _figure(rng: random.Random, partners: list[str], batteries: list[str]) -> dict[str, Any]:
    value = rng.choice(VALUES)
    return {
        "battery_partner_id": rng.choice(partners),
        "battery_id": rng.choice([*batteries, None]),
        "value_min": value,
        "value_max": rng.choice([value, None]),
        "unit": rng.choice(UNITS),
        "level": rng.choice(["cell", "module", "pack"]),
        "status": rng.choice(STATUSES),
        "as_of": rng.choice([None, "2024-05-01", "2025-01-31", "2026-12-01"]),
    }


def _change(rng: random.Random, partners: list[str], batteries: list[str]) -> dict[str, Any]:
    """One grouped field of a figure, changed."""
    field = rng.choice(
        ["value", "unit", "level", "as_of", "battery_id", "battery_partner_id", "status"]
    )
    fresh = _figure(rng, partners, batteries)
    if field == "value":
        return {"value_min": fresh["value_min"], "value_max": fresh["value_min"]}
    return {field: fresh[field]}


def test_kept_statistics_follow_every_kind_of_write(client: TestClient) -> None:
    rng = random.Random(19)
    partners = [create(client, "battery-partners")["id"] for _ in range(3)]
    batteries = [
        create(client, "batteries", battery_partner_id=partners[i % 3], technology=t)["id"]
        for i, t in enumerate(["liquid", "semi_solid", "semi_solid", "all_solid_state"])
    ]
    figures = [create(client, "energy-densities", **_figure(rng, partners, batteries))["id"]
               for _ in range(12)]  # fmt: skip
    assert_kept(client)
    for step in range(40):
        kind = step % 5
        if kind == 0:
            figures.append(
                create(client, "energy-densities", **_figure(rng, partners, batteries))["id"]
            )
        elif kind == 1:
            patch = _change(rng, partners, batteries)
            response = client.patch(f"{API}/energy-densities/{rng.choice(figures)}", json=patch)
            assert response.status_code == 200, response.text
        elif kind == 2:
            victim = figures.pop(rng.randrange(len(figures)))
            assert client.delete(f"{API}/energy-densities/{victim}").status_code == 204
        elif kind == 3:
            technology = rng.choice(["liquid", "semi_solid", "all_solid_state"])
            battery = rng.choice(batteries)
            response = client.patch(f"{API}/batteries/{battery}", json={"technology": technology})
            assert response.status_code == 200, response.text
        else:
            _batch(client, rng, partners, batteries, figures)
        assert_kept(client)


def _batch(
    client: TestClient,
    rng: random.Random,
    partners: list[str],
    batteries: list[str],
    figures: list[str],
) -> None:
    """Creates (a set-based run), a PUT, a change of a battery and of its figure, a delete:
    one transaction."""
    created = [{"method": "POST", "collection": "energy-densities",
                "body": _figure(rng, partners, batteries)} for _ in range(4)]  # fmt: skip
    put_id = f"00000000-0000-4000-8000-{rng.randrange(10**12):012d}"
    battery, victim = rng.choice(batteries), figures.pop(0)
    operations = [
        *created,
        {"method": "PUT", "collection": "energy-densities", "id": put_id,
         "body": _figure(rng, partners, batteries)},
        {"method": "PATCH", "collection": "batteries", "id": battery,
         "body": {"technology": rng.choice(["liquid", "all_solid_state"])}},
        {"method": "PATCH", "collection": "energy-densities", "id": rng.choice(figures),
         "body": {"battery_id": battery, "value_min": 300, "value_max": 300}},
        {"method": "DELETE", "collection": "energy-densities", "id": victim},
    ]  # fmt: skip
    response = client.post(f"{API}/batch", json={"operations": operations})
    assert response.status_code == 200, response.text
    figures += [r["body"]["id"] for r in response.json()["results"][:5]]


def test_a_restore_is_kept_like_any_write(client: TestClient, engine: Engine) -> None:
    seed(engine)
    lines = list(export_lines(engine))
    assert_kept(client)
    _clean(engine)
    with read_session(engine) as session:
        assert list(session.execute(select(GROUPS))) == []
    records, unreadable = read_jsonl(lines)
    assert not unreadable
    assert restore_lines(engine, records, "test", []).rejected == []
    assert_kept(client)


@pytest.fixture
def seeded_url(tmp_path: Path) -> Iterator[str]:
    """The demo data and a few dated figures, some on no battery, in a database of its own."""
    for url in fresh_database(tmp_path, "tallies"):
        upgrade(url)
        engine = get_engine(url)
        seed(engine)
        with write_session(engine) as session:
            _, key = create_key(session, "tallies", Scope.admin)
        rng = random.Random(10)
        with TestClient(create_app(Settings(database_url=url, _env_file=None))) as client:
            client.headers["Authorization"] = f"Bearer {key}"
            partners = [p["id"] for p in _all(client, "battery-partners")]
            batteries = [b["id"] for b in _all(client, "batteries")]
            for _ in range(20):
                create(client, "energy-densities", **_figure(rng, partners, batteries))
        yield url
        engine.dispose()


def test_migration_fills_what_the_writes_keep(seeded_url: str) -> None:
    def kept() -> list[Any]:
        with read_session(get_engine(seeded_url)) as session:
            return sorted(session.execute(select(GROUPS)).all())

    by_the_writes = kept()
    groups = {(r.dimension, r.status, r.key) for r in by_the_writes}
    assert groups >= {("year", "", "2025"), ("technology", "", "")}
    assert {status for _, status, _ in groups} == {"", *STATUSES}
    downgrade(seeded_url, "0009")
    upgrade(seeded_url)
    assert kept() == by_the_writes
