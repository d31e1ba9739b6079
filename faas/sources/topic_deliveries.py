"""The topic deliveries source: what a publish recorded for queues and HTTP endpoints (work items of kind
"sns", written by faas.services.topics in the publish's transaction) is claimed under a lease and delivered:
to a queue through the queue service (those claimed together for one standard queue as one batch), to an
HTTP endpoint as a POST with SNS's headers. A failed delivery is
retried as SNS's default HTTP delivery policy does (3 retries, `retry_s` apart), then goes to the
subscription's dead-letter queue if it has one, else is dropped and logged. Function subscriptions are not
here: their deliveries are asynchronous invocations, which the async events source runs.

HTTP requests are the platform's own, so they follow an SSRF rule (faas.security.addresses): every address
an endpoint's name resolves to is checked, and the connection goes to a checked address."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import urllib.parse
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver

from faas.errors import ApiError, QueueDoesNotExist
from faas.lifecycle import cancel
from faas.model import utcnow
from faas.security.addresses import AddressRule, literal_address
from faas.services.queues import QueueService
from faas.services.topics import DELIVERY, TopicService
from faas.sources.pace import Pace
from faas.store.work import WorkItem, WorkStore

log = logging.getLogger(__name__)

MAX_RUNNING = 64
LEASE_S = 60.0  # longer than one HTTP attempt (HTTP_TIMEOUT_S) and a queue send
HTTP_TIMEOUT_S = 15.0  # SNS's own per-request timeout
RETRIES = 3  # SNS's default healthy retry policy: numRetries 3
SENDER = "sns.amazonaws.com"  # the SenderId a queue shows for what a topic delivered
QUEUE_BATCH = 10  # SendMessageBatch's most entries
QUEUE_BATCH_BYTES = 1024 * 1024  # and its most bytes of bodies


def batches(items: list[WorkItem]) -> list[list[tuple[WorkItem, dict[str, Any]]]]:
    """The claimed deliveries as the units they are made in: those to one standard queue in batches of up to
    10 within SendMessageBatch's 1 MiB (one transaction each rather than ten), every other one alone (an HTTP
    request; a FIFO queue's, which are claimed one per group anyway)."""
    units: list[list[tuple[WorkItem, dict[str, Any]]]] = []
    by_queue: dict[str, list[tuple[WorkItem, dict[str, Any]]]] = {}
    for item in items:
        delivery = json.loads(item.payload)
        if delivery["protocol"] == "sqs" and not delivery["endpoint"].endswith(".fifo"):
            by_queue.setdefault(delivery["endpoint"], []).append((item, delivery))
        else:
            units.append([(item, delivery)])
    for same_queue in by_queue.values():
        batch: list[tuple[WorkItem, dict[str, Any]]] = []
        size = 0
        for entry in same_queue:
            body = len(entry[1]["body"].encode())
            if batch and (len(batch) == QUEUE_BATCH or size + body > QUEUE_BATCH_BYTES):
                units.append(batch)
                batch, size = [], 0
            batch.append(entry)
            size += body
        units.append(batch)
    return units


class DeniedAddress(Exception):
    """An endpoint resolved to an address deliveries may not reach."""


class CheckedResolver(AbstractResolver):
    """Resolves as usual, then refuses the whole answer if any address in it is denied: the addresses that
    were checked are the ones aiohttp connects to, so DNS cannot answer one thing to a check and another to
    the connection."""

    def __init__(self, rule: AddressRule) -> None:
        self._rule = rule
        self._resolver = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET):  # type: ignore[no-untyped-def,override]
        answers = await self._resolver.resolve(host, port, family)
        for answer in answers:
            if not self._rule.permits(answer["host"]):
                raise DeniedAddress(f"{host} resolves to {answer['host']}, which deliveries may not reach "
                                    "(FAAS_TOPIC_HTTP_DENY)")
        return answers

    async def close(self) -> None:
        await self._resolver.close()


