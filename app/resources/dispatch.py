"""The reads every client makes most, a collection's page and one record, sent straight to
their handlers: the same functions the documented routes call (app.resources.routes), found
by one dictionary lookup instead of FastAPI's routing, its per-request wrappers and its
dependency solver, which together cost more than the read itself (bench/RESULTS.md).

Only `GET /api/v1/<collection>` and `GET /api/v1/<collection>/<id>` of a registered
collection are taken; every other request (a trailing slash, HEAD, history, a view) goes
on to the router unchanged. It sits inside the guard, so access is decided first, and
renders errors as the app's handlers do (app.problems.as_problem)."""

from dataclasses import dataclass
from typing import Any

from starlette import types as asgi
from starlette.requests import Request

from app.problems import as_problem, problem_response
from app.resources import handlers
from app.resources.catalog import catalog
from app.resources.handlers import API_PREFIX
from app.resources.spec import ResourceSpec

PREFIX = f"{API_PREFIX}/"


@dataclass(frozen=True)
class Template:
    """What the metrics and the log line name a request by (as a matched route would)."""

    path: str


class CollectionReads:
    def __init__(self, app: asgi.ASGIApp) -> None:
        self.app = app
        self.specs: dict[str, tuple[ResourceSpec, Template, Template]] = {
            spec.path: (
                spec,
                Template(f"{PREFIX}{spec.path}"),
                Template(f"{PREFIX}{spec.path}/{{id}}"),
            )
            for spec in catalog
        }

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        taken = self._taken(scope)
        if taken is None:
            await self.app(scope, receive, send)
            return
        spec, template, key = taken
        scope["route"] = template
        scope["path_params"] = {} if key is None else {"id": key}
        request = Request(scope, receive, send)
        try:
            if key is None:
                response = await handlers.list_records(spec, request)
            else:
                response = await handlers.get_record(spec, request)
        except Exception as exc:  # as the app's exception handlers would answer
            response = problem_response(as_problem(exc))
        await response(scope, receive, send)

    def _taken(self, scope: asgi.Scope) -> tuple[ResourceSpec, Template, str | None] | None:
        if scope["type"] != "http" or scope["method"] != "GET":
            return None
        path: str = scope["path"]
        if not path.startswith(PREFIX):
            return None
        name, _, key = path[len(PREFIX) :].partition("/")
        found: Any = self.specs.get(name)
        if found is None or "/" in key or (key == "" and path.endswith("/")):
            return None
        spec, page, one = found
        return (spec, page, None) if key == "" else (spec, one, key)
