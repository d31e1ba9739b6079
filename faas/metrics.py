"""The platform's Prometheus metrics: one registry of its own (never prometheus_client's global one), the
instruments the invoke path and the API bump as they go, and the gauges read from the node at each scrape.

Names follow the OpenTelemetry FaaS semantic conventions where they have one (faas.invocations,
faas.errors, faas.timeouts, faas.coldstarts, faas.invoke_duration, faas.init_duration), written the way
OpenTelemetry's Prometheus exporter writes them: dots as underscores, the unit as a suffix (`_seconds`),
`_total` on counters. The function is the `faas_name` label (OpenTelemetry's faas.name). The others have
no convention and are named after what they count, in the same `faas_` namespace.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

# Lambda's durations run from a millisecond to 15 minutes; init rarely beats 50 ms, nor passes 10 s.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                    300.0, 900.0)
INIT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
OUTCOMES = ("success", "error", "timeout")  # InvocationRecord.outcome
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # the text format generate_latest writes


@dataclasses.dataclass(frozen=True)
class EventSourceLag:
    """How far one event source mapping is behind its source, as a scrape finds it."""

    uuid: str
    function_name: str
    source_arn: str
    waiting: int  # messages that may be received now
    oldest_s: float  # how long the oldest of them has waited


@dataclasses.dataclass(frozen=True)
class NodeState:
    """What the node holds at the moment of a scrape (gauges, read rather than counted)."""

    in_flight: Mapping[str, int]  # function -> invocations running now
    environments: Iterable[Mapping[str, object]]  # the rows of GET /faas/v1/environments
    async_events: int  # asynchronous invocations queued, retries waiting and those running included
    async_oldest_s: float  # age of the oldest of them, since it was first queued; 0 when none is
    lags: Iterable[EventSourceLag]


@dataclasses.dataclass(frozen=True)
class _FunctionSeries:
    """One function's children of the per-invocation metrics, looked up once rather than by label each time
    (prometheus_client's labels() validates and locks on every call)."""

    invocations: Mapping[str, Counter]  # by outcome
    errors: Counter
    timeouts: Counter
    coldstarts: Counter
    duration: Histogram
    init_duration: Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        by_function = ["faas_name"]
        self._invocations = Counter("faas_invocations", "Invocations that ran, by function and outcome "
                                    "(success, error, timeout); throttled ones did not run",
                                    ["faas_name", "outcome"], registry=r)
        self._errors = Counter("faas_errors", "Invocations that failed: function errors, crashes and timeouts",
                               by_function, registry=r)
        self._timeouts = Counter("faas_timeouts", "Invocations stopped at their timeout", by_function, registry=r)
        self._coldstarts = Counter("faas_coldstarts", "Invocations that started an execution environment",
                                   by_function, registry=r)
        self._duration = Histogram("faas_invoke_duration_seconds", "How long the function ran for each invocation",
                                   by_function, buckets=DURATION_BUCKETS, registry=r)
        self._init_duration = Histogram("faas_init_duration_seconds", "Init phase of cold starts (the handler's "
                                        "import and the runtime's start)", by_function, buckets=INIT_BUCKETS,
                                        registry=r)
        self._throttles = Counter("faas_throttles", "Invocations refused with 429 before they ran, by reason",
                                  ["faas_name", "reason"], registry=r)
        self._throttle_reasons: set[str] = set()
        self._functions: dict[str, _FunctionSeries] = {}
        self._request_series: dict[tuple[str, int], Counter] = {}
        self._api_requests = Counter("faas_api_requests", "Requests to the API by operation (its IAM action) and "
                                     "HTTP status", ["operation", "status"], registry=r)
        self._concurrent = Gauge("faas_concurrent_executions", "Invocations running now", by_function, registry=r)
        self._environments = Gauge("faas_environments", "Execution environments of this node by state "
                                   "(prewarmed, starting, idle, busy) and runtime", ["state", "runtime"], registry=r)
        self._async_events = Gauge("faas_async_events", "Asynchronous invocations queued (waiting, retrying "
                                   "or running)", registry=r)
        self._async_age = Gauge("faas_async_event_age_seconds", "Age of the oldest queued asynchronous "
                                "invocation, since it was first queued", registry=r)
        self._lag_messages = Gauge("faas_event_source_backlog", "Messages waiting in an event source "
                                   "mapping's source", ["uuid", "faas_name", "event_source"], registry=r)
        self._lag_age = Gauge("faas_event_source_lag_seconds", "How long the oldest message waiting in an "
                              "event source mapping's source has waited", ["uuid", "faas_name", "event_source"],
                              registry=r)

    # -- counted as things happen -----------------------------------------------------------------

    def invoked(self, function_name: str, outcome: str, duration_ms: float, init_duration_ms: float | None,
                cold: bool) -> None:
        """One invocation that ran: the invoke path's only call (a dictionary lookup and a few additions)."""
        series = self._functions.get(function_name) or self._series(function_name)
        series.invocations[outcome].inc()
        series.duration.observe(duration_ms / 1000)
        if outcome != "success":
            series.errors.inc()
            if outcome == "timeout":
                series.timeouts.inc()
        if cold:
            series.coldstarts.inc()
            if init_duration_ms is not None:
                series.init_duration.observe(init_duration_ms / 1000)

    def _series(self, function_name: str) -> _FunctionSeries:
        """A function's series, made (at 0, as Prometheus advises for series that will appear) on its first
        invocation."""
        series = self._functions[function_name] = _FunctionSeries(
            invocations={outcome: self._invocations.labels(function_name, outcome) for outcome in OUTCOMES},
            errors=self._errors.labels(function_name), timeouts=self._timeouts.labels(function_name),
            coldstarts=self._coldstarts.labels(function_name), duration=self._duration.labels(function_name),
            init_duration=self._init_duration.labels(function_name))
        return series

    def throttled(self, function_name: str, reason: str) -> None:
        self._throttle_reasons.add(reason)  # a handful of reasons, remembered to forget a function's series
        self._throttles.labels(function_name, reason).inc()

    def api_request(self, operation: str, status: int) -> None:
        counter = self._request_series.get((operation, status))
        if counter is None:  # operations are the declared ones and statuses few: this stays small
            counter = self._request_series[(operation, status)] = self._api_requests.labels(operation, str(status))
        counter.inc()

    def forget_function(self, function_name: str) -> None:
        """Drop a deleted function's series, so a node that churns through functions does not grow forever."""
        self._functions.pop(function_name, None)
        for outcome in OUTCOMES:
            with contextlib.suppress(KeyError):
                self._invocations.remove(function_name, outcome)
        for metric in (self._errors, self._timeouts, self._coldstarts, self._duration, self._init_duration):
            with contextlib.suppress(KeyError):
                metric.remove(function_name)
        for reason in self._throttle_reasons:
            with contextlib.suppress(KeyError):
                self._throttles.remove(function_name, reason)

    # -- the scrape -----------------------------------------------------------------------------------

    def exposition(self, state: NodeState) -> bytes:
        """The text format, with the gauges set from `state` first. No await between the two: a concurrent
        scrape cannot see half-set gauges."""
        self._concurrent.clear()
        for name, count in state.in_flight.items():
            self._concurrent.labels(name).set(count)
        self._environments.clear()
        counts: dict[tuple[str, str], int] = {}
        for row in state.environments:
            key = (str(row["State"]), str(row["Runtime"]))
            counts[key] = counts.get(key, 0) + 1
        for (env_state, runtime), count in counts.items():
            self._environments.labels(env_state, runtime).set(count)
        self._async_events.set(state.async_events)
        self._async_age.set(state.async_oldest_s)
        self._lag_messages.clear()
        self._lag_age.clear()
        for lag in state.lags:
            self._lag_messages.labels(lag.uuid, lag.function_name, lag.source_arn).set(lag.waiting)
            self._lag_age.labels(lag.uuid, lag.function_name, lag.source_arn).set(lag.oldest_s)
        return generate_latest(self.registry)
