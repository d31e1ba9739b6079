"""The function URL source: one HTTP request to a URL becomes one invocation of its function. CORS
preflights are answered from the URL's configuration; the caller is authenticated (AWS_IAM) and must hold
both URL permissions before the body is read; the request becomes a payload 2.0 event, and the function's
result becomes the HTTP response. The API routes host-style and path-style requests here."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Protocol

from aiohttp import web

from faas.bodies import read_limited
from faas.dispatch.invoker import Invoker
from faas.errors import AccessDenied, ApiError, InvalidSignature, RequestTooLarge, ResourceNotFound, \
    TooManyRequests, UnrecognizedClient
from faas.model import utcnow
from faas.sandbox.response_stream import HTTP_INTEGRATION, ResponseStream, split_prelude
from faas.security import sigv4
from faas.services.functions import FunctionService
from faas.services.identities import Caller
from faas.services.urls import UrlService
from faas.sources import cors, url_events

MAX_BODY = 6 * 1024 * 1024
MAX_PRELUDE = 64 * 1024  # an HttpResponseStream prelude longer than this is malformed

# A request to a NONE URL: no credentials, no identity policies; only principal "*" in the function's
# policy can allow it.
ANONYMOUS = Caller(arn="anonymous", name="anonymous", kind="anonymous", documents=())
# Lambda's answer to a refused URL request, whatever the reason (it tells an anonymous caller nothing more).
FORBIDDEN = ("Forbidden. For troubleshooting Function URL authorization issues, see the Function URLs "
             "section of the platform's docs/SECURITY.md")


class Guard(Protocol):
    """What the source needs of the API's guard (faas.api.auth.Guard), which the app factory hands in: one
    implementation of authentication, policy decisions and the audit log for every request, without this
    floor importing the API's."""

    async def authenticated_body(self, request: web.Request, body_limit: int) -> tuple[Caller, bytes]: ...

    async def authorize(self, caller: Caller, action: str, resource: str, function_name: str | None,
                        context: dict[str, str] | None = None) -> None: ...

    def record(self, request: web.Request, caller: Caller | None, action: str, resource: str, status: int,
               outcome: str) -> None: ...


def _plain(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"Message": message}, status=status, headers=headers)


