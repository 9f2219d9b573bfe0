"""create_app(): settings, database, routers from the registry, problem handlers, docs."""

import asyncio
import signal
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from html import escape
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool

import app.tables
import app.views.time_routes  # noqa: F401 - adds the views over time to the views' router
from app import __version__
from app.access.guard import Guard
from app.access.limits import BodyLimits, RateLimiter, SecurityHeaders
from app.access.routes import router as keys_router
from app.db import get_engine, refresh_sqlite_statistics
from app.docs import DESCRIPTION, install_openapi, operation_id
from app.explore import install_explore
from app.loop_reads import loop_reads
from app.ops.allocator import limit_malloc_arenas
from app.ops.collector import tune_collector
from app.ops.health import router as health_router
from app.ops.observe import Observe, configure_logging, metrics
from app.problems import add_problem_handlers
from app.resources.catalog import catalog
from app.resources.dispatch import CollectionReads
from app.resources.handlers import API_PREFIX
from app.resources.routes import build_router
from app.settings import Settings, get_settings
from app.sync.deliveries import Deliverer
from app.sync.hub import Watcher, hub
from app.sync.routes import router as sync_router
from app.sync.signing import server_key
from app.sync.webhook_routes import router as webhooks_router
from app.views.routes import router as views_router

TITLE = "Battery Intelligence API"
DOC_LINKS = {
    "explore": "/explore",
    "docs": "/docs",
    "redoc": "/redoc",
    "openapi": "/openapi.json",
}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_format)
    limit_malloc_arenas()  # before the worker's threads start: each would take an arena
    app: FastAPI = FastAPIOffline(
        lifespan=_lifespan,
        generate_unique_id_function=operation_id,
        title=TITLE,
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=[{"name": spec.tag, "description": spec.description} for spec in catalog]
        + [
            {"name": "views", "description": "Analyst views: search, landscape, statistics."},
            {"name": "sync", "description": "For partner systems: change feed, batch, export."},
            {"name": "webhooks", "description": "Pushes of the change feed, for admin keys."},
            {"name": "keys", "description": "API keys, for admin keys."},
            {"name": "operations", "description": "Liveness and readiness."},
        ],
        favicon_url=None,
    )
    app.state.settings = settings
    app.state.engine = get_engine(settings.database_url)
    app.state.loop_reads = None  # made by the lifespan, on the serving loop
    app.state.webhook_key = server_key(settings.webhook_secret_key)
    app.state.limiter = (
        RateLimiter(settings.rate_limit, settings.rate_limit_storage)
        if settings.rate_limit
        else None
    )
    add_problem_handlers(app)
    app.add_middleware(CollectionReads)  # innermost: past the guard, before the router
    app.add_middleware(Guard)  # after the body limits, CORS preflights and the log line
    app.add_middleware(BodyLimits, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["ETag", "Location", "Link", "X-Request-ID", "Retry-After"],
        )
    for spec in catalog:
        app.include_router(build_router(spec))
    app.include_router(views_router)
    app.include_router(sync_router)
    app.include_router(webhooks_router)
    app.include_router(keys_router)
    app.include_router(health_router)
    app.add_api_route("/", _root, include_in_schema=False, methods=["GET"])
    install_explore(app)
    app.add_api_route(
        "/metrics",
        metrics,
        name="get_metrics",
        methods=["GET"],
        tags=["operations"],
        summary="Prometheus metrics",
        description="Requests by method, route template and status; latency histogram; "
        "in-flight requests; database connections in use; the change feed's head seq.",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    install_openapi(app)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(Observe, engine=app.state.engine)  # outermost: sees every answer
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    hub.attach(asyncio.get_running_loop())
    _wake_long_polls_on_exit(asyncio.get_running_loop())
    watcher = Watcher(app.state.engine)
    watcher.start()
    settings: Settings = app.state.settings
    app.state.deliverer = Deliverer(
        app.state.engine,
        app.state.webhook_key,
        allow_private=settings.webhook_allow_private,
        scale=settings.webhook_backoff_scale,
    )
    app.state.deliverer.start()
    await run_in_threadpool(refresh_sqlite_statistics, app.state.engine)
    app.state.loop_reads = loop_reads(app.state.engine)
    tune_collector()
    yield
    hub.close()
    await app.state.deliverer.stop()  # in-flight deliveries stay pending, sent again later
    await watcher.stop()
    if app.state.loop_reads is not None:
        await app.state.loop_reads.close()


def _wake_long_polls_on_exit(loop: asyncio.AbstractEventLoop) -> None:
    """On SIGTERM the server waits for in-flight requests; long-polls answer at once."""
    if threading.current_thread() is not threading.main_thread():
        return  # signals belong to the main thread (in tests the app runs elsewhere)
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue

        def handler(signum: int, frame: Any, previous: Any = previous) -> None:
            loop.call_soon_threadsafe(hub.close)
            previous(signum, frame)

        signal.signal(sig, handler)


def _root(request: Request) -> Response:
    """Browsers get a page of links; API clients get the same links as JSON."""
    collections = {spec.path: f"{API_PREFIX}/{spec.path}" for spec in catalog}
    if "text/html" in request.headers.get("accept", ""):
        items = "".join(
            f'<li><a href="{escape(url)}">{escape(name)}</a></li>'
            for name, url in {**DOC_LINKS, **collections}.items()
        )
        return HTMLResponse(
            "<!doctype html><meta charset=utf-8><title>Battery Intelligence API</title>"
            "<h1>Battery Intelligence API</h1><p><a href='/explore'>Explore the landscape</a>"
            " or read the <a href='/docs'>API docs</a>.</p>"
            f"<ul>{items}</ul>"
        )
    return JSONResponse(
        {"name": "Battery Intelligence API", **DOC_LINKS, "collections": collections}
    )
