"""SNS on the platform's one endpoint, through boto3's `sns` client (the query protocol) against a real
`faas serve` with real containers: topics, subscriptions, one publish fanned out to a function, queues (the
envelope and raw) and an HTTP endpoint that confirms its subscription, filter policies, FIFO order, the
permission a function subscription needs, signatures checked against the served certificate, a publish that
outlives a SIGKILL, and bad input in SNS's error shapes with nothing stored changed."""

from __future__ import annotations

import base64
import http.server
import json
import signal
import threading
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest
import sqlalchemy
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from faas.store.tables import work_items
from tests.e2e.conftest import ROLE, Server, make_zip, unique, wait_for
from tests.e2e.test_security_e2e import audit, make_principal
from tests.e2e.test_postgres_e2e import postgres_url  # noqa: F401 (a fixture)
from tests.e2e.test_sqs_e2e import sqs_client, store_url  # noqa: F401 (store_url is a fixture)

ACCOUNT = "000000000000"
REGION = "us-east-1"
# Deliveries to this host's test receivers are allowed; retries come after 1 s rather than SNS's 20.
SNS_ENV = {"FAAS_TOPIC_HTTP_ALLOW": "127.0.0.1/32", "FAAS_TOPIC_HTTP_RETRY_S": "1", "FAAS_ASYNC_RETRY_BASE_S": "1"}
MARK = "SNS-EVENT "
RECORDER = f'''
import json

def handler(event, context):
    print({MARK!r} + json.dumps(event))
    return {{}}
'''


def sns_client(server: Server, credentials=None):  # type: ignore[no-untyped-def]
    credentials = credentials or server.credentials()
    return boto3.client(
        "sns", endpoint_url=server.endpoint, region_name=REGION,
        aws_access_key_id=credentials.access_key_id, aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
        config=Config(retries={"max_attempts": 1}, read_timeout=60, connect_timeout=5,
                      parameter_validation=False),  # the server must catch bad input itself
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    srv = Server(tmp_path_factory.mktemp("faas") / "data", extra_env=SNS_ENV).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def sns(server: Server):  # type: ignore[no-untyped-def]
    return sns_client(server)


@pytest.fixture(scope="module")
def sqs(server: Server):  # type: ignore[no-untyped-def]
    return sqs_client(server)


def refused(call, code: str, status: int = 400, **params):  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as caught:
        call(**params)
    error = caught.value.response["Error"]
    assert (caught.value.response["ResponseMetadata"]["HTTPStatusCode"], error["Code"]) == (status, code), error
    assert error["Message"]
    return caught.value


class Receiver:
    """An HTTP endpoint on 127.0.0.1 that records what it is sent; it answers `failures` 500s first."""

    def __init__(self, failures: int = 0) -> None:
        self.received: list[tuple[dict[str, str], str]] = []  # every request
        self.accepted: list[tuple[dict[str, str], str]] = []  # those answered 200
        self.failures = failures
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                failing = receiver.failures > 0
                receiver.failures -= 1
                if not failing:
                    receiver.accepted.append(receiver.received[-1])
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def of_type(self, kind: str) -> list[tuple[dict[str, str], dict]]:
        return [(headers, json.loads(body)) for headers, body in list(self.received)
                if headers.get("x-amz-sns-message-type") == kind]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():  # type: ignore[no-untyped-def]
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


def confirm_by_link(receiver: Receiver) -> dict:
    """Follow the SubscribeURL the endpoint was sent, unauthenticated, as an endpoint's owner would."""
    _, confirmation = wait_for(lambda: receiver.of_type("SubscriptionConfirmation"))[0]
    with urllib.request.urlopen(confirmation["SubscribeURL"], timeout=30) as response:
        assert response.status == 200
        assert b"<SubscriptionArn>" in response.read()
    return confirmation


def deploy(lam, code: str = RECORDER) -> str:  # type: ignore[no-untyped-def]
    name = unique("sns-fn")
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": code})})
    return name


def allow_topic(lam, function: str, topic_arn: str, sid: str = "sns") -> None:  # type: ignore[no-untyped-def]
    lam.add_permission(FunctionName=function, StatementId=sid, Action="lambda:InvokeFunction",
                       Principal="sns.amazonaws.com", SourceArn=topic_arn)


def function_events(server: Server, name: str) -> list[dict]:
    runs = server.get_json(f"/faas/v1/functions/{name}/logs?limit=200")["Invocations"]
    return [json.loads(line[len(MARK):]) for run in runs for line in (run.get("Log") or "").splitlines()
            if line.startswith(MARK)]


def received(sqs, url: str, count: int, timeout: float = 60) -> list[dict]:  # type: ignore[no-untyped-def]
    messages: list[dict] = []

    def enough() -> bool:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                     MessageAttributeNames=["All"], AttributeNames=["All"])
        for message in answer.get("Messages", []):
            messages.append(message)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages) >= count

    wait_for(enough, timeout)
    return messages


