"""The schedules source: fires due schedules and delivers their firings, on every node, with no leader.

Firing: each node sleeps until the earliest firing time in the store (re-reading it when a schedule changes
here, and at least every RECHECK_S for changes made on other nodes), then fires what is due with the store's
compare-and-swap (faas/store/schedules.py), which queues each due time's delivery as leased work in the same
transaction. Delivering: the node that claims a delivery (faas/store/work.py) invokes the function
asynchronously or sends to the queue, as the schedule's execution role; a failure is retried with backoff
under the target's RetryPolicy, then goes to its dead-letter queue. A node that dies holding a delivery
loses its lease, and another node delivers it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from typing import Any

from faas.clock import Clock
from faas.dispatch.recorder import Recorder
from faas.errors import ApiError
from faas.lifecycle import cancel
from faas.services.destinations import Destinations, parse_target
from faas.services.functions import FunctionService
from faas.services.schedules import SCHEDULE_KIND, ScheduleService, delivery_payload, plan_firing
from faas.sources.async_events import AsyncInvoker
from faas.store.audit import AuditEntry
from faas.store.schedules import ScheduleStore
from faas.store.work import WorkItem, WorkStore

log = logging.getLogger(__name__)

RECHECK_S = 30.0  # the longest a node sleeps without looking at the store (schedules made on other nodes)
CONTROLLED_CLOCK_S = 0.2  # with FAAS_CLOCK_FILE, how often the file is looked at (a test aid)
CLAIM_S = 1.0  # how often deliveries other nodes left (a lapsed lease, a retry) are looked for
LEASE_S = 60.0
MAX_RETRY_DELAY_S = 60.0
BATCH = 50
DRAIN_S = 10.0  # how long a stopping node lets a firing or a delivery under way finish
EMPTY_INPUT = "{}"  # what a target gets when the schedule has no Input


class DeliveryFailed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def retry_delay(attempts: int) -> float:
    """Exponential backoff after the n-th failed attempt: 1 s, 2 s, 4 s ... up to a minute."""
    return min(float(2 ** (attempts - 1)), MAX_RETRY_DELAY_S)


def with_context(text: str, firing: dict[str, Any], item: WorkItem) -> str:
    """Input with AWS Scheduler's context attributes filled in (its templated targets' keywords)."""
    due = dt.datetime.fromisoformat(firing["due"])
    values = {"<aws.scheduler.schedule-arn>": firing["schedule"],
              "<aws.scheduler.scheduled-time>": due.strftime("%Y-%m-%dT%H:%M:%SZ"),
              "<aws.scheduler.execution-id>": item.key,
              "<aws.scheduler.attempt-number>": str(item.attempts)}
    for keyword, value in values.items():
        text = text.replace(keyword, value)
    return text


class ScheduleSource:
    def __init__(self, store: ScheduleStore, service: ScheduleService, work: WorkStore, clock: Clock, *,
                 node_id: str, destinations: Destinations, functions: FunctionService, async_invoker: AsyncInvoker,
                 audit: Recorder) -> None:
        self._store = store
        self._service = service
        self._work = work
        self._clock = clock
        self._node = node_id
        self._destinations = destinations
        self._functions = functions
        self._async = async_invoker
        self._audit = audit
        self._changed = asyncio.Event()
        self._fired = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._stopping = False

    def changed(self) -> None:
        """A schedule changed on this node: look again at when the next one fires."""
        self._changed.set()

    # -- lifecycle (faas.lifecycle) ---------------------------------------------------------------

    async def start(self) -> None:
        await self._work.reclaim_owner(self._node, now=self._clock.now())
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._fire_loop()), loop.create_task(self._deliver_loop())]

    async def drain(self) -> None:
        """Let each loop finish the step it is in (a transaction cut short by cancellation could leave the
        database connection unusable for the rest of the shutdown); a step that hangs is cancelled."""
        self._stopping = True
        self._changed.set()
        self._fired.set()
        if self._tasks:
            _, hung = await asyncio.wait(self._tasks, timeout=DRAIN_S)
            await cancel(*hung)
        self._tasks = []

    async def stop(self) -> None:
        await self.drain()

    # -- firing -----------------------------------------------------------------------------------

    async def _fire_loop(self) -> None:
        while not self._stopping:
            try:
                await self.fire_due()
                wait = await self._sleep_for()
            except Exception:  # the store may be unreachable for a while: try again, never stop firing
                log.exception("firing schedules failed; trying again")
                wait = 1.0
            if self._stopping:
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), wait)
            self._changed.clear()

    async def _sleep_for(self) -> float:
        limit = CONTROLLED_CLOCK_S if self._clock.controlled else RECHECK_S
        earliest = await self._store.earliest()
        if earliest is None:
            return limit
        return min(limit, max(0.0, (earliest - self._clock.now()).total_seconds()))

    async def fire_due(self) -> int:
        """Fire every schedule that is due now; returns how many due times this node fired."""
        fired = 0
        now = self._clock.now()
        for schedule in await self._store.due(now, BATCH):
            firing = plan_firing(schedule, now, lambda due, s=schedule: delivery_payload(self._service, s, due))
            if not await self._store.fire(schedule, firing, kind=SCHEDULE_KIND, now=now):
                continue  # another node fired it, or it changed meanwhile
            fired += len(firing.deliveries)
            if firing.skipped:
                arn = self._service.arn(schedule.group_name, schedule.name)
                log.warning("schedule %s: skipped %d due times missed by more than their window (the last %s)",
                            arn, firing.skipped, firing.last_skipped_at.isoformat() if firing.last_skipped_at else "")
                self._record("scheduler:SkipDueTimes", arn, 410, "skipped")
        if fired:
            self._fired.set()
        return fired

    # -- delivering -------------------------------------------------------------------------------

    async def _deliver_loop(self) -> None:
        while not self._stopping:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._fired.wait(), CLAIM_S)
            self._fired.clear()
            if self._stopping:
                return
            try:
                items = await self._work.claim(SCHEDULE_KIND, self._node, lease_s=LEASE_S, limit=BATCH,
                                               now=self._clock.now())
                for item in items:
                    if self._stopping:
                        break  # what is left stays leased to this node: its next start hands it back
                    await self._deliver(item)
            except Exception:
                log.exception("delivering schedule firings failed; trying again")

    async def _deliver(self, item: WorkItem) -> None:
        firing = json.loads(item.payload)
        target = firing["target"]
        body = with_context(target.get("Input", EMPTY_INPUT), firing, item)
        try:
            await self._send(firing, body)
        except DeliveryFailed as failure:
            retry = target["RetryPolicy"]
            now = self._clock.now()
            delay = retry_delay(item.attempts)
            too_old = (now - item.created_at).total_seconds() + delay > retry["MaximumEventAgeInSeconds"]
            if item.attempts <= retry["MaximumRetryAttempts"] and not too_old:
                log.info("schedule %s: delivery failed (%s), retrying in %.0f s", firing["schedule"], failure, delay)
                await self._work.release(item.id, self._node, delay_s=delay, now=now)
                return
            exhausted = "MaximumEventAgeInSeconds" if too_old else "MaximumRetryAttempts"
            await self._dead_letter(firing, body, failure, item.attempts - 1, exhausted, item.key)
        await self._work.complete(item.id, self._node)

    async def _send(self, firing: dict[str, Any], body: str) -> None:
        spec = firing["target"]
        target = parse_target(spec["Arn"], "target", ("lambda", "sqs", "sns"))
        if not await self._destinations.may_send(spec["RoleArn"], firing["name"], target):
            raise DeliveryFailed("AccessDeniedException",
                                 f"The execution role {spec['RoleArn']} is not allowed {target.action} on "
                                 f"{self._destinations.home_arn(target)}")
        try:
            if target.service == "lambda":
                await self._functions.get(target.name)
                await self._async.enqueue(target.name, body.encode())
            else:
                await self._destinations.send(target, body, {}, spec["RoleArn"], firing["name"])
        except ApiError as error:
            raise DeliveryFailed(error.code, error.message) from error

    async def _dead_letter(self, firing: dict[str, Any], body: str, failure: DeliveryFailed, retries: int,
                           exhausted: str, execution_id: str) -> None:
        log.warning("schedule %s: delivery to %s failed for good (%s: %s)", firing["schedule"],
                    firing["target"]["Arn"], failure.code, failure.message)
        self._record("scheduler:InvokeTarget", firing["schedule"], 500, "failed")
        dead_letter = firing["target"].get("DeadLetterConfig")
        if not dead_letter:
            return
        queue = parse_target(dead_letter["Arn"], "dead-letter queue", ("sqs",))
        role = firing["target"]["RoleArn"]
        if not await self._destinations.may_send(role, firing["name"], queue):
            log.warning("schedule %s: the execution role may not send to the dead-letter queue %s; the event is "
                        "dropped", firing["schedule"], dead_letter["Arn"])
            self._record("sqs:SendMessage", self._destinations.home_arn(queue), 403, "denied")
            return
        # The dead-letter event: the target's input, with the attributes AWS's documentation lists for it.
        attributes = {"ERROR_CODE": ("String", failure.code), "ERROR_MESSAGE": ("String", failure.message[:1024]),
                      "EXECUTION_ID": ("String", execution_id), "EXHAUSTED_RETRY_CONDITION": ("String", exhausted),
                      "RETRY_ATTEMPTS": ("Number", str(retries)), "SCHEDULE_ARN": ("String", firing["schedule"]),
                      "TARGET_ARN": ("String", firing["target"]["Arn"])}
        try:
            await self._destinations.send(queue, body, attributes, role, firing["name"])
        except ApiError as error:
            log.warning("schedule %s: the dead-letter queue %s refused the event: %s", firing["schedule"],
                        dead_letter["Arn"], error.message)

    def _record(self, action: str, resource: str, status: int, outcome: str) -> None:
        self._audit.add(AuditEntry(at=dt.datetime.now(dt.timezone.utc), principal="scheduler.amazonaws.com",
                                   action=action, resource=resource, status=status, outcome=outcome,
                                   request_id="", source_ip=""))
