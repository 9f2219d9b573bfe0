"""The framework's ceiling: the floor's reads served through a bare FastAPI app.

    FLOOR_DATABASE_URL=sqlite:///bench/data/S.db uvicorn bench.framework:app --port 8400

The same SQL, driver and orjson bytes as `bench.floor`, behind FastAPI routing and one
path or query parameter: no middleware, no dependencies, no validation model, no log
line. The gap between it and the floor is what FastAPI and Starlette cost before the
service does anything of its own; the gap between the API and it is what the service's
contract costs (auth, parameter validation, ETags, request ids, logs, metrics).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response

from bench import floor


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    await floor.lifespan()
    yield


app = FastAPI(lifespan=_lifespan, openapi_url=None, docs_url=None, redoc_url=None)


def _json(answer: tuple[int, Any]) -> Response:
    status, body = answer
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


@app.get("/api/v1/energy-densities/{id}")
async def get_one(id: str) -> Response:
    return _json(await floor.one(id, {}))


@app.get("/api/v1/energy-densities")
async def list_page(request: Request) -> Response:
    return _json(await floor.page("", dict(request.query_params)))
