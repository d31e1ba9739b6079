"""An invocation's log as Lambda writes it: START, the function's output, END and REPORT, or with LogFormat
JSON the platform.start and platform.report records around the output."""

from __future__ import annotations

import base64
import datetime as dt
import json

from faas.model import LATEST

TAIL_BYTES = 4 * 1024
MAX_STORED_LOG_CHARS = 256 * 1024


def report_line(request_id: str, *, duration_ms: float, billed_ms: int, memory_mb: int, max_used_mb: int,
                init_duration_ms: float | None) -> str:
    line = (f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed_ms} ms\t"
            f"Memory Size: {memory_mb} MB\tMax Memory Used: {max_used_mb} MB\t")
    if init_duration_ms is not None:
        line += f"Init Duration: {init_duration_ms:.2f} ms\t"
    return line


def invocation_log(request_id: str, output: str, report: str) -> str:
    if output and not output.endswith("\n"):
        output += "\n"
    if len(output) > MAX_STORED_LOG_CHARS:  # keep the end: that is where failures show
        output = "[faas] earlier output truncated\n" + output[-MAX_STORED_LOG_CHARS:]
    return f"START RequestId: {request_id} Version: {LATEST}\n{output}END RequestId: {request_id}\n{report}\n"


# The level of each platform record AWS writes with LogFormat JSON, and the order of SystemLogLevel's values.
SYSTEM_LEVELS = {"DEBUG": 0, "INFO": 1, "WARN": 2}
PLATFORM_RECORD_LEVEL = "INFO"


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def json_invocation_log(request_id: str, output: str, *, started: dt.datetime, status: str, system_level: str,
                        duration_ms: float, billed_ms: int, memory_mb: int, max_used_mb: int,
                        init_duration_ms: float | None) -> str:
    """The log with platform.start and platform.report JSON records, dropped below `system_level`."""
    if output and not output.endswith("\n"):
        output += "\n"
    if len(output) > MAX_STORED_LOG_CHARS:
        output = "[faas] earlier output truncated\n" + output[-MAX_STORED_LOG_CHARS:]
    if SYSTEM_LEVELS[PLATFORM_RECORD_LEVEL] < SYSTEM_LEVELS.get(system_level, 1):
        return output
    metrics: dict[str, float | int] = {"durationMs": round(duration_ms, 3), "billedDurationMs": billed_ms,
                                       "memorySizeMB": memory_mb, "maxMemoryUsedMB": max_used_mb}
    if init_duration_ms is not None:
        metrics["initDurationMs"] = round(init_duration_ms, 3)
    start = {"time": _iso(started), "type": "platform.start", "record": {"requestId": request_id, "version": LATEST}}
    report = {"time": _iso(started + dt.timedelta(milliseconds=duration_ms)), "type": "platform.report",
              "record": {"requestId": request_id, "metrics": metrics, "status": status}}
    return f"{json.dumps(start)}\n{output}{json.dumps(report)}\n"


def log_tail(log: str) -> str:
    """Base64 of the last 4 KB, for X-Amz-Log-Result."""
    return base64.b64encode(log.encode()[-TAIL_BYTES:]).decode()
