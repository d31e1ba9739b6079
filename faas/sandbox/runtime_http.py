"""The HTTP/1.1 server the Runtime API speaks: small, because it is on every invocation's path twice.

Runtimes ask for an event and post its answer over a keep-alive connection on the bridge; that is two
exchanges per invocation, against one for the caller's request. aiohttp costs about 110 us of CPU per
exchange on the reference machine, this server about 40 (bench/performance.py): the parsing is
httptools' (llhttp, Node.js's own parser), and what is left is a request object, a route lookup and one
write per reply. It serves what Lambda's runtime clients send: keep-alive, Content-Length and chunked
bodies (streamed responses, with their trailers), `Expect: 100-continue`; requests on one connection are
answered in order.

Each request's handler is a task, cancelled when its connection goes: a runtime that hangs up on its
/next long poll must not leave the handler holding the next invocation.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import socket
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from http import HTTPStatus

import httptools

log = logging.getLogger(__name__)

MAX_URL_BYTES = 8190  # aiohttp's limits, which this server replaced
MAX_HEADER_BYTES = 32 * 1024
HIGH_WATER = 64 * 1024  # body bytes held per request before the connection stops reading
_PHRASES = {status.value: status.phrase for status in HTTPStatus}


@dataclasses.dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


class Body:
    """A request's body as it arrives: read whole (under a limit) or chunk by chunk."""

    def __init__(self, connection: _Connection) -> None:
        self._connection = connection
        self._chunks: deque[bytes] = deque()
        self._held = 0
        self.ended = False
        self._arrived: asyncio.Future[None] | None = None

    def _feed(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._held += len(chunk)
        if self._held >= HIGH_WATER:
            self._connection.pause_reading()
        self._wake()

    def _end(self) -> None:
        self.ended = True
        self._wake()

    def _wake(self) -> None:
        if self._arrived is not None and not self._arrived.done():
            self._arrived.set_result(None)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            while self._chunks:
                chunk = self._chunks.popleft()
                self._held -= len(chunk)
                if self._held < HIGH_WATER:
                    self._connection.resume_reading()
                yield chunk
            if self.ended:
                return
            self._arrived = asyncio.get_running_loop().create_future()
            self._connection.resume_reading()
            await self._arrived

    async def read(self, limit: int) -> bytes | None:
        """The whole body, or None as soon as it passes `limit` bytes (the rest is never read)."""
        chunks, size = [], 0
        async for chunk in self:
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)


@dataclasses.dataclass
class Request:
    method: str
    path: str  # still percent-encoded
    query: str
    headers: dict[str, str]  # names in lower case
    remote: str  # the peer's address
    body: Body
    trailers: dict[str, str] = dataclasses.field(default_factory=dict)  # after a chunked body, names in lower case
    keep_alive: bool = True
    content_length: int | None = None


Handler = Callable[[Request], Awaitable[Reply]]


