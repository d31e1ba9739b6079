"""The Runtime API's HTTP/1.1 server (faas.sandbox.runtime_http), over real sockets on loopback."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator

import pytest

from faas.listener import bind
from faas.sandbox import runtime_api
from faas.sandbox.environment import Environment, Invocation
from faas.sandbox.registry import Registry
from faas.sandbox.runtime_http import MAX_HEADER_BYTES, HttpServer, Reply, Request
from tests.support.pool import function


class Recording:
    """A handler that answers with what it was sent; `gate` holds its answers back."""

    def __init__(self) -> None:
        self.seen: list[Request] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.cancelled = asyncio.Event()

    async def __call__(self, request: Request) -> Reply:
        self.seen.append(request)
        if request.path == "/fail":
            raise RuntimeError("a bug")
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        body = await request.body.read(1024) if request.path != "/ignore-body" else b""
        if body is None:
            return Reply(413, b"too large")
        return Reply(200, json.dumps({"path": request.path, "query": request.query, "body": body.decode(),
                                      "trailers": request.trailers}).encode(), headers={"X-Seen": str(len(self.seen))})


@pytest.fixture
async def served() -> AsyncIterator[tuple[Recording, HttpServer]]:
    handler = Recording()
    server = HttpServer("test", handler, (bind("127.0.0.1", 0),), shutdown_timeout=1)
    await server.start()
    yield handler, server
    await server.stop()


async def read_reply(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:] if line)}
    body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", "0"))), 5)
    return status, headers, body


async def connect(server: HttpServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.port)


async def exchange(server: HttpServer, pipelined: bytes, replies: int) -> list[tuple[int, dict[str, str], bytes]]:
    """Send requests on one connection at once; their replies, in order."""
    reader, writer = await connect(server)
    writer.write(pipelined)
    answers = [await read_reply(reader) for _ in range(replies)]
    writer.close()
    return answers


async def test_keep_alive_answers_pipelined_requests_in_order(served):
    _, server = served
    answers = await exchange(server, b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"
                                     b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
                                     b"GET /c HTTP/1.1\r\nHost: h\r\n\r\n", 3)
    assert [json.loads(body)["path"] for _, _, body in answers] == ["/a", "/b", "/c"]
    assert json.loads(answers[0][2])["query"] == "x=1"
    assert json.loads(answers[1][2])["body"] == "hello"
    assert [headers["x-seen"] for _, headers, _ in answers] == ["1", "2", "3"]
    assert all(headers["content-type"] == "application/json" for _, headers, _ in answers)


def test_it_serves_on_uvloop_as_faas_serve_runs_it():
    uvloop = pytest.importorskip("uvloop")

    async def statuses() -> list[int]:
        server = HttpServer("test", Recording(), (bind("127.0.0.1", 0),), shutdown_timeout=1)
        await server.start()
        try:
            answers = await exchange(server, b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
                                             b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx", 2)
            return [status for status, _, _ in answers]
        finally:
            await server.stop()

    assert uvloop.run(statuses()) == [200, 200]


async def test_a_chunked_body_arrives_whole_with_its_trailers(served):
    _, server = served
    reader, writer = await connect(server)
    writer.write(b"POST /s HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: X-Error\r\n\r\n"
                 b"3\r\nabc\r\n2\r\nde\r\n0\r\nX-Error: boom\r\n\r\n")
    status, _, body = await read_reply(reader)
    assert status == 200
    assert json.loads(body) == {"path": "/s", "query": "", "body": "abcde", "trailers": {"x-error": "boom"}}
    writer.close()


async def test_expect_100_continue_is_answered_before_the_body_is_sent(served):
    _, server = served
    reader, writer = await connect(server)
    writer.write(b"POST /e HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
    assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5) == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"ok")
    status, _, body = await read_reply(reader)
    assert status == 200 and json.loads(body)["body"] == "ok"
    writer.close()


@pytest.mark.parametrize("request_bytes, status", [
    (b"NOT HTTP\r\n\r\n", 400),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: h\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"b" * (MAX_HEADER_BYTES + 1) + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 400),
])
async def test_a_bad_request_is_refused_in_json_and_the_connection_closed(served, request_bytes, status):
    handler, server = served
    reader, writer = await connect(server)
    writer.write(request_bytes)
    answer_status, headers, body = await read_reply(reader)
    assert answer_status == status
    assert headers["connection"] == "close"
    assert set(json.loads(body)) == {"errorType", "errorMessage"}
    assert await asyncio.wait_for(reader.read(), 5) == b""  # closed
    assert handler.seen == [] or status == 400  # an upgrade's headers were parsed before it was refused
    writer.close()


async def test_a_body_left_unread_closes_the_connection_after_the_reply(served):
    _, server = served
    reader, writer = await connect(server)
    writer.write(b"POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n" + b"x" * 2000)
    status, headers, body = await read_reply(reader)
    assert status == 413 and body == b"too large" and headers["connection"] == "close"
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


async def test_a_large_body_streams_through_a_slow_reader(served):
    handler, server = served
    size = 3 * 1024 * 1024
    received = bytearray()

    async def slow(request: Request) -> Reply:
        async for chunk in request.body:
            received.extend(chunk)
            await asyncio.sleep(0)
        return Reply(200, str(len(received)).encode())

    server.handle = slow
    reader, writer = await connect(server)
    writer.write(b"POST /stream HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % size)
    for _ in range(size // 65536):
        writer.write(b"y" * 65536)
        await writer.drain()
    status, _, body = await read_reply(reader)
    assert status == 200 and int(body) == size == len(received)
    writer.close()


async def test_a_handler_is_cancelled_when_its_client_hangs_up(served):
    handler, server = served
    handler.gate.clear()
    reader, writer = await connect(server)
    writer.write(b"GET /wait HTTP/1.1\r\nHost: h\r\n\r\n")
    await wait_for(lambda: handler.seen)
    writer.close()
    await asyncio.wait_for(handler.cancelled.wait(), 5)


async def test_a_failing_handler_is_a_500_and_the_connection_closes(served, caplog):
    _, server = served
    reader, writer = await connect(server)
    writer.write(b"GET /fail HTTP/1.1\r\nHost: h\r\n\r\n")
    status, headers, body = await read_reply(reader)
    assert status == 500 and headers["connection"] == "close"
    assert json.loads(body)["errorType"] == "ServiceException"
    assert "a bug" in caplog.text
    writer.close()


async def test_stop_waits_for_a_request_being_answered_then_closes_every_connection():
    handler = Recording()
    handler.gate.clear()
    server = HttpServer("test", handler, (bind("127.0.0.1", 0),), shutdown_timeout=5)
    await server.start()
    idle_reader, idle_writer = await connect(server)
    reader, writer = await connect(server)
    writer.write(b"GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
    await wait_for(lambda: handler.seen)
    stopping = asyncio.create_task(server.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()
    handler.gate.set()
    status, headers, _ = await read_reply(reader)
    assert status == 200 and headers["connection"] == "close"
    await asyncio.wait_for(stopping, 5)
    assert await asyncio.wait_for(idle_reader.read(), 5) == b""
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", server.port)
    writer.close()
    idle_writer.close()


# -- the Runtime API's routes on this server ----------------------------------------------------------------

@pytest.fixture
async def runtime() -> AsyncIterator[tuple[Environment, HttpServer]]:
    registry = Registry()
    env = Environment("c1", "127.0.0.1", None, time.monotonic() - 1)
    registry.register(env, env.created_at)
    env.specialize(function("f"), {}, prewarmed=False)
    server = runtime_api.serve(registry, (bind("127.0.0.1", 0),), shutdown_timeout=1)
    await server.start()
    yield env, server
    await server.stop()


async def test_unknown_routes_are_404_and_wrong_methods_405(runtime):
    _, server = runtime
    answers = await exchange(
        server, b"GET /2018-06-01/runtime/nothing HTTP/1.1\r\nHost: h\r\n\r\n"
                b"POST /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"
                b"GET /elsewhere HTTP/1.1\r\nHost: h\r\n\r\n", 3)
    assert [status for status, _, _ in answers] == [404, 405, 404]
    assert json.loads(answers[1][2])["errorType"] == "MethodNotAllowed"


async def test_an_invocation_goes_out_on_next_and_its_answer_comes_back(runtime):
    env, server = runtime
    invocation = Invocation("req-1", b'{"k": 1}', "arn:aws:lambda:us-east-1:0:function:f", 3, 3)
    env.assign(invocation)
    reader, writer = await connect(server)
    writer.write(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: h\r\n\r\n")
    status, headers, body = await read_reply(reader)
    assert status == 200 and body == b'{"k": 1}'
    assert headers["lambda-runtime-aws-request-id"] == "req-1"
    assert headers["lambda-runtime-invoked-function-arn"] == "arn:aws:lambda:us-east-1:0:function:f"
    assert int(headers["lambda-runtime-deadline-ms"]) > time.time() * 1000
    writer.write(b"POST /2018-06-01/runtime/invocation/req-1/response HTTP/1.1\r\nHost: h\r\n"
                 b"Content-Length: 4\r\n\r\n\"ok\"")
    status, _, body = await read_reply(reader)
    assert (status, body) == (202, b'{"status": "OK"}')
    outcome = await asyncio.wait_for(invocation.outcome, 5)
    assert outcome.body == b'"ok"' and outcome.error_type is None
    writer.write(b"POST /2018-06-01/runtime/invocation/other/response HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}")
    status, _, body = await read_reply(reader)
    assert status == 400 and json.loads(body)["errorType"] == "InvalidRequestID"
    writer.close()


async def test_a_streamed_response_ending_with_error_trailers_fails_the_invocation(runtime):
    env, server = runtime
    invocation = Invocation("req-2", b"{}", "arn:aws:lambda:us-east-1:0:function:f", 3, 3)
    env.assign(invocation)
    invocation.deliver()
    error = base64.b64encode(json.dumps({"errorType": "Boom", "errorMessage": "mid-stream"}).encode())
    reader, writer = await connect(server)
    writer.write(b"POST /2018-06-01/runtime/invocation/req-2/response HTTP/1.1\r\nHost: h\r\n"
                 b"Lambda-Runtime-Function-Response-Mode: streaming\r\nTransfer-Encoding: chunked\r\n"
                 b"Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n\r\n"
                 b"5\r\nhello\r\n0\r\nLambda-Runtime-Function-Error-Type: Boom\r\n"
                 b"Lambda-Runtime-Function-Error-Body: " + error + b"\r\n\r\n")
    status, _, _ = await read_reply(reader)
    assert status == 202
    outcome = await asyncio.wait_for(invocation.outcome, 5)
    assert outcome.error_type == "Boom" and outcome.streamed
    assert json.loads(outcome.body) == {"errorType": "Boom", "errorMessage": "mid-stream"}
    assert await asyncio.wait_for(invocation.stream.read(), 5) == b"hello"
    writer.close()


async def wait_for(predicate, timeout_s: float = 5.0):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)
