"""The AWS CLI's `aws lambda ...-event-source-mapping` against a real `faas serve`, as README.md shows it:
with the CLI installed beside the tests (v1) and with Debian's AWS CLI v2."""

from __future__ import annotations


import pytest

from tests.e2e.conftest import Server, unique, wait_for
from tests.e2e.test_event_source_mappings_e2e import READER_ARN, bodies, deploy, with_reader_role
from tests.support.awscli import aws_cli, ok


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    srv = with_reader_role(Server(tmp_path_factory.mktemp("faas") / "data").start())
    yield srv
    srv.stop()


@pytest.fixture(scope="module", params=["v1", "debian-v2"])
def aws(request, server: Server, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return aws_cli("v1" if request.param == "v1" else "v2", server.endpoint, server.data_dir / "credentials",
                   tmp_path_factory.mktemp("home"))


def test_a_queue_driven_function_with_the_aws_cli(aws, server: Server) -> None:  # type: ignore[no-untyped-def]
    name = deploy(server.client(), role=READER_ARN)
    queue = unique("cli-esm")
    url = ok(aws("sqs", "create-queue", "--queue-name", queue))["QueueUrl"]
    arn = ok(aws("sqs", "get-queue-attributes", "--queue-url", url, "--attribute-names", "QueueArn"))[
        "Attributes"]["QueueArn"]
    mapping = ok(aws("lambda", "create-event-source-mapping", "--function-name", name, "--event-source-arn", arn,
                     "--batch-size", "5", "--function-response-types", "ReportBatchItemFailures"))
    assert (mapping["State"], mapping["BatchSize"], mapping["EventSourceArn"]) == ("Creating", 5, arn)
    wait_for(lambda: ok(aws("lambda", "get-event-source-mapping", "--uuid", mapping["UUID"]))["State"] == "Enabled")
    ok(aws("sqs", "send-message", "--queue-url", url, "--message-body", "from the aws cli"))
    wait_for(lambda: bodies(server, name) == ["from the aws cli"])

    listed = ok(aws("lambda", "list-event-source-mappings", "--function-name", name))["EventSourceMappings"]
    assert [m["UUID"] for m in listed] == [mapping["UUID"]]
    updated = ok(aws("lambda", "update-event-source-mapping", "--uuid", mapping["UUID"], "--no-enabled"))
    assert updated["State"] == "Disabling"
    refused = aws("lambda", "create-event-source-mapping", "--function-name", name, "--event-source-arn",
                  "arn:aws:sqs:us-east-1:000000000000:" + unique("missing"))
    assert refused.returncode != 0 and "InvalidParameterValueException" in refused.stderr
    assert ok(aws("lambda", "delete-event-source-mapping", "--uuid", mapping["UUID"]))["State"] == "Deleting"
    wait_for(lambda: not ok(aws("lambda", "list-event-source-mappings", "--function-name", name))[
        "EventSourceMappings"])
