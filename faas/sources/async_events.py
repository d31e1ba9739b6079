"""The async events source: asynchronous invocations (InvocationType=Event), durably queued as leased work
(kind "async") before 202, run through the invoker by this node's workers, retried after Lambda's delays,
and reported to destinations; those that fail for good are kept a while, for `faas events NAME`."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import logging
import random
import uuid
from typing import Any

from faas.dispatch.invoker import Invoker
from faas.dispatch.recorder import Recorder
from faas.errors import ApiError, ResourceNotFound, TooManyRequests
from faas.lifecycle import cancel
from faas.model import LATEST, Function, utcnow
from faas.services.destinations import Destinations, Target, parse_target
from faas.services.event_bus import Publish
from faas.services.event_configs import EventConfigService
from faas.services.functions import FunctionService
from faas.store.async_failures import AsyncFailure, AsyncFailureStore
from faas.store.audit import AuditEntry
from faas.sources.pace import Pace
from faas.store.work import WorkItem, WorkStore

log = logging.getLogger(__name__)

MAX_ASYNC_PAYLOAD = 1024 * 1024
THROTTLE_RETRY_S = 1.0
MAX_RUNNING = 64
# A claimed event must finish within the longest function timeout, or another node takes it over.
LEASE_S = 900 + 60
ASYNC = "async"  # the kind of work an asynchronous invocation is; its key is the request id

ERROR_MESSAGE_BYTES = 1024  # a dead letter carries the first kilobyte of the error message, as in Lambda


@dataclasses.dataclass(frozen=True)
class AsyncEvent:
    request_id: str
    function_name: str
    payload: bytes
    created_at: dt.datetime
    attempts: int  # runs started so far, this one included (approximateInvokeCount)
    item_id: int  # its work item, which this node holds under a lease while it runs


def encode_event(function_name: str, payload: bytes) -> bytes:
    """The work payload: a JSON header line naming the function, then the event's own bytes untouched
    (a JSON envelope would have to escape or base64 a payload of up to a megabyte)."""
    return json.dumps({"function": function_name}).encode() + b"\n" + payload


def decode_event(item: WorkItem) -> AsyncEvent:
    header, _, payload = item.payload.partition(b"\n")
    return AsyncEvent(item.key, json.loads(header)["function"], payload, item.created_at, item.attempts, item.id)


class AsyncInvoker:
    def __init__(self, work: WorkStore, configs: EventConfigService, functions: FunctionService,
                 invoker: Invoker, *, node_id: str, function_arn, retry_base_s: float,  # type: ignore[no-untyped-def]
                 destinations: Destinations, audit: Recorder, failures: AsyncFailureStore,
                 publish: Publish | None = None, shared_store: bool = True) -> None:
        self._work = work
        self._failures = failures
        self._configs = configs
        self._functions = functions
        self._invoker = invoker
        self._node = node_id
        self._function_arn = function_arn
        self._retry_base_s = retry_base_s  # Lambda waits about 1 minute, then 2
        self._destinations = destinations
        self._audit = audit
        self._publish = publish  # puts "Async Invocation Failed" on the event bus (faas.services.event_bus)
        self._pace = Pace(work, ASYNC, shared=shared_store)
        self._running: set[asyncio.Task] = set()
        self._loop_task: asyncio.Task | None = None

    async def backlog(self) -> tuple[int, float]:
        """Events queued (waiting, retrying or running) and the age of the oldest since it was first queued,
        for GET /metrics."""
        now = utcnow()
        depth = await self._work.depth(ASYNC, now=now)
        return depth.due + depth.delayed + depth.leased, await self._work.oldest_s(ASYNC, now=now)

    async def enqueue(self, function_name: str, payload: bytes, request_id: str | None = None) -> str:
        """Write the event durably; only then may the caller be told 202."""
        request_id = request_id or str(uuid.uuid4())
        now = utcnow()
        await self._work.add(ASYNC, request_id, encode_event(function_name, payload), due_at=now, created_at=now)
        self._pace.wake.set()
        return request_id

    def wake(self) -> None:
        """Look for work now: another part (a topic's publish) just added some."""
        self._pace.wake.set()

    # -- lifecycle (faas.lifecycle) ---------------------------------------------------------------

    async def start(self) -> None:
        requeued = await self._work.reclaim_owner(self._node, now=utcnow())
        if requeued:
            log.info("re-queued %d asynchronous invocations the previous run was running", requeued)
        self._loop_task = asyncio.get_running_loop().create_task(self._loop())

    async def drain(self) -> None:
        """On SIGTERM: take no new events; the running ones finish (the invoker's part waits for them)."""
        await cancel(self._loop_task)
        self._loop_task = None

    async def stop(self) -> None:
        await self.drain()
        await cancel(*self._running)
        # Cancelled runs stay leased to this node: its next start hands them back at once.

    async def _loop(self) -> None:
        drained = False
        while True:
            await self._pace.wait(drained=drained)
            drained = False
            room = MAX_RUNNING - len(self._running)
            if room <= 0:
                continue
            try:
                items = await self._work.claim(ASYNC, self._node, lease_s=LEASE_S, limit=room, now=utcnow())
            except Exception:
                log.exception("claiming asynchronous invocations failed")
                continue
            drained = len(items) < room
            for item in items:
                task = asyncio.get_running_loop().create_task(self._run(decode_event(item)))
                self._running.add(task)
                task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task) -> None:
        self._running.discard(task)
        self._pace.wake.set()  # room for more

    async def _run(self, event: AsyncEvent) -> None:
        try:
            await self._attempt(event)
        except Exception:
            # Whatever broke, the event is not stranded under a long lease: it is tried again later.
            log.exception("asynchronous invocation %s failed unexpectedly; retrying", event.request_id)
            with contextlib.suppress(Exception):
                await self._retry(event, self._retry_base_s)

    async def _attempt(self, event: AsyncEvent) -> None:
        try:
            fn = await self._functions.get(event.function_name)
        except ResourceNotFound:
            log.info("dropping asynchronous invocation %s: function %s is gone", event.request_id,
                     event.function_name)
            await self._done(event)
            return
        config = await self._configs.effective(fn.name)
        now = utcnow()
        if now - event.created_at > dt.timedelta(seconds=config.maximum_event_age_s):
            log.warning("asynchronous invocation %s of %s was older than its maximum age of %d s: dropped%s",
                        event.request_id, fn.name, config.maximum_event_age_s,
                        _sent_to(config.on_failure, fn.dead_letter_target))
            await self._fail(fn, config.on_failure, event, "EventAgeExceeded", attempts=event.attempts - 1,
                             message="EventAgeExceeded: the event was older than the function's "
                                     "MaximumEventAgeInSeconds")
            await self._done(event)
            return
        try:
            result = await self._invoker.invoke(fn, event.payload, request_id=event.request_id)
        except TooManyRequests:
            # Throttled events wait and are tried again; they are only dropped once too old.
            delay = THROTTLE_RETRY_S * (1 + random.random())
            await self._retry(event, delay, count_attempt=False)
            return
        except ApiError as error:  # e.g. the environment could not start: a failed attempt
            body = json.dumps({"errorMessage": error.message, "errorType": error.code}).encode()
            function_error, error_type = "Unhandled", error.code
        else:
            body, function_error, error_type = result.body, result.function_error, result.error_type
        if function_error is None:
            await self._report(fn, config.on_success, event, "Success", body, None)
        elif event.attempts <= config.maximum_retry_attempts:
            delay_s = self._retry_base_s * event.attempts
            log.warning("asynchronous invocation %s of %s failed (attempt %d of %d); retrying in %.0f s",
                        event.request_id, fn.name, event.attempts, config.maximum_retry_attempts + 1, delay_s)
            await self._retry(event, delay_s)
            return
        else:
            log.warning("asynchronous invocation %s of %s failed its %d attempts: dropped%s", event.request_id,
                        fn.name, event.attempts, _sent_to(config.on_failure, fn.dead_letter_target))
            await self._fail(fn, config.on_failure, event, "RetriesExhausted", attempts=event.attempts,
                             message=_error_message(body), response=body, function_error=function_error,
                             error_type=error_type)
        await self._done(event)

    async def _retry(self, event: AsyncEvent, delay_s: float, *, count_attempt: bool = True) -> None:
        await self._work.release(event.item_id, self._node, delay_s=delay_s, now=utcnow(),
                                 count_attempt=count_attempt)

    async def _done(self, event: AsyncEvent) -> None:
        await self._work.complete(event.item_id, self._node)

    async def _fail(self, fn: Function, on_failure: str | None, event: AsyncEvent, condition: str, *, attempts: int,
                    message: str, response: bytes | None = None, function_error: str | None = None,
                    error_type: str | None = None) -> None:
        """The event failed for good: its on-failure record, the platform event and its dead letter go out, and
        it is kept, with where it went, for `faas events NAME` (its work item goes next)."""
        sent_to = []
        if await self._report(fn, on_failure, event, condition, response, function_error, attempts):
            sent_to.append(on_failure)
        await self._failed_for_good(fn, event, condition, response, attempts=attempts)
        if await self._dead_letter(fn, event, message):
            sent_to.append(fn.dead_letter_target)
        await self._failures.add(AsyncFailure(event.request_id, fn.name, event.created_at, utcnow(), attempts,
                                              condition, error_type, len(event.payload), tuple(sent_to)))

    async def _report(self, fn: Function, destination: str | None, event: AsyncEvent, condition: str,
                      response: bytes | None, function_error: str | None, attempts: int | None = None) -> bool:
        """Send Lambda's destination record to the function, queue or topic configured for `condition`: whether
        it went."""
        if not destination:
            return False
        record: dict[str, Any] = {
            "version": "1.0",
            "timestamp": utcnow().isoformat().replace("+00:00", "Z"),
            "requestContext": {
                "requestId": event.request_id,
                "functionArn": f"{self._function_arn(event.function_name)}:{LATEST}",
                "condition": condition,
                "approximateInvokeCount": event.attempts if attempts is None else attempts,
            },
            "requestPayload": _json_or_text(event.payload),
        }
        if response is not None:
            record["responseContext"] = {"statusCode": 200, "executedVersion": LATEST}
            if function_error:
                record["responseContext"]["functionError"] = function_error
            record["responsePayload"] = _json_or_text(response)
        return await self._deliver(fn, parse_target(destination), json.dumps(record), {}, event,
                                   f"{condition} destination record")

    async def _failed_for_good(self, fn: Function, event: AsyncEvent, condition: str, response: bytes | None, *,
                               attempts: int) -> None:
        """The platform event "Async Invocation Failed" (docs/ARCHITECTURE.md, Platform events)."""
        if self._publish is None:
            return
        detail: dict[str, Any] = {"functionName": fn.name, "functionArn": self._function_arn(fn.name),
                                  "requestId": event.request_id, "condition": condition,
                                  "approximateInvokeCount": attempts}
        if response is not None:
            detail["errorMessage"] = _first_bytes(_error_message(response), ERROR_MESSAGE_BYTES)
        await self._publish("Async Invocation Failed", detail, [self._function_arn(fn.name)])

    async def _dead_letter(self, fn: Function, event: AsyncEvent, message: str) -> bool:
        """Send the event itself to the function's dead-letter queue or topic, with Lambda's three attributes:
        whether it went."""
        if not fn.dead_letter_target:
            return False
        attributes = {"RequestID": ("String", event.request_id), "ErrorCode": ("Number", "200"),
                      "ErrorMessage": ("String", _first_bytes(message or "Unhandled", ERROR_MESSAGE_BYTES))}
        return await self._deliver(fn, parse_target(fn.dead_letter_target, "dead-letter target", ("sqs", "sns")),
                                   event.payload.decode("utf-8", "replace"), attributes, event, "dead letter")

    async def _deliver(self, fn: Function, target: Target, body: str, attributes: dict[str, tuple[str, str]],
                       event: AsyncEvent, what: str) -> bool:
        """Deliver as the function's execution role, if it may still (checked again here: it may have lost the
        right since the target was configured, or the function may have been given another role): whether it
        went."""
        if not await self._destinations.may_send(fn.role, fn.name, target):
            log.warning("dropped the %s of %s (request %s): its execution role %s may not send to %s", what,
                        fn.name, event.request_id, fn.role, target.arn)
            self._audit.add(AuditEntry(
                at=utcnow(), principal=fn.role, action=target.action, resource=self._destinations.home_arn(target),
                status=403, outcome="denied", request_id=event.request_id, source_ip=""))
            return False
        if target.service == "lambda":
            await self.enqueue(target.name, body.encode())
            return True
        try:
            await self._destinations.send(target, body, attributes, fn.role, fn.name)
        except ApiError as error:  # the queue or topic is gone, or refuses the message (e.g. its size)
            log.warning("dropped the %s of %s (request %s): %s refused it: %s", what, fn.name, event.request_id,
                        target.arn, error.message)
            return False
        return True


def _error_message(response: bytes) -> str:
    body = _json_or_text(response)
    if isinstance(body, dict) and isinstance(body.get("errorMessage"), str):
        return body["errorMessage"]
    return body if isinstance(body, str) else json.dumps(body)


def _first_bytes(text: str, limit: int) -> str:
    return text.encode()[:limit].decode("utf-8", "ignore")


def _sent_to(on_failure: str | None, dead_letter: str | None) -> str:
    """Where a dropped event's record goes, for the warning that it was dropped."""
    targets = [f"on-failure destination {on_failure}"] if on_failure else []
    targets += [f"dead-letter target {dead_letter}"] if dead_letter else []
    return f" (sent to the {' and the '.join(targets)})" if targets else ""


def _json_or_text(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except ValueError:
        return payload.decode("utf-8", "replace")
