"""The function verbs of the `faas` CLI as a user runs them (issue #14 item 4): deploy without --runtime and
--handler on an update, a no-op redeploy that keeps the warm container, environment merging, handler warnings,
invoke's JSON errors, URL output, describe, logs on a function never invoked, and -o json of each verb."""

from __future__ import annotations

import io
import json
import re
import subprocess
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.e2e.conftest import Server, unique, wait_for
from tests.e2e.test_cli_e2e import copy_hello, faas

pytestmark = pytest.mark.docker

ACCOUNT = "000000000000"
REGION = "us-east-1"
RUNNER = "cli-describe-runner"  # an execution role that may consume queues and be invoked by schedules
RUNNER_ARN = f"arn:aws:iam::{ACCOUNT}:role/{RUNNER}"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def cli(server: Server, home: Path):  # type: ignore[no-untyped-def]
    def cli(*args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        result = faas(server.data_dir, home, *args)
        assert result.returncode == expect, \
            f"exit {result.returncode}, not {expect}\nstdout: {result.stdout}\nstderr: {result.stderr}"
        return result
    return cli


def aws(server: Server, service: str) -> Any:
    credentials = server.credentials()
    return boto3.client(service, endpoint_url=server.endpoint, region_name=REGION,
                        aws_access_key_id=credentials.access_key_id,
                        aws_secret_access_key=credentials.secret_access_key,
                        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=60))


def variables(lam: Any, name: str) -> dict[str, str]:
    return (lam.get_function_configuration(FunctionName=name).get("Environment") or {}).get("Variables") or {}


def environments_of(server: Server, name: str) -> list[dict]:
    return server.get_json(f"/faas/v1/environments?function={name}")["Environments"]


def test_an_update_needs_no_runtime_and_a_noop_redeploy_keeps_the_warm_container(  # type: ignore[no-untyped-def]
        cli, lam, server: Server, tmp_path: Path) -> None:
    code = copy_hello(tmp_path)
    name = unique("fncli-warm")
    refused = cli("deploy", str(code), "--name", name, "--handler", "app.handler", expect=2)
    assert f"{name} does not exist yet: creating it needs --runtime" in refused.stderr and refused.stdout == ""
    assert name not in [f["FunctionName"] for f in lam.list_functions()["Functions"]]

    cli("deploy", str(code), "--name", name, "--runtime", "python3.13", "--handler", "app.handler", "--env", "A=1")
    cli("invoke", name)
    [warm] = wait_for(lambda: [e for e in environments_of(server, name) if e["State"] == "idle"])
    revision = lam.get_function_configuration(FunctionName=name)["RevisionId"]

    # The same folder and settings again, without --runtime and --handler: nothing to send, no new revision.
    same = cli("deploy", str(code), "--name", name, "--memory", "128", "--env", "A=1")
    assert same.stdout.startswith(f"unchanged {name} (same code and configuration: no new revision)\n")
    # The API itself: UpdateFunctionConfiguration with the values already set changes nothing either.
    assert lam.update_function_configuration(FunctionName=name, Timeout=3, Handler="app.handler")["RevisionId"] \
        == revision
    assert lam.get_function_configuration(FunctionName=name)["RevisionId"] == revision
    assert json.loads(cli("invoke", name).stdout)["message"] == "Hello, world!"
    [after] = wait_for(lambda: [e for e in environments_of(server, name) if e["State"] == "idle"])
    assert (after["ContainerId"], after["Invocations"]) == (warm["ContainerId"], 2)  # warm: no cold start

    changed = cli("deploy", str(code), "--name", name, "--timeout", "5")
    assert changed.stdout.startswith(f"updated {name}: configuration (timeout)\n")
    configuration = lam.get_function_configuration(FunctionName=name)
    assert configuration["RevisionId"] != revision and configuration["Timeout"] == 5
    assert (configuration["Runtime"], configuration["Handler"]) == ("python3.13", "app.handler")  # kept


