"""End-to-end fixtures: a real `faas serve` subprocess on a temp data dir, driven with boto3."""

from __future__ import annotations

import configparser
import io
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from faas.security import sigv4
from faas.security.sigv4 import Credentials

REPO = Path(__file__).resolve().parents[2]
ROLE = "arn:aws:iam::000000000000:role/faas-default"  # made by faas serve on first start


class Server:
    """A running `faas serve` and what a user needs to talk to it."""

    def __init__(self, data_dir: Path, database_url: str | None = None, extra_env: dict | None = None,
                 ca_bundle: Path | None = None) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.extra_env = extra_env or {}
        self.ca_bundle = ca_bundle  # what verifies the certificate of a server started with TLS
        self.tls = ssl.create_default_context(cafile=str(ca_bundle)) if ca_bundle else None
        self.proc: subprocess.Popen | None = None
        self.endpoint = ""
        self.log_path = data_dir.parent / f"{data_dir.name}-server.log"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FAAS_", "AWS_"))}
        # The prewarmed pool stays at its floor unless a test asks for its growth (test_prewarm): grown after
        # every burst a test sends, it would only add containers to a machine running two test workers.
        env.update({"FAAS_DATA_DIR": str(self.data_dir), "FAAS_PORT": "0", "FAAS_KEEP_ALIVE_S": "600",
                    "FAAS_PREWARM_MEMORY_MB": "0"})
        if self.database_url:
            env["FAAS_DATABASE_URL"] = self.database_url
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 240) -> Server:
        endpoint_file = self.data_dir / "endpoint"
        endpoint_file.unlink(missing_ok=True)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "faas", "serve"], env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.close()
                raise RuntimeError(f"faas serve exited with {self.proc.returncode}:\n{self.output()}")
            if endpoint_file.exists():  # written whole (renamed into place) once the server listens
                self.endpoint = endpoint_file.read_text().strip()
                try:
                    with urllib.request.urlopen(self.endpoint + "/health", timeout=2, context=self.tls) as response:
                        if response.status == 200:
                            return self
                except OSError:
                    pass
            time.sleep(0.1)
        raise RuntimeError(f"faas serve did not become healthy:\n{self.output()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self.log.close()
        return code

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def credentials(self, profile: str = "default") -> Credentials:
        parser = configparser.ConfigParser()
        parser.read(self.data_dir / "credentials")
        return Credentials(parser[profile]["aws_access_key_id"], parser[profile]["aws_secret_access_key"])

    def request(self, method: str, path: str, body: bytes = b"", headers: dict | None = None,
                credentials: Credentials | None = None, sign: bool = True) -> tuple[int, dict, bytes]:
        """A plain HTTP request, SigV4-signed as the admin unless told otherwise."""
        url = self.endpoint + path
        headers = dict(headers or {})
        if sign:
            headers.update(sigv4.sign(credentials or self.credentials(), "us-east-1", "lambda", method, url,
                                      headers, sigv4.payload_hash(body)))
        request = urllib.request.Request(url, data=body if method not in ("GET", "HEAD") else None,
                                         method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=120, context=self.tls) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def get_json(self, path: str) -> dict:
        status, _, body = self.request("GET", path)
        assert status == 200, (status, body[:500])
        return json.loads(body)

    def client(self, read_timeout: int = 120):  # type: ignore[no-untyped-def]
        session = boto3.Session(region_name="us-east-1")
        os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(self.data_dir / "credentials")
        try:
            return session.client(
                "lambda", endpoint_url=self.endpoint, verify=str(self.ca_bundle) if self.ca_bundle else None,
                config=Config(retries={"max_attempts": 1}, read_timeout=read_timeout, connect_timeout=5,
                              parameter_validation=False),  # the server must catch bad input itself
            )
        finally:
            del os.environ["AWS_SHARED_CREDENTIALS_FILE"]


def environments(server: Server) -> list[dict]:
    return server.get_json("/faas/v1/environments")["Environments"]


def wait_for(predicate, timeout: float = 60):  # type: ignore[no-untyped-def]
    """The predicate's first truthy answer, polled until the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def prewarmed(server: Server, runtime: str) -> list[dict]:
    return [e for e in environments(server) if e["State"] == "prewarmed" and e["Runtime"] == runtime]


def wait_until_busy(server: Server, name: str) -> None:
    deadline = time.monotonic() + 30
    while not any(e["FunctionName"] == name and e["State"] == "busy" for e in environments(server)):
        assert time.monotonic() < deadline, "the invocation never started"
        time.sleep(0.05)


def make_zip(files: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    srv = Server(tmp_path_factory.mktemp("faas") / "data").start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def lam(server: Server):  # type: ignore[no-untyped-def]
    return server.client()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """An end-to-end test's clients (boto3's pooled connections, urllib's) may leave a socket to a server that
    has stopped for the garbage collector to close, at whatever moment it runs, in whichever test: that
    ResourceWarning says nothing of the platform, which runs in a process of its own. Unit tests keep
    turning it into an error."""
    for item in items:
        if "/tests/e2e/" in str(item.path):
            item.add_marker(pytest.mark.filterwarnings("ignore::ResourceWarning"))
