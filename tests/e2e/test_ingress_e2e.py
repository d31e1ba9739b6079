"""What a request costs before it is authenticated, end to end against a real `faas serve`.

A known access key id buys no memory: a declared length over the route's limit is refused before the
body is read, a bad signature over a sent X-Amz-Content-Sha256 is refused before the body is read, and
bodies that must be read to check their signature are spooled to disk, not memory. Floods of refusals
write a bounded number of audit rows, non-UTF-8 credentials are a 400, and old invocation records and
audit entries are pruned on their own.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import http.client
import json
import os
import re
import socket
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from faas.security import sigv4
from faas.security.sigv4 import Credentials
from faas.store import tables
from tests.e2e.conftest import ROLE, Server, make_zip, unique

pytestmark = pytest.mark.docker

FUNCTIONS = "/2015-03-31/functions"
ECHO = "def handler(event, context):\n    return {'echo': event}\n"
BODY_60MB = 60 * 1024 * 1024


# --- a client that controls every byte ---------------------------------------------------------------


def signed_headers(server: Server, method: str, path: str, payload_hash: str, *,
                   credentials: Credentials | None = None, headers: dict | None = None,
                   send_hash: bool = False) -> dict[str, str]:
    """SigV4 headers as boto3 makes them; with `send_hash`, also X-Amz-Content-Sha256 (signed)."""
    headers = dict(headers or {})
    if send_hash:
        headers["X-Amz-Content-Sha256"] = payload_hash
    headers.update(sigv4.sign(credentials or server.credentials(), "us-east-1", "lambda", method,
                              server.endpoint + path, headers, payload_hash))
    return headers


def tampered(headers: dict[str, str]) -> dict[str, str]:
    """The same headers with a signature that does not match (one hex digit changed)."""
    head, _, signature = headers["Authorization"].rpartition("Signature=")
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    return {**headers, "Authorization": head + "Signature=" + flipped}


def connect(server: Server) -> socket.socket:
    parts = urllib.parse.urlsplit(server.endpoint)
    return socket.create_connection((parts.hostname, parts.port), timeout=30)


def head_bytes(server: Server, method: str, path: str, headers: dict[str, str], content_length: int) -> bytes:
    host = urllib.parse.urlsplit(server.endpoint).netloc
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {content_length}"]
    lines += [f"{name}: {value}" for name, value in headers.items() if name.lower() != "host"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")


def read_response(sock: socket.socket, method: str = "POST") -> tuple[int, dict[str, str], bytes]:
    response = http.client.HTTPResponse(sock, method=method)
    response.begin()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def assert_error(answer: tuple[int, dict[str, str], bytes], status: int, code: str) -> dict:
    """Lambda's error format: the status, x-amzn-ErrorType, a request id and a JSON message."""
    got, headers, body = answer
    assert (got, headers.get("x-amzn-errortype")) == (status, code), (got, headers, body[:500])
    assert headers.get("x-amzn-requestid")
    document = json.loads(body)
    assert document["message"] and "Traceback" not in body.decode()
    return document


def open_files(pid: int) -> list[str]:
    """What the process's descriptors point at; one closed between the listing and its reading (the server
    is busy: its pools and pollers open and close their own) is simply gone, not a leak."""
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(FileNotFoundError):
            targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
    return targets


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def audit(server: Server, **query: str) -> list[dict]:
    status, _, body = server.request("GET", "/faas/v1/audit?" + urllib.parse.urlencode({"limit": "1000", **query}))
    assert status == 200, body
    return json.loads(body)["Entries"]


def create_body(name: str, files: dict[str, str | bytes] | None = None) -> bytes:
    code = make_zip(files or {"app.py": ECHO})
    return json.dumps({"FunctionName": name, "Runtime": "python3.13", "Role": ROLE, "Handler": "app.handler",
                       "Code": {"ZipFile": base64.b64encode(code).decode()}}).encode()


def function_names(server: Server) -> set[str]:
    return {fn["FunctionName"] for fn in server.get_json(FUNCTIONS + "/")["Functions"]}


# --- 1. a declared length over the limit is refused before the body is read ----------------------------


