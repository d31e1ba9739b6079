"""Pure rules of who may call: IAM's name patterns (ASCII only), exact role ARNs, the token lifetime
setting, what each route acts on, and keyring errors that reach callers without the operator's details."""

from __future__ import annotations

import base64
import logging
import os

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from faas.api.auth import Guard
from faas.api.middleware import lambda_errors
from faas.errors import ConfigError
from faas.security.masterkey import MasterKey
from faas.services.identities import NAME_RE, POLICY_NAME_RE, Caller, role_name_in
from faas.settings import load

ACCOUNT = "123456789012"


@pytest.mark.parametrize(("name", "valid"), [
    ("admin", True), ("a.b+c=d,e@f_g-h", True), ("A" * 64, True), ("A" * 65, False), ("", False),
    ("\u0430dmin", False),  # Cyrillic а
    ("adm\u0131n", False),  # dotless ı
    ("\uff44ev", False),  # fullwidth ｄ
    ("dev\u200b", False),  # zero-width space
    ("caf\u00e9", False), ("\u0661\u0662", False),  # Arabic-Indic digits are \w in Unicode
    ("a/b", False), ("a b", False), ("a:b", False), ("a*", False),
])
def test_names_follow_iams_ascii_pattern(name, valid):
    assert bool(NAME_RE.fullmatch(name)) is valid
    assert bool(POLICY_NAME_RE.fullmatch(name)) is (valid or (name == "A" * 65))


@pytest.mark.parametrize(("arn", "name"), [
    (f"arn:aws:iam::{ACCOUNT}:role/app-x", "app-x"),
    (f"arn:aws:iam::{ACCOUNT}:role/faas-default", "faas-default"),
    (f"arn:aws:iam::{ACCOUNT}:role/app-x/platform-admin", None),  # a path: a role that does not exist
    (f"arn:aws:iam::{ACCOUNT}:role//platform-admin", None),
    (f"arn:aws:iam::{ACCOUNT}:role/platform-admin/", None),
    (f"arn:aws:iam::{ACCOUNT}:role/", None),
    ("arn:aws:iam::999999999999:role/app-x", None),
    (f"arn:aws-cn:iam::{ACCOUNT}:role/app-x", None),
    (f"arn:aws:iam::{ACCOUNT}:user/app-x", None),
    (f"arn:aws:sts::{ACCOUNT}:assumed-role/app-x/fn", None),
    (f"arn:aws:iam::{ACCOUNT}:role/\u0430pp-x", None),
    (f" arn:aws:iam::{ACCOUNT}:role/app-x", None),
    (f"arn:aws:iam::{ACCOUNT}:role/app-x ", None),
    ("app-x", None),
])
def test_a_role_arn_names_a_role_exactly_or_none(arn, name):
    assert role_name_in(arn, ACCOUNT) == name


def test_token_lifetime_cap_setting():
    assert load({}).token_max_ttl_s == 7 * 86400
    assert load({"FAAS_TOKEN_MAX_TTL_S": "3600"}).token_max_ttl_s == 3600
    for bad in ("59", "0", "-5", "a week"):
        with pytest.raises(ConfigError, match="FAAS_TOKEN_MAX_TTL_S"):
            load({"FAAS_TOKEN_MAX_TTL_S": bad})


@pytest.fixture
async def keyring_client(tmp_path):
    """A handler that opens a value sealed with a master key the key file does not hold."""
    path = tmp_path / "secret-dir" / "master.key"
    master = MasterKey.load_or_create(path)
    other = MasterKey.from_setting("mk-0badc0de:" + base64.b64encode(os.urandom(32)).decode())
    sealed = other.seal(b"secret", "AKIAEXAMPLE")

    async def opens(request: web.Request) -> web.Response:
        return web.json_response({"opened": master.open(sealed, "AKIAEXAMPLE").decode()})

    async def mismatched(request: web.Request) -> web.Response:
        tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
        return web.json_response({"opened": other.open(tampered, "AKIAEXAMPLE").decode()})

    app = web.Application(middlewares=[lambda_errors])
    app.router.add_get("/opens", opens)
    app.router.add_get("/mismatched", mismatched)
    async with TestClient(TestServer(app)) as client:
        yield client, path, master


