"""Events put on a bus reach their rules' targets, through boto3's `events`, `sqs` and `lambda` clients against
a real `faas serve` with real containers: a function (an asynchronous invocation with EventBridge's event
shape, allowed by its function policy) and a queue (sent as the target's role), each pattern operator,
Input/InputPath/InputTransformer, disabled rules, the refusal of a function that does not allow the rule,
and PutEvents' partial failures and bad input."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from faas.security import sigv4
from tests.e2e.conftest import Server, make_zip, unique, wait_for
from tests.e2e.test_event_source_mappings_e2e import database
from tests.e2e.test_events_e2e import events_client, refused
from tests.e2e.test_schedules_e2e import set_clock
from tests.e2e.test_security_e2e import audit
from tests.e2e.test_sqs_e2e import sqs_client

pytestmark = pytest.mark.docker

ACCOUNT = "000000000000"
REGION = "us-east-1"
RULES = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/"
SENDER = "events-sender"
SENDER_ARN = f"arn:aws:iam::{ACCOUNT}:role/{SENDER}"
NOBODY_ARN = f"arn:aws:iam::{ACCOUNT}:role/faas-default"  # allowed nothing
MARK = "EVENT "

RECORDER = f'''
import json

def handler(event, context):
    print({MARK!r} + json.dumps(event))
    return {{}}
'''


def with_sender_role(server: Server) -> Server:
    """A role allowed to send to this module's queues and topics: the targets' RoleArn and the functions' role."""
    status, _, body = server.request("POST", "/faas/v1/roles", json.dumps({"Name": SENDER}).encode(),
                                     {"Content-Type": "application/json"})
    assert status in (201, 409), (status, body[:500])
    document = {"PolicyDocument": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": f"arn:aws:sqs:{REGION}:{ACCOUNT}:events-*"},
        {"Effect": "Allow", "Action": "sns:Publish", "Resource": f"arn:aws:sns:{REGION}:{ACCOUNT}:events-*"}]}}
    status, _, body = server.request("PUT", f"/faas/v1/roles/{SENDER}/policies/queues", json.dumps(document).encode(),
                                     {"Content-Type": "application/json"})
    assert status == 200, (status, body[:500])
    return server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    srv = with_sender_role(Server(tmp_path_factory.mktemp("faas") / "data").start())
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def events(server: Server):  # type: ignore[no-untyped-def]
    return events_client(server)


@pytest.fixture(scope="module")
def sqs(server: Server):  # type: ignore[no-untyped-def]
    return sqs_client(server)


@pytest.fixture(scope="module")
def lam(server: Server):  # type: ignore[no-untyped-def]
    return server.client()


def queue(sqs: Any) -> tuple[str, str]:
    name = unique("events")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def recorder(lam: Any, events_rule: str | None = None) -> tuple[str, str]:
    """A function that prints each event it gets; allowed to be invoked by `events_rule` when named."""
    name = unique("events-fn")
    arn = lam.create_function(FunctionName=name, Runtime="python3.13", Role=SENDER_ARN, Handler="app.handler",
                              Code={"ZipFile": make_zip({"app.py": RECORDER})})["FunctionArn"]
    if events_rule is not None:
        lam.add_permission(FunctionName=name, StatementId="events", Action="lambda:InvokeFunction",
                           Principal="events.amazonaws.com", SourceArn=RULES + events_rule)
    return name, arn


def recorded(server: Server, name: str) -> list[dict]:
    found = []
    for run in server.get_json(f"/faas/v1/functions/{name}/logs?limit=200")["Invocations"]:
        for line in (run.get("Log") or "").splitlines():
            if MARK in line:
                found.append(json.loads(line.split(MARK, 1)[1]))
    return found


def received(sqs: Any, url: str, count: int, timeout: float = 60) -> list[str]:
    """Exactly the bodies of the first `count` messages, deleted as they are read."""
    bodies: list[str] = []
    deadline = time.monotonic() + timeout
    while len(bodies) < count:
        assert time.monotonic() < deadline, f"got {len(bodies)} of {count} messages: {bodies}"
        for message in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2, MaxNumberOfMessages=10).get("Messages", []):
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def nothing_more(sqs: Any, url: str) -> None:
    """The queue holds nothing else now (deliveries of one PutEvents are written, and claimed, together)."""
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages") is None


