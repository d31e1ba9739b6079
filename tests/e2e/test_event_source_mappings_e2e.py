"""Event source mappings for SQS queues against a real `faas serve` with real containers, driven through
boto3's `lambda` and `sqs` clients, on SQLite and on PostgreSQL: the API and its errors, Lambda's SQS event,
batching and the window, partial batch failures, the dead-letter queue, FIFO order across a failure,
filters, scaling under a backlog, disabling, a deleted queue, and SIGKILL with messages in flight."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import Server, make_zip, unique, wait_for
from tests.e2e.test_postgres_e2e import drop_database, psql
from tests.e2e.test_security_e2e import audit, lambda_as, make_principal
from tests.e2e.test_sqs_e2e import md5_of_attributes, sqs_client

ACCOUNT = "000000000000"
REGION = "us-east-1"
READER = "esm-reader"  # an execution role allowed to consume the account's queues
READER_ARN = f"arn:aws:iam::{ACCOUNT}:role/{READER}"
NOBODY_ARN = f"arn:aws:iam::{ACCOUNT}:role/faas-default"  # allowed nothing
MARK = "ESM-BATCH "
# The test function: it logs each batch it gets (with when it started and ended), sleeps, fails or names
# failed items as each message's JSON body asks.
HANDLER = f'''
import json, time

def handler(event, context):
    started = time.time()
    failures = []
    for record in event["Records"]:
        try:
            body = json.loads(record["body"])
        except ValueError:
            body = {{}}
        if not isinstance(body, dict):
            body = {{}}
        if body.get("sleep"):
            time.sleep(body["sleep"])
        first = record["attributes"]["ApproximateReceiveCount"] == "1"
        if body.get("fail") or (body.get("fail_first") and first):
            failures.append({{"itemIdentifier": record["messageId"]}})
        if body.get("raise"):
            print({MARK!r} + json.dumps({{"event": event, "started": started, "ended": time.time()}}))
            raise ValueError("asked to fail")
        if body.get("answer") is not None:
            print({MARK!r} + json.dumps({{"event": event, "started": started, "ended": time.time()}}))
            return body["answer"]
    print({MARK!r} + json.dumps({{"event": event, "started": started, "ended": time.time()}}))
    return {{"batchItemFailures": failures}}
'''


def with_reader_role(server: Server) -> Server:
    status, _, body = server.request("POST", "/faas/v1/roles", json.dumps({"Name": READER}).encode(),
                                     {"Content-Type": "application/json"})
    assert status in (201, 409), (status, body[:500])
    document = {"PolicyDocument": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
         "Resource": f"arn:aws:sqs:{REGION}:{ACCOUNT}:*"}]}}
    status, _, body = server.request("PUT", f"/faas/v1/roles/{READER}/policies/queues",
                                     json.dumps(document).encode(), {"Content-Type": "application/json"})
    assert status == 200, (status, body[:500])
    return server


@contextlib.contextmanager
def database(store: str) -> Iterator[str | None]:
    """A new, empty store of that kind for one server: None for its own SQLite file."""
    if store == "sqlite":
        yield None
        return
    admin = os.environ.get("FAAS_TEST_POSTGRES_URL")
    if not admin:
        pytest.skip("FAAS_TEST_POSTGRES_URL is not set")
    name = f"faas_esm_{uuid.uuid4().hex[:10]}"
    psql(admin, f"CREATE DATABASE {name}")
    try:
        yield admin.rsplit("/", 1)[0] + "/" + name
    finally:
        drop_database(admin, name)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request) -> str:  # type: ignore[no-untyped-def]
    return request.param


@pytest.fixture(scope="module")
def store_url(store: str):  # type: ignore[no-untyped-def]
    with database(store) as url:
        yield url


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, store_url):  # type: ignore[no-untyped-def]
    srv = with_reader_role(Server(tmp_path_factory.mktemp("faas") / "data", database_url=store_url).start())
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def lam(server: Server):  # type: ignore[no-untyped-def]
    return server.client()


@pytest.fixture(scope="module")
def sqs(server: Server):  # type: ignore[no-untyped-def]
    return sqs_client(server)


def deploy(lam: Any, role: str = READER_ARN, timeout: int = 3, code: str = HANDLER) -> str:
    name = unique("esm")
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=role, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": code})}, Timeout=timeout)
    return name


def queue(sqs: Any, name: str | None = None, **attributes: str) -> tuple[str, str]:
    """A new queue's URL and ARN."""
    url = sqs.create_queue(QueueName=name or unique("esm-q"), Attributes=attributes)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def batches(server: Server, name: str) -> list[dict]:
    """The batches the function got, oldest first: {"event", "started", "ended"} each."""
    runs = server.get_json(f"/faas/v1/functions/{name}/logs?limit=500")["Invocations"]
    found = []
    for run in runs:
        for line in run["Log"].splitlines():
            if MARK in line:
                found.append(json.loads(line.split(MARK, 1)[1]))
    return sorted(found, key=lambda batch: batch["started"])