def test_env_merges_and_env_file_unset_env_replace_env(cli, lam, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code = copy_hello(tmp_path)
    name = unique("fncli-env")
    cli("deploy", str(code), "--name", name, "--runtime", "python3.13", "--handler", "app.handler",
        "--env", "A=1", "--env", "B=2")
    assert variables(lam, name) == {"A": "1", "B": "2"}

    cli("deploy", str(code), "--name", name, "--env", "B=3", "--env", "C=4")
    assert variables(lam, name) == {"A": "1", "B": "3", "C": "4"}
    cli("deploy", str(code), "--name", name)  # no variable option: they stay
    assert variables(lam, name) == {"A": "1", "B": "3", "C": "4"}

    dotenv = tmp_path / "prod.env"
    dotenv.write_text('# the production settings\n\nexport DB_URL="postgres://db/app # not a comment"\n'
                      "GREETING='hi there'\nC=from-file # a comment\n")
    cli("deploy", str(code), "--name", name, "--env-file", str(dotenv), "--unset-env", "A")
    assert variables(lam, name) == {"B": "3", "C": "from-file", "DB_URL": "postgres://db/app # not a comment",
                                    "GREETING": "hi there"}

    bad = tmp_path / "bad.env"
    bad.write_text("OK=1\n\nthis line is wrong\n")
    refused = cli("deploy", str(code), "--name", name, "--env-file", str(bad), expect=2)
    assert f"{bad}, line 3: 'this line is wrong' is not KEY=VALUE" in refused.stderr
    assert variables(lam, name)["C"] == "from-file"  # nothing stored lost

    cli("deploy", str(code), "--name", name, "--replace-env", "--env", "ONLY=1")
    assert variables(lam, name) == {"ONLY": "1"}
    cli("deploy", str(code), "--name", name, "--replace-env")
    assert variables(lam, name) == {}


def test_deploy_warns_about_a_missing_handler_but_deploys(cli, lam, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    python = tmp_path / "py"
    python.mkdir()
    (python / "app.py").write_text("def handle(event, context):\n    return 1\n")
    name = unique("fncli-pyhandler")
    deployed = cli("deploy", str(python), "--name", name, "--runtime", "python3.13", "--handler", "app.handler")
    assert "warning: app.py has no top-level function, assignment or import named 'handler'" in deployed.stderr
    assert deployed.stdout.startswith(f"created {name}\n")
    moved = cli("deploy", str(python), "--name", name, "--handler", "service.main")
    assert "warning: the handler's module was not found: looked for service.py or service/__init__.py" \
        in moved.stderr
    assert lam.get_function_configuration(FunctionName=name)["Handler"] == "service.main"
    fine = cli("deploy", str(python), "--name", name, "--handler", "app.handle")
    assert "warning" not in fine.stderr

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("index.mjs", "export const handler = async (event) => event;\n")
    node = tmp_path / "node.zip"
    node.write_bytes(archive.getvalue())
    name = unique("fncli-nodehandler")
    exported = cli("deploy", str(node), "--name", name, "--runtime", "nodejs20.x", "--handler", "index.handler")
    assert "warning" not in exported.stderr
    missing = cli("deploy", str(node), "--name", name, "--handler", "index.main")
    assert "warning: index.mjs exports no 'main'" in missing.stderr
    elsewhere = cli("deploy", str(node), "--name", name, "--handler", "app.handler")
    assert "warning: the handler's module was not found: looked for app.js, app.mjs, app.cjs" in elsewhere.stderr


def test_invalid_json_fails_before_any_request_and_logs_say_there_is_nothing(  # type: ignore[no-untyped-def]
        cli, tmp_path: Path) -> None:
    name = unique("fncli-json")
    cli("deploy", str(copy_hello(tmp_path)), "--name", name, "--runtime", "python3.13", "--handler", "app.handler")
    quiet = cli("logs", name)
    assert quiet.stdout == "" and f"{name} has no invocations yet" in quiet.stderr
    assert json.loads(cli("logs", name, "-o", "json").stdout) == []

    refused = cli("invoke", name, "--payload", '{"name": "x",}', expect=2)
    assert "the payload (--payload) is not valid JSON: Expecting property name enclosed in double quotes at " \
           "line 1, column 14" in refused.stderr
    assert refused.stderr.endswith('  {"name": "x",}\n               ^\n') and refused.stdout == ""
    event = tmp_path / "event.json"
    event.write_text('{\n  "name": "x"\n  "more": 1\n}\n')
    from_file = cli("invoke", name, "--payload-file", str(event), expect=2)
    assert f"the payload ({event}) is not valid JSON: Expecting ',' delimiter at line 3, column 3" in from_file.stderr
    assert from_file.stderr.endswith('  "more": 1\n    ^\n')
    # No request was made: a missing function would have been a ResourceNotFoundException, exit 1.
    ghost = cli("invoke", unique("fncli-ghost"), "--payload", "{", expect=2)
    assert "ResourceNotFound" not in ghost.stderr
    still = cli("logs", name)  # and the function saw no invocation
    assert still.stdout == "" and "has no invocations yet" in still.stderr


def test_url_verbs_print_the_path_style_url_and_how_to_call_an_aws_iam_url(  # type: ignore[no-untyped-def]
        cli, server: Server, tmp_path: Path) -> None:
    name = unique("fncli-url")
    cli("deploy", str(copy_hello(tmp_path)), "--name", name, "--runtime", "python3.13", "--handler", "app.handler")
    created = cli("url", "create", name)  # AWS_IAM by default
    url, path_style = created.stdout.splitlines()
    assert re.fullmatch(r"http://[a-z0-9]{32}\.lambda-url\.localhost:\d+/", url)
    url_id = url.split("//")[1].split(".")[0]
    assert path_style == f"{server.endpoint}/lambda-url/{url_id}/"
    assert "auth type AWS_IAM" in created.stderr and 'Authorization: Bearer $(faas token)' in created.stderr
    assert 'curl --aws-sigv4 "aws:amz:us-east-1:lambda"' in created.stderr

    # What the hint says works: a bearer token from `faas token` on the path-style URL.
    token = cli("token").stdout.strip()
    request = urllib.request.Request(path_style, data=b"{}", method="POST",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200 and json.loads(response.read())["message"] == "Hello, world!"
    # And the other: a SigV4 signature for the service lambda, as curl makes it.
    credentials = server.credentials()
    signed = subprocess.run(["curl", "-sS", "--fail-with-body", "--aws-sigv4", "aws:amz:us-east-1:lambda", "--user",
                             f"{credentials.access_key_id}:{credentials.secret_access_key}", "-H",
                             "Content-Type: application/json", "--data", '{"name": "curl"}', path_style],
                            capture_output=True, text=True, timeout=60)
    assert signed.returncode == 0 and json.loads(signed.stdout)["message"] == "Hello, world!", signed
    assert server.request("POST", f"/lambda-url/{url_id}/", b"{}", sign=False)[0] == 403  # unsigned: refused

    got = cli("url", "get", name)
    assert got.stdout.splitlines() == [url, path_style] and "auth type AWS_IAM" in got.stderr
    document = json.loads(cli("url", "get", name, "-o", "json").stdout)
    assert (document["FunctionUrl"], document["PathStyleUrl"], document["AuthType"]) == (url, path_style, "AWS_IAM")
    assert json.loads(cli("url", "delete", name, "-o", "json").stdout) == {"FunctionName": name, "Deleted": True}
    opened = json.loads(cli("url", "create", name, "--auth-type", "NONE", "-o", "json").stdout)
    assert opened["AuthType"] == "NONE" and opened["PathStyleUrl"].startswith(f"{server.endpoint}/lambda-url/")


def with_runner_role(server: Server) -> None:
    status, _, body = server.request("POST", "/faas/v1/roles", json.dumps({"Name": RUNNER}).encode(),
                                     {"Content-Type": "application/json"})
    assert status in (201, 409), (status, body[:500])
    document = {"PolicyDocument": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["lambda:InvokeFunction", "sqs:*"], "Resource": "*"}]}}
    status, _, body = server.request("PUT", f"/faas/v1/roles/{RUNNER}/policies/run", json.dumps(document).encode(),
                                     {"Content-Type": "application/json"})
    assert status == 200, (status, body[:500])