@pytest.mark.parametrize(("path", "declared", "message"), [
    # CreateFunction takes 69,905,067 bytes at most; Lambda's texts name the limit and the operation.
    (FUNCTIONS, 1_000_000_000, "Request must be smaller than 69905067 bytes for the CreateFunction operation"),
    (FUNCTIONS + "/anything/invocations", 6 * 1024 * 1024 + 1,  # Invoke takes 6 MB
     "Request must be smaller than 6291456 bytes for the InvokeFunction operation"),
    ("/faas/v1/principals", 256 * 1024 + 1,  # the native API's JSON bodies take 256 KB
     "Request must be smaller than 262144 bytes for the CreatePrincipal operation"),
])
def test_a_known_key_with_a_huge_declared_length_is_refused_before_sending_the_body(server: Server, path: str,
                                                                                    declared: int,
                                                                                    message: str) -> None:
    before = function_names(server)
    with connect(server) as sock:
        # A valid signature over a body that is never sent: only the headers go out, and the answer comes.
        headers = signed_headers(server, "POST", path, hashlib.sha256(b"never sent").hexdigest())
        sock.sendall(head_bytes(server, "POST", path, headers, declared))
        answer = read_response(sock)
    document = assert_error(answer, 413, "RequestTooLargeException")
    assert document["message"] == message
    assert function_names(server) == before


# --- 2. X-Amz-Content-Sha256: the signature is checked before the body is read --------------------------


def test_with_a_sent_payload_hash_a_bad_signature_is_refused_before_the_body(server: Server) -> None:
    body_hash = hashlib.sha256(b"x" * BODY_60MB).hexdigest()  # the hash of a body that is never sent
    headers = tampered(signed_headers(server, "POST", FUNCTIONS, body_hash, send_hash=True))
    with connect(server) as sock:
        sock.sendall(head_bytes(server, "POST", FUNCTIONS, headers, BODY_60MB))
        answer = read_response(sock)
    assert_error(answer, 403, "InvalidSignatureException")

    # An unknown key is refused just as early.
    stranger = Credentials("AKIAUNKNOWNKEY000000", "not-a-secret")
    headers = signed_headers(server, "POST", FUNCTIONS, body_hash, credentials=stranger, send_hash=True)
    with connect(server) as sock:
        sock.sendall(head_bytes(server, "POST", FUNCTIONS, headers, BODY_60MB))
        assert_error(read_response(sock), 403, "UnrecognizedClientException")


def test_with_a_sent_payload_hash_good_requests_work_and_a_swapped_body_is_refused(server: Server) -> None:
    name = unique("ingress-hash")
    body = create_body(name)
    headers = signed_headers(server, "POST", FUNCTIONS, hashlib.sha256(body).hexdigest(), send_hash=True)
    with connect(server) as sock:
        sock.sendall(head_bytes(server, "POST", FUNCTIONS, headers, len(body)))
        sock.sendall(body)
        status, _, answer = read_response(sock)
    assert status == 201, answer[:500]

    # A correct signature over a declared hash, then another body of the same length: refused, nothing made.
    other = create_body(unique("ingress-swapped"))
    swapped = other[: len(body)].ljust(len(body), b" ")
    with connect(server) as sock:
        sock.sendall(head_bytes(server, "POST", FUNCTIONS, headers, len(body)))
        sock.sendall(swapped)
        document = assert_error(read_response(sock), 403, "InvalidSignatureException")
    assert "X-Amz-Content-Sha256" in document["message"]
    names = function_names(server)
    assert name in names and not any(n.startswith("ingress-swapped") for n in names)


# --- 3. bodies that must be read before their signature is known cost disk, not memory -----------------


