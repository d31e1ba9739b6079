"""`faas serve`: start the platform, serve until SIGTERM, then drain and clean up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from aiohttp import web

from faas.app import Platform, build
from faas.errors import FaasError, StartupError
from faas.settings import Settings

log = logging.getLogger("faas")

RUNTIME_SHUTDOWN_S = 5  # environments are killed by then; nothing on the Runtime API is worth waiting for


def _progress(message: str) -> None:
    print(f"faas: {message}", file=sys.stderr, flush=True)


async def _serve(settings: Settings) -> None:
    platform: Platform = await build(settings, _progress)
    for recorder in platform.recorders:
        recorder.start()

    # handler_cancellation: a runtime that hangs up on /next must not leave its handler waiting forever.
    runtime_runner = web.AppRunner(platform.runtime, access_log=None, handle_signals=False,
                                   handler_cancellation=True, shutdown_timeout=RUNTIME_SHUTDOWN_S)
    await runtime_runner.setup()
    api_runner = web.AppRunner(platform.api, access_log=None, handle_signals=False,
                               shutdown_timeout=settings.shutdown_grace_s)
    await api_runner.setup()
    try:
        runtime_site = web.TCPSite(runtime_runner, platform.runtime_host, settings.runtime_api_port)
        await runtime_site.start()
        runtime_port = runtime_runner.addresses[0][1]
        platform.pool.runtime_api = f"{platform.runtime_host}:{runtime_port}"
        # Functions reach the API (AWS_ENDPOINT_URL, with their role's credentials) on the bridge gateway.
        inside_site = web.TCPSite(api_runner, platform.runtime_host, 0)
        await inside_site.start()
        inside_port = api_runner.addresses[0][1]
        platform.pool.platform_endpoint = f"http://{platform.runtime_host}:{inside_port}"
        # Up before the pool starts, so no function ever runs outside it.
        await asyncio.to_thread(platform.firewall.install, platform.network.interface,
                                [(platform.runtime_host, runtime_port), (platform.runtime_host, inside_port)])
        platform.pool.start()
        await platform.async_invoker.start()

        api_site = web.TCPSite(api_runner, settings.host, settings.port, reuse_address=True)
        try:
            await api_site.start()
        except OSError as exc:
            raise StartupError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}") from exc
        port = api_runner.addresses[1][1]
        endpoint = f"http://{'127.0.0.1' if settings.host in ('0.0.0.0', '') else settings.host}:{port}"
        (settings.data_dir / "endpoint").write_text(endpoint + "\n")
        _progress(f"ready at {endpoint} (credentials: {settings.credentials_path})")

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()

        _progress("stopping: no new requests; finishing in-flight invocations")
        await api_site.stop()
        await inside_site.stop()
        await platform.async_invoker.stop_claiming()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(platform.invoker.wait_idle(), settings.shutdown_grace_s)
    finally:
        await api_runner.cleanup()
        await platform.close()
        await runtime_runner.cleanup()
        # Last: until every environment is gone, their traffic stays fenced in.
        try:
            await asyncio.to_thread(platform.firewall.remove)
        except FaasError as exc:
            log.error("removing the egress firewall failed: %s", exc)
    _progress("stopped")


def run(settings: Settings) -> int:
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        import uvloop
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    try:
        runner(_serve(settings))
    except FaasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
