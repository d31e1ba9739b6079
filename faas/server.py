"""`faas serve`: start the platform, serve until SIGTERM, then drain and clean up."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import ssl
import sys

from aiohttp import web

from faas.app import Platform, build
from faas.errors import FaasError, StartupError
from faas.settings import Settings

log = logging.getLogger("faas")

RUNTIME_SHUTDOWN_S = 5  # environments are killed by then; nothing on the Runtime API is worth waiting for


def _progress(message: str) -> None:
    print(f"faas: {message}", file=sys.stderr, flush=True)


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach `host` ("" and 0.0.0.0 are every address, so no)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may well resolve to a public address


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The server side of HTTPS for the API and function URLs, or None for plain HTTP."""
    if not settings.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise StartupError(
            f"cannot load the TLS certificate {settings.tls_cert} with the key {settings.tls_key}: "
            f"{getattr(exc, 'strerror', None) or exc}; FAAS_TLS_CERT/--tls-cert must be a PEM certificate "
            "(chain) and FAAS_TLS_KEY/--tls-key its unencrypted PEM private key"
        ) from exc
    return context


async def _serve(settings: Settings) -> None:
    tls = tls_context(settings)  # a bad certificate is a start-up error, before anything else starts
    if tls is None and not is_loopback(settings.host):
        _progress(f"warning: listening on {settings.host or 'every address'} over plain HTTP: request bodies "
                  "(code, environment variables, payloads) and bearer tokens cross the network unencrypted; "
                  "serve HTTPS with --tls-cert and --tls-key")
    platform: Platform = await build(settings, _progress)
    for recorder in platform.recorders:
        recorder.start()
    platform.retention.start()

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
        # Functions reach the API (AWS_ENDPOINT_URL, with their role's credentials) on the bridge gateway, in
        # plain HTTP even when the API serves HTTPS: that traffic never leaves this host's bridge, and the
        # runtimes would otherwise need to trust the operator's CA (as the Runtime API, also plain HTTP).
        inside_site = web.TCPSite(api_runner, platform.runtime_host, 0)
        await inside_site.start()
        inside_port = api_runner.addresses[0][1]
        platform.pool.platform_endpoint = f"http://{platform.runtime_host}:{inside_port}"
        # Up before the pool starts, so no function ever runs outside it.
        await asyncio.to_thread(platform.firewall.install, platform.network.interface,
                                [(platform.runtime_host, runtime_port), (platform.runtime_host, inside_port)])
        platform.pool.start()
        await platform.async_invoker.start()

        api_site = web.TCPSite(api_runner, settings.host, settings.port, reuse_address=True, ssl_context=tls)
        try:
            await api_site.start()
        except OSError as exc:
            raise StartupError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}") from exc
        port = api_runner.addresses[1][1]
        endpoint = f"{settings.scheme}://{'127.0.0.1' if settings.host in ('0.0.0.0', '') else settings.host}:{port}"
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
