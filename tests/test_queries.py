"""Filters, sorting, keyset cursors, count, include and CSV on the collections (API.md §3)."""

import csv
import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, literal_column

from app.loop_reads import log as loop_log
from app.market.registry import SPECS
from app.resources.query import RESERVED, queryable
from app.resources.spec import MAX_KEPT_CLAUSES, Filter
from tests.builders import API, create
from tests.test_errors import assert_problem, fields


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


@pytest.fixture
def figures(client: TestClient) -> dict[str, Any]:
    """Four energy densities that differ in every filterable way."""
    welion = create(client, "battery-partners", slug="welion", name="WeLion", founded_year=2016)
    qingtao = create(client, "battery-partners", slug="qingtao", name="QingTao")
    solid = create(client, "batteries", battery_partner_id="welion", technology="all_solid_state")
    semi = create(client, "batteries", battery_partner_id="qingtao", technology="semi_solid")
    made = {
        "a": create(client, "energy-densities", battery_partner_id=welion["id"], value_min=360,
                    value_max=360, level="cell", as_of="2024-05-01", battery_id=solid["id"]),
        "b": create(client, "energy-densities", battery_partner_id=welion["id"], value_min=260,
                    value_max=350, level="pack", as_of="2025-01-01"),
        "c": create(client, "energy-densities", battery_partner_id=qingtao["id"], value_min=400,
                    value_max=None, status="targeted", battery_id=semi["id"]),
        "d": create(client, "energy-densities", battery_partner_id=qingtao["id"], value_min=811.6,
                    value_max=811.6, unit="Wh/L", as_of="2025-06-30"),
    }  # fmt: skip
    return {name: record["id"] for name, record in made.items()}


# (query, the figures it finds): every operator on a field of each type.
FILTER_TABLE = [
    ("level=cell", "acd"),  # enum
    ("level=pack,module", "b"),  # enum, any of
    ("status=targeted", "c"),
    ("unit=Wh/L", "d"),
    ("battery_partner_id=welion", "ab"),  # reference by slug
    ("battery_partner_id=qingtao,welion", "abcd"),
    ("battery_id__isnull=true", "bd"),
    ("battery_id__isnull=false", "ac"),
    ("value_min=360", "a"),  # number
    ("value_min=360,400", "ac"),
    ("value_min__gte=360", "acd"),
    ("value_min__gt=360", "cd"),
    ("value_min__lte=360", "ab"),
    ("value_min__lt=360", "b"),
    ("value_max__isnull=true", "c"),
    ("as_of=2025-01-01", "b"),  # date
    ("as_of__gte=2025-01-01", "bd"),
    ("as_of__gt=2025-01-01", "d"),
    ("as_of__lte=2025-01-01", "ab"),
    ("as_of__lt=2025-01-01", "a"),
    ("as_of__isnull=true", "c"),
    ("technology=semi_solid", "c"),  # joined through the battery
    ("technology=all_solid_state,semi_solid", "ac"),
    ("level=cell&value_min__gte=400", "cd"),  # filters combine with AND
    ("battery_partner_id=nobody", ""),
]


@pytest.mark.parametrize(("query", "expected"), FILTER_TABLE)
def test_filter_operators(
    client: TestClient, figures: dict[str, str], query: str, expected: str
) -> None:
    found = ids(client.get(f"{API}/energy-densities?{query}&limit=500"))
    assert sorted(found) == sorted(figures[name] for name in expected)


@pytest.mark.parametrize(
    "query",
    [
        "value_min__gte=abc",
        "value_min=1,x",
        "as_of__lt=2025-13-01",
        "battery_id__isnull=maybe",
        "level=car",
        "technology=plasma",
        "value_min__between=1",
        "colour=red",
        "updated_since=yesterday",
        "sort=value_min,nope",
        "value_min__gte=nan",
    ],
)
def test_bad_filter_values_are_400_naming_the_parameter(client: TestClient, query: str) -> None:
    name = query.split("=")[0]
    problem = assert_problem(client.get(f"{API}/energy-densities?{query}"), 400)
    assert fields(problem) == {f"query.{name}"}


