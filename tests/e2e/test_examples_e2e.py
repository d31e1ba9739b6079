"""The examples/ folder deployed and called through the `faas` CLI as its READMEs say, checking what they answer:
the URL example's query string and body, the Node.js function, and the SAM application's HTTP API, queue
consumer and schedule."""

from __future__ import annotations

import json
import urllib.request
import pytest

from tests.e2e.conftest import REPO, Server, wait_for
from tests.e2e.test_cli_e2e import faas, ok

pytestmark = pytest.mark.docker

EXAMPLES = REPO / "examples"


@pytest.fixture(scope="module")
def run(server: Server, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    home = tmp_path_factory.mktemp("home")

    def run(*args: str) -> str:
        return ok(faas(server.data_dir, home, *args)).stdout
    return run


def fetch(url: str, body: bytes | None = None, method: str = "GET", content_type: str = "text/plain") -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers={"content-type": content_type})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.read()


def path_style(server: Server, url: str, kind: str) -> str:
    """`http://<id>.<kind>.../` as `<endpoint>/<kind>/<id>/`: urllib does not resolve *.localhost."""
    return f"{server.endpoint}/{kind}/{url.split('//', 1)[1].split('.', 1)[0]}/"


def test_url_example_reads_its_query_string_and_body(server: Server, run) -> None:  # type: ignore[no-untyped-def]
    run("deploy", str(EXAMPLES / "url-echo"), "--name", "url-echo", "--runtime", "python3.13",
        "--handler", "app.handler")
    url = path_style(server, run("url", "create", "url-echo", "--auth-type", "NONE").splitlines()[0], "lambda-url")

    status, body = fetch(url + "search?q=faas&tag=a&tag=b", b"hello", method="POST")
    assert status == 200
    assert json.loads(body) == {"method": "POST", "path": "/search", "rawQueryString": "q=faas&tag=a&tag=b",
                                "query": {"q": "faas", "tag": "a,b"}, "body": "hello"}
    # Bytes arrive base64-encoded (isBase64Encoded), and the function decodes them.
    status, body = fetch(url + "upload", "naïve".encode(), method="PUT", content_type="application/octet-stream")
    assert json.loads(body) == {"method": "PUT", "path": "/upload", "rawQueryString": "", "query": {},
                                "body": "naïve"}


def test_node_example_answers(run) -> None:  # type: ignore[no-untyped-def]
    run("deploy", str(EXAMPLES / "hello-node"), "--name", "hello-node", "--runtime", "nodejs20.x",
        "--handler", "index.handler")
    answer = json.loads(run("invoke", "hello-node", "--payload", '{"name": "node"}'))
    assert answer["message"] == "Hello, node!"
    assert answer["runtime"].startswith("v20.")


def test_sam_example_deploys_and_its_events_run(server: Server, run) -> None:  # type: ignore[no-untyped-def]
    template = str(EXAMPLES / "sam-app" / "template.yaml")
    deployed = run("deploy", "-f", template, "--stack-name", "sam-app", "--parameter-overrides", "Stage=prod")
    assert "created Schedule event Nightly (rule sam-app-ReportFunction-Nightly)" in deployed
    api = next(line.split()[2] for line in run("apis", "ls").splitlines() if line.split()[1:2] == ["sam-app"])

    status, body = fetch(path_style(server, api, "execute-api") + "orders/42")
    assert (status, json.loads(body)) == (200, {"order": "42", "stage": "prod"})

    run("queues", "send", "sam-app-OrdersQueue", "--body", '{"order": 7}')
    wait_for(lambda: "order 7 received" in run("logs", "sam-app-ConsumerFunction"), timeout=30)

    assert "sam-app-ReportFunction-Nightly" in run("rules", "ls")
    assert json.loads(run("invoke", "sam-app-ReportFunction", "--payload", '{"report": "nightly"}')) == {
        "report": "nightly"}

    redeployed = run("deploy", "-f", template, "--stack-name", "sam-app", "--parameter-overrides", "Stage=prod")
    assert "created" not in redeployed and "updated" not in redeployed, redeployed
