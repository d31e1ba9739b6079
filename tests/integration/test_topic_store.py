"""SNS topics (faas.services.topics over faas.store.topics and faas.store.work) on real SQLite and real
PostgreSQL, with the clock the test moves (tests/integration/conftest.py): topics and their idempotence,
subscriptions and their pages, HTTP confirmation tokens, a publish's fan-out recorded as work items in one
transaction (function deliveries as asynchronous invocations, only while the function's policy allows the
topic), filter policies, and FIFO topics' sequence numbers and five-minute deduplication, durable across a new
service on the same database."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from sqlalchemy import select

from faas.errors import InvalidParameter, SnsAuthorizationError, TopicNotFound
from faas.security import message_signing
from faas.security.addresses import AddressRule
from faas.security.message_signing import Signer
from faas.services.topics import DELIVERY, TopicService, token_hash
from faas.store.tables import work_items
from faas.store.topics import TopicStore, Work

ACCOUNT = "123456789012"
FUNCTION_ARN = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:"
BASE = "http://faas.test:9000"


class Permissions:
    """A function policy per function, as AddPermission writes it."""

    def __init__(self) -> None:
        self.policies: dict[str, tuple[dict, ...]] = {}

    def allow(self, function: str, topic_arn: str) -> None:
        self.policies[function] = ({"Sid": "sns", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                                    "Action": "lambda:InvokeFunction", "Resource": FUNCTION_ARN + function,
                                    "Condition": {"ArnLike": {"AWS:SourceArn": topic_arn}}},)

    async def statements(self, name: str) -> tuple[dict, ...]:
        return self.policies.get(name, ())


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer(*message_signing.generate("test", dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)))


@pytest.fixture
def permissions() -> Permissions:
    return Permissions()


@pytest.fixture
def audited() -> list:
    return []


def new_service(engine, signer, clock, permissions, audited) -> TopicService:  # type: ignore[no-untyped-def]
    async def queue_exists(name: str) -> bool:
        return not name.startswith("missing")

    return TopicService(TopicStore(engine), permissions, signer, region="eu-west-1", account_id=ACCOUNT,
                        function_arn=lambda name: FUNCTION_ARN + name, queue_exists=queue_exists,
                        lambda_work=lambda function, event: Work("async", str(uuid.uuid4()),
                                                                  function.encode() + b"\n" + event),
                        published=lambda: None, audit=audited.append,
                        http_rule=AddressRule(deny=("169.254.0.0/16",)), clock=clock)


@pytest.fixture
def service(engine, signer, clock, permissions, audited) -> TopicService:  # type: ignore[no-untyped-def]
    return new_service(engine, signer, clock, permissions, audited)


async def work(engine, kind: str) -> list:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        return (await conn.execute(select(work_items).where(work_items.c.kind == kind)
                                   .order_by(work_items.c.id))).all()


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:eu-west-1:{ACCOUNT}:{name}"


async def test_topics_are_idempotent_listed_tagged_and_deleted(service: TopicService) -> None:
    topic = await service.create_topic("orders", {"DisplayName": "Orders"}, [{"Key": "team", "Value": "a"}])
    assert (await service.create_topic("orders", {"DisplayName": "Orders"}, None)).created_at == topic.created_at
    with pytest.raises(InvalidParameter, match="different attributes"):
        await service.create_topic("orders", {"DisplayName": "Other"}, None)
    with pytest.raises(InvalidParameter, match="FIFO topic's attribute"):
        await service.create_topic("orders", {"ContentBasedDeduplication": "true"}, None)
    await service.create_topic("ledger.fifo", {"FifoTopic": "true"}, None)
    assert (await service.list_topics(None))[0] == [service.topic_arn("ledger.fifo"), service.topic_arn("orders")]
    await service.tag(service.topic_arn("orders"), [{"Key": "env", "Value": "x"}])
    assert await service.tags(service.topic_arn("orders")) == {"team": "a", "env": "x"}
    await service.subscribe("orders", "sqs", queue_arn("q"), None, "owner", BASE)
    await service.delete_topic("orders")
    with pytest.raises(TopicNotFound):
        await service.topic("orders")
    assert (await service.list_subscriptions(None, None))[0] == []


async def test_subscriptions_page_by_100(service: TopicService) -> None:
    await service.create_topic("busy", None, None)
    arns = {service.subscription_arn(await service.subscribe("busy", "sqs", queue_arn(f"q{n}"), None, "o", BASE))
            for n in range(105)}
    first, token = await service.list_subscriptions("busy", None)
    second, end = await service.list_subscriptions("busy", token)
    assert (len(first), len(second), end) == (100, 5, None)
    assert {service.listed(s)["SubscriptionArn"] for s in first + second} == arns


async def test_an_http_subscription_is_confirmed_with_the_token_it_was_sent(service: TopicService, engine) -> None:
    await service.create_topic("hooks", None, None)
    pending = await service.subscribe("hooks", "http", "http://hooks.example/x", None, "o", BASE)
    assert not pending.confirmed and service.listed(pending)["SubscriptionArn"] == "pending confirmation"
    [confirmation] = await work(engine, DELIVERY)
    document = json.loads(json.loads(confirmation.payload)["body"])
    assert document["Type"] == "SubscriptionConfirmation" and pending.token_hash == token_hash(document["Token"])
    assert document["SubscribeURL"].startswith(f"{BASE}/?Action=ConfirmSubscription&TopicArn=")
    with pytest.raises(InvalidParameter):
        await service.confirm("hooks", "0" * 128)
    confirmed = await service.confirm("hooks", document["Token"])
    assert confirmed.confirmed and (await service.confirm("hooks", document["Token"])).id == confirmed.id
    with pytest.raises(InvalidParameter, match="FAAS_TOPIC_HTTP"):
        await service.subscribe("hooks", "http", "http://169.254.169.254/", None, "o", BASE)


async def test_a_publish_records_every_matching_delivery_before_it_answers(service: TopicService, engine,
                                                                           permissions, audited) -> None:
    topic_arn = service.topic_arn("news")
    await service.create_topic("news", None, None)
    with pytest.raises(SnsAuthorizationError, match="AddPermission"):
        await service.subscribe("news", "lambda", FUNCTION_ARN + "reader", None, "o", BASE)
    permissions.allow("reader", topic_arn)
    await service.subscribe("news", "lambda", FUNCTION_ARN + "reader", None, "o", BASE)
    await service.subscribe("news", "sqs", queue_arn("all"), None, "o", BASE)
    await service.subscribe("news", "sqs", queue_arn("urgent"), {
        "FilterPolicy": json.dumps({"level": ["urgent"]}), "RawMessageDelivery": "true"}, "o", BASE)
    published = await service.publish("news", {"Message": "calm", "MessageAttributes": {
        "level": {"DataType": "String", "StringValue": "info"}}}, BASE)
    deliveries = [json.loads(row.payload) for row in await work(engine, DELIVERY)]
    assert [d["endpoint"] for d in deliveries] == [queue_arn("all")]
    assert json.loads(deliveries[0]["body"])["MessageId"] == published.message_id
    [invocation] = await work(engine, "async")
    function, _, event = bytes(invocation.payload).partition(b"\n")
    assert function == b"reader" and json.loads(event)["Records"][0]["Sns"]["Message"] == "calm"

    await service.publish("news", {"Message": "fire", "MessageAttributes": {
        "level": {"DataType": "String", "StringValue": "urgent"}}}, BASE)
    raw = [d for d in (json.loads(row.payload) for row in await work(engine, DELIVERY)) if d["raw"]]
    assert [(d["body"], d["raw"], d["attributes"]) for d in raw] == [
        ("fire", True, {"level": {"DataType": "String", "StringValue": "urgent"}})]
    # Without the permission, the function's delivery is not written, and the refusal is audited.
    permissions.policies.clear()
    await service.publish("news", {"Message": "late"}, BASE)
    assert len(await work(engine, "async")) == 2 and audited[-1].outcome == "denied"


async def test_fifo_topics_number_and_deduplicate_across_services(engine, signer, clock, permissions,
                                                                  audited) -> None:
    service = new_service(engine, signer, clock, permissions, audited)
    await service.create_topic("ledger.fifo", {"FifoTopic": "true", "ContentBasedDeduplication": "true"}, None)
    await service.subscribe("ledger.fifo", "sqs", queue_arn("ledger.fifo"), None, "o", BASE)
    first = await service.publish("ledger.fifo", {"Message": "a", "MessageGroupId": "g"}, BASE)
    second = await service.publish("ledger.fifo", {"Message": "b", "MessageGroupId": "g"}, BASE)
    assert int(second.sequence_number) == int(first.sequence_number) + 1  # type: ignore[arg-type]
    again = await new_service(engine, signer, clock, permissions, audited).publish(
        "ledger.fifo", {"Message": "a", "MessageGroupId": "g"}, BASE)
    assert again == first and len(await work(engine, DELIVERY)) == 2
    rows = await work(engine, DELIVERY)
    assert rows[0].group_key == rows[1].group_key is not None
    clock.advance(5 * 60 + 1)
    later = await service.publish("ledger.fifo", {"Message": "a", "MessageGroupId": "g"}, BASE)
    assert later.message_id != first.message_id and len(await work(engine, DELIVERY)) == 3
    with pytest.raises(InvalidParameter, match="FIFO"):
        await service.subscribe("ledger.fifo", "lambda", FUNCTION_ARN + "f", None, "o", BASE)