def queue(sqs, fifo: bool = False) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    name = unique("sns-q") + (".fifo" if fifo else "")
    url = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"} if fifo else {})["QueueUrl"]
    return url, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def verify_signature(message: dict) -> None:
    """SNS's SignatureVersion 2 check, as a subscriber writes it: fetch the certificate, rebuild the string."""
    with urllib.request.urlopen(message["SigningCertURL"], timeout=30) as response:
        certificate = x509.load_pem_x509_certificate(response.read())
    if message["Type"] == "Notification":
        fields = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        fields = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    canonical = "".join(f"{name}\n{message[name]}\n" for name in fields if message.get(name) is not None)
    assert message["SignatureVersion"] == "2"
    certificate.public_key().verify(base64.b64decode(message["Signature"]), canonical.encode(),  # type: ignore[call-arg]
                                    padding.PKCS1v15(), hashes.SHA256())  # type: ignore[call-arg]


# ---- topics ----

def test_topics_are_created_listed_described_tagged_and_deleted(sns):  # type: ignore[no-untyped-def]
    name = unique("orders")
    arn = sns.create_topic(Name=name, Attributes={"DisplayName": "Orders"}, Tags=[{"Key": "team", "Value": "a"}])[
        "TopicArn"]
    assert arn == f"arn:aws:sns:{REGION}:{ACCOUNT}:{name}"
    # The same attributes again: the same topic; different ones: refused, the topic unchanged.
    assert sns.create_topic(Name=name, Attributes={"DisplayName": "Orders"})["TopicArn"] == arn
    refused(sns.create_topic, "InvalidParameter", Name=name, Attributes={"DisplayName": "Other"})
    attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attributes["DisplayName"] == "Orders" and attributes["TopicArn"] == arn
    assert attributes["Owner"] == ACCOUNT and attributes["SubscriptionsConfirmed"] == "0"
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="Renamed")
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["DisplayName"] == "Renamed"
    assert arn in [topic["TopicArn"] for topic in sns.get_paginator("list_topics").paginate().build_full_result()[
        "Topics"]]
    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "test"}])
    sns.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "test"}]
    fifo = sns.create_topic(Name=unique("orders") + ".fifo",
                            Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "true"})["TopicArn"]
    fifo_attributes = sns.get_topic_attributes(TopicArn=fifo)["Attributes"]
    assert (fifo_attributes["FifoTopic"], fifo_attributes["ContentBasedDeduplication"]) == ("true", "true")
    sns.delete_topic(TopicArn=arn)
    sns.delete_topic(TopicArn=fifo)
    refused(sns.get_topic_attributes, "NotFound", 404, TopicArn=arn)
    assert isinstance(refused(sns.get_topic_attributes, "NotFound", 404, TopicArn=arn), sns.exceptions.NotFoundException)