class TopicDeliveries:
    def __init__(self, work: WorkStore, topics: TopicService, queues: QueueService, *, node_id: str,
                 http_rule: AddressRule, retry_s: float, shared_store: bool = True) -> None:
        self._work = work
        self._topics = topics
        self._queues = queues
        # Its own lease owner: the async events source hands back its node's items at start, which must not
        # take this source's from under it.
        self._owner = f"{node_id}-sns"
        self._rule = http_rule
        self._retry_s = retry_s
        self._pace = Pace(work, DELIVERY, shared=shared_store)
        self._running: set[asyncio.Task] = set()
        self._loop_task: asyncio.Task | None = None
        self._session: aiohttp.ClientSession | None = None

    def wake(self) -> None:
        self._pace.wake.set()

    # -- lifecycle (faas.lifecycle) ---------------------------------------------------------------

    async def start(self) -> None:
        requeued = await self._work.reclaim_owner(self._owner, now=utcnow())
        if requeued:
            log.info("re-queued %d topic deliveries the previous run was making", requeued)
        connector = aiohttp.TCPConnector(resolver=CheckedResolver(self._rule), limit=MAX_RUNNING)
        self._session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S))
        self._loop_task = asyncio.get_running_loop().create_task(self._loop())

    async def drain(self) -> None:
        await cancel(self._loop_task)
        self._loop_task = None

    async def stop(self) -> None:
        await self.drain()
        await cancel(*self._running)
        if self._session is not None:
            await self._session.close()
            self._session = None
        # Cancelled deliveries stay leased to this node: its next start hands them back at once.

    async def _loop(self) -> None:
        drained = False
        while True:
            await self._pace.wait(drained=drained)
            drained = False
            room = MAX_RUNNING - len(self._running)
            if room <= 0:
                continue
            try:
                items = await self._work.claim(DELIVERY, self._owner, lease_s=LEASE_S, limit=room, now=utcnow())
            except Exception:
                log.exception("claiming topic deliveries failed")
                continue
            drained = len(items) < room
            for batch in batches(items):
                task = asyncio.get_running_loop().create_task(self._run(batch))
                self._running.add(task)
                task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task) -> None:
        self._running.discard(task)
        self._pace.wake.set()

    async def _run(self, batch: list[tuple[WorkItem, dict[str, Any]]]) -> None:
        try:
            subscriptions: dict[str, Any] = {}
            live = []
            for item, delivery in batch:
                subscription_id = delivery["subscription"]
                if subscription_id not in subscriptions:
                    subscriptions[subscription_id] = await self._topics.subscription_by_id(subscription_id)
                if subscriptions[subscription_id] is None:  # unsubscribed since: it goes nowhere
                    await self._work.complete(item.id, self._owner)
                    continue
                live.append((item, delivery))
            if not live:
                return
            if live[0][1]["protocol"] == "sqs":
                problems = await self._to_queue([delivery for _, delivery in live])
            else:
                problems = [await self._to_http(live[0][1])]
            await self._work.complete_many([(item.id, self._owner) for (item, _), problem in zip(live, problems)
                                            if problem is None])
            for (item, delivery), problem in zip(live, problems):
                if problem is not None:
                    await self._failed(item, delivery, subscriptions[delivery["subscription"]].attributes, problem)
        except Exception:
            log.exception("topic deliveries %s failed unexpectedly; retrying", [item.key for item, _ in batch])
            for item, _ in batch:
                with contextlib.suppress(Exception):
                    await self._work.release(item.id, self._owner, delay_s=self._retry_s, now=utcnow())

    async def _failed(self, item: WorkItem, delivery: dict[str, Any], attributes: dict[str, str],
                      problem: str) -> None:
        if item.attempts <= RETRIES:
            log.info("delivery of %s to %s failed (%s); retrying in %.0f s", delivery["message_id"],
                     delivery["endpoint"], problem, self._retry_s)
            await self._work.release(item.id, self._owner, delay_s=self._retry_s, now=utcnow())
            return
        await self._dead_letter(attributes.get("RedrivePolicy"), delivery, problem)
        await self._work.complete(item.id, self._owner)

    async def _to_queue(self, deliveries: list[dict[str, Any]]) -> list[str | None]:
        """Send to one queue: a problem (or None) per delivery."""
        queue = self._topics.queue_in(deliveries[0]["endpoint"])
        entries = []
        for delivery in deliveries:
            entry: dict[str, Any] = {"MessageBody": delivery["body"]}
            if delivery.get("attributes"):
                entry["MessageAttributes"] = delivery["attributes"]
            if queue.endswith(".fifo") and delivery.get("group"):
                # The topic's group and deduplication id: a retried delivery is a duplicate the queue drops.
                entry |= {"MessageGroupId": delivery["group"],
                          "MessageDeduplicationId": delivery["deduplication_id"]}
            entries.append(entry)
        try:
            if len(entries) == 1:
                await self._queues.send(queue, entries[0], SENDER)
                return [None]
            _, failed = await self._queues.send_batch(
                queue, [{"Id": str(index), **entry} for index, entry in enumerate(entries)], SENDER)
        except QueueDoesNotExist:
            return [f"queue {queue} does not exist"] * len(entries)
        except ApiError as error:
            return [f"{error.code}: {error.message}"] * len(entries)
        problems: list[str | None] = [None] * len(entries)
        for failure in failed:
            problems[int(failure.id)] = f"{failure.code}: {failure.message}"
        return problems

    async def _to_http(self, delivery: dict[str, Any]) -> str | None:
        assert self._session is not None
        host = urllib.parse.urlsplit(delivery["endpoint"]).hostname or ""
        address = literal_address(host)
        if address is not None and not self._rule.permits(address):  # aiohttp resolves no literal address
            return f"{address} is an address deliveries may not reach (FAAS_TOPIC_HTTP_DENY)"
        headers = {"Content-Type": "text/plain; charset=UTF-8", "User-Agent": "Amazon Simple Notification Service Agent",
                   "x-amz-sns-message-type": delivery["type"], "x-amz-sns-message-id": delivery["message_id"],
                   "x-amz-sns-topic-arn": delivery["topic_arn"]}
        if delivery["type"] == "Notification":
            headers["x-amz-sns-subscription-arn"] = f"{delivery['topic_arn']}:{delivery['subscription']}"
        if delivery["raw"]:
            headers["x-amz-sns-rawdelivery"] = "true"
        try:
            async with self._session.post(delivery["endpoint"], data=delivery["body"].encode(), headers=headers,
                                          allow_redirects=False) as response:
                await response.read()
                if 200 <= response.status < 300:
                    return None
                return f"HTTP {response.status}"
        except DeniedAddress as denied:
            return str(denied)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
            return f"{type(error).__name__}: {error}"

    async def _dead_letter(self, redrive: str | None, delivery: dict[str, Any], problem: str) -> None:
        if redrive is not None:
            target = self._topics.queue_in(json.loads(redrive)["deadLetterTargetArn"])
            with contextlib.suppress(ApiError):
                await self._queues.send(target, {"MessageBody": delivery["body"]}, SENDER)
                log.warning("delivery of %s to %s failed %d times (%s): sent to dead-letter queue %s",
                            delivery["message_id"], delivery["endpoint"], RETRIES + 1, problem, target)
                return
        log.warning("dropped delivery of %s to %s after %d attempts: %s", delivery["message_id"],
                    delivery["endpoint"], RETRIES + 1, problem)
