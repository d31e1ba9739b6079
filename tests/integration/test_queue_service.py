"""SQS queues (faas.services.queues over faas.store.queues and faas.store.work) on real SQLite and real
PostgreSQL, with a clock the test moves: attributes, idempotent creation, listing, visibility, delays,
retention, receipt handles, purge, deletion and a long poll woken by a send."""

from __future__ import annotations

import asyncio

import pytest

from faas.errors import (
    InvalidAttributeName,
    InvalidAttributeValue,
    MessageNotInflight,
    QueueDoesNotExist,
    QueueNameExists,
    ReceiptHandleIsInvalid,
    SqsInvalidParameterValue,
)
from faas.services import queues as queues_module
from faas.services.queues import QueueService


async def receive(service: QueueService, name: str, **params) -> list[dict]:  # type: ignore[no-untyped-def]
    return await service.receive(name, {"MaxNumberOfMessages": 10, **params})


async def test_create_is_idempotent_only_with_the_same_attributes(service):
    queue = await service.create_queue("jobs", {"VisibilityTimeout": "10"}, {"team": "a"})
    again = await service.create_queue("jobs", {"VisibilityTimeout": 10}, None)
    assert (again.name, again.created_at, again.tags) == ("jobs", queue.created_at, {"team": "a"})
    with pytest.raises(QueueNameExists):
        await service.create_queue("jobs", {"VisibilityTimeout": "11"}, None)
    attributes = await service.get_attributes("jobs", ["All"])
    assert attributes["VisibilityTimeout"] == "10"
    assert attributes["QueueArn"] == "arn:aws:sqs:eu-west-1:123456789012:jobs"
    with pytest.raises(InvalidAttributeName):
        await service.get_attributes("jobs", ["Nope"])


async def test_list_pages_by_name_and_prefix_with_wildcard_characters(service):
    for name in ("a_1", "a_2", "ab", "a-3", "b"):
        await service.create_queue(name, None, None)
    assert (await service.list_queues("a_", None, None)) == (["a_1", "a_2"], None)
    names, token = await service.list_queues("a", 2, None)
    rest, end = await service.list_queues("a", 2, token)
    assert sorted(names + rest) == ["a-3", "a_1", "a_2", "ab"] and len(names) == 2 and end is None
    with pytest.raises(SqsInvalidParameterValue):
        await service.list_queues("a", 2, "garbage")


async def test_visibility_delay_and_receipt_handles(service, clock):
    await service.create_queue("q", {"VisibilityTimeout": "30"}, None)
    await service.send("q", {"MessageBody": "now"}, "tester")
    await service.send("q", {"MessageBody": "later", "DelaySeconds": 120}, "tester")
    [first] = await receive(service, "q")
    assert first["Body"] == "now"
    assert await receive(service, "q") == []
    depth = await service.get_attributes("q", ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                                               "ApproximateNumberOfMessagesDelayed"])
    assert depth == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "1",
                     "ApproximateNumberOfMessagesDelayed": "1"}
    clock.advance(31)
    [again] = await receive(service, "q", AttributeNames=["ApproximateReceiveCount"])
    assert again["Body"] == "now" and again["Attributes"] == {"ApproximateReceiveCount": "2"}
    # The first receive's handle no longer acts on the message.
    with pytest.raises(MessageNotInflight):
        await service.change_visibility("q", first["ReceiptHandle"], 0)
    await service.delete_message("q", first["ReceiptHandle"])
    clock.advance(31)
    [third] = await receive(service, "q")
    assert third["MessageId"] == first["MessageId"]
    await service.delete_message("q", third["ReceiptHandle"])
    await service.delete_message("q", third["ReceiptHandle"])  # deleting twice is no error, as in SQS
    clock.advance(60)
    assert [m["Body"] for m in await receive(service, "q")] == ["later"]
    # Handles are bound to their queue and cannot be forged.
    await service.create_queue("other", None, None)
    with pytest.raises(ReceiptHandleIsInvalid):
        await service.delete_message("other", third["ReceiptHandle"])
    with pytest.raises(ReceiptHandleIsInvalid):
        await service.delete_message("q", "bm90IGEgaGFuZGxl")


