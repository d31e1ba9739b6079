"""What every console page shares: the session behind the cookie, the CSRF check on every form post,
authorisation through the API's guard (the same policy engine, the session's principal as the caller),
templates, and errors rendered as pages rather than as the API's JSON."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from aiohttp import web

from faas.api.auth import Guard, operation
from faas.api.body import CODE_LIMIT, REQUEST_ID
from faas.api.context import Services
from faas.errors import AccessDenied, ApiError, ConsoleSessionRefused, CsrfTokenRefused, RequestTooLarge, \
    ServiceError
from faas.services.console_sessions import COOKIE, ConsoleSessions, csrf_matches, csrf_token
from faas.services.identities import Caller

log = logging.getLogger(__name__)

ROOT = "/console"
FORM_LIMIT = CODE_LIMIT * 3 // 4
TEMPLATES = Path(__file__).parent / "templates"
# Nothing but this origin's own files: no inline script, no third-party origin, no framing.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclasses.dataclass(frozen=True)
class Console:
    """What the console's handlers are handed by the app factory."""

    services: Services
    sessions: ConsoleSessions
    guard: Guard
    templates: jinja2.Environment


CONSOLE = web.AppKey("console", Console)


def dollars(value: float) -> str:
    """A price or a cost as a plain decimal, to the hundred-millionth of a cent: $0.0000166667, not 1.66667e-05."""
    return "$" + (f"{value:.10f}".rstrip("0").rstrip(".") or "0")


def clock(ms: int) -> str:
    """A log event's time of day, UTC, to the millisecond."""
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%H:%M:%S.%f")[:-3]


def templates() -> jinja2.Environment:
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                     undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters["dollars"] = dollars
    environment.filters["clock"] = clock
    return environment


@dataclasses.dataclass
class View:
    """One request to a signed-in page: who asks, and the means to check, audit and render."""

    request: web.Request
    console: Console
    caller: Caller
    csrf: str
    form: dict[str, Any]

    @property
    def ctx(self) -> Services:
        return self.console.services

    def function_arn(self, name: str) -> str:
        return self.ctx.settings.function_arn(name)

    async def authorize(self, action: str, resource: str = "*", function_name: str | None = None) -> None:
        """The API's own decision for this caller; a refusal is audited as the API audits one."""
        guard = self.console.guard
        try:
            await guard.authorize(self.caller, action, resource, function_name)
        except AccessDenied as refusal:
            guard.record(self.request, self.caller, action, resource, refusal.status, "denied")
            raise

    async def allowed(self, action: str, resource: str = "*") -> bool:
        """Whether to offer something (a link, a form) at all; the action itself is authorised again."""
        try:
            await self.console.guard.authorize(self.caller, action, resource, None)
        except AccessDenied:
            return False
        return True

    def audit(self, action: str, resource: str) -> None:
        """A change made from the console, in the audit log beside the API's."""
        self.console.guard.record(self.request, self.caller, action, resource, 200, "allowed")

    def render(self, template: str, status: int = 200, **values: Any) -> web.Response:
        return render(self.console, template, status, caller=self.caller, csrf=self.csrf, **values)


def render(console: Console, template: str, status: int = 200, **values: Any) -> web.Response:
    text = console.templates.get_template(template).render(root=ROOT, **values)
    return web.Response(text=text, status=status, content_type="text/html", headers=HEADERS)


def redirect(location: str) -> web.Response:
    """See other: after a form post, so reloading the page does not post it again."""
    return web.Response(status=303, headers={**HEADERS, "Location": location})


def error_page(console: Console, error: ApiError, caller: Caller | None) -> web.Response:
    return render(console, "error.html", error.status, error=error, caller=caller, csrf="")


async def read_form(request: web.Request) -> dict[str, Any]:
    """A posted form's fields; an uploaded file's field holds its bytes. As large as a function's zip may be
    (base64 grows it by a third, so the decoded zip is within the API's limit), declared up front."""
    if request.content_length is None or request.content_length > FORM_LIMIT:
        raise RequestTooLarge(f"A console form must declare its length and be at most {FORM_LIMIT} bytes")
    if request.content_type == "multipart/form-data":
        fields: dict[str, Any] = {}
        async for part in (await request.multipart()):
            if part.name is None:
                continue
            data = bytes(await part.read())  # type: ignore[union-attr]
            is_file = part.filename is not None  # type: ignore[union-attr]
            fields[part.name] = data if is_file else data.decode("utf-8", "replace")
        return fields
    return dict(await request.post())


Page = Callable[[View], Awaitable[web.StreamResponse]]


def page(handler: Page) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A signed-in page. A request without a live session is sent to sign in (a GET) or refused (a post:
    nothing is changed); a post without the session's CSRF token is refused. API errors become pages."""

    # Open to the API's guard, which knows SigV4 and tokens: the console authenticates by its session
    # cookie here, and every action a page takes is authorised through the same guard (View.authorize).
    @operation("faas:Console", open=True, audited=False)
    @functools.wraps(handler)
    async def serve(request: web.Request) -> web.StreamResponse:
        console = request.app[CONSOLE]
        session_id = request.cookies.get(COOKIE, "")
        caller = await console.sessions.caller(session_id)
        if caller is None:
            if request.method == "GET":
                return redirect(f"{ROOT}/sign-in?next={quote(request.path_qs, safe='')}")
            return error_page(console, ConsoleSessionRefused(), None)
        try:
            form: dict[str, Any] = {}
            if request.method == "POST":
                form = await read_form(request)
                sent = form.get("csrf")
                if not isinstance(sent, str) or not csrf_matches(session_id, sent):
                    raise CsrfTokenRefused()
            return await handler(View(request, console, caller, csrf_token(session_id), form))
        except ApiError as error:
            return error_page(console, error, caller)
        except Exception:  # a bug: the operator's log has it, the browser a page rather than a trace
            request_id = request[REQUEST_ID]
            log.exception("unhandled error on %s %s (request %s)", request.method, request.path, request_id)
            return error_page(console, ServiceError(f"Internal error (request id {request_id})"), caller)

    return serve