def test_sql_in_filters_is_only_a_value(client: TestClient, figures: dict[str, str]) -> None:
    del figures
    for value in ["' OR 1=1 --", "welion'; DROP TABLE energy_densities; --", "%", "_"]:
        response = client.get(f"{API}/energy-densities", params={"battery_partner_id": value})
        assert response.json()["items"] == []
    assert len(ids(client.get(f"{API}/energy-densities"))) == 4


def test_updated_since(client: TestClient, figures: dict[str, str]) -> None:
    first = client.get(f"{API}/energy-densities/{figures['b']}").json()
    patched = client.patch(f"{API}/energy-densities/{figures['a']}", json={"note": "new"})
    since = patched.json()["updated_at"]
    assert ids(client.get(f"{API}/energy-densities", params={"updated_since": since})) == [
        figures["a"]
    ]
    everything = client.get(
        f"{API}/energy-densities", params={"updated_since": first["created_at"]}
    )
    assert len(ids(everything)) >= 3


def test_reference_filters_take_ids_or_slugs(client: TestClient) -> None:
    welion = create(client, "battery-partners", slug="welion")
    battery = create(client, "batteries", battery_partner_id=welion["id"])
    create(client, "batteries")
    by_slug = ids(client.get(f"{API}/batteries?battery_partner_id=welion"))
    by_id = ids(client.get(f"{API}/batteries?battery_partner_id={welion['id']}"))
    assert by_slug == by_id == [battery["id"]]


def test_partnerships_filter_by_the_automakers_country(client: TestClient) -> None:
    chinese = create(
        client, "partnerships", automaker_id=create(client, "automakers", country="CN")["id"]
    )
    create(client, "partnerships", automaker_id=create(client, "automakers", country="DE")["id"])
    assert ids(client.get(f"{API}/partnerships?country=cn")) == [chinese["id"]]


def test_milestones_filter_by_automaker_through_any_subject(client: TestClient) -> None:
    maker = create(client, "automakers", slug="deepal")
    direct = create(client, "milestones", automaker_id=maker["id"])
    partnership = create(client, "partnerships", automaker_id=maker["id"])
    via = create(client, "milestones", partnership_id=partnership["id"])
    create(client, "milestones")  # another automaker's
    assert sorted(ids(client.get(f"{API}/milestones?automaker=deepal"))) == sorted(
        [direct["id"], via["id"]]
    )


def test_sort_ascending_descending_with_ties_and_nulls_highest(client: TestClient) -> None:
    rows = [
        create(client, "battery-partners", founded_year=year) for year in (2016, 2010, 2016, None)
    ]
    by_id = sorted(rows[i]["id"] for i in (0, 2))
    up = ids(client.get(f"{API}/battery-partners?sort=founded_year"))
    assert up == [rows[1]["id"], *by_id, rows[3]["id"]]
    down = ids(client.get(f"{API}/battery-partners?sort=-founded_year"))
    assert down == [rows[3]["id"], *reversed(by_id), rows[1]["id"]]
    two_keys = ids(client.get(f"{API}/battery-partners?sort=-founded_year,name"))
    assert two_keys[0] == rows[3]["id"]


@pytest.mark.parametrize(
    "sort", ["created_at", "-founded_year", "founded_year", "name,-created_at", "-name"]
)
def test_cursor_walk_sees_every_row_once_while_rows_are_inserted(
    client: TestClient, sort: str
) -> None:
    years = [2001, None, 2003, 2001, None, 2010, 2003]
    existing = {create(client, "battery-partners", founded_year=y)["id"] for y in years}
    seen: list[str] = []
    url: str | None = f"{API}/battery-partners?limit=2&sort={sort}"
    inserted = 0
    while url:
        response = client.get(url)
        seen += ids(response)
        create(client, "battery-partners", founded_year=[1999, None, 2050][inserted % 3])
        inserted += 1
        link = response.headers.get("link")
        url = link[1 : link.index(">")] if link else None
    assert len(seen) == len(set(seen)), "no row twice"
    assert existing <= set(seen), "no row that existed before the walk is missed"