async def test_retention_drops_expired_messages(service, clock):
    await service.create_queue("short", {"MessageRetentionPeriod": "60"}, None)
    await service.send("short", {"MessageBody": "old"}, "tester")
    clock.advance(61)
    await service.send("short", {"MessageBody": "new"}, "tester")
    assert [m["Body"] for m in await receive(service, "short")] == ["new"]
    counts = await service.get_attributes("short", ["ApproximateNumberOfMessages",
                                                    "ApproximateNumberOfMessagesNotVisible"])
    assert counts == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "1"}


async def test_purge_and_delete_drop_the_messages(service, engine):
    await service.create_queue("gone", None, None)
    for body in ("a", "b"):
        await service.send("gone", {"MessageBody": body}, "tester")
    await service.purge("gone")
    assert await receive(service, "gone") == []
    await service.send("gone", {"MessageBody": "c"}, "tester")
    await service.delete_queue("gone")
    with pytest.raises(QueueDoesNotExist):
        await receive(service, "gone")
    await service.create_queue("gone", None, None)  # a new queue of the same name starts empty
    assert await receive(service, "gone") == []


async def test_a_send_wakes_a_long_poll_on_this_node(service, monkeypatch):
    monkeypatch.setattr(queues_module, "RECHECK_S", 3600.0)  # only the wake-up can end the wait early
    await service.create_queue("poll", None, None)
    waiting = asyncio.create_task(receive(service, "poll", WaitTimeSeconds=20))
    await asyncio.sleep(0)  # the receive looks once and starts waiting
    while "poll" not in service._arrivals:
        await asyncio.sleep(0.01)
    await service.send("poll", {"MessageBody": "ding"}, "tester")
    messages = await asyncio.wait_for(waiting, 20)
    assert [m["Body"] for m in messages] == ["ding"]


async def test_redrive_moves_a_message_after_max_receive_count_and_needs_an_existing_target(service, clock):
    await service.create_queue("dlq", None, None)
    policy = '{"deadLetterTargetArn": "arn:aws:sqs:eu-west-1:123456789012:dlq", "maxReceiveCount": "1"}'
    await service.create_queue("src", {"RedrivePolicy": policy, "VisibilityTimeout": "10"}, None)
    # The same policy again is the same queue, whatever its spelling.
    await service.create_queue("src", {"RedrivePolicy": policy.replace(" ", "")}, None)
    with pytest.raises(InvalidAttributeValue):
        await service.create_queue("src2", {"RedrivePolicy": policy.replace(":dlq", ":missing")}, None)
    with pytest.raises(InvalidAttributeValue):
        await service.set_attributes("dlq", {"RedrivePolicy": policy})  # its own dead-letter queue
    await service.send("src", {"MessageBody": "poison"}, "tester")
    [first] = await receive(service, "src")
    clock.advance(11)
    assert await receive(service, "src") == []
    [moved] = await receive(service, "dlq", AttributeNames=["All"])
    assert moved["MessageId"] == first["MessageId"]
    assert moved["Attributes"]["DeadLetterQueueSourceArn"] == "arn:aws:sqs:eu-west-1:123456789012:src"
    assert moved["Attributes"]["ApproximateReceiveCount"] == "1"


async def test_draining_ends_long_polls_at_once(service, monkeypatch):
    monkeypatch.setattr(queues_module, "RECHECK_S", 3600.0)
    await service.create_queue("stopping", None, None)
    waiting = asyncio.create_task(receive(service, "stopping", WaitTimeSeconds=20))
    while "stopping" not in service._arrivals:
        await asyncio.sleep(0.01)
    service.drain()
    assert await asyncio.wait_for(waiting, 20) == []
