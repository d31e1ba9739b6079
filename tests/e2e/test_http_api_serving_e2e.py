"""HTTP APIs serving requests end to end: APIs made through boto3's `apigatewayv2` client against a real
`faas serve`, called with a plain HTTP client host-style (`<api-id>.execute-api.lambda-url.localhost`) and
path-style (`/execute-api/<api-id>/...`), each request running a real function in a container: route
matching with path parameters, {proxy+} and $default, 404s, both payload formats, stages and their
variables, cookies and base64 bodies, CORS, the function-policy check, the integration's timeout, and two
nodes on one PostgreSQL database serving one API."""

from __future__ import annotations

import base64
import http.client
import json
import os
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import Server, wait_for
from tests.e2e.test_http_apis_e2e import ACCOUNT, REGION, apigw, apigw_client, deploy, function_arn, refused  # noqa: F401
from tests.e2e.test_postgres_e2e import postgres_url  # noqa: F401 (a fixture)

pytestmark = pytest.mark.docker

APP = '''
import base64, json, time

def handler(event, context):
    path = event.get("rawPath") or event.get("path")
    if path.endswith("/cookies"):
        return {"statusCode": 201, "cookies": ["a=1; Path=/", "b=2"], "headers": {"X-Route": event["routeKey"]},
                "body": "ok"}
    if path.endswith("/v1cookies"):
        return {"statusCode": 202, "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"], "X-Many": ["x", "y"]},
                "headers": {"Content-Type": "text/plain"}, "body": "v1"}
    if path.endswith("/binary"):
        raw = base64.b64decode(event["body"]) if event["isBase64Encoded"] else event["body"].encode()
        return {"statusCode": 200, "headers": {"Content-Type": "application/octet-stream"},
                "isBase64Encoded": True, "body": base64.b64encode(raw[::-1]).decode()}
    if path.endswith("/raise"):
        raise ValueError("no")
    if path.endswith("/bare"):
        return {"no": "status"}
    if path.endswith("/slow"):
        time.sleep(3)
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(event)}
'''


def call(server: Server, api_id: str, style: str, method: str, path: str, body: bytes = b"",
         headers: dict[str, str] | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
    endpoint = urlsplit(server.endpoint)
    headers = dict(headers or {})
    if style == "host":
        headers["Host"] = f"{api_id}.execute-api.lambda-url.localhost:{endpoint.port}"
        target = path
    else:
        target = f"/execute-api/{api_id}{path}"
    connection = http.client.HTTPConnection(endpoint.hostname, endpoint.port, timeout=60)
    try:
        connection.request(method, target, body=body or None, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


def event_of(server: Server, api_id: str, style: str, method: str, path: str, **kwargs: Any) -> dict:
    status, _, data = call(server, api_id, style, method, path, **kwargs)
    assert status == 200, (status, data[:500])
    return json.loads(data)


def header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in headers if k.lower() == name.lower()), None)