def bodies(server: Server, name: str) -> list[str]:
    return [record["body"] for batch in batches(server, name) for record in batch["event"]["Records"]]


def enabled(lam: Any, uuid_: str, state: str = "Enabled") -> dict:
    return wait_for(lambda: (m := lam.get_event_source_mapping(UUID=uuid_))["State"] == state and m, timeout=30)


def depth(sqs: Any, url: str) -> tuple[int, int]:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
    return (int(attributes["Attributes"]["ApproximateNumberOfMessages"]),
            int(attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"]))


def refused(call, code: str, status: int, **params) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as caught:
        call(**params)
    error = caught.value.response["Error"]
    assert (caught.value.response["ResponseMetadata"]["HTTPStatusCode"], error["Code"]) == (status, code), error
    assert error["Message"]
    return error["Message"]


def test_create_get_list_update_and_delete_in_lambdas_shapes(server, lam, sqs):
    name = deploy(lam)
    _, arn = queue(sqs)
    _, other_arn = queue(sqs)
    created = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, BatchSize=5,
                                              FunctionResponseTypes=["ReportBatchItemFailures"],
                                              ScalingConfig={"MaximumConcurrency": 3})
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    mapping_uuid = created["UUID"]
    assert created["State"] == "Creating" and created["StateTransitionReason"] == "USER_INITIATED"
    assert (created["BatchSize"], created["MaximumBatchingWindowInSeconds"], created["EventSourceArn"],
            created["FunctionArn"], created["FunctionResponseTypes"], created["ScalingConfig"]) == \
        (5, 0, arn, f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}", ["ReportBatchItemFailures"],
         {"MaximumConcurrency": 3})
    assert created["EventSourceMappingArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{mapping_uuid}"
    assert created["LastProcessingResult"] == "No records processed"
    assert created["LastModified"].year >= 2025
    got = enabled(lam, mapping_uuid)
    assert got["UUID"] == mapping_uuid and got["BatchSize"] == 5

    second = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=other_arn, Enabled=False)
    assert second["BatchSize"] == 10  # Lambda's default for a queue
    # Changed at once, while the pollers settle its creation: the change applies, whichever comes first.
    assert lam.update_event_source_mapping(UUID=second["UUID"], BatchSize=4)["BatchSize"] == 4
    assert enabled(lam, second["UUID"], "Disabled")["BatchSize"] == 4
    # The same function and queue again: refused, naming the mapping that exists.
    message = refused(lam.create_event_source_mapping, "ResourceConflictException", 409, FunctionName=name,
                      EventSourceArn=arn)
    assert mapping_uuid in message

    listed = lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]
    assert {m["UUID"] for m in listed} == {mapping_uuid, second["UUID"]}
    by_source = lam.list_event_source_mappings(EventSourceArn=other_arn)["EventSourceMappings"]
    assert [m["UUID"] for m in by_source] == [second["UUID"]]
    first_page = lam.list_event_source_mappings(FunctionName=name, MaxItems=1)
    second_page = lam.list_event_source_mappings(FunctionName=name, MaxItems=1, Marker=first_page["NextMarker"])
    assert {first_page["EventSourceMappings"][0]["UUID"], second_page["EventSourceMappings"][0]["UUID"]} == \
        {mapping_uuid, second["UUID"]} and "NextMarker" not in second_page
    paged = [m["UUID"] for page in lam.get_paginator("list_event_source_mappings").paginate(
        FunctionName=name, PaginationConfig={"PageSize": 1}) for m in page["EventSourceMappings"]]
    assert sorted(paged) == sorted([mapping_uuid, second["UUID"]])

    updated = lam.update_event_source_mapping(UUID=mapping_uuid, BatchSize=20, MaximumBatchingWindowInSeconds=2,
                                              FilterCriteria={"Filters": [{"Pattern": '{"body": {"a": [1]}}'}]},
                                              ScalingConfig={})
    assert updated["ResponseMetadata"]["HTTPStatusCode"] == 202 and updated["State"] == "Updating"
    assert (updated["BatchSize"], updated["MaximumBatchingWindowInSeconds"]) == (20, 2)
    assert updated["FilterCriteria"] == {"Filters": [{"Pattern": '{"body": {"a": [1]}}'}]}
    assert "ScalingConfig" not in updated
    enabled(lam, mapping_uuid)
    assert lam.update_event_source_mapping(UUID=mapping_uuid, Enabled=False)["State"] == "Disabling"
    enabled(lam, mapping_uuid, "Disabled")
    assert lam.update_event_source_mapping(UUID=mapping_uuid, Enabled=True)["State"] == "Enabling"
    enabled(lam, mapping_uuid)

    deleted = lam.delete_event_source_mapping(UUID=mapping_uuid)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 202 and deleted["State"] == "Deleting"
    wait_for(lambda: mapping_uuid not in {m["UUID"] for m in
                                          lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]})
    refused(lam.get_event_source_mapping, "ResourceNotFoundException", 404, UUID=mapping_uuid)
    lam.delete_event_source_mapping(UUID=second["UUID"])


