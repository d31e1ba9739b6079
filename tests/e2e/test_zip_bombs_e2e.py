"""Hostile zips against a real `faas serve`: bombs, lying headers and 500,000 entries are refused with a
clear error, the server's memory stays bounded, every request keeps being answered, and nothing stored is lost."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import sqlite3
import threading
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from faas.zips import MAX_ENTRIES, MAX_ZIP_BYTES
from tests.e2e.conftest import ROLE, Server, make_zip, unique
from tests.support.zips import Entry, bomb, craft_zip, deflated_zeros, many_entries_zip

pytestmark = pytest.mark.docker

MB = 1024 * 1024
# Far below what any bomb here would cost when decompressed (256 MB to 1 GB), far above the noise.
RSS_GROWTH_BOUND = 100 * MB
LATENCY_BOUND_S = 3.0  # the old code froze for 7.5-8.4 s; leaves room for a loaded CI machine
HANDLER = "def handler(event, context):\n    return {'kept': event.get('n')}\n"


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    """Zips of a few hundred bytes to a megabyte whose single entry declares 1 byte and holds far more."""
    return {
        "bzip2": bomb(zipfile.ZIP_BZIP2, 256 * MB),
        "lzma": bomb(zipfile.ZIP_LZMA, 64 * MB),
        "deflate": craft_zip([Entry("app.py", deflated_zeros(1024 * MB), zipfile.ZIP_DEFLATED, declared=1)]),
    }


@pytest.fixture(scope="module")
def keeper(lam) -> str:  # type: ignore[no-untyped-def]
    """A function that is deployed and warm before any attack, and must stay so."""
    name = unique("keeper")
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": HANDLER})})
    assert invoke(lam, name, 0) == {"kept": 0}
    return name


def invoke(lam, name: str, n: int) -> dict:  # type: ignore[no-untyped-def]
    response = lam.invoke(FunctionName=name, Payload=json.dumps({"n": n}).encode())
    assert "FunctionError" not in response, response["Payload"].read()
    return json.loads(response["Payload"].read())


def refusal(call) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def kept(lam, name: str, before: dict) -> None:  # type: ignore[no-untyped-def]
    after = lam.get_function_configuration(FunctionName=name)
    assert (after["CodeSha256"], after["RevisionId"]) == (before["CodeSha256"], before["RevisionId"])
    assert invoke(lam, name, 7) == {"kept": 7}


class Memory:
    """The server process's resident memory, its peak reset before an attack (clear_refs 5)."""

    def __init__(self, server: Server) -> None:
        assert server.proc is not None
        self.proc = Path(f"/proc/{server.proc.pid}")

    def _kb(self, field: str) -> int:
        for line in (self.proc / "status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        raise AssertionError(f"no {field} in {self.proc}/status")

    def __enter__(self) -> Memory:
        (self.proc / "clear_refs").write_text("5")
        self.start = self._kb("VmRSS")
        return self

    def __exit__(self, *exc: object) -> None:
        self.growth = self._kb("VmHWM") - self.start


@pytest.mark.parametrize(("kind", "message"), [
    ("bzip2", "'app.py' uses compression method 12 (bzip2); deployment packages may only use stored or deflate"),
    ("lzma", "'app.py' uses compression method 14 (lzma); deployment packages may only use stored or deflate"),
    ("deflate", "'app.py' cannot be unpacked: Bad CRC-32"),
])
def test_a_bomb_is_refused_at_create_and_update_with_bounded_memory(server, lam, keeper, bombs, kind,
                                                                   message) -> None:  # type: ignore[no-untyped-def]
    data = bombs[kind]
    assert len(data) < 2 * MB
    before = lam.get_function_configuration(FunctionName=keeper)
    name = unique(f"bomb-{kind}")
    with Memory(server) as memory:
        created = refusal(lambda: lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE,
                                                      Handler="app.handler", Code={"ZipFile": data}))
        updated = refusal(lambda: lam.update_function_code(FunctionName=keeper, ZipFile=data))
    for status, code, text in (created, updated):
        assert (status, code) == (400, "InvalidParameterValueException")
        assert message in text
    assert memory.growth < RSS_GROWTH_BOUND, memory.growth
    assert refusal(lambda: lam.get_function(FunctionName=name))[1] == "ResourceNotFoundException"
    kept(lam, keeper, before)


def store_behind_the_checks(server: Server, name: str, data: bytes) -> None:
    """Point `name` at `data` in the store directly, as a release that accepted such zips would have."""
    digest = hashlib.sha256(data).hexdigest()
    with sqlite3.connect(server.data_dir / "faas.db", timeout=30) as db:
        db.execute("insert into code_blobs (sha256, size, data, created_at) values (?, ?, ?, ?)",
                   (digest, len(data), data, dt.datetime.now(dt.timezone.utc).isoformat(sep=" ")))
        db.execute("update functions set code_sha256 = ?, code_size = ? where name = ?", (digest, len(data), name))


