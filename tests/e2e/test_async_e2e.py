"""Asynchronous invocation end to end: 202 after a durable write, retries, destinations, event-invoke
configs, throttling, event age and a SIGKILL'd server, through boto3 and a real `faas serve`."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from botocore.exceptions import ClientError

from faas.store.tables import work_items
from tests.e2e.conftest import Server, environments, make_zip, unique

pytestmark = pytest.mark.docker

# Lambda waits about 1 then 2 minutes before retrying; here 1 then 2 seconds.
ASYNC_ENV = {"FAAS_ASYNC_RETRY_BASE_S": "1"}
ARN = "arn:aws:lambda:us-east-1:000000000000:function:"
QUEUE_ARN = "arn:aws:sqs:us-east-1:000000000000:"
SINK_MARK = "DESTINATION-RECORD "
# Destination records are sent with the function's execution role: this one may invoke every function here.
SENDER = "async-sender"
SENDER_ARN = f"arn:aws:iam::000000000000:role/{SENDER}"

SINK = f'''
import json

def handler(event, context):
    print({SINK_MARK!r} + json.dumps(event))
    return {{}}
'''

ECHO = '''
def handler(event, context):
    print("ran " + context.aws_request_id)
    return {"echo": event, "requestId": context.aws_request_id}
'''

ALWAYS_FAILS = '''
def handler(event, context):
    print("attempt " + context.aws_request_id)
    raise ValueError("always fails")
'''

# Each retry may run in the same warm environment, so the marker is per request id.
FAILS_ONCE = '''
import os

def handler(event, context):
    marker = "/tmp/failed-" + context.aws_request_id
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise RuntimeError("first attempt fails")
    return {"recovered": True}
'''

SLOW = '''
import time

def handler(event, context):
    print("started " + context.aws_request_id)
    time.sleep(3)
    print("finished " + context.aws_request_id)
    return {"n": event.get("n")}
'''


def with_sender_role(server: Server) -> Server:
    """The execution role of this module's functions, allowed to invoke their destinations."""
    status, _, body = server.request("POST", "/faas/v1/roles", json.dumps({"Name": SENDER}).encode(),
                                     {"Content-Type": "application/json"})
    assert status in (201, 409), (status, body[:500])  # 409: made by an earlier start on this data dir
    document = {"PolicyDocument": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": ARN + "async-*"},
        {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": QUEUE_ARN + "async-*"}]}}
    status, _, body = server.request("PUT", f"/faas/v1/roles/{SENDER}/policies/destinations",
                                     json.dumps(document).encode(), {"Content-Type": "application/json"})
    assert status == 200, (status, body[:500])
    return server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    srv = with_sender_role(Server(tmp_path_factory.mktemp("faas") / "data", extra_env=ASYNC_ENV).start())
    yield srv
    srv.stop()


def deploy(lam, code: str, **extra: Any) -> str:  # type: ignore[no-untyped-def]
    name = unique("async")
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=SENDER_ARN, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": code})}, **extra)
    return name


def invoke_async(lam, name: str, payload: object) -> str:  # type: ignore[no-untyped-def]
    response = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(payload).encode())
    assert response["StatusCode"] == 202
    assert response["Payload"].read() == b""
    request_id = response["ResponseMetadata"]["RequestId"]
    assert re.fullmatch(r"[0-9a-f-]{36}", request_id), request_id
    return request_id


def runs(server: Server, name: str) -> list[dict]:
    """The function's invocation records, one per attempt, oldest first."""
    return server.get_json(f"/faas/v1/functions/{name}/logs?limit=200")["Invocations"]


def destination_records(server: Server, sink: str) -> list[dict]:
    records = []
    for run in runs(server, sink):
        for line in run["Log"].splitlines():
            if SINK_MARK in line:
                records.append(json.loads(line.split(SINK_MARK, 1)[1]))
    return records


def wait_for(what: Callable[[], Any], timeout: float = 60, message: str = "") -> Any:
    """Poll until `what()` is truthy (records are written in batches every 0.5 s)."""
    deadline = time.monotonic() + timeout
    while True:
        value = what()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting: {message}"
        time.sleep(0.25)


def record_for(server: Server, sink: str, request_id: str, timeout: float = 60) -> dict:
    def find() -> dict | None:
        return next((r for r in destination_records(server, sink)
                     if r["requestContext"]["requestId"] == request_id), None)
    return wait_for(find, timeout, f"a destination record for {request_id}")


def with_sink(lam, name: str, sink: str, on: str = "OnSuccess", **config: Any) -> None:  # type: ignore[no-untyped-def]
    lam.put_function_event_invoke_config(FunctionName=name,
                                         DestinationConfig={on: {"Destination": ARN + sink}}, **config)


def test_event_invocation_runs_with_its_request_id_and_reports_success(server: Server, lam: Any) -> None:
    sink = deploy(lam, SINK)
    name = deploy(lam, ECHO)
    with_sink(lam, name, sink, "OnSuccess")

    request_id = invoke_async(lam, name, {"order": 42, "items": ["a", "b"]})

    record = record_for(server, sink, request_id)
    assert record["version"] == "1.0"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", record["timestamp"]), record["timestamp"]
    context = record["requestContext"]
    assert context == {"requestId": request_id, "functionArn": f"{ARN}{name}:$LATEST", "condition": "Success",
                       "approximateInvokeCount": 1}
    assert record["requestPayload"] == {"order": 42, "items": ["a", "b"]}
    assert record["responseContext"]["statusCode"] == 200
    assert record["responseContext"]["executedVersion"] == "$LATEST"
    assert "functionError" not in record["responseContext"]
    assert record["responsePayload"] == {"echo": {"order": 42, "items": ["a", "b"]}, "requestId": request_id}

    [run] = runs(server, name)
    assert run["RequestId"] == request_id and run["Outcome"] == "success"
    assert f"ran {request_id}" in run["Log"]
    assert run["Log"].startswith(f"START RequestId: {request_id} Version: $LATEST")


def test_a_failing_event_is_retried_twice_then_reported_retries_exhausted(server: Server, lam: Any) -> None:
    sink = deploy(lam, SINK)
    name = deploy(lam, ALWAYS_FAILS)
    with_sink(lam, name, sink, "OnFailure", MaximumRetryAttempts=2)

    request_id = invoke_async(lam, name, {"try": "hard"})

    record = record_for(server, sink, request_id)
    assert record["requestContext"] == {"requestId": request_id, "functionArn": f"{ARN}{name}:$LATEST",
                                        "condition": "RetriesExhausted", "approximateInvokeCount": 3}
    assert record["requestPayload"] == {"try": "hard"}
    assert record["responseContext"]["statusCode"] == 200
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"] == "ValueError"
    assert record["responsePayload"]["errorMessage"] == "always fails"

    attempts = wait_for(lambda: len(runs(server, name)) >= 3 and runs(server, name), 10, "three attempt records")
    assert len(attempts) == 3
    assert all(a["RequestId"] == request_id and a["Outcome"] == "error" for a in attempts)
    assert all(f"attempt {request_id}" in a["Log"] for a in attempts)
    # The second attempt waits FAAS_ASYNC_RETRY_BASE_S after the first, the third twice that.
    starts = [dt.datetime.fromisoformat(a["Start"]) for a in attempts]
    assert (starts[1] - starts[0]).total_seconds() >= 1.0
    assert (starts[2] - starts[1]).total_seconds() >= 2.0


def test_no_retries_runs_once(server: Server, lam: Any) -> None:
    sink = deploy(lam, SINK)
    name = deploy(lam, ALWAYS_FAILS)
    with_sink(lam, name, sink, "OnFailure", MaximumRetryAttempts=0)

    request_id = invoke_async(lam, name, {})

    record = record_for(server, sink, request_id)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    time.sleep(2.5)  # a retry would have started after 1 s
    attempts = runs(server, name)
    assert [a["RequestId"] for a in attempts] == [request_id]


def test_an_event_that_fails_once_succeeds_on_its_retry(server: Server, lam: Any) -> None:
    sink = deploy(lam, SINK)
    name = deploy(lam, FAILS_ONCE)
    lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig={
        "OnSuccess": {"Destination": ARN + sink}, "OnFailure": {"Destination": ARN + sink}})

    request_id = invoke_async(lam, name, {"x": 1})

    record = record_for(server, sink, request_id)
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["responsePayload"] == {"recovered": True}
    attempts = wait_for(lambda: len(runs(server, name)) >= 2 and runs(server, name), 10, "two attempt records")
    assert [(a["RequestId"], a["Outcome"]) for a in attempts] == [(request_id, "error"), (request_id, "success")]
    assert [r["requestContext"]["requestId"] for r in destination_records(server, sink)] == [request_id]


