"""`faas serve`: start the platform, serve until SIGTERM, then drain and clean up."""

from __future__ import annotations

import asyncio
import ipaddress
import shlex
import signal
import ssl

from faas import serve_lock
from faas.app import Platform, build, endpoint_url
from faas.errors import FaasError, StartupError
from faas.files import replace_file
from faas.lifecycle import Lifecycle
from faas.server_log import configure, failed, progress
from faas.settings import Settings, default_data_dir


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
    # Before anything is touched (containers, the endpoint file): a second server on this data dir is refused.
    lock = serve_lock.acquire(settings.data_dir, settings.host, settings.port)
    try:
        await _serve_locked(settings, lock)
    finally:
        lock.release()


async def _serve_locked(settings: Settings, lock: serve_lock.ServeLock) -> None:
    tls = tls_context(settings)  # a bad certificate is a start-up error, before anything else starts
    if tls is None and not is_loopback(settings.host):
        progress(f"warning: listening on {settings.host or 'every address'} over plain HTTP: request bodies "
                 "(code, environment variables, payloads) and bearer tokens cross the network unencrypted; "
                 "serve HTTPS with --tls-cert and --tls-key")
    platform: Platform = await build(settings, progress, tls)
    lifecycle = Lifecycle(platform.parts)
    await lifecycle.start()  # a part that fails to start stops them all and raises
    try:
        endpoint = endpoint_url(settings, platform.api.port)
        # Whole or not at all: a CLI or a test polling for the file never reads it half written.
        replace_file(settings.data_dir / "endpoint", endpoint + "\n", mode=0o644)
        lock.record(settings.host, platform.api.port, endpoint)
        progress(ready_line(settings, endpoint))

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()

        progress("stopping: no new requests; finishing in-flight invocations")
        await lifecycle.drain()
    finally:
        await lifecycle.stop()
    progress("stopped")


def ready_line(settings: Settings, endpoint: str) -> str:
    """The line that says the server is up; on a data dir of its own, with the export that points the CLI
    at it (the client verbs find the endpoint and credentials through FAAS_DATA_DIR)."""
    line = f"ready at {endpoint} (credentials: {settings.credentials_path})"
    if settings.data_dir != default_data_dir():
        line += f"; for the faas CLI: export FAAS_DATA_DIR={shlex.quote(str(settings.data_dir))}"
    return line


def run(settings: Settings) -> int:
    configure(settings)
    try:
        import uvloop
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    try:
        runner(_serve(settings))
    except FaasError as exc:
        failed(str(exc))
        return 2
    return 0
