"""One execution environment (a container) and the invocation it is running, as seen by the platform."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import time
from pathlib import Path

from faas.model import Function, timestamp_ms, utcnow
from faas.sandbox.output import OutputPipe
from faas.sandbox.response_stream import ResponseStream


@dataclasses.dataclass
class Outcome:
    """How an invocation ended, as the Runtime API or the platform reported it."""

    body: bytes
    error_type: str | None = None  # None: the function answered; else the errorType of a function error
    timed_out: bool = False
    environment_lost: bool = False  # init failure, exit, timeout: the environment cannot be reused
    streamed: bool = False  # the body went through Invocation.stream (body is empty then)


class Invocation:
    """An event on its way through an environment; the Runtime API fills it in.

    Deadlines are timers on the loop rather than a waiting task per invocation: the runtime must take
    the event within `init_timeout_s` and answer within `timeout_s` of taking it.
    """

    def __init__(self, request_id: str, payload: bytes, function_arn: str, timeout_s: int, init_timeout_s: float,
                 client_context: str | None = None, trace_id: str | None = None) -> None:
        self.request_id = request_id
        self.payload = payload
        self.function_arn = function_arn
        self.timeout_s = timeout_s
        self.client_context = client_context
        # X-Ray's trace header for the runtime (Lambda-Runtime-Trace-Id, which runtimes put in _X_AMZN_TRACE_ID):
        # a function URL's, so the function's trace matches the x-amzn-trace-id in its event; else from the id.
        compact = request_id.replace("-", "")
        self.trace_id = trace_id or f"Root=1-{compact[:8]}-{compact[8:32]};Sampled=0"
        self.deadline_ms = 0
        self.delivered_at = 0.0  # monotonic, when the runtime took the event; 0 until then
        self._loop = asyncio.get_running_loop()
        self.outcome: asyncio.Future[Outcome] = self._loop.create_future()
        self.stream: ResponseStream | None = None  # set when the runtime streams its response
        self.answered = asyncio.Event()  # the runtime began to stream, or the invocation ended
        self.stream_error: Outcome | None = None  # reported while streaming: the stream ends with it
        self._timer = self._loop.call_later(init_timeout_s, self._expire)

    @property
    def delivered(self) -> bool:
        return self.delivered_at > 0

    def deliver(self) -> None:
        self.delivered_at = time.monotonic()
        self.deadline_ms = int(time.time() * 1000) + self.timeout_s * 1000
        self._timer.cancel()
        self._timer = self._loop.call_later(self.timeout_s, self._expire)

    def finish(self, outcome: Outcome) -> bool:
        """Record the outcome; the first one wins (a late /response after a timeout is ignored)."""
        if self.outcome.done():
            return False
        self._timer.cancel()
        self.outcome.set_result(outcome)
        if self.stream is not None:
            self.stream.close()
        self.answered.set()
        return True

    def start_stream(self, content_type: str) -> ResponseStream | None:
        """The runtime streams its response: the channel its chunks take to the caller (None when the
        invocation already ended or streams already)."""
        if self.outcome.done() or self.stream is not None:
            return None
        self.stream = ResponseStream(content_type)
        self.answered.set()
        return self.stream

    def _expire(self) -> None:
        message = f"{timestamp_ms(utcnow())} {self.request_id} Task timed out after {self.timeout_s:.2f} seconds"
        self.finish(Outcome(body=json.dumps({"errorMessage": message, "errorType": "Sandbox.Timedout"}).encode(),
                            error_type="Sandbox.Timedout", timed_out=True, environment_lost=True))


class Environment:
    """A running container; bound to one function revision for life (a prewarmed one on first use).
    Serves one invocation at a time."""

    def __init__(self, container_id: str, ip: str, memory_peak_file: Path | None, started_at: float,
                 function: Function | None = None, runtime: str | None = None, slot: Path | None = None,
                 prewarmed: bool = False, output: OutputPipe | None = None, memory_mb: int | None = None) -> None:
        self.container_id = container_id
        self.ip = ip
        self.memory_peak_file = memory_peak_file
        self._memory_fd: int | None = None
        self.created_at = started_at  # monotonic, before the container was created
        self.started_at = started_at  # monotonic: container start, or specialisation of a prewarmed one
        self.function = function
        self.runtime = runtime or (function.runtime if function else None)
        self.slot = slot  # host directory mounted at /var/task (none for image functions)
        self.prewarmed = prewarmed  # started generic, for whichever function of its runtime comes first
        self.memory_mb = memory_mb if memory_mb is not None else (function.memory_size if function else 0)
        self.init_duration_ms: float | None = None  # set when the runtime first asks for work
        self.session_key: str | None = None  # the role credentials this environment holds
        self.retire_at = float("inf")  # monotonic: stop at the next release after this (credentials age)
        self.output = output  # the container's stdout and stderr
        self.log_stream: str | None = None  # AWS_LAMBDA_LOG_STREAM_NAME, which its invocation records name
        self.invocations = 0
        self.dead = False
        self.idle_since = time.monotonic()
        self.current: Invocation | None = None
        self._waiter: asyncio.Future[Invocation] | None = None
        self._specialization: asyncio.Future[dict[str, str]] | None = None

    @property
    def key(self) -> tuple[str, str] | None:
        return (self.function.name, self.function.revision_id) if self.function else None

    # -- prewarmed environments ------------------------------------------------------------------

    async def specialization(self) -> dict[str, str]:
        """What a prewarmed runtime's /specialize long poll waits for: its function's environment."""
        if self._specialization is None:
            self._specialization = asyncio.get_running_loop().create_future()
        return await self._specialization

    def specialize(self, fn: Function, environment: dict[str, str], *, prewarmed: bool) -> None:
        """Bind to `fn` and hand the runtime its environment. Init Duration of a prewarmed environment
        counts from here; a fresh container's counts from its start."""
        self.function = fn
        self.log_stream = environment.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.runtime = fn.runtime or self.runtime  # a provided.al2 function in a provided.al2023 environment
        if prewarmed:
            self.started_at = time.monotonic()
        if self._specialization is None:
            self._specialization = asyncio.get_running_loop().create_future()
        self._specialization.set_result(environment)

    # -- invocations ---------------------------------------------------------------------------------

    def assign(self, invocation: Invocation) -> None:
        self.current = invocation
        self.invocations += 1
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(invocation)
            self._waiter = None

    async def next_invocation(self) -> Invocation:
        """What the runtime's long-polling /next waits on."""
        if self.init_duration_ms is None:
            self.init_duration_ms = (time.monotonic() - self.started_at) * 1000
        if self.current is not None and not self.current.delivered:
            return self.current
        if self._waiter is not None and not self._waiter.done():
            self._waiter.cancel()  # one poller per environment: a newer /next replaces an abandoned one
        self._waiter = asyncio.get_running_loop().create_future()
        return await self._waiter

    def exited(self, exit_code: int, oom_killed: bool) -> None:
        """The container stopped: its invocation, if any, ends with Lambda's `Runtime.ExitError`."""
        invocation = self.current
        if invocation is None:
            return
        killed = oom_killed or exit_code == 137
        reason = "signal: killed" if killed else f"exit status {exit_code}"
        message = f"RequestId: {invocation.request_id} Error: Runtime exited with error: {reason}"
        if oom_killed and self.function is not None:
            # Files in /tmp and /dev/shm live in memory: a /tmp bigger than the memory left fills it first.
            message += (f" (out of memory: the function needs more than {self.function.memory_size} MB; "
                        "files in /tmp and /dev/shm count towards it)")
        body = json.dumps({"errorType": "Runtime.ExitError", "errorMessage": message}).encode()
        invocation.finish(Outcome(body=body, error_type="Runtime.ExitError", environment_lost=True))

    def take_output(self) -> str:
        """What the container wrote since the previous invocation ended (its init, for the first one)."""
        return self.output.take() if self.output is not None else ""

    def max_memory_used_mb(self) -> int:
        """Peak memory of the container so far, read from its cgroup (kept open: this runs per invoke)."""
        try:
            if self._memory_fd is None:
                if self.memory_peak_file is None:
                    return 0
                self._memory_fd = os.open(self.memory_peak_file, os.O_RDONLY)
            return int(os.pread(self._memory_fd, 32, 0)) // (1024 * 1024)
        except (OSError, ValueError):
            return 0

    def mark_dead(self) -> None:
        self.dead = True
        if self.output is not None:
            self.output.close()  # what is left in the pipe stays readable for its invocation's log
        if self._memory_fd is not None:
            os.close(self._memory_fd)
            self._memory_fd = None
        for future in (self._waiter, self._specialization):
            if future is not None and not future.done():
                future.cancel()