def test_event_invoke_config_crud_and_validation(server: Server, lam: Any) -> None:
    name = deploy(lam, ECHO)
    sink = deploy(lam, SINK)
    path = f"/2019-09-25/functions/{name}/event-invoke-config"

    with pytest.raises(ClientError) as missing:
        lam.get_function_event_invoke_config(FunctionName=name)
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"] == []

    put = lam.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=1, MaximumEventAgeInSeconds=3600,
        DestinationConfig={"OnFailure": {"Destination": ARN + sink}})
    assert put["FunctionArn"] == f"{ARN}{name}:$LATEST"
    assert put["MaximumRetryAttempts"] == 1 and put["MaximumEventAgeInSeconds"] == 3600
    assert put["DestinationConfig"] == {"OnFailure": {"Destination": ARN + sink}}
    raw = server.get_json(path)
    assert isinstance(raw["LastModified"], (int, float)) and not isinstance(raw["LastModified"], bool)
    assert abs(raw["LastModified"] - time.time()) < 60
    assert raw["FunctionArn"] == f"{ARN}{name}:$LATEST"

    got = lam.get_function_event_invoke_config(FunctionName=name)
    assert {k: got[k] for k in ("FunctionArn", "MaximumRetryAttempts", "MaximumEventAgeInSeconds",
                                "DestinationConfig")} == \
        {k: put[k] for k in ("FunctionArn", "MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")}

    # Update changes only what it is given.
    updated = lam.update_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    assert updated["MaximumRetryAttempts"] == 0
    assert updated["MaximumEventAgeInSeconds"] == 3600
    assert updated["DestinationConfig"] == {"OnFailure": {"Destination": ARN + sink}}
    updated = lam.update_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": ARN + sink}})
    assert updated["DestinationConfig"]["OnSuccess"] == {"Destination": ARN + sink}
    assert updated["MaximumRetryAttempts"] == 0 and updated["MaximumEventAgeInSeconds"] == 3600

    # Put replaces the whole config: what it does not name goes back to the defaults.
    reset = lam.put_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=120)
    assert reset["MaximumEventAgeInSeconds"] == 120
    assert reset["MaximumRetryAttempts"] == 2
    assert reset.get("DestinationConfig", {}) in ({}, {"OnSuccess": {}, "OnFailure": {}})

    listed = lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
    assert len(listed) == 1 and listed[0]["FunctionArn"] == f"{ARN}{name}:$LATEST"
    assert listed[0]["MaximumEventAgeInSeconds"] == 120

    bad = [
        {"MaximumRetryAttempts": 3},
        {"MaximumRetryAttempts": -1},
        {"MaximumEventAgeInSeconds": 59},
        {"MaximumEventAgeInSeconds": 21601},
        {"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:my-queue"}}},
        {"DestinationConfig": {"OnSuccess": {"Destination": "not an arn"}}},
    ]
    for params in bad:
        for call in (lam.put_function_event_invoke_config, lam.update_function_event_invoke_config):
            with pytest.raises(ClientError) as refused:
                call(FunctionName=name, **params)
            assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400, params
            assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException", params
    # the limits themselves are accepted, and nothing refused was stored
    assert lam.get_function_event_invoke_config(FunctionName=name)["MaximumEventAgeInSeconds"] == 120
    edge = lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0,
                                                MaximumEventAgeInSeconds=60)
    assert edge["MaximumEventAgeInSeconds"] == 60
    assert lam.put_function_event_invoke_config(FunctionName=name,
                                                MaximumEventAgeInSeconds=21600)["MaximumEventAgeInSeconds"] == 21600

    deleted = lam.delete_function_event_invoke_config(FunctionName=name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] in (200, 204)
    for call in (lam.get_function_event_invoke_config, lam.delete_function_event_invoke_config):
        with pytest.raises(ClientError) as gone:
            call(FunctionName=name)
        assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"] == []

    ghost = unique("no-such-function")
    for call, params in ((lam.get_function_event_invoke_config, {}),
                         (lam.put_function_event_invoke_config, {"MaximumRetryAttempts": 1}),
                         (lam.update_function_event_invoke_config, {"MaximumRetryAttempts": 1}),
                         (lam.delete_function_event_invoke_config, {}),
                         (lam.list_function_event_invoke_configs, {})):
        with pytest.raises(ClientError) as unknown:
            call(FunctionName=ghost, **params)
        assert unknown.value.response["Error"]["Code"] == "ResourceNotFoundException", call
        assert unknown.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_throttled_events_wait_and_run_once_each_without_counting_throttles(server: Server, lam: Any) -> None:
    sink = deploy(lam, SINK)
    name = deploy(lam, ECHO)
    with_sink(lam, name, sink, "OnSuccess")
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)

    request_ids = [invoke_async(lam, name, {"n": n}) for n in range(3)]
    time.sleep(3)  # each is tried (and throttled) a few times meanwhile
    assert runs(server, name) == []
    assert destination_records(server, sink) == []

    lam.delete_function_concurrency(FunctionName=name)
    records = wait_for(lambda: len(destination_records(server, sink)) >= 3 and destination_records(server, sink),
                       60, "three destination records")
    time.sleep(1.5)
    assert Counter(r["RequestId"] for r in runs(server, name)) == Counter(request_ids)
    records = destination_records(server, sink)
    assert sorted(r["requestContext"]["requestId"] for r in records) == sorted(request_ids)
    assert all(r["requestContext"]["condition"] == "Success" for r in records)
    assert all(r["requestContext"]["approximateInvokeCount"] == 1 for r in records)  # throttles don't count