def test_count_and_link_header(client: TestClient) -> None:
    for _ in range(3):
        create(client, "sources", kind="article")
    create(client, "sources", kind="filing")
    first = client.get(f"{API}/sources?kind=article&limit=2&count=true")
    assert first.json()["total"] == 3
    assert "total" not in client.get(f"{API}/sources").json()
    link = first.headers["link"]
    assert link.endswith('>; rel="next"')
    second = client.get(link[1 : link.index(">")])
    assert second.json()["next_cursor"] is None
    assert "link" not in second.headers
    assert len(second.json()["items"]) == 1, "the link keeps the filters"


def test_the_link_keeps_the_query_as_sent_with_the_new_cursor(client: TestClient) -> None:
    for title in ("a>b", "a>b 2", "a>b 3"):
        create(client, "sources", title=title)
    first = client.get(f"{API}/sources?limit=1&sort=title")
    link = first.headers["link"]
    assert link.startswith(f"<http://testserver{API}/sources?limit=1&sort=title&cursor=")
    second = client.get(link[1 : link.index(">")])
    again = second.headers["link"]
    assert again.count("cursor=") == 1, "the old cursor replaced, not repeated"
    assert again[1 : again.index(">")].endswith(f"cursor={second.json()['next_cursor']}")
    # what a Link header cannot carry as sent is encoded, as Starlette encodes it
    odd = client.get(f"{API}/sources", params={"limit": 1, "q": "a>b"}).headers["link"]
    assert ">" not in odd[1 : odd.index('>; rel="next"')]
    assert "q=a%3Eb&" in odd


@contextmanager
def counting(engine: Engine, *, on_the_loop: bool = True) -> Iterator[list[str]]:
    """The statements run meanwhile on `engine` and, unless told not to, on the event loop
    beside it (the debug lines of app.loop_reads), but the webhook deliverer's: it runs
    beside every app and looks for work (one query on `webhooks`) after each commit."""
    statements: list[str] = []

    def count(*args: Any) -> None:
        if "webhooks" not in args[2]:
            statements.append(args[2])

    class OnTheLoop(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            statements.append(record.getMessage())

    handler = OnTheLoop(logging.DEBUG)
    level = loop_log.level
    if on_the_loop:
        loop_log.addHandler(handler)
        loop_log.setLevel(logging.DEBUG)
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)
        loop_log.removeHandler(handler)
        loop_log.setLevel(level)