def all_headers(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [v for k, v in headers if k.lower() == name.lower()]


@pytest.fixture(scope="module")
def function(lam) -> str:  # type: ignore[no-untyped-def]
    return deploy(lam, APP)


def allow(lam, function: str, api_id: str) -> None:  # type: ignore[no-untyped-def]
    lam.add_permission(FunctionName=function, StatementId=f"api-{api_id}", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/*")


@pytest.fixture(scope="module")
def two_routes(apigw, lam, function) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """GET /users/{id} (payload 2.0) and ANY /files/{proxy+} (payload 1.0), no $default route; stages
    $default and prod with variables."""
    cors = {"AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "POST"], "AllowHeaders": ["x-token"],
            "ExposeHeaders": ["x-route"], "MaxAge": 300}
    api_id = apigw.create_api(Name="two", ProtocolType="HTTP", CorsConfiguration=cors)["ApiId"]
    v2 = apigw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=function_arn(function),
                                  PayloadFormatVersion="2.0")["IntegrationId"]
    v1 = apigw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=function_arn(function),
                                  PayloadFormatVersion="1.0")["IntegrationId"]
    apigw.create_route(ApiId=api_id, RouteKey="GET /users/{id}", Target=f"integrations/{v2}")
    apigw.create_route(ApiId=api_id, RouteKey="GET /users/{id}/cookies", Target=f"integrations/{v2}")
    apigw.create_route(ApiId=api_id, RouteKey="ANY /files/{proxy+}", Target=f"integrations/{v1}")
    apigw.create_route(ApiId=api_id, RouteKey="POST /v2/{proxy+}", Target=f"integrations/{v2}")
    apigw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    apigw.create_stage(ApiId=api_id, StageName="prod", AutoDeploy=True, StageVariables={"table": "users-prod"})
    allow(lam, function, api_id)
    return api_id, function


STYLES = pytest.mark.parametrize("style", ["host", "path"])


@STYLES
def test_a_route_with_a_path_parameter_gets_a_payload_2_event(server: Server, two_routes, style: str) -> None:
    api_id, _ = two_routes
    event = event_of(server, api_id, style, "GET", "/users/42?x=1&x=2&y=", headers={"Cookie": "s=1; t=2"})
    assert event["version"] == "2.0" and event["routeKey"] == "GET /users/{id}"
    assert (event["rawPath"], event["rawQueryString"]) == ("/users/42", "x=1&x=2&y=")
    assert event["pathParameters"] == {"id": "42"}
    assert event["queryStringParameters"] == {"x": "1,2", "y": ""}
    assert event["cookies"] == ["s=1", "t=2"] and "cookie" not in event["headers"]
    assert "stageVariables" not in event
    context = event["requestContext"]
    assert (context["apiId"], context["domainPrefix"], context["stage"], context["routeKey"], context["accountId"]) \
        == (api_id, api_id, "$default", "GET /users/{id}", ACCOUNT)
    assert context["http"]["method"] == "GET" and context["http"]["path"] == "/users/42"
    assert context["http"]["sourceIp"] == "127.0.0.1" and context["http"]["protocol"] == "HTTP/1.1"
    assert context["timeEpoch"] > 0 and context["time"] and context["requestId"]


@STYLES
def test_a_greedy_route_gets_a_payload_1_event(server: Server, two_routes, style: str) -> None:
    api_id, _ = two_routes
    event = event_of(server, api_id, style, "PUT", "/files/a/b%20c.txt?k=1&k=2", body=b'{"n": 1}',
                     headers={"Content-Type": "application/json", "X-Dup": "one"})
    assert event["version"] == "1.0" and event["resource"] == "/files/{proxy+}"
    assert event["httpMethod"] == "PUT" and event["path"] == "/files/a/b c.txt"
    assert event["pathParameters"] == {"proxy": "a/b c.txt"}
    assert event["queryStringParameters"] == {"k": "2"}
    assert event["multiValueQueryStringParameters"] == {"k": ["1", "2"]}
    assert event["headers"]["x-dup"] == "one" and event["multiValueHeaders"]["x-dup"] == ["one"]
    assert (event["body"], event["isBase64Encoded"]) == ('{"n": 1}', False)
    assert event["stageVariables"] is None
    context = event["requestContext"]
    assert (context["stage"], context["resourcePath"], context["httpMethod"]) == ("$default", "/files/{proxy+}", "PUT")
    assert context["identity"]["sourceIp"] == "127.0.0.1"


@STYLES
def test_a_named_stage_has_its_variables_and_its_name_in_the_path(server: Server, two_routes, style: str) -> None:
    api_id, _ = two_routes
    event = event_of(server, api_id, style, "GET", "/prod/users/7")
    assert event["stageVariables"] == {"table": "users-prod"} and event["requestContext"]["stage"] == "prod"
    assert event["rawPath"] == "/prod/users/7" and event["pathParameters"] == {"id": "7"}


@STYLES
def test_what_no_route_matches_is_404_not_found(server: Server, two_routes, style: str) -> None:
    api_id, _ = two_routes
    for method, path in (("GET", "/nothing"), ("POST", "/users/1"), ("GET", "/files"), ("GET", "/users/1/2/3")):
        status, headers, data = call(server, api_id, style, method, path)
        assert (status, json.loads(data)) == (404, {"message": "Not Found"}), (method, path)
        assert header(headers, "apigw-requestid")
    status, _, data = call(server, "nosuchapi0", style, "GET", "/users/1")
    assert (status, json.loads(data)) == (404, {"message": "Not Found"})


def test_cookies_base64_bodies_and_results_without_status(server: Server, two_routes) -> None:
    api_id, _ = two_routes
    status, headers, data = call(server, api_id, "host", "GET", "/users/1/cookies")
    assert (status, data) == (201, b"ok")
    assert all_headers(headers, "Set-Cookie") == ["a=1; Path=/", "b=2"]
    assert header(headers, "X-Route") == "GET /users/{id}/cookies"
    raw = bytes(range(256))
    status, headers, data = call(server, api_id, "host", "POST", "/v2/binary", body=raw,
                                 headers={"Content-Type": "application/octet-stream"})
    assert (status, data) == (200, raw[::-1])
    status, _, data = call(server, api_id, "host", "POST", "/v2/bare")
    assert (status, json.loads(data)) == (200, {"no": "status"})
    status, _, data = call(server, api_id, "host", "POST", "/v2/raise")
    assert (status, json.loads(data)) == (500, {"message": "Internal Server Error"})


def test_payload_1_responses_multi_value_headers_and_what_1_0_refuses(server: Server, two_routes) -> None:
    api_id, _ = two_routes
    status, headers, data = call(server, api_id, "path", "GET", "/files/v1cookies")
    assert (status, data) == (202, b"v1")
    assert all_headers(headers, "Set-Cookie") == ["a=1", "b=2"] and header(headers, "X-Many") == "x,y"
    raw = b"\xff\x00binary"
    status, _, data = call(server, api_id, "path", "POST", "/files/binary", body=raw)
    assert (status, data) == (200, raw[::-1])
    # Payload 1.0 has no inferred responses: a result without statusCode is API Gateway's 500.
    status, _, data = call(server, api_id, "path", "GET", "/files/bare")
    assert (status, json.loads(data)) == (500, {"message": "Internal Server Error"})


def test_cors_preflights_and_response_headers(server: Server, two_routes) -> None:
    api_id, _ = two_routes
    status, headers, data = call(server, api_id, "host", "OPTIONS", "/users/1", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "x-token"})
    assert status == 204 and data == b""
    assert header(headers, "Access-Control-Allow-Origin") == "https://app.example"
    assert header(headers, "Access-Control-Allow-Methods") == "GET,POST"
    assert header(headers, "Access-Control-Allow-Headers") == "x-token"
    assert header(headers, "Access-Control-Max-Age") == "300"
    status, headers, _ = call(server, api_id, "host", "OPTIONS", "/users/1", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert header(headers, "Access-Control-Allow-Origin") is None
    status, headers, _ = call(server, api_id, "host", "GET", "/users/1", headers={"Origin": "https://app.example"})
    assert status == 200 and header(headers, "Access-Control-Allow-Origin") == "https://app.example"
    assert header(headers, "Access-Control-Expose-Headers") == "x-route"


def test_the_function_policy_must_allow_api_gateway_for_this_api(server: Server, apigw, lam, function) -> None:
    api = apigw.create_api(Name="unallowed", ProtocolType="HTTP")
    api_id = api["ApiId"]
    integration = apigw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY",
                                           IntegrationUri=function_arn(function), PayloadFormatVersion="2.0")
    apigw.create_route(ApiId=api_id, RouteKey="$default", Target=f"integrations/{integration['IntegrationId']}")
    apigw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    # Another API's statement is not this one's.
    other = "abcdefghij"
    lam.add_permission(FunctionName=function, StatementId=f"other-{api_id}", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{other}/*")
    status, _, data = call(server, api_id, "host", "GET", "/anything")
    assert (status, json.loads(data)) == (500, {"message": "Internal Server Error"})
    allow(lam, function, api_id)  # the statements are re-read at once on this node (a few seconds on others)
    wait_for(lambda: call(server, api_id, "host", "GET", "/anything")[0] == 200, timeout=30)
    event = event_of(server, api_id, "host", "GET", "/anything")
    assert event["routeKey"] == "$default" and event["rawPath"] == "/anything"


def test_quick_create_serves_at_once(server: Server, apigw, function) -> None:
    api_id = apigw.create_api(Name="quick", ProtocolType="HTTP", Target=function_arn(function))["ApiId"]
    event = event_of(server, api_id, "host", "POST", "/any/path", body=b"hi", headers={"Content-Type": "text/plain"})
    assert (event["routeKey"], event["body"], event["isBase64Encoded"]) == ("$default", "hi", False)
    apigw.update_api(ApiId=api_id, DisableExecuteApiEndpoint=True)  # as API Gateway answers its disabled endpoint
    status, _, data = call(server, api_id, "host", "GET", "/any/path")
    assert (status, json.loads(data)) == (403, {"message": "Forbidden"})


def test_an_integration_timeout_is_a_503(server: Server, apigw, lam, function) -> None:
    api_id = apigw.create_api(Name="slow", ProtocolType="HTTP", Target=function_arn(function))["ApiId"]
    integration = apigw.get_integrations(ApiId=api_id)["Items"][0]["IntegrationId"]
    event_of(server, api_id, "host", "GET", "/warm")  # a cold start is not the test
    apigw.update_integration(ApiId=api_id, IntegrationId=integration, TimeoutInMillis=1000)
    status, _, data = call(server, api_id, "host", "GET", "/slow")
    assert (status, json.loads(data)) == (503, {"message": "Service Unavailable"})


def test_two_nodes_on_one_postgresql_serve_one_api(tmp_path, postgres_url: str) -> None:  # noqa: F811
    """An API made through one node answers through the other (within its cache's few seconds), and a
    route key taken through one node is refused through the other: the store's constraint, not a node's
    memory, keeps routes unique."""
    key = {"FAAS_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()}
    first = Server(tmp_path / "a", database_url=postgres_url, extra_env=key).start()
    second = None
    try:
        second = Server(tmp_path / "b", database_url=postgres_url, extra_env=key).start()
        function = deploy(first.client(), APP)
        api_a = apigw_client(first)
        api_b = apigw_client(second, first.credentials())
        api_id = api_a.create_api(Name="shared", ProtocolType="HTTP", Target=function_arn(function),
                                  RouteKey="GET /items/{id}")["ApiId"]
        event = event_of(second, api_id, "host", "GET", "/items/5")
        assert event["pathParameters"] == {"id": "5"}
        integration = api_b.get_integrations(ApiId=api_id)["Items"][0]["IntegrationId"]
        refused(api_b.create_route, "ConflictException", 409, ApiId=api_id, RouteKey="GET /items/{id}",
                Target=f"integrations/{integration}")
        api_b.create_route(ApiId=api_id, RouteKey="POST /items", Target=f"integrations/{integration}")
        wait_for(lambda: call(first, api_id, "host", "POST", "/items")[0] == 200, timeout=30)
    finally:
        if second is not None:
            second.stop()
        first.stop()
