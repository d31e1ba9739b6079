"""The AWS CLI's `aws apigatewayv2` against a real `faas serve`: the quick create README.md shows, run as a
user types it, with the CLI installed beside the tests (v1) and Debian's AWS CLI v2, then the API called
over plain HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.e2e.conftest import Server
from tests.e2e.test_http_api_serving_e2e import APP, call, function_arn
from tests.e2e.test_http_apis_e2e import deploy

pytestmark = pytest.mark.docker

DEBIAN_CLI = "/usr/bin/aws"  # deploy/dev.sh installs Debian's awscli package (v2)


@pytest.fixture(scope="module", params=["v1", "v2"])
def aws(request, server: Server, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    if request.param == "v1":
        command = [sys.executable, "-m", "awscli"]
    else:
        if not os.path.exists(DEBIAN_CLI):
            pytest.skip(f"{DEBIAN_CLI} is missing: apt-get install awscli (deploy/dev.sh does)")
        command = [DEBIAN_CLI]
    home = tmp_path_factory.mktemp("home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FAAS_"))}
    env.update({"AWS_SHARED_CREDENTIALS_FILE": str(server.data_dir / "credentials"),
                "AWS_DEFAULT_REGION": "us-east-1", "HOME": str(home)})

    def aws(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*command, "apigatewayv2", *args, "--endpoint-url", server.endpoint],
                              env=env, cwd=home, capture_output=True, text=True, timeout=120)
    return aws


def ok(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return json.loads(result.stdout) if result.stdout.strip() else {}


def test_quick_create_with_the_aws_cli(aws, server: Server, lam) -> None:  # type: ignore[no-untyped-def]
    function = deploy(lam, APP)
    api = ok(aws("create-api", "--name", "cli", "--protocol-type", "HTTP", "--target", function_arn(function)))
    api_id = api["ApiId"]
    assert api["ProtocolType"] == "HTTP" and api["ApiEndpoint"].startswith(f"http://{api_id}.execute-api.")
    routes = ok(aws("get-routes", "--api-id", api_id))["Items"]
    assert [r["RouteKey"] for r in routes] == ["$default"]
    status, _, data = call(server, api_id, "host", "GET", "/from/the/cli")
    assert status == 200 and json.loads(data)["rawPath"] == "/from/the/cli"
    # A bad route key: the CLI shows API Gateway's error and exits non-zero.
    bad = aws("create-route", "--api-id", api_id, "--route-key", "FETCH /x")
    assert bad.returncode != 0 and "BadRequestException" in bad.stderr
    ok(aws("delete-api", "--api-id", api_id))
    gone = aws("get-api", "--api-id", api_id)
    assert gone.returncode != 0 and "NotFoundException" in gone.stderr