def entry(source: str, detail: dict, detail_type: str = "Order Placed", **extra: Any) -> dict:
    return {"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail), **extra}


def test_a_matching_event_reaches_a_function_and_a_queue(server, events, sqs, lam):
    rule = unique("orders")
    source = unique("shop")
    name, function_arn = recorder(lam, rule)
    url, queue_arn = queue(sqs)
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source], "detail": {"total": [{"numeric": [">", 100]}]}}))
    assert events.put_targets(Rule=rule, Targets=[
        {"Id": "fn", "Arn": function_arn},
        {"Id": "q", "Arn": queue_arn, "RoleArn": SENDER_ARN}])["FailedEntryCount"] == 0
    put = events.put_events(Entries=[entry(source, {"total": 250, "order": "a"}, Resources=["arn:aws:shop:a"]),
                                     entry(source, {"total": 5, "order": "b"})])
    assert put["FailedEntryCount"] == 0
    event_id = put["Entries"][0]["EventId"]
    [body] = received(sqs, url, 1)
    event = json.loads(body)
    assert {key: event[key] for key in ("version", "id", "detail-type", "source", "account", "region", "resources",
                                        "detail")} == {
        "version": "0", "id": event_id, "detail-type": "Order Placed", "source": source, "account": ACCOUNT,
        "region": REGION, "resources": ["arn:aws:shop:a"], "detail": {"total": 250, "order": "a"}}
    assert event["time"].endswith("Z")
    wait_for(lambda: recorded(server, name), timeout=120)
    assert recorded(server, name) == [event]
    nothing_more(sqs, url)


def test_a_topic_target_publishes_the_event_to_its_subscribers(server, events, sqs):
    sns = boto3.client("sns", endpoint_url=server.endpoint, region_name=REGION,
                       aws_access_key_id=server.credentials().access_key_id,
                       aws_secret_access_key=server.credentials().secret_access_key,
                       config=Config(retries={"max_attempts": 1}))
    topic_arn = sns.create_topic(Name=unique("events-topic"))["TopicArn"]
    url, queue_arn = queue(sqs)
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    rule, source = unique("to-topic"), unique("shop")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source]}))
    events.put_targets(Rule=rule, Targets=[{"Id": "t", "Arn": topic_arn, "RoleArn": SENDER_ARN,
                                            "InputPath": "$.detail"}])
    events.put_events(Entries=[entry(source, {"order": 1})])
    assert received(sqs, url, 1) == ['{"order": 1}']
    # Without a role that may publish, the delivery is refused (and audited), and nothing is published.
    events.put_targets(Rule=rule, Targets=[{"Id": "t", "Arn": topic_arn, "RoleArn": NOBODY_ARN}])
    event_id = events.put_events(Entries=[entry(source, {"order": 2})])["Entries"][0]["EventId"]
    wait_for(lambda: any(e["RequestId"] == event_id and e["Action"] == "sns:Publish" and e["Outcome"] == "denied"
                         for e in audit(server)), timeout=60)
    nothing_more(sqs, url)


def test_input_input_path_and_transformers_shape_what_targets_get(server, events, sqs):
    rule = unique("shaped")
    source = unique("shop")
    url, queue_arn = queue(sqs)
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source]}))
    events.put_targets(Rule=rule, Targets=[
        {"Id": "input", "Arn": queue_arn, "RoleArn": SENDER_ARN, "Input": '{"fixed": true}'},
        {"Id": "path", "Arn": queue_arn, "RoleArn": SENDER_ARN, "InputPath": "$.detail.order"},
        {"Id": "json", "Arn": queue_arn, "RoleArn": SENDER_ARN, "InputTransformer": {
            "InputPathsMap": {"order": "$.detail.order", "total": "$.detail.total"},
            "InputTemplate": '{"order": <order>, "total": <total>, "rule": <aws.events.rule-name>}'}},
        {"Id": "text", "Arn": queue_arn, "RoleArn": SENDER_ARN, "InputTransformer": {
            "InputPathsMap": {"order": "$.detail.order"}, "InputTemplate": '"order <order> placed"'}}])
    events.put_events(Entries=[entry(source, {"order": {"id": 7}, "total": 12.5})])
    bodies = sorted(received(sqs, url, 4))
    assert bodies == sorted(['{"fixed": true}', '{"id": 7}',
                             '{"order": {"id": 7}, "total": 12.5, "rule": "' + rule + '"}',
                             '"order {\\"id\\": 7} placed"'])
    nothing_more(sqs, url)