def test_bad_input_gets_lambdas_errors_and_changes_nothing(server, lam, sqs):
    name = deploy(lam)
    denied = deploy(lam, role=NOBODY_ARN)
    slow = deploy(lam, timeout=60)
    _, arn = queue(sqs)
    _, fifo_arn = queue(sqs, unique("esm-f") + ".fifo", FifoQueue="true")
    kept = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, BatchSize=3)
    before = lam.list_event_source_mappings()["EventSourceMappings"]

    create = lam.create_event_source_mapping
    assert "eventSourceArn" in refused(create, "ValidationException", 400, FunctionName=name,
                                       EventSourceArn="not-an-arn")
    assert "batchSize" in refused(create, "ValidationException", 400, FunctionName=name, EventSourceArn=arn,
                                  BatchSize=0)
    refused(create, "ValidationException", 400, FunctionName=name, EventSourceArn=arn, BatchSize=10_001)
    assert "FIFO" in refused(create, "InvalidParameterValueException", 400, FunctionName=name,
                             EventSourceArn=fifo_arn, BatchSize=11)
    assert refused(create, "InvalidParameterValueException", 400, FunctionName=name, EventSourceArn=arn,
                   BatchSize=11) == ("Maximum batch window in seconds must be greater than 0 if maximum batch size "
                                     "is greater than 10")
    refused(create, "ValidationException", 400, FunctionName=name, EventSourceArn=arn,
            MaximumBatchingWindowInSeconds=301)
    refused(create, "ValidationException", 400, FunctionName=name, EventSourceArn=arn,
            ScalingConfig={"MaximumConcurrency": 1})
    refused(create, "ValidationException", 400, FunctionName=name, EventSourceArn=arn,
            FunctionResponseTypes=["ReportEverything"])
    assert "Function not found" in refused(create, "ResourceNotFoundException", 404, FunctionName=unique("none"),
                                           EventSourceArn=arn)
    assert "NonExistentQueue" in refused(create, "InvalidParameterValueException", 400, FunctionName=name,
                                         EventSourceArn=f"arn:aws:sqs:{REGION}:{ACCOUNT}:{unique('none')}")
    assert "kinesis" in refused(create, "InvalidParameterValueException", 400, FunctionName=name,
                                EventSourceArn=f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/s")
    assert "StartingPosition" in refused(create, "InvalidParameterValueException", 400, FunctionName=name,
                                         EventSourceArn=arn, StartingPosition="LATEST")
    assert refused(create, "InvalidParameterValueException", 400, FunctionName=denied, EventSourceArn=arn) == \
        "The provided execution role does not have permissions to call ReceiveMessage on SQS"
    assert refused(create, "InvalidParameterValueException", 400, FunctionName=slow, EventSourceArn=arn) == \
        "Queue visibility timeout: 30 seconds is less than Function timeout: 60 seconds"
    assert "Invalid filter pattern" in refused(
        create, "InvalidParameterValueException", 400, FunctionName=name, EventSourceArn=arn,
        FilterCriteria={"Filters": [{"Pattern": '{"body": {"a": [{"wildcard": "*x"}]}}'}]})
    refused(create, "InvalidParameterValueException", 400, FunctionName=name, EventSourceArn=arn,
            FilterCriteria={"Filters": [{"Pattern": "not json"}]})

    unknown = str(uuid.uuid4())
    refused(lam.get_event_source_mapping, "ResourceNotFoundException", 404, UUID=unknown)
    refused(lam.update_event_source_mapping, "ResourceNotFoundException", 404, UUID=unknown, BatchSize=2)
    refused(lam.delete_event_source_mapping, "ResourceNotFoundException", 404, UUID=unknown)
    update = lam.update_event_source_mapping
    refused(update, "ValidationException", 400, UUID=kept["UUID"], BatchSize=0)
    refused(update, "InvalidParameterValueException", 400, UUID=kept["UUID"], BatchSize=50)
    refused(update, "InvalidParameterValueException", 400, UUID=kept["UUID"], FunctionName=denied)

    after = lam.list_event_source_mappings()["EventSourceMappings"]
    assert [m["UUID"] for m in after] == [m["UUID"] for m in before]
    assert lam.get_event_source_mapping(UUID=kept["UUID"])["BatchSize"] == 3
    lam.delete_event_source_mapping(UUID=kept["UUID"])


def test_a_batch_is_lambdas_sqs_event_and_is_deleted_once_it_succeeded(server, lam, sqs):
    name = deploy(lam)
    url, arn = queue(sqs)
    mapping = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, BatchSize=5)
    enabled(lam, mapping["UUID"])
    attributes = {"kind": {"DataType": "String", "StringValue": "order"},
                  "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}}
    sent = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": str(i), "MessageBody": json.dumps({"n": i}), **({"MessageAttributes": attributes} if i == 0 else {})}
        for i in range(5)])["Successful"]
    [batch] = wait_for(lambda: batches(server, name))
    records = batch["event"]["Records"]
    assert sorted(r["messageId"] for r in records) == sorted(s["MessageId"] for s in sent)
    first = next(r for r in records if r["body"] == '{"n": 0}')
    assert set(first) == {"messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody",
                          "md5OfMessageAttributes", "eventSource", "eventSourceARN", "awsRegion"}
    assert (first["eventSource"], first["eventSourceARN"], first["awsRegion"]) == ("aws:sqs", arn, REGION)
    assert set(first["attributes"]) == {"ApproximateReceiveCount", "SentTimestamp", "SenderId",
                                        "ApproximateFirstReceiveTimestamp"}
    assert first["attributes"]["ApproximateReceiveCount"] == "1"
    assert first["messageAttributes"] == {
        "kind": {"stringValue": "order", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
        "raw": {"binaryValue": "AAE=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"}}
    assert first["md5OfMessageAttributes"] == md5_of_attributes(attributes)
    plain = next(r for r in records if r["body"] == '{"n": 1}')
    assert plain["messageAttributes"] == {} and "md5OfMessageAttributes" not in plain
    wait_for(lambda: depth(sqs, url) == (0, 0))
    wait_for(lambda: lam.get_event_source_mapping(UUID=mapping["UUID"])["LastProcessingResult"] == "OK")


def test_the_batching_window_gathers_messages_sent_apart(server, lam, sqs):
    name = deploy(lam)
    url, arn = queue(sqs)
    mapping = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, BatchSize=50,
                                              MaximumBatchingWindowInSeconds=3)
    enabled(lam, mapping["UUID"])
    for i in range(4):
        sqs.send_message(QueueUrl=url, MessageBody=f"apart {i}")
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"together {i}"} for i in range(10)])
    wait_for(lambda: len(bodies(server, name)) >= 14)
    assert len(batches(server, name)) == 1  # one invocation with all of them: the window gathered them
    assert sorted(bodies(server, name)) == sorted([f"apart {i}" for i in range(4)] +
                                                  [f"together {i}" for i in range(10)])


