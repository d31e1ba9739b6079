"""Presigned URLs (SigV4 query authentication): the pure canonicalisation against what botocore's
SigV4QueryAuth signs, and the guard's checks of expiry, binding and credentials, with fake identities."""

from __future__ import annotations

import datetime
import hashlib
from types import SimpleNamespace
from urllib.parse import urlsplit

import botocore.auth
import botocore.credentials
import pytest
from aiohttp.test_utils import make_mocked_request
from botocore.awsrequest import AWSRequest

from faas.api import auth as api_auth
from faas.api.auth import Guard, IncompleteSignature, InvalidSignature, UnrecognizedClient
from faas.api.body import BODY
from faas.security import sigv4
from faas.services.identities import Caller
from faas.sources import url_events

NOW = datetime.datetime(2024, 5, 17, 12, 34, 56, tzinfo=datetime.timezone.utc)
CREDS = sigv4.Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
SESSION = sigv4.Credentials("ASIAEXAMPLE", "c2VjcmV0", "FwoGZXIvYXdzEBYaDH//token+with/slashes==")
HOST = "127.0.0.1:9000"


def presign(creds: sigv4.Credentials, method: str, url: str, expires: int = 60, at: datetime.datetime = NOW,
            monkeypatch=None) -> str:  # type: ignore[no-untyped-def]
    """The URL botocore's SigV4QueryAuth produces (what generate_presigned_url uses) at a fixed time."""
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: at.replace(tzinfo=None))
    request = AWSRequest(method=method, url=url)
    botocore.auth.SigV4QueryAuth(
        botocore.credentials.Credentials(creds.access_key_id, creds.secret_access_key, creds.session_token),
        "lambda", "us-east-1", expires=expires).add_auth(request)
    return request.url


URLS = [
    ("GET", f"http://{HOST}/2015-03-31/functions/hello"),
    ("GET", f"http://{HOST}/2015-03-31/functions?Marker=a%20b%2Bc%2Fd&MaxItems=5"),
    ("POST", f"http://{HOST}/2015-03-31/functions/123456789012%3Afunction%3Ahello/invocations"),
    ("GET", "https://abc.lambda-url.us-east-1.on.faas/some/path?x=1&y="),
]


@pytest.mark.parametrize("creds", [CREDS, SESSION], ids=["long-term", "session"])
@pytest.mark.parametrize("method,url", URLS)
def test_the_pieces_verify_what_botocore_presigns(creds, method, url, monkeypatch):
    parts = urlsplit(presign(creds, method, url, monkeypatch=monkeypatch))
    signed = sigv4.parse_presigned(parts.query)
    auth = signed.authorization
    assert (auth.access_key_id, auth.region, auth.service, auth.signed_headers) == \
        (creds.access_key_id, "us-east-1", "lambda", ("host",))
    assert (signed.amz_date, signed.expires, signed.security_token) == \
        (sigv4.amz_date(NOW), 60, creds.session_token)
    canonical = sigv4.canonical_request(method, parts.path, parts.query, {"host": sigv4.host_header(url)},
                                        auth.signed_headers, sigv4.EMPTY_SHA256, frozenset({"X-Amz-Signature"}))
    key = sigv4.signing_key(creds.secret_access_key, auth.date, auth.region, auth.service)
    assert sigv4.signature(key, sigv4.string_to_sign(signed.amz_date, auth.scope, canonical)) == auth.signature


def test_the_canonical_query_leaves_out_only_the_signature():
    query = "b=2&X-Amz-Signature=abc&a=1&X-Amz-Date=20240517T123456Z"
    assert sigv4.canonical_query(query, frozenset({"X-Amz-Signature"})) == "X-Amz-Date=20240517T123456Z&a=1&b=2"
    assert "X-Amz-Signature=abc" in sigv4.canonical_query(query)


def test_a_query_is_presigned_when_it_names_an_algorithm_a_credential_or_a_signature():
    assert sigv4.is_presigned("a=1&X-Amz-Signature=x")
    assert sigv4.is_presigned("X-Amz-Algorithm=AWS4-HMAC-SHA256")
    assert sigv4.is_presigned("X-Amz-Credential=a")
    assert not sigv4.is_presigned("a=1&X-Amz-Date=20240517T123456Z")
    assert not sigv4.is_presigned("")