OPERATORS = [  # (pattern on detail, a detail it matches, one it does not)
    ({"kind": ["book"]}, {"kind": "book"}, {"kind": "film"}),
    ({"kind": [{"prefix": "bo"}]}, {"kind": "book"}, {"kind": "film"}),
    ({"kind": [{"suffix": "ok"}]}, {"kind": "book"}, {"kind": "film"}),
    ({"kind": [{"anything-but": ["book"]}]}, {"kind": "film"}, {"kind": "book"}),
    ({"price": [{"numeric": [">=", 10, "<", 20]}]}, {"price": 15}, {"price": 25}),
    ({"coupon": [{"exists": True}]}, {"coupon": "X"}, {"kind": "book"}),
    ({"kind": [{"equals-ignore-case": "BOOK"}]}, {"kind": "Book"}, {"kind": "film"}),
    ({"kind": [{"wildcard": "b*k"}]}, {"kind": "book"}, {"kind": "film"}),
    ({"$or": [{"kind": ["film"]}, {"price": [{"numeric": ["<", 1]}]}]}, {"price": 0.5}, {"kind": "book"}),
    ({"item": {"meta": {"colour": ["red"]}}}, {"item": {"meta": {"colour": "red"}}}, {"item": {"meta": {"colour": "blue"}}}),
]


def test_each_pattern_operator_selects_its_events(server, events, sqs):
    source = unique("ops")
    url, queue_arn = queue(sqs)
    rules = []
    for n, (pattern, _, _) in enumerate(OPERATORS):
        rule = unique(f"op{n}")
        rules.append(rule)
        events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source], "detail": pattern}))
        events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": queue_arn, "RoleArn": SENDER_ARN,
                                                "InputTransformer": {"InputPathsMap": {"n": "$.detail.n"},
                                                                     "InputTemplate": '{"rule": "<aws.events.rule-name>", "n": <n>}'}}])
    entries = []
    for n, (_, matching, other) in enumerate(OPERATORS):
        entries += [entry(source, {**matching, "n": f"{n}-yes"}), entry(source, {**other, "n": f"{n}-no"})]
    for start in range(0, len(entries), 10):
        assert events.put_events(Entries=entries[start:start + 10])["FailedEntryCount"] == 0
    # Each operator's matching event reaches its rule; none of the others reach any rule but by design below.
    expected = {(rules[n], f"{n}-yes") for n in range(len(OPERATORS))}
    # Some events match other operators' rules too: compute what each rule must get from the patterns, via
    # TestEventPattern, the server's own matcher as the client sees it.
    for n, (pattern, _, _) in enumerate(OPERATORS):
        for e in entries:
            shaped = {"id": "1", "account": ACCOUNT, "source": source, "time": "2026-12-01T00:00:00Z",
                      "region": REGION, "resources": [], "detail-type": "Order Placed", "detail": json.loads(e["Detail"])}
            if events.test_event_pattern(EventPattern=json.dumps({"source": [source], "detail": pattern}),
                                         Event=json.dumps(shaped))["Result"]:
                expected.add((rules[n], shaped["detail"]["n"]))
    assert all((rules[n], f"{n}-no") not in expected for n in range(len(OPERATORS)))
    got = {(body["rule"], body["n"]) for body in map(json.loads, received(sqs, url, len(expected)))}
    assert got == expected
    nothing_more(sqs, url)


def test_a_disabled_rule_delivers_nothing_until_enabled(server, events, sqs):
    source = unique("toggle")
    url, queue_arn = queue(sqs)
    off, on = unique("off"), unique("on")
    for rule, kind in ((off, "a"), (on, "b")):
        events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source], "detail": {"kind": [kind]}}))
        events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": queue_arn, "RoleArn": SENDER_ARN,
                                                "InputPath": "$.detail.kind"}])
    events.disable_rule(Name=off)
    events.put_events(Entries=[entry(source, {"kind": "a"}), entry(source, {"kind": "b"})])
    assert received(sqs, url, 1) == ['"b"']
    nothing_more(sqs, url)
    events.enable_rule(Name=off)
    events.put_events(Entries=[entry(source, {"kind": "a"})])
    assert received(sqs, url, 1) == ['"a"']


