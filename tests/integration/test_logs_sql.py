"""CloudWatch Logs over the invocation records in real SQLite and PostgreSQL: groups made with a function's first
records, streams, events in order with paging tokens both ways, filter patterns, and retention per group pruned
by the Pruner `faas serve` runs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from faas.errors import LogsInvalidParameter, LogsResourceNotFound
from faas.model import InvocationRecord
from faas.services.logs import LogService
from faas.services.retention import Pruner
from faas.store.invocations import InvocationStore
from faas.store.logs import LogStore

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.timezone.utc)
STREAM_A = "2026/11/30/[$LATEST]aaaa"
STREAM_B = "2026/11/30/[$LATEST]bbbb"


def record(n: int, stream: str | None, function: str = "orders", age: dt.timedelta = dt.timedelta(0),
           lines: tuple[str, ...] = ()) -> InvocationRecord:
    rid = f"req-{n:04d}"
    body = "".join(f"{line}\n" for line in lines)
    return InvocationRecord(
        request_id=rid, function_name=function, started_at=NOW - age + dt.timedelta(seconds=n, microseconds=7),
        duration_ms=12.5, billed_duration_ms=100, memory_size=128, max_memory_used_mb=40, init_duration_ms=None,
        cold=False, outcome="success", error_type=None,
        log=f"START RequestId: {rid} Version: $LATEST\n{body}END RequestId: {rid}\nREPORT RequestId: {rid}\n",
        log_stream=stream)


@pytest.fixture
async def logs(engine) -> LogService:  # type: ignore[no-untyped-def]
    records = [record(n, STREAM_A if n % 2 else STREAM_B, lines=(f"line {n}", json.dumps({"n": n})))
               for n in range(10)]
    records.append(record(50, None, lines=("from before streams",)))
    records.append(record(60, "2026/11/30/[$LATEST]cccc", function="other"))
    await InvocationStore(engine).add_many(records)
    return LogService(LogStore(engine), region="us-east-1", account_id="000000000000")


async def test_groups_are_made_with_the_first_records_and_listed_in_pages(logs: LogService) -> None:
    groups, token = await logs.describe_groups(None, None, None, None)
    assert [g["logGroupName"] for g in groups] == ["/aws/lambda/orders", "/aws/lambda/other"] and token is None
    assert groups[0]["arn"] == "arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/orders:*"
    assert "retentionInDays" not in groups[0]
    first, token = await logs.describe_groups(None, None, 1, None)
    second, last = await logs.describe_groups(None, None, 1, token)
    assert [g["logGroupName"] for g in first + second] == ["/aws/lambda/orders", "/aws/lambda/other"]
    assert last is None
    assert [g["logGroupName"] for g in (await logs.describe_groups("/aws/lambda/ot", None, None, None))[0]] \
        == ["/aws/lambda/other"]
    assert [g["logGroupName"] for g in (await logs.describe_groups(None, "der", None, None))[0]] \
        == ["/aws/lambda/orders"]


async def test_streams_are_the_environments_the_records_name(logs: LogService) -> None:
    streams, token = await logs.describe_streams("/aws/lambda/orders", {})
    assert [s["logStreamName"] for s in streams] == [STREAM_A, STREAM_B] and token is None
    by_time, _ = await logs.describe_streams("/aws/lambda/orders", {"orderBy": "LastEventTime",
                                                                     "descending": True})
    assert [s["logStreamName"] for s in by_time] == [STREAM_A, STREAM_B]  # record 9 is A's
    first, token = await logs.describe_streams("/aws/lambda/orders", {"limit": 1})
    second, end = await logs.describe_streams("/aws/lambda/orders", {"limit": 1, "nextToken": token})
    assert [s["logStreamName"] for s in first + second] == [STREAM_A, STREAM_B] and end is None
    first_end = NOW + dt.timedelta(seconds=1, milliseconds=12.5)  # events are at their invocation's end
    assert streams[0]["firstEventTimestamp"] == int(first_end.timestamp() * 1000)
    with pytest.raises(LogsResourceNotFound):
        await logs.describe_streams("/aws/lambda/nothing", {})
    with pytest.raises(LogsInvalidParameter):
        await logs.describe_streams("/aws/lambda/orders", {"orderBy": "LastEventTime", "logStreamNamePrefix": "2"})


async def test_filter_events_pages_in_order_with_patterns(logs: LogService) -> None:
    everything = (await logs.filter_events("/aws/lambda/orders", {}))["events"]
    assert len(everything) == 10 * 5 and "nextToken" not in (await logs.filter_events("/aws/lambda/orders", {}))
    assert everything[0]["message"] == "START RequestId: req-0000 Version: $LATEST\n"
    assert [e["timestamp"] for e in everything] == sorted(e["timestamp"] for e in everything)
    paged, token = [], None
    while True:
        page = await logs.filter_events("/aws/lambda/orders", {"limit": 7, **({"nextToken": token} if token else {})})
        paged += page["events"]
        token = page.get("nextToken")
        if token is None:
            break
    assert paged == everything
    assert len({e["eventId"] for e in everything}) == len(everything)
    lines = await logs.filter_events("/aws/lambda/orders", {"filterPattern": '?"line 3" ?"line 4"'})
    assert [e["message"] for e in lines["events"]] == ["line 3\n", "line 4\n"]
    json_events = await logs.filter_events("/aws/lambda/orders", {"filterPattern": "{ $.n >= 8 }",
                                                                 "logStreamNames": [STREAM_B]})
    assert [(e["message"], e["logStreamName"]) for e in json_events["events"]] == [('{"n": 8}\n', STREAM_B)]
    start = int((NOW + dt.timedelta(seconds=8)).timestamp() * 1000)
    late = await logs.filter_events("/aws/lambda/orders", {"startTime": start, "filterPattern": "REPORT"})
    assert [e["message"] for e in late["events"]] == ["REPORT RequestId: req-0008\n", "REPORT RequestId: req-0009\n"]
    with pytest.raises(LogsInvalidParameter, match="Invalid filter pattern"):
        await logs.filter_events("/aws/lambda/orders", {"filterPattern": '{ $.n = '})
    with pytest.raises(LogsInvalidParameter, match="nextToken"):
        await logs.filter_events("/aws/lambda/orders", {"nextToken": "not-a-token"})
    with pytest.raises(LogsResourceNotFound):
        await logs.filter_events("/aws/lambda/nothing", {})


async def test_get_events_walks_a_stream_both_ways_and_returns_the_same_token_at_its_ends(logs: LogService) -> None:
    newest = await logs.get_events("/aws/lambda/orders", {"logStreamName": STREAM_A, "limit": 3})
    assert [e["message"] for e in newest["events"]] == ["{\"n\": 9}\n", "END RequestId: req-0009\n",
                                                        "REPORT RequestId: req-0009\n"]
    earlier = await logs.get_events("/aws/lambda/orders", {"logStreamName": STREAM_A, "limit": 3,
                                                           "nextToken": newest["nextBackwardToken"]})
    assert [e["message"] for e in earlier["events"]] == ["REPORT RequestId: req-0007\n",
                                                         "START RequestId: req-0009 Version: $LATEST\n",
                                                         "line 9\n"]
    ahead = await logs.get_events("/aws/lambda/orders", {"logStreamName": STREAM_A,
                                                         "nextToken": newest["nextForwardToken"]})
    assert ahead["events"] == [] and ahead["nextForwardToken"] == newest["nextForwardToken"]
    forward, token = [], None
    while True:
        page = await logs.get_events("/aws/lambda/orders", {"logStreamName": STREAM_A, "startFromHead": True,
                                                            "limit": 4, **({"nextToken": token} if token else {})})
        forward += [e["message"] for e in page["events"]]
        if page["nextForwardToken"] == token:
            break
        token = page["nextForwardToken"]
    assert len(forward) == 5 * 5 and forward[0] == "START RequestId: req-0001 Version: $LATEST\n"
    with pytest.raises(LogsResourceNotFound, match="log stream"):
        await logs.get_events("/aws/lambda/orders", {"logStreamName": "2026/11/30/[$LATEST]none"})


async def test_console_events_are_the_newest_from_a_time_on(logs: LogService) -> None:
    since = int((NOW + dt.timedelta(seconds=5)).timestamp() * 1000)
    events = await logs.events("orders", since, "line", 3)
    assert [e["message"] for e in events] == ["line 7\n", "line 8\n", "line 9\n"]
    assert events[0]["logStreamName"] == STREAM_A


async def test_retention_per_group_is_pruned_by_the_pruner(engine) -> None:  # type: ignore[no-untyped-def]
    store = InvocationStore(engine)
    old = [record(n, STREAM_A, age=dt.timedelta(days=8)) for n in range(5)]
    kept = [record(n, STREAM_A, function="other", age=dt.timedelta(days=8)) for n in range(5, 7)]
    await store.add_many(old + kept + [record(9, STREAM_A)])
    logs = LogService(LogStore(engine), region="us-east-1", account_id="000000000000")
    for bad in (2, 7.0, "7", True, None):
        with pytest.raises(LogsInvalidParameter, match="retentionInDays"):
            await logs.put_retention("/aws/lambda/orders", bad)
    with pytest.raises(LogsResourceNotFound):
        await logs.put_retention("/aws/lambda/nothing", 7)
    await logs.put_retention("/aws/lambda/orders", 7)
    groups, _ = await logs.describe_groups(None, None, None, None)
    assert [g.get("retentionInDays") for g in groups] == [7, None]
    deleted = await Pruner([], batch=2, log_groups=logs).prune(NOW)
    assert deleted == {"log group records": 5}
    left = (await logs.filter_events("/aws/lambda/orders", {"filterPattern": "START"}))["events"]
    assert [e["message"] for e in left] == ["START RequestId: req-0009 Version: $LATEST\n"]
    assert len((await logs.filter_events("/aws/lambda/other", {"filterPattern": "START"}))["events"]) == 2
    await logs.delete_retention("/aws/lambda/orders")
    assert "retentionInDays" not in (await logs.describe_groups("/aws/lambda/orders", None, None, None))[0][0]


@pytest.mark.parametrize(("call", "says"), [
    (lambda logs: logs.describe_groups("/aws", "lambda", None, None), "mutually exclusive"),
    (lambda logs: logs.describe_groups(7, None, None, None), "logGroupNamePrefix must be a string"),
    (lambda logs: logs.describe_groups(None, None, 51, None), "between 1 and 50"),
    (lambda logs: logs.describe_groups(None, None, None, "bm90IGpzb24"), "nextToken"),
    (lambda logs: logs.describe_streams("/aws/lambda/orders", {"orderBy": "Size"}), "orderBy"),
    (lambda logs: logs.filter_events("/aws/lambda/orders", {"limit": 0}), "between 1 and 10000"),
    (lambda logs: logs.filter_events("/aws/lambda/orders", {"startTime": "yesterday"}), "startTime"),
    (lambda logs: logs.filter_events("/aws/lambda/orders", {"logStreamNames": []}), "logStreamNames"),
    (lambda logs: logs.filter_events("/aws/lambda/orders", {"logStreamNames": ["a"], "logStreamNamePrefix": "a"}),
     "mutually exclusive"),
    (lambda logs: logs.filter_events("/aws/lambda/orders", {"filterPattern": 5}), "filterPattern"),
    (lambda logs: logs.get_events("/aws/lambda/orders", {"logStreamName": STREAM_A, "nextToken": "x/abc"}),
     "nextToken"),
    (lambda logs: logs.get_events("/aws/lambda/orders", {}), "logStreamName"),
])
async def test_bad_parameters_are_refused_in_the_logs_words(logs: LogService, call, says: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(LogsInvalidParameter, match=says):
        await call(logs)


def test_a_group_is_named_by_its_name_or_arn() -> None:
    logs = LogService(LogStore(None), region="us-east-1", account_id="000000000000")  # type: ignore[arg-type]
    arn = "arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/orders"
    assert logs.group_of({"logGroupIdentifier": arn}) == logs.group_of({"logGroupIdentifier": arn + ":*"}) \
        == logs.group_of({"logGroupName": "/aws/lambda/orders"}) == "/aws/lambda/orders"
    with pytest.raises(LogsResourceNotFound):
        logs.group_of({"logGroupIdentifier": "arn:aws:logs:eu-west-1:000000000000:log-group:/aws/lambda/orders"})
    with pytest.raises(LogsInvalidParameter, match="mutually exclusive"):
        logs.group_of({"logGroupIdentifier": arn, "logGroupName": "/aws/lambda/orders"})
    with pytest.raises(LogsInvalidParameter, match="logGroupName"):
        logs.group_of({})


async def test_a_live_tail_sends_what_arrives_after_it_starts_and_ends_at_shutdown(engine, logs) -> None:  # type: ignore[no-untyped-def]
    tail = await logs.live_tail({"logGroupIdentifiers": ["/aws/lambda/orders"], "logEventFilterPattern": "line"},
                                "request-1")
    assert tail.start["logGroupIdentifiers"] == ["/aws/lambda/orders"] and tail.start["sessionId"] == "request-1"
    await InvocationStore(engine).add_many([record(70, STREAM_A, lines=("line 70",))])
    updates = logs.live_updates(tail)
    update = await anext(updates)
    assert [(r["message"], r["logStreamName"], r["logGroupIdentifier"]) for r in update] \
        == [("line 70\n", STREAM_A, "/aws/lambda/orders")]
    logs.drain()
    with pytest.raises(StopAsyncIteration):
        await anext(updates)
    assert not tail.timed_out


@pytest.mark.parametrize(("params", "error", "says"), [
    ({}, LogsInvalidParameter, "logGroupIdentifiers"),
    ({"logGroupIdentifiers": ["/aws/lambda/orders"] * 11}, LogsInvalidParameter, "1 to 10"),
    ({"logGroupIdentifiers": ["/aws/lambda/orders", "/aws/lambda/other"], "logStreamNames": [STREAM_A]},
     LogsInvalidParameter, "exactly one log group"),
    ({"logGroupIdentifiers": ["/aws/lambda/orders"], "logStreamNames": [STREAM_A],
      "logStreamNamePrefixes": ["2026"]}, LogsInvalidParameter, "mutually exclusive"),
    ({"logGroupIdentifiers": ["/aws/lambda/orders"], "logEventFilterPattern": "[a, b]"}, LogsInvalidParameter,
     "Space-delimited"),
    ({"logGroupIdentifiers": ["/aws/lambda/nothing"]}, LogsResourceNotFound, "log group"),
])
async def test_bad_live_tails_are_refused_before_they_start(logs, params, error, says) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=says):
        await logs.live_tail(params, "request-1")


async def test_events_are_at_their_invocations_end_so_a_follower_misses_no_long_invocation(engine) -> None:  # type: ignore[no-untyped-def]
    """A long invocation that started before a short one is written after it: a follower that goes on from the
    newest timestamp it saw (aws logs tail --follow) still gets it."""
    store = InvocationStore(engine)
    logs = LogService(LogStore(engine), region="us-east-1", account_id="000000000000")
    short = dataclasses.replace(record(2, STREAM_B, function="mixed"), duration_ms=50.0)
    await store.add_many([short])
    seen = (await logs.filter_events("/aws/lambda/mixed", {"filterPattern": "REPORT"}))["events"]
    newest = max(e["timestamp"] for e in seen)
    long = dataclasses.replace(record(1, STREAM_A, function="mixed"), duration_ms=3000.0)  # started a second before
    await store.add_many([long])
    later = await logs.filter_events("/aws/lambda/mixed", {"filterPattern": "REPORT", "startTime": newest})
    assert [e["message"] for e in later["events"]] == ["REPORT RequestId: req-0002\n", "REPORT RequestId: req-0001\n"]
    assert later["events"][1]["timestamp"] == int(long.ended_at.timestamp() * 1000)
