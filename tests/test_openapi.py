"""/openapi.json as generated clients read it (API.md §13): readable, stable operationIds;
every answer documented with a schema that names its fields, and an example that fits it."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from app.docs import OPERATION_ID

# Published: generated clients name their methods after these. A rename is a breaking change
# for every partner; change this list only on purpose.
OPERATION_IDS = {
    f"{verb}_{name}"
    for one, many in [
        ("source", "sources"), ("automaker", "automakers"),
        ("battery_partner", "battery_partners"), ("battery", "batteries"),
        ("partnership", "partnerships"), ("energy_density", "energy_densities"),
        ("milestone", "milestones"),
    ]
    for verb, name in [
        ("list", many), ("create", one), ("get", one), ("replace", one), ("update", one),
        ("delete", one), ("history", one),
    ]
} | {
    "list_search_results", "get_landscape", "get_energy_density_stats", "get_landscape_diff",
    "get_battery_claims", "get_claim_gap", "get_digest",
    "list_changes", "apply_batch", "get_export",
    "create_webhook", "list_webhooks", "get_webhook", "update_webhook", "delete_webhook",
    "list_webhook_deliveries", "replay_webhook",
    "list_keys", "create_key", "revoke_key",
    "get_health", "get_readiness", "get_metrics",
}  # fmt: skip
TEXT_TYPES = {"text/csv", "application/x-ndjson", "application/atom+xml", "text/plain"}


@pytest.fixture
def spec(client: TestClient) -> dict[str, Any]:
    answer = client.get("/openapi.json")
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    return document


def _operations(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    ]


def test_operation_ids_are_the_published_ones(spec: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, operation in _operations(spec)]
    assert len(ids) == len(set(ids)), "unique"
    assert all(OPERATION_ID.match(i) for i in ids)
    assert set(ids) == OPERATION_IDS
    named = {where: operation["operationId"] for where, operation in _operations(spec)}
    assert named["GET /api/v1/automakers"] == "list_automakers"
    assert named["GET /api/v1/batteries/{id}"] == "get_battery"
    assert named["PUT /api/v1/sources/{id}"] == "replace_source"
    assert named["POST /api/v1/batch"] == "apply_batch"


def test_only_an_operation_with_a_body_documents_422(spec: dict[str, Any]) -> None:
    for where, operation in _operations(spec):
        if "requestBody" not in operation:
            assert "422" not in operation["responses"], where
        elif where.startswith(("POST", "PUT", "PATCH")):
            assert "422" in operation["responses"], where


def test_every_status_an_operation_answers_is_documented(spec: dict[str, Any]) -> None:
    for where, operation in _operations(spec):
        codes = set(operation["responses"])
        method, path = where.split(" ")
        if path.startswith("/api/"):
            assert {"400", "401", "403", "429", "503"} <= codes, where
        if method == "PUT" and "{id}" in path:
            assert {"200", "201", "412"} <= codes, where
        if method == "DELETE":
            assert "204" in codes, where
        if method == "GET" and path.endswith("/{id}") and "webhooks" not in path:
            assert "304" in codes, where


def _schemas_of_success(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (f"{where} {code} {media_type}", media_type, media)
        for where, operation in _operations(spec)
        for code, response in operation["responses"].items()
        if code.startswith("2")
        for media_type, media in response.get("content", {}).items()
    ]


def test_every_success_answer_names_its_fields(spec: dict[str, Any]) -> None:
    components = spec["components"]["schemas"]
    answers = _schemas_of_success(spec)
    assert len(answers) > 80
    for where, media_type, media in answers:
        schema = media["schema"]
        if media_type in TEXT_TYPES:
            assert schema == {"type": "string"}, where
            continue
        assert media_type == "application/json", where
        name = schema["$ref"].rsplit("/", 1)[-1]
        assert components[name].get("properties"), where


def test_every_success_answer_has_an_example_that_fits_its_schema(spec: dict[str, Any]) -> None:
    registry: Registry = Registry().with_resource(
        "urn:openapi", Resource.from_contents(spec, default_specification=DRAFT202012)
    )
    for where, _, media in _schemas_of_success(spec):
        assert "example" in media, f"{where} has no example"
        schema = media["schema"]
        if "$ref" in schema:
            schema = {"$ref": "urn:openapi" + schema["$ref"]}
        errors = list(Draft202012Validator(schema, registry=registry).iter_errors(media["example"]))
        assert not errors, f"{where}: {errors[0].message} at {list(errors[0].absolute_path)}"


def test_an_example_that_breaks_its_schema_is_caught(spec: dict[str, Any]) -> None:
    registry: Registry = Registry().with_resource(
        "urn:openapi", Resource.from_contents(spec, default_specification=DRAFT202012)
    )
    validator = Draft202012Validator(
        {"$ref": "urn:openapi#/components/schemas/ChangesPage"}, registry=registry
    )
    good = spec["paths"]["/api/v1/changes"]["get"]["responses"]["200"]["content"]
    example = good["application/json"]["example"]
    assert validator.is_valid(example)
    first = example["items"][0]
    assert first["collection"] == "sources"
    assert not validator.is_valid({**example, "next_after": "2"})
    assert not validator.is_valid({**example, "items": [{**first, "collection": "automakers"}]})
    assert not validator.is_valid({**example, "items": [{**first, "seq": 1.5}]})


def test_feed_positions_and_limits_are_integers(spec: dict[str, Any]) -> None:
    changes = spec["paths"]["/api/v1/changes"]["get"]
    params = {p["name"]: p["schema"] for p in changes["parameters"]}
    assert params["after"]["type"] == "integer"
    assert params["limit"]["type"] == "integer"
    page = spec["components"]["schemas"]["ChangesPage"]["properties"]
    assert page["next_after"]["type"] == "integer"
    assert spec["components"]["schemas"]["AutomakerChange"]["properties"]["seq"]["type"] == (
        "integer"
    )