def test_async_payload_over_1_mb_is_refused_and_nothing_is_queued(server: Server, lam: Any) -> None:
    name = deploy(lam, ECHO)
    too_big = json.dumps({"x": "a" * (1024 * 1024)}).encode()
    with pytest.raises(ClientError) as refused:
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=too_big)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert refused.value.response["Error"]["Code"] == "RequestTooLargeException"

    # just under the limit is accepted and runs
    fits = json.dumps({"x": "b" * 1_000_000}).encode()
    request_id = lam.invoke(FunctionName=name, InvocationType="Event", Payload=fits)["ResponseMetadata"]["RequestId"]
    wait_for(lambda: runs(server, name), 60, "the accepted event to run")
    time.sleep(1)
    assert [r["RequestId"] for r in runs(server, name)] == [request_id]


def test_event_invocations_refused_up_front_queue_nothing(server: Server, lam: Any) -> None:
    name = deploy(lam, ECHO)
    with pytest.raises(ClientError) as unknown:
        lam.invoke(FunctionName=unique("no-such-function"), InvocationType="Event", Payload=b"{}")
    assert unknown.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert unknown.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as not_json:
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{not json")
    assert not_json.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert not_json.value.response["Error"]["Code"] == "InvalidRequestContentException"
    time.sleep(1.5)
    assert runs(server, name) == []


def _start(data_dir: Path) -> Server:
    return with_sender_role(Server(data_dir, extra_env=ASYNC_ENV).start())


def test_events_outlive_a_sigkilled_server(tmp_path: Path) -> None:
    """7 accepted events (2 running, 5 queued behind a reservation of 2), then SIGKILL: after a restart on
    the same data dir every one of them runs to completion, none more than twice."""
    data_dir = tmp_path / "data"
    first = _start(data_dir)
    try:
        lam = first.client()
        sink = deploy(lam, SINK)
        name = deploy(lam, SLOW, Timeout=10)
        # No retries: a run cut short by the crash is re-run anyway (at least once), it is not a failure.
        with_sink(lam, name, sink, "OnSuccess", MaximumRetryAttempts=0)
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)
        request_ids = [invoke_async(lam, name, {"n": n}) for n in range(7)]

        wait_for(lambda: sum(e["FunctionName"] == name and e["State"] == "busy" for e in environments(first)) == 2,
                 60, "two events running")
        time.sleep(0.5)
    finally:
        assert first.stop(signal.SIGKILL) == -signal.SIGKILL

    second = _start(data_dir)
    try:
        wanted = set(request_ids)

        def all_reported() -> list[dict] | None:
            records = destination_records(second, sink)
            return records if wanted <= {r["requestContext"]["requestId"] for r in records} else None

        wait_for(all_reported, 120, "a destination record for every accepted event")
        time.sleep(1.5)  # let any duplicate show up
        records = destination_records(second, sink)
        attempts = runs(second, name)
        for request_id in request_ids:
            mine = [r for r in records if r["requestContext"]["requestId"] == request_id]
            assert 1 <= len(mine) <= 2, (request_id, mine)
            assert all(r["requestContext"]["condition"] == "Success" for r in mine)
            assert all(r["requestContext"]["approximateInvokeCount"] in (1, 2) for r in mine)
            assert mine[0]["responsePayload"] == {"n": request_ids.index(request_id)}
            finished = [a for a in attempts if a["RequestId"] == request_id and a["Outcome"] == "success"]
            assert 1 <= len(finished) <= 2, (request_id, finished)
            assert f"finished {request_id}" in finished[0]["Log"]
        # The two cut short by the crash were re-run: the record counts both runs.
        counts = Counter(r["requestContext"]["approximateInvokeCount"] for r in records
                         if r["requestContext"]["requestId"] in wanted)
        assert counts[2] >= 2, counts
        assert {r["requestContext"]["requestId"] for r in records} == wanted
    finally:
        second.stop()


