"""Request ids, one log line per request, and Prometheus metrics (API.md §8).

Metrics work with `serve --workers N`: the command points PROMETHEUS_MULTIPROC_DIR at a
fresh folder, every worker writes there, and `/metrics` adds them up.
"""

import contextlib
import logging
import os
import re
import sys
import time
from functools import lru_cache
from typing import Any

import orjson
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.db import read_session
from app.resources import changelog

log = logging.getLogger("battery_intel.requests")
_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,200}")
UNMATCHED = "unmatched"  # the route label of a 404: never the raw path

REQUESTS = Counter("http_requests_total", "HTTP requests answered.", ["method", "route", "status"])
DURATION = Histogram(
    "http_request_duration_seconds", "Time to answer, by route.", ["method", "route"]
)
IN_FLIGHT = Gauge(
    "http_requests_in_flight", "Requests being answered.", multiprocess_mode="livesum"
)
POOL_IN_USE = Gauge(
    "db_pool_connections_in_use",
    "Database connections checked out (the engine's, and Postgres' reads on the event loop).",
    multiprocess_mode="livesum",
)
FEED_HEAD = Gauge("change_feed_head_seq", "The last change seq committed.", multiprocess_mode="max")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = _line(record.created, record.levelname, record.name, record.getMessage(),
                     record.process, getattr(record, "fields", {}))  # fmt: skip
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def _line(
    created: float, level: str, logger: str, message: str, pid: int | None, fields: dict[str, Any]
) -> dict[str, Any]:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return {
        "time": f"{stamp}.{int(created % 1 * 1000):03d}Z",
        "level": level.lower(),
        "logger": logger,
        "message": message,
        "pid": pid,  # which worker, with `serve --workers N`
        **fields,
    }


# The handler configure_logging made for JSON lines. A request's line is written straight to
# it while it is the only one (pytest's caplog adds its own): a LogRecord, the filters and
# the formatter cost 7% of a worker's time on a GET of one record (bench/load_profile.py).
_json_handler: logging.StreamHandler[Any] | None = None


def configure_logging(level: str, fmt: str) -> None:
    """Logs go to standard error: JSON lines, or plain text for humans."""
    handler = logging.StreamHandler(sys.stderr)
    global _json_handler
    _json_handler = handler if fmt == "json" else None
    if fmt == "json":
        formatter: logging.Formatter = JsonFormatter()
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s %(fields)s")
    handler.setFormatter(formatter)
    handler.addFilter(_with_fields)
    # A line a request: skip what no line shows (the logging HOWTO's "Optimization"). The
    # caller's file and line cost a walk up the stack each; thread names, a lock.
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("uvicorn.access").disabled = True  # our own line replaces it


def _with_fields(record: logging.LogRecord) -> bool:
    if not hasattr(record, "fields"):
        record.fields = {}
    return True


class Observe:
    """Gives every request an id (X-Request-ID, taken when sent), logs it, counts it."""

    def __init__(self, app: ASGIApp, engine: Any) -> None:
        self.app = app
        self.engine = engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = next((v for k, v in scope.get("headers", ()) if k == b"x-request-id"), b"")
        given = sent.decode("latin-1")
        request_id = given if _REQUEST_ID.fullmatch(given) else os.urandom(16).hex()
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        started = time.perf_counter()

        async def tagged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, tagged)
        finally:
            IN_FLIGHT.dec()
            self._record(scope, request_id, status, time.perf_counter() - started)

    def _record(self, scope: Scope, request_id: str, status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None) or UNMATCHED
        method = scope["method"]
        counted, timed = _series(method, route, status)
        counted.inc()
        timed.observe(seconds)
        pool = getattr(self.engine, "pool", None)
        if pool is not None and hasattr(pool, "checkedout"):
            loop_reads = getattr(getattr(scope.get("app"), "state", None), "loop_reads", None)
            POOL_IN_USE.set(pool.checkedout() + (loop_reads.in_use if loop_reads else 0))
        fields = {
            "request_id": request_id,
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "actor": scope.get("state", {}).get("actor"),
        }
        handler = _json_handler
        if handler is None or logging.root.handlers != [handler] or log.handlers:
            log.info("%s %s %s", method, route, status, extra={"fields": fields})
            return
        if log.isEnabledFor(logging.INFO):
            message = f"{method} {route} {status}"
            line = _line(time.time(), "info", log.name, message, os.getpid(), fields)
            # A stream nobody reads any more (`serve 2>&1 | head`) fails the write: the
            # request was answered, so the line is lost, as logging's handlers lose it.
            with handler.lock or contextlib.nullcontext(), contextlib.suppress(OSError):
                handler.stream.write(orjson.dumps(line, default=str).decode() + "\n")
                handler.flush()


@lru_cache(maxsize=1024)  # labels() validates and takes a lock on every call
def _series(method: str, route: str, status: int) -> tuple[Any, Any]:
    return REQUESTS.labels(method, route, str(status)), DURATION.labels(method, route)


def metrics(request: Request) -> Response:
    """Prometheus text, summed over every worker in multiprocess mode."""
    try:
        with read_session(request.app.state.engine) as session:
            FEED_HEAD.set(changelog.head(session))
    except Exception:
        log.warning("metrics: change feed head unavailable")
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
