"""The queue pollers source: for every enabled event source mapping, receive batches from its queue, invoke
the function with Lambda's SQS event, and delete what succeeded.

The messages themselves are the leased work: a batch is received under the queue's visibility timeout (a
lease in faas/store/work.py) and only deleted once the function succeeded with it, so nothing is held in
memory only. A failed message, or one the function's batchItemFailures names, is left to come back after
the visibility timeout and to reach the queue's dead-letter queue by its maxReceiveCount; on a FIFO queue
the later messages of its group stay with it, so the group resumes in order. A throttled batch goes back at
once without counting a receive. A message no filter matches is deleted, as Lambda does.

Each mapping starts with one poller task, long-polling its queue (woken by a send on this node within
milliseconds, and looking every second for other nodes' sends). A poller that receives a full batch starts
another, up to ScalingConfig.MaximumConcurrency, the function's reserved concurrency and the node's limit;
one that finds the queue empty stops, but the last. Several nodes poll the same mappings: a message's lease
keeps each batch with one node, as SQS keeps a receive with one consumer.

Before each receive a poller asks the mapping service whether the function exists and its execution role
still allows the queue calls; if not, it receives nothing and says why in LastProcessingResult.

Changes come from the mapping service (woken on this node; every REFRESH_S for other nodes'): a poller
settles the transition it acted on (Creating -> Enabled, Disabling -> Disabled, Deleting -> gone). Disabling
or deleting stops receiving; batches being processed finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from faas.dispatch.invoker import Invoker
from faas.errors import ApiError, FaasError, QueueDoesNotExist, ResourceNotFound, TooManyRequests
from faas.lifecycle import cancel
from faas.services.functions import FunctionService
from faas.services.mappings import DELETING, DISABLED, DISABLING, FUNCTION_MISSING, MappingService
from faas.services.queues import QueueService
from faas.sources import sqs_events
from faas.store.mappings import Mapping

log = logging.getLogger(__name__)

REFRESH_S = 2.0  # how often a node looks for mappings changed on other nodes
LONG_POLL_S = 20.0
RETRY_S = 1.0  # after a missing queue or function, or an unexpected error, before trying again
THROTTLE_RELEASE_S = 1.0  # a throttled batch is visible again after this long
MAX_PAYLOAD = 6 * 1024 * 1024  # a synchronous invocation's payload limit, which a batch must fit
OK = "OK"
FUNCTION_FAILED = "PROBLEM: Function call failed"
QUEUE_MISSING = "PROBLEM: The event source queue does not exist; waiting for it to be created again"
THROTTLED = "PROBLEM: Function call throttled (concurrency limit reached); the batch went back to the queue"

# (mapping) -> the mapping's compiled filter patterns
CompileFilters = Callable[[Mapping], list[sqs_events.Pattern]]


class MappingPoller:
    """The poller tasks of one mapping on this node."""

    def __init__(self, mapping: Mapping, pollers: QueuePollers) -> None:
        self._pollers = pollers
        self._tasks: set[asyncio.Task] = set()
        self._receiving: set[asyncio.Task] = set()
        self._retired = False
        self._last_result = mapping.last_result
        self.update(mapping)

    def update(self, mapping: Mapping) -> None:
        self.mapping = mapping
        self.queue = self._pollers.mappings.queue_of(mapping)
        self.patterns = self._pollers.compile_filters(mapping)

    @property
    def tasks(self) -> set[asyncio.Task]:
        return self._tasks

    def start(self) -> None:
        if not self._retired and not self._tasks:
            self._spawn()

    def retire(self) -> None:
        """Receive no more: pollers waiting for messages stop; those processing a batch finish it first."""
        self._retired = True
        for task in list(self._receiving):
            task.cancel()

    def _spawn(self) -> None:
        task = asyncio.get_running_loop().create_task(self._run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _limit(self) -> int:
        """How many batches of this mapping may run at once on this node."""
        limiter = self._pollers.invoker.limiter
        limits = [limiter.node_limit, self.mapping.max_concurrency or limiter.node_limit]
        reserved = limiter.reserved(self.mapping.function_name)
        if reserved is not None:
            limits.append(max(reserved, 1))
        return min(limits)

    async def _run(self) -> None:
        while not self._retired:
            current = asyncio.current_task()
            assert current is not None
            self._receiving.add(current)
            try:
                problem = await self._pollers.mappings.poll_problem(self.mapping)
                if problem is not None:  # receive nothing it could not process
                    await self._report(problem)
                    await asyncio.sleep(RETRY_S)
                    continue
                batch = await self._gather()
            except asyncio.CancelledError:
                if self._retired:
                    return
                raise
            except QueueDoesNotExist:
                await self._report(QUEUE_MISSING)
                if len(self._tasks) > 1:
                    return
                await asyncio.sleep(RETRY_S)
                continue
            except Exception:
                log.exception("receiving from queue %s for mapping %s failed", self.queue, self.mapping.uuid)
                await asyncio.sleep(RETRY_S)
                continue
            finally:
                self._receiving.discard(current)
            if not batch:
                if len(self._tasks) > 1:
                    return  # the backlog is gone: fewer pollers
                continue
            if len(batch) >= self.mapping.batch_size and len(self._tasks) < self._limit():
                self._spawn()  # a full batch: there is a backlog, poll it with one more
            try:
                await self._process(batch)
            except Exception:
                # The batch stays leased: it comes back after the visibility timeout.
                log.exception("processing a batch of mapping %s failed", self.mapping.uuid)
                await asyncio.sleep(RETRY_S)

    async def _gather(self) -> list[dict[str, Any]]:
        """A batch: up to BatchSize messages, waiting for the first as long as it takes and for more until the
        batching window closes (window 0: what the first receive got), within Lambda's payload limit."""
        mapping, queues = self.mapping, self._pollers.queues
        batch: list[dict[str, Any]] = []
        size = 0
        deadline = 0.0
        while len(batch) < mapping.batch_size:
            if not batch:
                wait = LONG_POLL_S
            else:
                wait = deadline - time.monotonic()
                if mapping.window_s == 0 or wait <= 0:
                    break
            received = await queues.poll(self.queue, mapping.batch_size - len(batch), wait)
            if not batch:
                if not received:
                    return []  # a long poll that found nothing: the caller looks at its mapping again
                deadline = time.monotonic() + mapping.window_s
            overflow = []
            for message in received:
                message_size = len(message["Body"].encode()) + 1024  # with its attributes and the record's fields
                if batch and size + message_size > MAX_PAYLOAD:
                    overflow.append(message["ReceiptHandle"])
                    continue
                batch.append(message)
                size += message_size
            if overflow:  # for the next batch, without counting this receive
                await queues.settle_received(self.queue, overflow, release_s=0)
                break
            if self._retired:
                break
        return batch

    async def _process(self, batch: list[dict[str, Any]]) -> None:
        mapping, queues = self.mapping, self._pollers.queues
        queue_arn = mapping.source_arn
        records = [sqs_events.record(message, queue_arn=queue_arn, region=self._pollers.region) for message in batch]
        matched, unmatched = [], []
        for shaped in records:
            if sqs_events.matches_any(self.patterns, shaped):
                matched.append(shaped)
            else:
                unmatched.append(shaped["receiptHandle"])
        if unmatched:
            await queues.settle_received(self.queue, unmatched)  # as Lambda does: filtered out is deleted
        if not matched:
            return
        try:
            fn = await self._pollers.functions.get(mapping.function_name)
        except ResourceNotFound:
            await self._report(FUNCTION_MISSING)
            return  # the messages come back after their visibility timeout
        handles = {shaped["messageId"]: shaped["receiptHandle"] for shaped in matched}
        try:
            result = await self._pollers.invoker.invoke(fn, sqs_events.event(matched))
        except TooManyRequests:
            await queues.settle_received(self.queue, list(handles.values()), release_s=THROTTLE_RELEASE_S)
            await self._report(THROTTLED)
            await asyncio.sleep(THROTTLE_RELEASE_S)  # rather than receive the next batch into the same throttle
            return
        except ApiError as error:  # the environment could not start: the batch failed
            log.warning("mapping %s: invoking %s failed: %s", mapping.uuid, fn.name, error.message)
            await self._report(FUNCTION_FAILED)
            return
        if result.function_error is not None:
            failed: set[str] | None = None
        elif mapping.reports_failures:
            failed = sqs_events.failed_items(result.body, list(handles))
        else:
            failed = set()
        if failed is None:
            failed = set(handles)
        if failed and self._pollers.fifo(queue_arn):
            failed = sqs_events.held_back([m for m in batch if m["MessageId"] in handles], failed)
        done = [handle for message_id, handle in handles.items() if message_id not in failed]
        if done:
            await queues.settle_received(self.queue, done)
        await self._report(FUNCTION_FAILED if failed else OK)

    async def _report(self, result: str) -> None:
        """LastProcessingResult, written when it changes."""
        if result != self._last_result:
            self._last_result = result
            with contextlib.suppress(Exception):
                await self._pollers.mappings.report(self.mapping, result)


