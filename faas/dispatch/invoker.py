"""The synchronous invoke path: take an environment, hand it the event, wait with a deadline, meter."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import time
import uuid

from faas.dispatch.logs import invocation_log, report_line
from faas.dispatch.metering import billed_duration_ms
from faas.dispatch.recorder import Recorder
from faas.model import Function, InvocationRecord, utcnow
from faas.sandbox.environment import Environment, Invocation, Outcome
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
    def __init__(self, pool: Pool, recorder: Recorder, function_arn) -> None:  # type: ignore[no-untyped-def]
        self._pool = pool
        self._recorder = recorder
        self._function_arn = function_arn
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def wait_idle(self) -> None:
        await self._idle.wait()

    async def invoke(self, fn: Function, payload: bytes, client_context: str | None = None) -> Result:
        self.in_flight += 1
        self._idle.clear()
        try:
            return await self._invoke(fn, payload, client_context)
        finally:
            self.in_flight -= 1
            if self.in_flight == 0:
                self._idle.set()

    async def _invoke(self, fn: Function, payload: bytes, client_context: str | None) -> Result:
        request_id = str(uuid.uuid4())
        started_wall = utcnow()
        env, cold = await self._pool.acquire(fn)
        invocation = Invocation(request_id, payload, self._function_arn(fn.name), fn.timeout, client_context)
        env.assign(invocation)
        outcome = await self._run(env, invocation, fn)
        if outcome.environment_lost or env.dead:
            await self._pool.discard(env)
        else:
            self._pool.release(env)

        finished = time.monotonic()
        duration_ms = (finished - invocation.delivered_at) * 1000 if invocation.delivered_at else 0.0
        if outcome.timed_out:
            duration_ms = fn.timeout * 1000.0
        billed_ms = billed_duration_ms(duration_ms)
        init_ms = env.init_duration_ms if cold else None
        output = (env.init_log if cold else "") + invocation.log + _platform_lines(request_id, outcome, fn.timeout)
        report = report_line(request_id, duration_ms=duration_ms, billed_ms=billed_ms, memory_mb=fn.memory_size,
                             max_used_mb=env.max_memory_used_mb(), init_duration_ms=init_ms)
        log = invocation_log(request_id, output, report)
        self._recorder.add(InvocationRecord(
            request_id=request_id, function_name=fn.name, started_at=started_wall, duration_ms=duration_ms,
            billed_duration_ms=billed_ms, memory_size=fn.memory_size, max_memory_used_mb=env.max_memory_used_mb(),
            init_duration_ms=init_ms, cold=cold,
            outcome="timeout" if outcome.timed_out else ("error" if outcome.error_type else "success"),
            error_type=outcome.error_type, log=log,
        ))
        return Result(request_id=request_id, body=outcome.body,
                      function_error="Unhandled" if outcome.error_type else None, log=log)

    async def _run(self, env: Environment, invocation: Invocation, fn: Function) -> Outcome:
        """Wait for the runtime to take the event, then for its answer, each with a deadline."""
        try:
            await asyncio.wait_for(asyncio.shield(invocation.delivered), max(INIT_TIMEOUT_S, fn.timeout))
        except asyncio.TimeoutError:
            if not invocation.outcome.done():  # not taken in time and not failed: init hung
                return await self._time_out(env, invocation, fn)
        if invocation.outcome.done():
            return invocation.outcome.result()
        remaining = fn.timeout - (time.monotonic() - invocation.delivered_at)
        try:
            return await asyncio.wait_for(asyncio.shield(invocation.outcome), max(remaining, 0))
        except asyncio.TimeoutError:
            return await self._time_out(env, invocation, fn)

    async def _time_out(self, env: Environment, invocation: Invocation, fn: Function) -> Outcome:
        # Only the environment that ran over is stopped.
        await self._pool.discard(env)
        message = f"{_timestamp(utcnow())} {invocation.request_id} Task timed out after {fn.timeout:.2f} seconds"
        outcome = Outcome(body=json.dumps({"errorMessage": message, "errorType": "Sandbox.Timedout"}).encode(),
                          error_type="Sandbox.Timedout", timed_out=True, environment_lost=True)
        if not invocation.finish(outcome):  # it answered just in time
            return invocation.outcome.result()
        return outcome


def _timestamp(now: dt.datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _platform_lines(request_id: str, outcome: Outcome, timeout_s: int) -> str:
    """What the platform itself adds to the log when the environment failed."""
    if outcome.timed_out:
        return f"{_timestamp(utcnow())} {request_id} Task timed out after {timeout_s:.2f} seconds\n"
    if outcome.error_type == "Runtime.ExitError":
        return f"{json.loads(outcome.body)['errorMessage']}\nRuntime.ExitError\n"
    return ""