def test_an_event_older_than_its_maximum_age_is_dropped_and_reported(tmp_path: Path) -> None:
    """MaximumEventAgeInSeconds is at least 60: rather than wait a minute, the server is SIGKILLed while the
    event waits (throttled), the event is made two minutes old in the store as if the server had been down
    that long, and the restarted server must report it EventAgeExceeded without running it."""
    data_dir = tmp_path / "data"
    first = _start(data_dir)
    try:
        lam = first.client()
        sink = deploy(lam, SINK)
        name = deploy(lam, ECHO)
        with_sink(lam, name, sink, "OnFailure", MaximumEventAgeInSeconds=60)
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
        request_id = invoke_async(lam, name, {"stale": True})
        time.sleep(1)
        assert runs(first, name) == []
    finally:
        first.stop(signal.SIGKILL)

    engine = sqlalchemy.create_engine(f"sqlite:///{data_dir / 'faas.db'}")
    try:
        with engine.begin() as conn:
            event = (work_items.c.kind == "async") & (work_items.c.key == request_id)
            [row] = conn.execute(sqlalchemy.select(work_items).where(event)).all()
            conn.execute(sqlalchemy.update(work_items).where(event)
                         .values(created_at=row.created_at - dt.timedelta(minutes=2)))
    finally:
        engine.dispose()

    second = _start(data_dir)
    try:
        lam = second.client()
        lam.delete_function_concurrency(FunctionName=name)
        record = record_for(second, sink, request_id)
        assert record["requestContext"] == {"requestId": request_id, "functionArn": f"{ARN}{name}:$LATEST",
                                            "condition": "EventAgeExceeded", "approximateInvokeCount": 0}
        assert record["requestPayload"] == {"stale": True}
        assert "responsePayload" not in record
        time.sleep(2)
        assert runs(second, name) == []  # it never ran
        # a fresh event still runs
        fresh = invoke_async(lam, name, {"stale": False})
        wait_for(lambda: [r for r in runs(second, name) if r["RequestId"] == fresh], 60, "a fresh event to run")
    finally:
        second.stop()


