"""`faas topics` as a user runs it (the CLI as a subprocess, found through the data dir alone), and Debian's
AWS CLI v2 `aws sns`, against a real `faas serve`, on the same topics as boto3's `sns` client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import Server, unique, wait_for
from tests.e2e.test_cli_e2e import cli_env, ok
from tests.e2e.test_sns_e2e import SNS_ENV, queue, received, sns_client
from tests.e2e.test_sqs_e2e import sqs_client

DEBIAN_CLI = "/usr/bin/aws"  # deploy/dev.sh installs Debian's awscli package


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    srv = Server(tmp_path_factory.mktemp("faas") / "data", extra_env=SNS_ENV).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def run(server: Server, home: Path):  # type: ignore[no-untyped-def]
    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "faas", "topics", *args], env=cli_env(server.data_dir, home),
                              cwd=home, input=stdin, capture_output=True, text=True, timeout=120)
    return run


def test_create_subscribe_publish_ls_rm(run, server: Server) -> None:  # type: ignore[no-untyped-def]
    sns, sqs = sns_client(server), sqs_client(server)
    name = unique("cli-news")
    arn = ok(run("create", name, "--attribute", "DisplayName=News")).stdout.strip()
    assert arn == f"arn:aws:sns:us-east-1:000000000000:{name}"
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["DisplayName"] == "News"
    all_url, _ = queue(sqs)
    filtered_url, _ = queue(sqs)
    subscription = ok(run("subscribe", name, "--queue", all_url, "--raw")).stdout.strip()
    assert subscription.startswith(arn + ":")
    ok(run("subscribe", name, "--queue", filtered_url.rsplit("/", 1)[1], "--raw",
           "--filter", json.dumps({"kind": ["urgent"]})))
    message_id = ok(run("publish", name, "--message", "routine")).stdout.strip()
    ok(run("publish", arn, "--file", "-", "--attribute", "kind=String:urgent", "--subject", "Alert", stdin="fire"))
    assert sorted(m["Body"] for m in received(sqs, all_url, 2)) == ["fire", "routine"]
    assert [m["Body"] for m in received(sqs, filtered_url, 1)] == ["fire"]
    assert len(message_id) == 36

    listing = ok(run("ls")).stdout
    assert name in listing and arn in listing
    subscriptions = ok(run("subscriptions", name)).stdout
    assert subscription in subscriptions and "sqs" in subscriptions
    ok(run("rm", name))
    assert arn not in [t["TopicArn"] for t in sns.list_topics()["Topics"]]


def test_cli_errors_are_sns_words(run) -> None:  # type: ignore[no-untyped-def]
    missing = run("publish", unique("missing"), "--message", "x")
    assert missing.returncode == 1 and "NotFound" in missing.stderr
    bad = run("create", "bad name!")
    assert bad.returncode == 1 and "InvalidParameter" in bad.stderr
    raw_function = run("subscribe", "whatever", "--function", "f", "--raw")
    assert raw_function.returncode == 2 and "--raw" in raw_function.stderr


def test_a_topic_with_the_aws_cli(server: Server, tmp_path: Path) -> None:
    if not os.path.exists(DEBIAN_CLI):
        pytest.skip(f"{DEBIAN_CLI} is missing: apt-get install awscli (deploy/dev.sh does)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FAAS_"))}
    env.update({"AWS_SHARED_CREDENTIALS_FILE": str(server.data_dir / "credentials"),
                "AWS_DEFAULT_REGION": "us-east-1", "HOME": str(tmp_path)})

    def aws(*args: str) -> dict:
        result = subprocess.run([DEBIAN_CLI, "sns", *args, "--endpoint-url", server.endpoint], env=env, cwd=tmp_path,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
        return json.loads(result.stdout) if result.stdout.strip() else {}

    sqs = sqs_client(server)
    name = unique("awscli-topic")
    arn = aws("create-topic", "--name", name, "--attributes", "DisplayName=Cli")["TopicArn"]
    assert arn in [t["TopicArn"] for t in aws("list-topics")["Topics"]]
    url, queue_arn = queue(sqs)
    aws("subscribe", "--topic-arn", arn, "--protocol", "sqs", "--notification-endpoint", queue_arn,
        "--attributes", "RawMessageDelivery=true")
    message_id = aws("publish", "--topic-arn", arn, "--message", "from the cli",
                     "--message-attributes", '{"kind": {"DataType": "String", "StringValue": "cli"}}')["MessageId"]
    message = received(sqs, url, 1)[0]
    assert message["Body"] == "from the cli" and message["MessageAttributes"]["kind"]["StringValue"] == "cli"
    assert len(message_id) == 36
    assert aws("get-topic-attributes", "--topic-arn", arn)["Attributes"]["DisplayName"] == "Cli"
    aws("delete-topic", "--topic-arn", arn)


def test_faas_triggers_adds_lists_and_removes_a_topic_trigger(server: Server, home: Path) -> None:
    from tests.e2e.test_sns_e2e import deploy, function_events

    def faas(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "faas", *args], env=cli_env(server.data_dir, home), cwd=home,
                              capture_output=True, text=True, timeout=120)

    lam, sns = server.client(), sns_client(server)
    function = deploy(lam)
    topic = unique("cli-trigger")
    arn = ok(faas("topics", "create", topic)).stdout.strip()
    subscription = ok(faas("triggers", "add", function, "--topic", topic,
                           "--filter", '{"kind": ["order"]}')).stdout.strip()
    assert subscription.startswith(arn + ":")
    # Adding it again is harmless: the grant exists, the subscription is the same.
    assert ok(faas("triggers", "add", function, "--topic", arn, "--filter", '{"kind": ["order"]}')).stdout.strip() == \
        subscription
    [row] = ok(faas("triggers", "ls", function)).stdout.splitlines()[1:]
    assert row.split()[:4] == [subscription, "topic", topic, "Enabled"]
    ok(faas("topics", "publish", topic, "--message", "skip me", "--attribute", "kind=String:refund"))
    ok(faas("topics", "publish", topic, "--message", "for the function", "--attribute", "kind=String:order"))
    event = wait_for(lambda: function_events(server, function))[0]
    assert event["Records"][0]["Sns"]["Message"] == "for the function"
    assert json.loads(lam.get_policy(FunctionName=function)["Policy"])["Statement"][0]["Condition"] == {
        "ArnLike": {"AWS:SourceArn": arn}}
    disabled = faas("triggers", "disable", subscription)
    assert disabled.returncode == 2 and "rm" in disabled.stderr
    assert ok(faas("triggers", "rm", subscription)).stdout.strip() == f"deleted trigger {subscription}"
    assert ok(faas("triggers", "ls", function)).stdout.splitlines()[1:] == []
    assert sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"] == []
    refused = faas("triggers", "add", function, "--topic", unique("missing"))
    assert refused.returncode == 1 and "NotFound" in refused.stderr