def test_partial_batch_failures_come_back_and_reach_the_dead_letter_queue(server, lam, sqs):
    name = deploy(lam, timeout=2)
    dead_url, dead_arn = queue(sqs)
    url, arn = queue(sqs, VisibilityTimeout="2",
                     RedrivePolicy=json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": 2}))
    mapping = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, BatchSize=10,
                                              FunctionResponseTypes=["ReportBatchItemFailures"])
    enabled(lam, mapping["UUID"])
    sent = {body: sqs.send_message(QueueUrl=url, MessageBody=body)["MessageId"]
            for body in ('{"ok": 1}', '{"fail": true}', '{"fail_first": true}')}
    dead = wait_for(lambda: sqs.receive_message(QueueUrl=dead_url, WaitTimeSeconds=1).get("Messages"), timeout=60)
    assert [m["MessageId"] for m in dead] == [sent['{"fail": true}']]
    wait_for(lambda: depth(sqs, url) == (0, 0), timeout=30)
    seen = bodies(server, name)
    # The success once; the failing one twice (maxReceiveCount), then the DLQ; the one failing once, twice.
    assert (seen.count('{"ok": 1}'), seen.count('{"fail": true}'), seen.count('{"fail_first": true}')) == (1, 2, 2)
    assert lam.get_event_source_mapping(UUID=mapping["UUID"])["LastProcessingResult"] in (
        "OK", "PROBLEM: Function call failed")


