"""What every `faas` verb shares, as a user meets it: -o json on each module's verbs, --version, completion
in a real bash, the old verb names, the AWS variables and options (AWS_PROFILE, --profile,
AWS_SHARED_CREDENTIALS_FILE, AWS_ENDPOINT_URL, AWS_REGION), errors that name the credentials used, and the
ready line's FAAS_DATA_DIR export. One real server; the CLI is a subprocess."""

from __future__ import annotations

import http.server
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO, Server, unique

pytestmark = pytest.mark.docker


def faas(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "faas", *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=180)


def user_env(home: Path, **extra: str) -> dict[str, str]:
    """A shell with no AWS_* or FAAS_* settings but those given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FAAS_"))}
    env.update({"HOME": str(home), **extra})
    return env


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def run(server: Server, home: Path):  # type: ignore[no-untyped-def]
    """The CLI of a user who only set FAAS_DATA_DIR."""
    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return faas(user_env(home, FAAS_DATA_DIR=str(server.data_dir), **extra), home, *args)
    return run


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def document(result: subprocess.CompletedProcess[str]):  # type: ignore[no-untyped-def]
    """Exactly one JSON document on stdout (json.loads refuses anything after it)."""
    return json.loads(ok(result).stdout)


@pytest.fixture(scope="module")
def function(run, home: Path) -> str:  # type: ignore[no-untyped-def]
    """A function deployed from a SAM template with -o json, whose summary is checked here."""
    folder = home / "stack"
    shutil.copytree(REPO / "examples" / "hello", folder / "hello", ignore=shutil.ignore_patterns("__pycache__"))
    name = unique("global")
    (folder / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Hello:\n    Type: AWS::Serverless::Function\n"
        f"    Properties:\n      FunctionName: {name}\n      CodeUri: hello/\n      Handler: app.handler\n"
        "      Runtime: python3.13\n")
    summary = document(run("deploy", "-f", str(folder / "template.yaml"), "-o", "json"))
    assert summary["StackName"] == "stack" and summary["Outputs"] == [] and summary["Apis"] == []
    assert [line.strip() for line in summary["Changes"]] == [f"created {name} (Hello)"]
    return name


# --- -o json -----------------------------------------------------------------------------------

def test_identity_access_and_billing_verbs_print_one_json_document(run, server: Server) -> None:  # type: ignore[no-untyped-def]
    principal = unique("dev")
    assert document(run("principals", "create", principal, "-o", "json"))["Name"] == principal
    assert principal in [p["Name"] for p in document(run("principals", "ls", "-o", "json"))]
    key = document(run("keys", "create", principal, "-o", "json"))
    assert key["AccessKeyId"].startswith("AKIA") and key["SecretAccessKey"] and key["Profile"] == principal
    assert document(run("keys", "disable", key["AccessKeyId"], "-o", "json"))["Status"] == "Inactive"
    assert key["AccessKeyId"] in [k["AccessKeyId"] for k in document(run("keys", "ls", "-o", "json"))]
    assert document(run("keys", "rm", key["AccessKeyId"], "-o", "json")) == {"AccessKeyId": key["AccessKeyId"],
                                                                             "Deleted": True}
    role = unique("role")
    assert document(run("roles", "create", role, "-o", "json"))["Name"] == role
    assert role in [r["Name"] for r in document(run("roles", "list", "-o", "json"))]  # `list`: ls's alias
    policy = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]}'
    put = document(run("policies", "put", "--role", role, "sqs", "--document", policy, "-o", "json"))
    assert (put["PolicyName"], put["Role"]) == ("sqs", role)
    assert document(run("policies", "rm", "--role", role, "sqs", "-o", "json"))["Deleted"] is True
    assert document(run("roles", "delete", role, "-o", "json")) == {"Name": role, "Deleted": True}
    token = document(run("token", "--ttl", "60", "-o", "json"))
    assert token["Token"] and token["TokenId"] in [t["TokenId"] for t in document(run("token", "ls", "-o", "json"))]
    assert document(run("token", "rm", token["TokenId"], "-o", "json"))["Revoked"] is True
    assert isinstance(document(run("audit", "--limit", "5", "-o", "json")), list)
    assert document(run("principals", "rm", principal, "-o", "json"))["Deleted"] is True
    assert "Rows" in document(run("usage", "-o", "json"))
    assert document(run("usage", "--json")) == document(run("usage", "-o", "json"))
    assert ok(run("usage", "-o", "csv")).stdout.startswith("Function,Owner,Requests")
    assert isinstance(document(run("budgets", "ls", "-o", "json")), list)


def test_messaging_and_event_verbs_print_one_json_document(run, function: str) -> None:  # type: ignore[no-untyped-def]
    queue = unique("q")
    url = document(run("queues", "create", queue, "-o", "json"))["QueueUrl"]
    assert url.endswith(f"/{queue}")
    assert document(run("queues", "send", queue, "--body", "hi", "-o", "json"))["MessageId"]
    assert queue in [q["Name"] for q in document(run("queues", "ls", "--prefix", queue, "-o", "json"))]
    received = document(run("queues", "receive", queue, "--delete", "--wait", "5", "-o", "json"))
    assert [m["Body"] for m in received] == ["hi"]
    topic = unique("t")
    arn = document(run("topics", "create", topic, "-o", "json"))["TopicArn"]
    assert arn.endswith(f":{topic}")
    assert document(run("topics", "publish", topic, "--message", "m", "-o", "json"))["MessageId"]
    assert arn in [t["TopicArn"] for t in document(run("topics", "ls", "-o", "json"))]
    subscription = document(run("triggers", "add", function, "--topic", topic, "-o", "json"))["SubscriptionArn"]
    triggers = document(run("triggers", "ls", function, "-o", "json"))
    assert triggers["EventSourceMappings"] == []
    assert [found["SubscriptionArn"] for found in triggers["Subscriptions"]] == [subscription]
    assert document(run("triggers", "rm", subscription, "-o", "json"))["Deleted"] is True
    rule = unique("r")
    rule_arn = document(run("rules", "create", rule, "--pattern", '{"source": ["x"]}', "-o", "json"))["RuleArn"]
    assert rule in [r["Name"] for r in document(run("rules", "ls", "--prefix", rule, "-o", "json"))]
    assert rule_arn.endswith(f"rule/{rule}")
    assert document(run("events", "put", "--source", "x", "--detail-type", "d", "--detail", "{}", "-o", "json"))["EventId"]
    assert document(run("rules", "rm", rule, "-o", "json"))["Deleted"] is True
    assert isinstance(document(run("schedules", "ls", "-o", "json")), list)
    assert isinstance(document(run("apis", "ls", "-o", "json")), list)
    for removed in (run("queues", "rm", queue, "-o", "json"), run("topics", "delete", topic, "-o", "json")):
        assert document(removed)["Deleted"] is True
    snapshot = document(run("top", "--interval", "0.2", "-o", "json"))
    assert snapshot["Endpoint"] and isinstance(snapshot["Functions"], list)


def test_local_verbs_print_one_json_document(run, home: Path) -> None:  # type: ignore[no-untyped-def]
    folder = home / "starter"
    started = document(run("init", "starter", "--runtime", "python3.13", "--dir", str(folder), "-o", "json"))
    assert (started["Handler"], started["Files"]) == ("app.handler", ["app.py", "events/event.json", "requirements.txt"])
    built = document(run("build", str(folder), "--zip", str(home / "starter.zip"), "-o", "json"))
    assert (built["Zip"], built["Runtime"]) == (str(home / "starter.zip"), "python3.13")
    assert (home / "starter.zip").stat().st_size == built["CodeSize"]


def test_a_bad_output_format_is_refused(run) -> None:  # type: ignore[no-untyped-def]
    refused = run("queues", "ls", "-o", "yaml")
    assert refused.returncode == 2 and "invalid choice: 'yaml'" in refused.stderr and refused.stdout == ""
    refused = run("queues", "ls", FAAS_OUTPUT="yaml")
    assert refused.returncode == 2 and "FAAS_OUTPUT='yaml' is not one of: text, json" in refused.stderr


# --- --version, completion, aliases ------------------------------------------------------------

def test_version(run) -> None:  # type: ignore[no-untyped-def]
    assert ok(run("--version")).stdout.startswith("faas ")


def _complete(script: Path, *words: str) -> list[str]:
    """What bash offers for the last of `words` after sourcing the script, as a user's <TAB> would."""
    line = " ".join(shlex.quote(w) for w in words)
    result = subprocess.run(["bash", "--norc", "--noprofile", "-c",
                             f'source {shlex.quote(str(script))}; COMP_WORDS=({line}); '
                             f'COMP_CWORD={len(words) - 1}; _faas_complete; printf "%s\\n" "${{COMPREPLY[@]}}"'],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return [word for word in result.stdout.splitlines() if word]


def test_bash_completion_offers_verbs_options_and_choices(run, home: Path) -> None:  # type: ignore[no-untyped-def]
    script = home / "faas.bash"
    script.write_text(ok(run("completion", "bash")).stdout)
    assert _complete(script, "faas", "de") == ["deploy", "describe"]
    assert _complete(script, "faas", "deploy", "--ru") == ["--runtime"]
    assert _complete(script, "faas", "url", "") == ["create", "get", "rm"]
    assert _complete(script, "faas", "queues", "list", "-o", "j") == ["json"]  # an alias leads there too
    assert _complete(script, "faas", "permissions", "show", "fn", "--pro") == ["--profile"]


def test_zsh_completion_script(run, home: Path) -> None:  # type: ignore[no-untyped-def]
    script = ok(run("completion", "zsh")).stdout
    assert "bashcompinit" in script and "complete -o default -F _faas_complete faas" in script
    if shutil.which("zsh"):
        (home / "faas.zsh").write_text(script)
        checked = subprocess.run(["zsh", "-n", str(home / "faas.zsh")], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
    refused = run("completion", "fish")
    assert refused.returncode == 2 and "invalid choice: 'fish'" in refused.stderr


def test_old_verb_names_still_work(run, function: str) -> None:  # type: ignore[no-untyped-def]
    ok(run("url", "create", function, "--auth-type", "NONE"))  # adds two statements to the function's policy
    assert json.loads(ok(run("url", "show", function, "-o", "json")).stdout)["AuthType"] == "NONE"
    statements = json.loads(ok(run("permissions", "show", function)).stdout)["Statement"]
    assert {"FunctionURLAllowPublicAccess", "FunctionURLAllowInvokeAction"} <= {s["Sid"] for s in statements}
    ok(run("url", "delete", function))
    assert run("url", "get", function).returncode == 1


# --- the AWS habits ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shared(server: Server, home: Path) -> Path:
    """An AWS shared-credentials file away from the data dir: the admin's key as 'ops', a wrong secret as 'bad'."""
    admin = server.credentials()
    path = home / "aws-credentials"
    path.write_text(f"[ops]\naws_access_key_id = {admin.access_key_id}\naws_secret_access_key = "
                    f"{admin.secret_access_key}\n[bad]\naws_access_key_id = {admin.access_key_id}\n"
                    "aws_secret_access_key = wrong\n")
    return path


def test_aws_profile_and_profile_option_pick_a_profile_of_aws_shared_credentials_file(run, shared: Path) -> None:  # type: ignore[no-untyped-def]
    files = {"AWS_SHARED_CREDENTIALS_FILE": str(shared)}
    document(run("queues", "ls", "-o", "json", AWS_PROFILE="ops", **files))
    document(run("queues", "ls", "-o", "json", "--profile", "ops", **files))
    document(run("queues", "ls", "-o", "json", "--profile", "ops", AWS_PROFILE="missing", **files))  # option wins


def test_a_missing_profile_names_the_file_and_the_profile(run, shared: Path, server: Server) -> None:  # type: ignore[no-untyped-def]
    missing = run("queues", "ls", AWS_PROFILE="prod", AWS_SHARED_CREDENTIALS_FILE=str(shared))
    assert missing.returncode == 2 and missing.stdout == ""
    assert f"profile 'prod' (AWS_PROFILE) is not in {shared} (profiles: ops, bad)" in missing.stderr
    missing = run("roles", "ls", "--profile", "prod")
    assert f"profile 'prod' (--profile) is not in {server.data_dir / 'credentials'}" in missing.stderr


def test_a_refused_key_names_where_it_came_from(run, shared: Path, server: Server) -> None:  # type: ignore[no-untyped-def]
    refused = run("queues", "ls", "--profile", "bad", AWS_SHARED_CREDENTIALS_FILE=str(shared))
    assert refused.returncode == 1
    assert f"(credentials: profile bad in {shared})" in refused.stderr
    admin = server.credentials()
    refused = run("roles", "ls", AWS_ACCESS_KEY_ID=admin.access_key_id, AWS_SECRET_ACCESS_KEY="wrong")
    assert refused.returncode == 1
    assert "InvalidSignatureException" in refused.stderr
    assert "(credentials: AWS_ACCESS_KEY_ID from the environment)" in refused.stderr
    refused = run("roles", "ls", AWS_ACCESS_KEY_ID="AKIANOSUCHKEY0000000", AWS_SECRET_ACCESS_KEY="x")
    assert "UnrecognizedClientException" in refused.stderr and "AWS_ACCESS_KEY_ID from the environment" in refused.stderr


def test_aws_endpoint_url_finds_a_server_the_data_dir_does_not_name(server: Server, shared: Path, home: Path) -> None:
    elsewhere = home / "empty-data-dir"
    elsewhere.mkdir(exist_ok=True)
    env = user_env(home, FAAS_DATA_DIR=str(elsewhere), AWS_ENDPOINT_URL=server.endpoint, AWS_PROFILE="ops",
                   AWS_SHARED_CREDENTIALS_FILE=str(shared))
    assert isinstance(document(faas(env, home, "queues", "ls", "-o", "json")), list)


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers SQS's ListQueues with no queue and keeps each request's Authorization header."""

    seen: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 — http.server's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append(self.headers.get("Authorization", ""))
        body = b'{"QueueUrls": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_requests_are_signed_for_aws_region_or_the_region_option(run, server: Server) -> None:  # type: ignore[no-untyped-def]
    # The platform accepts any region in a signature, so the region signed for is seen on the wire.
    document(run("queues", "ls", "-o", "json", AWS_REGION="eu-west-1"))  # the real server takes it
    recorder = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=recorder.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{recorder.server_address[1]}"
        document(run("queues", "ls", "-o", "json", AWS_ENDPOINT_URL=endpoint, AWS_DEFAULT_REGION="eu-west-1"))
        document(run("queues", "ls", "-o", "json", AWS_ENDPOINT_URL=endpoint, AWS_DEFAULT_REGION="eu-west-1",
                     AWS_REGION="ap-south-1"))
        document(run("queues", "ls", "-o", "json", "--region", "sa-east-1", AWS_ENDPOINT_URL=endpoint,
                     AWS_REGION="ap-south-1"))
        document(run("queues", "ls", "-o", "json", "--endpoint-url", endpoint))
    finally:
        recorder.shutdown()
        recorder.server_close()
    scopes = [header.split("Credential=", 1)[1].split(",", 1)[0].split("/")[2] for header in _Recorder.seen]
    assert scopes == ["eu-west-1", "ap-south-1", "sa-east-1", "us-east-1"]


# --- faas serve --------------------------------------------------------------------------------

def test_the_ready_line_says_how_to_point_the_cli_at_this_data_dir(server: Server) -> None:
    assert f"for the faas CLI: export FAAS_DATA_DIR={shlex.quote(str(server.data_dir))}" in server.output()
