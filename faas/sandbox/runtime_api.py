"""The Lambda Runtime API that runtimes inside environments call, plus faas's specialisation extension.

Each request is tied to the environment it comes from by its source address on the bridge network,
so a container can only ever fetch or answer its own invocations.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import socket
from urllib.parse import parse_qs, unquote

from faas.sandbox.environment import Environment, Invocation, Outcome
from faas.sandbox.registry import Registry
from faas.sandbox.runtime_http import HttpServer, Reply, Request, error_reply

PREFIX = "/2018-06-01/runtime"
MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100  # 6,291,556: what Lambda accepts from a runtime
MAX_ERROR_BYTES = 1024 * 1024
MAX_STREAMED_RESPONSE_BYTES = 200 * 1024 * 1024  # Lambda's default for a streamed response
RESPONSE_MODE_HEADER = "lambda-runtime-function-response-mode"
ERROR_TYPE_HEADER = "lambda-runtime-function-error-type"
ERROR_BODY_TRAILER = "lambda-runtime-function-error-body"  # base64 of the error's JSON
DEFAULT_STREAM_CONTENT_TYPE = "application/octet-stream"  # what Lambda's runtimes stream by default
_SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NOT_AN_ENVIRONMENT = "This address is not a faas execution environment"
_ACCEPTED = Reply(202, b'{"status": "OK"}')


def _current(env: Environment | None, request_id: str) -> Invocation | None:
    if env is None or env.current is None or env.current.request_id != request_id:
        return None
    return env.current


class RuntimeApi:
    """The routes; `serve` puts them on sockets."""

    def __init__(self, registry: Registry, max_streamed_response_bytes: int = MAX_STREAMED_RESPONSE_BYTES) -> None:
        self.registry = registry
        self.max_streamed = max_streamed_response_bytes

    async def handle(self, request: Request) -> Reply:
        path = request.path
        if not path.startswith(PREFIX):
            return error_reply(404, "NotFound", "Not found")
        route = path[len(PREFIX):]
        if route == "/invocation/next":
            return self._only("GET", request) or await self.next_invocation(request)
        if route.startswith("/invocation/"):
            request_id, _, action = route[len("/invocation/"):].partition("/")
            if action in ("response", "error") and request_id:
                return self._only("POST", request) or await (
                    self.post_response if action == "response" else self.post_error)(request, unquote(request_id))
        elif route == "/init/error":
            return self._only("POST", request) or await self.init_error(request)
        elif route == "/faas/specialize":
            return self._only("GET", request) or await self.specialize(request)
        return error_reply(404, "NotFound", "Not found")

    @staticmethod
    def _only(method: str, request: Request) -> Reply | None:
        if request.method == method:
            return None
        return error_reply(405, "MethodNotAllowed", f"{request.method} is not allowed here: use {method}")

    async def _environment(self, request: Request) -> Environment | None:
        return await self.registry.environment_at(request.remote)

    async def specialize(self, request: Request) -> Reply:
        """faas extension: a generic runtime waits here until the platform binds it to a function and hands
        it the function's environment (variables and credentials). `?format=shell` answers it as POSIX
        shell `export` lines instead of JSON, for the OS-only runtimes' entry script, which has no JSON parser."""
        env = await self._environment(request)
        if env is None or env.dead:
            return error_reply(403, "Forbidden", _NOT_AN_ENVIRONMENT)
        environment = await env.specialization()
        if parse_qs(request.query).get("format") == ["shell"]:
            return Reply(200, shell_exports(environment).encode(), "text/plain; charset=utf-8")
        return Reply(200, json.dumps({"environment": environment}).encode())

    async def next_invocation(self, request: Request) -> Reply:
        env = await self._environment(request)
        if env is None or env.dead or env.function is None:
            return error_reply(403, "Forbidden", _NOT_AN_ENVIRONMENT)
        invocation = await env.next_invocation()
        invocation.deliver()
        headers = {
            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
            "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
            "Lambda-Runtime-Trace-Id": invocation.trace_id,
        }
        if invocation.client_context:
            headers["Lambda-Runtime-Client-Context"] = invocation.client_context
        return Reply(200, invocation.payload, headers=headers)

    async def post_response(self, request: Request, request_id: str) -> Reply:
        invocation = _current(await self._environment(request), request_id)
        if invocation is None:
            return error_reply(400, "InvalidRequestID", "Invalid request ID")
        if request.headers.get(RESPONSE_MODE_HEADER, "").lower() == "streaming":
            return await self._streamed_response(request, invocation)
        too_large = request.content_length is not None and request.content_length > MAX_RESPONSE_BYTES
        body = None if too_large else await request.body.read(MAX_RESPONSE_BYTES)
        if body is None:
            size = request.content_length or MAX_RESPONSE_BYTES + 1
            message = (f"Response payload size ({size} bytes) exceeded maximum allowed payload size "
                       f"({MAX_RESPONSE_BYTES} bytes).")
            invocation.finish(_too_large(message))
            return error_reply(413, "RequestEntityTooLarge", message)
        invocation.finish(Outcome(body=body))
        return _ACCEPTED

    async def _streamed_response(self, request: Request, invocation: Invocation) -> Reply:
        """A response the runtime streams (chunked): each piece goes on to the caller as it arrives, and the
        invocation ends with the stream. An error mid-stream arrives as Lambda's runtimes report it, in the
        trailers Lambda-Runtime-Function-Error-Type and -Error-Body (base64), or POSTed to /error before the
        stream ends (faas's own bootstraps do both; post_error keeps it for then)."""
        stream = invocation.start_stream(request.headers.get("content-type") or DEFAULT_STREAM_CONTENT_TYPE)
        if stream is None:
            return error_reply(400, "InvalidRequestID", "Invalid request ID")  # it timed out, or streams already
        limit = self.max_streamed
        async for chunk in request.body:
            if stream.size + len(chunk) > limit:
                # Lambda's words; the caller has had the first `limit` bytes, and the invocation fails.
                message = f"Response payload size exceeded maximum allowed payload size ({limit} bytes)."
                invocation.finish(_too_large(message, streamed=True))
                return error_reply(413, "RequestEntityTooLarge", message)
            await stream.write(chunk)
        invocation.finish(_trailer_error(request.trailers) or invocation.stream_error
                          or Outcome(body=b"", streamed=True))
        return _ACCEPTED

    async def post_error(self, request: Request, request_id: str) -> Reply:
        invocation = _current(await self._environment(request), request_id)
        if invocation is None:
            return error_reply(400, "InvalidRequestID", "Invalid request ID")
        body = await request.body.read(MAX_ERROR_BYTES) or b"{}"
        outcome = Outcome(body=body, error_type=_error_type(request, body))
        if invocation.stream is not None and not invocation.stream.closed:
            invocation.stream_error = outcome  # the stream is still arriving: it ends with this error
        else:
            invocation.finish(outcome)
        return _ACCEPTED

    async def init_error(self, request: Request) -> Reply:
        env = await self._environment(request)
        if env is None:
            return error_reply(403, "Forbidden", _NOT_AN_ENVIRONMENT)
        body = await request.body.read(MAX_ERROR_BYTES) or b"{}"
        env.dead = True  # the runtime exits after reporting; never hand this environment work again
        if env.current is not None:
            env.current.finish(Outcome(body=body, error_type=_error_type(request, body), environment_lost=True))
        return _ACCEPTED