def sqlite_plan(engine: Engine, statement: str, text: str, texts: int) -> list[str]:
    """SQLite's plan for a statement `counting` caught: its first `texts` parameters bound
    to `text`, the others to 1."""
    bound = statement.replace("?", f"'{text}'", texts).replace("?", "1")
    with engine.connect() as connection:
        return [str(step) for step in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {bound}")]


def test_include_costs_the_same_queries_for_200_rows_as_for_2(client: TestClient) -> None:
    partners = [create(client, "battery-partners")["id"] for _ in range(4)]
    source = create(client, "sources")["id"]
    for i in range(200):
        create(client, "energy-densities", battery_partner_id=partners[i % 4],
               source_id=source if i % 2 else None)  # fmt: skip
    url = f"{API}/energy-densities?include=battery_partner,source,battery&limit="
    engine = client.app.state.engine  # type: ignore[attr-defined]  # what the app runs on
    with counting(engine) as small:
        two = client.get(url + "2").json()["items"]
    with counting(engine) as large:
        many = client.get(url + "200").json()["items"]
    assert len(two) == 2
    assert len(many) == 200
    assert len(large) == len(small), large
    assert {item["battery_partner"]["id"] for item in many} == set(partners)
    assert all(item["battery"] is None for item in many)
    assert {item["source"]["id"] if item["source"] else None for item in many} == {source, None}


def test_include_on_a_single_record(client: TestClient) -> None:
    battery = create(client, "batteries")
    got = client.get(f"{API}/batteries/{battery['id']}?include=battery_partner").json()
    assert got["battery_partner"]["id"] == battery["battery_partner_id"]
    assert fields(
        assert_problem(client.get(f"{API}/batteries/{battery['id']}?include=x"), 400)
    ) == {"query.include"}


def _csv(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def test_csv_by_header_and_by_parameter_matches_the_json(client: TestClient) -> None:
    for models in (["ET7", "ES6"], []):
        create(client, "partnerships", vehicle_models=models, description='蔚来 "quoted", comma')
    as_json = client.get(f"{API}/partnerships").json()["items"]
    by_param = _csv(client.get(f"{API}/partnerships?format=csv&limit=1"))
    by_header = _csv(client.get(f"{API}/partnerships", headers={"Accept": "text/csv"}))
    assert by_param == by_header
    assert list(by_param[0]) == list(as_json[0]), "the JSON field names, in order"
    for row, item in zip(by_param, as_json, strict=True):
        assert row["vehicle_models"] == "; ".join(item["vehicle_models"])
        assert row["stage"] == ""  # null is an empty cell
        assert row["description"] == item["description"]
        assert row["id"] == item["id"]


def test_csv_keeps_filters_and_sort_across_pages(client: TestClient) -> None:
    names = ["Delta", "alpha", "Charlie", "Bravo", "Echo"]
    for name in names:
        create(client, "automakers", name=name)
    rows = _csv(client.get(f"{API}/automakers?format=csv&sort=-name&limit=2&name=Delta,Bravo,Echo"))
    assert [r["name"] for r in rows] == ["Echo", "Delta", "Bravo"]


def test_every_list_parameter_is_documented(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    for spec in SPECS:
        asked = queryable(spec)
        assert not set(asked.filters) & set(RESERVED)
        parameters = schema["paths"][f"/api/v1/{spec.path}"]["get"]["parameters"]
        documented = {p["name"]: p for p in parameters}
        assert set(asked.filters) | set(RESERVED) | {"include"} <= set(documented)
        for name, parameter in documented.items():
            assert parameter.get("description"), (spec.path, name)
            assert parameter.get("schema"), (spec.path, name)


@pytest.mark.parametrize(
    "query",
    [
        "updated_since=9999-12-31T23:59:59-23:59",
        "updated_since=0001-01-01T00:00:00%2B14:00",
        "founded_year=99999999999999999999999",
        "founded_year=9999999999",
        "founded_year=1,99999999999",
    ],
)
def test_out_of_range_values_are_400(client: TestClient, query: str) -> None:
    name = query.split("=")[0]
    assert fields(assert_problem(client.get(f"{API}/battery-partners?{query}"), 400)) == {
        f"query.{name}"
    }


def test_repeated_parameters_are_400(client: TestClient) -> None:
    for query in ("limit=1&limit=2", "country=CN&country=FR", "sort=name&sort=-name"):
        problem = assert_problem(client.get(f"{API}/automakers?{query}"), 400)
        assert fields(problem) == {f"query.{query.split('=')[0]}"}


def test_a_cursor_only_works_for_its_own_list(client: TestClient) -> None:
    for _ in range(3):
        create(client, "automakers", country="CN")
        create(client, "batteries")
    token = client.get(f"{API}/automakers?limit=1&country=CN").json()["next_cursor"]
    assert client.get(f"{API}/automakers?country=CN&cursor={token}").status_code == 200
    for elsewhere in (
        f"{API}/automakers?country=DE&cursor={token}",
        f"{API}/automakers?cursor={token}",
        f"{API}/batteries?cursor={token}",
        f"{API}/landscape?cursor={token}",
    ):
        assert fields(assert_problem(client.get(elsewhere), 400)) == {"query.cursor"}, elsewhere


def test_a_filter_keeps_its_clause_for_each_value_and_only_so_many() -> None:
    made: list[object] = []

    def clause(raw: object) -> Any:
        made.append(raw)
        return literal_column(str(raw)) == 1

    status = Filter("status", str, "", clause)
    assert status.sql("claimed") is status.sql("claimed")
    assert status.sql(1) is not status.sql(1.5)
    assert made == ["claimed", 1, 1.5]
    for n in range(MAX_KEPT_CLAUSES + 10):
        status.sql(f"value {n}")
    assert len(status._kept) <= MAX_KEPT_CLAUSES
