"""Function URLs tell the function where a request came from, as Lambda's front door does: x-forwarded-for,
-proto, -port, x-amzn-trace-id and requestContext.http.sourceIp, from the real peer unless the peer is a proxy
in FAAS_TRUSTED_PROXIES; and a real ASGI app behind Mangum redirects to the URL the client used."""

from __future__ import annotations

import http.client
import json
import platform
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import ROLE, Server, make_zip, unique
from tests.e2e.test_urls_e2e import Url, public_url

pytestmark = pytest.mark.docker

PROXY = "127.0.0.5"  # another loopback address: the one reverse proxy this server believes
TRACE = "Root=1-6927f6a8-0123456789abcdef01234567"
TRACE_RE = re.compile(r"^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$")
SPOOF = {"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https", "X-Forwarded-Port": "443"}

# What the function reports about its invocation: the event's headers, sourceIp and _X_AMZN_TRACE_ID.
ECHO = '''
import json, os

def handler(event, context):
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"headers": event["headers"], "sourceIp": event["requestContext"]["http"]["sourceIp"],
                                "trace": os.environ.get("_X_AMZN_TRACE_ID")})}
'''

ASGI_APP = '''
from mangum import Mangum
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def items(request):
    return PlainTextResponse(f"items via {request.url}")

app = Starlette(routes=[Route("/items/", items)])
handler = Mangum(app, lifespan="off")
'''


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One server that believes PROXY (and nobody else, 127.0.0.1 included)."""
    srv = Server(tmp_path_factory.mktemp("faas") / "data", extra_env={"FAAS_TRUSTED_PROXIES": f"{PROXY}/32"}).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def echo_url(server: Server, lam) -> Url:  # type: ignore[no-untyped-def]
    name = unique("origin")
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": ECHO})})
    return public_url(server, lam, name)


def seen(url: Url, headers: dict[str, str] | None = None, source_ip: str | None = None) -> dict:
    status, _, data = url.call("host", "GET", "/where", headers=headers, source_ip=source_ip)
    assert status == 200, (status, data[:500])
    return json.loads(data)


def test_the_function_sees_the_client_address_protocol_port_and_a_new_trace_id(server: Server, echo_url: Url):
    port = urlsplit(server.endpoint).port
    first, second = seen(echo_url), seen(echo_url)
    for got in (first, second):
        assert got["sourceIp"] == "127.0.0.1"
        assert got["headers"]["x-forwarded-for"] == "127.0.0.1"
        assert got["headers"]["x-forwarded-proto"] == "http"
        assert got["headers"]["x-forwarded-port"] == str(port)
        assert TRACE_RE.match(got["headers"]["x-amzn-trace-id"]), got["headers"]
        assert got["trace"] == got["headers"]["x-amzn-trace-id"]  # the runtime's _X_AMZN_TRACE_ID is the same
    assert first["headers"]["x-amzn-trace-id"] != second["headers"]["x-amzn-trace-id"]  # one per request


def test_a_callers_trace_id_is_kept(echo_url: Url):
    got = seen(echo_url, {"X-Amzn-Trace-Id": TRACE})
    assert got["headers"]["x-amzn-trace-id"] == TRACE
    assert got["trace"] == TRACE


def test_an_untrusted_caller_cannot_claim_another_address_or_https(server: Server, echo_url: Url):
    got = seen(echo_url, SPOOF)
    assert got["sourceIp"] == "127.0.0.1"
    assert got["headers"]["x-forwarded-for"] == "127.0.0.1"  # replaced, not appended to
    assert got["headers"]["x-forwarded-proto"] == "http"
    assert got["headers"]["x-forwarded-port"] == str(urlsplit(server.endpoint).port)


def test_another_peer_address_is_the_source_ip(server: Server, echo_url: Url):
    got = seen(echo_url, source_ip=PROXY)  # the proxy itself, forwarding nothing: it is the client
    assert got["sourceIp"] == PROXY
    assert got["headers"]["x-forwarded-for"] == PROXY
    assert got["headers"]["x-forwarded-proto"] == "http"


def test_a_trusted_proxy_says_who_its_client_was_and_how_it_connected(echo_url: Url):
    got = seen(echo_url, {"X-Forwarded-For": "198.51.100.4, 203.0.113.9", "X-Forwarded-Proto": "https",
                          "X-Forwarded-Port": "443"}, source_ip=PROXY)
    assert got["sourceIp"] == "203.0.113.9"
    # What the client claimed, then the client, as AWS shows it; the proxy's own hop is not added.
    assert got["headers"]["x-forwarded-for"] == "198.51.100.4, 203.0.113.9"
    assert got["headers"]["x-forwarded-proto"] == "https"
    assert got["headers"]["x-forwarded-port"] == "443"


# --- a real ASGI framework behind Mangum ---------------------------------------------------------------

@pytest.fixture(scope="session")
def asgi_wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Mangum and Starlette (with their dependencies) for the runtime's Python, fetched once per session on
    the host: PyPI is not reachable from containers, and nothing third-party is vendored into the repo."""
    target = tmp_path_factory.mktemp("asgi-wheels")
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
               "--only-binary=:all:", "--platform", f"manylinux2014_{platform.machine()}", "--python-version",
               "3.13", "--implementation", "cp", "-d", str(target), "mangum", "starlette"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if result.returncode != 0 or not list(target.glob("mangum-*.whl")):
        pytest.fail(f"could not download mangum and starlette from PyPI for this test (the host needs PyPI):\n"
                    f"{result.stdout}\n{result.stderr}")
    return target


def asgi_zip(wheels: Path) -> bytes:
    files: dict[str, str | bytes] = {"app.py": ASGI_APP}
    for wheel in sorted(wheels.glob("*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.infolist():
                if not member.is_dir():
                    files[member.filename] = archive.read(member)
    return make_zip(files)


def test_mangum_redirects_to_the_url_the_client_used_without_a_loop(server: Server, lam, asgi_wheels: Path):
    name = unique("mangum")
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler", Timeout=30,
                        Code={"ZipFile": asgi_zip(asgi_wheels)})
    url = public_url(server, lam, name)
    endpoint = urlsplit(server.endpoint)
    location = f"http://{url.host}/items"  # no trailing slash: Starlette answers with a redirect to /items/
    visited = [location]
    for _ in range(5):  # bounded: a loop fails the test instead of hanging it
        target = urlsplit(location)
        assert target.scheme == "http", f"redirected to {location} after {visited}"
        # Host-style URLs name <url-id>.lambda-url.localhost: connect to the server, send that Host.
        connection = http.client.HTTPConnection(endpoint.hostname, endpoint.port, timeout=60)
        try:
            connection.request("GET", target.path or "/", headers={"Host": target.netloc})
            response = connection.getresponse()
            status, body, next_location = response.status, response.read(), response.getheader("Location")
        finally:
            connection.close()
        if status not in (301, 302, 303, 307, 308):
            break
        assert next_location, status
        location = next_location
        visited.append(location)
    else:
        pytest.fail(f"still redirecting after {visited}")
    assert status == 200, (status, body[:500], visited)
    assert location == f"http://{url.host}/items/", visited
    assert len(visited) == 2, visited  # exactly one redirect, to the slash
    assert body.decode() == f"items via http://{url.host}/items/"