class QueuePollers:
    def __init__(self, mappings: MappingService, queues: QueueService, functions: FunctionService,
                 invoker: Invoker, *, region: str, compile_filters: CompileFilters, grace_s: float,
                 refresh_s: float = REFRESH_S) -> None:
        self.mappings = mappings
        self.queues = queues
        self.functions = functions
        self.invoker = invoker
        self.region = region
        self.compile_filters = compile_filters
        self._refresh_s = refresh_s
        self._grace_s = grace_s  # how long a drain waits for the batches under way
        self._pollers: dict[str, MappingPoller] = {}
        self._retired: list[MappingPoller] = []
        self._loop_task: asyncio.Task | None = None

    def fifo(self, queue_arn: str) -> bool:
        return queue_arn.endswith(".fifo")  # only a FIFO queue's name may end so

    # -- lifecycle (faas.lifecycle) ---------------------------------------------------------------

    async def start(self) -> None:
        self._loop_task = asyncio.get_running_loop().create_task(self._loop())

    async def drain(self) -> None:
        """Receive no more; batches being processed finish (the server's shutdown grace bounds the wait)."""
        await cancel(self._loop_task)
        self._loop_task = None
        for poller in self._pollers.values():
            poller.retire()
        tasks = self._tasks()
        if tasks:
            await asyncio.wait(tasks, timeout=self._grace_s)

    async def stop(self) -> None:
        await self.drain()
        for task in self._tasks():
            task.cancel()
        # Batches cancelled here stay leased: they come back after the queue's visibility timeout.

    def _tasks(self) -> list[asyncio.Task]:
        return [task for poller in (*self._pollers.values(), *self._retired) for task in poller.tasks]

    async def _loop(self) -> None:
        changed = self.mappings.changed
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(changed.wait(), self._refresh_s)
            changed.clear()
            try:
                await self._reconcile()
            except Exception:
                log.exception("reading the event source mappings failed")

    async def _reconcile(self) -> None:
        mappings = await self.mappings.all()
        present = {mapping.uuid for mapping in mappings}
        for uuid in [uuid for uuid in self._pollers if uuid not in present]:  # deleted on another node
            self._retire(uuid)
        for mapping in mappings:
            running = self._pollers.get(mapping.uuid)
            if mapping.enabled and mapping.state not in (DELETING, DISABLING, DISABLED):
                try:
                    if running is None:
                        running = self._pollers[mapping.uuid] = MappingPoller(mapping, self)
                    elif running.mapping.revision != mapping.revision:
                        running.update(mapping)
                except FaasError:
                    log.exception("mapping %s cannot be polled", mapping.uuid)
                    continue
                running.start()
            elif running is not None:
                self._retire(mapping.uuid)
            await self.mappings.settle(mapping)
        self._retired = [poller for poller in self._retired if poller.tasks]

    def _retire(self, uuid: str) -> None:
        poller = self._pollers.pop(uuid)
        poller.retire()
        self._retired.append(poller)


def json_patterns(compile_pattern: Callable[[dict], sqs_events.Pattern]) -> CompileFilters:
    """A mapping's FilterCriteria compiled with `compile_pattern` (each pattern was checked when stored)."""
    return lambda mapping: [compile_pattern(json.loads(pattern)) for pattern in mapping.filters]