def test_a_function_error_or_a_malformed_answer_fails_the_whole_batch(server, lam, sqs):
    name = deploy(lam, timeout=2)
    url, arn = queue(sqs, VisibilityTimeout="2")
    mapping = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, BatchSize=10,
                                              FunctionResponseTypes=["ReportBatchItemFailures"])
    enabled(lam, mapping["UUID"])
    malformed = json.dumps({"answer": {"batchItemFailures": [{"itemIdentifier": "not-in-the-batch"}]}})
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": malformed},
                                                  {"Id": "b", "MessageBody": "plain"}])
    wait_for(lambda: len(batches(server, name)) >= 2, timeout=30)  # the batch came back after the timeout
    second = batches(server, name)[1]["event"]["Records"]
    assert sorted(r["body"] for r in second) == sorted([malformed, "plain"])
    assert all(r["attributes"]["ApproximateReceiveCount"] == "2" for r in second)
    wait_for(lambda: lam.get_event_source_mapping(UUID=mapping["UUID"])["LastProcessingResult"]
             == "PROBLEM: Function call failed")
    lam.delete_event_source_mapping(UUID=mapping["UUID"])


def test_a_fifo_group_stops_at_its_first_failure_and_resumes_in_order(server, lam, sqs):
    name = deploy(lam, timeout=2)
    url, arn = queue(sqs, unique("esm-f") + ".fifo", FifoQueue="true", VisibilityTimeout="2")
    sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": str(n), "MessageBody": json.dumps({"n": n, "fail_first": n == 3}), "MessageGroupId": "g",
         "MessageDeduplicationId": str(n)} for n in range(1, 6)])
    mapping = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, BatchSize=10,
                                              FunctionResponseTypes=["ReportBatchItemFailures"])
    enabled(lam, mapping["UUID"])
    wait_for(lambda: depth(sqs, url) == (0, 0), timeout=60)
    wait_for(lambda: len(batches(server, name)) >= 2)  # invocation records are written every half second
    rounds = [[json.loads(r["body"])["n"] for r in batch["event"]["Records"]] for batch in batches(server, name)]
    # 1 and 2 succeed; 3 fails, and 4 and 5 stay with it: they come back together, in order.
    assert rounds == [[1, 2, 3, 4, 5], [3, 4, 5]]
    last = batches(server, name)[-1]["event"]["Records"]
    assert all(r["attributes"]["MessageGroupId"] == "g" and r["attributes"]["SequenceNumber"] for r in last)


