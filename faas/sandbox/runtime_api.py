"""The Lambda Runtime API that runtimes inside environments call, plus faas's specialisation extension.

Each request is tied to the environment it comes from by its source address on the bridge network,
so a container can only ever fetch or answer its own invocations.
"""

from __future__ import annotations

import json
import logging
import re

from aiohttp import web

from faas.bodies import read_limited
from faas.sandbox.environment import Environment, Invocation, Outcome
from faas.sandbox.registry import Registry

log = logging.getLogger(__name__)

PREFIX = "/2018-06-01/runtime"
MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100  # 6,291,556: what Lambda accepts from a runtime
MAX_ERROR_BYTES = 1024 * 1024
MAX_STREAMED_RESPONSE_BYTES = 200 * 1024 * 1024  # Lambda's default for a streamed response
RESPONSE_MODE_HEADER = "Lambda-Runtime-Function-Response-Mode"
DEFAULT_STREAM_CONTENT_TYPE = "application/octet-stream"  # what Lambda's runtimes stream by default
REGISTRY = web.AppKey("registry", Registry)
MAX_STREAMED = web.AppKey("max_streamed_response_bytes", int)
_SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _error(status: int, error_type: str, message: str) -> web.Response:
    return web.json_response({"errorType": error_type, "errorMessage": message}, status=status)


def _accepted() -> web.Response:
    return web.json_response({"status": "OK"}, status=202)


async def _environment(request: web.Request) -> Environment | None:
    return await request.app[REGISTRY].environment_at(request.remote or "")


def _current(env: Environment | None, request_id: str):  # -> Invocation | None
    if env is None or env.current is None or env.current.request_id != request_id:
        return None
    return env.current


async def specialize(request: web.Request) -> web.Response:
    """faas extension: a generic runtime waits here until the platform binds it to a function and hands
    it the function's environment (variables and credentials). `?format=shell` answers it as POSIX
    shell `export` lines instead of JSON, for the OS-only runtimes' entry script, which has no JSON parser."""
    env = await _environment(request)
    if env is None or env.dead:
        return _error(403, "Forbidden", "This address is not a faas execution environment")
    environment = await env.specialization()
    if request.query.get("format") == "shell":
        return web.Response(text=shell_exports(environment), content_type="text/plain")
    return web.json_response({"environment": environment})


def shell_exports(environment: dict[str, str]) -> str:
    """`export NAME='value'` lines a POSIX shell can `eval` safely: inside single quotes nothing is
    special but the quote itself, written as '\\''. A name a shell cannot take (Lambda's own names
    never are) is left out rather than risk the evaluation; so is a value with a NUL, which no
    process environment can hold."""
    lines = []
    for name, value in environment.items():
        if _SHELL_NAME.fullmatch(name) and "\0" not in value:
            quoted = value.replace("'", "'\\''")
            lines.append(f"export {name}='{quoted}'\n")
    return "".join(lines)


async def next_invocation(request: web.Request) -> web.StreamResponse:
    env = await _environment(request)
    if env is None or env.dead or env.function is None:
        return _error(403, "Forbidden", "This address is not a faas execution environment")
    invocation = await env.next_invocation()
    invocation.deliver()
    headers = {
        "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
        "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
        "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
        "Lambda-Runtime-Trace-Id": invocation.trace_id,
        "Content-Type": "application/json",
    }
    if invocation.client_context:
        headers["Lambda-Runtime-Client-Context"] = invocation.client_context
    return web.Response(body=invocation.payload, headers=headers)


async def post_response(request: web.Request) -> web.Response:
    env = await _environment(request)
    invocation = _current(env, request.match_info["request_id"])
    if invocation is None:
        return _error(400, "InvalidRequestID", "Invalid request ID")
    if request.headers.get(RESPONSE_MODE_HEADER, "").lower() == "streaming":
        return await _streamed_response(request, invocation)
    body = await read_limited(request, MAX_RESPONSE_BYTES)
    if body is None:
        size = request.content_length or MAX_RESPONSE_BYTES + 1
        message = (f"Response payload size ({size} bytes) exceeded maximum allowed payload size "
                   f"({MAX_RESPONSE_BYTES} bytes).")
        invocation.finish(Outcome(
            body=json.dumps({"errorMessage": message, "errorType": "Function.ResponseSizeTooLarge"}).encode(),
            error_type="Function.ResponseSizeTooLarge",
        ))
        return _error(413, "RequestEntityTooLarge", message)
    invocation.finish(Outcome(body=body))
    return _accepted()


