"""The demo data: the seed article's table, idempotent."""

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.market.demo import seed
from tests.builders import API


def _all(client: TestClient, path: str) -> list[dict]:  # type: ignore[type-arg]
    items: list[dict] = client.get(f"{API}/{path}?limit=500").json()["items"]  # type: ignore[type-arg]
    return items


def test_seed_loads_the_article_table(client: TestClient, engine: Engine) -> None:
    seed(engine)
    makers = {m["name"]: m for m in _all(client, "automakers")}
    assert set(makers) == {"NIO", "SAIC", "IM Motors", "Changan", "Deepal"}
    assert makers["NIO"]["name_local"] == "蔚来"
    assert makers["IM Motors"]["parent_id"] == makers["SAIC"]["id"]
    assert makers["Deepal"]["parent_id"] == makers["Changan"]["id"]
    partners = {p["id"]: p["name"] for p in _all(client, "battery-partners")}
    assert set(partners.values()) == {"WeLion", "QingTao Energy", "Ganfeng Li-Energy"}
    names = {m["id"]: m["name"] for m in makers.values()}
    densities = {d["partnership_id"]: d for d in _all(client, "energy-densities")}
    table = {
        (names[p["automaker_id"]], partners[p["battery_partner_id"]]): (
            densities[p["id"]]["display"],
            densities[p["id"]]["status"],
            p["commercialization_status"],
        )
        for p in _all(client, "partnerships")
    }
    assert table == {
        ("NIO", "WeLion"): (
            "360 Wh/kg",
            "claimed",
            "Mass-produced; currently integrated in battery-swap network.",
        ),
        ("IM Motors", "QingTao Energy"): (
            "400+ Wh/kg",
            "targeted",
            "Active deployment on premium models.",
        ),
        ("Deepal", "Ganfeng Li-Energy"): (
            "260–350 Wh/kg",
            "claimed",
            "Production scaled to secure immediate margin improvements.",
        ),
    }
    (article,) = _all(client, "sources")
    assert article["kind"] == "report"
    for path in ("partnerships", "energy-densities", "milestones"):
        assert all(r["source_id"] == article["id"] for r in _all(client, path)), path
    assert len(_all(client, "milestones")) >= 3


def test_seed_twice_changes_nothing(client: TestClient, engine: Engine) -> None:
    first = seed(engine)
    snapshot = {path: _all(client, path) for path in ("automakers", "partnerships", "milestones")}
    second = seed(engine)
    assert first["created"] == sum(first.values()) > 0
    assert second == {"unchanged": first["created"]}
    assert snapshot == {path: _all(client, path) for path in snapshot}


def test_seed_restores_an_edited_demo_record(client: TestClient, engine: Engine) -> None:
    seed(engine)
    client.patch(f"{API}/automakers/nio", json={"name_local": "蔚来汽车"})
    assert seed(engine)["updated"] == 1
    assert client.get(f"{API}/automakers/nio").json()["name_local"] == "蔚来"