def test_subscriptions_are_listed_page_by_page(sns, sqs):  # type: ignore[no-untyped-def]
    arn = sns.create_topic(Name=unique("paged"))["TopicArn"]
    queues = [queue(sqs)[1] for _ in range(3)]
    subscribed = [sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=q)["SubscriptionArn"] for q in queues]
    listed = sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn).build_full_result()
    assert sorted(s["SubscriptionArn"] for s in listed["Subscriptions"]) == sorted(subscribed)
    assert {s["Endpoint"] for s in listed["Subscriptions"]} == set(queues)
    everything = sns.get_paginator("list_subscriptions").paginate().build_full_result()["Subscriptions"]
    assert set(subscribed) <= {s["SubscriptionArn"] for s in everything}
    # Subscribing again is harmless: the same subscription.
    assert sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queues[0])["SubscriptionArn"] == subscribed[0]
    attributes = sns.get_subscription_attributes(SubscriptionArn=subscribed[0])["Attributes"]
    assert attributes["Protocol"] == "sqs" and attributes["PendingConfirmation"] == "false"
    sns.set_subscription_attributes(SubscriptionArn=subscribed[0], AttributeName="RawMessageDelivery",
                                    AttributeValue="true")
    assert sns.get_subscription_attributes(SubscriptionArn=subscribed[0])["Attributes"]["RawMessageDelivery"] == "true"
    sns.unsubscribe(SubscriptionArn=subscribed[0])
    refused(sns.get_subscription_attributes, "NotFound", 404, SubscriptionArn=subscribed[0])
    sns.delete_topic(TopicArn=arn)


# ---- fan-out ----

