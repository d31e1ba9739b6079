"""A scrape of GET /metrics: the counters as the invoke path and the API left them, and the gauges read
from this node (invocations in flight, environments) and from the store (the async queue, the sources of
event source mappings) at the moment of the scrape, so nothing on the invoke path keeps them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from faas.metrics import EventSourceLag, Metrics, NodeState
from faas.model import utcnow
from faas.services.mappings import MappingService
from faas.store.queues import message_kind
from faas.store.work import WorkStore


class MetricsService:
    def __init__(self, metrics: Metrics, *, in_flight: Callable[[], Mapping[str, int]],
                 environments: Callable[[], list[dict[str, object]]],
                 async_backlog: Callable[[], Awaitable[tuple[int, float]]], work: WorkStore,
                 mappings: MappingService) -> None:
        self.metrics = metrics
        self._in_flight = in_flight
        self._environments = environments
        self._async_backlog = async_backlog  # the async invoker's (faas.sources.async_events)
        self._work = work
        self._mappings = mappings

    async def exposition(self) -> bytes:
        now = utcnow()
        async_events, async_oldest_s = await self._async_backlog()
        lags = []
        for mapping in await self._mappings.all():
            waiting = await self._work.depth(message_kind(self._mappings.queue_of(mapping)), now=now)
            lags.append(EventSourceLag(mapping.uuid, mapping.function_name, mapping.source_arn, waiting.due,
                                       waiting.oldest_due_s))
        return self.metrics.exposition(NodeState(
            in_flight=self._in_flight(), environments=self._environments(),
            async_events=async_events, async_oldest_s=async_oldest_s, lags=lags))