class UrlSource:
    def __init__(self, urls: UrlService, functions: FunctionService, invoker: Invoker, guard: Guard, *,
                 function_arn: Callable[[str], str], account_id: str, trusted_proxies: tuple[str, ...] = ()) -> None:
        self._urls = urls
        self._functions = functions
        self._invoker = invoker
        self._guard = guard
        self._function_arn = function_arn
        self._account_id = account_id
        self._trusted = url_events.trusted_networks(trusted_proxies)

    async def serve(self, request: web.Request, url_id: str, raw_path: str, request_id: str) -> web.StreamResponse:
        """Answer one request to the URL `url_id`; `raw_path` is the path as received, after the URL's own."""
        config = await self._urls.for_url_id(url_id)
        if config is None:
            return _plain(404, "Not Found")
        try:
            fn = await self._functions.get(config.function_name)
        except ResourceNotFound:
            return _plain(404, "Not Found")
        headers = {k: v for k, v in request.headers.items()}
        answered = cors.preflight(config.cors, request.method, headers)
        if answered is not None:
            status, allowed = answered
            return web.Response(status=status, headers=allowed)

        guard = self._guard
        arn = self._function_arn(fn.name)
        caller: Caller | None = None
        action = "lambda:InvokeFunctionUrl"
        authorizer = None
        try:
            if config.auth_type == "AWS_IAM":
                # An AWS_IAM request's body is read (and hashed for its signature) as it is authenticated.
                caller, body = await guard.authenticated_body(request, MAX_BODY)
                authorizer = iam_identity(request, caller, self._account_id)
            else:
                caller = ANONYMOUS
            # Both permissions, before the body is read: a refused request never reaches the function.
            for action, context in url_events.URL_PERMISSIONS[config.auth_type]:
                await guard.authorize(caller, action, arn, fn.name, context)
            if config.auth_type != "AWS_IAM":
                body = await _read(request)
        except (UnrecognizedClient, InvalidSignature, AccessDenied) as refusal:
            if config.auth_type == "AWS_IAM":
                # Someone tried to use credentials: like every refusal on the API, it goes to the audit log.
                # NONE URLs are for anyone on the network, who could fill the log with refusals.
                guard.record(request, caller, action, arn, refusal.status, "denied")
            return _plain(403, FORBIDDEN, {"x-amzn-ErrorType": AccessDenied.code, "x-amzn-RequestId": request_id})
        except RequestTooLarge:
            return _plain(413, "Request Entity Too Large")

        now = utcnow()
        headers_in = list(request.headers.items())
        origin = url_events.origin(
            headers_in, peer=request.remote or "", scheme=request.scheme, port=local_port(request),
            trusted=self._trusted, new_trace_id=url_events.trace_root(int(now.timestamp()), os.urandom(12)))
        event = url_events.build_event(url_events.HttpRequest(
            method=request.method, raw_path=raw_path.split("?", 1)[0], raw_query=request.rel_url.raw_query_string,
            headers=headers_in, body=body, origin=origin, url_id=url_id, domain_name=request.host,
            account_id=self._account_id, request_id=request_id, now=now, authorizer_iam=authorizer))
        extra_headers = cors.cors_headers(config.cors, headers) + [("x-amzn-RequestId", request_id)]
        streamed: web.StreamResponse | None = None

        async def forward(stream: ResponseStream) -> None:
            """RESPONSE_STREAM: the head once the prelude (if any) is in, then each chunk as it comes."""
            nonlocal streamed
            first = b""
            prelude: bytes | None = None
            if stream.content_type == HTTP_INTEGRATION:
                while (split := split_prelude(first)) is None and len(first) <= MAX_PRELUDE:
                    chunk = await stream.read()
                    if chunk is None:
                        break
                    first += chunk
                prelude, first = split if split is not None else (b"", b"")
            head = url_events.stream_head(stream.content_type, prelude)
            if head is None:
                stream.abandon()
                return  # a 502, answered below
            streamed = web.StreamResponse(status=head[0])
            for name, value in head[1] + extra_headers:
                streamed.headers.add(name, value)
            streamed.enable_chunked_encoding()
            await streamed.prepare(request)
            if first:
                await streamed.write(first)
            while (chunk := await stream.read()) is not None:
                await streamed.write(chunk)

        try:
            streaming = config.invoke_mode == "RESPONSE_STREAM"
            result = await self._invoker.invoke(fn, json.dumps(event).encode(), request_id=request_id,
                                                trace_id=origin.trace_id, consume=forward if streaming else None)
        except TooManyRequests:
            return _plain(429, "Rate Exceeded.")
        except ApiError:
            return _plain(502, "Internal Server Error")
        if streamed is not None:
            if result.function_error is not None and request.transport is not None:
                # Failed mid-stream: the status is long sent, so the response is cut short (no last chunk)
                # and the client sees an incomplete transfer rather than a complete, truncated body.
                request.transport.close()
            return streamed
        if result.content_type is not None and result.function_error is None:
            status, response_headers, response_body = _buffered_stream(result.content_type, result.body)
        else:
            status, response_headers, response_body = url_events.response_from_result(result.body,
                                                                                      result.function_error)
        response = web.Response(status=status, body=response_body)
        for name, value in response_headers + extra_headers:
            response.headers.add(name, value)
        return response


def iam_identity(request: web.Request, caller: Caller, account_id: str) -> dict:
    """requestContext.authorizer.iam for a caller the guard just accepted (function URLs and HTTP API routes)."""
    access_key: str | None = None  # the access key id of a SigV4 request; a bearer token has none
    try:
        query = request.rel_url.raw_query_string
        if sigv4.is_presigned(query):
            access_key = sigv4.parse_presigned(query).authorization.access_key_id
        elif "Authorization" in request.headers:
            access_key = sigv4.parse_authorization(request.headers["Authorization"]).access_key_id
    except ValueError:
        access_key = None
    user_id = f"{caller.name}:{caller.function_name}" if caller.kind == "session" else caller.name
    return url_events.authorizer_iam(access_key=access_key, account_id=account_id, user_arn=caller.arn,
                                     user_id=user_id)


def _buffered_stream(content_type: str, body: bytes) -> tuple[int, list[url_events.Header], bytes]:
    """The response to a BUFFERED URL whose function streamed: as a RESPONSE_STREAM URL would answer it,
    all at once."""
    prelude = None
    if content_type == HTTP_INTEGRATION:
        split = split_prelude(body)
        prelude, body = split if split is not None else (b"", b"")
    head = url_events.stream_head(content_type, prelude)
    return url_events.bad_gateway() if head is None else (head[0], head[1], body)


def local_port(request: web.Request) -> int:
    """The port the client connected to: this listener's own, whatever the Host header claims."""
    sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
    if isinstance(sockname, tuple) and len(sockname) >= 2:
        return int(sockname[1])
    return 443 if request.scheme == "https" else 80


async def _read(request: web.Request) -> bytes:
    body = await read_limited(request, MAX_BODY)
    if body is None:
        raise RequestTooLarge()
    return body