@pytest.mark.parametrize("kind", ["bzip2", "deflate"])
def test_a_stored_bomb_fails_its_cold_start_with_bounded_memory(server, lam, keeper, bombs,
                                                                kind) -> None:  # type: ignore[no-untyped-def]
    # Upload checks refuse these now; a node upgraded over a store that already holds one must still not
    # be killed at the first cold start (nor, with asynchronous retries, at every one after it).
    name = unique(f"stored-{kind}")
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": HANDLER})})
    store_behind_the_checks(server, name, bombs[kind])
    before = lam.get_function_configuration(FunctionName=keeper)
    with Memory(server) as memory:
        for _ in range(2):
            status, code, message = refusal(lambda: lam.invoke(FunctionName=name, Payload=b"{}"))
            assert (status, code) == (502, "InvalidZipFileException")
            assert message.startswith("Lambda could not unzip the deployment package: The zip entry 'app.py'")
    assert memory.growth < RSS_GROWTH_BOUND, memory.growth
    with urllib.request.urlopen(server.endpoint + "/health", timeout=5) as response:
        assert response.status == 200
    kept(lam, keeper, before)


class Probe(threading.Thread):
    """GET /health and a warm invoke, over and over, keeping the slowest answer of the current phase."""

    def __init__(self, server: Server, name: str) -> None:
        super().__init__(daemon=True)
        self.server, self.name = server, name
        self.lam = server.client(read_timeout=30)
        self.stop = threading.Event()
        self.slowest: dict[str, float] = {}
        self.phase = "start"
        self.rounds = 0
        self.failure: BaseException | None = None

    def _timed(self, call) -> None:  # type: ignore[no-untyped-def]
        phase, started = self.phase, time.monotonic()
        call()
        self.slowest[phase] = max(self.slowest.get(phase, 0.0), time.monotonic() - started)

    def _health(self) -> None:
        with urllib.request.urlopen(self.server.endpoint + "/health", timeout=30) as response:
            assert response.status == 200

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self._timed(self._health)
                self._timed(lambda: invoke(self.lam, self.name, self.rounds))
                self.rounds += 1
        except BaseException as exc:  # reported by the test
            self.failure = exc

    def until(self, rounds: int) -> None:
        deadline = time.monotonic() + 60
        while self.rounds < rounds and self.is_alive():
            assert time.monotonic() < deadline, "the probe is stuck"
            time.sleep(0.01)


def code_requests(keeper: str, zip_field: object, **extra: str) -> list[tuple[str, str, bytes]]:
    """CreateFunction and UpdateFunctionCode carrying `zip_field` as Code.ZipFile."""
    create = {"FunctionName": unique("many"), "Runtime": "python3.13", "Role": ROLE, "Handler": "app.handler",
              "Code": {"ZipFile": zip_field, **extra}}
    return [("POST", "/2015-03-31/functions", json.dumps(create).encode()),
            ("PUT", f"/2015-03-31/functions/{keeper}/code", json.dumps({"ZipFile": zip_field, **extra}).encode())]


def test_a_zip_of_many_entries_is_refused_while_everything_else_keeps_answering(server, lam,
                                                                               keeper) -> None:  # type: ignore[no-untyped-def]
    data = many_entries_zip(560_000)  # zipfile would take seconds and 300 MB to list them
    assert len(data) <= MAX_ZIP_BYTES
    encoded = base64.b64encode(data).decode()
    phases = {
        # As large, but refused before any zip work: what reading and parsing 70 MB of JSON costs here now.
        "plain": (code_requests(keeper, 1, Padding=encoded), "Code.ZipFile must be a base64-encoded string"),
        "zip": (code_requests(keeper, encoded), f"The zip file holds more than {MAX_ENTRIES} entries; a "
                                                f"deployment package may hold at most {MAX_ENTRIES}"),
    }
    before = lam.get_function_configuration(FunctionName=keeper)
    probe = Probe(server, keeper)
    probe.start()
    try:
        probe.until(3)
        for phase, (requests, message) in phases.items():
            probe.phase, rounds = phase, probe.rounds
            for method, path, body in requests:
                status, headers, payload = server.request(method, path, body)
                assert (status, headers["x-amzn-ErrorType"]) == (400, "InvalidParameterValueException"), payload
                assert json.loads(payload)["message"] == message
            probe.until(rounds + 2)  # answers came during the phase, and right after it
    finally:
        probe.stop.set()
        probe.join(60)
    assert probe.failure is None, probe.failure
    # Inspecting the zip adds less than LATENCY_BOUND_S to the slowest answer (on the event loop, listing the
    # entries froze every request for many seconds).
    assert probe.slowest["zip"] < probe.slowest["plain"] + LATENCY_BOUND_S, probe.slowest
    kept(lam, keeper, before)
