"""The queue pollers on a real queue service over SQLite and PostgreSQL (with a fake invoker): what a batch
leaves in the queue after success, failure, a throttle and a FIFO group's failure."""

from __future__ import annotations

from faas.errors import TooManyRequests
from faas.services.queues import QueueService
from tests.integration.conftest import Clock
from tests.unit.test_queue_pollers import FakeInvoker, mapping, poller

ARN = "arn:aws:sqs:eu-west-1:123456789012:"


async def queue_with(service: QueueService, name: str, bodies: list[str], group: str | None = None) -> None:
    attributes = {"VisibilityTimeout": "30"}
    if name.endswith(".fifo"):
        attributes |= {"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    await service.create_queue(name, attributes, None)
    for body in bodies:
        await service.send(name, {"MessageBody": body, "MessageGroupId": group}, "tester")


async def counts(service: QueueService, name: str) -> tuple[str, str]:
    answer = await service.get_attributes(name, ["ApproximateNumberOfMessages",
                                                 "ApproximateNumberOfMessagesNotVisible"])
    return answer["ApproximateNumberOfMessages"], answer["ApproximateNumberOfMessagesNotVisible"]


async def test_a_successful_batch_is_deleted_from_the_queue(service: QueueService):
    await queue_with(service, "ok", ["a", "b", "c"])
    p, _ = poller(mapping(source_arn=ARN + "ok"), service)  # type: ignore[arg-type]
    batch = await p._gather()
    assert [m["Body"] for m in batch] == ["a", "b", "c"]
    assert await counts(service, "ok") == ("0", "3")
    await p._process(batch)
    assert await counts(service, "ok") == ("0", "0")


async def test_failures_stay_leased_and_come_back_counted(service: QueueService, clock: Clock):
    await queue_with(service, "failing", ["a", "b"])
    invoker = FakeInvoker(b'{"batchItemFailures": [{"itemIdentifier": "%s"}]}')
    p, _ = poller(mapping(source_arn=ARN + "failing", response_types=("ReportBatchItemFailures",)), service,
                  invoker)  # type: ignore[arg-type]
    batch = await p._gather()
    failing = next(m for m in batch if m["Body"] == "b")
    invoker.answer = invoker.answer % failing["MessageId"].encode()
    await p._process(batch)
    assert await counts(service, "failing") == ("0", "1")  # b waits out its visibility timeout
    clock.advance(31)
    [again] = await p._gather()
    assert (again["Body"], again["Attributes"]["ApproximateReceiveCount"]) == ("b", "2")


async def test_a_throttled_batch_is_back_at_once_without_a_receive_counted(service: QueueService, clock: Clock):
    await queue_with(service, "busy", ["a"])
    p, _ = poller(mapping(source_arn=ARN + "busy"), service, FakeInvoker(raises=TooManyRequests()))  # type: ignore[arg-type]
    await p._process(await p._gather())
    clock.advance(1)
    [again] = await p._gather()
    assert again["Attributes"]["ApproximateReceiveCount"] == "1"


async def test_a_fifo_group_resumes_in_order_after_a_failure(service: QueueService, clock: Clock):
    await queue_with(service, "jobs.fifo", ["1", "2", "3", "4"], group="g")
    invoker = FakeInvoker()
    p, _ = poller(mapping(source_arn=ARN + "jobs.fifo", response_types=("ReportBatchItemFailures",)), service,
                  invoker)  # type: ignore[arg-type]
    batch = await p._gather()
    assert [m["Body"] for m in batch] == ["1", "2", "3", "4"]
    invoker.answer = b'{"batchItemFailures": [{"itemIdentifier": "%s"}]}' % batch[1]["MessageId"].encode()
    await p._process(batch)
    assert await service.poll("jobs.fifo", 10, 0) == []  # nothing of the group while 2, 3 and 4 are out
    clock.advance(31)
    again = await p._gather()
    assert [m["Body"] for m in again] == ["2", "3", "4"]
