"""The platform's own events on the default bus (source "faas"), reaching rules like any other event, against
a real `faas serve` with real containers: an asynchronous invocation that failed for good, and an event
source mapping that was disabled."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Server, make_zip, unique, wait_for
from tests.e2e.test_event_rules_e2e import ACCOUNT, REGION, SENDER, SENDER_ARN, nothing_more, queue, received
from tests.e2e.test_events_e2e import events_client
from tests.e2e.test_sqs_e2e import sqs_client

pytestmark = pytest.mark.docker

FAILS = '''
def handler(event, context):
    raise ValueError("always fails")
'''


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    srv = Server(tmp_path_factory.mktemp("faas") / "data", extra_env={"FAAS_ASYNC_RETRY_BASE_S": "1"}).start()
    status, _, body = srv.request("POST", "/faas/v1/roles", json.dumps({"Name": SENDER}).encode(),
                                  {"Content-Type": "application/json"})
    assert status == 201, (status, body[:500])
    document = {"PolicyDocument": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage",
                                       "sqs:GetQueueAttributes"],
         "Resource": f"arn:aws:sqs:{REGION}:{ACCOUNT}:events-*"}]}}
    status, _, body = srv.request("PUT", f"/faas/v1/roles/{SENDER}/policies/queues", json.dumps(document).encode(),
                                  {"Content-Type": "application/json"})
    assert status == 200, (status, body[:500])
    yield srv
    srv.stop()


def platform_rule(events, sqs, detail_type: str, detail: dict) -> str:  # type: ignore[no-untyped-def]
    """A rule on the default bus for one kind of platform event, delivering to a new queue: its URL."""
    url, queue_arn = queue(sqs)
    rule = unique("platform")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["faas"], "detail-type": [detail_type],
                                                        "detail": detail}))
    events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": queue_arn, "RoleArn": SENDER_ARN}])
    return url


def test_an_async_invocation_that_failed_for_good_is_an_event(server):
    events, sqs, lam = events_client(server), sqs_client(server), server.client()
    name = unique("events-fails")
    function_arn = lam.create_function(FunctionName=name, Runtime="python3.13", Role=SENDER_ARN,
                                       Handler="app.handler", Code={"ZipFile": make_zip({"app.py": FAILS})})["FunctionArn"]
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)
    url = platform_rule(events, sqs, "Async Invocation Failed", {"functionName": [name]})
    request_id = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")["ResponseMetadata"]["RequestId"]
    [body] = received(sqs, url, 1, timeout=180)
    event = json.loads(body)
    assert (event["source"], event["detail-type"], event["account"], event["region"], event["resources"]) == (
        "faas", "Async Invocation Failed", ACCOUNT, REGION, [function_arn])
    assert event["detail"] == {"functionName": name, "functionArn": function_arn, "requestId": request_id,
                               "condition": "RetriesExhausted", "approximateInvokeCount": 2,
                               "errorMessage": "always fails"}
    nothing_more(sqs, url)


def test_a_disabled_event_source_mapping_is_an_event(server):
    events, sqs, lam = events_client(server), sqs_client(server), server.client()
    name = unique("events-consumer")
    function_arn = lam.create_function(
        FunctionName=name, Runtime="python3.13", Role=SENDER_ARN, Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": "def handler(event, context):\n    return {}\n"})})["FunctionArn"]
    _, source_arn = queue(sqs)
    uuid = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=source_arn)["UUID"]
    wait_for(lambda: lam.get_event_source_mapping(UUID=uuid)["State"] == "Enabled", timeout=60)
    url = platform_rule(events, sqs, "Event Source Mapping Disabled", {"uuid": [uuid]})
    lam.update_event_source_mapping(UUID=uuid, Enabled=False)
    [body] = received(sqs, url, 1, timeout=60)
    event = json.loads(body)
    mapping_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{uuid}"
    assert (event["source"], event["detail-type"], event["resources"]) == (
        "faas", "Event Source Mapping Disabled", [mapping_arn, function_arn])
    assert event["detail"] == {"uuid": uuid, "eventSourceMappingArn": mapping_arn, "functionName": name,
                               "functionArn": function_arn, "eventSourceArn": source_arn,
                               "stateTransitionReason": "USER_INITIATED"}
    assert lam.get_event_source_mapping(UUID=uuid)["State"] == "Disabled"
    nothing_more(sqs, url)
