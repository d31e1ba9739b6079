"""The guard's order of checks (faas.api.auth.Guard.authenticate): what a request gets read before its
credentials are known good, with fake identities and requests whose bodies report being read."""

from __future__ import annotations

import hashlib
import os
from types import SimpleNamespace

import pytest
from aiohttp.test_utils import make_mocked_request

from faas.api.auth import Guard, IncompleteSignature, InvalidSignature, UnrecognizedClient
from faas.api.body import BODY, SPOOL_IN_MEMORY
from faas.errors import RequestTooLarge
from faas.security import sigv4
from faas.security.sigv4 import Credentials
from faas.services.identities import Caller

KEY = Credentials("AKIAGUARDTEST0000000", "the-secret")
HOST = "127.0.0.1:9000"
PATH = "/2015-03-31/functions"


class Identities:
    def __init__(self) -> None:
        self.lookups: list[str] = []

    async def caller_for_key(self, key_id: str) -> Caller | None:
        self.lookups.append(key_id)
        if key_id != KEY.access_key_id:
            return None
        return Caller(arn="arn:aws:iam::000000000000:user/admin", name="admin", kind="user", documents=(),
                      secret=KEY.secret_access_key)

    async def caller_for_token(self, token: str) -> Caller | None:
        self.lookups.append(token)
        return None


class Body:
    """A request body that counts what was read of it."""

    def __init__(self, data: bytes) -> None:
        self.data, self.read = data, 0

    async def iter_chunked(self, size: int):  # type: ignore[no-untyped-def]
        for start in range(0, len(self.data), size):
            self.read += len(self.data[start:start + size])
            yield self.data[start:start + size]


def guard(tmp_path) -> tuple[Guard, Identities]:  # type: ignore[no-untyped-def]
    identities = Identities()
    return Guard(identities, None, None, SimpleNamespace(data_dir=tmp_path)), identities


def request(data: bytes, *, credentials: Credentials = KEY, signed_hash: str | None = None,
            send_hash: bool = False, declared: int | None = -1):  # type: ignore[no-untyped-def]
    headers: dict[str, str] = {}
    payload_hash = signed_hash or hashlib.sha256(data).hexdigest()
    if send_hash:
        headers["X-Amz-Content-Sha256"] = payload_hash
    headers.update(sigv4.sign(credentials, "us-east-1", "lambda", "POST", f"http://{HOST}{PATH}", headers,
                              payload_hash))
    headers["Host"] = HOST
    if declared is not None:
        headers["Content-Length"] = str(len(data) if declared == -1 else declared)
    body = Body(data)
    return make_mocked_request("POST", PATH, headers=headers, payload=body), body


async def test_a_declared_length_over_the_limit_is_refused_before_the_key_is_looked_up(tmp_path):
    checks, identities = guard(tmp_path)
    req, body = request(b"{}", declared=10**9)
    with pytest.raises(RequestTooLarge):
        await checks.authenticate(req, 1000)
    assert identities.lookups == [] and body.read == 0


async def test_with_a_sent_hash_a_bad_signature_is_refused_before_the_body_is_read(tmp_path):
    checks, _ = guard(tmp_path)
    forged = Credentials(KEY.access_key_id, "not-the-secret")
    req, body = request(b"x" * 100_000, credentials=forged, send_hash=True)
    with pytest.raises(InvalidSignature):
        await checks.authenticate(req, 1 << 20)
    assert body.read == 0 and BODY not in req


async def test_with_a_sent_hash_the_body_must_match_it(tmp_path):
    checks, _ = guard(tmp_path)
    req, body = request(b'{"a": 2}', signed_hash=hashlib.sha256(b'{"a": 1}').hexdigest(), send_hash=True)
    with pytest.raises(InvalidSignature, match="X-Amz-Content-Sha256"):
        await checks.authenticate(req, 1 << 20)
    req, _ = request(b'{"a": 1}', send_hash=True)
    await checks.authenticate(req, 1 << 20)
    assert req[BODY] == b'{"a": 1}'


@pytest.mark.parametrize("declared", [-1, None])  # Content-Length, and chunked
async def test_a_large_body_is_handed_over_only_once_its_signature_matches(tmp_path, declared):
    data = os.urandom(2 * SPOOL_IN_MEMORY + 17)
    checks, _ = guard(tmp_path)
    forged = Credentials(KEY.access_key_id, "not-the-secret")
    req, _ = request(data, credentials=forged, declared=declared)
    with pytest.raises(InvalidSignature):
        await checks.authenticate(req, 4 * SPOOL_IN_MEMORY)
    assert BODY not in req
    req, _ = request(data, declared=declared)
    caller = await checks.authenticate(req, 4 * SPOOL_IN_MEMORY)
    assert caller.name == "admin" and req[BODY] == data


async def test_a_chunked_body_over_the_limit_is_cut_off(tmp_path):
    checks, _ = guard(tmp_path)
    req, body = request(b"x" * (3 * SPOOL_IN_MEMORY), declared=None)
    with pytest.raises(RequestTooLarge):
        await checks.authenticate(req, SPOOL_IN_MEMORY)
    assert body.read <= SPOOL_IN_MEMORY + (1 << 16)


async def test_an_unknown_key_is_refused_before_the_body_is_read(tmp_path):
    checks, _ = guard(tmp_path)
    req, body = request(b"x" * 100_000, credentials=Credentials("AKIAUNKNOWN000000000", "s"))
    with pytest.raises(UnrecognizedClient):
        await checks.authenticate(req, 1 << 20)
    assert body.read == 0


# Raw bytes that are not UTF-8 (aiohttp's surrogates) are sent in tests/e2e/test_ingress_e2e.py.
@pytest.mark.parametrize("authorization", ["Bearer ÿþtoken", "AWS4-HMAC-SHA256 Credential=ÿ"])
async def test_credentials_that_are_not_ascii_are_a_400_refusal(tmp_path, authorization):
    checks, identities = guard(tmp_path)
    req = make_mocked_request("GET", PATH, headers={"Host": HOST, "Authorization": authorization})
    with pytest.raises(IncompleteSignature) as refused:
        await checks.authenticate(req, 1000)
    assert refused.value.status == 400 and refused.value.code == "IncompleteSignatureException"
    assert isinstance(refused.value, InvalidSignature)  # audited and answered (403 on URLs) as a refusal
    assert identities.lookups == []