def test_filters_pass_what_matches_and_delete_the_rest(server, lam, sqs):
    name = deploy(lam)
    url, arn = queue(sqs)
    mapping = lam.create_event_source_mapping(
        FunctionName=name, EventSourceArn=arn,
        FilterCriteria={"Filters": [{"Pattern": json.dumps({"body": {"kind": ["order"], "total": [{"numeric": [">", 10]}]}})},
                                    {"Pattern": json.dumps({"body": [{"prefix": "urgent"}]})}]})
    enabled(lam, mapping["UUID"])
    wanted = [json.dumps({"kind": "order", "total": 12}), "urgent: call"]
    unwanted = [json.dumps({"kind": "order", "total": 5}), json.dumps({"kind": "refund", "total": 50}), "hello"]
    for body in unwanted + wanted:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    wait_for(lambda: depth(sqs, url) == (0, 0), timeout=30)
    wait_for(lambda: len(bodies(server, name)) >= 2)
    assert sorted(bodies(server, name)) == sorted(wanted)


def test_pollers_scale_with_a_backlog_up_to_the_limits(server, lam, sqs):
    name = deploy(lam, timeout=3)
    url, arn = queue(sqs)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=3)
    for start in range(0, 30, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": json.dumps({"sleep": 0.4})}
                                                      for i in range(start, start + 10)])
    mapping = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, BatchSize=1,
                                              ScalingConfig={"MaximumConcurrency": 5})
    enabled(lam, mapping["UUID"])
    wait_for(lambda: len(bodies(server, name)) >= 30, timeout=120)
    spans = [(batch["started"], batch["ended"]) for batch in batches(server, name)]
    most = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    # More than one batch at once, never more than the function's reserved concurrency.
    assert 1 < most <= 3, spans
    wait_for(lambda: depth(sqs, url) == (0, 0))


def test_disabling_stops_polling_and_enabling_resumes(server, lam, sqs):
    name = deploy(lam)
    url, arn = queue(sqs)
    mapping = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, BatchSize=1)
    enabled(lam, mapping["UUID"])
    sqs.send_message(QueueUrl=url, MessageBody="before")
    wait_for(lambda: bodies(server, name) == ["before"])
    lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    enabled(lam, mapping["UUID"], "Disabled")
    sqs.send_message(QueueUrl=url, MessageBody="while disabled")
    assert depth(sqs, url) == (1, 0)  # nobody took it
    lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)
    enabled(lam, mapping["UUID"])
    wait_for(lambda: bodies(server, name) == ["before", "while disabled"])


