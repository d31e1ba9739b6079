"""The AWS CLI's `aws apigatewayv2` against a real `faas serve`: the quick create README.md shows, run as a
user types it, with the CLI installed beside the tests (v1) and Debian's AWS CLI v2, then the API called
over plain HTTP."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Server
from tests.e2e.test_http_api_serving_e2e import APP, call, function_arn
from tests.e2e.test_http_apis_e2e import deploy
from tests.support.awscli import aws_cli, ok

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module", params=["v1", "v2"])
def aws(request, server: Server, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return aws_cli("v1" if request.param == "v1" else "v2", server.endpoint, server.data_dir / "credentials",
                   tmp_path_factory.mktemp("home"), "apigatewayv2")


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
