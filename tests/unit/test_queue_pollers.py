"""The queue pollers with fakes: how a batch is gathered, and what becomes of its messages after the
function ran (deleted, left for the visibility timeout, handed back), without Docker or a database."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json

from faas.dispatch.concurrency import Limiter
from faas.dispatch.invoker import Result
from faas.errors import QueueDoesNotExist, ResourceNotFound, TooManyRequests
from faas.event_patterns import compile_pattern
from faas.sources.queue_pollers import FUNCTION_FAILED, OK, QUEUE_MISSING, THROTTLED, MappingPoller, \
    QueuePollers, json_patterns
from faas.store.mappings import Mapping

ARN = "arn:aws:sqs:us-east-1:000000000000:q"


def mapping(**changes) -> Mapping:  # type: ignore[no-untyped-def]
    base = Mapping(uuid="u1", function_name="fn", source_arn=ARN, batch_size=10, window_s=0, enabled=True,
                   response_types=(), filters=(), max_concurrency=None, state="Enabled",
                   state_reason="USER_INITIATED", last_result="No records processed", revision=1,
                   last_modified=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    return dataclasses.replace(base, **changes)


def message(n: int, body: str | None = None, group: str | None = None) -> dict:
    attributes = {"SenderId": "AIDA", "SentTimestamp": "1", "ApproximateReceiveCount": "1",
                  "ApproximateFirstReceiveTimestamp": "2"}
    if group:
        attributes["MessageGroupId"] = group
    return {"MessageId": f"m{n}", "ReceiptHandle": f"h{n}", "MD5OfBody": "x", "Body": body or f"body {n}",
            "Attributes": attributes}


class FakeQueues:
    def __init__(self, *receives: list[dict] | Exception) -> None:
        self.receives = list(receives)
        self.polls: list[tuple[int, float]] = []
        self.deleted: list[str] = []
        self.released: list[tuple[str, float]] = []

    async def poll(self, name: str, limit: int, wait_s: float) -> list[dict]:
        self.polls.append((limit, wait_s))
        if not self.receives:
            return []
        received = self.receives.pop(0)
        if isinstance(received, Exception):
            raise received
        return received[:limit]

    async def settle_received(self, name: str, handles: list[str], *, release_s: float | None = None) -> None:
        if release_s is None:
            self.deleted.extend(handles)
        else:
            self.released.extend((handle, release_s) for handle in handles)


class FakeInvoker:
    def __init__(self, answer: bytes = b"null", function_error: str | None = None,
                 raises: Exception | None = None) -> None:
        self.limiter = Limiter(100)
        self.answer, self.function_error, self.raises = answer, function_error, raises
        self.events: list[dict] = []

    async def invoke(self, fn, payload: bytes) -> Result:  # type: ignore[no-untyped-def]
        self.events.append(json.loads(payload))
        if self.raises is not None:
            raise self.raises
        return Result("r", self.answer, self.function_error, "")


class FakeFunctions:
    def __init__(self, missing: bool = False) -> None:
        self.missing = missing

    async def get(self, name: str):  # type: ignore[no-untyped-def]
        if self.missing:
            raise ResourceNotFound(f"Function not found: {name}")
        return object()


class FakeMappings:
    def __init__(self) -> None:
        self.changed = asyncio.Event()
        self.reports: list[str] = []
        self.problem: str | None = None

    async def poll_problem(self, m: Mapping) -> str | None:
        return self.problem

    def queue_of(self, m: Mapping) -> str:
        return m.source_arn.rsplit(":", 1)[1]

    async def report(self, m: Mapping, result: str) -> None:
        self.reports.append(result)


def poller(m: Mapping, queues: FakeQueues, invoker: FakeInvoker | None = None,
           functions: FakeFunctions | None = None) -> tuple[MappingPoller, FakeMappings]:
    mappings = FakeMappings()
    pollers = QueuePollers(mappings, queues, functions or FakeFunctions(), invoker or FakeInvoker(),  # type: ignore[arg-type]
                           region="us-east-1", compile_filters=json_patterns(compile_pattern), grace_s=1)
    return MappingPoller(m, pollers), mappings


async def test_window_zero_takes_what_the_first_receive_got():
    queues = FakeQueues([message(1), message(2)], [message(3)])
    batch = await poller(mapping(batch_size=5), queues)[0]._gather()
    assert [m["MessageId"] for m in batch] == ["m1", "m2"]
    assert queues.polls == [(5, 20.0)]  # a long poll for the first message, and no more


async def test_a_window_gathers_receives_until_the_batch_is_full():
    queues = FakeQueues([message(i) for i in range(10)], [message(i) for i in range(10, 20)],
                        [message(i) for i in range(20, 30)])
    batch = await poller(mapping(batch_size=25, window_s=60), queues)[0]._gather()
    assert len(batch) == 25
    assert [limit for limit, _ in queues.polls] == [25, 15, 5]


async def test_a_window_closes_with_what_it_has():
    queues = FakeQueues([message(1)])
    batch = await poller(mapping(batch_size=100, window_s=1), queues)[0]._gather()
    assert [m["MessageId"] for m in batch] == ["m1"]
    assert len(queues.polls) >= 2 and all(wait <= 1 for _, wait in queues.polls[1:])


async def test_a_batch_stops_at_lambdas_payload_limit_and_hands_the_rest_back():
    big = "x" * (4 * 1024 * 1024)
    queues = FakeQueues([message(1, big), message(2, big), message(3, "small")])
    batch = await poller(mapping(batch_size=10), queues)[0]._gather()
    assert [m["MessageId"] for m in batch] == ["m1", "m3"]
    assert queues.released == [("h2", 0)]  # back at once, without counting the receive


async def test_a_successful_batch_is_deleted_and_reported_ok():
    queues, invoker = FakeQueues(), FakeInvoker()
    p, mappings = poller(mapping(), queues, invoker)
    await p._process([message(1), message(2)])
    assert [r["messageId"] for r in invoker.events[0]["Records"]] == ["m1", "m2"]
    assert invoker.events[0]["Records"][0]["eventSourceARN"] == ARN
    assert queues.deleted == ["h1", "h2"] and mappings.reports == [OK]


async def test_a_function_error_leaves_the_whole_batch_for_the_visibility_timeout():
    queues = FakeQueues()
    p, mappings = poller(mapping(response_types=("ReportBatchItemFailures",)), queues,
                         FakeInvoker(b'{"errorMessage": "boom"}', function_error="Unhandled"))
    await p._process([message(1), message(2)])
    assert queues.deleted == [] and queues.released == [] and mappings.reports == [FUNCTION_FAILED]


async def test_reported_item_failures_stay_and_the_rest_are_deleted():
    queues = FakeQueues()
    p, _ = poller(mapping(response_types=("ReportBatchItemFailures",)), queues,
                  FakeInvoker(b'{"batchItemFailures": [{"itemIdentifier": "m2"}]}'))
    await p._process([message(1), message(2), message(3)])
    assert queues.deleted == ["h1", "h3"]


async def test_item_failures_are_ignored_without_report_batch_item_failures():
    queues = FakeQueues()
    p, _ = poller(mapping(), queues, FakeInvoker(b'{"batchItemFailures": [{"itemIdentifier": "m2"}]}'))
    await p._process([message(1), message(2)])
    assert queues.deleted == ["h1", "h2"]


async def test_a_malformed_answer_fails_the_whole_batch():
    queues = FakeQueues()
    p, _ = poller(mapping(response_types=("ReportBatchItemFailures",)), queues,
                  FakeInvoker(b'{"batchItemFailures": [{"itemIdentifier": "unknown"}]}'))
    await p._process([message(1), message(2)])
    assert queues.deleted == []


async def test_a_fifo_group_keeps_its_messages_after_a_failure():
    queues = FakeQueues()
    fifo = mapping(source_arn=ARN + ".fifo", response_types=("ReportBatchItemFailures",))
    p, _ = poller(fifo, queues, FakeInvoker(b'{"batchItemFailures": [{"itemIdentifier": "m2"}]}'))
    await p._process([message(1, group="a"), message(2, group="a"), message(3, group="b"),
                      message(4, group="a")])
    assert queues.deleted == ["h1", "h3"]


async def test_a_throttled_batch_goes_back_without_counting():
    queues = FakeQueues()
    p, mappings = poller(mapping(), queues, FakeInvoker(raises=TooManyRequests()))
    await p._process([message(1), message(2)])
    assert queues.deleted == [] and [handle for handle, _ in queues.released] == ["h1", "h2"]
    assert mappings.reports == [THROTTLED]


async def test_messages_no_filter_matches_are_deleted_without_an_invocation():
    queues, invoker = FakeQueues(), FakeInvoker()
    p, _ = poller(mapping(filters=('{"body": {"kind": ["order"]}}',)), queues, invoker)
    await p._process([message(1, '{"kind": "refund"}'), message(2, "text")])
    assert invoker.events == [] and queues.deleted == ["h1", "h2"]
    await p._process([message(3, '{"kind": "order"}'), message(4, "text")])
    assert [r["messageId"] for r in invoker.events[0]["Records"]] == ["m3"]
    assert queues.deleted == ["h1", "h2", "h4", "h3"]


async def test_a_missing_function_leaves_the_batch_and_says_so():
    queues = FakeQueues()
    p, mappings = poller(mapping(), queues, functions=FakeFunctions(missing=True))
    await p._process([message(1)])
    assert queues.deleted == [] and mappings.reports == ["PROBLEM: Function not found"]


async def test_a_deleted_queue_is_reported_and_the_poller_carries_on():
    queues = FakeQueues(QueueDoesNotExist())
    p, mappings = poller(mapping(), queues)
    p.start()
    try:
        while not mappings.reports:
            await asyncio.sleep(0.01)
        assert mappings.reports == [QUEUE_MISSING] and p.tasks
    finally:
        p.retire()
        for task in list(p.tasks):
            task.cancel()


async def test_a_poller_receives_nothing_while_its_mapping_has_a_problem():
    queues = FakeQueues([message(1)])
    p, mappings = poller(mapping(), queues)
    mappings.problem = "PROBLEM: The function's execution role does not allow sqs:ReceiveMessage on the queue"
    p.start()
    try:
        while not mappings.reports:
            await asyncio.sleep(0.01)
        assert mappings.reports == [mappings.problem] and queues.polls == []
    finally:
        p.retire()
        for task in list(p.tasks):
            task.cancel()


async def test_a_long_poll_that_finds_nothing_ends_the_gathering():
    queues = FakeQueues([])
    assert await poller(mapping(batch_size=100, window_s=5), queues)[0]._gather() == []
    assert queues.polls == [(100, 20.0)]
