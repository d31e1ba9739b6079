"""faas.lifecycle and faas.listener: every long-running part starts in the list's order and drains and stops
in reverse; a failed start stops them all; a listener stops listening at drain and closes its sockets."""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket

import pytest
from aiohttp import web

from faas.dispatch.recorder import Recorder
from faas.errors import StartupError
from faas.lifecycle import Hooks, Lifecycle
from faas.listener import Listener, bind, port_of
from faas.sandbox import runtime_api
from faas.sandbox.registry import Registry
from faas.services.retention import Pruner
from faas.sources.async_events import AsyncInvoker


class Recording:
    def __init__(self, name: str, log: list[str], fail_on: str | None = None) -> None:
        self.name, self.log, self.fail_on = name, log, fail_on

    def __repr__(self) -> str:
        return f"<{self.name}>"

    async def _step(self, step: str) -> None:
        self.log.append(f"{step} {self.name}")
        if step == self.fail_on:
            raise RuntimeError(f"{self.name} cannot {step}")

    async def start(self) -> None:
        await self._step("start")

    async def drain(self) -> None:
        await self._step("drain")

    async def stop(self) -> None:
        await self._step("stop")


async def test_parts_start_in_order_and_drain_and_stop_in_reverse():
    log: list[str] = []
    lifecycle = Lifecycle([Recording(name, log) for name in ("store", "pool", "api")])
    await lifecycle.start()
    await lifecycle.drain()
    await lifecycle.stop()
    assert log == ["start store", "start pool", "start api", "drain api", "drain pool", "drain store",
                   "stop api", "stop pool", "stop store"]


async def test_a_part_that_fails_to_start_stops_every_part_and_raises():
    log: list[str] = []
    lifecycle = Lifecycle([Recording("store", log), Recording("pool", log, fail_on="start"), Recording("api", log)])
    with pytest.raises(RuntimeError, match="pool cannot start"):
        await lifecycle.start()
    # "api" never started, but it is stopped too: construction may hold something (a bound socket).
    assert log == ["start store", "start pool", "stop api", "stop pool", "stop store"]


async def test_a_part_that_fails_to_stop_does_not_keep_the_others_running(caplog):
    log: list[str] = []
    lifecycle = Lifecycle([Recording("recorder", log), Recording("pool", log, fail_on="stop")])
    with caplog.at_level(logging.ERROR, logger="faas.lifecycle"):
        await lifecycle.stop()
    assert log == ["stop pool", "stop recorder"]  # the recorder still writes what it holds
    assert "stopping <pool> failed" in caplog.text and "pool cannot stop" in caplog.text


async def test_hooks_call_plain_and_async_steps_and_skip_missing_ones():
    log: list[str] = []

    async def close() -> None:
        log.append("close")

    part = Hooks("pool", start=lambda: log.append("start"), stop=close)
    await part.start()
    await part.drain()
    await part.stop()
    assert log == ["start", "close"]
    assert repr(part) == "<pool>"


@pytest.mark.parametrize("cls", [Recorder, Pruner, AsyncInvoker, Listener, Hooks])
def test_every_long_running_part_has_the_three_async_steps(cls):
    for step in ("start", "drain", "stop"):
        assert inspect.iscoroutinefunction(getattr(cls, step)), (cls.__name__, step)


# --- listeners -------------------------------------------------------------------------------------


def _app() -> web.Application:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    app = web.Application()
    app.router.add_get("/", hello)
    return app


async def _get(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer


async def _refused(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return True
    writer.close()
    return False


async def test_a_socket_bound_before_start_is_served_once_started_and_its_port_known_before():
    sock = bind("127.0.0.1", 0)
    port = port_of(sock)
    assert port > 0 and await _refused(port)  # bound, not yet listening: refused, not left hanging
    listener = Listener("test", _app(), sockets=(sock,), shutdown_timeout=1)
    await listener.start()
    try:
        assert (await _get(port)).endswith(b"hello")
    finally:
        await listener.stop()
    assert await _refused(port)


async def test_drain_stops_the_api_listening_but_not_the_runtime_api():
    draining = Listener("api", _app(), host="127.0.0.1", port=0, shutdown_timeout=1)
    kept = runtime_api.serve(Registry(), (bind("127.0.0.1", 0),), shutdown_timeout=1)
    lifecycle = Lifecycle([kept, draining])
    await lifecycle.start()
    api_port, runtime_port = draining.port, kept.port
    await lifecycle.drain()
    assert await _refused(api_port)
    assert (await _get(runtime_port)).startswith(b"HTTP/1.1 404 ")  # environments still reach the Runtime API
    await lifecycle.stop()
    assert await _refused(runtime_port)


async def test_a_listener_never_started_closes_its_sockets_at_stop():
    sock = bind("127.0.0.1", 0)
    await Listener("test", _app(), sockets=(sock,), shutdown_timeout=1).stop()
    assert sock.fileno() == -1


def test_a_port_in_use_is_a_startup_error_naming_the_address():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(StartupError, match=f"cannot listen on 127.0.0.1:{port}"):
            bind("127.0.0.1", port)


async def test_a_listener_that_cannot_bind_at_start_is_a_startup_error_and_stops_cleanly():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        inside = bind("127.0.0.1", 0)
        listener = Listener("api", _app(), host="127.0.0.1", port=port, sockets=(inside,), shutdown_timeout=1)
        with pytest.raises(StartupError, match=f"cannot listen on 127.0.0.1:{port}"):
            await Lifecycle([listener]).start()
        assert inside.fileno() == -1