def test_cli_invoke_async_prints_the_request_id(server: Server, lam: Any, tmp_path: Path) -> None:
    """`faas invoke --async` queues the event and prints only its request id."""
    name = deploy(lam, ECHO)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FAAS_"))}
    env.update({"FAAS_DATA_DIR": str(server.data_dir), "HOME": str(tmp_path)})
    result = subprocess.run([sys.executable, "-m", "faas", "invoke", "--async", name, "--payload", "{}"],
                            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    request_id = result.stdout.strip()
    uuid.UUID(request_id)
    wait_for(lambda: [r for r in runs(server, name) if r["RequestId"] == request_id], 60, "the CLI's event to run")


# --- queues as destinations and dead-letter queues ---------------------------------------------------


@pytest.fixture(scope="module")
def sqs(server: Server):  # type: ignore[no-untyped-def]
    from tests.e2e.test_sqs_e2e import sqs_client
    return sqs_client(server)


def receive_one(sqs, url: str) -> dict:  # type: ignore[no-untyped-def]
    def one() -> dict | None:
        messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5, MessageAttributeNames=["All"]).get("Messages")
        return messages[0] if messages else None
    return wait_for(one, 60, f"a message on {url}")


def test_an_event_that_fails_every_attempt_reaches_the_dead_letter_queue(server: Server, lam: Any, sqs: Any) -> None:
    dlq = unique("async-dlq")
    url = sqs.create_queue(QueueName=dlq)["QueueUrl"]
    name = deploy(lam, ALWAYS_FAILS, DeadLetterConfig={"TargetArn": QUEUE_ARN + dlq})
    assert lam.get_function_configuration(FunctionName=name)["DeadLetterConfig"] == {"TargetArn": QUEUE_ARN + dlq}
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)

    request_id = invoke_async(lam, name, {"order": 7})

    message = receive_one(sqs, url)
    assert json.loads(message["Body"]) == {"order": 7}  # the event itself
    attributes = {key: (value["DataType"], value["StringValue"]) for key, value in message["MessageAttributes"].items()}
    assert attributes == {"RequestID": ("String", request_id), "ErrorCode": ("Number", "200"),
                          "ErrorMessage": ("String", "always fails")}
    # It went there after its retry, not before (records are written in batches, so wait for both).
    assert len(wait_for(lambda: len(runs(server, name)) >= 2 and runs(server, name), 10, "two attempts")) == 2


