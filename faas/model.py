"""The platform's domain values: functions and invocation records, free of SQL and HTTP."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

LATEST = "$LATEST"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def timestamp_ms(value: dt.datetime, zone: str = "Z") -> str:
    """`2020-04-10T19:06:32.563Z`: a UTC time to the millisecond, as Lambda writes it in answers and logs.

    `value` is already in UTC (it is not converted); `zone` is the suffix, "Z" or Lambda's "+0000"."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}{zone}"


@dataclasses.dataclass(frozen=True)
class Function:
    name: str
    runtime: str | None  # None for PackageType Image
    handler: str | None
    role: str
    description: str
    memory_size: int
    timeout: int
    ephemeral_storage: int
    environment: dict[str, str] = dataclasses.field(repr=False)  # secrets: never in a repr or a log
    package_type: str  # "Zip" or "Image"
    code_sha256: str | None  # hex digest of the zip
    code_size: int
    image_uri: str | None
    image_config: dict[str, Any]
    revision_id: str
    last_modified: dt.datetime
    reserved_concurrency: int | None = None  # None: draws on the node's unreserved pool
    architecture: str = "x86_64"  # Lambda's name for the instruction set: x86_64 or arm64
    # The stored form of `environment`: AES-256-GCM under the function's data key, sealed by the master key.
    env_ciphertext: bytes | None = dataclasses.field(default=None, repr=False)
    data_key: bytes | None = dataclasses.field(default=None, repr=False)
    # LogFormat JSON with ApplicationLogLevel and SystemLogLevel; empty for the default Text format.
    logging_config: dict[str, str] = dataclasses.field(default_factory=dict)
    # The SQS queue or SNS topic (ARN) that gets the asynchronous events that failed every attempt.
    dead_letter_target: str | None = None
    # The principal (ARN) that created the function, whose usage and budget it counts in; None for functions
    # created before owners were recorded (usage reports them under "unknown").
    owner: str | None = None

    def replace(self, **changes: Any) -> Function:
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class InvocationRecord:
    request_id: str
    function_name: str
    started_at: dt.datetime
    duration_ms: float
    billed_duration_ms: int
    memory_size: int
    max_memory_used_mb: int
    init_duration_ms: float | None
    cold: bool
    outcome: str  # success | error | timeout
    error_type: str | None
    log: str
    log_stream: str | None = None  # the environment's CloudWatch Logs stream (AWS_LAMBDA_LOG_STREAM_NAME)

    @property
    def ended_at(self) -> dt.datetime:
        """When the invocation ended: its log's time in CloudWatch Logs (stored beside it, see faas.store)."""
        return self.started_at + dt.timedelta(milliseconds=self.duration_ms)


@dataclasses.dataclass(frozen=True)
class AccessKey:
    key_id: str
    principal: str
    secret: bytes  # sealed by the master key; never the plain secret
    enabled: bool
    created_at: dt.datetime
