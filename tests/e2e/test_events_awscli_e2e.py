"""The AWS CLI's `aws events` against a real `faas serve`: the commands README.md shows, run as a user types
them, with the CLI installed beside the tests (v1 with a current botocore) and Debian's AWS CLI v2."""

from __future__ import annotations

import json
import time

import pytest

from tests.e2e.conftest import Server, unique
from tests.e2e.test_event_rules_e2e import SENDER_ARN, with_sender_role
from tests.e2e.test_sqs_e2e import sqs_client
from tests.support.awscli import aws_cli, ok


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    srv = with_sender_role(Server(tmp_path_factory.mktemp("faas") / "data").start())
    yield srv
    srv.stop()


@pytest.fixture(scope="module", params=["v1", "v2"])
def aws(request, server: Server, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """`aws events ... --endpoint-url <endpoint>` with only the data dir's credentials file and a region."""
    return aws_cli("v1" if request.param == "v1" else "v2", server.endpoint, server.data_dir / "credentials",
                   tmp_path_factory.mktemp("home"), "events")


def test_a_rule_reacting_to_a_custom_event_with_the_aws_cli(aws, server) -> None:  # type: ignore[no-untyped-def]
    sqs = sqs_client(server)
    queue = unique("events-cli")
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    rule = unique("cli-orders")
    pattern = json.dumps({"source": ["shop.orders"], "detail": {"total": [{"numeric": [">", 100]}]}})
    arn = ok(aws("put-rule", "--name", rule, "--event-pattern", pattern))["RuleArn"]
    assert arn == f"arn:aws:events:us-east-1:000000000000:rule/{rule}"
    targets = json.dumps([{"Id": "audit", "Arn": f"arn:aws:sqs:us-east-1:000000000000:{queue}", "RoleArn": SENDER_ARN,
                           "InputTransformer": {"InputPathsMap": {"total": "$.detail.total"},
                                                "InputTemplate": '{"big order": <total>}'}}])
    assert ok(aws("put-targets", "--rule", rule, "--targets", targets))["FailedEntryCount"] == 0
    assert [r["Name"] for r in ok(aws("list-rules", "--name-prefix", rule))["Rules"]] == [rule]
    put = ok(aws("put-events", "--entries", json.dumps([
        {"Source": "shop.orders", "DetailType": "Order Placed", "Detail": json.dumps({"total": 250})},
        {"Source": "shop.orders", "DetailType": "Order Placed", "Detail": "not json"}])))
    assert put["FailedEntryCount"] == 1 and put["Entries"][0]["EventId"]
    assert put["Entries"][1]["ErrorCode"] == "MalformedDetail"
    deadline = time.monotonic() + 60
    messages: list = []
    while not messages:
        assert time.monotonic() < deadline, "the event never reached the queue"
        messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages", [])
    assert [m["Body"] for m in messages] == ['{"big order": 250}']
    event = {"id": "1", "account": "000000000000", "source": "shop.orders", "time": "2026-12-01T00:00:00Z",
             "region": "us-east-1", "resources": [], "detail-type": "Order Placed", "detail": {"total": 5}}
    assert ok(aws("test-event-pattern", "--event-pattern", pattern, "--event", json.dumps(event)))["Result"] is False
    refused = aws("put-rule", "--name", rule, "--event-pattern", "{not json")
    assert refused.returncode != 0 and "InvalidEventPatternException" in refused.stderr
    ok(aws("remove-targets", "--rule", rule, "--ids", "audit"))
    ok(aws("delete-rule", "--name", rule))