@pytest.mark.parametrize("route", ["/opens", "/mismatched"])
async def test_a_keyring_error_tells_the_caller_no_path_and_no_key_id(keyring_client, route, caplog):
    client, path, master = keyring_client
    caplog.set_level(logging.ERROR, logger="faas.api.middleware")
    response = await client.get(route)
    text = await response.text()
    assert response.status == 502 and response.headers["x-amzn-ErrorType"] == "KMSAccessDeniedException"
    request_id = response.headers["x-amzn-RequestId"]
    for detail in (str(path), "secret-dir", "master.key", "mk-", master.newest_id, "0badc0de", "AKIAEXAMPLE"):
        assert detail not in text, detail
    body = await response.json()
    assert body["message"] == body["Message"]
    assert "could not decrypt a stored secret" in body["message"] and request_id in body["message"]
    # The operator still learns everything, by the request id.
    logged = [r.getMessage() for r in caplog.records if request_id in r.getMessage()]
    assert logged and "mk-0badc0de" in logged[0]
    if route == "/opens":
        assert str(path) in logged[0]


class FakeIdentities:
    """The two look-ups the guard makes: who owns a key, who owns a token."""

    def user_arn(self, name: str) -> str:
        return f"arn:aws:iam::{ACCOUNT}:user/{name}"

    async def key_owner(self, key_id: str) -> str | None:
        return {"AKIAADMIN": "admin"}.get(key_id)

    async def token_owner(self, token_id: str) -> str | None:
        return {"tok-0000000000000001": "admin"}.get(token_id)


FN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:"


@pytest.mark.parametrize(("action", "path", "match_info", "expected"), [
    ("faas:CreateToken", "/faas/v1/tokens", {}, f"arn:aws:iam::{ACCOUNT}:user/dev"),
    ("faas:ListTokens", "/faas/v1/tokens", {}, f"arn:aws:iam::{ACCOUNT}:user/dev"),
    ("faas:ListTokens", "/faas/v1/tokens?principal=admin", {}, f"arn:aws:iam::{ACCOUNT}:user/admin"),
    ("faas:ListAccessKeys", "/faas/v1/keys", {}, "*"),
    ("faas:ListAccessKeys", "/faas/v1/keys?principal=admin", {}, f"arn:aws:iam::{ACCOUNT}:user/admin"),
    ("faas:UpdateAccessKey", "/faas/v1/keys/AKIAADMIN", {"key": "AKIAADMIN"}, f"arn:aws:iam::{ACCOUNT}:user/admin"),
    ("faas:DeleteAccessKey", "/faas/v1/keys/AKIANONE", {"key": "AKIANONE"}, "*"),
    ("faas:RevokeToken", "/faas/v1/tokens/tok-0000000000000001", {"token": "tok-0000000000000001"},
     f"arn:aws:iam::{ACCOUNT}:user/admin"),
    ("faas:RevokeToken", "/faas/v1/tokens/tok-x", {"token": "tok-x"}, "*"),
    ("faas:GetAuditLog", "/faas/v1/audit", {}, f"arn:aws:faas:us-east-1:{ACCOUNT}:audit-log"),
    ("faas:GetAuditLog", f"/faas/v1/audit?principal=arn:aws:iam::{ACCOUNT}:user/dev", {},
     f"arn:aws:iam::{ACCOUNT}:user/dev"),
    ("faas:GetAuditLog", "/faas/v1/audit?principal=anonymous", {}, f"arn:aws:faas:us-east-1:{ACCOUNT}:audit-log"),
    ("faas:ListEnvironments", "/faas/v1/environments", {}, FN + "*"),
    ("faas:ListEnvironments", "/faas/v1/environments?function=app", {}, FN + "app"),
    ("faas:ListEnvironments", "/faas/v1/environments?function=bad%20name", {}, "*"),
    ("lambda:GetFunction", "/2015-03-31/functions/app", {}, "as before"),
])
async def test_what_a_route_acts_on_once_the_caller_is_known(action, path, match_info, expected):
    guard = Guard(FakeIdentities(), None, None, load({"FAAS_ACCOUNT_ID": ACCOUNT}))
    caller = Caller(arn=f"arn:aws:iam::{ACCOUNT}:user/dev", name="dev", kind="user", documents=())
    request = make_mocked_request("GET", path, match_info=match_info)
    resource, _ = await guard.acted_on(request, action, caller, "as before", None)
    assert resource == expected
