"""Signing in to the console with an access key, and out again. The sign-in form is CSRF-protected
too (a token in a SameSite=Strict cookie, echoed by the form), so no other site can sign a browser in
as someone else."""

from __future__ import annotations

import secrets

from aiohttp import web

from faas.api.auth import operation
from faas.api.console.web import CONSOLE, ROOT, View, error_page, page, read_form, redirect, render
from faas.errors import ApiError, CsrfTokenRefused
from faas.services.console_sessions import COOKIE, SIGN_IN_COOKIE, SignInRefused


def _next(value: object) -> str:
    """Where to go once signed in: a console path only, never another site."""
    if isinstance(value, str) and value.startswith(ROOT + "/") and not value.startswith(ROOT + "//"):
        return value
    return ROOT + "/functions"


def _cookie(response: web.StreamResponse, request: web.Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path=ROOT + "/", httponly=True, samesite="Strict",
                        secure=request.scheme == "https")


def _form(request: web.Request, status: int = 200, message: str = "") -> web.Response:
    token = request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(24)
    response = render(request.app[CONSOLE], "sign_in.html", status, caller=None, csrf=token, message=message,
                      next=_next(request.query.get("next")))
    _cookie(response, request, SIGN_IN_COOKIE, token, 3600)
    return response


@operation("faas:Console", open=True, audited=False)  # signing in is how a caller becomes known
async def sign_in_form(request: web.Request) -> web.Response:
    return _form(request)


@operation("faas:Console", open=True, audited=False)
async def sign_in(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    try:
        form = await read_form(request)
    except ApiError as error:
        return error_page(console, error, None)
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    sent = form.get("csrf")
    if not expected or not isinstance(sent, str) or not secrets.compare_digest(expected, sent):
        return error_page(console, CsrfTokenRefused(), None)
    try:
        session_id = await console.sessions.sign_in(str(form.get("access_key_id", "")).strip(),
                                                    str(form.get("secret_access_key", "")).strip())
    except SignInRefused:
        console.guard.record(request, None, "faas:ConsoleSignIn", "*", 401, "denied")
        return _form(request, 401, "The access key id or secret is wrong, or the key is disabled.")
    response = redirect(_next(form.get("next")))
    _cookie(response, request, COOKIE, session_id, console.sessions.ttl_s)
    response.del_cookie(SIGN_IN_COOKIE, path=ROOT + "/")
    return response


@page
async def sign_out(view: View) -> web.StreamResponse:
    await view.console.sessions.sign_out(view.request.cookies[COOKIE])
    response = redirect(ROOT + "/sign-in")
    response.del_cookie(COOKIE, path=ROOT + "/")
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_get(ROOT + "/sign-in", sign_in_form)
    app.router.add_post(ROOT + "/sign-in", sign_in)
    app.router.add_post(ROOT + "/sign-out", sign_out)
