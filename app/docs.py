"""The OpenAPI document: operationIds, problem+json for every error, an example of every
success answer (the demo service's own, app/openapi_examples.json), the contract's wording."""

import json
import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from app.access.guard import BEARER_SCHEME
from app.problems import PROBLEM_JSON, ProblemDetails
from app.resources.catalog import catalog
from app.resources.handlers import API_PREFIX
from app.resources.query import QUERY_SCHEMAS

DESCRIPTION = """
Track the race to semi-solid-state and all-solid-state EV batteries: which automaker
works with which battery maker, what energy density each cell or pack reaches, and
where each programme stands on the road from announcement to fleet deployment.

* JSON in and out, UTF-8; times are UTC ISO 8601 with `Z`.
* Every record has `id`, `version` (its `ETag`), `created_at` and `updated_at`.
* Lists are keyset-paginated: follow `next_cursor` (also in the `Link` header).
* Errors are RFC 9457 `application/problem+json`; validation problems list
  `errors: [{"field", "message"}]`. Unknown query parameters are a 400; bad bodies a 422.
"""

ERROR_TEXT = {
    400: "Bad query, path or header parameter (unknown ones included).",
    404: "No such record.",
    405: "Method not allowed on this path.",
    409: "Conflict: a duplicate unique value, or the record is still referenced.",
    412: "A precondition (`If-Match` / `If-None-Match`) failed; nothing was changed.",
    401: "No, a malformed, unknown or revoked API key (`WWW-Authenticate: Bearer`).",
    403: "The API key's scope does not allow this.",
    413: "The body is over MAX_BODY_BYTES, or a batch over 1000 operations.",
    415: "The body is not JSON.",
    422: "The body is invalid; `errors` names each field.",
    429: "Over RATE_LIMIT; retry after `Retry-After` seconds.",
    503: "The database is unavailable; retry after `Retry-After` seconds.",
}


# What build_router's functions do, to the collection of their path.
RECORD_OPERATIONS = {
    "list_records": "list_{many}",
    "create_record": "create_{one}",
    "get_record": "get_{one}",
    "put_record": "replace_{one}",
    "patch_record": "update_{one}",
    "delete_record": "delete_{one}",
    "record_history": "history_{one}",
}
OPERATION_ID = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
# Captured from the demo service by tests/test_openapi_examples.py (UPDATE_EXAMPLES=1).
EXAMPLES = Path(__file__).with_name("openapi_examples.json")


def operation_id(route: APIRoute) -> str:
    """Every operationId, made here: a collection's operations say what they do to which
    collection (`list_automakers`, `replace_source`, `history_battery`); every other one is
    its function's name (`apply_batch`, `get_landscape`). Generated clients name their
    methods after these, so they never change: tests/test_openapi_examples.py pins them."""
    template = RECORD_OPERATIONS.get(route.name)
    if template is None:
        name = route.name
    else:
        spec = catalog.by_path(route.path.removeprefix(f"{API_PREFIX}/").split("/")[0])
        name = template.format(one=spec.singular.replace(" ", "_"), many=spec.table_name)
    if route.include_in_schema and not OPERATION_ID.match(name):
        raise ValueError(f"operationId {name!r} of {route.path} is not snake_case")
    return name


def _offers_csv(operation: dict[str, Any]) -> bool:
    for parameter in operation.get("parameters", []):
        if parameter.get("name") == "format" and "csv" in str(parameter.get("schema")):
            return True
    return False


def _problem_responses(schema: dict[str, Any]) -> None:
    """FastAPI documents errors as its own JSON; ours are problem+json (RFC 9457)."""
    ref = {"$ref": "#/components/schemas/ProblemDetails"}
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            if _offers_csv(operation):
                ok = operation["responses"]["200"].setdefault("content", {})
                ok["text/csv"] = {"schema": {"type": "string"}}
            responses = operation.setdefault("responses", {})
            has_body = "requestBody" in operation
            if not has_body:
                responses.pop("422", None)  # only a body is a 422; a bad parameter is a 400
            if path.startswith("/api/"):
                operation["security"] = [{"HTTPBearer": []}]  # app.access.guard.Guard
                # Answers any API operation may give: unknown query parameters (400), the
                # guard's and the limits'.
                extra = [400, 401, 403, 429, 503] + ([413, 415] if has_body else [])
                for code in extra:
                    responses.setdefault(str(code), {})
            for code, response in responses.items():
                if code.isdigit() and int(code) >= 400:
                    response["description"] = ERROR_TEXT.get(int(code), response.get("description"))
                    # A route may declare a problem of its own (a batch's failure, with results).
                    declared = response.get("content", {}).get("application/json", {})
                    own = declared.get("schema", {}).get("$ref", "HTTPValidationError")
                    keep = not own.endswith("HTTPValidationError")
                    response["content"] = {PROBLEM_JSON: declared if keep else {"schema": ref}}
    schema.setdefault("components", {})["securitySchemes"] = {"HTTPBearer": BEARER_SCHEME}
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    problem = ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in problem.pop("$defs", {}).items():
        components.setdefault(name, definition)
    components.setdefault("ProblemDetails", problem)
    for name, definition in QUERY_SCHEMAS.items():
        components.setdefault(name, definition)


def _add_examples(schema: dict[str, Any]) -> None:
    """Each success answer's example, by its schema's name (JSON) or by operation and media
    type (CSV, JSON Lines, Atom, Prometheus text)."""
    if not EXAMPLES.exists():
        return
    examples = json.loads(EXAMPLES.read_text(encoding="utf-8"))
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            texts = examples["media"].get(operation["operationId"], {})
            for code, response in operation.get("responses", {}).items():
                for media_type, media in response.get("content", {}).items():
                    if not code.startswith("2"):
                        continue
                    name = media.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]
                    example = examples["schemas"].get(name) if name else texts.get(media_type)
                    if example is not None:
                        media["example"] = example


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            _problem_responses(schema)
            _add_examples(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
