"""The synchronous invoke path: admit, take an environment, hand it the event, wait for the outcome
(the invocation's own timers enforce the deadlines), meter and record."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from collections.abc import Callable

from faas.dispatch.concurrency import Limiter
from faas.dispatch.logs import invocation_log, json_invocation_log, report_line
from faas.dispatch.metering import billed_duration_ms
from faas.dispatch.recorder import Recorder
from faas.model import Function, InvocationRecord, utcnow
from faas.sandbox.environment import Invocation, Outcome
from faas.sandbox.pool import Pool

# Lambda gives the init phase 10 s (more when the function's own timeout is longer).
INIT_TIMEOUT_S = 10


@dataclasses.dataclass(frozen=True)
class Result:
    request_id: str
    body: bytes
    function_error: str | None  # "Unhandled" when the function failed
    log: str


class Invoker:
    def __init__(self, pool: Pool, recorder: Recorder, limiter: Limiter,
                 function_arn: Callable[[str], str]) -> None:
        self._pool = pool
        self._recorder = recorder
        self.limiter = limiter
        self._function_arn = function_arn
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def wait_idle(self) -> None:
        await self._idle.wait()

    async def invoke(self, fn: Function, payload: bytes, client_context: str | None = None,
                     request_id: str | None = None, trace_id: str | None = None) -> Result:
        unreserved = self.limiter.admit(fn.name)  # 429 before any work
        self.in_flight += 1
        self._idle.clear()
        try:
            return await self._invoke(fn, payload, client_context, request_id or str(uuid.uuid4()), trace_id)
        finally:
            self.limiter.release(fn.name, unreserved)
            self.in_flight -= 1
            if self.in_flight == 0:
                self._idle.set()

    async def _invoke(self, fn: Function, payload: bytes, client_context: str | None, request_id: str,
                      trace_id: str | None) -> Result:
        started_wall = utcnow()
        env, cold = await self._pool.acquire(fn)
        invocation = Invocation(request_id, payload, self._function_arn(fn.name), fn.timeout,
                                max(INIT_TIMEOUT_S, fn.timeout) if cold else fn.timeout, client_context, trace_id)
        env.assign(invocation)
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
        billed_ms = billed_duration_ms(duration_ms)
        init_ms = env.init_duration_ms if cold else None
        metrics = dict(duration_ms=duration_ms, billed_ms=billed_ms, memory_mb=fn.memory_size,
                       max_used_mb=max_used_mb, init_duration_ms=init_ms)
        result = "timeout" if outcome.timed_out else ("error" if outcome.error_type else "success")
        if fn.logging_config.get("LogFormat") == "JSON":
            log = json_invocation_log(request_id, output, started=started_wall, status=result,
                                      system_level=fn.logging_config["SystemLogLevel"], **metrics)
        else:
            log = invocation_log(request_id, output, report_line(request_id, **metrics))
        self._recorder.add(InvocationRecord(
            request_id=request_id, function_name=fn.name, started_at=started_wall, duration_ms=duration_ms,
            billed_duration_ms=billed_ms, memory_size=fn.memory_size, max_memory_used_mb=max_used_mb,
            init_duration_ms=init_ms, cold=cold,
            outcome=result,
            error_type=outcome.error_type, log=log,
        ))
        return Result(request_id=request_id, body=outcome.body,
                      function_error="Unhandled" if outcome.error_type else None, log=log)


def _platform_lines(outcome: Outcome) -> str:
    """What the platform itself adds to the log when the environment failed."""
    if outcome.timed_out or outcome.error_type == "Runtime.ExitError":
        message = json.loads(outcome.body)["errorMessage"]
        return f"{message}\n" + ("Runtime.ExitError\n" if not outcome.timed_out else "")
    return ""
