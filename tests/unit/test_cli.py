"""The faas CLI: parsing, help, packaging, discovery, and the client verbs against a small fake of the API."""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import os
import socket
import ssl
import sys
import threading
import types
import zipfile
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from faas import cli, settings
from faas.cli import access, functions, identities, packaging, profiles, serve, variables
from faas.client import api, discovery, transport
from faas.errors import ConfigError
from faas.security import sigv4
from tests.support.tls import self_signed

KEY_ID, SECRET = "AKIDFAKE", "fake/secret+key"
DEV_ARN = "arn:aws:iam::000000000000:user/dev"


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

IDENTITY_COMMANDS = [
    ["principals"], ["principals", "create"], ["principals", "ls"], ["principals", "rm"],
    ["keys"], ["keys", "create"], ["keys", "ls"], ["keys", "disable"], ["keys", "enable"], ["keys", "rm"],
    ["keys", "rotate"], ["roles"], ["roles", "create"], ["roles", "ls"], ["roles", "rm"],
    ["policies"], ["policies", "put"], ["policies", "ls"], ["policies", "rm"],
    ["permissions"], ["permissions", "add"], ["permissions", "rm"], ["permissions", "get"], ["token"], ["audit"],
]


@pytest.mark.parametrize("argv", [[], ["serve"], ["images"], ["images", "build"], ["deploy"], ["invoke"],
                                  ["ls"], ["rm"], ["logs"], ["describe"], *IDENTITY_COMMANDS])
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
    assert cli.main(["deploy", "somewhere"]) == 2  # --name is needed without a template
    assert "deploy needs DIR and --name" in capsys.readouterr().err
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
    first = packaging.zip_directory(folder)
    os.utime(folder / "app.py", (1_000_000, 1_000_000))
    (folder / "pkg" / "__pycache__" / "y.pyc").write_bytes(b"more cache")
    second = packaging.zip_directory(folder)
    assert first == second
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert archive.namelist() == ["app.py", "pkg/__init__.py", "run.sh"]
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        assert modes["run.sh"] & 0o777 == 0o755 and modes["app.py"] & 0o777 == 0o644
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    (folder / "app.py").write_text("changed")
    assert packaging.zip_directory(folder) != first


def test_code_sha256_is_base64_of_digest():
    assert packaging.code_sha256(b"abc") == base64.b64encode(hashlib.sha256(b"abc").digest()).decode()


def test_read_code_accepts_zip_and_rejects_other_files(tmp_path):
    archive = tmp_path / "code.zip"
    archive.write_bytes(packaging.zip_directory(make_function_dir(tmp_path / "fn")))
    assert packaging.read_code(archive) == archive.read_bytes()
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ConfigError):
        packaging.read_code(tmp_path / "notes.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no files"):
        packaging.read_code(tmp_path / "empty")


def test_env_pairs_merge_into_the_current_variables():
    options = variables.VariableOptions(pairs=["A=1", "B=x=y", "C="])
    assert variables.desired_variables(options, {"A": "0", "D": "4"}) == {"A": "1", "B": "x=y", "C": "", "D": "4"}
    with pytest.raises(ConfigError):
        variables.desired_variables(variables.VariableOptions(pairs=["NOVALUE"]), {})


# --- discovery ---------------------------------------------------------------------------------

def test_endpoint_discovery_order(tmp_path):
    assert discovery.discover_endpoint(tmp_path, {}, fallback="http://127.0.0.1:9000") == (
        "http://127.0.0.1:9000", f"FAAS_HOST/FAAS_PORT ({tmp_path / 'endpoint'} does not exist)")
    with pytest.raises(ConfigError, match="faas serve"):
        discovery.discover_endpoint(tmp_path, {})
    (tmp_path / "endpoint").write_text("http://10.0.0.5:9001/\n")
    assert discovery.discover_endpoint(tmp_path, {}) == ("http://10.0.0.5:9001", str(tmp_path / "endpoint"))
    env = {"FAAS_ENDPOINT_URL": "http://env:1"}
    assert discovery.discover_endpoint(tmp_path, env) == ("http://env:1", "FAAS_ENDPOINT_URL")
    assert discovery.discover_endpoint(tmp_path, env, "http://opt:2") == ("http://opt:2", "--endpoint-url")


@pytest.mark.parametrize("host,expected", [("127.0.0.1", "http://127.0.0.1:9000"), ("0.0.0.0", "http://127.0.0.1:9000"),
                                           ("::1", "http://[::1]:9000"), ("faas.local", "http://faas.local:9000")])
def test_default_endpoint_from_settings(host, expected):
    assert discovery.default_endpoint(settings.load({"FAAS_HOST": host})) == expected
    tls = {"FAAS_HOST": host, "FAAS_TLS_CERT": "c.pem", "FAAS_TLS_KEY": "k.pem"}
    assert discovery.default_endpoint(settings.load(tls)) == expected.replace("http://", "https://")


