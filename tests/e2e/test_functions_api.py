"""The control-plane API through boto3 against a real `faas serve`: every verb and every bad input."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sqlite3
import zipfile

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import ROLE, Server, make_zip, unique

HELLO = make_zip({"app.py": "def handler(event, context):\n    return {'hello': event.get('name', 'world')}\n"})


def create(lam, name: str, code: bytes = HELLO, **extra):  # type: ignore[no-untyped-def]
    params = {"FunctionName": name, "Runtime": "python3.13", "Role": ROLE, "Handler": "app.handler",
              "Code": {"ZipFile": code}}
    params.update(extra)
    return lam.create_function(**params)


def error_code(exc_info: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    response = exc_info.value.response
    return (response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"],
            response["Error"].get("Message", ""))


def test_create_get_list_update_delete(server, lam) -> None:  # type: ignore[no-untyped-def]
    name = unique("crud")
    created = create(lam, name, MemorySize=256, Timeout=10, Description="first",
                     Environment={"Variables": {"GREETING": "hi"}})
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert created["CodeSha256"] == base64.b64encode(hashlib.sha256(HELLO).digest()).decode()
    assert created["CodeSize"] == len(HELLO)
    assert (created["State"], created["LastUpdateStatus"]) == ("Active", "Successful")
    assert created["Environment"] == {"Variables": {"GREETING": "hi"}}
    assert created["ResponseMetadata"]["RequestId"]
    lam.get_waiter("function_active_v2").wait(FunctionName=name)

    got = lam.get_function(FunctionName=name)
    assert got["Configuration"]["MemorySize"] == 256
    assert got["Code"]["RepositoryType"] == "S3"
    location = got["Code"]["Location"]
    assert location.startswith(server.endpoint)
    assert server.request("GET", location[len(server.endpoint):])[2] == HELLO
    by_arn = lam.get_function_configuration(FunctionName=created["FunctionArn"])
    assert by_arn["RevisionId"] == created["RevisionId"]
    partial = lam.get_function_configuration(FunctionName=f"000000000000:function:{name}:$LATEST")
    assert partial["FunctionName"] == name

    new_code = make_zip({"app.py": "def handler(e, c):\n    return 2\n"})
    updated = lam.update_function_code(FunctionName=name, ZipFile=new_code)
    assert updated["CodeSha256"] == base64.b64encode(hashlib.sha256(new_code).digest()).decode()
    assert updated["RevisionId"] != created["RevisionId"]
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)

    config = lam.update_function_configuration(FunctionName=name, Timeout=30, Description="second")
    assert (config["Timeout"], config["Description"], config["MemorySize"]) == (30, "second", 256)
    assert config["CodeSha256"] == updated["CodeSha256"]

    assert lam.delete_function(FunctionName=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as err:
        lam.get_function(FunctionName=name)
    assert error_code(err)[:2] == (404, "ResourceNotFoundException")
    with pytest.raises(ClientError) as err:
        lam.delete_function(FunctionName=name)
    assert error_code(err)[:2] == (404, "ResourceNotFoundException")


def test_list_paginates_fifty_at_a_time(lam) -> None:  # type: ignore[no-untyped-def]
    prefix = unique("page")
    names = {f"{prefix}-{i:02d}" for i in range(53)}
    for name in sorted(names):
        create(lam, name)
    first = lam.list_functions()
    assert len(first["Functions"]) <= 50
    seen = [f["FunctionName"] for page in lam.get_paginator("list_functions").paginate() for f in page["Functions"]]
    assert len(seen) == len(set(seen))
    assert names <= set(seen)
    small = lam.list_functions(MaxItems=5)
    assert len(small["Functions"]) == 5 and small["NextMarker"]
    after = lam.list_functions(Marker=small["NextMarker"], MaxItems=5)
    assert after["Functions"][0]["FunctionName"] > small["Functions"][-1]["FunctionName"]


def test_revision_id_mismatch_is_refused(lam) -> None:  # type: ignore[no-untyped-def]
    name = unique("rev")
    create(lam, name)
    with pytest.raises(ClientError) as err:
        lam.update_function_configuration(FunctionName=name, Timeout=5, RevisionId="not-the-revision")
    assert error_code(err)[:2] == (412, "PreconditionFailedException")
    assert lam.get_function_configuration(FunctionName=name)["Timeout"] == 3


def zip_with(name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo(name), "x = 1\n")
    return buffer.getvalue()


def zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("big.bin", "w", force_zip64=True) as member:
            chunk = b"\0" * (1024 * 1024)
            for _ in range(251):
                member.write(chunk)
    return buffer.getvalue()


BAD_CREATES = [
    ("bad name", {"FunctionName": "no spaces allowed"}, 400, "InvalidParameterValueException"),
    ("long name", {"FunctionName": "x" * 65}, 400, "InvalidParameterValueException"),
    ("runtime", {"Runtime": "cobol85"}, 400, "InvalidParameterValueException"),
    ("handler", {"Handler": "has space.handler"}, 400, "InvalidParameterValueException"),
    ("memory", {"MemorySize": 64}, 400, "InvalidParameterValueException"),
    ("timeout", {"Timeout": 901}, 400, "InvalidParameterValueException"),
    ("role", {"Role": "not-a-role"}, 400, "InvalidParameterValueException"),
    ("reserved env", {"Environment": {"Variables": {"AWS_REGION": "x"}}}, 400, "InvalidParameterValueException"),
    ("not a zip", {"Code": {"ZipFile": b"this is not a zip"}}, 400, "InvalidParameterValueException"),
    ("dotdot entry", {"Code": {"ZipFile": zip_with("../escape.py")}}, 400, "InvalidParameterValueException"),
    ("absolute entry", {"Code": {"ZipFile": zip_with("/etc/evil.py")}}, 400, "InvalidParameterValueException"),
]


@pytest.mark.parametrize("what,override,status,code", BAD_CREATES, ids=[c[0] for c in BAD_CREATES])
def test_bad_create_is_refused_and_nothing_stored(lam, what, override, status, code) -> None:  # type: ignore[no-untyped-def]
    name = override.get("FunctionName", unique("bad"))
    params = {"FunctionName": name, "Runtime": "python3.13", "Role": ROLE, "Handler": "app.handler",
              "Code": {"ZipFile": HELLO}, **override}
    with pytest.raises(ClientError) as err:
        lam.create_function(**params)
    assert error_code(err)[:2] == (status, code)
    assert error_code(err)[2]
    if len(name) <= 64 and " " not in name:
        with pytest.raises(ClientError) as err:
            lam.get_function(FunctionName=name)
        assert error_code(err)[:2] == (404, "ResourceNotFoundException")


def test_env_over_4kb_refused_without_echoing_secrets(lam) -> None:  # type: ignore[no-untyped-def]
    name = unique("envbig")
    secret = "s3cr3t-" + "v" * 4200
    with pytest.raises(ClientError) as err:
        create(lam, name, Environment={"Variables": {"TOKEN": secret}})
    status, code, message = error_code(err)
    assert (status, code) == (400, "InvalidParameterValueException")
    assert "s3cr3t" not in message and "4KB" in message


def test_oversized_and_bomb_zips_refused(lam) -> None:  # type: ignore[no-untyped-def]
    name = unique("bigzip")
    create(lam, name)
    before = lam.get_function_configuration(FunctionName=name)
    too_big = b"PK" + bytes(51 * 1024 * 1024)
    with pytest.raises(ClientError) as err:
        lam.update_function_code(FunctionName=name, ZipFile=too_big)
    assert error_code(err)[:2] == (413, "RequestTooLargeException")
    with pytest.raises(ClientError) as err:
        lam.update_function_code(FunctionName=name, ZipFile=zip_bomb())
    assert error_code(err)[:2] == (400, "InvalidParameterValueException")
    assert "250" in error_code(err)[2]
    after = lam.get_function_configuration(FunctionName=name)
    assert (after["CodeSha256"], after["RevisionId"]) == (before["CodeSha256"], before["RevisionId"])


def test_bad_updates_leave_function_unchanged(lam) -> None:  # type: ignore[no-untyped-def]
    name = unique("badupd")
    create(lam, name, Environment={"Variables": {"KEEP": "me"}})
    before = lam.get_function_configuration(FunctionName=name)
    for bad in ({"MemorySize": 99999}, {"Timeout": 0}, {"Handler": ""}, {"Runtime": "nope"},
                {"Environment": {"Variables": {"1BAD": "x"}}}):
        with pytest.raises(ClientError) as err:
            lam.update_function_configuration(FunctionName=name, **bad)
        assert error_code(err)[0] == 400, bad
    with pytest.raises(ClientError) as err:
        lam.update_function_code(FunctionName=name, ZipFile=zip_with("../../x"))
    assert error_code(err)[:2] == (400, "InvalidParameterValueException")
    after = lam.get_function_configuration(FunctionName=name)
    before.pop("ResponseMetadata"), after.pop("ResponseMetadata")
    assert after == before


def test_duplicate_create_conflicts(lam) -> None:  # type: ignore[no-untyped-def]
    name = unique("dup")
    create(lam, name, Description="original")
    with pytest.raises(ClientError) as err:
        create(lam, name, Description="second")
    assert error_code(err)[:2] == (409, "ResourceConflictException")
    assert lam.get_function_configuration(FunctionName=name)["Description"] == "original"


def raw_request(server: Server, method: str, path: str, body: bytes) -> tuple[int, dict, dict]:
    status, headers, answer = server.request(method, path, body, {"Content-Type": "application/json"})
    return status, headers, json.loads(answer or b"{}")


def test_malformed_json_body_is_refused(server: Server) -> None:
    status, headers, body = raw_request(server, "POST", "/2015-03-31/functions", b"{not json")
    assert status == 400
    assert headers["x-amzn-ErrorType"] == "InvalidRequestContentException"
    assert body["Type"] == "User" and body["message"]
    status, headers, body = raw_request(server, "POST", "/2015-03-31/functions", b"[1, 2]")
    assert (status, headers["x-amzn-ErrorType"]) == (400, "InvalidRequestContentException")


def test_unknown_route_answers_in_lambda_format(server: Server) -> None:
    status, headers, body = raw_request(server, "GET", "/2015-03-31/nothing-here", b"")
    assert status == 404 and headers["x-amzn-ErrorType"] and body["message"]


def test_code_is_stored_once_per_hash(server: Server, lam) -> None:  # type: ignore[no-untyped-def]
    shared = make_zip({"app.py": "def handler(e, c):\n    return 'shared'\n"})
    for _ in range(3):
        create(lam, unique("same"), code=shared)
    digest = hashlib.sha256(shared).hexdigest()
    with sqlite3.connect(server.data_dir / "faas.db") as db:
        (count,) = db.execute("select count(*) from code_blobs where sha256 = ?", (digest,)).fetchone()
    assert count == 1


def test_credentials_file_is_private(server: Server) -> None:
    credentials = server.data_dir / "credentials"
    assert credentials.stat().st_mode & 0o777 == 0o600
    text = credentials.read_text()
    assert "[default]" in text and "aws_access_key_id" in text and "aws_secret_access_key" in text
