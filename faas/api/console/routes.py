"""Every console route, and its two static files (a stylesheet and the live log's small script)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from faas.api.auth import operation
from faas.api.console import functions, invoke, logs, principals, signin, triggers, usage
from faas.api.console.web import HEADERS, ROOT, redirect

STATIC = Path(__file__).parent / "static"
STATIC_TYPES = {"console.css": "text/css", "live-log.js": "text/javascript"}


@operation("faas:Console", open=True, audited=False)  # the start page sends to the functions (or to sign in)
async def start(request: web.Request) -> web.Response:
    return redirect(ROOT + "/functions")


@operation("faas:Console", open=True, audited=False)  # the same two files for everyone, signed in or not
async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC_TYPES:
        raise web.HTTPNotFound()
    return web.Response(body=(STATIC / name).read_bytes(), content_type=STATIC_TYPES[name],
                        headers={**HEADERS, "Cache-Control": "max-age=300"})


def add_routes(app: web.Application) -> None:
    app.router.add_get(ROOT, start)
    app.router.add_get(ROOT + "/", start)
    app.router.add_get(ROOT + "/static/{name}", static)
    for module in (signin, functions, invoke, logs, triggers, usage, principals):
        module.add_routes(app)
