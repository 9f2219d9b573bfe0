"""`/explore`: the analyst page. Its source is web/ (TypeScript, built by Vite); the build is
committed under app/static/explore, so the package serves it with no Node and no internet.
The page reads only the public JSON API, on this origin (its CSP: app.access.limits)."""

from functools import cache
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

PAGE = Path(__file__).parent / "static" / "explore"
KEY_META = '<meta name="battery-intel:reads-require-key" content="false" />'


@cache
def _page(reads_require_key: bool) -> str:
    """The built page, told whether reads need a key (it then asks before its first read)."""
    html = (PAGE / "index.html").read_text(encoding="utf-8")
    if reads_require_key:
        html = html.replace(KEY_META, KEY_META.replace('"false"', '"true"'))
    return html


def explore(request: Request) -> HTMLResponse:
    return HTMLResponse(_page(request.app.state.settings.reads_require_key))


def install_explore(app: FastAPI) -> None:
    app.add_api_route("/explore", explore, methods=["GET"], include_in_schema=False)
    app.mount("/explore/assets", StaticFiles(directory=PAGE / "assets"), name="explore-assets")