def test_concurrent_large_bodies_with_bad_signatures_cost_little_memory(server: Server) -> None:
    assert server.proc is not None
    pid = server.proc.pid
    body = os.urandom(BODY_60MB)
    # The admin's key id with a wrong secret: the key is known, so the body must be read to check it.
    forger = Credentials(server.credentials().access_key_id, "not-the-secret")
    headers = signed_headers(server, "POST", FUNCTIONS, hashlib.sha256(body).hexdigest(), credentials=forger)
    before = function_names(server)
    baseline = rss_kib(pid)
    peak = [baseline]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(pid))
            time.sleep(0.005)

    def send() -> tuple[int, dict[str, str], bytes]:
        with connect(server) as sock:
            sock.sendall(head_bytes(server, "POST", FUNCTIONS, headers, len(body)))
            sock.sendall(body)
            return read_response(sock)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: send(), range(4)))
    finally:
        done.set()
        watcher.join()
    for answer in answers:
        assert_error(answer, 403, "InvalidSignatureException")
    grown_mib = (peak[0] - baseline) / 1024
    # 240 MB of bodies arrived at once; holding even one of them would grow the server by 60 MB.
    assert grown_mib < 40, f"the server grew by {grown_mib:.0f} MiB while refusing 4 x 60 MB bodies"
    # The spool files were unlinked from the start and are closed now: nothing is left on disk.
    assert not [target for target in open_files(pid)
                if target.startswith(str(server.data_dir)) and "(deleted)" in target]
    assert function_names(server) == before


def test_boto3_creates_a_function_whose_request_is_spooled_and_invokes_it(lam) -> None:  # type: ignore[no-untyped-def]
    name = unique("ingress-big")
    # Incompressible ballast: ~3 MB of base64 in the request, so its body goes through the spool file.
    code = make_zip({"app.py": ECHO, "ballast.bin": os.urandom(2 * 1024 * 1024)})
    created = lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                                  Code={"ZipFile": code})
    assert created["CodeSha256"] == base64.b64encode(hashlib.sha256(code).digest()).decode()
    answer = lam.invoke(FunctionName=name, Payload=b'{"n": 1}')
    assert json.loads(answer["Payload"].read()) == {"echo": {"n": 1}}
    assert lam.get_function(FunctionName=name)["Configuration"]["CodeSize"] == len(code)


# --- 4. floods of refusals -------------------------------------------------------------------------------