def test_describe_shows_configuration_url_triggers_concurrency_and_policy(  # type: ignore[no-untyped-def]
        cli, lam, server: Server, tmp_path: Path) -> None:
    with_runner_role(server)
    name = unique("fncli-describe")
    code = copy_hello(tmp_path)
    cli("deploy", str(code), "--name", name, "--runtime", "python3.13", "--handler", "app.handler",
        "--role", RUNNER_ARN, "--memory", "256", "--env", "STAGE=prod")
    function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    url = cli("url", "create", name).stdout.splitlines()[0]
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)
    sqs = aws(server, "sqs")
    queue_arn = sqs.get_queue_attributes(QueueUrl=sqs.create_queue(QueueName=unique("fncli-q"))["QueueUrl"],
                                         AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    mapping = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=queue_arn, BatchSize=5,
                                              Enabled=False)["UUID"]
    sns = aws(server, "sns")
    topic_arn = sns.create_topic(Name=unique("fncli-topic"))["TopicArn"]
    lam.add_permission(FunctionName=name, StatementId="sns", Action="lambda:InvokeFunction",
                       Principal="sns.amazonaws.com", SourceArn=topic_arn)
    subscription = sns.subscribe(TopicArn=topic_arn, Protocol="lambda", Endpoint=function_arn)["SubscriptionArn"]
    events = aws(server, "events")
    rule = unique("fncli-rule")
    events.put_rule(Name=rule, EventPattern='{"source": ["fncli.test"]}', State="DISABLED")
    lam.add_permission(FunctionName=name, StatementId="events", Action="lambda:InvokeFunction",
                       Principal="events.amazonaws.com", SourceArn=f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}")
    events.put_targets(Rule=rule, Targets=[{"Id": "fn", "Arn": function_arn}])
    schedule = unique("fncli-nightly")
    aws(server, "scheduler").create_schedule(
        Name=schedule, ScheduleExpression="cron(0 2 * * ? *)", State="DISABLED", FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": function_arn, "RoleArn": RUNNER_ARN, "Input": "{}"})

    document = json.loads(cli("describe", name, "-o", "json").stdout)
    assert set(document) == {"Configuration", "Tags", "Url", "Triggers", "Concurrency", "Policy"}
    configuration = document["Configuration"]
    assert (configuration["Runtime"], configuration["Handler"], configuration["MemorySize"], configuration["Role"]) \
        == ("python3.13", "app.handler", 256, RUNNER_ARN)
    assert configuration["Environment"] == {"Variables": {"STAGE": "prod"}} and configuration["State"] == "Active"
    assert (document["Url"]["FunctionUrl"], document["Url"]["AuthType"]) == (url, "AWS_IAM")
    assert document["Url"]["PathStyleUrl"].startswith(f"{server.endpoint}/lambda-url/")
    triggers = document["Triggers"]
    assert [m["UUID"] for m in triggers["EventSourceMappings"]] == [mapping]
    assert [s["SubscriptionArn"] for s in triggers["SnsSubscriptions"]] == [subscription]
    assert [r["Name"] for r in triggers["Rules"]] == [rule]
    assert [s["Name"] for s in triggers["Schedules"]] == [schedule]
    assert document["Concurrency"] == {"ReservedConcurrentExecutions": 2, "RunningOnThisNode": 0}
    assert {s["Sid"] for s in document["Policy"]} == {"sns", "events"}

    text = cli("describe", name).stdout
    assert text.startswith(f"{name}\n  ARN            {function_arn}\n")
    for expected in ("  Runtime        python3.13", "  Memory (MB)    256", f"  Role           {RUNNER_ARN}",
                     f"  Code SHA-256   {configuration['CodeSha256']}", "Environment (1)\n  STAGE=prod",
                     f"URL\n  {url} (auth type AWS_IAM)", f"mapping {mapping}: {queue_arn} (Disabled, batch size 5)",
                     f"SNS topic {topic_arn} ({subscription})", f"EventBridge rule {rule} (DISABLED)",
                     f"schedule {schedule} (group default, DISABLED)", "reserved: 2", "running on this node: 0",
                     "sns: Allow lambda:InvokeFunction to sns.amazonaws.com"):
        assert expected in text, f"{expected!r} not in:\n{text}"

    bare = unique("fncli-bare")
    cli("deploy", str(code), "--name", bare, "--runtime", "python3.13", "--handler", "app.handler")
    plain = cli("describe", bare).stdout
    assert "URL\n  none" in plain and "Triggers\n  none" in plain and "reserved: none" in plain
    missing = cli("describe", unique("fncli-nope"), expect=1)
    assert "ResourceNotFoundException" in missing.stderr and missing.stdout == ""


def test_every_verb_prints_one_json_document_with_o_json(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name = unique("fncli-json-out")
    code = copy_hello(tmp_path)
    created = json.loads(cli("deploy", str(code), "--name", name, "--runtime", "python3.13",
                             "--handler", "app.handler", "-o", "json").stdout)
    assert created["FunctionName"] == name and created["State"] == "Active"
    unchanged = json.loads(cli("deploy", str(code), "--name", name, "-o", "json").stdout)
    assert unchanged["RevisionId"] == created["RevisionId"]

    invoked = json.loads(cli("invoke", name, "--payload", '{"name": "json"}', "--log", "-o", "json").stdout)
    assert invoked["StatusCode"] == 200 and invoked["FunctionError"] is None
    assert invoked["Payload"]["message"] == "Hello, json!" and "START RequestId: " in invoked["LogResult"]
    queued = json.loads(cli("invoke", name, "--async", "-o", "json").stdout)
    assert queued["StatusCode"] == 202 and re.fullmatch(r"[0-9a-f-]{36}", queued["RequestId"])

    listed = json.loads(cli("ls", "-o", "json").stdout)
    assert name in [f["FunctionName"] for f in listed]
    logs = wait_for(lambda: json.loads(cli("logs", name, "-o", "json").stdout))
    assert logs[0]["Log"].startswith("START RequestId: ")
    assert json.loads(cli("rm", name, "-o", "json").stdout) == {"FunctionName": name, "Deleted": True}
