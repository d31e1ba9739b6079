"""Authorisation per route of HTTP APIs end to end, against a real `faas serve` and real functions: AWS_IAM
(requests signed by botocore's SigV4 signer for execute-api, execute-api:Invoke decided by the guard,
refusals audited) and JWT authorizers with real RS256 tokens from a key the test makes, its issuer's OIDC
discovery document and key set served by the test on 127.0.0.1: good, refused and out-of-scope tokens, the
claims in both payload formats, and bad authorizer input."""

from __future__ import annotations

import base64
import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.e2e.conftest import Server
from tests.e2e.test_http_api_serving_e2e import APP, call, function_arn
from tests.e2e.test_http_apis_e2e import ACCOUNT, REGION, apigw, deploy, refused  # noqa: F401 (a fixture)
from tests.e2e.test_security_e2e import audit, make_principal

pytestmark = pytest.mark.docker

AUDIENCE = "orders-api"


def b64(number: int) -> str:
    data = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Issuer:
    """An OIDC issuer on 127.0.0.1: its discovery document, its key set (one RSA key), and tokens it signs."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "test-key-1"
        issuer = self
        numbers = self.key.public_key().public_numbers()
        self.jwks = {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
                               "n": b64(numbers.n), "e": b64(numbers.e)}]}
        self.fetches: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                issuer.fetches.append(self.path)
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": issuer.url + "/jwks.json"}
                elif self.path == "/jwks.json":
                    body = issuer.jwks
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, key=None, **claims: Any) -> str:  # type: ignore[no-untyped-def]
        now = int(time.time())
        payload = {"iss": self.url, "aud": AUDIENCE, "sub": "user-7", "iat": now, "exp": now + 300,
                   "scope": "orders/read profile", **claims}
        return jwt.encode(payload, key or self.key, algorithm="RS256", headers={"kid": self.kid})


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    made = Issuer()
    yield made
    made.server.shutdown()
    made.server.server_close()


@pytest.fixture(scope="module")
def function(lam) -> str:  # type: ignore[no-untyped-def]
    return deploy(lam, APP)


@pytest.fixture(scope="module")
def guarded(apigw, lam, function, issuer) -> dict:  # type: ignore[no-untyped-def]
    """An API with an open route, an AWS_IAM route and JWT routes (payload 2.0 and 1.0), quick-created so
    the function policy allows it."""
    api_id = apigw.create_api(Name="guarded", ProtocolType="HTTP", Target=function_arn(function),
                              RouteKey="GET /open")["ApiId"]
    v2 = apigw.get_integrations(ApiId=api_id)["Items"][0]["IntegrationId"]
    v1 = apigw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=function_arn(function),
                                  PayloadFormatVersion="1.0")["IntegrationId"]
    authorizer = apigw.create_authorizer(ApiId=api_id, Name="oidc", AuthorizerType="JWT",
                                         IdentitySource=["$request.header.Authorization"],
                                         JwtConfiguration={"Issuer": issuer.url, "Audience": [AUDIENCE]})
    assert authorizer["JwtConfiguration"] == {"Issuer": issuer.url, "Audience": [AUDIENCE]}
    authorizer_id = authorizer["AuthorizerId"]
    apigw.create_route(ApiId=api_id, RouteKey="GET /private/{item}", Target=f"integrations/{v2}",
                       AuthorizationType="AWS_IAM")
    apigw.create_route(ApiId=api_id, RouteKey="GET /orders", Target=f"integrations/{v2}", AuthorizationType="JWT",
                       AuthorizerId=authorizer_id, AuthorizationScopes=["orders/read"])
    apigw.create_route(ApiId=api_id, RouteKey="POST /orders", Target=f"integrations/{v2}", AuthorizationType="JWT",
                       AuthorizerId=authorizer_id, AuthorizationScopes=["orders/write"])
    apigw.create_route(ApiId=api_id, RouteKey="GET /v1/orders", Target=f"integrations/{v1}",
                       AuthorizationType="JWT", AuthorizerId=authorizer_id)
    return {"api_id": api_id, "authorizer_id": authorizer_id, "v2": v2}


def signed_call(server: Server, api_id: str, path: str, credentials) -> tuple[int, list, bytes]:  # type: ignore[no-untyped-def]
    """A GET signed as botocore signs for execute-api, host-style."""
    port = urlsplit(server.endpoint).port
    url = f"http://{api_id}.execute-api.lambda-url.localhost:{port}{path}"
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(BotoCredentials(credentials.access_key_id, credentials.secret_access_key), "execute-api",
              REGION).add_auth(request)
    headers = {k: v for k, v in request.headers.items()}
    return call(server, api_id, "host", "GET", path, headers=headers)


def test_an_open_route_needs_nothing(server: Server, guarded: dict) -> None:
    status, _, data = call(server, guarded["api_id"], "host", "GET", "/open")
    assert status == 200 and "authorizer" not in json.loads(data)["requestContext"]


def test_aws_iam_routes_need_a_signature_and_execute_api_invoke(server: Server, guarded: dict) -> None:
    api_id = guarded["api_id"]
    status, _, data = call(server, api_id, "host", "GET", "/private/1")
    assert (status, json.loads(data)) == (403, {"message": "Forbidden"})
    status, _, data = signed_call(server, api_id, "/private/1", server.credentials())
    assert status == 200, data
    iam = json.loads(data)["requestContext"]["authorizer"]["iam"]
    assert iam["userArn"] == f"arn:aws:iam::{ACCOUNT}:user/admin" and iam["accessKey"]
    assert "authorization" not in json.loads(data)["headers"]  # the platform's credential never reaches it
    # A principal allowed execute-api:Invoke on one item only.
    name = f"caller-{api_id}"
    allowed = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/$default/GET/private/1"
    credentials = make_principal(server, name, [{"Effect": "Allow", "Action": "execute-api:Invoke",
                                                 "Resource": allowed}])
    assert signed_call(server, api_id, "/private/1", credentials)[0] == 200
    status, _, data = signed_call(server, api_id, "/private/2", credentials)
    assert (status, json.loads(data)) == (403, {"message": "Forbidden"})
    entries = audit(server, principal=f"arn:aws:iam::{ACCOUNT}:user/{name}")
    assert any(e["Action"] == "execute-api:Invoke" and e["Outcome"] == "denied" and
               e["Resource"] == f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/$default/GET/private/2"
               for e in entries)


def test_a_good_token_reaches_the_function_with_its_claims(server: Server, guarded: dict, issuer: Issuer) -> None:
    token = issuer.token(groups=["admins", "ops"])
    status, _, data = call(server, guarded["api_id"], "host", "GET", "/orders",
                           headers={"Authorization": f"Bearer {token}"})
    assert status == 200, data
    event = json.loads(data)
    jwt_context = event["requestContext"]["authorizer"]["jwt"]
    assert jwt_context["claims"]["sub"] == "user-7" and jwt_context["claims"]["aud"] == AUDIENCE
    assert jwt_context["claims"]["groups"] == "[admins ops]"
    assert jwt_context["scopes"] == ["orders/read", "profile"]
    assert event["headers"]["authorization"] == f"Bearer {token}"  # the token is the caller's, not the platform's
    # Without "Bearer " too, as API Gateway takes it; payload 1.0 has the claims in authorizer.claims.
    status, _, data = call(server, guarded["api_id"], "path", "GET", "/v1/orders", headers={"Authorization": token})
    assert status == 200, data
    assert json.loads(data)["requestContext"]["authorizer"]["claims"]["sub"] == "user-7"
    # The keys were fetched once (discovery, then the key set) and kept.
    assert issuer.fetches.count("/jwks.json") == 1


def test_refused_tokens_are_401_unauthorized(server: Server, guarded: dict, issuer: Issuer) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for token in (
        None,
        "not-a-jwt",
        issuer.token(key=other_key),  # signed by someone else
        issuer.token(exp=int(time.time()) - 3600),  # expired
        issuer.token(aud="another-api"),  # not for this audience
        issuer.token(iss="http://127.0.0.1:1"),  # another issuer
        jwt.encode({"iss": issuer.url, "aud": AUDIENCE, "exp": int(time.time()) + 60}, "a-shared-secret-of-at-least-32-bytes!!",
                   algorithm="HS256", headers={"kid": issuer.kid}),  # not RSA
    ):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        status, _, data = call(server, guarded["api_id"], "host", "GET", "/orders", headers=headers)
        assert (status, json.loads(data)) == (401, {"message": "Unauthorized"}), token


def test_a_token_without_the_routes_scope_is_403_forbidden(server: Server, guarded: dict, issuer: Issuer) -> None:
    status, _, data = call(server, guarded["api_id"], "host", "POST", "/orders",
                           headers={"Authorization": f"Bearer {issuer.token()}"})
    assert (status, json.loads(data)) == (403, {"message": "Forbidden"})
    status, _, data = call(server, guarded["api_id"], "host", "POST", "/orders",
                           headers={"Authorization": f"Bearer {issuer.token(scope='orders/write')}"})
    assert status == 200, data


def test_bad_authorizer_input_is_refused_and_changes_nothing(apigw, guarded: dict, issuer: Issuer) -> None:
    api_id = guarded["api_id"]
    before = apigw.get_authorizers(ApiId=api_id)["Items"]
    jwt_config = {"Issuer": issuer.url, "Audience": [AUDIENCE]}
    for params in (
        {"AuthorizerType": "REQUEST", "IdentitySource": ["$request.header.Authorization"], "JwtConfiguration": jwt_config},
        {"AuthorizerType": "JWT", "IdentitySource": ["$request.header.Authorization"],
         "JwtConfiguration": {"Issuer": "http://auth.example.com", "Audience": [AUDIENCE]}},  # plain HTTP, not loopback
        {"AuthorizerType": "JWT", "IdentitySource": ["$request.header.Authorization"],
         "JwtConfiguration": {"Issuer": issuer.url, "Audience": []}},
        {"AuthorizerType": "JWT", "IdentitySource": ["$request.querystring.token"], "JwtConfiguration": jwt_config},
    ):
        refused(apigw.create_authorizer, "BadRequestException", 400, ApiId=api_id, Name="bad", **params)
    refused(apigw.create_route, "BadRequestException", 400, ApiId=api_id, RouteKey="GET /x",
            Target=f"integrations/{guarded['v2']}", AuthorizationType="JWT", AuthorizerId="nope00")
    refused(apigw.create_route, "BadRequestException", 400, ApiId=api_id, RouteKey="GET /x",
            Target=f"integrations/{guarded['v2']}", AuthorizationScopes=["a"])  # scopes need JWT
    refused(apigw.delete_authorizer, "ConflictException", 409, ApiId=api_id, AuthorizerId=guarded["authorizer_id"])
    refused(apigw.get_authorizer, "NotFoundException", 404, ApiId=api_id, AuthorizerId="nope00")
    assert apigw.get_authorizers(ApiId=api_id)["Items"] == before
    https = apigw.create_authorizer(ApiId=api_id, Name="https", AuthorizerType="JWT",
                                    IdentitySource=["$request.header.Authorization"],
                                    JwtConfiguration={"Issuer": "https://auth.example.com/", "Audience": ["a"]})
    assert apigw.get_authorizer(ApiId=api_id, AuthorizerId=https["AuthorizerId"])["Name"] == "https"
    apigw.delete_authorizer(ApiId=api_id, AuthorizerId=https["AuthorizerId"])
    assert apigw.get_authorizers(ApiId=api_id)["Items"] == before