def serve(registry: Registry, sockets: tuple[socket.socket, ...], *, shutdown_timeout: float,
          max_streamed_response_bytes: int = MAX_STREAMED_RESPONSE_BYTES) -> HttpServer:
    """The Runtime API on sockets bound already, as a lifecycle part (faas.lifecycle)."""
    api = RuntimeApi(registry, max_streamed_response_bytes)
    return HttpServer("Runtime API", api.handle, sockets, shutdown_timeout=shutdown_timeout)


def _too_large(message: str, *, streamed: bool = False) -> Outcome:
    return Outcome(body=json.dumps({"errorMessage": message, "errorType": "Function.ResponseSizeTooLarge"}).encode(),
                   error_type="Function.ResponseSizeTooLarge", streamed=streamed)


def _trailer_error(trailers: dict[str, str]) -> Outcome | None:
    """The error a streamed response's trailers report, as AWS's runtime clients write them."""
    error_type = trailers.get(ERROR_TYPE_HEADER)
    if not error_type:
        return None
    try:
        body = base64.b64decode(trailers.get(ERROR_BODY_TRAILER, ""), validate=True)
        json.loads(body)
    except (binascii.Error, ValueError):
        body = json.dumps({"errorType": error_type, "errorMessage": ""}).encode()
    return Outcome(body=body, error_type=error_type, streamed=True)


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


def _error_type(request: Request, body: bytes) -> str:
    # awslambdaric and the Node client leave the header out: fall back to the body, then Unhandled.
    header = request.headers.get(ERROR_TYPE_HEADER)
    if header:
        return header
    try:
        parsed = json.loads(body)
    except ValueError:
        return "Unhandled"
    error_type = parsed.get("errorType") if isinstance(parsed, dict) else None
    return error_type if isinstance(error_type, str) and error_type else "Unhandled"
