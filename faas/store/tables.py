"""The SQL schema, declared once; alembic migrations in migrations/ must build exactly this."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    ForeignKey,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
    }
)

functions = Table(
    "functions",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("runtime", String(32), nullable=True),
    Column("handler", String(128), nullable=True),
    Column("role", String(2048), nullable=False),
    Column("description", String(256), nullable=False, default=""),
    Column("memory_size", Integer, nullable=False),
    Column("timeout", Integer, nullable=False),
    Column("ephemeral_storage", Integer, nullable=False),
    Column("environment", Text, nullable=False),  # legacy plaintext JSON, emptied at start; see env_ciphertext
    Column("package_type", String(8), nullable=False),
    # A blob can only be dropped once no function uses it, even with a concurrent create in flight.
    Column("code_sha256", String(64), ForeignKey("code_blobs.sha256"), nullable=True),
    Column("code_size", BigInteger, nullable=False),
    Column("image_uri", String(512), nullable=True),
    Column("image_config", Text, nullable=False),  # JSON object
    Column("revision_id", String(36), nullable=False),
    Column("last_modified", DateTime(timezone=True), nullable=False),
    Column("reserved_concurrency", Integer, nullable=True),
    # Environment variables: AES-256-GCM under a per-function data key, itself sealed by the master key.
    Column("env_ciphertext", LargeBinary, nullable=True),
    Column("data_key", LargeBinary, nullable=True),
    Column("architecture", String(16), nullable=False, server_default="x86_64"),
    Column("logging_config", Text, nullable=False, server_default="{}"),  # JSON: LogFormat JSON and its levels
    Column("dead_letter_target", String(256), nullable=True),
    Column("owner", String(2048), nullable=True),  # the creating principal's ARN; NULL before 0018
)

# A function's tags (TagResource, ListTags, CreateFunction's Tags): they go when the function goes.
function_tags = Table(
    "function_tags",
    metadata,
    Column("function_name", String(64), ForeignKey("functions.name", ondelete="CASCADE"), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("value", String(256), nullable=False),
)

# Zips are stored once per content hash, shared by every function that uploads the same bytes.
code_blobs = Table(
    "code_blobs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

invocations = Table(
    "invocations",
    metadata,
    # An asynchronous invocation keeps its request id across retries: each attempt is its own record.
    Column("request_id", String(36), primary_key=True),
    Column("function_name", String(64), nullable=False, index=True),
    Column("started_at", DateTime(timezone=True), primary_key=True, index=True),
    Column("duration_ms", Float, nullable=False),
    Column("billed_duration_ms", Integer, nullable=False),
    Column("memory_size", Integer, nullable=False),
    Column("max_memory_used_mb", Integer, nullable=False),
    Column("init_duration_ms", Float, nullable=True),
    Column("cold", Boolean, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("error_type", String(128), nullable=True),
    Column("log", Text, nullable=False),
    # The environment's CloudWatch Logs stream (its AWS_LAMBDA_LOG_STREAM_NAME), and when the invocation ended
    # (InvocationRecord.ended_at, the time of its log's events): NULL for records made before.
    Column("log_stream", String(128), nullable=True),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    # CloudWatch Logs' reads: a stream's records in order, and a group's records in order from a time on.
    Index("ix_invocations_function_name_log_stream", "function_name", "log_stream", "ended_at"),
    Index("ix_invocations_function_name_ended_at", "function_name", "ended_at", "request_id"),
)

# CloudWatch Logs groups, /aws/lambda/<function_name>: made with a function's first record, kept (with the
# records) after the function is deleted, as AWS keeps them; `retention_in_days` NULL keeps records as long as
# the node's invocation_retention_days does.
log_groups = Table(
    "log_groups",
    metadata,
    Column("function_name", String(64), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("retention_in_days", Integer, nullable=True),
)

access_keys = Table(
    "access_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("principal", String(64), nullable=False, index=True),
    Column("secret", LargeBinary, nullable=False),  # sealed with the master key
    Column("enabled", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

principals = Table(
    "principals",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),  # user | service
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Inline identity policies, as IAM's PutUserPolicy / PutRolePolicy keep them.
principal_policies = Table(
    "principal_policies",
    metadata,
    Column("principal", String(64), ForeignKey("principals.name", ondelete="CASCADE"), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("document", Text, nullable=False),
)

roles = Table(
    "roles",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("description", String(256), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

role_policies = Table(
    "role_policies",
    metadata,
    Column("role", String(64), ForeignKey("roles.name", ondelete="CASCADE"), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("document", Text, nullable=False),
)

# Short-lived credentials handed to execution environments for their function's role.
sessions = Table(
    "sessions",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("secret", LargeBinary, nullable=False),  # sealed with the master key
    Column("token_hash", String(64), nullable=False),
    Column("role", String(64), nullable=False),
    Column("function_name", String(64), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked", Boolean, nullable=False),
    Column("node", String(32), nullable=True),
)

# Bearer tokens for curl and scripts; only their SHA-256 is kept. A token dies with the access key
# that minted it: deleting the key deletes its tokens, disabling it revokes them.
tokens = Table(
    "tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("token_id", String(32), nullable=False, unique=True),  # what listing shows and revoking names
    Column("principal", String(64), ForeignKey("principals.name", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("key_id", String(32), ForeignKey("access_keys.key_id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Function (resource) policies: one row per AddPermission statement.
function_permissions = Table(
    "function_permissions",
    metadata,
    Column("function_name", String(64), ForeignKey("functions.name", ondelete="CASCADE"), primary_key=True),
    Column("sid", String(100), primary_key=True),
    Column("statement", Text, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("principal", String(256), nullable=False, index=True),
    Column("action", String(64), nullable=False, index=True),
    Column("resource", String(512), nullable=False),
    Column("status", Integer, nullable=False),
    Column("outcome", String(16), nullable=False),  # allowed | denied | failed
    Column("request_id", String(36), nullable=False),
    Column("source_ip", String(64), nullable=False),
)

# Small facts about the installation, e.g. a sealed canary that proves the master key is the right one.
meta = Table(
    "meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)

# Pending work of every kind, each row claimed under a lease by one owner at a time and deleted once done
# (faas/store/work.py): asynchronous invocations now; queue messages, topic deliveries and schedule firings next.
work_items = Table(
    "work_items",
    metadata,
    # A short handle for renew/complete/release (one number rather than kind and key). 64 bits on PostgreSQL,
    # where a busy queue would run through 32; SQLite's rowid is 64 bits already.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("kind", String(128), nullable=False),  # the line it waits in: claimers name it ("async", ...)
    Column("key", String(256), nullable=False),  # unique per kind: the same pending work added twice is added once
    # Items of one group are claimed one at a time in the order they were added (FIFO queues' message groups);
    # NULL for work with no order, such as asynchronous invocations.
    Column("group_key", String(128), nullable=True),
    Column("payload", LargeBinary, nullable=False),  # opaque to the store: the kind's user encodes it
    Column("created_at", DateTime(timezone=True), nullable=False),  # for maximum ages and the oldest's age
    # When it may next be claimed: when it is first due, after a retry delay, or when its owner's lease runs
    # out (SQS's visibility timeout is the same idea): one column, so one index range finds all claimable work.
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False),  # claims so far (approximateInvokeCount, ApproximateReceiveCount)
    Column("owner", String(64), nullable=True, index=True),  # who holds the lease (a node id); NULL while waiting
    Column("first_claimed_at", DateTime(timezone=True), nullable=True),  # SQS's ApproximateFirstReceiveTimestamp
    UniqueConstraint("kind", "key", name="uq_work_items_kind_key"),
    Index("ix_work_items_kind_due_at", "kind", "due_at"),
    Index("ix_work_items_kind_group_key", "kind", "group_key"),  # finds a group's earlier items
)

# Asynchronous invocations that failed for good (faas.store.async_failures): their work item is gone, and this
# is what `faas events NAME` lists of them. Kept as long as invocation records (the retention sweeper), and gone
# with their function. Never the payload, which may carry secrets: its size.
async_failures = Table(
    "async_failures",
    metadata,
    Column("request_id", String(36), primary_key=True),
    Column("function_name", String(64), ForeignKey("functions.name", ondelete="CASCADE"), nullable=False),
    Column("enqueued_at", DateTime(timezone=True), nullable=False),
    Column("failed_at", DateTime(timezone=True), nullable=False, index=True),
    Column("attempts", Integer, nullable=False),
    Column("reason", String(32), nullable=False),  # the destination record's condition: RetriesExhausted, ...
    Column("error_type", String(128), nullable=True),  # the last attempt's errorType, when it had one
    Column("payload_bytes", Integer, nullable=False),
    Column("sent_to", Text, nullable=False),  # JSON list: the ARNs the failure was delivered to; [] when dropped
    Index("ix_async_failures_function_name_failed_at", "function_name", "failed_at"),
)

# SQS queues' metadata; their messages are work items of kind "sqs:<name>" (faas.store.work).
queues = Table(
    "queues",
    metadata,
    Column("name", String(80), primary_key=True),
    Column("attributes", Text, nullable=False),  # JSON: the queue's settable attributes, every one filled in
    Column("tags", Text, nullable=False),  # JSON object
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("modified_at", DateTime(timezone=True), nullable=False),
)

# FIFO queues' deduplication ids accepted within the deduplication interval (five minutes). `scope` is the
# message group under DeduplicationScope=messageGroup, "" under messageQueue.
queue_deduplication = Table(
    "queue_deduplication",
    metadata,
    Column("queue", String(80), primary_key=True),
    Column("scope", String(128), primary_key=True),
    Column("deduplication_id", String(128), primary_key=True),
    Column("message_id", String(64), nullable=False),  # the original's, answered to a duplicate
    Column("sequence_number", BigInteger, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# SNS topics; what a publish fans out to waits as work items: a delivery of kind "sns" per queue or HTTP
# subscription, an asynchronous invocation ("async") per function subscription (faas.store.topics).
topics = Table(
    "topics",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("attributes", Text, nullable=False),  # JSON: the topic's settable attributes
    Column("tags", Text, nullable=False),  # JSON object
    Column("sequence", BigInteger, nullable=False),  # a FIFO topic's last SequenceNumber
    Column("created_at", DateTime(timezone=True), nullable=False),
)

topic_subscriptions = Table(
    "topic_subscriptions",
    metadata,
    Column("id", String(36), primary_key=True),  # the ARN's last part
    Column("topic", String(256), nullable=False, index=True),
    Column("protocol", String(16), nullable=False),  # lambda | sqs | http | https
    Column("endpoint", Text, nullable=False),
    Column("owner", String(2048), nullable=False),  # who subscribed (a principal's ARN)
    Column("attributes", Text, nullable=False),  # JSON: FilterPolicy, FilterPolicyScope, RawMessageDelivery...
    Column("confirmed", Boolean, nullable=False),
    # SHA-256 of the confirmation token an HTTP endpoint is sent (the token itself is never stored here).
    Column("token_hash", String(64), nullable=True, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# FIFO topics' deduplication ids accepted within the last five minutes, with the message each one named.
topic_deduplication = Table(
    "topic_deduplication",
    metadata,
    Column("topic", String(256), primary_key=True),
    Column("deduplication_id", String(128), primary_key=True),
    Column("message_id", String(64), nullable=False),
    Column("sequence_number", BigInteger, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# Event source mappings (Lambda's CreateEventSourceMapping): which queue feeds which function, and how. The
# pollers (faas/sources/queue_pollers.py) read them; the queue's messages stay its own work items.
event_source_mappings = Table(
    "event_source_mappings",
    metadata,
    Column("uuid", String(36), primary_key=True),
    Column("function_name", String(64), nullable=False, index=True),
    Column("source_arn", String(256), nullable=False, index=True),
    Column("batch_size", Integer, nullable=False),
    Column("window_s", Integer, nullable=False),  # MaximumBatchingWindowInSeconds
    Column("enabled", Boolean, nullable=False),  # what the user asked for; `state` is where it got to
    Column("response_types", Text, nullable=False),  # JSON list: FunctionResponseTypes
    Column("filters", Text, nullable=False),  # JSON list of the FilterCriteria patterns, as given
    Column("max_concurrency", Integer, nullable=True),  # ScalingConfig.MaximumConcurrency
    Column("state", String(16), nullable=False),
    Column("state_reason", String(256), nullable=False),
    Column("last_result", String(256), nullable=False),  # LastProcessingResult
    Column("revision", Integer, nullable=False),  # bumped by every change, so a poller settles only what it saw
    Column("last_modified", DateTime(timezone=True), nullable=False),
)

event_invoke_configs = Table(
    "event_invoke_configs",
    metadata,
    Column("function_name", String(64), ForeignKey("functions.name", ondelete="CASCADE"), primary_key=True),
    Column("maximum_retry_attempts", Integer, nullable=False),
    Column("maximum_event_age_s", Integer, nullable=False),
    Column("on_success", String(256), nullable=True),
    Column("on_failure", String(256), nullable=True),
    Column("last_modified", DateTime(timezone=True), nullable=False),
)

function_urls = Table(
    "function_urls",
    metadata,
    Column("function_name", String(64), ForeignKey("functions.name", ondelete="CASCADE"), primary_key=True),
    Column("url_id", String(40), nullable=False, unique=True),
    Column("auth_type", String(16), nullable=False),
    Column("cors", Text, nullable=False),  # JSON object, {} when none
    Column("invoke_mode", String(16), nullable=False, server_default="BUFFERED"),  # BUFFERED | RESPONSE_STREAM
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_modified", DateTime(timezone=True), nullable=False),
)

# EventBridge's event buses ("default" is created by the migration and never deleted), their rules and the
# rules' targets. Events themselves are not kept: PutEvents writes each matched target's delivery as leased
# work (kind "events", faas/sources/event_deliveries.py).
event_buses = Table(
    "event_buses",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("description", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("modified_at", DateTime(timezone=True), nullable=False),
)

event_rules = Table(
    "event_rules",
    metadata,
    Column("bus", String(256), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("event_pattern", Text, nullable=True),  # as given (JSON text); checked when stored
    Column("schedule_expression", String(256), nullable=True),
    Column("state", String(32), nullable=False),  # ENABLED | DISABLED
    Column("description", Text, nullable=False),
    Column("role_arn", String(1600), nullable=False),  # "" when none
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("modified_at", DateTime(timezone=True), nullable=False),
    # A schedule rule's next due time not yet fired: a node fires it by moving it on from the value it read, in
    # the transaction that writes the deliveries, so each due time fires once whatever the number of nodes.
    Column("next_due", DateTime(timezone=True), nullable=True, index=True),
)

event_targets = Table(
    "event_targets",
    metadata,
    Column("bus", String(256), primary_key=True),
    Column("rule", String(64), primary_key=True),
    Column("target_id", String(64), primary_key=True),
    Column("arn", String(1600), nullable=False),
    Column("definition", Text, nullable=False),  # JSON: the Target as PutTargets stored it (RoleArn, Input, ...)
)

# HTTP APIs (API Gateway v2): each API, and its routes, integrations, stages and authorizers as "parts". Both
# keep the resource as API Gateway answers it (a JSON document in the wire's field names), which the service
# checks before it is stored; the columns beside it are what SQL must enforce or find.
http_apis = Table(
    "http_apis",
    metadata,
    Column("api_id", String(16), primary_key=True),
    Column("document", Text, nullable=False),  # JSON: the Api shape
    Column("created_at", DateTime(timezone=True), nullable=False),  # GetApis's order
)

http_api_parts = Table(
    "http_api_parts",
    metadata,
    Column("api_id", String(16), ForeignKey("http_apis.api_id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(16), primary_key=True),  # route | integration | stage | authorizer
    Column("part_id", String(128), primary_key=True),  # routeId, integrationId, stageName, authorizerId
    # What must be unique within the API and kind besides the id: a route's key. NULL for the other kinds.
    Column("unique_key", String(512), nullable=True),
    Column("document", Text, nullable=False),  # JSON: the Route, Integration, Stage or Authorizer shape
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("api_id", "kind", "unique_key", name="uq_http_api_parts_api_id_kind_unique_key"),
)


schedule_groups = Table(
    "schedule_groups",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_modified", DateTime(timezone=True), nullable=False),
)

# EventBridge Scheduler's schedules. `next_due` is the next due time not yet fired (None: none is left) and
# `fire_at` when it fires (later by the flexible window's offset): a node fires a schedule by moving `next_due`
# on from the value it read, in the transaction that queues the delivery, so each due time fires once.
schedules = Table(
    "schedules",
    metadata,
    Column("group_name", String(64), ForeignKey("schedule_groups.name", ondelete="CASCADE"), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("expression", String(256), nullable=False),
    Column("timezone", String(50), nullable=False),
    Column("start_date", DateTime(timezone=True), nullable=True),
    Column("end_date", DateTime(timezone=True), nullable=True),
    Column("description", String(512), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("target", Text, nullable=False),  # the Target structure, as JSON
    Column("flexible_window_min", Integer, nullable=True),  # FLEXIBLE's MaximumWindowInMinutes; None is OFF
    Column("delete_after_completion", Boolean, nullable=False),  # ActionAfterCompletion DELETE
    Column("next_due", DateTime(timezone=True), nullable=True),
    Column("fire_at", DateTime(timezone=True), nullable=True, index=True),
    Column("skipped", Integer, nullable=False),  # due times skipped because they were missed by more than the window
    Column("last_skipped_at", DateTime(timezone=True), nullable=True),  # the last due time skipped
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_modified", DateTime(timezone=True), nullable=False),
    Column("client_token", String(64), nullable=True),  # CreateSchedule's, so a retried create is answered again
)

# Web console sessions (faas/console/sessions.py): only the SHA-256 of the cookie's value is kept, so a
# copy of the database signs nobody in. A session dies with the access key it was opened with.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("session_hash", String(64), primary_key=True),
    Column("principal", String(64), ForeignKey("principals.name", ondelete="CASCADE"), nullable=False),
    Column("key_id", String(32), ForeignKey("access_keys.key_id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


# Usage rolled up as invocation records are written: one row per month, function and owner, so a month's
# usage is read from these rows and never from the raw records. Billed memory-time is kept exactly, in
# MB-milliseconds (GB-seconds = mb_ms / 1024 / 1000).
usage_rollups = Table(
    "usage_rollups",
    metadata,
    Column("month", String(7), primary_key=True),  # YYYY-MM, UTC
    Column("function_name", String(64), primary_key=True),
    Column("owner", String(2048), primary_key=True),  # "unknown" for functions without an owner
    Column("requests", BigInteger, nullable=False),
    Column("errors", BigInteger, nullable=False),
    Column("throttles", BigInteger, nullable=False),
    Column("cold_starts", BigInteger, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("billed_ms", BigInteger, nullable=False),
    Column("mb_ms", BigInteger, nullable=False),
)

# An owner's monthly limits: past either, its functions are throttled until the month ends.
budgets = Table(
    "budgets",
    metadata,
    Column("owner", String(2048), primary_key=True),
    Column("gb_seconds", Float, nullable=True),
    Column("cost", Float, nullable=True),  # USD, priced without the free tier
)
