"""CloudWatch Logs against a real `faas serve`: boto3's `logs` client reads a function's log group, its streams
(named as the function's context names them) and events, with filter patterns, paging and retention; a
principal may read only the groups its policy names; `aws logs tail --follow` (Debian's AWS CLI v2) and
`faas logs --follow --filter` print new events as they come. One server for the module."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from faas.security.sigv4 import Credentials
from tests.e2e.conftest import ROLE, Server, make_zip, unique, wait_for
from tests.e2e.test_security_e2e import make_principal

pytestmark = pytest.mark.docker

DEBIAN_CLI = "/usr/bin/aws"  # deploy/dev.sh installs Debian's awscli package
CODE = """
import json

def handler(event, context):
    print(f"text line {event['marker']}")
    print(json.dumps({"level": event.get("level", "INFO"), "marker": event["marker"]}))
    return {"stream": context.log_stream_name, "group": context.log_group_name}
"""


def logs_client(server: Server, credentials: Credentials | None = None):  # type: ignore[no-untyped-def]
    credentials = credentials or server.credentials()
    return boto3.client(
        "logs", endpoint_url=server.endpoint, region_name="us-east-1",
        aws_access_key_id=credentials.access_key_id, aws_secret_access_key=credentials.secret_access_key,
        config=Config(retries={"max_attempts": 1}, read_timeout=60, connect_timeout=5,
                      parameter_validation=False),  # the server must catch bad input itself
    )


@pytest.fixture(scope="module")
def logs(server: Server):  # type: ignore[no-untyped-def]
    return logs_client(server)


def deploy(lam) -> str:  # type: ignore[no-untyped-def]
    name = unique("logs")
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": CODE})}, Timeout=30)
    return name


def invoke(lam, name: str, marker: str, level: str = "INFO") -> dict:  # type: ignore[no-untyped-def]
    response = lam.invoke(FunctionName=name, Payload=json.dumps({"marker": marker, "level": level}).encode())
    assert "FunctionError" not in response
    return {"request_id": response["ResponseMetadata"]["RequestId"], **json.loads(response["Payload"].read())}


def stored(logs, group: str, request_id: str) -> list[dict]:  # type: ignore[no-untyped-def]
    """The group's events once the invocation's REPORT is among them (records are written in batches)."""
    def events() -> list[dict] | None:
        found = logs.filter_log_events(logGroupName=group)["events"] if groups(logs, group) else []
        return found if any(e["message"].startswith(f"REPORT RequestId: {request_id}") for e in found) else None
    return wait_for(events, timeout=30)


def groups(logs, group: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]


def test_boto3_reads_groups_streams_and_events_with_filters_paging_and_retention(server, lam, logs) -> None:  # type: ignore[no-untyped-def]
    name = deploy(lam)
    group = f"/aws/lambda/{name}"
    first = invoke(lam, name, "one")
    second = invoke(lam, name, "two", level="ERROR")
    assert first["group"] == group and first["stream"] == second["stream"]  # one warm environment, one stream
    events = stored(logs, group, second["request_id"])

    [described] = groups(logs, group)
    assert described["arn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{group}:*"
    streams = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True)["logStreams"]
    assert streams[0]["logStreamName"] == first["stream"]  # the name the function's context gave
    assert first["stream"].split("/")[3].startswith("[$LATEST]")

    messages = [e["message"] for e in events]
    start = messages.index(f"START RequestId: {first['request_id']} Version: $LATEST\n")
    assert messages[start + 1] == "text line one\n" and all(e["logStreamName"] == first["stream"] for e in events)
    head = logs.get_log_events(logGroupName=group, logStreamName=first["stream"], startFromHead=True)
    assert [e["message"] for e in head["events"]] == messages

    def matching(pattern: str) -> list[str]:
        return [e["message"] for e in logs.filter_log_events(logGroupName=group, filterPattern=pattern)["events"]]
    assert matching('{ $.level = "ERROR" }') == ['{"level": "ERROR", "marker": "two"}\n']
    assert matching('?"text line one" ?"line two"') == ["text line one\n", "text line two\n"]
    assert matching('"text line" -one') == ["text line two\n"]

    paged = [e["message"] for page in logs.get_paginator("filter_log_events").paginate(
        logGroupName=group, PaginationConfig={"PageSize": 3}) for e in page["events"]]
    assert paged == messages

    logs.put_retention_policy(logGroupName=group, retentionInDays=14)
    assert groups(logs, group)[0]["retentionInDays"] == 14
    logs.delete_retention_policy(logGroupName=group)
    assert "retentionInDays" not in groups(logs, group)[0]

    # Bad input, in the Logs API's error shape (boto3's modeled exceptions).
    with pytest.raises(logs.exceptions.InvalidParameterException, match="Invalid filter pattern"):
        logs.filter_log_events(logGroupName=group, filterPattern='{ $.level = "ERROR"')
    with pytest.raises(logs.exceptions.ResourceNotFoundException, match="log group does not exist"):
        logs.filter_log_events(logGroupName="/aws/lambda/no-such-function")
    with pytest.raises(logs.exceptions.ResourceNotFoundException, match="log stream does not exist"):
        logs.get_log_events(logGroupName=group, logStreamName="2026/01/01/[$LATEST]nothing")
    with pytest.raises(logs.exceptions.InvalidParameterException, match="retentionInDays") as bad_retention:
        logs.put_retention_policy(logGroupName=group, retentionInDays=2)
    assert bad_retention.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.put_retention_policy(logGroupName="/aws/lambda/no-such-function", retentionInDays=7)


def test_a_principal_reads_only_the_log_groups_its_policy_names(server, lam, logs) -> None:  # type: ignore[no-untyped-def]
    mine, theirs = deploy(lam), deploy(lam)
    for name in (mine, theirs):
        stored(logs, f"/aws/lambda/{name}", invoke(lam, name, "x")["request_id"])
    reader = logs_client(server, make_principal(server, unique("reader"), [
        {"Effect": "Allow", "Action": "logs:*",
         "Resource": f"arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/{mine}:*"}]))
    assert reader.filter_log_events(logGroupName=f"/aws/lambda/{mine}", filterPattern="REPORT")["events"]
    with pytest.raises(ClientError) as refused:
        reader.filter_log_events(logGroupName=f"/aws/lambda/{theirs}")
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert f"log-group:/aws/lambda/{theirs}" in refused.value.response["Error"]["Message"]
    with pytest.raises(ClientError, match="AccessDeniedException"):
        reader.put_retention_policy(logGroupName=f"/aws/lambda/{theirs}", retentionInDays=1)


class Lines:
    """A follower's stdout, read on a thread so the test waits with a deadline, never a blocking read."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self._lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.seen):
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} never showed; output so far:\n{''.join(self.seen)}"
            try:
                self.seen.append(self._lines.get(timeout=min(left, 1)))
            except queue.Empty:
                assert self.process.poll() is None, f"the follower exited: {''.join(self.seen)}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=10)  # it ends at the pipe's end, which the exit closed
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture
def follower(server: Server, tmp_path) -> Iterator:  # type: ignore[no-untyped-def]
    started: list[Lines] = []
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FAAS_"))}
    env.update({"AWS_SHARED_CREDENTIALS_FILE": str(server.data_dir / "credentials"), "AWS_DEFAULT_REGION": "us-east-1",
                "FAAS_DATA_DIR": str(server.data_dir), "HOME": str(tmp_path)})

    def start(*argv: str) -> Lines:
        process = subprocess.Popen(list(argv), env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True)
        started.append(Lines(process))
        return started[-1]
    yield start
    for lines in started:
        lines.stop()


