"""HTTP APIs (API Gateway v2) end to end: their configuration through boto3's `apigatewayv2` client against a
real `faas serve` (quick create and its function-policy statement, routes, integrations, stages, CORS), and bad
input answered in API Gateway's error shapes with nothing stored changed."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.e2e.conftest import ROLE, Server, make_zip, unique
from tests.e2e.test_security_e2e import audit, make_principal

pytestmark = pytest.mark.docker

ACCOUNT = "000000000000"
REGION = "us-east-1"

APP = '''
import json

def handler(event, context):
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(event)}
'''


def apigw_client(server: Server, credentials=None):  # type: ignore[no-untyped-def]
    credentials = credentials or server.credentials()
    return boto3.client(
        "apigatewayv2", endpoint_url=server.endpoint, region_name=REGION,
        aws_access_key_id=credentials.access_key_id, aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
        config=Config(retries={"max_attempts": 1}, read_timeout=60, connect_timeout=5,
                      parameter_validation=False),  # the server must catch bad input itself
    )


@pytest.fixture(scope="module")
def apigw(server: Server):  # type: ignore[no-untyped-def]
    return apigw_client(server)


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def deploy(lam, source: str = APP) -> str:  # type: ignore[no-untyped-def]
    name = unique("api")
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": source})})
    return name


def refused(call, code: str, status: int, **params):  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as caught:
        call(**params)
    error = caught.value.response["Error"]
    assert (caught.value.response["ResponseMetadata"]["HTTPStatusCode"], error["Code"]) == (status, code), error
    assert error["Message"]
    return caught.value.response


def without_metadata(answer: dict) -> dict:
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"}


@pytest.fixture(scope="module")
def function(lam) -> str:  # type: ignore[no-untyped-def]
    return deploy(lam)


def test_quick_create_makes_integration_route_stage_and_the_policy_statement(server: Server, apigw: Any, lam: Any,
                                                                              function: str) -> None:
    api = apigw.create_api(Name="quick", ProtocolType="HTTP", Target=function_arn(function))
    api_id = api["ApiId"]
    assert api["ProtocolType"] == "HTTP" and api["Name"] == "quick"
    assert api["RouteSelectionExpression"] == "$request.method $request.path"
    port = server.endpoint.rsplit(":", 1)[1]
    assert api["ApiEndpoint"] == f"http://{api_id}.execute-api.lambda-url.localhost:{port}"
    routes = apigw.get_routes(ApiId=api_id)["Items"]
    assert [(r["RouteKey"], r["AuthorizationType"], r["ApiGatewayManaged"]) for r in routes] == \
        [("$default", "NONE", True)]
    integrations = apigw.get_integrations(ApiId=api_id)["Items"]
    assert len(integrations) == 1
    integration = integrations[0]
    assert (integration["IntegrationType"], integration["IntegrationUri"], integration["PayloadFormatVersion"],
            integration["TimeoutInMillis"]) == ("AWS_PROXY", function_arn(function), "2.0", 30000)
    assert routes[0]["Target"] == f"integrations/{integration['IntegrationId']}"
    stages = apigw.get_stages(ApiId=api_id)["Items"]
    assert [(s["StageName"], s["AutoDeploy"]) for s in stages] == [("$default", True)]
    assert apigw.get_stage(ApiId=api_id, StageName="$default")["AutoDeploy"] is True
    # As AWS's quick create: API Gateway may invoke the function for this API, and only for it.
    policy = json.loads(lam.get_policy(FunctionName=function)["Policy"])
    statement = next(s for s in policy["Statement"] if s["Sid"] == f"apigateway-{api_id}")
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == \
        f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/*/*"
    assert api_id in [a["ApiId"] for a in apigw.get_apis()["Items"]]
    apigw.delete_api(ApiId=api_id)
    refused(apigw.get_api, "NotFoundException", 404, ApiId=api_id)


def test_quick_create_with_a_route_key(apigw: Any, function: str) -> None:
    api_id = apigw.create_api(Name="keyed", ProtocolType="HTTP", Target=function_arn(function),
                              RouteKey="GET /hello")["ApiId"]
    assert [r["RouteKey"] for r in apigw.get_routes(ApiId=api_id)["Items"]] == ["GET /hello"]
    apigw.delete_api(ApiId=api_id)


def test_routes_integrations_and_stages_by_hand(apigw: Any, function: str) -> None:
    cors = {"AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "POST"], "MaxAge": 60}
    api = apigw.create_api(Name="manual", ProtocolType="HTTP", CorsConfiguration=cors, Description="d")
    api_id = api["ApiId"]
    assert api["CorsConfiguration"] == cors and api["Description"] == "d"
    assert apigw.get_routes(ApiId=api_id)["Items"] == []
    integration = apigw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY",
                                           IntegrationUri=function_arn(function), PayloadFormatVersion="1.0",
                                           TimeoutInMillis=5000)
    integration_id = integration["IntegrationId"]
    assert (integration["PayloadFormatVersion"], integration["TimeoutInMillis"]) == ("1.0", 5000)
    target = f"integrations/{integration_id}"
    users = apigw.create_route(ApiId=api_id, RouteKey="GET /users/{id}", Target=target)
    files = apigw.create_route(ApiId=api_id, RouteKey="ANY /files/{proxy+}", Target=target)
    default = apigw.create_route(ApiId=api_id, RouteKey="$default", Target=target)
    assert apigw.get_route(ApiId=api_id, RouteId=users["RouteId"])["RouteKey"] == "GET /users/{id}"
    assert sorted(r["RouteKey"] for r in apigw.get_routes(ApiId=api_id)["Items"]) == \
        sorted(["GET /users/{id}", "ANY /files/{proxy+}", "$default"])
    updated = apigw.update_route(ApiId=api_id, RouteId=files["RouteId"], RouteKey="POST /files/{proxy+}")
    assert updated["RouteKey"] == "POST /files/{proxy+}" and updated["Target"] == target
    assert apigw.update_integration(ApiId=api_id, IntegrationId=integration_id,
                                    PayloadFormatVersion="2.0")["PayloadFormatVersion"] == "2.0"
    assert apigw.get_integration(ApiId=api_id, IntegrationId=integration_id)["TimeoutInMillis"] == 5000
    stage = apigw.create_stage(ApiId=api_id, StageName="prod", AutoDeploy=True, StageVariables={"table": "users"})
    assert stage["StageVariables"] == {"table": "users"}
    refused(apigw.create_stage, "ConflictException", 409, ApiId=api_id, StageName="prod")
    assert apigw.update_api(ApiId=api_id, Name="renamed")["Name"] == "renamed"
    assert apigw.get_api(ApiId=api_id)["CorsConfiguration"] == cors
    # An integration in use cannot go; once its routes are gone it can.
    refused(apigw.delete_integration, "ConflictException", 409, ApiId=api_id, IntegrationId=integration_id)
    for route in (users, files, default):
        apigw.delete_route(ApiId=api_id, RouteId=route["RouteId"])
    apigw.delete_integration(ApiId=api_id, IntegrationId=integration_id)
    apigw.delete_stage(ApiId=api_id, StageName="prod")
    assert apigw.get_stages(ApiId=api_id)["Items"] == []
    apigw.delete_api(ApiId=api_id)


def test_bad_input_gets_api_gateways_errors_and_changes_nothing(apigw: Any, function: str) -> None:
    refused(apigw.create_api, "BadRequestException", 400, Name="ws", ProtocolType="WEBSOCKET",
            RouteSelectionExpression="$request.body.action")
    refused(apigw.create_api, "BadRequestException", 400, Name="x", ProtocolType="HTTP",
            Target="https://example.com/")
    refused(apigw.create_api, "BadRequestException", 400, Name="x", ProtocolType="HTTP",
            Target=function_arn("no-such-function"))
    refused(apigw.create_api, "BadRequestException", 400, Name="", ProtocolType="HTTP")
    api_id = apigw.create_api(Name="strict", ProtocolType="HTTP", Target=function_arn(function),
                              RouteKey="GET /items")["ApiId"]
    before = (without_metadata(apigw.get_api(ApiId=api_id)), apigw.get_routes(ApiId=api_id)["Items"],
              apigw.get_integrations(ApiId=api_id)["Items"], apigw.get_stages(ApiId=api_id)["Items"])
    integration_id = before[2][0]["IntegrationId"]
    target = f"integrations/{integration_id}"
    for key in ("FETCH /items", "GET items", "GET /a/{proxy+}/b", "GET", "get /items"):
        response = refused(apigw.create_route, "BadRequestException", 400, ApiId=api_id, RouteKey=key, Target=target)
        assert "route key" in response["Error"]["Message"].lower()
    response = refused(apigw.create_route, "ConflictException", 409, ApiId=api_id, RouteKey="GET /items",
                       Target=target)
    assert "GET /items" in response["Error"]["Message"]
    refused(apigw.create_route, "BadRequestException", 400, ApiId=api_id, RouteKey="GET /other",
            Target="integrations/nope")
    refused(apigw.create_route, "BadRequestException", 400, ApiId=api_id, RouteKey="GET /other", Target=target,
            AuthorizationType="CUSTOM")
    route_id = before[1][0]["RouteId"]
    refused(apigw.update_route, "BadRequestException", 400, ApiId=api_id, RouteId=route_id, RouteKey="BREW /tea")
    refused(apigw.create_integration, "BadRequestException", 400, ApiId=api_id, IntegrationType="HTTP_PROXY",
            IntegrationUri="https://example.com", PayloadFormatVersion="1.0")
    refused(apigw.create_integration, "BadRequestException", 400, ApiId=api_id, IntegrationType="AWS_PROXY",
            IntegrationUri=function_arn(function), PayloadFormatVersion="3.0")
    refused(apigw.create_integration, "BadRequestException", 400, ApiId=api_id, IntegrationType="AWS_PROXY",
            IntegrationUri=function_arn(function), PayloadFormatVersion="2.0", TimeoutInMillis=40000)
    # What the platform does not honour is refused by name, never ignored.
    response = refused(apigw.create_integration, "BadRequestException", 400, ApiId=api_id,
                       IntegrationType="AWS_PROXY", IntegrationUri=function_arn(function), PayloadFormatVersion="2.0",
                       RequestParameters={"overwrite:header.x": "y"})
    assert "requestParameters" in response["Error"]["Message"]
    refused(apigw.create_stage, "BadRequestException", 400, ApiId=api_id, StageName="logged",
            AccessLogSettings={"DestinationArn": "arn:aws:logs:us-east-1:000000000000:log-group:x", "Format": "$x"})
    refused(apigw.create_api, "BadRequestException", 400, Name="x", ProtocolType="HTTP",
            Target=function_arn(function), CredentialsArn="arn:aws:iam::000000000000:role/r")
    refused(apigw.create_stage, "BadRequestException", 400, ApiId=api_id, StageName="bad name")
    refused(apigw.create_stage, "BadRequestException", 400, ApiId=api_id, StageName="s",
            StageVariables={"bad-name": "x"})
    refused(apigw.update_api, "BadRequestException", 400, ApiId=api_id,
            CorsConfiguration={"AllowOrigins": ["not an origin"]})
    for call, params in ((apigw.get_api, {}), (apigw.get_routes, {}), (apigw.delete_api, {}),
                         (apigw.create_route, {"RouteKey": "GET /x"})):
        response = refused(call, "NotFoundException", 404, ApiId="nosuchapi", **params)
        assert response["Error"]["Message"]
    refused(apigw.get_integration, "NotFoundException", 404, ApiId=api_id, IntegrationId="nope")
    refused(apigw.get_route, "NotFoundException", 404, ApiId=api_id, RouteId="nope")
    refused(apigw.get_stage, "NotFoundException", 404, ApiId=api_id, StageName="nope")
    refused(apigw.delete_route, "NotFoundException", 404, ApiId=api_id, RouteId="nope")
    after = (without_metadata(apigw.get_api(ApiId=api_id)), apigw.get_routes(ApiId=api_id)["Items"],
             apigw.get_integrations(ApiId=api_id)["Items"], apigw.get_stages(ApiId=api_id)["Items"])
    assert after == before
    assert "ws" not in [a["Name"] for a in apigw.get_apis()["Items"]]
    apigw.delete_api(ApiId=api_id)


def test_callers_are_authorised_as_api_gateways_actions_and_audited(server: Server, apigw: Any) -> None:
    """apigateway:<METHOD> on the path's ARN, `arn:aws:apigateway:<region>::/apis/<id>...`, through the
    guard every Lambda call passes; changes and refusals go to the audit log."""
    api_id = apigw.create_api(Name="guarded", ProtocolType="HTTP")["ApiId"]
    name = unique("apireader")
    credentials = make_principal(server, name, [
        {"Effect": "Allow", "Action": "apigateway:GET", "Resource": f"arn:aws:apigateway:{REGION}::/apis/{api_id}*"}])
    reader = apigw_client(server, credentials)
    assert reader.get_api(ApiId=api_id)["Name"] == "guarded"
    assert reader.get_routes(ApiId=api_id)["Items"] == []
    refused(reader.get_apis, "AccessDeniedException", 403)  # /apis itself is not under /apis/<id>
    refused(reader.create_api, "AccessDeniedException", 403, Name="x", ProtocolType="HTTP")
    refused(reader.delete_api, "AccessDeniedException", 403, ApiId=api_id)
    assert apigw.get_api(ApiId=api_id)["Name"] == "guarded"
    entries = audit(server, principal=f"arn:aws:iam::{ACCOUNT}:user/{name}")
    assert {(e["Action"], e["Resource"], e["Outcome"]) for e in entries} >= {
        ("apigateway:POST", f"arn:aws:apigateway:{REGION}::/apis", "denied"),
        ("apigateway:DELETE", f"arn:aws:apigateway:{REGION}::/apis/{api_id}", "denied")}
    apigw.delete_api(ApiId=api_id)
    admin = audit(server, action="apigateway:DELETE")
    assert any(e["Resource"] == f"arn:aws:apigateway:{REGION}::/apis/{api_id}" and e["Outcome"] == "allowed"
               for e in admin)