def test_deleting_the_queue_is_reported_in_the_mapping_and_a_new_queue_is_polled(server, lam, sqs):
    name = deploy(lam)
    queue_name = unique("esm-gone")
    url, arn = queue(sqs, queue_name)
    mapping = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, BatchSize=1)
    enabled(lam, mapping["UUID"])
    sqs.delete_queue(QueueUrl=url)
    problem = wait_for(lambda: (m := lam.get_event_source_mapping(UUID=mapping["UUID"]))["LastProcessingResult"]
                       .startswith("PROBLEM") and m, timeout=30)
    assert "queue does not exist" in problem["LastProcessingResult"] and problem["State"] == "Enabled"
    url, _ = queue(sqs, queue_name)
    sqs.send_message(QueueUrl=url, MessageBody="after")
    wait_for(lambda: bodies(server, name) == ["after"], timeout=30)
    wait_for(lambda: lam.get_event_source_mapping(UUID=mapping["UUID"])["LastProcessingResult"] == "OK")


def test_sigkill_with_messages_in_flight_loses_none(tmp_path, store):
    with database(store) as url:
        sigkill_with_messages_in_flight(Server(tmp_path / "data", database_url=url))


def sigkill_with_messages_in_flight(server: Server) -> None:
    with_reader_role(server.start())
    try:
        lam, sqs = server.client(), sqs_client(server)
        # A batch runs 3 s (2 messages of 1.5 s), so the kill lands while one runs even on a loaded machine.
        name = deploy(lam, timeout=5)
        url, arn = queue(sqs, VisibilityTimeout="5")
        mapping = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, BatchSize=2,
                                                  ScalingConfig={"MaximumConcurrency": 2})
        enabled(lam, mapping["UUID"])
        sent = {sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": i, "sleep": 1.5}))["MessageId"]
                for i in range(10)}
        wait_for(lambda: depth(sqs, url)[1] > 0)  # batches in flight
        server.stop(signal.SIGKILL)
        server.start()
        lam, sqs = server.client(), sqs_client(server)
        # Every message is deleted only once the function succeeded with it: an empty queue is every message
        # processed at least once; those in flight at the kill came back after the visibility timeout.
        wait_for(lambda: depth(sqs, url) == (0, 0), timeout=90)
        def records() -> list[dict]:
            return [r for batch in batches(server, name) for r in batch["event"]["Records"]]

        wait_for(lambda: any(int(r["attributes"]["ApproximateReceiveCount"]) > 1 for r in records()))
        assert {r["messageId"] for r in records()} <= sent
    finally:
        server.stop()


@pytest.mark.postgres
def test_two_nodes_on_one_postgresql_deliver_each_message_once(tmp_path):
    """Both nodes poll the mapping; a message's lease keeps it with one of them: every message is processed,
    none twice (its visibility timeout is far longer than the function runs)."""
    with database("postgresql") as url:
        key = {"FAAS_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()}
        first = with_reader_role(Server(tmp_path / "a", database_url=url, extra_env=key).start())
        second = None
        try:
            second = Server(tmp_path / "b", database_url=url, extra_env=key).start()
            lam = first.client()
            name = deploy(lam)
            url_a, arn = queue(sqs_client(first))
            mapping = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, BatchSize=5,
                                                      ScalingConfig={"MaximumConcurrency": 2})
            enabled(lam, mapping["UUID"])
            wait_for(lambda: depth(sqs_client(first), url_a) == (0, 0))
            sent = set()
            for node in (first, second):
                sqs = sqs_client(node, credentials=first.credentials())
                node_url = sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[1])["QueueUrl"]
                for start in range(0, 100, 10):
                    sent |= {entry["MessageId"] for entry in sqs.send_message_batch(QueueUrl=node_url, Entries=[
                        {"Id": str(i), "MessageBody": json.dumps({"sleep": 0.05})}
                        for i in range(start, start + 10)])["Successful"]}
            wait_for(lambda: depth(sqs_client(first), url_a) == (0, 0), timeout=120)

            def delivered() -> list[str]:
                return [r["messageId"] for batch in batches(first, name) for r in batch["event"]["Records"]]

            wait_for(lambda: len(delivered()) >= len(sent), timeout=30)
            assert sorted(delivered()) == sorted(sent)  # each once
            for node in (first, second):  # and both nodes ran the function
                environments = node.request("GET", "/faas/v1/environments", credentials=first.credentials())
                assert environments[0] == 200 and name in environments[2].decode()
        finally:
            if second is not None:
                second.stop()
            first.stop()


