"""Docs that work offline, and an OpenAPI document that describes every operation."""

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.market.registry import SPECS

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
# Swagger UI loads its favicon and bundle from attributes, ReDoc its script.
CONFIG_URL = re.compile(r"""(?:url|spec-url)\s*[:=]\s*["']([^"']+)["']""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_every_asset_of_the_docs_is_served_by_the_app(client: TestClient, page: str) -> None:
    html = client.get(page)
    assert html.status_code == 200
    urls = set(ASSET.findall(html.text)) | set(CONFIG_URL.findall(html.text))
    assert urls, "the page loads something"
    for url in urls:
        assert url.startswith("/"), f"{page} loads {url} from outside the app"
        assert client.get(url).status_code == 200, url
    assert "/openapi.json" in urls


def test_root_links_to_the_docs(client: TestClient) -> None:
    assert client.get("/").json()["docs"] == "/docs"
    page = client.get("/", headers={"accept": "text/html"})
    assert 'href="/docs"' in page.text or "href='/docs'" in page.text


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    ]


def test_every_operation_has_summary_description_and_tag(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    for path, method, operation in _operations(schema):
        where = f"{method.upper()} {path}"
        assert operation.get("summary"), where
        assert operation.get("description"), where
        assert operation.get("tags"), where


def test_every_request_body_has_an_example(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    bodies = 0
    for path, method, operation in _operations(schema):
        for media in operation.get("requestBody", {}).get("content", {}).values():
            ref = media["schema"]["$ref"].rsplit("/", 1)[-1]
            assert components[ref].get("examples") or media.get("examples"), f"{method} {path}"
            bodies += 1
    assert bodies >= 3 * len(SPECS)


def test_each_collection_has_concrete_paths(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if "{collection}" in p]
    for spec in SPECS:
        assert f"/api/v1/{spec.path}" in paths
        assert set(paths[f"/api/v1/{spec.path}/{{id}}"]) == {"get", "put", "patch", "delete"}


def test_errors_are_documented_as_problem_json(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    for path, method, operation in _operations(schema):
        for code, response in operation["responses"].items():
            if code.isdigit() and int(code) >= 400:
                assert list(response["content"]) == ["application/problem+json"], (method, path)


def test_example_bodies_are_valid_against_their_models() -> None:
    for spec in SPECS:
        example = spec.models.create.model_json_schema()["examples"][0]
        refs = {f for f in spec.refs if f in example}
        spec.models.create.model_validate(example)  # slugs validate as references
        assert refs <= set(spec.models.create.model_fields)
        spec.models.update.model_validate(spec.models.update.model_json_schema()["examples"][0])
