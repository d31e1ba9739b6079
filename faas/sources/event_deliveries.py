"""The event deliveries source: what PutEvents owes each matched rule's target, written as leased work (kind
"events") before PutEvents answered, is delivered here by this node's workers.

A function target becomes an asynchronous invocation (AsyncInvoker.enqueue: Lambda's retries, destinations
and dead-letter queue apply from there). As on AWS, the function policy must allow `events.amazonaws.com`
to invoke it with the rule's ARN as `aws:SourceArn` (AddPermission); this is checked at delivery, so a
permission added or removed later counts for the next event. A queue or topic target is sent (published) as
the target's RoleArn (else the rule's) through Destinations: faas has no queue or topic policies, so that
role's policies must allow sqs:SendMessage or sns:Publish on it, checked at every delivery. A refused
delivery is dropped, logged and audited (principal: the rule's ARN). A queue or topic that refuses the
message (it is gone, the message too large) is tried again after RETRY_DELAY_S, MAX_ATTEMPTS times in all,
then dropped and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from faas.dispatch.recorder import Recorder
from faas.errors import ApiError
from faas.lifecycle import cancel
from faas.model import utcnow
from faas.security import policy
from faas.services.destinations import INVOKE, Destinations, parse_target
from faas.services.event_bus import DELIVERY, TARGET_KINDS, Delivery
from faas.services.permissions import PermissionService
from faas.store.audit import AuditEntry
from faas.sources.pace import Pace
from faas.store.work import WorkItem, WorkStore

log = logging.getLogger(__name__)

EVENTS_PRINCIPAL = "service:events.amazonaws.com"  # how function policies name EventBridge as a caller
LEASE_S = 60
BATCH = 64  # deliveries claimed, made and completed together
MAX_ATTEMPTS = 3
RETRY_DELAY_S = 5.0

Enqueue = Callable[[str, bytes], Awaitable[str]]  # AsyncInvoker.enqueue: (function name, payload) -> request id


class EventDeliveries:
    def __init__(self, work: WorkStore, permissions: PermissionService, destinations: Destinations,
                 enqueue: Enqueue, audit: Recorder, *, node_id: str, account_id: str,
                 function_arn: Callable[[str], str], shared_store: bool = True) -> None:
        self._work = work
        self._permissions = permissions
        self._destinations = destinations
        self._enqueue = enqueue
        self._audit = audit
        self._node = node_id
        self._account = account_id
        self._function_arn = function_arn
        self._pace = Pace(work, DELIVERY, shared=shared_store)
        self._loop_task: asyncio.Task | None = None
        self._batch_task: asyncio.Future | None = None  # the batch under way, which a drain lets finish

    def wake(self) -> None:
        self._pace.wake.set()

    # -- lifecycle (faas.lifecycle) ---------------------------------------------------------------

    async def start(self) -> None:
        requeued = await self._work.reclaim_owner(self._node, now=utcnow())
        if requeued:
            log.info("re-queued %d event deliveries the previous run was making", requeued)
        self._loop_task = asyncio.get_running_loop().create_task(self._loop())

    async def drain(self) -> None:
        """Take no new deliveries; a batch under way is finished (deliveries are short: a row written)."""
        await cancel(self._loop_task)
        self._loop_task = None
        if self._batch_task is not None:
            with contextlib.suppress(Exception):
                await self._batch_task
            self._batch_task = None

    async def stop(self) -> None:
        await self.drain()

    async def _loop(self) -> None:
        items: list[WorkItem] = []
        while True:
            await self._pace.wait(drained=len(items) < BATCH)
            items = []
            try:
                items = await self._work.claim(DELIVERY, self._node, lease_s=LEASE_S, limit=BATCH, now=utcnow())
                if items:
                    # Shielded: a drain lets the batch finish, so nothing is left leased until the next start.
                    self._batch_task = asyncio.ensure_future(self._batch(items))
                    await asyncio.shield(self._batch_task)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("delivering events failed")
            if len(items) == BATCH:
                self._pace.wake.set()  # there may be more waiting

    async def _batch(self, items: list[WorkItem]) -> None:
        """Deliver a claimed batch concurrently, then complete what is done in one transaction."""
        outcomes = await asyncio.gather(*(self._run(item) for item in items))
        await self._work.complete_many([(item.id, self._node) for item, done in zip(items, outcomes) if done])

    async def _run(self, item: WorkItem) -> bool:
        """Whether the item is done with (delivered, refused or given up on); else it was handed back."""
        delivery = Delivery.decode(item.payload)
        try:
            await self._deliver(delivery)
        except Exception as error:  # noqa: BLE001 (a queue that refuses, or anything unforeseen)
            reason = error.message if isinstance(error, ApiError) else repr(error)
            if item.attempts < MAX_ATTEMPTS:
                log.warning("delivering event %s to %s failed (%s); trying again", delivery.event_id,
                            delivery.target_arn, reason)
                with contextlib.suppress(Exception):
                    await self._work.release(item.id, self._node, delay_s=RETRY_DELAY_S, now=utcnow())
                return False
            log.warning("dropped event %s for %s after %d attempts: %s", delivery.event_id, delivery.target_arn,
                        item.attempts, reason)
        return True

    async def _deliver(self, delivery: Delivery) -> None:
        target = parse_target(delivery.target_arn, "target", TARGET_KINDS)
        if target.service == "lambda":
            resource = self._function_arn(target.name)
            if not await self._function_allows(target.name, resource, delivery.rule_arn):
                self._refused(delivery, INVOKE, resource, "its function policy does not allow events.amazonaws.com "
                                                          "with this rule's SourceArn (AddPermission)")
                return
            await self._enqueue(target.name, delivery.body.encode())
            return
        if not delivery.role_arn or not await self._destinations.may_send(delivery.role_arn, delivery.rule, target):
            self._refused(delivery, target.action, self._destinations.home_arn(target),
                          f"the role {delivery.role_arn or '(none: set the target RoleArn or the rule RoleArn)'} "
                          f"may not {target.action} on it")
            return
        await self._destinations.send(target, delivery.body, {}, delivery.role_arn, delivery.rule)

    async def _function_allows(self, name: str, resource: str, rule_arn: str) -> bool:
        statements = await self._permissions.statements(name)
        decision = policy.evaluate_resource_policy(
            statements, principal=EVENTS_PRINCIPAL, action=INVOKE, resource=resource,
            context={"aws:SourceArn": rule_arn, "aws:SourceAccount": self._account})
        return decision == policy.ALLOW

    def _refused(self, delivery: Delivery, action: str, resource: str, why: str) -> None:
        log.warning("dropped event %s for %s (rule %s): %s", delivery.event_id, delivery.target_arn,
                    delivery.rule_arn, why)
        self._audit.add(AuditEntry(at=utcnow(), principal=delivery.rule_arn, action=action, resource=resource,
                                   status=403, outcome="denied", request_id=delivery.event_id, source_ip=""))