def test_a_flood_of_anonymous_refusals_writes_a_bounded_number_of_audit_rows(server: Server) -> None:
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    started = time.monotonic()
    stranger = Credentials("AKIAFLOODFLOODFLOOD0", "not-a-secret")
    parts = urllib.parse.urlsplit(server.endpoint)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    path = "/faas/v1/environments"
    try:
        for _ in range(300):
            headers = signed_headers(server, "GET", path, sigv4.EMPTY_SHA256, credentials=stranger)
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            assert_error((response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()),
                         403, "UnrecognizedClientException")
    finally:
        connection.close()
    minutes = 1 + int((time.monotonic() - started) // 60)  # one on this machine; more only under heavy load
    rows = audit(server, principal="anonymous", action="faas:ListEnvironments", since=since.isoformat())
    # The first refusal as it was; the other 299 are one row with their count once the minute ends.
    assert 1 <= len(rows) <= 2 * minutes, rows
    assert all(row["Outcome"] == "denied" and row["Status"] == 403 for row in rows)
    assert server.get_json("/faas/v1/environments") is not None  # the platform still answers its callers


# --- 5. credentials that are not UTF-8 ------------------------------------------------------------------


@pytest.mark.parametrize("authorization", [
    b"Bearer \xff\xfe\x80faas_token",
    b"AWS4-HMAC-SHA256 Credential=AKIA\xff/20261130/us-east-1/lambda/aws4_request, SignedHeaders=host, "
    b"Signature=00",
])
def test_a_non_utf8_authorization_header_is_a_400_in_lambdas_error_format(server: Server,
                                                                          authorization: bytes) -> None:
    host = urllib.parse.urlsplit(server.endpoint).netloc.encode()
    with connect(server) as sock:
        sock.sendall(b"GET " + FUNCTIONS.encode() + b"/ HTTP/1.1\r\nHost: " + host
                     + b"\r\nAuthorization: " + authorization + b"\r\n\r\n")
        answer = read_response(sock, "GET")
    assert_error(answer, 400, "IncompleteSignatureException")


def test_a_signed_header_that_is_not_utf8_is_verified_over_its_bytes(server: Server) -> None:
    # aiohttp hands the byte 0xE9 over as a surrogate; the signature covers the byte itself.
    note = b"caf\xe9".decode("utf-8", "surrogateescape")
    path = FUNCTIONS + "/"
    headers = signed_headers(server, "GET", path, sigv4.EMPTY_SHA256, headers={"X-Faas-Note": note})
    with connect(server) as sock:
        sock.sendall(head_bytes(server, "GET", path, headers, 0))
        status, _, body = read_response(sock, "GET")
    assert status == 200, body[:500]
    with connect(server) as sock:
        sock.sendall(head_bytes(server, "GET", path, tampered(headers), 0))
        assert_error(read_response(sock, "GET"), 403, "InvalidSignatureException")


# --- 6. retention ----------------------------------------------------------------------------------------


def test_old_invocation_records_and_audit_entries_are_pruned_and_refusal_counts_survive_a_stop(
        tmp_path: Path) -> None:
    srv = Server(tmp_path / "data").start()
    try:
        lam = srv.client()
        name = unique("ingress-kept")
        lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": make_zip({"app.py": ECHO})})
        assert lam.invoke(FunctionName=name, Payload=b"{}")["StatusCode"] == 200
        stranger = Credentials("AKIAFLOODFLOODFLOOD1", "not-a-secret")
        for _ in range(50):
            headers = signed_headers(srv, "GET", FUNCTIONS + "/", sigv4.EMPTY_SHA256, credentials=stranger)
            assert srv.request("GET", FUNCTIONS + "/", headers=headers, sign=False)[0] == 403
    finally:
        assert srv.stop() == 0

    database = sa.create_engine(f"sqlite:///{srv.data_dir / 'faas.db'}")
    try:
        with database.begin() as conn:
            refusals = conn.execute(sa.select(tables.audit_log).where(
                tables.audit_log.c.principal == "anonymous")).all()
            # The flood left its first row and, written at the clean stop, one row with the other 49 (a
            # minute that ended during the flood would add one more pair: the total stays 50).
            full = [row for row in refusals if row.resource == "*"]
            summaries = [re.fullmatch(r"(\d+) more refusals like this within 60 s", row.resource)
                         for row in refusals if row.resource != "*"]
            assert full and all(summaries) and len(refusals) <= 4, refusals
            assert len(full) + sum(int(match.group(1)) for match in summaries if match) == 50
            now = dt.datetime.now(dt.timezone.utc)
            old_ids = [str(uuid.uuid4()) for _ in range(1200)]  # more than one batch
            conn.execute(sa.insert(tables.invocations), [
                {"request_id": request_id, "function_name": name, "started_at": now - dt.timedelta(days=31, seconds=n),
                 "duration_ms": 1.0, "billed_duration_ms": 100, "memory_size": 128, "max_memory_used_mb": 30,
                 "init_duration_ms": None, "cold": False, "outcome": "success", "error_type": None,
                 "log": "START old\n"} for n, request_id in enumerate(old_ids)])
            conn.execute(sa.insert(tables.audit_log), [
                {"at": now - dt.timedelta(days=91, seconds=n), "principal": "arn:aws:iam::000000000000:user/old",
                 "action": "lambda:CreateFunction", "resource": "*", "status": 201, "outcome": "allowed",
                 "request_id": str(uuid.uuid4()), "source_ip": "127.0.0.1"} for n in range(10)])

        def counts() -> tuple[int, int, int]:
            with database.connect() as conn:
                old_invocations = conn.execute(sa.select(sa.func.count()).select_from(tables.invocations).where(
                    tables.invocations.c.request_id.in_(old_ids))).scalar_one()
                old_audit = conn.execute(sa.select(sa.func.count()).select_from(tables.audit_log).where(
                    tables.audit_log.c.principal == "arn:aws:iam::000000000000:user/old")).scalar_one()
                everything = conn.execute(sa.select(sa.func.count()).select_from(tables.invocations)).scalar_one()
            return old_invocations, old_audit, everything

        assert counts() == (1200, 10, 1201)
        srv.start()  # the prune runs at start, then every ten minutes
        try:
            deadline = time.monotonic() + 60
            while counts()[:2] != (0, 0):
                assert time.monotonic() < deadline, f"old rows were not pruned: {counts()}"
                time.sleep(0.2)
            assert counts() == (0, 0, 1)
            # What is recent stays, readable as before.
            [kept] = srv.get_json(f"/faas/v1/functions/{name}/logs")["Invocations"]
            assert "START RequestId" in kept["Log"]
            assert any(entry["Resource"].endswith(f":function:{name}") for entry in audit(srv))
        finally:
            assert srv.stop() == 0
    finally:
        database.dispose()
