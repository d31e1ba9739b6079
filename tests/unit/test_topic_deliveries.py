"""The topic deliveries source (faas.sources.topic_deliveries) with fakes for the store, the topics and the
queues: a delivery is completed once made, retried `retry_s` apart three times, then sent to the
subscription's dead-letter queue or dropped; deliveries to denied addresses are never attempted."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
from typing import Any

import pytest
from aiohttp import web

from faas.errors import QueueDoesNotExist
from faas.security.addresses import AddressRule
from faas.services.queues import BatchFailure
from faas.sources.topic_deliveries import RETRIES, TopicDeliveries, batches
from faas.store.work import WorkItem

T0 = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
OWNER = "node-1-sns"


class FakeWork:
    def __init__(self) -> None:
        self.completed: list[int] = []
        self.released: list[tuple[int, float]] = []

    async def complete(self, item_id: int, owner: str) -> bool:
        assert owner == OWNER
        self.completed.append(item_id)
        return True

    async def complete_many(self, held: list[tuple[int, str]]) -> None:
        for item_id, owner in held:
            await self.complete(item_id, owner)

    async def release(self, item_id: int, owner: str, *, delay_s: float, now: dt.datetime) -> bool:
        assert owner == OWNER
        self.released.append((item_id, delay_s))
        return True

    async def reclaim_owner(self, owner: str, *, now: dt.datetime) -> int:
        return 0

    async def claim(self, *args: Any, **kwargs: Any) -> list:
        return []


@dataclasses.dataclass
class FakeSubscription:
    attributes: dict[str, str]


class FakeTopics:
    def __init__(self, subscriptions: dict[str, FakeSubscription]) -> None:
        self.subscriptions = subscriptions

    async def subscription_by_id(self, subscription_id: str) -> FakeSubscription | None:
        return self.subscriptions.get(subscription_id)

    @staticmethod
    def queue_in(arn: str) -> str:
        return arn.rsplit(":", 1)[1]


class FakeQueues:
    def __init__(self, existing: set[str]) -> None:
        self.existing = existing
        self.sent: list[tuple[str, dict]] = []

    async def send(self, name: str, entry: dict, sender_id: str) -> None:
        if name not in self.existing:
            raise QueueDoesNotExist()
        self.sent.append((name, entry))

    async def send_batch(self, name: str, entries: list[dict], sender_id: str) -> tuple[list, list]:
        """As the queue service: an entry whose body says "refuse" fails alone."""
        if name not in self.existing:
            raise QueueDoesNotExist()
        failed = [BatchFailure(e["Id"], "InvalidMessageContents", "refused") for e in entries
                  if e["MessageBody"] == "refuse"]
        self.sent += [(name, e) for e in entries if e["MessageBody"] != "refuse"]
        return [], failed


def item(delivery: dict, attempts: int = 1, item_id: int = 7) -> WorkItem:
    return WorkItem(item_id, "sns", "m:s", None, json.dumps(delivery).encode(), T0, T0, attempts, OWNER)


def unit(work_item: WorkItem) -> list:
    [one] = batches([work_item])
    return one


def delivery(endpoint: str = "arn:aws:sqs:r:1:orders", protocol: str = "sqs", **extra: Any) -> dict:
    return {"subscription": "s", "topic_arn": "arn:aws:sns:r:1:t", "protocol": protocol, "endpoint": endpoint,
            "type": "Notification", "message_id": "m", "body": "hello", "raw": True, **extra}


def source(queues: FakeQueues, subscription: FakeSubscription | None = None) -> tuple[TopicDeliveries, FakeWork]:
    work = FakeWork()
    topics = FakeTopics({"s": subscription} if subscription is not None else {})
    deliveries = TopicDeliveries(work, topics, queues, node_id="node-1",  # type: ignore[arg-type]
                                 http_rule=AddressRule(deny=("127.0.0.0/8", "169.254.0.0/16")), retry_s=20.0)
    return deliveries, work


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_a_made_delivery_is_completed_with_its_fifo_group_and_deduplication_id():
    queues = FakeQueues({"ledger.fifo"})
    deliveries, work = source(queues, FakeSubscription({}))
    run(deliveries._run(unit(item(delivery("arn:aws:sqs:r:1:ledger.fifo", group="g", deduplication_id="d",
                                           attributes={"k": {"DataType": "String", "StringValue": "v"}})))))
    assert work.completed == [7] and work.released == []
    assert queues.sent == [("ledger.fifo", {"MessageBody": "hello", "MessageGroupId": "g",
                                            "MessageDeduplicationId": "d",
                                            "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}})]


@pytest.mark.parametrize("attempts", range(1, RETRIES + 1))
def test_a_failed_delivery_is_retried_after_retry_s(attempts):
    deliveries, work = source(FakeQueues(set()), FakeSubscription({}))
    run(deliveries._run(unit(item(delivery(), attempts))))
    assert work.released == [(7, 20.0)] and work.completed == []


def test_after_the_last_retry_it_goes_to_the_dead_letter_queue():
    queues = FakeQueues({"dlq"})
    deliveries, work = source(queues, FakeSubscription({"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": "arn:aws:sqs:r:1:dlq"})}))
    run(deliveries._run(unit(item(delivery(), RETRIES + 1))))
    assert work.completed == [7] and queues.sent == [("dlq", {"MessageBody": "hello"})]


def test_after_the_last_retry_without_a_dead_letter_queue_it_is_dropped():
    queues = FakeQueues(set())
    deliveries, work = source(queues, FakeSubscription({}))
    run(deliveries._run(unit(item(delivery(), RETRIES + 1))))
    assert work.completed == [7] and queues.sent == []


def test_a_delivery_of_a_subscription_that_is_gone_is_dropped():
    queues = FakeQueues({"orders"})
    deliveries, work = source(queues, None)
    run(deliveries._run(unit(item(delivery()))))
    assert work.completed == [7] and queues.sent == []


def receiving(rule: AddressRule, endpoint_path: str = "/hook") -> tuple[list, list]:
    """Deliver one notification to a local HTTP server under `rule`: what it received, and what was released."""

    async def scenario() -> tuple[list, list]:
        seen: list = []

        async def hook(request: web.Request) -> web.Response:
            seen.append((dict(request.headers), await request.text()))
            return web.Response()

        app = web.Application()
        app.router.add_post("/hook", hook)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        work = FakeWork()
        deliveries = TopicDeliveries(work, FakeTopics({"s": FakeSubscription({})}), FakeQueues(set()),  # type: ignore[arg-type]
                                     node_id="node-1", http_rule=rule, retry_s=20.0)
        await deliveries.start()
        try:
            for host in ("127.0.0.1", "localhost"):
                await deliveries._run(unit(item(delivery(f"http://{host}:{port}{endpoint_path}", "http", raw=False))))
        finally:
            await deliveries.stop()
            await runner.cleanup()
        return seen, work.released

    return asyncio.run(scenario())


def test_denied_addresses_are_never_requested_by_literal_or_by_name():
    seen, released = receiving(AddressRule(deny=("127.0.0.0/8", "::1/128")))
    assert seen == [] and released == [(7, 20.0), (7, 20.0)]


def test_allowed_endpoints_get_snss_headers():
    seen, released = receiving(AddressRule(deny=("127.0.0.0/8", "::1/128"), allow=("127.0.0.1/32", "::1/128")))
    assert released == [] and len(seen) == 2
    headers, body = seen[0]
    assert (headers["x-amz-sns-message-type"], headers["x-amz-sns-message-id"], headers["x-amz-sns-topic-arn"],
            headers["x-amz-sns-subscription-arn"]) == ("Notification", "m", "arn:aws:sns:r:1:t", "arn:aws:sns:r:1:t:s")
    assert body == "hello"


def test_deliveries_to_one_standard_queue_go_in_batches_of_ten_and_fail_alone():
    to_orders = [item(delivery(body="refuse" if n == 3 else f"m{n}"), item_id=n) for n in range(12)]
    to_fifo = item(delivery("arn:aws:sqs:r:1:ledger.fifo", group="g", deduplication_id="d"), item_id=20)
    to_http = item(delivery("http://hooks.example/x", "http"), item_id=21)
    units = batches([*to_orders, to_fifo, to_http])
    assert sorted(len(u) for u in units) == [1, 1, 2, 10]
    queues = FakeQueues({"orders"})
    deliveries, work = source(queues, FakeSubscription({}))
    for batch in (u for u in units if u[0][1]["protocol"] == "sqs" and not u[0][1]["endpoint"].endswith(".fifo")):
        run(deliveries._run(batch))
    assert sorted(work.completed) == [n for n in range(12) if n != 3] and work.released == [(3, 20.0)]
    assert sorted(entry["MessageBody"] for _, entry in queues.sent) == sorted(f"m{n}" for n in range(12) if n != 3)


def test_a_batch_stays_within_a_mebibyte():
    big = "x" * (300 * 1024)
    assert [len(u) for u in batches([item(delivery(body=big), item_id=n) for n in range(5)])] == [3, 2]
