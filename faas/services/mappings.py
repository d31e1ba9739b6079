"""Event source mappings for SQS queues (Lambda's CreateEventSourceMapping and the rest): their settings,
checked as Lambda checks them, the execution-role check, their states and Lambda's shape of them.

A change answers at once in a transitional state (Creating, Enabling, Updating, Disabling, Deleting); the
pollers (faas/sources/queue_pollers.py), woken by `changed`, settle it: Enabled or Disabled, or the row goes.

Settings that only apply to other event sources (streams, Kafka, MQ, DocumentDB) are refused by name, as
faas/services/parameters.py refuses function parameters faas does not implement: accepting one would let a
user believe it applies.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import uuid as uuids
from collections.abc import Callable
from typing import Any

from faas.errors import (
    InvalidEventPattern,
    InvalidParameterValue,
    ResourceConflict,
    ResourceInUse,
    ResourceNotFound,
    ValidationError,
)
from faas.event_patterns import Pattern, compile_pattern
from faas.model import Function, utcnow
from faas.security import policy
from faas.services.functions import FunctionService, parse_function_ref
from faas.services.identities import IdentityService
from faas.services.queues import QueueService, is_fifo
from faas.store.mappings import Mapping, MappingStore

ARN_PATTERN = (r"arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1})?:"
               r"(\d{12})?:(.*)")
ARN = re.compile(ARN_PATTERN)
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
DEFAULT_BATCH_SIZE = 10
MAX_BATCH_SIZE = 10_000
MAX_FIFO_BATCH_SIZE = 10
MAX_UNWINDOWED_BATCH_SIZE = 10
MAX_WINDOW_S = 300
MIN_CONCURRENCY, MAX_CONCURRENCY = 2, 1000
MAX_FILTERS = 5  # Lambda's default quota of filters per mapping
MAX_PATTERN_CHARS = 4096
MAX_LIST_ITEMS = 100
RACES = 5  # how often a change is applied again to a row a poller settled since it was read
REPORT_FAILURES = "ReportBatchItemFailures"
# What the execution role must allow on the queue, in the order Lambda checks (and names) them.
QUEUE_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
USER_INITIATED = "USER_INITIATED"
NO_RECORDS = "No records processed"
FUNCTION_MISSING = "PROBLEM: Function not found"
# The states a change leaves a mapping in, until a poller settles it.
CREATING, ENABLING, UPDATING, DISABLING, DELETING = "Creating", "Enabling", "Updating", "Disabling", "Deleting"
ENABLED, DISABLED = "Enabled", "Disabled"
# Settings of other event sources, each with why faas refuses it (None and empty values are accepted: they
# mean "not used", which is what a queue's mapping does anyway).
OTHER_SOURCES = {
    "StartingPosition": "a stream's (Kinesis, DynamoDB, Kafka)",
    "StartingPositionTimestamp": "a stream's (Kinesis)",
    "ParallelizationFactor": "a stream's (Kinesis, DynamoDB)",
    "MaximumRecordAgeInSeconds": "a stream's (Kinesis, DynamoDB)",
    "BisectBatchOnFunctionError": "a stream's (Kinesis, DynamoDB)",
    "MaximumRetryAttempts": "a stream's (Kinesis, DynamoDB); a queue retries by its visibility timeout and "
                            "its RedrivePolicy's maxReceiveCount",
    "TumblingWindowInSeconds": "a stream's (Kinesis, DynamoDB)",
    "DestinationConfig": "for streams and Kafka; a queue's failed messages go to its RedrivePolicy's "
                         "dead-letter queue",
    "Topics": "Kafka's",
    "Queues": "Amazon MQ's",
    "SourceAccessConfigurations": "for Kafka, Amazon MQ and self-managed sources",
    "SelfManagedEventSource": "for self-managed Kafka",
    "AmazonManagedKafkaEventSourceConfig": "Amazon MSK's",
    "SelfManagedKafkaEventSourceConfig": "self-managed Kafka's",
    "DocumentDBEventSourceConfig": "DocumentDB's",
    "ProvisionedPollerConfig": "not supported: pollers scale with the backlog up to ScalingConfig",
    "KMSKeyArn": "not supported: filter criteria are stored as given",
    "MetricsConfig": "not supported: there are no CloudWatch metrics",
    "LoggingConfig": "not supported",
    "Tags": "not supported: event source mappings cannot be tagged",
}

# (role ARN) -> the role's policy documents, or None when it names no role here.
RoleDocuments = Callable[[str], Any]


def _validation(value: object, field: str, constraint: str) -> ValidationError:
    return ValidationError(f"1 validation error detected: Value '{str(value)[:256]}' at '{field}' failed to "
                           f"satisfy constraint: {constraint}")


def _whole(params: dict[str, Any], key: str, field: str, least: int, most: int) -> int | None:
    value = params.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _validation(value, field, "Member must be an integer")
    if value < least:
        raise _validation(value, field, f"Member must have value greater than or equal to {least}")
    if value > most:
        raise _validation(value, field, f"Member must have value less than or equal to {most}")
    return value


def _refuse_other_sources(params: dict[str, Any]) -> None:
    for key, why in OTHER_SOURCES.items():
        if params.get(key) not in (None, "", [], {}, False):
            raise InvalidParameterValue(f"{key} is not supported for an SQS event source: it is {why}.")


def _response_types(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > 1 or any(item != REPORT_FAILURES for item in value):
        raise _validation(value, "functionResponseTypes", "Member must satisfy constraint: [Member must satisfy "
                                                          f"enum value set: [{REPORT_FAILURES}]] and have length "
                                                          "less than or equal to 1")
    return tuple(value)


def _scaling(value: object) -> tuple[bool, int | None]:
    """(given, MaximumConcurrency): an empty ScalingConfig removes the limit."""
    if value is None:
        return False, None
    if not isinstance(value, dict) or set(value) - {"MaximumConcurrency"}:
        raise InvalidParameterValue("ScalingConfig must be an object with at most MaximumConcurrency")
    return True, _whole(value, "MaximumConcurrency", "scalingConfig.maximumConcurrency", MIN_CONCURRENCY,
                        MAX_CONCURRENCY)


def lambda_filter(document: dict) -> Pattern:
    """One FilterCriteria pattern compiled with Lambda's rules, refused in Lambda's words."""
    try:
        return compile_pattern(document, dialect="lambda")
    except InvalidEventPattern as error:
        raise InvalidParameterValue(f"Invalid filter pattern definition. {error}") from error


def check_filters(value: object, compile_filter: Callable[[dict], object]) -> tuple[bool, tuple[str, ...]]:
    """(given, patterns): FilterCriteria's patterns as given, each checked by `compile_filter` (which raises
    InvalidParameterValue); an empty FilterCriteria, or an empty Filters list, removes the filters."""
    if value is None:
        return False, ()
    if not isinstance(value, dict) or set(value) - {"Filters"}:
        raise InvalidParameterValue("FilterCriteria must be an object with a list of Filters")
    filters = value.get("Filters") or []
    if not isinstance(filters, list):
        raise InvalidParameterValue("FilterCriteria.Filters must be a list of {\"Pattern\": \"...\"}")
    if len(filters) > MAX_FILTERS:
        raise InvalidParameterValue(f"Invalid filter criteria: a mapping has at most {MAX_FILTERS} filters; got "
                                    f"{len(filters)}")
    patterns = []
    for item in filters:
        pattern = item.get("Pattern") if isinstance(item, dict) else None
        if not isinstance(pattern, str):
            raise InvalidParameterValue("Each of FilterCriteria.Filters must be {\"Pattern\": \"<JSON text>\"}")
        if len(pattern) > MAX_PATTERN_CHARS:
            raise _validation(pattern[:64] + "...", "filterCriteria.filters.member.pattern",
                              f"Member must have length less than or equal to {MAX_PATTERN_CHARS}")
        try:
            document = json.loads(pattern)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise InvalidParameterValue(f"Invalid filter pattern definition: {pattern[:256]} is not a JSON object")
        compile_filter(document)
        patterns.append(pattern)
    return True, tuple(patterns)


@dataclasses.dataclass(frozen=True)
class _Settings:
    """What a create or update asks for; None where it asks nothing."""

    batch_size: int | None
    window_s: int | None
    enabled: bool | None
    response_types: tuple[str, ...] | None
    scaling_given: bool
    max_concurrency: int | None
    filters_given: bool
    filters: tuple[str, ...]


class MappingService:
    def __init__(self, store: MappingStore, functions: FunctionService, queues: QueueService,
                 identities: IdentityService, *, region: str, account_id: str,
                 function_arn: Callable[[str], str], compile_filter: Callable[[dict], object]) -> None:
        self._store = store
        self._functions = functions
        self._queues = queues
        self._identities = identities
        self._region = region
        self._account = account_id
        self._function_arn = function_arn
        self._compile_filter = compile_filter  # raises InvalidParameterValue for a pattern Lambda refuses
        self.changed = asyncio.Event()  # set on every change made here; the pollers wait on it

    def arn(self, uuid: str) -> str:
        return f"arn:aws:lambda:{self._region}:{self._account}:event-source-mapping:{uuid}"

    # ---- the API ----

    async def create(self, params: dict[str, Any]) -> Mapping:
        _refuse_other_sources(params)
        name = params.get("FunctionName")
        if not isinstance(name, str) or not name:
            raise InvalidParameterValue("FunctionName is required")
        source = params.get("EventSourceArn")
        if source is None:
            raise InvalidParameterValue("EventSourceArn is required: the ARN of an SQS queue, "
                                        f"arn:aws:sqs:{self._region}:{self._account}:<queue>")
        queue_name = self._queue_name(source)
        settings = self._settings(params)
        fn = await self._functions.get(parse_function_ref(name, None, self._function_arn))
        queue = await self._queue(queue_name)
        batch_size = settings.batch_size or DEFAULT_BATCH_SIZE
        window_s = settings.window_s or 0
        self._check_batching(queue, batch_size, window_s)
        self._check_timeouts(queue, fn)
        await self._check_role(fn, source)
        existing = await self._store.list(function_name=fn.name, source_arn=source, limit=1)
        if existing:
            raise ResourceConflict(f"An event source mapping with SQS arn (\" {source} \") and function "
                                   f"(\" {fn.name} \") already exists. Please update or delete the existing mapping "
                                   f"with UUID {existing[0].uuid}")
        mapping = Mapping(
            uuid=str(uuids.uuid4()), function_name=fn.name, source_arn=source, batch_size=batch_size,
            window_s=window_s, enabled=settings.enabled is not False,
            response_types=settings.response_types or (), filters=settings.filters,
            max_concurrency=settings.max_concurrency, state=CREATING, state_reason=USER_INITIATED,
            last_result=NO_RECORDS, revision=1, last_modified=utcnow())
        await self._store.add(mapping)
        self.changed.set()
        return mapping

    async def get(self, uuid: str) -> Mapping:
        mapping = await self._store.get(uuid.lower()) if UUID.fullmatch(uuid) else None
        if mapping is None:
            raise ResourceNotFound("The resource you requested does not exist.")
        return mapping

    async def update(self, uuid: str, params: dict[str, Any]) -> Mapping:
        _refuse_other_sources(params)
        if "EventSourceArn" in params:
            raise InvalidParameterValue("EventSourceArn cannot be changed: delete the mapping and create another")
        settings = self._settings(params)
        name = params.get("FunctionName")
        fn = None
        if isinstance(name, str) and name:
            fn = await self._functions.get(parse_function_ref(name, None, self._function_arn))
        checked_for = None
        for _ in range(RACES):
            mapping = await self.get(uuid)
            if mapping.state == DELETING:
                raise ResourceInUse(f"Cannot update the event source mapping {mapping.uuid}: it is being deleted.")
            target = fn or await self._functions.get(mapping.function_name)
            queue = await self._queue(self._queue_name(mapping.source_arn))
            batch_size = settings.batch_size if settings.batch_size is not None else mapping.batch_size
            window_s = settings.window_s if settings.window_s is not None else mapping.window_s
            self._check_batching(queue, batch_size, window_s)
            if target.name != mapping.function_name and checked_for != target.name:
                self._check_timeouts(queue, target)
                await self._check_role(target, mapping.source_arn)
                checked_for = target.name
            enabled = mapping.enabled if settings.enabled is None else settings.enabled
            state = UPDATING
            if enabled != mapping.enabled:
                state = ENABLING if enabled else DISABLING
            changed = dataclasses.replace(
                mapping, function_name=target.name, batch_size=batch_size, window_s=window_s, enabled=enabled,
                response_types=mapping.response_types if settings.response_types is None else settings.response_types,
                filters=settings.filters if settings.filters_given else mapping.filters,
                max_concurrency=settings.max_concurrency if settings.scaling_given else mapping.max_concurrency,
                state=state, state_reason=USER_INITIATED, last_modified=utcnow())
            stored = await self._store.replace(changed)
            if stored is not None:
                self.changed.set()
                return stored
            # A poller settled the mapping (or another request changed it) since it was read: apply this
            # change to the row as it is now.
        raise ResourceConflict(f"The event source mapping {uuid} is being changed by other requests; try again.")

    async def delete(self, uuid: str) -> Mapping:
        for _ in range(RACES):
            mapping = await self.get(uuid)
            if mapping.state == DELETING:
                return mapping
            stored = await self._store.replace(dataclasses.replace(
                mapping, state=DELETING, state_reason=USER_INITIATED, last_modified=utcnow()))
            if stored is not None:
                self.changed.set()
                return stored
        raise ResourceConflict(f"The event source mapping {uuid} is being changed by other requests; try again.")

    async def list(self, function_name: str | None, source_arn: str | None, marker: str | None,
                   max_items: object) -> tuple[list[Mapping], str | None]:
        limit = MAX_LIST_ITEMS
        if max_items is not None:
            if not str(max_items).isdigit() or not 1 <= int(str(max_items)) <= 10_000:
                raise _validation(max_items, "maxItems", "Member must have value between 1 and 10000")
            limit = min(int(str(max_items)), MAX_LIST_ITEMS)
        name = parse_function_ref(function_name, None, self._function_arn) if function_name else None
        if source_arn is not None and not ARN.fullmatch(source_arn):
            raise _validation(source_arn, "eventSourceArn", f"Member must satisfy regular expression pattern: "
                                                             f"{ARN_PATTERN}")
        after = ""
        if marker:
            if not UUID.fullmatch(marker):
                raise InvalidParameterValue(f"Invalid Marker: {marker[:64]}")
            after = marker
        page = await self._store.list(function_name=name, source_arn=source_arn, after=after, limit=limit + 1)
        more = len(page) > limit
        page = page[:limit]
        return page, (page[-1].uuid if more else None)

    def shape(self, mapping: Mapping) -> dict[str, Any]:
        """Lambda's EventSourceMappingConfiguration for a queue's mapping."""
        shape: dict[str, Any] = {
            "UUID": mapping.uuid,
            "BatchSize": mapping.batch_size,
            "MaximumBatchingWindowInSeconds": mapping.window_s,
            "EventSourceArn": mapping.source_arn,
            "FunctionArn": self._function_arn(mapping.function_name),
            "LastModified": mapping.last_modified.timestamp(),
            "LastProcessingResult": mapping.last_result,
            "State": mapping.state,
            "StateTransitionReason": mapping.state_reason,
            "FunctionResponseTypes": list(mapping.response_types),
            "EventSourceMappingArn": self.arn(mapping.uuid),
        }
        if mapping.filters:
            shape["FilterCriteria"] = {"Filters": [{"Pattern": pattern} for pattern in mapping.filters]}
        if mapping.max_concurrency is not None:
            shape["ScalingConfig"] = {"MaximumConcurrency": mapping.max_concurrency}
        return shape

    # ---- the pollers' side ----

    async def all(self) -> list[Mapping]:
        return await self._store.list()

    async def settle(self, mapping: Mapping) -> Mapping | None:
        """Finish a transition once the pollers have acted on it: the mapping as it is now (None once deleted,
        and unchanged if someone changed it meanwhile: the next look settles that)."""
        if mapping.state == DELETING:
            await self._store.delete(mapping.uuid, revision=mapping.revision)
            return None
        if mapping.state in (ENABLED, DISABLED):
            return mapping
        settled = dataclasses.replace(mapping, state=ENABLED if mapping.enabled else DISABLED)
        return await self._store.replace(settled) or mapping

    async def report(self, mapping: Mapping, last_result: str) -> None:
        await self._store.set_result(mapping.uuid, last_result)

    async def poll_problem(self, mapping: Mapping) -> str | None:
        """Why a mapping's pollers may not receive now, in LastProcessingResult's words, or None: its function
        is gone, or its execution role no longer allows the calls it was checked for at create (the pollers
        act as the role, as Lambda's do)."""
        try:
            fn = await self._functions.get(mapping.function_name)
        except ResourceNotFound:
            return FUNCTION_MISSING
        denied = await self._denied_action(fn, mapping.source_arn)
        if denied is not None:
            return f"PROBLEM: The function's execution role does not allow {denied} on the queue"
        return None

    def queue_of(self, mapping: Mapping) -> str:
        return self._queue_name(mapping.source_arn)

    # ---- checks ----

    def _settings(self, params: dict[str, Any]) -> _Settings:
        enabled = params.get("Enabled")
        if enabled is not None and not isinstance(enabled, bool):
            raise _validation(enabled, "enabled", "Member must be a boolean")
        scaling_given, concurrency = _scaling(params.get("ScalingConfig"))
        filters_given, filters = check_filters(params.get("FilterCriteria"), self._compile_filter)
        return _Settings(
            batch_size=_whole(params, "BatchSize", "batchSize", 1, MAX_BATCH_SIZE),
            window_s=_whole(params, "MaximumBatchingWindowInSeconds", "maximumBatchingWindowInSeconds", 0,
                            MAX_WINDOW_S),
            enabled=enabled, response_types=_response_types(params.get("FunctionResponseTypes")),
            scaling_given=scaling_given, max_concurrency=concurrency, filters_given=filters_given, filters=filters)

    def _queue_name(self, source: object) -> str:
        if not isinstance(source, str) or not ARN.fullmatch(source):
            raise _validation(source, "eventSourceArn", f"Member must satisfy regular expression pattern: "
                                                        f"{ARN_PATTERN}")
        parts = source.split(":", 5)
        if parts[2] != "sqs":
            raise InvalidParameterValue(f"Unsupported event source type: {parts[2]}. faas maps SQS queues "
                                        f"(arn:aws:sqs:{self._region}:{self._account}:<queue>) only.")
        if parts[3] != self._region or parts[4] != self._account or not parts[5]:
            raise InvalidParameterValue(f"Invalid SQS queue ARN {source[:256]}: queues here are "
                                        f"arn:aws:sqs:{self._region}:{self._account}:<queue>")
        return parts[5]

    async def _queue(self, name: str):  # type: ignore[no-untyped-def]
        queue = await self._queues.find(name)
        if queue is None:
            raise InvalidParameterValue("Error occurred while ReceiveMessage. SQS Error Code: "
                                        "AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified "
                                        "queue does not exist for this wsdl version.")
        return queue

    @staticmethod
    def _check_batching(queue, batch_size: int, window_s: int) -> None:  # type: ignore[no-untyped-def]
        if is_fifo(queue):
            if batch_size > MAX_FIFO_BATCH_SIZE:
                raise InvalidParameterValue(f"Invalid batch size for SQS FIFO queue: {batch_size}. BatchSize must "
                                            f"be between 1 and {MAX_FIFO_BATCH_SIZE} for a FIFO queue.")
            if window_s:
                raise InvalidParameterValue("MaximumBatchingWindowInSeconds is not supported by Amazon SQS FIFO "
                                            "event sources.")
        elif batch_size > MAX_UNWINDOWED_BATCH_SIZE and window_s < 1:
            raise InvalidParameterValue("Maximum batch window in seconds must be greater than 0 if maximum batch "
                                        "size is greater than 10")

    @staticmethod
    def _check_timeouts(queue, fn: Function) -> None:  # type: ignore[no-untyped-def]
        visibility = int(queue.attributes["VisibilityTimeout"])
        if visibility < fn.timeout:
            raise InvalidParameterValue(f"Queue visibility timeout: {visibility} seconds is less than Function "
                                        f"timeout: {fn.timeout} seconds")

    async def _check_role(self, fn: Function, queue_arn: str) -> None:
        """The function's execution role must allow the pollers' calls on the queue, as Lambda checks."""
        denied = await self._denied_action(fn, queue_arn)
        if denied is not None:
            raise InvalidParameterValue(f"The provided execution role does not have permissions to call "
                                        f"{denied.split(':')[1]} on SQS")

    async def _denied_action(self, fn: Function, queue_arn: str) -> str | None:
        """The first of the pollers' calls the role does not allow on the queue (pure, on cached documents)."""
        documents = await self._identities.role_documents(fn.role) or ()
        for action in QUEUE_ACTIONS:
            if not policy.is_allowed(policy.evaluate(documents, action, queue_arn)):
                return action
        return None