def test_a_role_that_loses_its_rights_stops_the_polling_until_they_are_back(server, lam, sqs):
    role = unique("esm-role")
    status, _, _ = server.request("POST", "/faas/v1/roles", json.dumps({"Name": role}).encode(),
                                  {"Content-Type": "application/json"})
    assert status == 201
    policy = f"/faas/v1/roles/{role}/policies/queues"
    document = json.dumps({"PolicyDocument": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]}}).encode()
    assert server.request("PUT", policy, document, {"Content-Type": "application/json"})[0] == 200
    name = deploy(lam, role=f"arn:aws:iam::{ACCOUNT}:role/{role}")
    url, arn = queue(sqs)
    mapping = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, BatchSize=1)
    enabled(lam, mapping["UUID"])
    assert server.request("DELETE", policy)[0] in (200, 204)
    wait_for(lambda: "execution role" in lam.get_event_source_mapping(UUID=mapping["UUID"])["LastProcessingResult"])
    sqs.send_message(QueueUrl=url, MessageBody="waits")
    assert depth(sqs, url) == (1, 0)
    assert server.request("PUT", policy, document, {"Content-Type": "application/json"})[0] == 200
    wait_for(lambda: bodies(server, name) == ["waits"], timeout=30)
    wait_for(lambda: lam.get_event_source_mapping(UUID=mapping["UUID"])["LastProcessingResult"] == "OK")


def test_callers_are_authorised_per_action_and_mapping_and_audited(server, lam, sqs):
    name = deploy(lam)
    _, arn = queue(sqs)
    mapping = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn)
    own = f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{mapping['UUID']}"
    caller = unique("esm-user")
    credentials = make_principal(server, caller, [
        {"Effect": "Allow", "Action": ["lambda:ListEventSourceMappings"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["lambda:GetEventSourceMapping", "lambda:UpdateEventSourceMapping"],
         "Resource": own}])
    limited = lambda_as(server, credentials)
    assert [m["UUID"] for m in limited.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]] == \
        [mapping["UUID"]]
    assert limited.get_event_source_mapping(UUID=mapping["UUID"])["UUID"] == mapping["UUID"]
    limited.update_event_source_mapping(UUID=mapping["UUID"], BatchSize=3)
    refused(limited.delete_event_source_mapping, "AccessDeniedException", 403, UUID=mapping["UUID"])
    message = refused(limited.create_event_source_mapping, "AccessDeniedException", 403, FunctionName=name,
                      EventSourceArn=arn)
    assert "lambda:CreateEventSourceMapping" in message
    wait_for(lambda: {(e["Action"], e["Outcome"]) for e in audit(server, principal=f"arn:aws:iam::{ACCOUNT}:user/{caller}")}
             >= {("lambda:UpdateEventSourceMapping", "allowed"), ("lambda:DeleteEventSourceMapping", "denied"),
                 ("lambda:CreateEventSourceMapping", "denied")})
    assert lam.get_event_source_mapping(UUID=mapping["UUID"])["BatchSize"] == 3
    lam.delete_event_source_mapping(UUID=mapping["UUID"])
