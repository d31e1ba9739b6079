"""faas.metrics and faas top's arithmetic: what the invoke path counts shows in the exposition, the gauges
come from the node's state at the scrape, a deleted function's series go, the endpoint switched off, and
the table's rates and p99."""

from __future__ import annotations

import types

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from prometheus_client.parser import text_string_to_metric_families

from faas.api.context import SERVICES
from faas.api.metrics import metrics as metrics_route
from faas.cli.top import Row, parse, quantile, rows
from faas.errors import ResourceNotFound
from faas.metrics import EventSourceLag, Metrics, NodeState

IDLE = NodeState(in_flight={}, environments=[], async_events=0, async_oldest_s=0.0, lags=[])


def values(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text.decode()) for s in family.samples}


def test_invocations_errors_timeouts_and_cold_starts_are_counted_per_function():
    metrics = Metrics()
    metrics.invoked("a", "success", 12.0, 80.0, cold=True)
    metrics.invoked("a", "error", 3.0, None, cold=False)
    metrics.invoked("a", "timeout", 3000.0, None, cold=False)
    metrics.invoked("b", "success", 1.0, None, cold=False)
    found = values(metrics.exposition(IDLE))
    assert found[("faas_invocations_total", (("faas_name", "a"), ("outcome", "success")))] == 1
    assert found[("faas_invocations_total", (("faas_name", "a"), ("outcome", "error")))] == 1
    assert found[("faas_invocations_total", (("faas_name", "a"), ("outcome", "timeout")))] == 1
    assert found[("faas_errors_total", (("faas_name", "a"),))] == 2  # a timeout is an error too, as in Lambda
    assert found[("faas_timeouts_total", (("faas_name", "a"),))] == 1
    assert found[("faas_coldstarts_total", (("faas_name", "a"),))] == 1
    assert found[("faas_coldstarts_total", (("faas_name", "b"),))] == 0  # its series exist from its first call
    assert found[("faas_invoke_duration_seconds_count", (("faas_name", "a"),))] == 3
    assert found[("faas_invoke_duration_seconds_sum", (("faas_name", "a"),))] == 3.015
    assert found[("faas_init_duration_seconds_sum", (("faas_name", "a"),))] == 0.08


def test_throttles_and_api_requests_by_their_labels():
    metrics = Metrics()
    metrics.throttled("a", "ReservedFunctionConcurrentInvocationLimitExceeded")
    metrics.api_request("lambda:InvokeFunction", 200)
    metrics.api_request("lambda:InvokeFunction", 200)
    metrics.api_request("lambda:InvokeFunction", 429)
    found = values(metrics.exposition(IDLE))
    assert found[("faas_throttles_total", (("faas_name", "a"),
                                           ("reason", "ReservedFunctionConcurrentInvocationLimitExceeded")))] == 1
    assert found[("faas_api_requests_total", (("operation", "lambda:InvokeFunction"), ("status", "200")))] == 2
    assert found[("faas_api_requests_total", (("operation", "lambda:InvokeFunction"), ("status", "429")))] == 1


def test_gauges_are_what_the_node_holds_at_each_scrape():
    metrics = Metrics()
    state = NodeState(in_flight={"a": 3},
                      environments=[{"State": "busy", "Runtime": "python3.13"}, {"State": "busy", "Runtime": "python3.13"},
                                    {"State": "prewarmed", "Runtime": "nodejs20.x"}],
                      async_events=7, async_oldest_s=42.5,
                      lags=[EventSourceLag("u-1", "a", "arn:aws:sqs:us-east-1:000000000000:q", 5, 9.0)])
    found = values(metrics.exposition(state))
    assert found[("faas_concurrent_executions", (("faas_name", "a"),))] == 3
    assert found[("faas_environments", (("runtime", "python3.13"), ("state", "busy")))] == 2
    assert found[("faas_environments", (("runtime", "nodejs20.x"), ("state", "prewarmed")))] == 1
    assert found[("faas_async_events", ())] == 7
    assert found[("faas_async_event_age_seconds", ())] == 42.5
    source = (("event_source", "arn:aws:sqs:us-east-1:000000000000:q"), ("faas_name", "a"), ("uuid", "u-1"))
    assert found[("faas_event_source_backlog", source)] == 5
    assert found[("faas_event_source_lag_seconds", source)] == 9.0
    # The next scrape shows what is there then: nothing is left over from the one before.
    found = values(metrics.exposition(IDLE))
    assert ("faas_concurrent_executions", (("faas_name", "a"),)) not in found
    assert not [key for key in found if key[0] in ("faas_environments", "faas_event_source_backlog")]


def test_a_deleted_functions_series_are_forgotten():
    metrics = Metrics()
    metrics.invoked("gone", "timeout", 3000.0, 50.0, cold=True)
    metrics.throttled("gone", "ConcurrentInvocationLimitExceeded")
    metrics.invoked("kept", "success", 1.0, None, cold=False)
    metrics.forget_function("gone")
    found = values(metrics.exposition(IDLE))
    assert not [key for key in found if ("faas_name", "gone") in key[1]]
    assert ("faas_invocations_total", (("faas_name", "kept"), ("outcome", "success"))) in found


def test_quantile_interpolates_within_the_bucket_as_prometheus_does():
    buckets = {0.01: 50.0, 0.1: 90.0, 1.0: 100.0, float("inf"): 100.0}
    assert quantile(0.5, buckets) == 0.01
    assert abs(quantile(0.99, buckets) - (0.1 + 0.9 * 9 / 10)) < 1e-12
    assert quantile(0.99, {0.5: 0.0, float("inf"): 0.0}) is None
    assert quantile(0.99, {0.5: 1.0, float("inf"): 10.0}) == 0.5  # past the largest finite bound


def test_top_rates_come_from_two_scrapes():
    metrics = Metrics()
    metrics.invoked("a", "success", 5.0, None, cold=False)
    metrics.invoked("idle", "success", 1.0, None, cold=False)  # before the first scrape only: left out below
    before = parse(metrics.exposition(IDLE).decode(), at=100.0)
    for _ in range(9):
        metrics.invoked("a", "success", 40.0, None, cold=False)
    metrics.invoked("a", "error", 40.0, None, cold=False)
    metrics.throttled("a", "ConcurrentInvocationLimitExceeded")
    busy = NodeState(in_flight={"a": 2}, environments=[], async_events=0, async_oldest_s=0.0, lags=[])
    after = parse(metrics.exposition(busy).decode(), at=102.0)
    found = rows(before, after)
    assert [row.function for row in found] == ["a"]
    a = found[0]
    assert (a.per_second, a.errors_per_second, a.throttles_per_second, a.concurrency) == (5.0, 0.5, 0.5, 2)
    assert 25.0 < a.p99_ms <= 50.0  # the ten in the window ran 40 ms (the 25-50 ms bucket); the 5 ms one came before
    assert rows(after, after) == [Row("a", 0.0, 0.0, 0.0, None, 2)]  # still running, nothing finished


async def test_metrics_switched_off_answer_404_naming_the_setting():
    app = web.Application()
    app[SERVICES] = types.SimpleNamespace(metrics=None)  # type: ignore[misc]  # what the handler reads
    with pytest.raises(ResourceNotFound, match="FAAS_METRICS_ENABLED=false"):
        await metrics_route(make_mocked_request("GET", "/metrics", app=app))
