"""An aiohttp application served as one lifecycle part: it listens at start, stops listening at drain, and at
stop finishes the requests in flight (within its shutdown timeout) and closes its sockets."""

from __future__ import annotations

import logging
import socket
import ssl

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from faas.errors import StartupError


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound (not yet listening) to host:port, so its port is known before what it will serve
    is built: the pool hands the Runtime API's and the platform's addresses to every environment it starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's own servers do
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    return sock


def port_of(sock: socket.socket) -> int:
    return sock.getsockname()[1]


class Listener:
    """`host`/`port`: an address bound at start (a name or "" may stand for several sockets); `sockets`:
    sockets bound already (see bind()).
    `access_log`: where `access_log_class` writes a line per request (None: no access log)."""

    def __init__(self, name: str, app: web.Application, *, shutdown_timeout: float, host: str | None = None,
                 port: int = 0, ssl_context: ssl.SSLContext | None = None, sockets: tuple[socket.socket, ...] = (),
                 access_log: logging.Logger | None = None,
                 access_log_class: type[AbstractAccessLogger] = AbstractAccessLogger) -> None:
        self.name = name
        self._app = app
        self._host, self._port, self._ssl = host, port, ssl_context
        self._sockets = sockets
        self._runner = web.AppRunner(app, access_log=access_log, access_log_class=access_log_class,
                                     handle_signals=False, shutdown_timeout=shutdown_timeout)
        self._sites: list[web.BaseSite] = []
        self._started = False

    def __repr__(self) -> str:
        return f"<{self.name}>"

    @property
    def port(self) -> int:
        """The port of the first address it listens on (the one bound at start, if any)."""
        return self._runner.addresses[0][1]

    async def start(self) -> None:
        await self._runner.setup()
        self._started = True
        if self._host is not None:
            site = web.TCPSite(self._runner, self._host, self._port, reuse_address=True, ssl_context=self._ssl)
            try:
                await site.start()
            except OSError as exc:
                raise StartupError(f"cannot listen on {self._host}:{self._port}: {exc.strerror}") from exc
            self._sites.append(site)
        for sock in self._sockets:
            site = web.SockSite(self._runner, sock)
            await site.start()
            self._sites.append(site)

    async def drain(self) -> None:
        for site in self._sites:
            await site.stop()
        self._sites.clear()

    async def stop(self) -> None:
        if self._started:
            await self._runner.cleanup()
            self._started = False
        for sock in self._sockets:  # a started site closed its own already; this covers the others
            sock.close()