async def _streamed_response(request: web.Request, invocation: Invocation) -> web.Response:
    """A response the runtime streams (chunked): each piece goes on to the caller as it arrives, and the
    invocation ends with the stream. Lambda's runtimes report an error mid-stream in HTTP trailers, which
    aiohttp does not hand over: faas's bootstraps POST it to /error before they end the stream (post_error
    keeps it for then); a runtime that only sends the trailers is taken as having succeeded. A runtime that
    half-closes its connection after the last chunk may lose the stream's end: this server cancels the
    handler of a connection its peer closed (handler_cancellation), and no HTTP client of Lambda's does it."""
    stream = invocation.start_stream(request.headers.get("Content-Type") or DEFAULT_STREAM_CONTENT_TYPE)
    if stream is None:
        return _error(400, "InvalidRequestID", "Invalid request ID")  # it timed out, or streams already
    limit = request.app[MAX_STREAMED]
    async for chunk in request.content.iter_any():
        if stream.size + len(chunk) > limit:
            # Lambda's words; the caller has had the first `limit` bytes, and the invocation fails.
            message = f"Response payload size exceeded maximum allowed payload size ({limit} bytes)."
            invocation.finish(Outcome(
                body=json.dumps({"errorMessage": message, "errorType": "Function.ResponseSizeTooLarge"}).encode(),
                error_type="Function.ResponseSizeTooLarge", streamed=True))
            return _error(413, "RequestEntityTooLarge", message)
        await stream.write(chunk)
    invocation.finish(invocation.stream_error or Outcome(body=b"", streamed=True))
    return _accepted()


async def post_error(request: web.Request) -> web.Response:
    env = await _environment(request)
    invocation = _current(env, request.match_info["request_id"])
    if invocation is None:
        return _error(400, "InvalidRequestID", "Invalid request ID")
    body = await read_limited(request, MAX_ERROR_BYTES) or b"{}"
    outcome = Outcome(body=body, error_type=_error_type(request, body))
    if invocation.stream is not None and not invocation.stream.closed:
        invocation.stream_error = outcome  # the stream is still arriving: it ends with this error
    else:
        invocation.finish(outcome)
    return _accepted()


async def init_error(request: web.Request) -> web.Response:
    env = await _environment(request)
    if env is None:
        return _error(403, "Forbidden", "This address is not a faas execution environment")
    body = await read_limited(request, MAX_ERROR_BYTES) or b"{}"
    env.dead = True  # the runtime exits after reporting; never hand this environment work again
    if env.current is not None:
        env.current.finish(Outcome(body=body, error_type=_error_type(request, body), environment_lost=True))
    return _accepted()


def _error_type(request: web.Request, body: bytes) -> str:
    # awslambdaric and the Node client leave the header out: fall back to the body, then Unhandled.
    header = request.headers.get("Lambda-Runtime-Function-Error-Type")
    if header:
        return header
    try:
        parsed = json.loads(body)
    except ValueError:
        return "Unhandled"
    error_type = parsed.get("errorType") if isinstance(parsed, dict) else None
    return error_type if isinstance(error_type, str) and error_type else "Unhandled"


def create_app(registry: Registry, max_streamed_response_bytes: int = MAX_STREAMED_RESPONSE_BYTES) -> web.Application:
    app = web.Application(client_max_size=MAX_RESPONSE_BYTES + 1024)
    app[REGISTRY] = registry
    app[MAX_STREAMED] = max_streamed_response_bytes
    app.router.add_get(f"{PREFIX}/invocation/next", next_invocation)
    app.router.add_get(f"{PREFIX}/faas/specialize", specialize)
    app.router.add_post(f"{PREFIX}/invocation/{{request_id}}/response", post_response)
    app.router.add_post(f"{PREFIX}/invocation/{{request_id}}/error", post_error)
    app.router.add_post(f"{PREFIX}/init/error", init_error)
    return app
