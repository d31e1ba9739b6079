"""The faas CLI: parsing, help, packaging, discovery, and the client verbs against a small fake of the API."""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import os
import socket
import sys
import threading
import types
import zipfile
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from faas import cli, client, settings
from faas.errors import ConfigError
from faas.security import sigv4

KEY_ID, SECRET = "AKIDFAKE", "fake/secret+key"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith(("FAAS_", "AWS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    path = tmp_path / "data"
    path.mkdir()
    monkeypatch.setenv("FAAS_DATA_DIR", str(path))
    return path


def write_credentials(data_dir: Path, profile: str = "default", key_id: str = KEY_ID, secret: str = SECRET,
                      token: str | None = None) -> None:
    text = f"[{profile}]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"
    if token:
        text += f"aws_session_token = {token}\n"
    with open(data_dir / "credentials", "a") as handle:
        handle.write(text)


# --- help and parsing --------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [[], ["serve"], ["images"], ["images", "build"], ["deploy"], ["invoke"],
                                  ["ls"], ["rm"], ["logs"]])
def test_help_of_every_command_exits_0(argv, capsys):
    assert cli.main([*argv, "--help"]) == 0
    assert "usage: faas" in capsys.readouterr().out


def test_serve_help_names_every_setting(capsys):
    assert cli.main(["serve", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for setting in settings.SETTINGS:
        assert setting.env in out
        if setting.flag:
            assert setting.option in out


def test_no_command_prints_usage_and_fails(capsys):
    assert cli.main([]) == 2
    assert "usage: faas" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys):
    assert cli.main(["deploy", "somewhere"]) == 2  # --name, --runtime, --handler are required
    assert "required" in capsys.readouterr().err
    assert cli.main(["invoke", "f", "--payload", "{}", "--payload-file", "x"]) == 2


# --- serve and images build --------------------------------------------------------------------

def test_serve_passes_options_over_environment(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setitem(sys.modules, "faas.server", types.SimpleNamespace(run=lambda s: seen.append(s) or 7))
    monkeypatch.setattr("faas.server", sys.modules["faas.server"], raising=False)
    monkeypatch.setenv("FAAS_PORT", "9100")
    monkeypatch.setenv("FAAS_REGION", "eu-west-1")
    assert cli.main(["serve", "--port", "9200", "--data-dir", str(tmp_path)]) == 7
    (config,) = seen
    assert (config.port, config.region, config.data_dir, config.host) == (9200, "eu-west-1", tmp_path, "127.0.0.1")


def test_serve_bad_setting_exits_2(capsys):
    assert cli.main(["serve", "--port", "nine"]) == 2
    assert capsys.readouterr().err.startswith("error: FAAS_PORT='nine' is not valid")


def test_serve_startup_error_exits_2(monkeypatch, capsys):
    from faas.errors import StartupError

    def run(_settings):
        raise StartupError("Docker is not running: start it with 'dockerd &'")

    monkeypatch.setitem(sys.modules, "faas.server", types.SimpleNamespace(run=run))
    monkeypatch.setattr("faas.server", sys.modules["faas.server"], raising=False)
    assert cli.main(["serve"]) == 2
    assert capsys.readouterr().err == "error: Docker is not running: start it with 'dockerd &'\n"


def test_images_build_prints_refs(monkeypatch, capsys):
    import docker

    from faas.errors import StartupError

    calls = []
    known = {"python3.13": "faas/python3.13:abc", "nodejs20.x": "faas/nodejs20.x:def"}

    def ensure_images(docker_client, *, prefix, progress, runtimes=None, mirror=None):
        calls.append((docker_client, prefix, runtimes))
        progress("building python3.13")
        if runtimes and set(runtimes) - set(known):
            raise StartupError(f"unknown runtime {runtimes[0]!r}")
        return {r: ref for r, ref in known.items() if runtimes is None or r in runtimes}

    fake_docker = types.SimpleNamespace(ping=lambda: True)
    monkeypatch.setattr(docker, "from_env", lambda: fake_docker)
    monkeypatch.setitem(sys.modules, "faas.sandbox.images", types.SimpleNamespace(ensure_images=ensure_images))
    monkeypatch.setattr("faas.sandbox.images", sys.modules["faas.sandbox.images"], raising=False)
    monkeypatch.setenv("FAAS_IMAGE_PREFIX", "custom")
    assert cli.main(["images", "build"]) == 0
    out, err = capsys.readouterr()
    assert out == "nodejs20.x\tfaas/nodejs20.x:def\npython3.13\tfaas/python3.13:abc\n"
    assert "building python3.13" in err
    assert cli.main(["images", "build", "--runtime", "python3.13"]) == 0
    assert capsys.readouterr().out == "python3.13\tfaas/python3.13:abc\n"
    assert calls == [(fake_docker, "custom", None), (fake_docker, "custom", ["python3.13"])]
    assert cli.main(["images", "build", "--runtime", "cobol"]) == 2
    assert capsys.readouterr().err.endswith("error: unknown runtime 'cobol'\n")


def test_images_build_without_docker_exits_2(monkeypatch, capsys):
    import docker

    def from_env():
        raise docker.errors.DockerException("Error while fetching server API version")

    monkeypatch.setattr(docker, "from_env", from_env)
    assert cli.main(["images", "build"]) == 2
    assert "start dockerd first" in capsys.readouterr().err


# --- packaging ---------------------------------------------------------------------------------

def make_function_dir(root: Path) -> Path:
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "app.py").write_text("def handler(event, context):\n    return 1\n")
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "__pycache__" / "x.cpython-313.pyc").write_bytes(b"cache")
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    return root