def test_one_publish_reaches_a_function_a_queue_a_raw_queue_and_an_http_endpoint(server, sns, sqs, lam, receiver):  # type: ignore[no-untyped-def]
    arn = sns.create_topic(Name=unique("fanout"))["TopicArn"]
    function = deploy(lam)
    allow_topic(lam, function, arn)
    function_subscription = sns.subscribe(TopicArn=arn, Protocol="lambda",
                                          Endpoint=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}")[
        "SubscriptionArn"]
    envelope_url, envelope_arn = queue(sqs)
    raw_url, raw_arn = queue(sqs)
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=envelope_arn)
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=raw_arn, Attributes={"RawMessageDelivery": "true"})
    # An HTTP endpoint is pending until it follows the link it is sent.
    assert sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=receiver.url)["SubscriptionArn"] == \
        "pending confirmation"
    confirmation = confirm_by_link(receiver)
    verify_signature(confirmation)
    assert confirmation["TopicArn"] == arn and len(confirmation["Token"]) >= 64
    http_subscription = next(s for s in sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
                             if s["Protocol"] == "http")["SubscriptionArn"]
    assert http_subscription.startswith(arn + ":")

    attributes = {"kind": {"DataType": "String", "StringValue": "order"},
                  "count": {"DataType": "Number", "StringValue": "3"},
                  "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}}
    message_id = sns.publish(TopicArn=arn, Message="hello, subscribers", Subject="greeting",
                             MessageAttributes=attributes)["MessageId"]

    event = wait_for(lambda: function_events(server, function))[0]
    record = event["Records"][0]
    assert (record["EventSource"], record["EventVersion"], record["EventSubscriptionArn"]) == \
        ("aws:sns", "1.0", function_subscription)
    notification = record["Sns"]
    assert notification["MessageId"] == message_id and notification["Message"] == "hello, subscribers"
    assert (notification["Type"], notification["Subject"], notification["TopicArn"]) == ("Notification", "greeting", arn)
    assert notification["MessageAttributes"] == {"kind": {"Type": "String", "Value": "order"},
                                                 "count": {"Type": "Number", "Value": "3"},
                                                 "blob": {"Type": "Binary", "Value": "AAE="}}
    assert notification["SignatureVersion"] == "2" and notification["SigningCertUrl"].endswith(".pem")
    assert "UnsubscribeUrl" in notification and notification["Timestamp"].endswith("Z")
    verify_signature({**notification, "SigningCertURL": notification["SigningCertUrl"]})

    envelope = json.loads(received(sqs, envelope_url, 1)[0]["Body"])
    assert (envelope["Type"], envelope["MessageId"], envelope["Message"]) == ("Notification", message_id,
                                                                               "hello, subscribers")
    assert envelope["MessageAttributes"]["kind"] == {"Type": "String", "Value": "order"}
    verify_signature(envelope)

    raw = received(sqs, raw_url, 1)[0]
    assert raw["Body"] == "hello, subscribers"
    assert raw["MessageAttributes"]["kind"] == {"DataType": "String", "StringValue": "order"}
    assert raw["MessageAttributes"]["blob"]["BinaryValue"] == b"\x00\x01"

    headers, posted = wait_for(lambda: receiver.of_type("Notification"))[0]
    assert headers["x-amz-sns-message-id"] == message_id and headers["x-amz-sns-topic-arn"] == arn
    assert headers["x-amz-sns-subscription-arn"] == http_subscription
    assert posted["Message"] == "hello, subscribers" and posted["Subject"] == "greeting"
    verify_signature(posted)
    # A tampered message fails the check.
    with pytest.raises(Exception):
        verify_signature({**posted, "Message": "hello, subscribers!"})

    # The UnsubscribeURL works without credentials: its token is the capability.
    with urllib.request.urlopen(posted["UnsubscribeURL"], timeout=30) as response:
        assert response.status == 200
    refused(sns.get_subscription_attributes, "NotFound", 404, SubscriptionArn=http_subscription)
    forged = posted["UnsubscribeURL"].rsplit("Token=", 1)[0] + "Token=" + "0" * 64
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(forged, timeout=30)
    # Following the links is audited, as the anonymous caller's.
    wait_for(lambda: {("anonymous", "sns:ConfirmSubscription", "allowed"), ("anonymous", "sns:Unsubscribe", "allowed"),
                      ("anonymous", "sns:Unsubscribe", "failed")} <= {
        (e["Principal"], e["Action"], e["Outcome"]) for e in audit(server) if e["Resource"] == arn})


def test_message_structure_json_gives_each_protocol_its_own_message(server, sns, sqs, lam):  # type: ignore[no-untyped-def]
    arn = sns.create_topic(Name=unique("structured"))["TopicArn"]
    url, queue_arn = queue(sqs)
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    sns.publish(TopicArn=arn, MessageStructure="json",
                Message=json.dumps({"default": "for everyone", "sqs": "for queues"}))
    assert received(sqs, url, 1)[0]["Body"] == "for queues"
    refused(sns.publish, "InvalidParameter", TopicArn=arn, MessageStructure="json", Message=json.dumps({"sqs": "x"}))


def test_filter_policies_on_attributes_and_on_the_body(sns, sqs):  # type: ignore[no-untyped-def]
    arn = sns.create_topic(Name=unique("filtered"))["TopicArn"]
    by_attribute_url, by_attribute = queue(sqs)
    by_body_url, by_body = queue(sqs)
    everything_url, everything = queue(sqs)
    raw = {"RawMessageDelivery": "true"}
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=by_attribute,
                  Attributes={**raw, "FilterPolicy": json.dumps({"kind": ["order"], "count": [{"numeric": [">", 2]}]})})
    body_subscription = sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=by_body, Attributes={
        **raw, "FilterPolicyScope": "MessageBody",
        "FilterPolicy": json.dumps({"order": {"total": [{"numeric": [">=", 100]}]}})})["SubscriptionArn"]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=everything, Attributes=raw)

    def send(body: dict, **attributes: tuple[str, str]) -> None:
        sns.publish(TopicArn=arn, Message=json.dumps(body), MessageAttributes={
            name: {"DataType": kind, "StringValue": value} for name, (kind, value) in attributes.items()})

    send({"n": 1}, kind=("String", "order"), count=("Number", "3"))  # attributes match
    send({"n": 2}, kind=("String", "order"), count=("Number", "1"))  # count too low
    send({"n": 3, "order": {"total": 250}})  # the body matches
    send({"n": 4, "order": {"total": 5}}, kind=("String", "refund"))  # neither
    assert len(received(sqs, everything_url, 4)) == 4  # every message was published: the others were filtered
    assert [json.loads(m["Body"])["n"] for m in received(sqs, by_attribute_url, 1)] == [1]
    assert [json.loads(m["Body"])["n"] for m in received(sqs, by_body_url, 1)] == [3]
    assert sqs.receive_message(QueueUrl=by_body_url, WaitTimeSeconds=0).get("Messages") is None
    # A bad policy is refused in SNS's words, and the subscription keeps its policy.
    refused(sns.set_subscription_attributes, "InvalidParameter", SubscriptionArn=body_subscription,
            AttributeName="FilterPolicy", AttributeValue=json.dumps({"order": [{"bogus-operator": 1}]}))
    assert "total" in sns.get_subscription_attributes(SubscriptionArn=body_subscription)["Attributes"]["FilterPolicy"]
    # An empty policy is none: the subscription then gets every message.
    sns.set_subscription_attributes(SubscriptionArn=body_subscription, AttributeName="FilterPolicy",
                                    AttributeValue="{}")
    assert "FilterPolicy" not in sns.get_subscription_attributes(SubscriptionArn=body_subscription)["Attributes"]
    send({"n": 5})
    assert [json.loads(m["Body"])["n"] for m in received(sqs, by_body_url, 1)] == [5]


