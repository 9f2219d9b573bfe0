"""Serve `MODULE:app` as `battery-intel serve` serves the API, for the floor and bare FastAPI.

    python -m bench.uvicorn_workers MODULE:app PORT WORKERS

With several workers each listens on a socket of its own (app.ops.workers): served through
one shared socket, the baselines' two-worker rounds could run on one worker (bench/RESULTS.md,
"Two workers, one busy") while the API's spread, and the ratios would measure that instead.
"""

import sys

import uvicorn

from app.ops.workers import serve_uvicorn
from bench.servers import HOST


def main() -> None:
    app, port, workers = sys.argv[1:]
    config = uvicorn.Config(
        app, host=HOST, port=int(port), workers=int(workers), log_level="warning", access_log=False
    )
    serve_uvicorn(config)


if __name__ == "__main__":
    main()