def test_a_queue_destination_gets_the_record(server: Server, lam: Any, sqs: Any) -> None:
    queue = unique("async-results")
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    name = deploy(lam, ECHO)
    lam.put_function_event_invoke_config(FunctionName=name,
                                         DestinationConfig={"OnSuccess": {"Destination": QUEUE_ARN + queue}})

    request_id = invoke_async(lam, name, {"n": 1})

    record = json.loads(receive_one(sqs, url)["Body"])
    assert record["requestContext"]["requestId"] == request_id and record["requestContext"]["condition"] == "Success"
    assert record["responsePayload"] == {"echo": {"n": 1}, "requestId": request_id}


def test_dead_letter_targets_the_role_may_not_send_to_or_bad_arns_are_refused(server: Server, lam: Any) -> None:
    name = deploy(lam, ECHO)
    before = lam.get_function_configuration(FunctionName=name)
    for target, says in [(QUEUE_ARN + "payroll", "does not have permissions to call SendMessage"),
                         (QUEUE_ARN + "async-jobs.fifo", "FIFO queue"),
                         (ARN + name, "cannot be a dead-letter target"),
                         ("arn:aws:sqs:us-east-1:111111111111:async-dlq", "outside this platform"),
                         ("not-an-arn", "is not valid")]:
        with pytest.raises(ClientError) as caught:
            lam.update_function_configuration(FunctionName=name, DeadLetterConfig={"TargetArn": target})
        error = caught.value.response["Error"]
        assert error["Code"] == "InvalidParameterValueException" and says in error["Message"], error
    after = lam.get_function_configuration(FunctionName=name)
    assert after["RevisionId"] == before["RevisionId"] and "DeadLetterConfig" not in after

    refused_name = unique("async")
    with pytest.raises(ClientError) as caught:
        lam.create_function(FunctionName=refused_name, Runtime="python3.13", Role=SENDER_ARN, Handler="app.handler",
                            Code={"ZipFile": make_zip({"app.py": ECHO})},
                            DeadLetterConfig={"TargetArn": QUEUE_ARN + "payroll"})
    assert "SendMessage" in caught.value.response["Error"]["Message"]
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=refused_name)


def test_a_dead_letter_queue_is_set_and_removed(server: Server, lam: Any) -> None:
    name = deploy(lam, ECHO)
    target = QUEUE_ARN + unique("async-dlq")  # the role's right decides, not whether the queue exists yet
    updated = lam.update_function_configuration(FunctionName=name, DeadLetterConfig={"TargetArn": target})
    assert updated["DeadLetterConfig"] == {"TargetArn": target}
    removed = lam.update_function_configuration(FunctionName=name, DeadLetterConfig={})
    assert "DeadLetterConfig" not in removed
