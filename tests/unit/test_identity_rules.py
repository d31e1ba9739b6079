"""Pure rules of who may call: IAM's name patterns (ASCII only), exact role ARNs, the token lifetime
setting, and keyring errors that reach callers without the operator's details."""

from __future__ import annotations

import base64
import logging
import os

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from faas.api.middleware import lambda_errors
from faas.errors import ConfigError
from faas.security.masterkey import MasterKey
from faas.services.identities import NAME_RE, POLICY_NAME_RE, role_name_in
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
    (f"arn:aws:iam::999999999999:role/app-x", None),
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
