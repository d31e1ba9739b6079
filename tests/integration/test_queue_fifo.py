"""FIFO queues (faas.services.queues over faas.store.queues and faas.store.work) on real SQLite and real
PostgreSQL, with a clock the test moves: names and attributes, order within a group across a receive that
was not deleted, independent groups, explicit and content-based deduplication within five minutes (and by
group under DeduplicationScope=messageGroup), durable across a new service on the same database, and the
errors of FIFO parameters on the wrong queue type."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from faas.errors import InvalidAttributeName, InvalidAttributeValue, MissingParameter, SqsInvalidParameterValue
from faas.services.queues import QueueService
from tests.integration.conftest import new_queue_service

FIFO = {"FifoQueue": "true"}


async def receive(service: QueueService, name: str, **params) -> list[dict]:  # type: ignore[no-untyped-def]
    return await service.receive(name, {"MaxNumberOfMessages": 10, "AttributeNames": ["All"], **params})


def send(group: str, body: str, dedup: str | None = None) -> dict:
    entry = {"MessageBody": body, "MessageGroupId": group}
    if dedup is not None:
        entry["MessageDeduplicationId"] = dedup
    return entry


async def test_names_and_attributes(service):
    queue = await service.create_queue("jobs.fifo", FIFO, None)
    assert queue.attributes["FifoQueue"] == "true"
    again = await service.create_queue("jobs.fifo", {"FifoQueue": "true", "ContentBasedDeduplication": "false"}, None)
    assert again.created_at == queue.created_at
    attributes = await service.get_attributes("jobs.fifo", ["All"])
    assert {key: attributes[key] for key in ("FifoQueue", "ContentBasedDeduplication", "DeduplicationScope",
                                             "FifoThroughputLimit")} == {
        "FifoQueue": "true", "ContentBasedDeduplication": "false", "DeduplicationScope": "messageQueue",
        "FifoThroughputLimit": "perQueue"}
    await service.set_attributes("jobs.fifo", {"DeduplicationScope": "messageGroup",
                                               "FifoThroughputLimit": "perMessageGroupId",
                                               "ContentBasedDeduplication": "TRUE"})
    assert (await service.get_attributes("jobs.fifo", ["ContentBasedDeduplication"])) == {
        "ContentBasedDeduplication": "true"}
    with pytest.raises(InvalidAttributeValue):
        await service.set_attributes("jobs.fifo", {"DeduplicationScope": "perQueue"})
    with pytest.raises(InvalidAttributeName):
        await service.set_attributes("jobs.fifo", {"FifoQueue": "false"})
    # A .fifo name needs FifoQueue=true, and FifoQueue=true a .fifo name.
    with pytest.raises(SqsInvalidParameterValue, match="FifoQueue=true"):
        await service.create_queue("plain.fifo", None, None)
    with pytest.raises(SqsInvalidParameterValue, match="must end with .fifo"):
        await service.create_queue("plain", FIFO, None)
    with pytest.raises(SqsInvalidParameterValue, match="must end with .fifo"):
        await service.create_queue("x" * 76 + ".fifo", FIFO, None)
    with pytest.raises(InvalidAttributeValue):
        await service.create_queue("maybe.fifo", {"FifoQueue": "maybe"}, None)
    # FIFO attributes on a standard queue are unknown there.
    with pytest.raises(InvalidAttributeName):
        await service.create_queue("standard", {"ContentBasedDeduplication": "true"}, None)
    assert (await service.list_queues(None, None, None))[0] == ["jobs.fifo"]


async def test_a_group_is_delivered_in_order_and_blocked_while_in_flight(service, clock):
    await service.create_queue("orders.fifo", {**FIFO, "VisibilityTimeout": "10"}, None)
    done, failed = await service.send_batch("orders.fifo", [
        {"Id": f"a{i}", **send("a", f"a{i}", f"a{i}")} for i in range(3)] + [
        {"Id": "b0", **send("b", "b0", "b0")}], "tester")
    assert failed == []
    numbers = [int(sent.sequence_number) for _, sent in done]
    assert numbers == sorted(numbers) and len(set(numbers)) == 4
    assert all(len(sent.sequence_number) == 20 for _, sent in done)
    # A receive takes each group's first message, then the due ones after them, in order, up to its limit.
    assert [m["Body"] for m in await receive(service, "orders.fifo", MaxNumberOfMessages=2)] == ["a0", "b0"]
    clock.advance(11)
    first = await receive(service, "orders.fifo")
    assert [m["Body"] for m in first] == ["a0", "a1", "a2", "b0"]
    assert first[0]["Attributes"]["MessageGroupId"] == "a"
    assert first[0]["Attributes"]["MessageDeduplicationId"] == "a0"
    assert first[0]["Attributes"]["SequenceNumber"] == done[0][1].sequence_number
    for message in first[1::2]:  # a1 and b0 done; a0 and a2 not deleted (a failed receive)
        await service.delete_message("orders.fifo", message["ReceiptHandle"])
    await service.send("orders.fifo", send("b", "b1", "b1"), "tester")
    [b1] = await receive(service, "orders.fifo")  # group a is in flight; group b goes on
    assert b1["Body"] == "b1"
    assert await receive(service, "orders.fifo") == []
    clock.advance(11)  # a0's visibility timeout ran out: a0 again, then a2, in order
    again = await receive(service, "orders.fifo")
    assert [(m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in again] == [
        ("a0", "3"), ("a2", "2"), ("b1", "2")]


async def test_deduplication_explicit_content_based_and_by_group_survives_a_new_queue_service(service, engine, clock):
    await service.create_queue("dedup.fifo", {**FIFO, "ContentBasedDeduplication": "true"}, None)
    original = await service.send("dedup.fifo", send("g", "hello", "id-1"), "tester")
    duplicate = await service.send("dedup.fifo", send("other", "different body", "id-1"), "tester")
    assert (duplicate.message_id, duplicate.sequence_number) == (original.message_id, original.sequence_number)
    by_content = await service.send("dedup.fifo", send("g", "same body"), "tester")
    clock.advance(200)
    # A new service on the same database (a restart) still knows both ids.
    restarted = new_queue_service(engine, clock)
    assert (await restarted.send("dedup.fifo", send("g", "same body"), "tester")).message_id == by_content.message_id
    done, _ = await restarted.send_batch("dedup.fifo", [{"Id": "one", **send("g", "x", "id-1")},
                                                         {"Id": "two", **send("g", "y", "id-2")},
                                                         {"Id": "three", **send("g", "z", "id-2")}], "tester")
    assert done[0][1].message_id == original.message_id and done[1][1].message_id == done[2][1].message_id
    messages = await receive(restarted, "dedup.fifo")
    assert [m["Body"] for m in messages] == ["hello", "same body", "y"]
    assert messages[1]["Attributes"]["MessageDeduplicationId"] == hashlib.sha256(b"same body").hexdigest()
    clock.advance(101)  # five minutes after the first: the id may be used again
    renewed = await restarted.send("dedup.fifo", send("g", "hello again", "id-1"), "tester")
    assert renewed.message_id != original.message_id
    # Under DeduplicationScope=messageGroup the same id in another group is another message.
    await restarted.create_queue("scoped.fifo", {**FIFO, "DeduplicationScope": "messageGroup"}, None)
    first = await restarted.send("scoped.fifo", send("g1", "a", "same"), "tester")
    second = await restarted.send("scoped.fifo", send("g2", "b", "same"), "tester")
    assert first.message_id != second.message_id
    assert (await restarted.send("scoped.fifo", send("g1", "c", "same"), "tester")).message_id == first.message_id


async def test_bad_fifo_inputs_are_refused_and_store_nothing(service):
    await service.create_queue("strict.fifo", FIFO, None)
    await service.create_queue("standard", None, None)
    kept = await service.send("strict.fifo", send("g", "kept", "k"), "tester")
    with pytest.raises(MissingParameter, match="MessageGroupId"):
        await service.send("strict.fifo", {"MessageBody": "x", "MessageDeduplicationId": "d"}, "tester")
    with pytest.raises(SqsInvalidParameterValue, match="ContentBasedDeduplication"):
        await service.send("strict.fifo", send("g", "x"), "tester")
    with pytest.raises(SqsInvalidParameterValue, match="DelaySeconds"):
        await service.send("strict.fifo", {**send("g", "x", "d"), "DelaySeconds": 5}, "tester")
    with pytest.raises(SqsInvalidParameterValue, match="MessageGroupId"):
        await service.send("strict.fifo", send("g" * 129, "x", "d"), "tester")
    with pytest.raises(SqsInvalidParameterValue, match="MessageDeduplicationId"):
        await service.send("standard", {"MessageBody": "x", "MessageDeduplicationId": "d"}, "tester")
    done, failed = await service.send_batch("strict.fifo", [{"Id": "ok", **send("g", "ok", "ok")},
                                                            {"Id": "nogroup", "MessageBody": "x"}], "tester")
    assert [entry_id for entry_id, _ in done] == ["ok"]
    assert [(f.id, f.code) for f in failed] == [("nogroup", "MissingParameter")]
    # A standard queue takes a MessageGroupId (SQS's fair queues) and answers it, with no order or dedup.
    await service.send("standard", {"MessageBody": "fair", "MessageGroupId": "tenant"}, "tester")
    [fair] = await receive(service, "standard")
    assert fair["Attributes"]["MessageGroupId"] == "tenant" and "SequenceNumber" not in fair["Attributes"]
    # A FIFO queue's dead-letter queue must be FIFO, and a standard queue's standard.
    with pytest.raises(InvalidAttributeValue, match="same type"):
        await service.set_attributes("strict.fifo", {"RedrivePolicy": '{"deadLetterTargetArn": '
                                     '"arn:aws:sqs:eu-west-1:123456789012:standard", "maxReceiveCount": 1}'})
    with pytest.raises(InvalidAttributeValue, match="same type"):
        await service.set_attributes("standard", {"RedrivePolicy": '{"deadLetterTargetArn": '
                                     '"arn:aws:sqs:eu-west-1:123456789012:strict.fifo", "maxReceiveCount": 1}'})
    bodies = [m["Body"] for m in await receive(service, "strict.fifo")]
    assert bodies == ["kept", "ok"] and kept.sequence_number is not None


async def test_redrive_to_a_fifo_dead_letter_queue_keeps_the_group(service, clock):
    await service.create_queue("dead.fifo", FIFO, None)
    policy = '{"deadLetterTargetArn": "arn:aws:sqs:eu-west-1:123456789012:dead.fifo", "maxReceiveCount": 1}'
    await service.create_queue("work.fifo", {**FIFO, "RedrivePolicy": policy, "VisibilityTimeout": "10"}, None)
    await service.send("work.fifo", send("g", "poison", "p"), "tester")
    await service.send("work.fifo", send("g", "next", "n"), "tester")
    [poison] = await receive(service, "work.fifo", MaxNumberOfMessages=1)
    assert poison["Body"] == "poison"
    clock.advance(11)
    [following] = await receive(service, "work.fifo")  # poison moved at this receive; its group goes on
    assert following["Body"] == "next"
    [moved] = await receive(service, "dead.fifo")
    assert (moved["Body"], moved["Attributes"]["MessageGroupId"]) == ("poison", "g")


async def test_concurrent_sends_of_one_deduplication_id_store_one_message(engine, clock):
    # Each send on its own service, as on separate nodes: they race on the deduplication key in the store.
    await new_queue_service(engine, clock).create_queue("race.fifo", FIFO, None)
    sent = await asyncio.gather(*(new_queue_service(engine, clock).send("race.fifo", send("g", f"try {i}", "once"), "t")
                                  for i in range(8)))
    assert len({message.message_id for message in sent}) == 1
    service = new_queue_service(engine, clock)
    [stored] = await receive(service, "race.fifo")
    await service.delete_message("race.fifo", stored["ReceiptHandle"])
    assert stored["MessageId"] == sent[0].message_id and await receive(service, "race.fifo") == []