def test_targets_that_are_not_allowed_are_refused_at_delivery_and_audited(server, events, sqs, lam):
    rule = unique("unallowed")
    source = unique("deny")
    name, function_arn = recorder(lam)  # no AddPermission for the rule
    other_rule_fn, other_arn = recorder(lam, unique("another-rule"))  # allowed for another rule only
    url, queue_arn = queue(sqs)
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source]}))
    events.put_targets(Rule=rule, Targets=[
        {"Id": "fn", "Arn": function_arn}, {"Id": "other", "Arn": other_arn},
        {"Id": "nobody", "Arn": queue_arn, "RoleArn": NOBODY_ARN}, {"Id": "norole", "Arn": queue_arn}])
    put = events.put_events(Entries=[entry(source, {"n": 1})])
    event_id = put["Entries"][0]["EventId"]

    def refusals() -> set[tuple[str, str]]:
        return {(e["Action"], e["Resource"]) for e in audit(server)
                if e["Principal"] == RULES + rule and e["Outcome"] == "denied" and e["RequestId"] == event_id}

    # Audited as the rule (the two queue refusals are one row: the audit log folds repeats within a minute).
    expected = {("lambda:InvokeFunction", function_arn), ("lambda:InvokeFunction", other_arn),
                ("sqs:SendMessage", queue_arn)}
    wait_for(lambda: refusals() == expected, timeout=60)
    nothing_more(sqs, url)
    assert recorded(server, name) == [] and recorded(server, other_rule_fn) == []


def test_put_events_answers_each_entry_and_keeps_only_the_good_ones(server, events, sqs):
    source = unique("partial")
    url, queue_arn = queue(sqs)
    rule = unique("partial")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source]}))
    events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": queue_arn, "RoleArn": SENDER_ARN,
                                            "InputPath": "$.detail.n"}])
    put = events.put_events(Entries=[
        entry(source, {"n": 1}),
        {"Source": source, "Detail": json.dumps({"n": 2})},  # no DetailType
        {"Source": source, "DetailType": "x", "Detail": "[1, 2]"},  # not a JSON object
        {"Source": source, "DetailType": "x", "Detail": "{not json"},
        entry(source, {"n": 5}, EventBusName=unique("nobus")),
        entry(source, {"n": 6}, Time=1764583200),
    ])
    assert put["FailedEntryCount"] == 4
    codes = [e.get("ErrorCode") for e in put["Entries"]]
    assert codes == [None, "InvalidArgument", "MalformedDetail", "MalformedDetail", "ResourceNotFoundException", None]
    assert all(e["ErrorMessage"] for e in put["Entries"] if "ErrorCode" in e)
    assert sorted(received(sqs, url, 2)) == ["1", "6"]
    nothing_more(sqs, url)


def test_bad_requests_are_refused_whole_and_deliver_nothing(server, events, sqs):
    source = unique("bad")
    url, queue_arn = queue(sqs)
    rule = unique("bad")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source]}))
    events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": queue_arn, "RoleArn": SENDER_ARN}])
    refused(events.put_events, "ValidationException", Entries=[entry(source, {"n": n}) for n in range(11)])
    refused(events.put_events, "ValidationException", Entries=[])
    # A global endpoint's EndpointId (boto3 would sign it with SigV4a, so it is sent by hand here) is refused.
    body = json.dumps({"Entries": [entry(source, {"n": 0})], "EndpointId": "abc.xyz"}).encode()
    headers = {"X-Amz-Target": "AWSEvents.PutEvents", "Content-Type": "application/x-amz-json-1.1"}
    headers.update(sigv4.sign(server.credentials(), REGION, "events", "POST", server.endpoint + "/", headers,
                              sigv4.payload_hash(body)))
    status, _, answer = server.request("POST", "/", body, headers, sign=False)
    assert (status, json.loads(answer)["__type"].rsplit("#", 1)[-1]) == (400, "ValidationException")
    big = "x" * (300 * 1024)
    error = refused(events.put_events, "ValidationException",
                    Entries=[entry(source, {"blob": big}) for _ in range(4)])
    assert "Total size" in error.response["Error"]["Message"]
    # Just under the limit is accepted (from another source: the queue would not take a message this big).
    assert events.put_events(Entries=[entry(unique("other"), {"blob": "y" * (1000 * 1024)})])["FailedEntryCount"] == 0
    # None of the refused requests left a delivery behind: the next event is the only message.
    events.put_events(Entries=[entry(source, {"n": "last"})])
    [body] = received(sqs, url, 1)
    assert json.loads(body)["detail"] == {"n": "last"}
    nothing_more(sqs, url)


