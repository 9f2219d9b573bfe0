"""Analyst views: text search, the landscape table and energy-density statistics (API.md §4)."""

import csv
import io
import statistics
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.market.demo import seed
from app.market.landscape import ROWS
from tests.builders import API, create
from tests.test_errors import assert_problem, fields
from tests.test_queries import counting, sqlite_plan

ARTICLE_TABLE = [
    ["NIO", "WeLion", "360 Wh/kg",
     "Mass-produced; currently integrated in battery-swap network."],
    ["SAIC (IM Motors)", "QingTao Energy", "400+ Wh/kg (targeted)",
     "Active deployment on premium models."],
    ["Changan (Deepal)", "Ganfeng Li-Energy", "260–350 Wh/kg",
     "Production scaled to secure immediate margin improvements."],
]  # fmt: skip


def _csv(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def _search(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    response = client.get(f"{API}/search", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_landscape_csv_reproduces_the_article_table(client: TestClient, engine: Engine) -> None:
    seed(engine)
    rows = _csv(client.get(f"{API}/landscape?format=csv"))
    columns = ("automaker", "battery_partner", "energy_density", "commercialization_status")
    assert [[row[c] for c in columns] for row in rows] == ARTICLE_TABLE
    header = client.get(f"{API}/landscape", headers={"Accept": "text/csv"}).text.splitlines()[0]
    assert header.split(",")[:4] == ["automaker", "battery_partner", "battery", "technology"]
    as_json = client.get(f"{API}/landscape").json()["items"]
    assert list(as_json[0])[: len(header.split(","))] == header.split(",")
    assert as_json[1]["energy_density_min"] == 400
    assert as_json[1]["energy_density_max"] is None
    assert as_json[0]["sources"] == ["Chinese OEMs pivot to semi-solid-state batteries"]


@pytest.mark.parametrize(
    ("query", "automakers"),
    [
        ("automaker=saic", ["SAIC (IM Motors)"]),  # a group matches its brands
        ("automaker=nio,deepal", ["NIO", "Changan (Deepal)"]),
        ("battery_partner=welion", ["NIO"]),
        ("technology=semi_solid", ["NIO", "SAIC (IM Motors)", "Changan (Deepal)"]),
        ("technology=liquid", []),
        ("country=CN&status=active", ["NIO", "SAIC (IM Motors)", "Changan (Deepal)"]),
        ("status=ended", []),
    ],
)
def test_landscape_filters(
    client: TestClient, engine: Engine, query: str, automakers: list[str]
) -> None:
    seed(engine)
    items = client.get(f"{API}/landscape?{query}").json()["items"]
    assert [item["automaker"] for item in items] == automakers


def test_landscape_bad_filter_is_400(client: TestClient) -> None:
    assert fields(assert_problem(client.get(f"{API}/landscape?technology=plasma"), 400)) == {
        "query.technology"
    }
    assert_problem(client.get(f"{API}/landscape?value_min=3"), 400)


def test_landscape_picks_partnership_then_battery_then_partner_figure(client: TestClient) -> None:
    partner = create(client, "battery-partners")["id"]
    battery = create(client, "batteries", battery_partner_id=partner)["id"]
    partnership = create(client, "partnerships", battery_partner_id=partner, battery_id=battery)

    def row() -> dict[str, Any]:
        items: list[dict[str, Any]] = client.get(f"{API}/landscape").json()["items"]
        return items[0]

    assert row()["energy_density"] is None
    create(client, "energy-densities", battery_partner_id=partner, value_min=100, value_max=100)
    assert row()["energy_density"] == "100 Wh/kg"
    create(client, "energy-densities", battery_partner_id=partner, battery_id=battery,
           value_min=200, value_max=200, level="pack")  # fmt: skip
    assert row()["energy_density"] == "200 Wh/kg"
    own = {"battery_partner_id": partner, "partnership_id": partnership["id"]}
    create(client, "energy-densities", **own, value_min=300, value_max=300, as_of="2025-01-01")
    create(client, "energy-densities", **own, value_min=310, value_max=310, as_of="2026-01-01")
    create(client, "energy-densities", **own, value_min=320, value_max=320)  # undated: last
    create(client, "energy-densities", **own, value_min=900, value_max=900, unit="Wh/L",
           as_of="2026-06-01")  # fmt: skip
    create(client, "energy-densities", **own, value_min=500, value_max=None, level="pack",
           as_of="2026-06-01", status="targeted")  # fmt: skip
    assert row()["energy_density"] == "310 Wh/kg"
    assert (row()["energy_density_level"], row()["energy_density_status"]) == ("cell", "claimed")


def test_search_finds_chinese_names_inside_words(client: TestClient, engine: Engine) -> None:
    seed(engine)
    client.patch(f"{API}/automakers/nio", json={"name_local": "蔚来汽车"})
    found = _search(client, q="蔚来")
    assert [(i["collection"], i["slug"]) for i in found] == [("automakers", "nio")]
    assert found[0]["label"] == "NIO"
    assert "蔚来" in found[0]["snippet"]
    assert [
        i["slug"] for i in client.get(f"{API}/automakers", params={"q": "蔚来"}).json()["items"]
    ] == ["nio"]
    assert _search(client, q="汽车蔚") == []
    assert _search(client, q="新能源")[0]["slug"] == "welion"  # 卫蓝新能源


def test_search_ranks_exact_names_first(client: TestClient) -> None:
    create(client, "automakers", name="Volt Motors", description="no relation")
    create(client, "sources", title="Volt", kind="article")
    create(client, "battery-partners", name="Sunvolt")
    create(client, "batteries", name="Cell", description="a volt-class cell")
    found = _search(client, q="VOLT")
    assert [i["label"] for i in found] == ["Volt", "Volt Motors", "Sunvolt", "Cell"]
    assert [i["score"] for i in found] == sorted((i["score"] for i in found), reverse=True)
    assert found[0]["collection"] == "sources"
    assert _search(client, q="volt", collections="batteries")[0]["label"] == "Cell"


def test_search_pages_with_a_cursor(client: TestClient) -> None:
    for n in range(5):
        create(client, "sources", title=f"Solid report {n}", kind="report")
    first = client.get(f"{API}/search", params={"q": "solid", "limit": 2}).json()
    seen = [i["id"] for i in first["items"]]
    after = first["next_cursor"]
    while after:
        page = client.get(
            f"{API}/search", params={"q": "solid", "limit": 2, "cursor": after}
        ).json()
        seen += [i["id"] for i in page["items"]]
        after = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 5
    rows = _csv(client.get(f"{API}/search", params={"q": "solid", "format": "csv", "limit": 2}))
    assert [r["id"] for r in rows] == seen


def test_search_pages_cross_from_one_score_to_the_next(client: TestClient) -> None:
    # Two of each score; pages of one walk every hit once, best first, newest first within.
    for name in ("Volt", "Volt", "Volta", "Voltage", "Sunvolt", "Revolt"):
        create(client, "battery-partners", name=name)
    for n in range(2):
        create(client, "sources", title=f"Report {n}", kind="report", note="a volt story")
    seen, after = [], None
    while True:
        params: dict[str, Any] = {"q": "volt", "limit": 1} | ({"cursor": after} if after else {})
        page = client.get(f"{API}/search", params=params).json()
        seen += [(i["score"], i["label"]) for i in page["items"]]
        if not (after := page["next_cursor"]):
            break
    assert seen == [
        (1.0, "Volt"), (1.0, "Volt"), (0.75, "Voltage"), (0.75, "Volta"),
        (0.5, "Revolt"), (0.5, "Sunvolt"), (0.25, "Report 1"), (0.25, "Report 0"),
    ]  # fmt: skip


@pytest.mark.parametrize("q", ["%", "_", "\\", "--", "  ", "%%"])
def test_search_special_characters_are_plain(client: TestClient, q: str) -> None:
    create(client, "automakers", name="Plain")
    assert _search(client, q=q) == []
    assert client.get(f"{API}/automakers", params={"q": q}).json()["items"] == []


def test_search_wildcards_match_only_themselves(client: TestClient) -> None:
    create(client, "automakers", name="100% electric")
    create(client, "automakers", name="1000 electric")
    assert [i["label"] for i in _search(client, q="100% e")] == ["100% electric"]
    assert [i["label"] for i in _search(client, q="0_e")] == []


def test_search_follows_renames_into_partnership_labels(client: TestClient) -> None:
    maker = create(client, "automakers", name="Old Name")
    create(client, "partnerships", automaker_id=maker["id"])
    client.patch(f"{API}/automakers/{maker['id']}", json={"name": "Fresh Name"})
    labels = [i["label"] for i in _search(client, q="fresh name", collections="partnerships")]
    assert len(labels) == 1
    assert labels[0].startswith("Fresh Name × ")
    assert _search(client, q="old name") == []


def test_search_parameters_are_checked(client: TestClient) -> None:
    assert fields(assert_problem(client.get(f"{API}/search"), 400)) == {"query.q"}
    bad = client.get(f"{API}/search", params={"q": "x", "collections": "people"})
    assert fields(assert_problem(bad, 400)) == {"query.collections"}


def _stats(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get(f"{API}/stats/energy-density", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _expected(values: list[float]) -> dict[str, Any]:
    return {
        "count": len(values),
        "min": min(values),
        "max": max(values),
        "mean": pytest.approx(statistics.mean(values)),
        "median": pytest.approx(statistics.median(values)),
    }


# (partner, on the semi-solid battery, value_min, level, as_of)
DENSITIES = [
    ("alpha", True, 350.5, "cell", "2024-03-01"), ("alpha", True, 300, "cell", "2025-01-01"),
    ("alpha", False, 410, "pack", "2025-07-01"), ("beta", False, 260, "cell", None),
    ("beta", False, 280, "cell", "2024-12-31"), ("alpha", True, 301.25, "module", "2025-02-02"),
]  # fmt: skip


@pytest.fixture
def density_set(client: TestClient) -> None:
    create(client, "battery-partners", slug="alpha", name="Alpha")
    create(client, "battery-partners", slug="beta", name="Beta")
    semi = create(client, "batteries", battery_partner_id="alpha", technology="semi_solid")["id"]
    for partner, on_battery, value, level, as_of in DENSITIES:
        create(client, "energy-densities", battery_partner_id=partner,
               battery_id=semi if on_battery else None, value_min=value, value_max=value,
               level=level, as_of=as_of)  # fmt: skip
    create(client, "energy-densities", battery_partner_id="beta", value_min=900, value_max=900,
           unit="Wh/L")  # fmt: skip


@pytest.mark.usefixtures("density_set")
@pytest.mark.parametrize(
    ("group_by", "key_of"),
    [
        ("level", lambda r: r[3]),
        ("battery_partner", lambda r: r[0]),
        ("year", lambda r: int(r[4][:4]) if r[4] else None),
        ("technology", lambda r: "semi_solid" if r[1] else None),
    ],
)
def test_stats_equal_values_computed_here(client: TestClient, group_by: str, key_of: Any) -> None:
    expected: dict[Any, list[float]] = {}
    for row in DENSITIES:
        expected.setdefault(key_of(row), []).append(float(row[2]))
    body = _stats(client, group_by=group_by)
    assert (body["unit"], body["group_by"]) == ("Wh/kg", group_by)
    got = {
        g["key"]: {k: g[k] for k in ("count", "min", "max", "mean", "median")}
        for g in body["groups"]
    }
    assert got == {key: _expected(values) for key, values in expected.items()}
    assert body["groups"][-1]["key"] is not None or None in expected


@pytest.mark.parametrize(
    "values", [[300, 300, 300, 400], [300, 400, 400, 500], [300, 300, 400, 400], [250, 250, 250]]
)
def test_stats_medians_of_repeated_values(client: TestClient, values: list[float]) -> None:
    # Figures repeat (many claim 300 Wh/kg): the median is read off their counts.
    create(client, "battery-partners", slug="gamma", name="Gamma")
    for value in values:
        create(client, "energy-densities", battery_partner_id="gamma", value_min=value,
               value_max=value)  # fmt: skip
    [group] = _stats(client, group_by="battery_partner")["groups"]
    assert {k: group[k] for k in ("count", "min", "max", "mean", "median")} == _expected(values)


r_alpha: list[Any] = []


def test_stats_labels_units_filters_and_csv(
    client: TestClient, density_set: dict[str, Any]
) -> None:
    del density_set
    partners = {g["key"]: g["label"] for g in _stats(client, group_by="battery_partner")["groups"]}
    assert partners == {"alpha": "Alpha", "beta": "Beta"}
    per_litre = _stats(client, group_by="level", unit="Wh/L")["groups"]
    assert [(g["key"], g["count"], g["median"]) for g in per_litre] == [("cell", 1, 900)]
    filtered = _stats(client, group_by="level", battery_partner_id="beta")["groups"]
    assert [(g["key"], g["count"], g["mean"]) for g in filtered] == [("cell", 2, 270)]
    rows = _csv(client.get(f"{API}/stats/energy-density?group_by=level&format=csv"))
    assert [r["key"] for r in rows] == ["cell", "module", "pack"]
    assert rows[0]["count"] == "4"
    bad = client.get(f"{API}/stats/energy-density?group_by=colour")
    assert fields(assert_problem(bad, 400)) == {"query.group_by"}


def test_landscape_never_borrows_another_partnerships_figure(
    client: TestClient, engine: Engine
) -> None:
    seed(engine)
    create(client, "partnerships", automaker_id="changan", battery_partner_id="welion",
           status="announced")  # fmt: skip
    rows = client.get(f"{API}/landscape?automaker=changan&battery_partner=welion").json()["items"]
    assert [(r["automaker"], r["energy_density"], r["sources"]) for r in rows] == [
        ("Changan", None, [])
    ]


def test_an_exact_local_name_ranks_first(client: TestClient, engine: Engine) -> None:
    seed(engine)
    create(client, "automakers", name="Fan Club", description="Owners of 蔚来 cars")
    found = _search(client, q="蔚来")
    assert [i["label"] for i in found] == ["NIO", "Fan Club"]
    assert found[0]["score"] > found[1]["score"]


def test_milestones_of_a_group_include_its_brands(client: TestClient, engine: Engine) -> None:
    seed(engine)
    titles = [m["title"] for m in client.get(f"{API}/milestones?automaker=saic").json()["items"]]
    assert titles == ["QingTao semi-solid-state batteries deployed on IM Motors premium models"]


@pytest.mark.usefixtures("density_set")
def test_stats_take_a_text_query(client: TestClient) -> None:
    groups = _stats(client, group_by="battery_partner", q="beta")["groups"]
    assert [(g["key"], g["count"]) for g in groups] == [("beta", 2)]


def test_search_results_are_distinct_per_collection_and_id(client: TestClient) -> None:
    """Client-chosen ids may repeat across collections; each hit shows its own record."""
    shared = "0b0e7c55-1f3a-4d5e-8f00-8a1c7c9e0042"
    source = {"slug": "solid-notes", "title": "Solid notes", "kind": "report",
              "note": "Solid electrolytes, quarter by quarter."}  # fmt: skip
    maker = {"slug": "solid-motors", "name": "Solid Motors", "country": "DE",
             "description": "Builds cars around solid-state packs."}  # fmt: skip
    assert client.put(f"{API}/sources/{shared}", json=source).status_code == 201
    assert client.put(f"{API}/automakers/{shared}", json=maker).status_code == 201
    hits = client.get(f"{API}/search", params={"q": "solid"}).json()["items"]
    by_collection = {hit["collection"]: hit for hit in hits if hit["id"] == shared}
    assert set(by_collection) == {"sources", "automakers"}
    assert (by_collection["sources"]["slug"], by_collection["sources"]["label"]) == (
        "solid-notes", "Solid notes")  # fmt: skip
    assert (by_collection["automakers"]["slug"], by_collection["automakers"]["label"]) == (
        "solid-motors", "Solid Motors")  # fmt: skip
    assert by_collection["sources"]["snippet"] == "Solid notes"
    assert by_collection["automakers"]["snippet"] == "Solid Motors"
    snippet = client.get(f"{API}/search", params={"q": "packs"}).json()["items"][0]["snippet"]
    assert "solid-state packs" in snippet, "the automaker's own text, not the source's"


def test_a_landscape_page_costs_one_query_whatever_its_size(client: TestClient) -> None:
    # The partnerships joined to their kept rows (app.market.landscape); a page whose rows
    # are not kept makes them with two more: the partnerships with their names joined, then
    # every tier's figures in one query (on Postgres a SET LOCAL first: the join order).
    partners = [create(client, "battery-partners")["id"] for _ in range(3)]
    for i in range(60):
        battery = create(client, "batteries", battery_partner_id=partners[i % 3])["id"]
        partnership = create(client, "partnerships", battery_partner_id=partners[i % 3],
                             battery_id=battery)["id"]  # fmt: skip
        tied = {"partnership_id": partnership} if i % 3 == 0 else {"battery_id": battery}
        create(client, "energy-densities", battery_partner_id=partners[i % 3], **tied)
    engine = client.app.state.engine  # type: ignore[attr-defined]  # what the app runs on
    for kept in (True, False):
        if not kept:
            with engine.begin() as connection:
                connection.execute(ROWS.delete())
        with counting(engine) as small:
            two = client.get(f"{API}/landscape?limit=2").json()["items"]
        with counting(engine) as large:
            many = client.get(f"{API}/landscape?limit=60").json()["items"]
        assert (len(two), len(many)) == (2, 60)
        assert len(large) == len(small), large
        figures = sum("energy_densities" in statement for statement in large)
        assert figures == (0 if kept else 1), large
        assert all(row["energy_density"] == "300 Wh/kg" for row in many)


def test_a_technology_filter_keeps_sqlite_on_the_sort_index(client: TestClient) -> None:
    """`technology=` matches a third of the partnerships: SQLite must walk the sort key's
    index and stop at the page, looking each row's battery up by id, not read every match
    through `battery_id` and sort it, nor list every battery of the technology first."""
    for technology in ("semi_solid", "liquid", "semi_solid"):
        battery = create(client, "batteries", technology=technology)
        create(client, "partnerships", battery_partner_id=battery["battery_partner_id"],
               battery_id=battery["id"])  # fmt: skip
    engine = client.app.state.engine  # type: ignore[attr-defined]
    with counting(engine) as statements:
        rows = client.get(f"{API}/landscape?technology=semi_solid&limit=1").json()["items"]
    assert [row["technology"] for row in rows] == ["semi_solid"]
    (page,) = [s for s in statements if "ORDER BY" in s and "partnerships" in s]
    if engine.dialect.name != "sqlite":
        assert "+" not in page, page
        return
    plan = sqlite_plan(engine, page, "semi_solid", 1)
    assert "SCAN partnerships USING INDEX ix_partnerships_created_at_id" in plan[0], plan
    assert any("SEARCH batteries" in step and "(id=?)" in step for step in plan), plan
    assert not any("TEMP B-TREE" in step or "LIST SUBQUERY" in step for step in plan), plan