class _Connection(asyncio.Protocol):
    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._remote = ""
        self._parsing: Request | None = None  # its headers are in, its body may still be arriving
        self._queue: deque[Request] = deque()  # requests waiting for the one being answered
        self._task: asyncio.Task[None] | None = None
        self._url = b""
        self._headers: dict[str, str] = {}
        self._header_bytes = 0
        self._paused = False

    # -- asyncio.Protocol ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a stream's (uvloop's is no asyncio.Transport)
        peer = transport.get_extra_info("peername")
        self._remote = peer[0] if peer else ""
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connections.discard(self)
        self._transport = None
        if self._task is not None:
            self._task.cancel()
        if self._parsing is not None:
            self._parsing.body._end()

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(HTTPStatus.BAD_REQUEST, "Upgrading the connection is not supported")
        except httptools.HttpParserError as exc:
            # A limit passed in a callback reaches here wrapped by the parser: answer with the limit's status.
            if isinstance(exc.__context__, _TooLarge):
                self._refuse(exc.__context__.status, str(exc.__context__))
            else:
                self._refuse(HTTPStatus.BAD_REQUEST, f"Malformed HTTP request: {exc}")

    # -- httptools' callbacks -----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._header_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > MAX_URL_BYTES:
            raise _TooLarge(HTTPStatus.REQUEST_URI_TOO_LONG, "The request's URL is too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > MAX_HEADER_BYTES:
            raise _TooLarge(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "The request's headers are too large")
        fields = self._parsing.trailers if self._parsing is not None else self._headers  # after the body: trailers
        fields[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        path, _, query = self._url.decode("latin-1").partition("?")
        length = self._headers.get("content-length")
        request = Request(self._parser.get_method().decode("ascii", "replace"), path, query, self._headers,
                          self._remote, Body(self), keep_alive=self._parser.should_keep_alive(),
                          content_length=int(length) if length is not None and length.isdigit() else None)
        self._parsing = request
        self._queue.append(request)
        if self._task is None:
            self._next()
        else:
            self.pause_reading()  # one request waits at most: a client that pipelines waits its turn

    def on_body(self, chunk: bytes) -> None:
        if self._parsing is not None:
            self._parsing.body._feed(chunk)

    def on_message_complete(self) -> None:
        if self._parsing is not None:
            self._parsing.body._end()
            self._parsing = None

    # -- answering -----------------------------------------------------------------------------------

    def _next(self) -> None:
        request = self._queue.popleft()
        self.resume_reading()
        if request.headers.get("expect", "").lower() == "100-continue" and self._transport is not None:
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self._task = asyncio.get_running_loop().create_task(self._answer(request))

    async def _answer(self, request: Request) -> None:
        # A body the handler did not read to its end (refused, too large) leaves the connection unusable.
        try:
            reply = await self._server.handle(request)
            keep = request.keep_alive and request.body.ended and not self._server.closing
            data = encode(reply, keep)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the Runtime API failed on %s %s", request.method, request.path)
            keep = False
            data = encode(error_reply(HTTPStatus.INTERNAL_SERVER_ERROR, "ServiceException", "Internal error"), keep)
        self._task = None
        if self._transport is None:
            return
        self._transport.write(data)
        if not keep:
            self._transport.close()
        elif self._queue:
            self._next()

    def _refuse(self, status: HTTPStatus, message: str) -> None:
        """Answer a request that cannot be parsed, and close: the stream's framing is lost."""
        if self._transport is None:
            return
        if self._task is not None:
            self._task.cancel()  # an upgrade is refused once its headers were handed over
            self._task = None
        self._transport.write(encode(error_reply(status, status.phrase.replace(" ", ""), message), False))
        self._transport.close()

    def pause_reading(self) -> None:
        if not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        if self._paused and self._transport is not None and len(self._queue) == 0:
            self._paused = False
            self._transport.resume_reading()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The handler of the request being answered, if any."""
        return self._task


class _TooLarge(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def error_reply(status: int, error_type: str, message: str) -> Reply:
    return Reply(status, json.dumps({"errorType": error_type, "errorMessage": message}).encode())


def encode(reply: Reply, keep_alive: bool) -> bytes:
    head = [f"HTTP/1.1 {reply.status} {_PHRASES.get(reply.status, '')}\r\n"
            f"Content-Type: {reply.content_type}\r\nContent-Length: {len(reply.body)}\r\n"]
    for name, value in reply.headers.items():
        if "\r" in value or "\n" in value:
            raise ValueError(f"header {name} holds a line break")
        head.append(f"{name}: {value}\r\n")
    if not keep_alive:
        head.append("Connection: close\r\n")
    head.append("\r\n")
    return "".join(head).encode("latin-1") + reply.body


class HttpServer:
    """Serves `handle` on sockets bound already, as one lifecycle part: it listens from start until stop (the
    environments finishing their invocations during a drain still call it), and at stop waits up to
    `shutdown_timeout` for the requests being answered."""

    def __init__(self, name: str, handle: Handler, sockets: tuple[socket.socket, ...], *,
                 shutdown_timeout: float) -> None:
        self.name = name
        self.handle = handle
        self._sockets = sockets
        self._shutdown_timeout = shutdown_timeout
        self._servers: list[asyncio.AbstractServer] = []
        self.connections: set[_Connection] = set()
        self.closing = False

    def __repr__(self) -> str:
        return f"<{self.name}>"

    @property
    def port(self) -> int:
        return self._sockets[0].getsockname()[1]

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for sock in self._sockets:
            self._servers.append(await loop.create_server(lambda: _Connection(self), sock=sock, backlog=1024))

    async def drain(self) -> None:
        """Nothing to refuse: environments still finishing their invocations call it."""

    async def stop(self) -> None:
        self.closing = True
        for server in self._servers:
            server.close()
        answering = [c.task for c in self.connections if c.task is not None]
        if answering:
            await asyncio.wait(answering, timeout=self._shutdown_timeout)
        for connection in list(self.connections):
            connection.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._servers.clear()
        for sock in self._sockets:
            sock.close()
