"""An invocation's log as Lambda writes it: START, the function's output, END and REPORT."""

from __future__ import annotations

import base64

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


def log_tail(log: str) -> str:
    """Base64 of the last 4 KB, for X-Amz-Log-Result."""
    return base64.b64encode(log.encode()[-TAIL_BYTES:]).decode()