def test_credentials_discovery(tmp_path):
    with pytest.raises(ConfigError, match="no credentials"):
        discovery.discover_credentials(tmp_path, {})
    write_credentials(tmp_path)
    write_credentials(tmp_path, "other", "AKIDOTHER", "s2", token="tok")
    assert discovery.discover_credentials(tmp_path, {})[0] == sigv4.Credentials(KEY_ID, SECRET)
    assert discovery.discover_credentials(tmp_path, {}, "other")[0] == sigv4.Credentials("AKIDOTHER", "s2", "tok")
    env = {"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "senv", "AWS_SESSION_TOKEN": "t"}
    assert discovery.discover_credentials(tmp_path, env)[0] == sigv4.Credentials("AKIDENV", "senv", "t")
    # An explicit profile wins over the environment, as in the AWS CLI.
    assert discovery.discover_credentials(tmp_path, env, "other")[0].access_key_id == "AKIDOTHER"
    with pytest.raises(ConfigError, match="profiles: default, other"):
        discovery.discover_credentials(tmp_path, {}, "missing")


def test_credentials_repr_hides_secret():
    assert SECRET not in repr(sigv4.Credentials(KEY_ID, SECRET))


def test_client_from_environment_uses_data_dir_and_region(data_dir, monkeypatch):
    (data_dir / "endpoint").write_text("http://127.0.0.1:9555\n")
    write_credentials(data_dir)
    monkeypatch.setenv("FAAS_REGION", "ap-south-1")
    c = api.Client.from_environment()
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
            current.update(CodeSha256=packaging.code_sha256(code), CodeSize=len(code))
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
    sha = packaging.code_sha256(packaging.zip_directory(folder))
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
    assert capsys.readouterr().out.startswith("updated hello: configuration (timeout)\n")
    assert [m for m, p in fake_api.requests] == ["GET", "PUT"]
    assert (stored["Timeout"], stored["MemorySize"], stored["Environment"]) == (10, 256, {"Variables": {"A": "1"}})

    # Nothing differs: nothing is sent but the read; no runtime or handler needed on an update.
    fake_api.requests.clear()
    assert cli.main(["deploy", str(folder), "--name", "hello", "--timeout", "10", "--env", "A=1"]) == 0
    assert capsys.readouterr().out.startswith("unchanged hello ")
    assert [m for m, p in fake_api.requests] == ["GET"]

    (folder / "app.py").write_text("def handler(e, c):\n    return 2\n")
    assert cli.main(argv) == 0
    assert capsys.readouterr().out.startswith("updated hello: code\n")
    assert stored["CodeSha256"] == packaging.code_sha256(packaging.zip_directory(folder)) != sha


def test_deploy_shows_progress_for_large_code(fake_api, tmp_path, capsys):
    folder = tmp_path / "big"
    folder.mkdir()
    (folder / "blob.bin").write_bytes(os.urandom(3 * 1024 * 1024))  # incompressible: a ~4 MB request
    (folder / "app.py").write_text("def handler(event, context):\n    pass\n")
    argv = ["deploy", str(folder), "--name", "big", "--runtime", "python3.13", "--handler", "app.handler"]
    assert cli.main([*argv, "--progress"]) == 0
    err = capsys.readouterr().err
    assert "uploading " in err and "(100%)" in err
    assert len(err.splitlines()) <= 11  # one line per 10% when stderr is not a terminal
    assert cli.main([*argv]) == 0  # auto: stderr is not a terminal here
    assert "uploading" not in capsys.readouterr().err


def test_upload_progress_live_line():
    stream = io.StringIO()
    progress = transport.UploadProgress(stream, live=True)
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


@pytest.mark.parametrize(("payload", "message", "excerpt"), [
    (b'{"a": 1 "b": 2}', "Expecting ',' delimiter at line 1, column 9", '  {"a": 1 "b": 2}\n          ^'),
    (b'{\n  "a": [1,\n\t2,]\n}', "at line 3, column 4", "  \t2,]\n     ^".replace("\t", " ")),
    (b"{'a': 1}", "Expecting property name enclosed in double quotes at line 1, column 2", "  {'a': 1}\n   ^"),
    (b'{"a": 1,\r\n', "at line 2, column 1", "  \n  ^"),  # the error is on the empty line after the last
])
def test_a_payload_error_shows_the_line_and_a_caret(payload, message, excerpt):
    error = functions.payload_error(payload, "--payload")
    assert error.startswith("the payload (--payload) is not valid JSON: ") and message in error
    assert error.endswith(excerpt)


def test_a_payload_error_on_a_long_line_shows_the_part_around_it():
    payload = b'{"k": "' + b"x" * 500 + b'" oops}'
    lines = functions.payload_error(payload, "event.json").splitlines()
    assert len(lines[1]) <= 2 + functions.PAYLOAD_EXCERPT and "oops" in lines[1]
    assert lines[1][lines[2].index("^")] == "o"


def test_payloads_that_need_no_error():
    assert functions.payload_error(b'{"a": [1, 2]}', "--payload") is None
    assert functions.payload_error(b"  \n", "--payload") is None  # empty: sent as it is
    assert "not UTF-8" in functions.payload_error(b'"\xff"', "stdin")


def test_invalid_json_is_refused_before_any_request(fake_api, capsys):
    fake_api.functions["hello"] = {"FunctionName": "hello"}
    assert cli.main(["invoke", "hello", "--payload", "{nope}"]) == 2
    assert "line 1, column 2" in capsys.readouterr().err
    assert fake_api.requests == []


def test_invoke_json_output(fake_api, capsys):
    fake_api.functions["hello"] = {"FunctionName": "hello"}
    assert cli.main(["invoke", "hello", "--payload", '{"n": 1}', "--log", "-o", "json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {"StatusCode": 200, "FunctionError": None, "Payload": {"echo": {"n": 1}},
                               "LogResult": "START RequestId: r\nhello log\n"}
    fake_api.functions["boom"] = {"FunctionName": "boom"}
    assert cli.main(["invoke", "boom", "-o", "json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["FunctionError"] == "Unhandled" and document["Payload"]["errorMessage"] == "boom"
    assert "LogResult" not in document


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
    assert capsys.readouterr().err == ("error: InvalidSignatureException: signature mismatch "
                                       "(credentials: AWS_ACCESS_KEY_ID from the environment)\n")


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


@pytest.fixture
def fake_tls_api(fake_api, data_dir, tmp_path):
    """The fake API behind HTTPS with a self-signed certificate; yields the certificate (its own CA)."""
    cert, key = self_signed(tmp_path / "tls")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeLambda)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    (data_dir / "endpoint").write_text(f"https://127.0.0.1:{server.server_address[1]}\n")
    yield cert
    server.shutdown()
    server.server_close()
    thread.join()


def test_https_endpoint_with_a_ca_bundle_option_or_aws_ca_bundle(fake_tls_api, monkeypatch, capsys):
    assert cli.main(["ls", "--ca-bundle", str(fake_tls_api)]) == 0
    assert "NAME" in capsys.readouterr().out
    monkeypatch.setenv("AWS_CA_BUNDLE", str(fake_tls_api))
    assert cli.main(["ls"]) == 0


def test_https_endpoint_not_trusted_names_the_fix(fake_tls_api, capsys):
    assert cli.main(["ls"]) == 2  # the system's CAs do not know a self-signed certificate
    err = capsys.readouterr().err
    assert "cannot verify the TLS certificate of https://127.0.0.1:" in err
    assert "--ca-bundle FILE or set AWS_CA_BUNDLE" in err


def test_unreadable_ca_bundle_is_a_config_error(fake_tls_api, tmp_path, capsys):
    assert cli.main(["ls", "--ca-bundle", str(tmp_path / "missing.pem")]) == 2
    assert "cannot read the CA bundle" in capsys.readouterr().err


def test_the_ca_bundle_replaces_the_system_cas_and_the_option_wins(tmp_path):
    cert, _ = self_signed(tmp_path)
    assert discovery.tls_context({"AWS_CA_BUNDLE": str(cert)}).cert_store_stats()["x509_ca"] == 1
    assert discovery.tls_context({"AWS_CA_BUNDLE": "/nonexistent.pem"}, str(cert)).cert_store_stats()["x509_ca"] == 1
    with pytest.raises(ConfigError, match="AWS_CA_BUNDLE"):
        discovery.tls_context({"AWS_CA_BUNDLE": "/nonexistent.pem"})


def test_missing_credentials_exit_2(data_dir, capsys):
    (data_dir / "endpoint").write_text("http://127.0.0.1:1\n")
    assert cli.main(["ls"]) == 2
    assert capsys.readouterr().err.startswith("error: no credentials")


def test_error_body_without_header_or_json():
    response = transport.Response(502, {}, b"<html>bad gateway</html>")
    error = transport._error_from(response, "profile default in /x")
    assert (error.code, error.message, error.status) == ("HTTP502", "<html>bad gateway</html>", 502)
    assert error.credentials_source == ""  # named on refusals (403) only
    response = transport.Response(400, {"x-amzn-errortype": "InvalidParameterValueException:http://x"},
                               b'{"Message": "bad"}')
    error = transport._error_from(response, "profile default in /x")
    assert (error.code, error.message) == ("InvalidParameterValueException", "bad")


# --- identity verbs: parsing and help ----------------------------------------------------------

def parse(*argv: str):
    return cli.build_parser().parse_args(list(argv))


def test_faas_help_lists_the_identity_verbs(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for verb in ("principals", "keys", "roles", "policies", "permissions", "token", "audit"):
        assert f"\n    {verb} " in out or f"\n    {verb}\n" in out, verb


def test_identity_groups_without_a_verb_print_usage(capsys):
    for group in ("principals", "keys", "roles", "policies", "permissions"):
        assert cli.main([group]) == 2
        assert f"usage: faas {group}" in capsys.readouterr().err


def test_identity_verbs_take_the_connection_options(capsys):
    args = parse("principals", "ls", "--endpoint-url", "http://h:1", "--data-dir", "/d", "--profile", "dev")
    assert (args.endpoint_url, args.data_dir, args.profile) == ("http://h:1", "/d", "dev")
    for argv in (["principals", "create", "--help"], ["keys", "disable", "--help"], ["policies", "put", "--help"],
                 ["permissions", "get", "--help"], ["token", "--help"], ["audit", "--help"]):
        assert cli.main(argv) == 0
        out = capsys.readouterr().out
        assert "--endpoint-url URL" in out and "--profile NAME" in out and "AWS_SHARED_CREDENTIALS_FILE" in out


def test_parse_principals_and_roles():
    args = parse("principals", "create", "ci")
    assert (args.name, args.kind, args.run) == ("ci", "user", identities.cmd_principals_create)
    assert parse("principals", "create", "ci", "--kind", "service").kind == "service"
    assert parse("principals", "rm", "ci").name == "ci"
    args = parse("roles", "create", "worker", "--description", "runs jobs")
    assert (args.name, args.description) == ("worker", "runs jobs")
    assert parse("roles", "create", "worker").description == ""
    assert parse("roles", "rm", "worker").run == identities.cmd_roles_rm


def test_parse_keys():
    args = parse("keys", "create", "dev", "--credentials-file", "/tmp/c", "--profile", "p")
    # --profile here names the profile to write; the connection uses the default credentials.
    assert (args.principal, args.credentials_file, args.credentials_profile, args.profile) == \
        ("dev", "/tmp/c", "p", None)
    assert parse("keys", "ls").principal is None
    assert parse("keys", "ls", "--principal", "dev").principal == "dev"
    disable, enable = parse("keys", "disable", "AKIA1"), parse("keys", "enable", "AKIA1")
    assert (disable.key_id, disable.enabled, enable.enabled) == ("AKIA1", False, True)
    assert parse("keys", "rm", "AKIA1").run == identities.cmd_keys_rm
    args = parse("keys", "rotate", "--data-dir", "/srv/faas", "--database-url", "postgresql://db/faas")
    assert (args.data_dir, args.database_url, args.run) == ("/srv/faas", "postgresql://db/faas",
                                                            serve.cmd_keys_rotate)


def test_keys_rotate_is_not_a_client_verb(capsys):
    assert cli.main(["keys", "rotate", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--data-dir DIR" in out and "--database-url URL" in out and "FAAS_DATABASE_URL" in out
    assert "--endpoint-url" not in out and "--profile" not in out


def test_parse_policies():
    args = parse("policies", "put", "--principal", "dev", "ListOnly", "--document", "{}")
    assert (args.principal, args.role, args.policy_name, args.document, args.file) == \
        ("dev", None, "ListOnly", "{}", None)
    args = parse("policies", "put", "--role", "worker", "P", "--file", "p.json")
    assert (args.principal, args.role, args.file) == (None, "worker", "p.json")
    assert parse("policies", "ls", "--role", "worker").role == "worker"
    args = parse("policies", "rm", "--principal", "dev", "P")
    assert (args.principal, args.policy_name) == ("dev", "P")


@pytest.mark.parametrize("argv", [
    ["policies", "put", "P", "--document", "{}"],  # no owner
    ["policies", "put", "--principal", "a", "--role", "b", "P", "--document", "{}"],  # two owners
    ["policies", "put", "--principal", "a", "P"],  # no document
    ["policies", "put", "--principal", "a", "P", "--document", "{}", "--file", "f"],  # two documents
    ["policies", "ls"],
    ["policies", "rm", "--role", "r"],
    ["principals", "create", "x", "--kind", "robot"],
    ["principals", "rm"],
    ["keys", "create"],
    ["keys", "disable"],
    ["keys", "rotate", "--endpoint-url", "http://h:1"],
    ["permissions", "add", "f", "--principal", "*"],  # no --statement-id
    ["permissions", "add", "f", "--statement-id", "s"],  # no --principal
    ["permissions", "add", "f", "--statement-id", "s", "--principal", "*", "--function-url-auth-type", "OPEN"],
    ["permissions", "rm", "f"],
    ["token", "--ttl", "an hour"],
    ["audit", "--limit", "many"],
])
def test_identity_usage_errors_exit_2(argv, capsys):
    assert cli.main(argv) == 2
    assert "usage: faas" in capsys.readouterr().err


def test_parse_permissions_token_audit():
    args = parse("permissions", "add", "fn", "--statement-id", "s1", "--principal", DEV_ARN)
    assert (args.function, args.statement_id, args.action, args.principal, args.source_arn,
            args.function_url_auth_type) == ("fn", "s1", "lambda:InvokeFunction", DEV_ARN, None, None)
    args = parse("permissions", "add", "fn", "--statement-id", "u", "--action", "lambda:InvokeFunctionUrl",
                 "--principal", "*", "--function-url-auth-type", "NONE", "--source-arn", "arn:aws:s3:::b")
    assert (args.action, args.function_url_auth_type, args.source_arn) == ("lambda:InvokeFunctionUrl", "NONE",
                                                                         "arn:aws:s3:::b")
    args = parse("permissions", "rm", "fn", "s1")
    assert (args.function, args.statement_id) == ("fn", "s1")
    assert parse("permissions", "get", "fn").function == "fn"
    assert parse("token").ttl == 3600 and parse("token", "--ttl", "120").ttl == 120
    args = parse("audit")
    assert (args.principal, args.action, args.since, args.limit) == (None, None, None, None)
    args = parse("audit", "--principal", "dev", "--action", "faas:CreatePrincipal", "--since", "2024-01-01T00:00:00",
                 "--limit", "5")
    assert (args.principal, args.action, args.since, args.limit) == ("dev", "faas:CreatePrincipal",
                                                                    "2024-01-01T00:00:00", 5)


# --- identity verbs: pure helpers --------------------------------------------------------------

def test_upsert_profile_appends_and_replaces_in_place():
    assert profiles.upsert_profile("", "dev", "AK1", "s1") == \
        "[dev]\naws_access_key_id = AK1\naws_secret_access_key = s1\n"
    existing = ("# my keys\n[default]\naws_access_key_id = A\naws_secret_access_key = a\n\n"
                "[dev]\naws_access_key_id = OLD\naws_secret_access_key = old\nregion = x\n\n"
                "[prod]\naws_access_key_id = P\naws_secret_access_key = p")
    replaced = profiles.upsert_profile(existing, "dev", "AK2", "s2")
    assert replaced == ("# my keys\n[default]\naws_access_key_id = A\naws_secret_access_key = a\n\n"
                        "[dev]\naws_access_key_id = AK2\naws_secret_access_key = s2\n\n"
                        "[prod]\naws_access_key_id = P\naws_secret_access_key = p")
    appended = profiles.upsert_profile(existing, "ci", "AK3", "s3")
    assert appended.startswith(existing + "\n\n[ci]\n")
    import configparser

    parser = configparser.ConfigParser()
    parser.read_string(appended)
    assert parser.sections() == ["default", "dev", "prod", "ci"]
    assert dict(parser["ci"]) == {"aws_access_key_id": "AK3", "aws_secret_access_key": "s3"}


def test_write_private_replaces_the_file_with_mode_0600(tmp_path):
    path = tmp_path / "aws" / "credentials"
    assert profiles.read_credentials_text(path) == ""
    profiles.write_private(path, "[a]\n")
    assert path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o644)
    profiles.write_private(path, "[b]\n")
    assert (path.read_text(), path.stat().st_mode & 0o777) == ("[b]\n", 0o600)
    assert [p.name for p in path.parent.iterdir()] == ["credentials"]  # no temp file left behind
    with pytest.raises(ConfigError, match="cannot read"):
        profiles.read_credentials_text(path.parent)


def test_read_policy_document(tmp_path, monkeypatch):
    document = {"Version": "2012-10-17", "Statement": []}
    assert access.read_policy_document(json.dumps(document), None) == document
    (tmp_path / "p.json").write_text(json.dumps(document))
    assert access.read_policy_document(None, str(tmp_path / "p.json")) == document
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(document)))
    assert access.read_policy_document(None, "-") == document
    with pytest.raises(ConfigError, match="--document is not JSON"):
        access.read_policy_document("{nope", None)
    with pytest.raises(ConfigError, match="must be a JSON object"):
        access.read_policy_document("[]", None)
    with pytest.raises(ConfigError, match="cannot read"):
        access.read_policy_document(None, str(tmp_path / "missing.json"))


def test_audit_principal_takes_names_or_arns():
    assert access.audit_principal(None, "000000000000") is None
    assert access.audit_principal("dev", "123456789012") == "arn:aws:iam::123456789012:user/dev"
    arn = "arn:aws:sts::000000000000:assumed-role/r/f"
    assert access.audit_principal(arn, "000000000000") == arn
    assert access.audit_principal("anonymous", "000000000000") == "anonymous"


def test_shared_credentials_file_env_replaces_the_data_dir_file(tmp_path):
    write_credentials(tmp_path)
    shared = tmp_path / "shared"
    shared.write_text(profiles.profile_text("dev", "AKIADEV", "sdev"))
    env = {"AWS_SHARED_CREDENTIALS_FILE": str(shared)}
    assert discovery.discover_credentials(tmp_path, env, "dev")[0] == sigv4.Credentials("AKIADEV", "sdev")
    with pytest.raises(ConfigError, match=f"not in {shared}"):
        discovery.discover_credentials(tmp_path, env)  # no 'default' profile in that file
    with pytest.raises(ConfigError, match="AWS_SHARED_CREDENTIALS_FILE"):
        discovery.discover_credentials(tmp_path, {"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")})
    assert discovery.discover_credentials(tmp_path, {})[0] == sigv4.Credentials(KEY_ID, SECRET)


# --- identity verbs against a fake of the API --------------------------------------------------

class FakeIdentities(FakeLambda):
    """Canned answers by (method, path); records what was sent; checks every signature."""

    answers: dict[tuple[str, str], tuple[int, object]] = {}
    sent: list[tuple[str, str, object]] = []

    def _handle(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self._verified(body):
            return self._error(403, "InvalidSignatureException", "signature mismatch")
        self.sent.append((self.command, self.path, json.loads(body) if body else None))
        answer = self.answers.get((self.command, urlsplit(self.path).path))
        if answer is None:
            return self._error(404, "ResourceNotFoundException", f"nothing at {self.command} {self.path}")
        status, reply = answer
        return self._reply(status, b"" if reply is None else reply)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


@pytest.fixture
def fake_identities(data_dir):
    FakeIdentities.answers = {}
    FakeIdentities.sent = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeIdentities)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    (data_dir / "endpoint").write_text(f"http://127.0.0.1:{server.server_address[1]}\n")
    write_credentials(data_dir)
    yield FakeIdentities
    server.shutdown()
    server.server_close()
    thread.join()



def test_principals_verbs(fake_identities, capsys):
    fake_identities.answers = {
        ("POST", "/faas/v1/principals"): (201, {"Name": "dev", "Kind": "service", "Arn": DEV_ARN, "CreatedAt": "t1"}),
        ("GET", "/faas/v1/principals"): (200, {"Principals": [
            {"Name": "admin", "Kind": "user", "Arn": "arn:aws:iam::000000000000:user/admin", "CreatedAt": "t0"},
            {"Name": "dev", "Kind": "service", "Arn": DEV_ARN, "CreatedAt": "t1"}]}),
        ("DELETE", "/faas/v1/principals/dev"): (204, None),
    }
    assert cli.main(["principals", "create", "dev", "--kind", "service"]) == 0
    assert capsys.readouterr().out == f"created principal dev ({DEV_ARN})\n"
    assert fake_identities.sent[-1] == ("POST", "/faas/v1/principals", {"Name": "dev", "Kind": "service"})
    assert cli.main(["principals", "ls"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "ARN", "CREATED"]
    assert lines[2].split() == ["dev", "service", DEV_ARN, "t1"]
    assert cli.main(["principals", "rm", "dev"]) == 0
    assert capsys.readouterr().out == "deleted principal dev\n"
    assert cli.main(["principals", "rm", "ghost"]) == 1
    assert capsys.readouterr().err == "error: ResourceNotFoundException: nothing at DELETE /faas/v1/principals/ghost\n"


def test_keys_create_prints_the_secret_once_with_a_profile(fake_identities, capsys):
    fake_identities.answers = {("POST", "/faas/v1/principals/dev/keys"): (
        201, {"AccessKeyId": "AKIADEV", "SecretAccessKey": "s3cret", "Principal": "dev"})}
    assert cli.main(["keys", "create", "dev"]) == 0
    out, err = capsys.readouterr()
    assert out == ("AccessKeyId:     AKIADEV\nSecretAccessKey: s3cret\n\n"
                   "[dev]\naws_access_key_id = AKIADEV\naws_secret_access_key = s3cret\n")
    assert "only this once" in err
    assert cli.main(["keys", "create", "dev", "--profile", "mine"]) == 0
    assert "\n[mine]\naws_access_key_id = AKIADEV\n" in capsys.readouterr().out


def test_keys_create_writes_the_profile_instead(fake_identities, tmp_path, capsys):
    fake_identities.answers = {("POST", "/faas/v1/principals/dev/keys"): (
        201, {"AccessKeyId": "AKIADEV", "SecretAccessKey": "s3cret", "Principal": "dev"})}
    path = tmp_path / "creds"
    path.write_text("[dev]\naws_access_key_id = OLD\naws_secret_access_key = old\n[other]\naws_access_key_id = O\n")
    assert cli.main(["keys", "create", "dev", "--credentials-file", str(path), "--profile", "dev"]) == 0
    out, err = capsys.readouterr()
    assert out == f"created access key AKIADEV for dev\nwrote profile [dev] to {path}\n"
    assert "s3cret" not in out + err
    assert discovery.read_shared_credentials(path, "dev") == sigv4.Credentials("AKIADEV", "s3cret")
    assert "[other]\naws_access_key_id = O\n" in path.read_text() and path.stat().st_mode & 0o777 == 0o600

    link = tmp_path / "link"
    link.symlink_to(path)
    assert cli.main(["keys", "create", "dev", "--credentials-file", str(link)]) == 0  # profile: the principal's name
    assert capsys.readouterr().out.endswith(f"wrote profile [dev] to {path}\n")
    assert link.is_symlink()


def test_keys_create_unreadable_file_fails_before_a_key_is_made(fake_identities, tmp_path, capsys):
    assert cli.main(["keys", "create", "dev", "--credentials-file", str(tmp_path)]) == 2  # a directory
    assert capsys.readouterr().err.startswith(f"error: cannot read {tmp_path}")
    assert fake_identities.sent == []


def test_keys_create_unwritable_file_names_the_lost_key(fake_identities, tmp_path, monkeypatch, capsys):
    fake_identities.answers = {("POST", "/faas/v1/principals/dev/keys"): (
        201, {"AccessKeyId": "AKIADEV", "SecretAccessKey": "s3cret", "Principal": "dev"})}

    def replace(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", replace)
    path = tmp_path / "aws" / "creds"
    assert cli.main(["keys", "create", "dev", "--credentials-file", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "s3cret" not in err
    assert err == (f"error: cannot write {path}: Permission denied; access key AKIADEV was created "
                   "but its secret is lost: delete it with 'faas keys rm AKIADEV'\n")
    assert list(path.parent.iterdir()) == []  # no temp file left behind


def test_keys_ls_enable_disable_rm(fake_identities, capsys):
    fake_identities.answers = {
        ("GET", "/faas/v1/keys"): (200, {"AccessKeys": [
            {"AccessKeyId": "AKIADEV", "Principal": "dev", "Status": "Inactive", "CreatedAt": "t1"}]}),
        ("PATCH", "/faas/v1/keys/AKIADEV"): (200, {"AccessKeyId": "AKIADEV", "Enabled": True}),
        ("DELETE", "/faas/v1/keys/AKIADEV"): (204, None),
    }
    assert cli.main(["keys", "ls", "--principal", "dev"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ACCESS", "KEY", "ID", "PRINCIPAL", "STATUS", "CREATED"]
    assert lines[1].split() == ["AKIADEV", "dev", "Inactive", "t1"]
    assert fake_identities.sent[-1][1] == "/faas/v1/keys?principal=dev"
    assert cli.main(["keys", "ls"]) == 0
    assert fake_identities.sent[-1][1] == "/faas/v1/keys"
    capsys.readouterr()
    assert cli.main(["keys", "disable", "AKIADEV"]) == 0
    assert fake_identities.sent[-1] == ("PATCH", "/faas/v1/keys/AKIADEV", {"Enabled": False})
    assert cli.main(["keys", "enable", "AKIADEV"]) == 0
    assert fake_identities.sent[-1] == ("PATCH", "/faas/v1/keys/AKIADEV", {"Enabled": True})
    assert cli.main(["keys", "rm", "AKIADEV"]) == 0
    assert capsys.readouterr().out == ("disabled access key AKIADEV\nenabled access key AKIADEV\n"
                                       "deleted access key AKIADEV\n")


def test_keys_rotate_runs_the_rotation_with_serve_settings(monkeypatch, tmp_path, capsys):
    seen = []

    async def rotate_master_key(settings, progress):
        seen.append(settings)
        progress("re-wrapped 3 secrets")
        return "k2"

    fake = types.SimpleNamespace(rotate_master_key=rotate_master_key)
    monkeypatch.setitem(sys.modules, "faas.rotation", fake)
    monkeypatch.setattr("faas.rotation", fake, raising=False)
    monkeypatch.setenv("FAAS_DATABASE_URL", "sqlite:////elsewhere.db")
    assert cli.main(["keys", "rotate", "--data-dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert (out, err) == ("new master key: k2\n", "re-wrapped 3 secrets\n")
    (config,) = seen
    assert (config.data_dir, config.database_url) == (tmp_path, "sqlite:////elsewhere.db")
    assert cli.main(["keys", "rotate", "--data-dir", str(tmp_path), "--database-url", "postgresql://db/x"]) == 0
    assert seen[-1].database_url == "postgresql://db/x"


def test_keys_rotate_errors_are_printed(monkeypatch, capsys):
    async def rotate_master_key(settings, progress):
        raise ConfigError("the master key comes from FAAS_MASTER_KEY")

    fake = types.SimpleNamespace(rotate_master_key=rotate_master_key)
    monkeypatch.setitem(sys.modules, "faas.rotation", fake)
    monkeypatch.setattr("faas.rotation", fake, raising=False)
    assert cli.main(["keys", "rotate"]) == 2
    assert capsys.readouterr().err == "error: the master key comes from FAAS_MASTER_KEY\n"


def test_roles_verbs(fake_identities, capsys):
    role_arn = "arn:aws:iam::000000000000:role/worker"
    fake_identities.answers = {
        ("POST", "/faas/v1/roles"): (201, {"Name": "worker", "Arn": role_arn, "Description": "d", "CreatedAt": "t"}),
        ("GET", "/faas/v1/roles"): (200, {"Roles": [{"Name": "worker", "Arn": role_arn, "Description": "runs jobs",
                                                     "CreatedAt": "t"}]}),
        ("DELETE", "/faas/v1/roles/worker"): (204, None),
    }
    assert cli.main(["roles", "create", "worker", "--description", "d"]) == 0
    assert fake_identities.sent[-1] == ("POST", "/faas/v1/roles", {"Name": "worker", "Description": "d"})
    assert capsys.readouterr().out == f"created role worker ({role_arn})\n"
    assert cli.main(["roles", "ls"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "ARN", "CREATED", "DESCRIPTION"]
    assert lines[1].split() == ["worker", role_arn, "t", "runs", "jobs"]
    assert cli.main(["roles", "rm", "worker"]) == 0
    assert capsys.readouterr().out == "deleted role worker\n"


def test_policies_verbs(fake_identities, tmp_path, capsys):
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:ListFunctions",
                                                         "Resource": "*"}]}
    fake_identities.answers = {
        ("PUT", "/faas/v1/principals/dev/policies/ListOnly"): (200, {"PolicyName": "ListOnly",
                                                                      "PolicyDocument": document}),
        ("PUT", "/faas/v1/roles/worker/policies/W"): (200, {"PolicyName": "W", "PolicyDocument": document}),
        ("GET", "/faas/v1/roles/worker/policies"): (200, {"Policies": {"W": document}}),
        ("DELETE", "/faas/v1/principals/dev/policies/ListOnly"): (204, None),
    }
    assert cli.main(["policies", "put", "--principal", "dev", "ListOnly", "--document", json.dumps(document)]) == 0
    assert fake_identities.sent[-1] == ("PUT", "/faas/v1/principals/dev/policies/ListOnly",
                                        {"PolicyDocument": document})
    (tmp_path / "w.json").write_text(json.dumps(document))
    assert cli.main(["policies", "put", "--role", "worker", "W", "--file", str(tmp_path / "w.json")]) == 0
    assert fake_identities.sent[-1][2] == {"PolicyDocument": document}
    assert capsys.readouterr().out == "put policy ListOnly on principal dev\nput policy W on role worker\n"
    assert cli.main(["policies", "ls", "--role", "worker"]) == 0
    assert json.loads(capsys.readouterr().out) == {"W": document}
    assert cli.main(["policies", "rm", "--principal", "dev", "ListOnly"]) == 0
    assert capsys.readouterr().out == "deleted policy ListOnly of principal dev\n"

    sent = len(fake_identities.sent)
    assert cli.main(["policies", "put", "--principal", "dev", "P", "--document", "{'single': 'quotes'}"]) == 2
    assert capsys.readouterr().err.startswith("error: the policy in --document is not JSON")
    assert len(fake_identities.sent) == sent  # refused before any request


def test_permissions_verbs(fake_identities, capsys):
    statement = {"Sid": "dev", "Effect": "Allow", "Principal": {"AWS": DEV_ARN}, "Action": "lambda:InvokeFunction",
                 "Resource": "arn:aws:lambda:us-east-1:000000000000:function:fn"}
    fake_identities.answers = {
        ("POST", "/2015-03-31/functions/fn/policy"): (201, {"Statement": json.dumps(statement)}),
        ("GET", "/2015-03-31/functions/fn/policy"): (200, {"Policy": json.dumps(
            {"Version": "2012-10-17", "Id": "default", "Statement": [statement]}), "RevisionId": "r"}),
        ("DELETE", "/2015-03-31/functions/fn/policy/dev"): (204, None),
    }
    assert cli.main(["permissions", "add", "fn", "--statement-id", "dev", "--principal", DEV_ARN]) == 0
    assert fake_identities.sent[-1] == ("POST", "/2015-03-31/functions/fn/policy", {
        "StatementId": "dev", "Action": "lambda:InvokeFunction", "Principal": DEV_ARN})
    assert json.loads(capsys.readouterr().out) == statement
    assert cli.main(["permissions", "add", "fn", "--statement-id", "dev", "--principal", DEV_ARN,
                     "--source-arn", "arn:aws:s3:::b"]) == 0
    assert fake_identities.sent[-1][2]["SourceArn"] == "arn:aws:s3:::b"
    assert cli.main(["permissions", "add", "fn", "--statement-id", "via-url", "--principal", "*",
                     "--invoked-via-function-url"]) == 0
    assert fake_identities.sent[-1][2] == {"StatementId": "via-url", "Action": "lambda:InvokeFunction",
                                           "Principal": "*", "InvokedViaFunctionUrl": True}
    capsys.readouterr()
    assert cli.main(["permissions", "show", "fn"]) == 0
    assert json.loads(capsys.readouterr().out)["Statement"] == [statement]
    assert cli.main(["permissions", "rm", "fn", "dev"]) == 0
    assert capsys.readouterr().out == "removed statement dev from fn\n"


URL_CONFIG = {"FunctionUrl": "http://abcdefghijklmnopqrstuvwxyz012345.lambda-url.localhost:9000/",
              "FunctionArn": "arn:aws:lambda:us-east-1:000000000000:function:fn", "AuthType": "NONE"}
PUBLIC_URL_PERMISSIONS = [
    {"StatementId": "FunctionURLAllowPublicAccess", "Action": "lambda:InvokeFunctionUrl", "Principal": "*",
     "FunctionUrlAuthType": "NONE"},
    {"StatementId": "FunctionURLAllowInvokeAction", "Action": "lambda:InvokeFunction", "Principal": "*",
     "InvokedViaFunctionUrl": True},
]


def fake_identities_port(out: str) -> str:
    return out.splitlines()[1].split(":")[2].split("/")[0]


def test_url_get_prints_both_urls_and_how_to_call_an_aws_iam_url(fake_identities, capsys):
    fake_identities.answers = {("GET", "/2021-10-31/functions/fn/url"): (200, {**URL_CONFIG, "AuthType": "AWS_IAM"})}
    assert cli.main(["url", "get", "fn", "-o", "json"]) == 0
    out, err = capsys.readouterr()
    document = json.loads(out)
    assert document["AuthType"] == "AWS_IAM"
    assert document["PathStyleUrl"].endswith("/lambda-url/abcdefghijklmnopqrstuvwxyz012345/")
    assert "Authorization: Bearer $(faas token)" in err and 'curl --aws-sigv4 "aws:amz:us-east-1:lambda"' in err


def test_url_create_none_adds_the_two_statements_a_public_url_needs(fake_identities, capsys):
    fake_identities.answers = {
        ("POST", "/2021-10-31/functions/fn/url"): (201, URL_CONFIG),
        ("POST", "/2015-03-31/functions/fn/policy"): (201, {"Statement": "{}"}),
    }
    assert cli.main(["url", "create", "fn", "--auth-type", "NONE"]) == 0
    out, err = capsys.readouterr()
    port = fake_identities_port(out)
    assert out == f"{URL_CONFIG['FunctionUrl']}\nhttp://127.0.0.1:{port}/lambda-url/abcdefghijklmnopqrstuvwxyz012345/\n"
    assert "auth type NONE" in err
    assert [body for _, _, body in fake_identities.sent] == [{"AuthType": "NONE"}, *PUBLIC_URL_PERMISSIONS]

    # AWS_IAM adds nothing: callers' own policies (or statements naming them) grant it
    fake_identities.sent.clear()
    assert cli.main(["url", "create", "fn", "--auth-type", "AWS_IAM"]) == 0
    assert [body for _, _, body in fake_identities.sent] == [{"AuthType": "AWS_IAM"}]


def test_url_create_none_keeps_statements_left_by_an_earlier_url(fake_identities, capsys):
    fake_identities.answers = {
        ("POST", "/2021-10-31/functions/fn/url"): (201, URL_CONFIG),
        ("POST", "/2015-03-31/functions/fn/policy"): (409, {
            "__type": "ResourceConflictException", "message": "The statement id provided already exists."}),
    }
    assert cli.main(["url", "create", "fn", "--auth-type", "NONE"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == URL_CONFIG["FunctionUrl"]
    assert "kept the statement FunctionURLAllowPublicAccess" in err and "FunctionURLAllowInvokeAction" in err


def test_url_create_none_says_when_the_url_stays_closed(fake_identities, capsys):
    fake_identities.answers = {
        ("POST", "/2021-10-31/functions/fn/url"): (201, URL_CONFIG),
        ("POST", "/2015-03-31/functions/fn/policy"): (403, {"__type": "AccessDeniedException",
                                                            "message": "not allowed"}),
    }
    assert cli.main(["url", "create", "fn", "--auth-type", "NONE"]) == 1
    err = capsys.readouterr().err
    assert f"the URL {URL_CONFIG['FunctionUrl']} was created, but it answers 403" in err
    assert "FunctionURLAllowPublicAccess failed" in err


TOKEN = {"TokenId": "tok-0123456789abcdef", "Principal": "dev", "AccessKeyId": "AKIADEV",
         "CreatedAt": "2030-01-01T00:00:00+00:00", "Expiration": "2030-01-01T01:00:00+00:00"}


def test_token_prints_only_the_token_on_stdout(fake_identities, capsys):
    fake_identities.answers = {("POST", "/faas/v1/tokens"): (201, {"Token": "faas_abc", **TOKEN})}
    assert cli.main(["token", "--ttl", "120"]) == 0
    assert capsys.readouterr() == ("faas_abc\n", "token tok-0123456789abcdef expires 2030-01-01T01:00:00+00:00; "
                                                 "it dies with access key AKIADEV\n")
    assert fake_identities.sent[-1] == ("POST", "/faas/v1/tokens", {"TtlSeconds": 120})
    assert cli.main(["token", "create", "--ttl", "90"]) == 0
    assert capsys.readouterr().out == "faas_abc\n"
    assert fake_identities.sent[-1] == ("POST", "/faas/v1/tokens", {"TtlSeconds": 90})


def test_token_ls_and_revoke(fake_identities, capsys):
    fake_identities.answers = {("GET", "/faas/v1/tokens"): (200, {"Tokens": [TOKEN]}),
                               ("DELETE", "/faas/v1/tokens/tok-0123456789abcdef"): (204, None)}
    assert cli.main(["token", "ls", "--principal", "dev"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["TOKEN", "ID", "PRINCIPAL", "ACCESS", "KEY", "ID", "CREATED", "EXPIRES"]
    assert lines[1].split() == ["tok-0123456789abcdef", "dev", "AKIADEV", TOKEN["CreatedAt"], TOKEN["Expiration"]]
    method, path, _ = fake_identities.sent[-1]
    assert (method, urlsplit(path).path, parse_qs(urlsplit(path).query)) == \
        ("GET", "/faas/v1/tokens", {"principal": ["dev"]})
    assert cli.main(["token", "ls"]) == 0  # the caller's own: no principal sent
    assert urlsplit(fake_identities.sent[-1][1]).query == ""
    capsys.readouterr()
    assert cli.main(["token", "revoke", "tok-0123456789abcdef"]) == 0
    assert fake_identities.sent[-1][:2] == ("DELETE", "/faas/v1/tokens/tok-0123456789abcdef")
    assert capsys.readouterr().out == "revoked token tok-0123456789abcdef\n"


def test_audit_prints_a_table_oldest_first(fake_identities, capsys):
    entry = {"Principal": "arn:aws:iam::000000000000:user/admin", "Resource": DEV_ARN, "Status": 201,
             "Outcome": "allowed", "RequestId": "r", "SourceIp": "127.0.0.1"}
    fake_identities.answers = {("GET", "/faas/v1/audit"): (200, {"Entries": [  # newest first, as the server sends
        {**entry, "Time": "2024-01-01T00:00:02+00:00", "Action": "faas:DeletePrincipal", "Status": 204},
        {**entry, "Time": "2024-01-01T00:00:01+00:00", "Action": "faas:CreatePrincipal"}]})}
    assert cli.main(["audit", "--principal", "admin", "--action", "faas:CreatePrincipal", "--since",
                     "2024-01-01T00:00:00+00:00", "--limit", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["TIME", "PRINCIPAL", "ACTION", "RESOURCE", "STATUS", "OUTCOME"]
    assert lines[1].split() == ["2024-01-01T00:00:01+00:00", entry["Principal"], "faas:CreatePrincipal", DEV_ARN,
                                "201", "allowed"]
    assert lines[2].split()[2:5] == ["faas:DeletePrincipal", DEV_ARN, "204"]
    method, path, _ = fake_identities.sent[-1]
    assert (method, urlsplit(path).path) == ("GET", "/faas/v1/audit")
    assert parse_qs(urlsplit(path).query) == {"principal": ["arn:aws:iam::000000000000:user/admin"],
                                             "action": ["faas:CreatePrincipal"],
                                             "since": ["2024-01-01T00:00:00+00:00"], "limit": ["2"]}
    fake_identities.answers = {("GET", "/faas/v1/audit"): (200, {"Entries": []})}
    assert cli.main(["audit"]) == 0
    assert capsys.readouterr().out.split() == ["TIME", "PRINCIPAL", "ACTION", "RESOURCE", "STATUS", "OUTCOME"]
    assert fake_identities.sent[-1][1] == "/faas/v1/audit"


def test_identity_errors_are_printed_in_one_line(fake_identities, capsys):
    assert cli.main(["roles", "rm", "ghost"]) == 1
    assert capsys.readouterr().err == "error: ResourceNotFoundException: nothing at DELETE /faas/v1/roles/ghost\n"