def test_a_fifo_topic_keeps_order_and_deduplicates_into_a_fifo_queue(sns, sqs):  # type: ignore[no-untyped-def]
    arn = sns.create_topic(Name=unique("ledger") + ".fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    url, queue_arn = queue(sqs, fifo=True)
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    sent = [sns.publish(TopicArn=arn, Message=f"entry {n}", MessageGroupId="account-1",
                        MessageDeduplicationId=f"entry-{n}") for n in range(6)]
    assert [int(answer["SequenceNumber"]) for answer in sent] == sorted(int(a["SequenceNumber"]) for a in sent)
    again = sns.publish(TopicArn=arn, Message="entry 0", MessageGroupId="account-1", MessageDeduplicationId="entry-0")
    assert again["MessageId"] == sent[0]["MessageId"]  # a duplicate within 5 minutes: accepted, not delivered
    messages = received(sqs, url, 6)
    assert [m["Body"] for m in messages] == [f"entry {n}" for n in range(6)]
    assert {m["Attributes"]["MessageGroupId"] for m in messages} == {"account-1"}
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages") is None
    refused(sns.publish, "InvalidParameter", TopicArn=arn, Message="no group")


def test_publish_batch(sns, sqs):  # type: ignore[no-untyped-def]
    arn = sns.create_topic(Name=unique("batched"))["TopicArn"]
    url, queue_arn = queue(sqs)
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    answer = sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=[
        {"Id": "a", "Message": "first"}, {"Id": "b", "Message": "second"}, {"Id": "c", "Message": ""}])
    assert sorted(entry["Id"] for entry in answer["Successful"]) == ["a", "b"]
    assert [(f["Id"], f["Code"], f["SenderFault"]) for f in answer["Failed"]] == [("c", "InvalidParameter", True)]
    assert sorted(m["Body"] for m in received(sqs, url, 2)) == ["first", "second"]


def test_an_http_subscription_is_confirmed_through_the_api_with_its_token(sns, receiver):  # type: ignore[no-untyped-def]
    arn = sns.create_topic(Name=unique("confirmed"))["TopicArn"]
    sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=receiver.url)
    _, confirmation = wait_for(lambda: receiver.of_type("SubscriptionConfirmation"))[0]
    refused(sns.confirm_subscription, "InvalidParameter", TopicArn=arn, Token="f" * 128)
    assert sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"][0]["SubscriptionArn"] == \
        "pending confirmation"
    subscription = sns.confirm_subscription(TopicArn=arn, Token=confirmation["Token"])["SubscriptionArn"]
    assert sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"][0]["SubscriptionArn"] == subscription
    assert sns.get_subscription_attributes(SubscriptionArn=subscription)["Attributes"]["PendingConfirmation"] == \
        "false"


def test_http_deliveries_are_retried(sns):  # type: ignore[no-untyped-def]
    endpoint = Receiver()
    try:
        arn = sns.create_topic(Name=unique("retried"))["TopicArn"]
        sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=endpoint.url)
        confirm_by_link(endpoint)
        endpoint.failures = 2  # the first two attempts fail
        message_id = sns.publish(TopicArn=arn, Message="persist")["MessageId"]
        wait_for(lambda: len(endpoint.of_type("Notification")) == 3, 30)
        assert {posted["MessageId"] for _, posted in endpoint.of_type("Notification")} == {message_id}
    finally:
        endpoint.close()


# ---- who may receive ----