# Schedule rules read their due times on the node's schedule clock, which these tests move (FAAS_CLOCK_FILE):
# a real rate(1 minute) firing on the real clock is tests/e2e/test_schedules_nodes_e2e.py's.
T0 = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
# Far enough apart that each step passes exactly one due time of a rate(1 minute) rule made just after T0 (a
# node fires a missed rule once, for its latest due time), whatever the servers' start took.
STEPS = (T0 + dt.timedelta(seconds=130), T0 + dt.timedelta(seconds=250))


def clocked(tmp_path: Path, name: str, **kwargs: Any) -> tuple[Path, dict[str, str]]:
    path = tmp_path / f"{name}-clock"
    set_clock(path, T0)
    return path, {"FAAS_CLOCK_FILE": str(path), **kwargs}


def test_a_schedule_rule_fires_each_due_time_once(tmp_path: Path) -> None:
    clock, env = clocked(tmp_path, "one")
    server = with_sender_role(Server(tmp_path / "data", extra_env=env).start())
    try:
        events, sqs = events_client(server), sqs_client(server)
        url, queue_arn = queue(sqs)
        rule = unique("every-minute")
        arn = events.put_rule(Name=rule, ScheduleExpression="rate(1 minute)")["RuleArn"]
        assert events.describe_rule(Name=rule)["ScheduleExpression"] == "rate(1 minute)"
        events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": queue_arn, "RoleArn": SENDER_ARN}])
        nothing_more(sqs, url)  # not due yet on the schedule clock
        times = []
        for step in STEPS:
            set_clock(clock, step)
            [body] = received(sqs, url, 1)
            event = json.loads(body)
            assert (event["source"], event["detail-type"], event["resources"], event["detail"]) == (
                "aws.events", "Scheduled Event", [arn], {})
            assert event["time"].endswith("Z")
            times.append(dt.datetime.fromisoformat(event["time"].replace("Z", "+00:00")))
            nothing_more(sqs, url)
        assert T0 < times[0] < times[1] <= STEPS[1]  # due times on the schedule clock, not the real one
        events.disable_rule(Name=rule)  # the next due time is not fired while disabled
        set_clock(clock, STEPS[1] + dt.timedelta(minutes=5))
        nothing_more(sqs, url)
    finally:
        server.stop()


def test_two_nodes_on_one_postgresql_fire_each_due_time_once(tmp_path: Path) -> None:
    """Both nodes look for due schedule rules every second; the store lets one of them fire each due time."""
    with database("postgresql") as url:
        clock, env = clocked(tmp_path, "shared", FAAS_MASTER_KEY=base64.b64encode(os.urandom(32)).decode())
        first = with_sender_role(Server(tmp_path / "a", database_url=url, extra_env=env).start())
        second = None
        try:
            second = Server(tmp_path / "b", database_url=url, extra_env=env).start()
            sqs, events = sqs_client(first), events_client(first)
            url_q, queue_arn = queue(sqs)
            rule = unique("both-nodes")
            events.put_rule(Name=rule, ScheduleExpression="rate(1 minute)")
            events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": queue_arn, "RoleArn": SENDER_ARN}])
            times = []
            for step in STEPS:
                set_clock(clock, step)
                times += [json.loads(body)["time"] for body in received(sqs, url_q, 1)]
                nothing_more(sqs, url_q)  # the other node did not fire it too
            events.disable_rule(Name=rule)
            assert len(set(times)) == 2  # two due times, each fired once
        finally:
            if second is not None:
                second.stop()
            first.stop()