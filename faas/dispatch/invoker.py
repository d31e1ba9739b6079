"""The synchronous invoke path: admit, take an environment, hand it the event, wait for the outcome
(the invocation's own timers enforce the deadlines), meter and record."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from faas.dispatch.concurrency import Limiter
from faas.dispatch.logs import invocation_log, json_invocation_log, report_line
from faas.billing import Metering
from faas.dispatch.recorder import Recorder
from faas.dispatch.usage import UsageMeter
from faas.errors import TooManyRequests
from faas.metrics import Metrics
from faas.model import Function, InvocationRecord, utcnow
from faas.sandbox.environment import Invocation, Outcome
from faas.sandbox.pool import Pool
from faas.sandbox.response_stream import ResponseStream
from faas.sandbox.runtime_api import MAX_RESPONSE_BYTES
from faas.server_log import Repeated

logger = logging.getLogger(__name__)  # not `log`: that is an invocation's log here
repeated = Repeated(logger)  # per function: a burst of throttles or failures is one line per 10 s

# Lambda gives the init phase 10 s (more when the function's own timeout is longer).
INIT_TIMEOUT_S = 10


# What a streaming caller does with a streamed response: read it to its end (or abandon it).
Consumer = Callable[[ResponseStream], Awaitable[None]]


@dataclasses.dataclass(frozen=True)
class Result:
    request_id: str
    body: bytes  # empty when a consumer took the streamed response; the error body on failure
    function_error: str | None  # "Unhandled" when the function failed
    log: str
    error_type: str | None = None  # the function's (or the platform's) errorType
    content_type: str | None = None  # what the function streamed, when it streamed


class Invoker:
    def __init__(self, pool: Pool, recorder: Recorder, limiter: Limiter,
                 function_arn: Callable[[str], str], *, metering: Metering = Metering(),
                 usage: UsageMeter | None = None, metrics: Metrics | None = None) -> None:
        self._pool = pool
        self._metering = metering
        self._usage = usage
        self._metrics = metrics  # None when FAAS_METRICS_ENABLED is off
        self._recorder = recorder
        self.limiter = limiter
        self._function_arn = function_arn
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def wait_idle(self) -> None:
        await self._idle.wait()

    async def invoke(self, fn: Function, payload: bytes, client_context: str | None = None,
                     request_id: str | None = None, trace_id: str | None = None,
                     consume: Consumer | None = None) -> Result:
        """Run one invocation. A response the function streams goes to `consume` as it arrives; without
        one (a buffered caller) it is collected, up to the buffered limit."""
        try:  # 429 before any work
            if self._usage is not None:
                self._usage.admit(fn)
            unreserved = self.limiter.admit(fn.name)
        except TooManyRequests as refusal:
            repeated.warning(f"throttle:{fn.name}", "throttled an invocation of %s: %s", fn.name, refusal.fields.get("Reason") or refusal.message)
            if self._usage is not None:
                self._usage.throttled(fn)
            if self._metrics is not None:
                self._metrics.throttled(fn.name, refusal.fields.get("Reason", ""))
            raise
        self.in_flight += 1
        self._idle.clear()
        try:
            return await self._invoke(fn, payload, client_context, request_id or str(uuid.uuid4()), trace_id,
                                      consume)
        finally:
            self.limiter.release(fn.name, unreserved)
            self.in_flight -= 1
            if self.in_flight == 0:
                self._idle.set()

    async def _invoke(self, fn: Function, payload: bytes, client_context: str | None, request_id: str,
                      trace_id: str | None, consume: Consumer | None) -> Result:
        started_wall = utcnow()
        env, cold = await self._pool.acquire(fn)
        invocation = Invocation(request_id, payload, self._function_arn(fn.name), fn.timeout,
                                max(INIT_TIMEOUT_S, fn.timeout) if cold else fn.timeout, client_context, trace_id)
        env.assign(invocation)
        await invocation.answered.wait()
        stream = invocation.stream
        collected = b""
        if stream is not None and consume is None:
            collected = await _collect(invocation, stream)
        elif stream is not None and consume is not None:
            try:
                await consume(stream)
            except ConnectionError:
                stream.abandon()  # the caller went away: the function runs to its end, its output is dropped
        outcome = await invocation.outcome
        finished = time.monotonic()
        # Everything the container wrote until now (its init too, on a cold start), before the environment
        # may be stopped: written before its answer or its crash, it is in the pipe already.
        output = env.take_output() + _platform_lines(outcome)
        max_used_mb = env.max_memory_used_mb()
        if outcome.environment_lost or env.dead:
            await self._pool.discard(env)  # only the environment that failed or ran over
        else:
            self._pool.release(env)

        duration_ms = (finished - invocation.delivered_at) * 1000 if invocation.delivered else 0.0
        if outcome.timed_out:
            duration_ms = fn.timeout * 1000.0
        init_ms = env.init_duration_ms if cold else None
        billed_ms = self._metering.billed_ms(duration_ms, init_ms)
        metrics = dict(duration_ms=duration_ms, billed_ms=billed_ms, memory_mb=fn.memory_size,
                       max_used_mb=max_used_mb, init_duration_ms=init_ms)
        result = "timeout" if outcome.timed_out else ("error" if outcome.error_type else "success")
        if fn.logging_config.get("LogFormat") == "JSON":
            log = json_invocation_log(request_id, output, started=started_wall, status=result,
                                      system_level=fn.logging_config["SystemLogLevel"], **metrics)
        else:
            log = invocation_log(request_id, output, report_line(request_id, **metrics))
        record = InvocationRecord(
            request_id=request_id, function_name=fn.name, started_at=started_wall, duration_ms=duration_ms,
            billed_duration_ms=billed_ms, memory_size=fn.memory_size, max_memory_used_mb=max_used_mb,
            init_duration_ms=init_ms, cold=cold,
            outcome=result,
            error_type=outcome.error_type, log=log, log_stream=env.log_stream,
        )
        self._recorder.add(record)
        if outcome.error_type:
            # The error type only: its message and the function's output may carry the event's data.
            repeated.warning(f"failure:{fn.name}", "function %s failed (request %s): %s%s", fn.name, request_id, outcome.error_type,
                        " after its timeout" if outcome.timed_out else "")
        if self._usage is not None:
            self._usage.invoked(fn, record)
        if self._metrics is not None:
            self._metrics.invoked(fn.name, result, duration_ms, init_ms, cold)
        body = collected if stream is not None and outcome.error_type is None else outcome.body
        return Result(request_id=request_id, body=body,
                      function_error="Unhandled" if outcome.error_type else None, log=log,
                      error_type=outcome.error_type, content_type=stream.content_type if stream else None)


async def _collect(invocation: Invocation, stream: ResponseStream) -> bytes:
    """What a buffered caller gets of a streamed response: all of it, or the error of a response bigger
    than a buffered one may be (the invocation fails; the rest of the stream is dropped)."""
    chunks, size = [], 0
    while (chunk := await stream.read()) is not None:
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            stream.abandon()
            message = f"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
            invocation.finish(Outcome(
                body=json.dumps({"errorMessage": message, "errorType": "Function.ResponseSizeTooLarge"}).encode(),
                error_type="Function.ResponseSizeTooLarge", streamed=True))
            return b""
        chunks.append(chunk)
    return b"".join(chunks)


def _platform_lines(outcome: Outcome) -> str:
    """What the platform itself adds to the log when the environment failed."""
    if outcome.timed_out or outcome.error_type == "Runtime.ExitError":
        message = json.loads(outcome.body)["errorMessage"]
        return f"{message}\n" + ("Runtime.ExitError\n" if not outcome.timed_out else "")
    return ""
