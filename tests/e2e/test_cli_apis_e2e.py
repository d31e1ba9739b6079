"""`faas apis` as a user runs it: the CLI as a subprocess against a real `faas serve`, found through the data
dir alone, making the two-route API README.md shows and calling it over HTTP; the same APIs boto3's
`apigatewayv2` client sees."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.e2e.conftest import Server
from tests.e2e.test_cli_e2e import cli_env, ok
from tests.e2e.test_http_api_serving_e2e import APP, call
from tests.e2e.test_http_apis_e2e import apigw, deploy  # noqa: F401 (a fixture)

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def run(server: Server, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    home = tmp_path_factory.mktemp("home")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "faas", "apis", *args], env=cli_env(server.data_dir, home),
                              cwd=home, capture_output=True, text=True, timeout=120)
    return run


def test_a_two_route_api_with_the_cli(run, server: Server, lam, apigw) -> None:  # type: ignore[no-untyped-def]
    users, files = deploy(lam, APP), deploy(lam, APP)
    api_id, endpoint = ok(run("create", "shop")).stdout.split()
    assert endpoint.startswith(f"http://{api_id}.execute-api.")
    ok(run("add-route", api_id, "GET /users/{id}", "--function", users))
    ok(run("add-route", api_id, "ANY /files/{proxy+}", "--function", files, "--payload", "1.0"))
    listed = ok(run("routes", api_id)).stdout
    assert "GET /users/{id}" in listed and "ANY /files/{proxy+}" in listed and files in listed
    assert api_id in ok(run("ls")).stdout
    status, _, data = call(server, api_id, "host", "GET", "/users/9")
    assert status == 200 and json.loads(data)["pathParameters"] == {"id": "9"}
    status, _, data = call(server, api_id, "path", "DELETE", "/files/a/b")
    assert status == 200 and json.loads(data)["version"] == "1.0"
    # A refused route key: the error, and no integration left behind.
    before = apigw.get_integrations(ApiId=api_id)["Items"]
    bad = run("add-route", api_id, "FETCH /x", "--function", deploy(lam, APP))
    assert bad.returncode == 1 and "BadRequestException" in bad.stderr
    assert apigw.get_integrations(ApiId=api_id)["Items"] == before
    ok(run("rm", api_id))
    assert api_id not in [a["ApiId"] for a in apigw.get_apis()["Items"]]


def test_quick_create_with_the_cli(run, server: Server, lam) -> None:  # type: ignore[no-untyped-def]
    function = deploy(lam, APP)
    api_id, _ = ok(run("create", "hello", "--function", function, "--route-key", "GET /hello")).stdout.split()
    status, _, data = call(server, api_id, "host", "GET", "/hello")
    assert status == 200 and json.loads(data)["routeKey"] == "GET /hello"
    ok(run("rm", api_id))
