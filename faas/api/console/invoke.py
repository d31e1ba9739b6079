"""Invoking a function from the console: a payload editor, the result and the invocation's log tail."""

from __future__ import annotations

import json

from aiohttp import web

from faas.api.console.functions import function_name
from faas.api.console.web import ROOT, View, page
from faas.errors import InvalidRequestContent, RequestTooLarge

MAX_PAYLOAD = 6 * 1024 * 1024  # Lambda's synchronous payload limit, as the API applies it
TAIL_CHARS = 4096  # the log tail Lambda returns with LogType Tail


def pretty(body: bytes) -> str:
    """The result as indented JSON when it is JSON, else as text."""
    text = body.decode("utf-8", "replace")
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


@page
async def invoke(view: View) -> web.Response:
    name = function_name(view)
    await view.authorize("lambda:InvokeFunction", view.function_arn(name), name)
    fn = await view.ctx.functions.get(name)
    if view.request.method == "GET":
        return view.render("invoke.html", fn=fn, payload="{}", result=None)
    payload = view.form.get("payload", "")
    payload = payload.strip() if isinstance(payload, str) else ""
    if len(payload.encode()) > MAX_PAYLOAD:
        raise RequestTooLarge(f"The payload must be at most {MAX_PAYLOAD} bytes")
    try:
        json.loads(payload or "{}")
    except ValueError as exc:
        raise InvalidRequestContent(f"The payload is not valid JSON: {exc}") from exc
    result = await view.ctx.invoker.invoke(fn, (payload or "{}").encode())
    return view.render("invoke.html", fn=fn, payload=payload or "{}", result=result, body=pretty(result.body),
                       log_tail=result.log[-TAIL_CHARS:])


def add_routes(app: web.Application) -> None:
    app.router.add_get(ROOT + "/functions/{function}/invoke", invoke)
    app.router.add_post(ROOT + "/functions/{function}/invoke", invoke)
