"""`faas serve --tls-cert --tls-key` with a certificate made at test time: boto3, the faas CLI, the AWS CLI
and function URLs over HTTPS with the certificate as their CA bundle; plain HTTP on that port gets nothing."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import docker
import pytest
from botocore.exceptions import SSLError

from tests.e2e.conftest import REPO, ROLE, Server, make_zip, unique
from tests.support.tls import self_signed

pytestmark = pytest.mark.docker

# Returns what a function sees of the platform, and calls it back on AWS_ENDPOINT_URL (the bridge endpoint).
HANDLER = """
import json, os, urllib.request

def handler(event, context):
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    with urllib.request.urlopen(endpoint + "/health", timeout=5) as response:
        health = response.status
    if "rawPath" in event:
        return {"statusCode": 200, "body": json.dumps({"path": event["rawPath"]})}
    return {"endpoint": endpoint, "health": health, "echo": event.get("n")}
"""


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tls_files):  # type: ignore[no-untyped-def]
    cert, key = tls_files
    srv = Server(tmp_path_factory.mktemp("faas") / "data", ca_bundle=cert,
                 extra_env={"FAAS_TLS_CERT": str(cert), "FAAS_TLS_KEY": str(key)}).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def function(lam) -> str:  # type: ignore[no-untyped-def]
    name = unique("tls")
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": HANDLER})})
    return name


def test_the_endpoint_is_https_and_boto3_works_with_the_certificate_as_ca(server, lam, function, tls_files) \
        -> None:  # type: ignore[no-untyped-def]
    assert server.endpoint.startswith("https://127.0.0.1:")
    assert "over plain HTTP" not in server.output()
    response = lam.invoke(FunctionName=function, Payload=b'{"n": 1}')
    result = json.loads(response["Payload"].read())
    # functions call the platform back in plain HTTP on the Docker bridge, which never leaves the host
    assert result["echo"] == 1 and result["health"] == 200
    assert result["endpoint"].startswith("http://") and not result["endpoint"].startswith("http://127.")
    got = lam.get_function(FunctionName=function)
    assert got["Code"]["Location"].startswith(server.endpoint + "/")
    assert function in [f["FunctionName"] for f in lam.list_functions()["Functions"]]


def test_boto3_without_the_ca_refuses_the_certificate(server) -> None:  # type: ignore[no-untyped-def]
    import boto3
    from botocore.config import Config

    untrusting = boto3.Session(aws_access_key_id="AKIDNOTUSED", aws_secret_access_key="x").client(
        "lambda", endpoint_url=server.endpoint, region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, connect_timeout=5))
    with pytest.raises(SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        untrusting.list_functions()


def test_plain_http_on_the_tls_port_gets_no_answer(server) -> None:  # type: ignore[no-untyped-def]
    plain = server.endpoint.replace("https://", "http://")
    with pytest.raises((http.client.HTTPException, urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(plain + "/health", timeout=10).read()


def faas(server: Server, home: Path, *args: str, ca_env: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FAAS_"))}
    env.update({"FAAS_DATA_DIR": str(server.data_dir), "HOME": str(home), "PYTHONPATH": str(REPO)})
    if ca_env:
        env["AWS_CA_BUNDLE"] = ca_env
    return subprocess.run([sys.executable, "-m", "faas", *args], env=env, cwd=home, capture_output=True,
                          text=True, timeout=120)


def test_the_faas_cli_with_a_ca_bundle(server, function, tls_files, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cert, _ = tls_files
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(HANDLER)
    name = unique("tls-cli")
    deployed = faas(server, tmp_path, "deploy", str(code), "--name", name, "--runtime", "python3.13",
                    "--handler", "app.handler", "--ca-bundle", str(cert))
    assert deployed.returncode == 0, deployed.stderr
    invoked = faas(server, tmp_path, "invoke", name, "--payload", '{"n": 5}', ca_env=str(cert))
    assert invoked.returncode == 0, invoked.stderr
    assert json.loads(invoked.stdout)["echo"] == 5
    listed = faas(server, tmp_path, "ls", ca_env=str(cert))
    assert listed.returncode == 0 and name in listed.stdout and function in listed.stdout
    refused = faas(server, tmp_path, "ls")
    assert refused.returncode == 2
    assert "cannot verify the TLS certificate of https://127.0.0.1:" in refused.stderr
    assert "--ca-bundle FILE or set AWS_CA_BUNDLE" in refused.stderr


def test_the_aws_cli_with_a_ca_bundle(server, function, tls_files, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cert, _ = tls_files
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FAAS_"))}
    env.update({"AWS_SHARED_CREDENTIALS_FILE": str(server.data_dir / "credentials"),
                "AWS_DEFAULT_REGION": "us-east-1", "HOME": str(tmp_path), "AWS_CA_BUNDLE": str(cert)})
    listed = subprocess.run([sys.executable, "-m", "awscli", "lambda", "list-functions", "--endpoint-url",
                             server.endpoint], env=env, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert function in [f["FunctionName"] for f in json.loads(listed.stdout)["Functions"]]


def test_function_urls_are_served_over_https_on_the_same_port(server, lam, function, tls_files) \
        -> None:  # type: ignore[no-untyped-def]
    # AWS's console grants this with every NONE URL; it keeps the test about TLS, whatever NONE requires
    lam.add_permission(FunctionName=function, StatementId="public-url", Action="lambda:InvokeFunctionUrl",
                       Principal="*", FunctionUrlAuthType="NONE")
    lam.add_permission(FunctionName=function, StatementId="public-url-invoke", Action="lambda:InvokeFunction",
                       Principal="*", InvokedViaFunctionUrl=True)
    config = lam.create_function_url_config(FunctionName=function, AuthType="NONE")
    url = config["FunctionUrl"]
    port = server.endpoint.rsplit(":", 1)[1]
    assert url.startswith("https://") and url.endswith(f".lambda-url.localhost:{port}/")
    url_id = url.split("//", 1)[1].split(".", 1)[0]
    # path-style, as any client reaches it
    with urllib.request.urlopen(f"{server.endpoint}/lambda-url/{url_id}/hello", timeout=30,
                                context=server.tls) as response:
        assert response.status == 200 and json.loads(response.read()) == {"path": "/hello"}
    # host-style: the Host header picks the URL (TLS checks the address connected to, named by the certificate)
    connection = http.client.HTTPSConnection("127.0.0.1", int(port), timeout=30, context=server.tls)
    try:
        connection.request("GET", "/deep/path", headers={"Host": url.split("//", 1)[1].rstrip("/")})
        response = connection.getresponse()
        assert response.status == 200 and json.loads(response.read()) == {"path": "/deep/path"}
    finally:
        connection.close()


def test_a_non_loopback_address_without_tls_prints_a_warning(tmp_path) -> None:
    # The Docker bridge's gateway: an address of this machine that is not loopback.
    network = docker.from_env().networks.get("faas")
    gateway = network.attrs["IPAM"]["Config"][0]["Gateway"]
    srv = Server(tmp_path / "data", extra_env={"FAAS_HOST": gateway, "FAAS_PREWARM_PER_RUNTIME": "0"}).start()
    try:
        assert srv.endpoint.startswith(f"http://{gateway}:")
        assert (f"faas: warning: listening on {gateway} over plain HTTP: request bodies (code, environment "
                "variables, payloads) and bearer tokens cross the network unencrypted; serve HTTPS with "
                "--tls-cert and --tls-key") in srv.output()
    finally:
        assert srv.stop() == 0
