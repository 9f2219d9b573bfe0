"""The OpenAPI document: problem+json for every error, the contract's wording, offline assets."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.problems import PROBLEM_JSON, ProblemModel
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


def _offers_csv(operation: dict[str, Any]) -> bool:
    for parameter in operation.get("parameters", []):
        if parameter.get("name") == "format" and "csv" in str(parameter.get("schema")):
            return True
    return False


def _problem_responses(schema: dict[str, Any]) -> None:
    """FastAPI documents errors as its own JSON; ours are problem+json (RFC 9457)."""
    ref = {"$ref": "#/components/schemas/Problem"}
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            if _offers_csv(operation):
                ok = operation["responses"]["200"].setdefault("content", {})
                ok["text/csv"] = {"schema": {"type": "string"}}
            if path.startswith("/api/"):
                # Answers the guard and the limits may give any API operation.
                extra = [401, 403, 429, 503] + ([413, 415] if "requestBody" in operation else [])
                for code in extra:
                    operation.setdefault("responses", {}).setdefault(str(code), {})
            for code, response in operation.get("responses", {}).items():
                if code.isdigit() and int(code) >= 400:
                    response["description"] = ERROR_TEXT.get(int(code), response.get("description"))
                    response["content"] = {PROBLEM_JSON: {"schema": ref}}
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components["Problem"] = ProblemModel.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    for name, definition in components["Problem"].pop("$defs", {}).items():
        components[name] = definition
    for name, definition in QUERY_SCHEMAS.items():
        components.setdefault(name, definition)


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
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