@pytest.mark.parametrize("change,error", [
    (lambda q: q.replace("X-Amz-Expires=60", "X-Amz-Expires=0"), "X-Amz-Expires"),
    (lambda q: q.replace("X-Amz-Expires=60", "X-Amz-Expires=604801"), "X-Amz-Expires"),
    (lambda q: q.replace("X-Amz-Expires=60", "X-Amz-Expires=-5"), "X-Amz-Expires"),
    (lambda q: q.replace("X-Amz-Date=20240517T123456Z", "X-Amz-Date=2024-05-17"), "X-Amz-Date"),
    (lambda q: q.replace("&X-Amz-SignedHeaders=host", ""), "missing X-Amz-SignedHeaders"),
    (lambda q: q + "&X-Amz-Signature=" + "0" * 64, "more than once"),
    (lambda q: q.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"), "algorithm"),
    (lambda q: q.replace("%2Faws4_request", ""), "credential scope"),
])
def test_malformed_presign_parameters_are_refused(change, error, monkeypatch):
    query = urlsplit(presign(CREDS, "GET", f"http://{HOST}/f", monkeypatch=monkeypatch)).query
    with pytest.raises(ValueError, match=error):
        sigv4.parse_presigned(change(query))


def test_seven_days_is_the_longest_expiry(monkeypatch):
    query = urlsplit(presign(CREDS, "GET", f"http://{HOST}/f", expires=604800, monkeypatch=monkeypatch)).query
    assert sigv4.parse_presigned(query).expires == 604800


# --- the guard ---------------------------------------------------------------------------------------

class Identities:
    def __init__(self) -> None:
        self.lookups: list[str] = []

    async def caller_for_key(self, key_id: str) -> Caller | None:
        self.lookups.append(key_id)
        for creds, kind in ((CREDS, "user"), (SESSION, "session")):
            if key_id == creds.access_key_id:
                token = hashlib.sha256(creds.session_token.encode()).hexdigest() if creds.session_token else None
                return Caller(arn=f"arn:aws:iam::000000000000:{kind}/x", name="x", kind=kind, documents=(),
                              secret=creds.secret_access_key, session_token_hash=token)
        return None

    async def caller_for_token(self, token: str) -> Caller | None:
        return None


class Body:
    def __init__(self, data: bytes) -> None:
        self.data, self.read = data, 0

    async def iter_chunked(self, size: int):  # type: ignore[no-untyped-def]
        self.read += len(self.data)
        if self.data:
            yield self.data


def guard(tmp_path, monkeypatch,  # type: ignore[no-untyped-def]
          now: datetime.datetime = NOW) -> tuple[Guard, Identities]:
    monkeypatch.setattr(api_auth, "utcnow", lambda: now)
    identities = Identities()
    return Guard(identities, None, None, SimpleNamespace(data_dir=tmp_path)), identities


def mocked(method: str, url: str, data: bytes = b"",  # type: ignore[no-untyped-def]
           headers: dict[str, str] | None = None):
    parts = urlsplit(url)
    body = Body(data)
    all_headers = {"Host": parts.netloc, "Content-Length": str(len(data)), **(headers or {})}
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return make_mocked_request(method, target, headers=all_headers, payload=body), body


@pytest.mark.parametrize("creds", [CREDS, SESSION], ids=["long-term", "session"])
async def test_a_presigned_url_authenticates_until_it_expires(creds, tmp_path, monkeypatch):
    url = presign(creds, "GET", f"http://{HOST}/2015-03-31/functions/hello?Qualifier=1", monkeypatch=monkeypatch)
    for now in (NOW - datetime.timedelta(minutes=14), NOW, NOW + datetime.timedelta(seconds=60)):
        checks, _ = guard(tmp_path, monkeypatch, now)
        req, _ = mocked("GET", url)
        caller = await checks.authenticate(req, 1000)
        assert caller.secret == creds.secret_access_key and req[BODY] == b""


async def test_an_expired_url_is_refused_before_the_key_is_looked_up(tmp_path, monkeypatch):
    url = presign(CREDS, "GET", f"http://{HOST}/f", monkeypatch=monkeypatch)
    checks, identities = guard(tmp_path, monkeypatch, NOW + datetime.timedelta(seconds=61))
    req, _ = mocked("GET", url)
    with pytest.raises(InvalidSignature, match="Request has expired: signed at 20240517T123456Z for 60 seconds"):
        await checks.authenticate(req, 1000)
    assert identities.lookups == []


async def test_a_url_dated_beyond_the_clock_skew_is_refused(tmp_path, monkeypatch):
    url = presign(CREDS, "GET", f"http://{HOST}/f", monkeypatch=monkeypatch)
    checks, identities = guard(tmp_path, monkeypatch, NOW - datetime.timedelta(minutes=16))
    req, _ = mocked("GET", url)
    with pytest.raises(InvalidSignature, match="not yet current"):
        await checks.authenticate(req, 1000)
    assert identities.lookups == []


@pytest.mark.parametrize("change", [
    lambda u: u.replace("/functions/hello", "/functions/other"),
    lambda u: u.replace("Qualifier=1", "Qualifier=2"),
    lambda u: u.replace("Qualifier=1&", ""),
    lambda u: u + "&extra=1",
    lambda u: u.replace("X-Amz-Expires=60", "X-Amz-Expires=3600"),
], ids=["path", "query-value", "query-removed", "query-added", "expiry"])
async def test_the_signature_binds_path_and_query(change, tmp_path, monkeypatch):
    url = presign(CREDS, "GET", f"http://{HOST}/2015-03-31/functions/hello?Qualifier=1", monkeypatch=monkeypatch)
    checks, _ = guard(tmp_path, monkeypatch)
    req, _ = mocked("GET", change(url))
    with pytest.raises(InvalidSignature):
        await checks.authenticate(req, 1000)


async def test_the_signature_binds_the_method_and_the_body(tmp_path, monkeypatch):
    url = presign(CREDS, "POST", f"http://{HOST}/2015-03-31/functions/hello/invocations", monkeypatch=monkeypatch)
    checks, _ = guard(tmp_path, monkeypatch)
    req, _ = mocked("POST", url)
    await checks.authenticate(req, 1000)
    for method, data in (("GET", b""), ("POST", b'{"not": "signed"}')):
        req, _ = mocked(method, url, data)
        with pytest.raises(InvalidSignature):
            await checks.authenticate(req, 1000)
    # A header claiming the body is unsigned changes nothing: the URL was signed for no body.
    req, _ = mocked("POST", url, b"{}", {"X-Amz-Content-Sha256": sigv4.UNSIGNED_PAYLOAD})
    with pytest.raises(InvalidSignature):
        await checks.authenticate(req, 1000)


async def test_a_session_needs_its_token_in_the_query(tmp_path, monkeypatch):
    url = presign(SESSION, "GET", f"http://{HOST}/f", monkeypatch=monkeypatch)
    token = url.split("X-Amz-Security-Token=")[1].split("&")[0]
    without = url.replace(f"&X-Amz-Security-Token={token}", "")
    checks, _ = guard(tmp_path, monkeypatch)
    req, _ = mocked("GET", without, headers={"X-Amz-Security-Token": SESSION.session_token})
    with pytest.raises(UnrecognizedClient):
        await checks.authenticate(req, 1000)


async def test_an_authorization_header_next_to_query_auth_is_refused(tmp_path, monkeypatch):
    url = presign(CREDS, "GET", f"http://{HOST}/f", monkeypatch=monkeypatch)
    checks, identities = guard(tmp_path, monkeypatch)
    req, _ = mocked("GET", url, headers={"Authorization": "Bearer faas_x"})
    with pytest.raises(IncompleteSignature, match="Only one authentication mechanism"):
        await checks.authenticate(req, 1000)
    assert identities.lookups == []


async def test_an_unknown_key_is_refused(tmp_path, monkeypatch):
    url = presign(sigv4.Credentials("AKIDUNKNOWN", "x"), "GET", f"http://{HOST}/f", monkeypatch=monkeypatch)
    checks, _ = guard(tmp_path, monkeypatch)
    req, _ = mocked("GET", url)
    with pytest.raises(UnrecognizedClient):
        await checks.authenticate(req, 1000)


def test_a_url_event_carries_no_presign_parameters(monkeypatch):
    url = presign(SESSION, "GET", "https://u.lambda-url.us-east-1.on.faas/p?a=1&b=x%20y", monkeypatch=monkeypatch)
    query = urlsplit(url).query
    assert url_events.without_presign(query) == "a=1&b=x%20y"
    event = url_events.build_event(url_events.HttpRequest(
        method="GET", raw_path="/p", raw_query=query, headers=[("Host", "u")], body=b"",
        origin=url_events.Origin(source_ip="127.0.0.1", forwarded_for="127.0.0.1", proto="https", port=443,
                                 trace_id="Root=1-00000000-000000000000000000000000"),
        url_id="u", domain_name="u", account_id="000000000000", request_id="r", now=NOW,
        authorizer_iam=url_events.authorizer_iam(access_key="ASIAEXAMPLE", account_id="000000000000",
                                                 user_arn="arn", user_id="x")))
    assert event["rawQueryString"] == "a=1&b=x%20y"
    assert event["queryStringParameters"] == {"a": "1", "b": "x y"}
    # A query that is not presigned keeps whatever the caller put in it.
    assert url_events.without_presign("X-Amz-Date=1&a=2") == "X-Amz-Date=1&a=2"


def test_an_encoded_presign_key_is_still_a_presign_key():
    assert sigv4.is_presigned("X%2DAmz-Signature=x")
    assert url_events.without_presign("a=1&X%2DAmz-Signature=x&X-Amz-Credential=y") == "a=1"
