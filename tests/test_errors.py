"""Every error is problem+json naming what is wrong: routing, parameters, bodies, rules."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.builders import API, create, payload_for

PROBLEM_KEYS = {"type", "title", "status", "detail"}


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem.keys() >= PROBLEM_KEYS
    assert problem["status"] == status
    assert "Traceback" not in response.text
    assert "SELECT" not in response.text
    return problem


def fields(problem: dict[str, Any]) -> set[str]:
    return {error["field"] for error in problem.get("errors", [])}


def test_unknown_path_is_404_problem(client: TestClient) -> None:
    assert_problem(client.get("/api/v1/nothing-here"), 404)
    assert_problem(client.get(f"{API}/partnerships/not-a-uuid"), 404)
    assert_problem(client.get(f"{API}/automakers/'; DROP TABLE automakers; --"), 404)
    # A collection's router refuses paths outside its prefix by a string test: a path that
    # only starts with a collection's name is no collection.
    assert_problem(client.get(f"{API}/automakersx"), 404)
    assert_problem(client.get(f"{API}/automakers-extra/nio"), 404)


def test_wrong_method_is_405_problem_with_allow(client: TestClient) -> None:
    response = client.post(f"{API}/automakers/nio", json={})
    problem = assert_problem(response, 405)
    assert "GET" in response.headers["allow"]
    assert problem["title"] == "Method Not Allowed"


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=501", "limit=abc", "cursor=forged", "cursor=eyJzIjoibm9wZSJ9", "colour=red"],
)
def test_bad_or_unknown_query_parameter_is_400_naming_it(client: TestClient, query: str) -> None:
    problem = assert_problem(client.get(f"{API}/automakers?{query}"), 400)
    assert fields(problem) == {f"query.{query.split('=')[0]}"}


def test_unknown_query_parameter_on_single_record_routes_is_400(client: TestClient) -> None:
    maker = create(client, "automakers")
    problem = assert_problem(client.get(f"{API}/automakers/{maker['id']}?fields=name"), 400)
    assert fields(problem) == {"query.fields"}


def test_put_needs_a_uuid_in_the_path(client: TestClient) -> None:
    body = payload_for(client, "sources")
    problem = assert_problem(client.put(f"{API}/sources/my-source", json=body), 400)
    assert fields(problem) == {"path.id"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"slug": "Not A Slug"}, "body.slug"),
        ({"slug": "3fa85f64-5717-4562-b3fc-2c963f66afa6"}, "body.slug"),
        ({"country": "XX"}, "body.country"),
        ({"country": 86}, "body.country"),
        ({"website": "ftp://example.com"}, "body.website"),
        ({"website": "javascript:alert(1)"}, "body.website"),
        ({"name": ""}, "body.name"),
        ({"name": "n" * 201}, "body.name"),
        ({"description": "d" * 10_001}, "body.description"),
        ({"unknown_field": 1}, "body.unknown_field"),
    ],
)
def test_invalid_company_body_is_422_naming_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    response = client.post(f"{API}/automakers", json=payload_for(client, "automakers", **body))
    assert field in fields(assert_problem(response, 422))
    assert client.get(f"{API}/automakers").json()["items"] == [], "nothing half-written"


def test_long_texts_within_the_documented_sizes_are_accepted(client: TestClient) -> None:
    maker = create(
        client,
        "automakers",
        slug="s" * 200,
        name="n" * 200,
        website="https://example.com/" + "p" * 1980,
        description="d" * 10_000,
    )
    assert len(maker["description"]) == 10_000


def test_country_is_normalised_to_upper_case(client: TestClient) -> None:
    assert create(client, "automakers", country="cn")["country"] == "CN"


def test_body_that_is_not_an_object_is_422(client: TestClient) -> None:
    for raw in (b"[]", b"null", b"{not json", '"蔚来"'.encode()):
        response = client.post(
            f"{API}/sources", content=raw, headers={"content-type": "application/json"}
        )
        assert_problem(response, 422)


def test_read_only_fields_are_ignored_on_writes(client: TestClient) -> None:
    body = payload_for(client, "sources")
    extra = {"version": 99, "created_at": "2000-01-01T00:00:00Z", "updated_at": "x", "id": None}
    response = client.post(f"{API}/sources", json={**body, **extra})
    assert response.status_code == 201, response.text
    assert response.json()["version"] == 1
    assert response.json()["created_at"] > "2026"


def test_put_body_id_must_match_the_path(client: TestClient) -> None:
    body = payload_for(client, "sources", id="3fa85f64-5717-4562-b3fc-2c963f66afa6")
    response = client.put(f"{API}/sources/0b0e7c55-1f3a-4d5e-8f00-8a1c7c9e0001", json=body)
    assert fields(assert_problem(response, 422)) == {"body.id"}


@pytest.mark.parametrize(
    ("subjects", "expected"),
    [((), "body.partnership_id"), (("automaker_id", "battery_partner_id"), "body.automaker_id")],
)
def test_milestone_needs_exactly_one_subject(
    client: TestClient, subjects: tuple[str, ...], expected: str
) -> None:
    refs = {"automaker_id": "automakers", "battery_partner_id": "battery-partners"}
    given = {name: create(client, refs[name])["id"] for name in subjects}
    body = payload_for(client, "milestones", **given)
    if not subjects:
        del body["automaker_id"]
    problem = assert_problem(client.post(f"{API}/milestones", json=body), 422)
    assert fields(problem) == {expected}
    assert "exactly one subject" in problem["errors"][0]["message"]
