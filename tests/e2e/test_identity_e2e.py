"""Identity attacks end to end against a real `faas serve`: a role path that would slip past iam:PassRole,
bearer tokens that would outlive their key or their cap, Unicode look-alike names, a narrow principal
reaching for the admin's keys and tokens, and a keyring error that would tell a caller the key file's
path. Each attack is made with a real client (boto3, the `faas` CLI, plain HTTP) and must fail in Lambda's
error format with nothing already stored lost.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from faas.security.sigv4 import Credentials
from tests.e2e.conftest import Server, unique
from tests.e2e.test_security_e2e import (
    ACCOUNT,
    FUNCTIONS,
    REGION,
    assert_error,
    create,
    exists,
    lambda_as,
    make_principal,
    native,
    put_policy,
    refused,
    signed_headers,
    user_arn,
)

pytestmark = pytest.mark.docker

TOKEN_MAX_TTL_S = 3600


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    srv = Server(tmp_path_factory.mktemp("faas") / "data",
                 extra_env={"FAAS_TOKEN_MAX_TTL_S": str(TOKEN_MAX_TTL_S), "FAAS_PREWARM_PER_RUNTIME": "0"}).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def lam(server: Server):  # type: ignore[no-untyped-def]
    return server.client()


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def signed(server: Server, credentials: Credentials, method: str, path: str,
           payload: Any = None) -> tuple[int, dict, bytes]:
    body = json.dumps(payload).encode() if payload is not None else b""
    headers = signed_headers(server, credentials, method, path, body,
                             {"Content-Type": "application/json"} if body else {})
    return server.request(method, path, body, headers, sign=False)


def bearer(server: Server, token: str, path: str = FUNCTIONS + "/") -> tuple[int, dict, bytes]:
    return server.request("GET", path, headers={"Authorization": f"Bearer {token}"}, sign=False)


def mint(server: Server, credentials: Credentials, ttl: int = 600) -> dict:
    status, _, body = signed(server, credentials, "POST", "/faas/v1/tokens", {"TtlSeconds": ttl})
    assert status == 201, body
    return json.loads(body)


def faas_cli(server: Server, credentials: Credentials, *args: str) -> subprocess.CompletedProcess[str]:
    """The `faas` CLI as a user holding `credentials` runs it."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(server.data_dir.parent), "FAAS_ENDPOINT_URL": server.endpoint,
           "AWS_ACCESS_KEY_ID": credentials.access_key_id, "AWS_SECRET_ACCESS_KEY": credentials.secret_access_key}
    return subprocess.run([sys.executable, "-m", "faas", *args], env=env, capture_output=True, text=True,
                          timeout=120)


# --- item 4: iam:PassRole and role paths -------------------------------------------------------------