def test_aws_logs_tail_and_faas_logs_follow_new_events(server, lam, logs, follower) -> None:  # type: ignore[no-untyped-def]
    if not os.path.exists(DEBIAN_CLI):
        pytest.skip(f"{DEBIAN_CLI} is missing: apt-get install awscli (deploy/dev.sh does)")
    name = deploy(lam)
    group = f"/aws/lambda/{name}"
    stored(logs, group, invoke(lam, name, "before")["request_id"])  # the group exists once a record does
    tail = follower(DEBIAN_CLI, "logs", "tail", group, "--follow", "--format", "short",
                    "--endpoint-url", server.endpoint)
    ours = follower(sys.executable, "-m", "faas", "logs", name, "--follow", "--filter", '{ $.level = "ERROR" }')
    tail.wait_for("text line before")  # what was there when it started (the last 10 minutes)
    invoke(lam, name, "after-info")
    invoke(lam, name, "after-error", level="ERROR")
    tail.wait_for("text line after-error")  # and what came later
    assert any("text line after-info" in line for line in tail.seen)
    ours.wait_for('"marker": "after-error"')
    assert not any("after-info" in line or "before" in line for line in ours.seen)

    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FAAS_"))},
           "FAAS_DATA_DIR": str(server.data_dir)}
    listed = subprocess.run([sys.executable, "-m", "faas", "logs", name, "--since", "10m", "--filter", "REPORT"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("REPORT RequestId: ") == 3
    bad = subprocess.run([sys.executable, "-m", "faas", "logs", name, "--filter", '"unterminated'],
                         env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "InvalidParameterException" in bad.stderr and "Unterminated" in bad.stderr


def test_start_live_tail_streams_new_events_to_boto3(server, lam, logs) -> None:  # type: ignore[no-untyped-def]
    """boto3 prefixes StartLiveTail's host with `streaming-` (AWS's endpoint for it): a client of faas turns that
    off (Config(inject_host_prefix=False), or AWS_DISABLE_HOST_PREFIX_INJECTION=true)."""
    name = deploy(lam)
    group_arn = f"arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/{name}"
    stored(logs, f"/aws/lambda/{name}", invoke(lam, name, "before-tail")["request_id"])
    credentials = server.credentials()
    tailer = boto3.client("logs", endpoint_url=server.endpoint, region_name="us-east-1",
                          aws_access_key_id=credentials.access_key_id,
                          aws_secret_access_key=credentials.secret_access_key,
                          config=Config(retries={"max_attempts": 1}, read_timeout=60, inject_host_prefix=False))
    stream = tailer.start_live_tail(logGroupIdentifiers=[group_arn],
                                    logEventFilterPattern='?"text line" ?ERROR')["responseStream"]
    arrived: queue.Queue[dict] = queue.Queue()

    def read() -> None:
        try:
            for event in stream:
                arrived.put(event)
        except Exception as exc:  # noqa: BLE001 (closed below, while reading)
            arrived.put({"closed": repr(exc)})
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        first = arrived.get(timeout=30)
        assert first["sessionStart"]["logGroupIdentifiers"] == [group_arn]
        invoke(lam, name, "during-tail")
        messages: list[str] = []
        groups: set[str] = set()
        deadline = time.monotonic() + 60
        while "text line during-tail\n" not in messages:
            update = arrived.get(timeout=max(0.1, deadline - time.monotonic()))
            messages += [r["message"] for r in update["sessionUpdate"]["sessionResults"]]
            groups |= {r["logGroupIdentifier"] for r in update["sessionUpdate"]["sessionResults"]}
            assert time.monotonic() < deadline, messages
        assert messages == ["text line during-tail\n"]  # nothing from before the session, only what matches
        assert groups == {group_arn}
    finally:
        stream.close()
        reader.join(timeout=30)

    with pytest.raises(tailer.exceptions.ResourceNotFoundException):
        tailer.start_live_tail(logGroupIdentifiers=[group_arn + "-none"])
    with pytest.raises(tailer.exceptions.InvalidParameterException, match="Invalid filter pattern"):
        tailer.start_live_tail(logGroupIdentifiers=[group_arn], logEventFilterPattern="{ $.a = ")