def test_a_function_subscription_needs_the_functions_permission_and_stops_without_it(server, sns, lam):  # type: ignore[no-untyped-def]
    arn = sns.create_topic(Name=unique("guarded"))["TopicArn"]
    function = deploy(lam)
    endpoint = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}"
    error = refused(sns.subscribe, "AuthorizationError", 403, TopicArn=arn, Protocol="lambda", Endpoint=endpoint)
    assert "AddPermission" in error.response["Error"]["Message"]
    assert sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"] == []
    # A permission for another topic does not do.
    allow_topic(lam, function, arn + "-other", sid="other")
    refused(sns.subscribe, "AuthorizationError", 403, TopicArn=arn, Protocol="lambda", Endpoint=endpoint)
    allow_topic(lam, function, arn)
    subscription = sns.subscribe(TopicArn=arn, Protocol="lambda", Endpoint=endpoint)["SubscriptionArn"]
    sns.publish(TopicArn=arn, Message="first")
    wait_for(lambda: function_events(server, function))
    lam.remove_permission(FunctionName=function, StatementId="sns")

    def refusal_audited() -> bool:
        sns.publish(TopicArn=arn, Message="after removal")  # the permission cache may hold it a few seconds
        return any(entry["Resource"].endswith(f":function:{function}") and entry["Outcome"] == "denied"
                   and entry["Principal"] == "sns.amazonaws.com" for entry in audit(server))

    wait_for(refusal_audited, 30)
    # From now on the removal is known: a publish writes the other subscriber's invocation and not this one's,
    # in the same transaction, before it answers.
    witness = deploy(lam)
    allow_topic(lam, witness, arn)
    sns.subscribe(TopicArn=arn, Protocol="lambda", Endpoint=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{witness}")
    sns.publish(TopicArn=arn, Message="final")
    assert [e["Records"][0]["Sns"]["Message"] for e in wait_for(lambda: function_events(server, witness))] == ["final"]
    assert "final" not in [e["Records"][0]["Sns"]["Message"] for e in function_events(server, function)]
    assert not pending_invocations(server, function)
    assert sns.get_subscription_attributes(SubscriptionArn=subscription)["Attributes"]["Protocol"] == "lambda"


def pending_invocations(server: Server, function: str) -> list:
    """The asynchronous invocations of a function still waiting in the store."""
    engine = sqlalchemy.create_engine(f"sqlite:///{server.data_dir / 'faas.db'}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(sqlalchemy.select(work_items).where(work_items.c.kind == "async")).all()
    finally:
        engine.dispose()
    return [row for row in rows if json.loads(bytes(row.payload).partition(b"\n")[0])["function"] == function]


def test_a_queue_subscription_needs_the_subscriber_to_be_allowed_to_send(server, sqs):  # type: ignore[no-untyped-def]
    topic_name = unique("shared")
    arn = sns_client(server).create_topic(Name=topic_name)["TopicArn"]
    _, queue_arn = queue(sqs)
    credentials = make_principal(server, unique("subscriber"), [
        {"Effect": "Allow", "Action": ["sns:*"], "Resource": "*"}])
    limited = sns_client(server, credentials)
    refused(limited.subscribe, "AuthorizationError", 403, TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
    assert sns_client(server).list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"] == []


def test_http_endpoints_on_denied_addresses_are_refused(sns):  # type: ignore[no-untyped-def]
    arn = sns.create_topic(Name=unique("ssrf"))["TopicArn"]
    for endpoint in ("http://169.254.169.254/latest/meta-data/", "http://[::1]:9000/", "http://0.0.0.0/"):
        error = refused(sns.subscribe, "InvalidParameter", TopicArn=arn, Protocol="http", Endpoint=endpoint)
        assert "FAAS_TOPIC_HTTP" in error.response["Error"]["Message"]
    assert sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"] == []


# ---- bad input ----

def test_bad_input_is_refused_in_sns_words_and_changes_nothing(server, sns, sqs, lam):  # type: ignore[no-untyped-def]
    arn = sns.create_topic(Name=unique("strict"), Attributes={"DisplayName": "Strict"})["TopicArn"]
    fifo = sns.create_topic(Name=unique("strict") + ".fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    url, queue_arn = queue(sqs)
    subscription = sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn,
                                 Attributes={"RawMessageDelivery": "true"})["SubscriptionArn"]
    function = deploy(lam)
    allow_topic(lam, function, fifo)

    def stored() -> tuple:
        topics = sns.get_paginator("list_topics").paginate().build_full_result()["Topics"]
        return (sorted(t["TopicArn"] for t in topics), sns.get_topic_attributes(TopicArn=arn)["Attributes"],
                sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"],
                sns.list_subscriptions_by_topic(TopicArn=fifo)["Subscriptions"],
                sns.get_subscription_attributes(SubscriptionArn=subscription)["Attributes"])

    before = stored()
    unknown = f"arn:aws:sns:{REGION}:{ACCOUNT}:{unique('missing')}"
    refused(sns.publish, "NotFound", 404, TopicArn=unknown, Message="x")
    refused(sns.subscribe, "NotFound", 404, TopicArn=unknown, Protocol="sqs", Endpoint=queue_arn)
    refused(sns.publish, "InvalidParameter", TopicArn="arn:aws:sqs:us-east-1:000000000000:not-a-topic", Message="x")
    refused(sns.publish, "InvalidParameter", TopicArn="not an arn", Message="x")
    refused(sns.get_subscription_attributes, "InvalidParameter", SubscriptionArn=arn + ":not-a-subscription")
    refused(sns.create_topic, "InvalidParameter", Name="bad name!")
    refused(sns.create_topic, "InvalidParameter", Name=unique("plain") + ".fifo")
    refused(sns.create_topic, "InvalidParameter", Name=unique("x"), Attributes={"Policy": "{}"})
    refused(sns.subscribe, "InvalidParameter", TopicArn=arn, Protocol="sqs", Endpoint=queue_arn,
            Attributes={"FilterPolicy": "{not json"})
    refused(sns.subscribe, "InvalidParameter", TopicArn=arn, Protocol="sqs", Endpoint=queue_arn + "-other",
            Attributes={"FilterPolicy": json.dumps({"kind": [{"numeric": ["<<", 1]}]})})
    refused(sns.set_subscription_attributes, "InvalidParameter", SubscriptionArn=subscription,
            AttributeName="FilterPolicy", AttributeValue=json.dumps({"a": {"nested": ["x"]}}))
    refused(sns.set_subscription_attributes, "InvalidParameter", SubscriptionArn=subscription,
            AttributeName="DeliveryPolicy", AttributeValue="{}")
    refused(sns.subscribe, "InvalidParameter", TopicArn=fifo, Protocol="lambda",
            Endpoint=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}")
    refused(sns.subscribe, "InvalidParameter", TopicArn=arn, Protocol="email", Endpoint="someone@example.com")
    refused(sns.subscribe, "InvalidParameter", TopicArn=arn, Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:1:q")
    refused(sns.subscribe, "InvalidParameter", TopicArn=arn, Protocol="http", Endpoint="ftp://example.com/")
    refused(sns.subscribe, "InvalidParameter", TopicArn=arn, Protocol="lambda", Endpoint="arn:aws:lambda:x")
    refused(sns.publish, "InvalidParameter", TopicArn=arn, Message="x" * (256 * 1024 + 1))
    refused(sns.publish, "InvalidParameter", TopicArn=arn, Message="")
    refused(sns.publish, "InvalidParameter", TopicArn=arn, Message="x", Subject="two\nlines")
    refused(sns.publish, "InvalidParameter", TopicArn=arn, Message="x", MessageGroupId="g")
    refused(sns.publish, "ParameterValueInvalid", TopicArn=arn, Message="x",
            MessageAttributes={"n": {"DataType": "Number", "StringValue": "many"}})
    refused(sns.publish, "ParameterValueInvalid", TopicArn=arn, Message="x",
            MessageAttributes={"AWS.reserved": {"DataType": "String", "StringValue": "v"}})
    refused(sns.publish, "InvalidParameter", TopicArn=fifo, Message="x", MessageGroupId="g")  # no deduplication id
    refused(sns.publish_batch, "BatchEntryIdsNotDistinct", TopicArn=arn,
            PublishBatchRequestEntries=[{"Id": "same", "Message": "a"}, {"Id": "same", "Message": "b"}])
    refused(sns.publish_batch, "TooManyEntriesInBatchRequest", TopicArn=arn,
            PublishBatchRequestEntries=[{"Id": f"e{n}", "Message": "a"} for n in range(11)])
    refused(sns.publish_batch, "InvalidBatchEntryId", TopicArn=arn,
            PublishBatchRequestEntries=[{"Id": "not ok!", "Message": "a"}])
    refused(sns.publish_batch, "EmptyBatchRequest", TopicArn=arn, PublishBatchRequestEntries=[])
    refused(sns.publish_batch, "BatchRequestTooLong", TopicArn=arn,
            PublishBatchRequestEntries=[{"Id": f"e{n}", "Message": "x" * 100_000} for n in range(3)])
    assert stored() == before
    # Nothing refused was delivered either.
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages") is None


def test_a_caller_without_sns_rights_gets_authorization_error(server, sns):  # type: ignore[no-untyped-def]
    arn = sns.create_topic(Name=unique("private"))["TopicArn"]
    credentials = make_principal(server, unique("reader"), [
        {"Effect": "Allow", "Action": ["sns:GetTopicAttributes"], "Resource": arn}])
    limited = sns_client(server, credentials)
    assert limited.get_topic_attributes(TopicArn=arn)["Attributes"]["TopicArn"] == arn
    refused(limited.publish, "AuthorizationError", 403, TopicArn=arn, Message="x")
    refused(limited.create_topic, "AuthorizationError", 403, Name=unique("nope"))


def test_a_publish_answered_200_is_delivered_after_a_sigkill(tmp_path: Path, store_url: str | None) -> None:
    """The endpoint refuses everything until the server is killed right after publish's 200s: each message is
    delivered after the restart, from what the publish recorded."""
    endpoint = Receiver()
    first = Server(tmp_path / "data", database_url=store_url, extra_env=SNS_ENV).start()
    try:
        sns = sns_client(first)
        sqs = sqs_client(first)
        arn = sns.create_topic(Name="durable")["TopicArn"]
        url, queue_arn = queue(sqs)
        sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
        sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=endpoint.url)
        confirm_by_link(endpoint)
        endpoint.failures = 10**9
        message_ids = [sns.publish(TopicArn=arn, Message=f"m{n}")["MessageId"] for n in range(5)]
    finally:
        assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    endpoint.failures = 0
    second = Server(tmp_path / "data", database_url=store_url, extra_env=SNS_ENV).start()
    try:
        def delivered() -> set[str]:
            return {json.loads(body)["MessageId"] for headers, body in list(endpoint.accepted)
                    if headers.get("x-amz-sns-message-type") == "Notification"}

        wait_for(lambda: delivered() >= set(message_ids), 60)
        bodies = {m["Body"] for m in received(sqs_client(second), url, 5)}
        assert bodies == {f"m{n}" for n in range(5)}
    finally:
        second.stop()
        endpoint.close()


def test_a_topic_is_a_functions_dead_letter_target(server, sns, sqs, lam):  # type: ignore[no-untyped-def]
    """Lambda's DeadLetterConfig (and destinations) may name a topic: the event that failed is published to it,
    as the function's execution role, which must be allowed sns:Publish."""
    topic = sns.create_topic(Name=unique("failures"))["TopicArn"]
    url, queue_arn = queue(sqs)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    role = unique("publisher")
    for method, path, body, expected in (
            ("POST", "/faas/v1/roles", {"Name": role}, 201),
            ("PUT", f"/faas/v1/roles/{role}/policies/publish", {"PolicyDocument": {
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sns:Publish",
                                                        "Resource": topic}]}}, 200)):
        status, _, answer = server.request(method, path, json.dumps(body).encode(), {"Content-Type": "application/json"})
        assert status == expected, (status, answer[:300])
    name = unique("sns-fails")
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=f"arn:aws:iam::{ACCOUNT}:role/{role}",
                        Handler="app.handler", DeadLetterConfig={"TargetArn": topic},
                        Code={"ZipFile": make_zip({"app.py": "def handler(event, context):\n    raise ValueError('no')\n"})})
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    request_id = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"order": 9}')[
        "ResponseMetadata"]["RequestId"]
    [message] = received(sqs, url, 1)
    assert json.loads(message["Body"]) == {"order": 9}
    assert message["MessageAttributes"]["RequestID"]["StringValue"] == request_id
    assert message["MessageAttributes"]["ErrorMessage"]["StringValue"] == "no"