def test_zip_is_deterministic_and_skips_caches(tmp_path):
    folder = make_function_dir(tmp_path / "fn")
    first = cli.zip_directory(folder)
    os.utime(folder / "app.py", (1_000_000, 1_000_000))
    (folder / "pkg" / "__pycache__" / "y.pyc").write_bytes(b"more cache")
    second = cli.zip_directory(folder)
    assert first == second
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert archive.namelist() == ["app.py", "pkg/__init__.py", "run.sh"]
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        assert modes["run.sh"] & 0o777 == 0o755 and modes["app.py"] & 0o777 == 0o644
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    (folder / "app.py").write_text("changed")
    assert cli.zip_directory(folder) != first


def test_code_sha256_is_base64_of_digest():
    assert cli.code_sha256(b"abc") == base64.b64encode(hashlib.sha256(b"abc").digest()).decode()


def test_read_code_accepts_zip_and_rejects_other_files(tmp_path):
    archive = tmp_path / "code.zip"
    archive.write_bytes(cli.zip_directory(make_function_dir(tmp_path / "fn")))
    assert cli.read_code(archive) == archive.read_bytes()
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ConfigError):
        cli.read_code(tmp_path / "notes.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no files"):
        cli.read_code(tmp_path / "empty")


def test_parse_env():
    assert cli.parse_env(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    with pytest.raises(ConfigError):
        cli.parse_env(["NOVALUE"])


# --- discovery ---------------------------------------------------------------------------------

def test_endpoint_discovery_order(tmp_path):
    assert client.discover_endpoint(tmp_path, {}, fallback="http://127.0.0.1:9000") == (
        "http://127.0.0.1:9000", f"FAAS_HOST/FAAS_PORT ({tmp_path / 'endpoint'} does not exist)")
    with pytest.raises(ConfigError, match="faas serve"):
        client.discover_endpoint(tmp_path, {})
    (tmp_path / "endpoint").write_text("http://10.0.0.5:9001/\n")
    assert client.discover_endpoint(tmp_path, {}) == ("http://10.0.0.5:9001", str(tmp_path / "endpoint"))
    env = {"FAAS_ENDPOINT_URL": "http://env:1"}
    assert client.discover_endpoint(tmp_path, env) == ("http://env:1", "FAAS_ENDPOINT_URL")
    assert client.discover_endpoint(tmp_path, env, "http://opt:2") == ("http://opt:2", "--endpoint-url")


@pytest.mark.parametrize("host,expected", [("127.0.0.1", "http://127.0.0.1:9000"), ("0.0.0.0", "http://127.0.0.1:9000"),
                                           ("::1", "http://[::1]:9000"), ("faas.local", "http://faas.local:9000")])
def test_default_endpoint_from_settings(host, expected):
    assert client.default_endpoint(settings.load({"FAAS_HOST": host})) == expected


def test_credentials_discovery(tmp_path):
    with pytest.raises(ConfigError, match="no credentials"):
        client.discover_credentials(tmp_path, {})
    write_credentials(tmp_path)
    write_credentials(tmp_path, "other", "AKIDOTHER", "s2", token="tok")
    assert client.discover_credentials(tmp_path, {}) == sigv4.Credentials(KEY_ID, SECRET)
    assert client.discover_credentials(tmp_path, {}, "other") == sigv4.Credentials("AKIDOTHER", "s2", "tok")
    env = {"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "senv", "AWS_SESSION_TOKEN": "t"}
    assert client.discover_credentials(tmp_path, env) == sigv4.Credentials("AKIDENV", "senv", "t")
    # An explicit profile wins over the environment, as in the AWS CLI.
    assert client.discover_credentials(tmp_path, env, "other").access_key_id == "AKIDOTHER"
    with pytest.raises(ConfigError, match="profiles: default, other"):
        client.discover_credentials(tmp_path, {}, "missing")


def test_credentials_repr_hides_secret():
    assert SECRET not in repr(sigv4.Credentials(KEY_ID, SECRET))


def test_client_from_environment_uses_data_dir_and_region(data_dir, monkeypatch):
    (data_dir / "endpoint").write_text("http://127.0.0.1:9555\n")
    write_credentials(data_dir)
    monkeypatch.setenv("FAAS_REGION", "ap-south-1")
    c = client.Client.from_environment()
    assert (c.endpoint_url, c.region, c.credentials.access_key_id) == ("http://127.0.0.1:9555", "ap-south-1", KEY_ID)


# --- a fake of the API -------------------------------------------------------------------------

class FakeLambda(http.server.BaseHTTPRequestHandler):
    """Just enough of the Lambda REST API and the native logs route; checks every signature."""

    functions: dict[str, dict] = {}
    requests: list[tuple[str, str]] = []

    def log_message(self, *args):  # keep test output clean
        pass

    def _reply(self, status, body=b"", headers=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", "x-amzn-RequestId": "req-1",
                            **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status, code, message):
        self._reply(status, {"Type": "User", "message": message}, {"x-amzn-ErrorType": code})

    def _verified(self, body: bytes) -> bool:
        auth = sigv4.parse_authorization(self.headers.get("Authorization", ""))
        url = urlsplit(self.path)
        canonical = sigv4.canonical_request(self.command, url.path, url.query, self.headers.items(),
                                            auth.signed_headers, sigv4.payload_hash(body))
        key = sigv4.signing_key(SECRET, auth.date, auth.region, auth.service)
        expected = sigv4.signature(key, sigv4.string_to_sign(self.headers["X-Amz-Date"], auth.scope, canonical))
        return auth.access_key_id == KEY_ID and sigv4.signatures_match(expected, auth.signature)

    def _handle(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.requests.append((self.command, self.path))
        if not self._verified(body):
            return self._error(403, "InvalidSignatureException", "signature mismatch")
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if parts[:2] == ["faas", "v1"] and parts[-1] == "logs":
            limit = int(query["limit"])
            return self._reply(200, {"Invocations": [
                {"RequestId": f"r{i}", "Start": "2024-01-01T00:00:00Z", "DurationMs": 1.5, "BilledDurationMs": 100,
                 "Outcome": "Success", "Cold": i == 0, "Log": f"START RequestId: r{i}\nREPORT RequestId: r{i}"}
                for i in range(limit)]})
        if parts[:2] != ["2015-03-31", "functions"]:
            return self._error(404, "UnknownOperationException", "no route")
        name = parts[2] if len(parts) > 2 else None
        if self.command == "POST" and name is None:
            request = json.loads(body)
            if request["FunctionName"] in self.functions:
                return self._error(409, "ResourceConflictException", "Function already exist")
            return self._reply(201, self._store(request["FunctionName"], request, request["Code"]["ZipFile"]))
        if self.command == "GET" and name is None:
            names = sorted(self.functions)
            start = names.index(query["Marker"]) if "Marker" in query else 0
            page = names[start:start + 2]
            result = {"Functions": [self.functions[n] for n in page]}
            if start + 2 < len(names):
                result["NextMarker"] = names[start + 2]
            return self._reply(200, result)
        if name not in self.functions:
            return self._error(404, "ResourceNotFoundException", f"Function not found: {name}")
        if self.command == "GET":
            return self._reply(200, {"Configuration": self.functions[name], "Code": {}})
        if self.command == "DELETE":
            del self.functions[name]
            return self._reply(204)
        if self.command == "PUT" and parts[-1] == "code":
            return self._reply(200, self._store(name, {}, json.loads(body)["ZipFile"]))
        if self.command == "PUT" and parts[-1] == "configuration":
            return self._reply(200, self._store(name, json.loads(body), None))
        if self.command == "POST" and parts[-1] == "invocations":
            headers = {"X-Amz-Executed-Version": "$LATEST"}
            if self.headers.get("X-Amz-Log-Type") == "Tail":
                headers["X-Amz-Log-Result"] = base64.b64encode(b"START RequestId: r\nhello log\n").decode()
            if name == "boom":
                headers["X-Amz-Function-Error"] = "Unhandled"
                return self._reply(200, {"errorMessage": "boom", "errorType": "Exception"}, headers)
            return self._reply(200, b'{"echo": ' + body + b"}", headers)
        return self._error(404, "UnknownOperationException", "no route")

    def _store(self, name, request, zip_b64):
        current = self.functions.setdefault(name, {
            "FunctionName": name, "FunctionArn": f"arn:aws:lambda:us-east-1:000000000000:function:{name}",
            "MemorySize": 128, "Timeout": 3, "LastModified": "2024-01-01T00:00:00.000+0000", "State": "Active"})
        current.update({k: v for k, v in request.items() if k not in ("Code", "FunctionName")})
        if zip_b64 is not None:
            code = base64.b64decode(zip_b64)
            current.update(CodeSha256=cli.code_sha256(code), CodeSize=len(code))
        return current

    do_GET = do_POST = do_PUT = do_DELETE = _handle


@pytest.fixture
def fake_api(data_dir):
    FakeLambda.functions = {}
    FakeLambda.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeLambda)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    (data_dir / "endpoint").write_text(f"http://127.0.0.1:{server.server_address[1]}\n")
    write_credentials(data_dir)
    yield FakeLambda
    server.shutdown()
    server.server_close()
    thread.join()


def test_deploy_creates_then_updates(fake_api, tmp_path, capsys):
    folder = make_function_dir(tmp_path / "fn")
    sha = cli.code_sha256(cli.zip_directory(folder))
    argv = ["deploy", str(folder), "--name", "hello", "--runtime", "python3.13", "--handler", "app.handler"]
    assert cli.main([*argv, "--memory", "256", "--env", "A=1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("created hello\n")
    assert "arn:aws:lambda:us-east-1:000000000000:function:hello" in out and sha in out
    stored = fake_api.functions["hello"]
    assert stored["Role"] == "arn:aws:iam::000000000000:role/faas-default"
    assert (stored["MemorySize"], stored["Environment"]) == (256, {"Variables": {"A": "1"}})

    # Same code: no upload; only the given options change, the env vars stay.
    fake_api.requests.clear()
    assert cli.main([*argv, "--timeout", "10"]) == 0
    assert capsys.readouterr().out.startswith("updated (code unchanged) hello\n")
    assert [m for m, p in fake_api.requests] == ["GET", "PUT"]
    assert (stored["Timeout"], stored["MemorySize"], stored["Environment"]) == (10, 256, {"Variables": {"A": "1"}})

    (folder / "app.py").write_text("def handler(e, c):\n    return 2\n")
    assert cli.main(argv) == 0
    assert capsys.readouterr().out.startswith("updated hello\n")
    assert stored["CodeSha256"] == cli.code_sha256(cli.zip_directory(folder)) != sha


def test_deploy_shows_progress_for_large_code(fake_api, tmp_path, capsys):
    folder = tmp_path / "big"
    folder.mkdir()
    (folder / "blob.bin").write_bytes(os.urandom(3 * 1024 * 1024))  # incompressible: a ~4 MB request
    argv = ["deploy", str(folder), "--name", "big", "--runtime", "python3.13", "--handler", "app.handler"]
    assert cli.main([*argv, "--progress"]) == 0
    err = capsys.readouterr().err
    assert "uploading " in err and "(100%)" in err
    assert len(err.splitlines()) <= 11  # one line per 10% when stderr is not a terminal
    assert cli.main([*argv]) == 0  # auto: stderr is not a terminal here
    assert "uploading" not in capsys.readouterr().err


def test_upload_progress_live_line():
    stream = io.StringIO()
    progress = client.UploadProgress(stream, live=True)
    progress(12_300_000, 40_000_000)
    progress(40_000_000, 40_000_000)
    assert stream.getvalue() == "\ruploading 12.3/40.0 MB (30%)\ruploading 40.0/40.0 MB (100%)\n"


def test_invoke_prints_result_and_log(fake_api, capsys):
    fake_api.functions["hello"] = {"FunctionName": "hello"}
    assert cli.main(["invoke", "hello", "--payload", '{"name": "x"}', "--log"]) == 0
    out, err = capsys.readouterr()
    assert out == '{"echo": {"name": "x"}}\n'
    assert err == "START RequestId: r\nhello log\n"
    assert cli.main(["invoke", "hello"]) == 0
    assert capsys.readouterr().out == '{"echo": {}}\n'


def test_invoke_payload_file_and_function_error(fake_api, tmp_path, capsys):
    fake_api.functions["boom"] = {"FunctionName": "boom"}
    event = tmp_path / "event.json"
    event.write_text('{"a": 1}')
    assert cli.main(["invoke", "boom", "--payload-file", str(event)]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out) == {"errorMessage": "boom", "errorType": "Exception"}
    assert "Unhandled" in err


def test_invoke_by_arn_is_encoded_and_signed(fake_api, capsys):
    fake_api.functions["000000000000:function:f"] = {}
    assert cli.main(["invoke", "000000000000:function:f"]) == 0
    assert fake_api.requests[-1] == ("POST", "/2015-03-31/functions/000000000000%3Afunction%3Af/invocations")


def test_ls_follows_markers_and_prints_a_table(fake_api, capsys):
    for name in ["c", "a", "b", "d", "e"]:
        fake_api.functions[name] = {"FunctionName": name, "Runtime": "python3.13", "MemorySize": 128,
                                    "Timeout": 3, "LastModified": "2024-01-01T00:00:00.000+0000"}
    assert cli.main(["ls"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "RUNTIME", "MEMORY", "TIMEOUT", "LAST", "MODIFIED"]
    assert [line.split()[0] for line in lines[1:]] == ["a", "b", "c", "d", "e"]
    assert lines[1].split() == ["a", "python3.13", "128", "MB", "3", "s", "2024-01-01T00:00:00.000+0000"]
    assert sum(1 for m, p in fake_api.requests if p.startswith("/2015-03-31/functions")) == 3


def test_rm_and_logs(fake_api, capsys):
    fake_api.functions["hello"] = {"FunctionName": "hello"}
    assert cli.main(["logs", "hello", "--limit", "2"]) == 0
    assert capsys.readouterr().out == ("START RequestId: r0\nREPORT RequestId: r0\n"
                                       "START RequestId: r1\nREPORT RequestId: r1\n")
    assert fake_api.requests[-1] == ("GET", "/faas/v1/functions/hello/logs?limit=2")
    assert cli.main(["rm", "hello"]) == 0
    assert capsys.readouterr().out == "deleted hello\n"
    assert "hello" not in fake_api.functions


def test_api_errors_are_printed_in_one_line(fake_api, capsys):
    assert cli.main(["rm", "nope"]) == 1
    assert capsys.readouterr().err == "error: ResourceNotFoundException: Function not found: nope\n"


def test_wrong_credentials_are_rejected_by_signature(fake_api, data_dir, monkeypatch, capsys):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    assert cli.main(["ls"]) == 1
    assert capsys.readouterr().err == "error: InvalidSignatureException: signature mismatch\n"


def test_refused_connection_prints_a_hint(data_dir, capsys):
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    write_credentials(data_dir)
    (data_dir / "endpoint").write_text(f"http://127.0.0.1:{port}\n")
    assert cli.main(["ls"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot connect to http://127.0.0.1:{port}: ")
    assert f"is 'faas serve' running? endpoint: http://127.0.0.1:{port}" in err


def test_missing_credentials_exit_2(data_dir, capsys):
    (data_dir / "endpoint").write_text("http://127.0.0.1:1\n")
    assert cli.main(["ls"]) == 2
    assert capsys.readouterr().err.startswith("error: no credentials")


def test_error_body_without_header_or_json():
    response = client.Response(502, {}, b"<html>bad gateway</html>")
    error = client._error_from(response)
    assert (error.code, error.message, error.status) == ("HTTP502", "<html>bad gateway</html>", 502)
    response = client.Response(400, {"x-amzn-errortype": "InvalidParameterValueException:http://x"},
                               b'{"Message": "bad"}')
    error = client._error_from(response)
    assert (error.code, error.message) == ("InvalidParameterValueException", "bad")