def test_a_role_path_cannot_slip_past_pass_role(server: Server, lam) -> None:  # type: ignore[no-untyped-def]
    admin_role, app_role = unique("platform-admin"), unique("app-worker")
    for name in (admin_role, app_role):
        native(server, "POST", "/faas/v1/roles", {"Name": name}, expect=201)
    put_policy(server, admin_role, "all", [{"Effect": "Allow", "Action": "*", "Resource": "*"}], kind="roles")
    team = lambda_as(server, make_principal(server, unique("deployer"), [
        {"Effect": "Allow", "Action": "lambda:*", "Resource": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": f"arn:aws:iam::{ACCOUNT}:role/app-*"}]))
    mine = unique("team-fn")
    assert create(team, mine, role=role_arn(app_role))["Role"] == role_arn(app_role)  # the role it may pass

    # The attack: PassRole is allowed on role/app-*, and this ARN matches it, but used to run as platform-admin.
    path_arns = [f"arn:aws:iam::{ACCOUNT}:role/app-x/{admin_role}", f"arn:aws:iam::{ACCOUNT}:role/{app_role}/../{admin_role}",
                 f"arn:aws:iam::{ACCOUNT}:role/app-{admin_role}/{admin_role}"]
    for arn in path_arns:
        escalated = unique("team-esc")
        response = refused(create, team, escalated, role=arn, code="InvalidParameterValueException", status=400)
        assert "cannot be assumed" in response["Error"]["Message"] and arn in response["Error"]["Message"]
        assert not exists(lam, escalated)
        refused(team.update_function_configuration, FunctionName=mine, Role=arn,
                code="InvalidParameterValueException", status=400)
    # Other spellings of a role it may not pass are refused too; the exact ARN meets PassRole itself.
    for arn in (f"arn:aws:iam::{ACCOUNT}:role/{admin_role.upper()}", f"arn:aws-cn:iam::{ACCOUNT}:role/{app_role}",
                f"arn:aws:iam::999999999999:role/{app_role}"):
        refused(create, team, unique("team-esc"), role=arn, code="InvalidParameterValueException", status=400)
    refused(create, team, unique("team-esc"), role=role_arn(admin_role))
    refused(team.update_function_configuration, FunctionName=mine, Role=role_arn(admin_role))

    configuration = lam.get_function_configuration(FunctionName=mine)
    assert configuration["Role"] == role_arn(app_role)
    # Even the admin, allowed everything, cannot name a role that does not exist.
    refused(lam.update_function_configuration, FunctionName=mine, Role=path_arns[0],
            code="InvalidParameterValueException", status=400)
    assert lam.get_function_configuration(FunctionName=mine)["RevisionId"] == configuration["RevisionId"]
    failed = native(server, "GET", "/faas/v1/audit?" + urllib.parse.urlencode(
        {"action": "lambda:UpdateFunctionConfiguration", "limit": "1000"}), expect=200)["Entries"]
    assert any(e["Outcome"] == "failed" and e["Status"] == 400 and mine in e["Resource"] for e in failed)


# --- item 7: bearer tokens ---------------------------------------------------------------------------


def test_tokens_die_with_the_key_that_minted_them(server: Server) -> None:
    name = unique("tokenholder")
    credentials = make_principal(server, name, [
        {"Effect": "Allow", "Action": ["lambda:List*", "faas:CreateToken"], "Resource": "*"}])
    second = native(server, "POST", f"/faas/v1/principals/{name}/keys", expect=201)
    other_key = Credentials(second["AccessKeyId"], second["SecretAccessKey"])
    admin_token = native(server, "POST", "/faas/v1/tokens", {"TtlSeconds": 600}, expect=201)["Token"]

    minted = mint(server, credentials)
    assert minted["AccessKeyId"] == credentials.access_key_id and minted["Principal"] == name
    from_other_key = mint(server, other_key)["Token"]
    assert bearer(server, minted["Token"])[0] == 200  # and now the server caches it

    native(server, "PATCH", f"/faas/v1/keys/{credentials.access_key_id}", {"Enabled": False}, expect=200)
    assert_error(bearer(server, minted["Token"]), 403, "UnrecognizedClientException")
    native(server, "PATCH", f"/faas/v1/keys/{credentials.access_key_id}", {"Enabled": True}, expect=200)
    assert_error(bearer(server, minted["Token"]), 403, "UnrecognizedClientException")  # revoked, not paused

    again = mint(server, credentials)["Token"]
    assert bearer(server, again)[0] == 200
    native(server, "DELETE", f"/faas/v1/keys/{credentials.access_key_id}", expect=204)
    assert_error(bearer(server, again), 403, "UnrecognizedClientException")

    # Only what the key minted is gone: the principal's other key's token and the admin's still work.
    assert bearer(server, from_other_key)[0] == 200
    assert bearer(server, admin_token)[0] == 200
    assert [t["AccessKeyId"] for t in native(server, "GET", f"/faas/v1/tokens?principal={name}",
                                              expect=200)["Tokens"]] == [other_key.access_key_id]


def test_tokens_are_listed_and_revoked_with_the_cli_and_the_api(server: Server) -> None:
    name = unique("cli-tokens")
    credentials = make_principal(server, name, [
        {"Effect": "Allow", "Action": ["lambda:List*"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["faas:CreateToken", "faas:ListTokens", "faas:RevokeToken"],
         "Resource": user_arn(name)}])

    created = faas_cli(server, credentials, "token", "--ttl", "600")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    token_id = created.stderr.split()[1]
    assert token.startswith("faas_") and token_id.startswith("tok-")
    second = faas_cli(server, credentials, "token", "create", "--ttl", "900")
    assert second.returncode == 0, second.stderr
    second_token, second_id = second.stdout.strip(), second.stderr.split()[1]

    listed = faas_cli(server, credentials, "token", "ls")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()[1:]]
    assert [(row[0], row[1], row[2]) for row in rows] == [(token_id, name, credentials.access_key_id),
                                                         (second_id, name, credentials.access_key_id)]
    assert token not in listed.stdout and second_token not in listed.stdout
    api = native(server, "GET", f"/faas/v1/tokens?principal={name}", expect=200)["Tokens"]
    assert [t["TokenId"] for t in api] == [token_id, second_id]

    revoked = faas_cli(server, credentials, "token", "revoke", token_id)
    assert (revoked.returncode, revoked.stdout) == (0, f"revoked token {token_id}\n"), revoked.stderr
    assert_error(bearer(server, token), 403, "UnrecognizedClientException")
    assert bearer(server, second_token)[0] == 200

    # The API revokes too (here the admin, allowed everything); an unknown id is a 404.
    assert server.request("DELETE", f"/faas/v1/tokens/{second_id}")[0] == 204
    assert_error(bearer(server, second_token), 403, "UnrecognizedClientException")
    assert_error(server.request("DELETE", f"/faas/v1/tokens/{second_id}"), 404, "ResourceNotFoundException")
    missing = faas_cli(server, credentials, "token", "revoke", "tok-" + secrets.token_hex(8))
    assert missing.returncode == 1 and "AccessDeniedException" in missing.stderr  # unknown: acts on "*"
    assert faas_cli(server, credentials, "token", "ls").stdout.splitlines()[1:] == []


def test_a_token_lifetime_above_the_cap_is_refused(server: Server) -> None:
    name = unique("long-lived")
    credentials = make_principal(server, name, [{"Effect": "Allow", "Action": "faas:CreateToken",
                                                 "Resource": user_arn(name)}])
    for ttl in (TOKEN_MAX_TTL_S + 1, 7 * 86400):
        answer = signed(server, credentials, "POST", "/faas/v1/tokens", {"TtlSeconds": ttl})
        assert_error(answer, 400, "InvalidParameterValueException")
        assert f"between 60 and {TOKEN_MAX_TTL_S}" in json.loads(answer[2])["message"]
    result = faas_cli(server, credentials, "token", "--ttl", str(TOKEN_MAX_TTL_S * 2))
    assert result.returncode == 1 and result.stderr.startswith("error: InvalidParameterValueException: "), \
        result.stderr
    assert native(server, "GET", f"/faas/v1/tokens?principal={name}", expect=200)["Tokens"] == []
    assert mint(server, credentials, TOKEN_MAX_TTL_S)["TokenId"].startswith("tok-")


# --- item 13: names, resource ARNs, keyring errors -----------------------------------------------------


def test_unicode_look_alike_names_are_refused(server: Server) -> None:
    before = native(server, "GET", "/faas/v1/principals", expect=200)["Principals"]
    roles_before = native(server, "GET", "/faas/v1/roles", expect=200)["Roles"]
    for look_alike in ("\u0430dmin", "adm\u0131n", "\uff41dmin", "admin\u200b"):  # Cyrillic а, dotless ı, ...
        for path in ("/faas/v1/principals", "/faas/v1/roles"):
            answer = server.request("POST", path, json.dumps({"Name": look_alike}).encode(),
                                    {"Content-Type": "application/json"})
            assert_error(answer, 400, "InvalidParameterValueException")
            message = json.loads(answer[2])["message"]
            assert "ASCII letters" in message and "look-alike" in message, message
    # IAM names are unique regardless of case, so `Admin` cannot pose as `admin` either.
    assert_error(server.request("POST", "/faas/v1/principals", b'{"Name": "Admin"}',
                                {"Content-Type": "application/json"}), 409, "ResourceConflictException")
    assert_error(server.request("POST", "/faas/v1/roles", b'{"Name": "FAAS-DEFAULT"}',
                                {"Content-Type": "application/json"}), 409, "ResourceConflictException")
    # The CLI says the same.
    admin = server.credentials()
    result = faas_cli(server, admin, "principals", "create", "\u0430dmin")
    assert result.returncode == 1 and "ASCII letters" in result.stderr, result.stderr
    assert native(server, "GET", "/faas/v1/principals", expect=200)["Principals"] == before
    assert native(server, "GET", "/faas/v1/roles", expect=200)["Roles"] == roles_before


def test_a_principal_allowed_only_its_own_user_cannot_touch_the_admins_keys(server: Server, lam) -> None:  # type: ignore[no-untyped-def]
    name = unique("self-service")
    own = user_arn(name)
    credentials = make_principal(server, name, [
        {"Effect": "Allow", "Resource": own,
         "Action": ["faas:UpdateAccessKey", "faas:DeleteAccessKey", "faas:ListAccessKeys", "faas:CreateAccessKey",
                    "faas:CreateToken", "faas:ListTokens", "faas:RevokeToken", "faas:GetAuditLog"]},
        {"Effect": "Allow", "Action": "faas:ListEnvironments",
         "Resource": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}-*"}])
    admin = server.credentials()
    admin_token = native(server, "POST", "/faas/v1/tokens", {"TtlSeconds": 600}, expect=201)
    spare = json.loads(signed(server, credentials, "POST", f"/faas/v1/principals/{name}/keys")[2])

    # Its own: allowed.
    assert signed(server, credentials, "PATCH", f"/faas/v1/keys/{spare['AccessKeyId']}", {"Enabled": False})[0] == 200
    keys = json.loads(signed(server, credentials, "GET", f"/faas/v1/keys?principal={name}")[2])["AccessKeys"]
    assert {k["AccessKeyId"]: k["Status"] for k in keys} == {credentials.access_key_id: "Active",
                                                              spare["AccessKeyId"]: "Inactive"}
    assert signed(server, credentials, "DELETE", f"/faas/v1/keys/{spare['AccessKeyId']}")[0] == 204
    own_token = mint(server, credentials)
    assert json.loads(signed(server, credentials, "GET", "/faas/v1/tokens")[2])["Tokens"][0]["TokenId"] == \
        own_token["TokenId"]
    trail = json.loads(signed(server, credentials, "GET", "/faas/v1/audit?" + urllib.parse.urlencode(
        {"principal": own}))[2])["Entries"]
    assert trail and {e["Principal"] for e in trail} == {own}

    # The admin's: refused, and nothing changes.
    attacks = [("PATCH", f"/faas/v1/keys/{admin.access_key_id}", {"Enabled": False}),
               ("DELETE", f"/faas/v1/keys/{admin.access_key_id}", None),
               ("GET", "/faas/v1/keys?principal=admin", None),
               ("GET", "/faas/v1/keys", None),
               ("POST", "/faas/v1/principals/admin/keys", None),
               ("GET", "/faas/v1/tokens?principal=admin", None),
               ("DELETE", f"/faas/v1/tokens/{admin_token['TokenId']}", None),
               ("PATCH", "/faas/v1/keys/AKIA" + secrets.token_hex(8).upper(), {"Enabled": False}),
               ("GET", "/faas/v1/audit", None),
               ("GET", "/faas/v1/audit?" + urllib.parse.urlencode({"principal": user_arn("admin")}), None),
               ("GET", "/faas/v1/environments", None),
               ("GET", "/faas/v1/environments?function=other-fn", None)]
    for method, path, payload in attacks:
        assert_error(signed(server, credentials, method, path, payload), 403, "AccessDeniedException")
    assert signed(server, credentials, "GET", f"/faas/v1/environments?function={name}-fn")[0] == 200
    assert [(k["AccessKeyId"], k["Status"]) for k in native(server, "GET", "/faas/v1/keys?principal=admin",
                                                             expect=200)["AccessKeys"]] == \
        [(admin.access_key_id, "Active")]
    assert bearer(server, admin_token["Token"])[0] == 200
    assert "Functions" in lam.list_functions()
    # The refusals name what was reached for: the admin's user ARN.
    denied = native(server, "GET", "/faas/v1/audit?" + urllib.parse.urlencode(
        {"principal": own, "action": "faas:UpdateAccessKey"}), expect=200)["Entries"]
    assert any(e["Outcome"] == "denied" and e["Resource"] == user_arn("admin") for e in denied)


def test_a_keyring_error_tells_the_caller_no_path_and_no_key_id(server: Server) -> None:
    name = unique("sealed")
    credentials = make_principal(server, name, [{"Effect": "Allow", "Action": "lambda:List*", "Resource": "*"}])
    # The key's secret, as if sealed by a master key the server's key file does not hold (a retired key,
    # a restored backup): opening it fails inside the keyring with the file's path and the key ids.
    with sqlite3.connect(server.data_dir / "faas.db", timeout=30) as db:
        db.execute("UPDATE access_keys SET secret = ? WHERE key_id = ?",
                   (b"fk1:mk-0badc0de:" + secrets.token_bytes(60), credentials.access_key_id))
    db.close()
    key_ids = [key["id"] for key in json.loads((server.data_dir / "master.key").read_text())["keys"]]

    answer = signed(server, credentials, "GET", FUNCTIONS + "/")
    assert_error(answer, 502, "KMSAccessDeniedException")
    text = answer[2].decode()
    for detail in (str(server.data_dir), "master.key", "mk-0badc0de", "mk-", *key_ids, credentials.access_key_id):
        assert detail not in text, (detail, text)
    request_id = next(v for k, v in answer[1].items() if k.lower() == "x-amzn-requestid")
    assert request_id in text
    # The operator's log has the details, under that request id.
    logged = [line for line in server.output().splitlines() if request_id in line]
    assert logged and "mk-0badc0de" in logged[0] and str(server.data_dir / "master.key") in logged[0]
    # Nothing else is affected.
    assert signed(server, server.credentials(), "GET", FUNCTIONS + "/")[0] == 200
    assert any(p["Name"] == name for p in native(server, "GET", "/faas/v1/principals", expect=200)["Principals"])


def test_the_cli_help_tells_of_token_ls_and_revoke() -> None:
    result = subprocess.run([sys.executable, "-m", "faas", "token", "--help"], capture_output=True, text=True,
                            timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0
    assert "ls" in result.stdout and "revoke" in result.stdout and "dies with the access key" in result.stdout
