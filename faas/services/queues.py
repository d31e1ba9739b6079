"""SQS queues: their attributes and tags (faas/store/queues.py) and their messages, which are leased work
items (faas/store/work.py): sending adds an item due after its delay, receiving claims items under a lease
as long as the visibility timeout, deleting completes one, changing its visibility renews the lease.

Each receive claims under a fresh, unguessable lease owner that its receipt handles carry, so a handle acts
only on the message as that receive got it: once the message was received again, an older handle changes
nothing (DeleteMessage still answers success, as SQS may; ChangeMessageVisibility answers
MessageNotInflight).

A queue with a RedrivePolicy moves a message received more than maxReceiveCount times to its dead-letter
queue at the receive that would have delivered it once more, as SQS does.

FIFO queues (a `.fifo` name and FifoQueue=true) keep each message group in order: while any message of a
group is in flight the group's later ones wait; a receive takes a group's first pending message and the
due ones after it, in order, as many as MaxNumberOfMessages allows. A send names its group and a deduplication
id (or the queue hashes the body, ContentBasedDeduplication); the same id again within five minutes answers
the first message's MessageId and stores nothing (faas/store/queues.py). ReceiveRequestAttemptId is
accepted and ignored: a receive that is retried gets what is due then.

Long polling never busy-waits the store: a waiting receive sleeps until a send on this node wakes it, and
looks again every RECHECK_S for what other nodes sent and for delays and visibility timeouts that ran out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from faas.errors import (
    BatchEntryIdsNotDistinct,
    BatchRequestTooLong,
    EmptyBatchRequest,
    InvalidAttributeName,
    InvalidAttributeValue,
    InvalidBatchEntryId,
    MessageNotInflight,
    MissingParameter,
    OverLimit,
    QueueDoesNotExist,
    QueueNameExists,
    SqsError,
    SqsInvalidParameterValue,
    TooManyEntriesInBatchRequest,
)
from faas.model import utcnow
from faas.services.queue_messages import (
    StoredMessage,
    check_body,
    lease_token,
    md5_of_attributes,
    md5_of_body,
    message_size,
    parse_attributes,
    parse_receipt_handle,
    receipt_handle,
)
from faas.store.queues import FifoMessage, Queue, QueueStore, message_kind
from faas.store.work import WorkItem, WorkStore

RECHECK_S = 1.0  # how often a long poll looks at the store for what this node was not told about
PRUNE_EVERY_S = 60.0  # how often a queue's expired messages are deleted (receives skip them meanwhile)
MAX_BATCH = 10
MAX_WAIT_S = 20
MAX_TAGS = 50
NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
FIFO_NAME = re.compile(r"[A-Za-z0-9_-]{1,75}\.fifo")
FIFO = "FifoQueue"
# FIFO queues' own attributes: their values, the default first.
FIFO_SETTABLE = {
    "ContentBasedDeduplication": ("false", "true"),
    "DeduplicationScope": ("messageQueue", "messageGroup"),
    "FifoThroughputLimit": ("perQueue", "perMessageGroupId"),  # stored and answered; nothing here is throttled
}
DEDUPLICATION_WINDOW = dt.timedelta(minutes=5)
# MessageGroupId and MessageDeduplicationId: 1 to 128 alphanumeric or punctuation characters.
FIFO_ID = re.compile(r"[A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]{1,128}")
BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
# The attributes a queue may set: (least, most, default), all whole seconds or bytes.
SETTABLE = {
    "DelaySeconds": (0, 900, 0),
    "MaximumMessageSize": (1024, 1_048_576, 1_048_576),
    "MessageRetentionPeriod": (60, 1_209_600, 345_600),
    "ReceiveMessageWaitTimeSeconds": (0, MAX_WAIT_S, 0),
    "VisibilityTimeout": (0, 43_200, 30),
}
COUNTED = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed")
READ_ONLY = (*COUNTED, "CreatedTimestamp", "LastModifiedTimestamp", "QueueArn")
# Attributes of SQS's model that this server does not implement yet: refused when set, absent when read.
NOT_SUPPORTED = {
    "RedriveAllowPolicy": "restricting which queues may use a dead-letter queue is not supported; any queue may",
    "Policy": "queue policies are not supported; grant sqs:* actions in the caller's identity policy",
    "KmsMasterKeyId": "server-side encryption with KMS keys is not supported",
    "KmsDataKeyReusePeriodSeconds": "server-side encryption with KMS keys is not supported",
    "SqsManagedSseEnabled": "server-side encryption is not supported",
}
SYSTEM_ATTRIBUTES = ("SenderId", "SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp",
                     "DeadLetterQueueSourceArn")
REDRIVE = "RedrivePolicy"  # {"deadLetterTargetArn": <queue ARN>, "maxReceiveCount": 1-1000}
MAX_RECEIVE_COUNT = 1000
FIFO_SYSTEM_ATTRIBUTES = ("MessageGroupId", "MessageDeduplicationId", "SequenceNumber")
ALL_SYSTEM_ATTRIBUTES = frozenset((*SYSTEM_ATTRIBUTES, *FIFO_SYSTEM_ATTRIBUTES, "AWSTraceHeader", "All"))
ALL_POLLED = frozenset((*SYSTEM_ATTRIBUTES, *FIFO_SYSTEM_ATTRIBUTES))


@dataclasses.dataclass(frozen=True)
class Sent:
    message_id: str
    md5_of_body: str
    md5_of_attributes: str | None
    sequence_number: str | None = None  # FIFO queues'


@dataclasses.dataclass(frozen=True)
class BatchFailure:
    id: str
    code: str
    message: str
    sender_fault: bool = True

    def wire(self) -> dict[str, Any]:
        return {"Id": self.id, "Code": self.code, "Message": self.message, "SenderFault": self.sender_fault}


def _ms(at: dt.datetime) -> int:
    return int(at.timestamp() * 1000)


def _whole(value: object, name: str, least: int, most: int, error: type[SqsError] = SqsInvalidParameterValue) -> int:
    """An integer as the JSON protocol may carry it (a number, or a string of digits for attributes)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise error(f"Value {str(value)[:64]} for parameter {name} is invalid. Reason: must be a whole number "
                    f"from {least} to {most}.")
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or not least <= number <= most:
        raise error(f"Value {str(value)[:64]} for parameter {name} is invalid. Reason: must be a whole number "
                    f"from {least} to {most}.")
    return number


def is_fifo(queue: Queue) -> bool:
    return queue.attributes.get(FIFO) == "true"


def sequence_number(item_id: int) -> str:
    """A FIFO message's SequenceNumber: its work item's id, which only grows, as the 20 digits SQS answers."""
    return f"{item_id:020d}"


def check_name(name: object, fifo: bool = False) -> str:
    if not isinstance(name, str) or not name:
        raise MissingParameter("The request must contain the parameter QueueName.")
    if fifo and not FIFO_NAME.fullmatch(name):
        raise SqsInvalidParameterValue(
            f"Invalid value for the parameter QueueName: {name[:100]}{'...' if len(name) > 100 else ''}. Reason: "
            "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end "
            "with .fifo suffix and be 1 to 80 in length.")
    if not fifo and name.endswith(".fifo") and FIFO_NAME.fullmatch(name):
        raise SqsInvalidParameterValue(f"Invalid value for the parameter QueueName: {name}. Reason: Can only "
                                       "include alphanumeric characters, hyphens, or underscores. 1 to 80 in length "
                                       "(a name ending in .fifo is a FIFO queue's: create it with FifoQueue=true).")
    if not fifo and not NAME.fullmatch(name):
        raise SqsInvalidParameterValue(
            f"Invalid value for the parameter QueueName: {name[:100]}{'...' if len(name) > 100 else ''}. Reason: "
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length.")
    return name


def _batch_ids(entries: object, noun: str) -> list[dict[str, Any]]:
    if not isinstance(entries, list) or not entries:
        raise EmptyBatchRequest(f"There should be at least one {noun} in the request.")
    if len(entries) > MAX_BATCH:
        raise TooManyEntriesInBatchRequest(f"Maximum number of entries per request are {MAX_BATCH}. You have sent "
                                           f"{len(entries)}.")
    seen = set()
    for entry in entries:
        entry_id = entry.get("Id") if isinstance(entry, dict) else None
        if not isinstance(entry_id, str) or not BATCH_ID.fullmatch(entry_id):
            raise InvalidBatchEntryId("A batch entry id can only contain alphanumeric characters, hyphens and "
                                      "underscores. It can be at most 80 letters long.")
        if entry_id in seen:
            raise BatchEntryIdsNotDistinct(f"Id {entry_id} repeated.")
        seen.add(entry_id)
    return entries  # type: ignore[return-value]


@dataclasses.dataclass(frozen=True)
class _Prepared:
    """A message checked against its queue: what to answer, and what to keep."""

    sent: Sent
    stored: StoredMessage
    due_at: dt.datetime
    created_at: dt.datetime

    def row(self) -> tuple[str, bytes, dt.datetime, dt.datetime]:
        return self.sent.message_id, self.stored.encode(), self.due_at, self.created_at


class QueueService:
    def __init__(self, queues: QueueStore, work: WorkStore, *, region: str, account_id: str,
                 clock: Callable[[], dt.datetime] = utcnow) -> None:
        self._queues = queues
        self._work = work
        self._region = region
        self.account_id = account_id
        self._clock = clock
        self._arrivals: dict[str, asyncio.Event] = {}  # per queue: set when a message is sent on this node
        self._pruned_at: dict[str, float] = {}
        self._draining = False

    def arn(self, name: str) -> str:
        return f"arn:aws:sqs:{self._region}:{self.account_id}:{name}"

    # ---- queues ----

    async def create_queue(self, name: object, attributes: object, tags: object) -> Queue:
        """A new queue, or the existing one when every attribute asked for matches it (SQS's idempotence)."""
        fifo_value = attributes.get(FIFO, "false") if isinstance(attributes, dict) else "false"
        if str(fifo_value).lower() not in ("true", "false"):
            raise InvalidAttributeValue(f"Invalid value for the parameter {FIFO}: {str(fifo_value)[:64]}. Reason: "
                                        "must be true or false.")
        fifo = str(fifo_value).lower() == "true"
        name = check_name(name, fifo)
        asked = await self._settable(name, attributes, fifo)
        tag_map = self._tags(tags)
        now = self._clock()
        values = {key: str(default) for key, (_, _, default) in SETTABLE.items()}
        if fifo:
            values |= {FIFO: "true"} | {key: allowed[0] for key, allowed in FIFO_SETTABLE.items()}
        values |= asked
        if not values.get(REDRIVE):
            values.pop(REDRIVE, None)
        queue = await self._queues.create(Queue(name, values, tag_map, now, now))
        differing = [key for key, value in asked.items() if queue.attributes.get(key, "") != value]
        if differing:
            raise QueueNameExists(f"A queue already exists with the same name and a different value for attribute "
                                  f"{differing[0]}")
        return queue

    async def queue(self, name: str) -> Queue:
        queue = await self._queues.get(name)
        if queue is None:
            raise QueueDoesNotExist()
        return queue

    async def find(self, name: str) -> Queue | None:
        """The queue of that name, or None (for callers that answer a missing queue in their own words)."""
        return await self._queues.get(name)

    async def list_queues(self, prefix: object, max_results: object,
                          next_token: object) -> tuple[list[str], str | None]:
        if prefix is not None and not isinstance(prefix, str):
            raise SqsInvalidParameterValue("QueueNamePrefix must be a string.")
        limit = 1000 if max_results is None else _whole(max_results, "MaxResults", 1, 1000)
        if next_token is not None and max_results is None:
            raise SqsInvalidParameterValue("MaxResults is required when NextToken is given.")
        after = ""
        if next_token is not None:
            if not isinstance(next_token, str) or not next_token.startswith("after:"):
                raise SqsInvalidParameterValue("Invalid NextToken value.")
            after = next_token.removeprefix("after:")
        found = await self._queues.list(prefix or "", after=after, limit=limit + 1)
        names = [queue.name for queue in found[:limit]]
        more = max_results is not None and len(found) > limit
        return names, (f"after:{names[-1]}" if more else None)

    async def delete_queue(self, name: str) -> None:
        if not await self._queues.delete(name):
            raise QueueDoesNotExist()
        self._wake(name)

    async def get_attributes(self, name: str, names: object) -> dict[str, str]:
        queue = await self.queue(name)
        wanted = self._attribute_names(names)
        if "All" in wanted:
            wanted = {*SETTABLE, *READ_ONLY, REDRIVE, FIFO, *FIFO_SETTABLE}
        answer = {key: value for key, value in queue.attributes.items() if key in wanted}
        if "QueueArn" in wanted:
            answer["QueueArn"] = self.arn(name)
        if "CreatedTimestamp" in wanted:
            answer["CreatedTimestamp"] = str(int(queue.created_at.timestamp()))
        if "LastModifiedTimestamp" in wanted:
            answer["LastModifiedTimestamp"] = str(int(queue.modified_at.timestamp()))
        if wanted & set(COUNTED):
            await self._prune(queue, force=True)
            depth = await self._work.depth(message_kind(name), now=self._clock())
            counts = dict(zip(COUNTED, (depth.due, depth.leased, depth.delayed)))
            answer.update({key: str(count) for key, count in counts.items() if key in wanted})
        return answer

    async def set_attributes(self, name: str, attributes: object) -> None:
        queue = await self.queue(name)
        if not attributes:
            raise MissingParameter("The request must contain the parameter Attributes.")
        if isinstance(attributes, dict) and FIFO in attributes:
            raise InvalidAttributeName(f"Unknown Attribute {FIFO}: a queue's type is chosen when it is created.")
        changed = queue.attributes | await self._settable(name, attributes, is_fifo(queue))
        if not changed.get(REDRIVE):  # set to "" to remove
            changed.pop(REDRIVE, None)
        await self._queues.set_attributes(name, changed, self._clock())

    async def purge(self, name: str) -> None:
        await self.queue(name)
        await self._work.clear(message_kind(name))

    async def tag(self, name: str, tags: object) -> None:
        queue = await self.queue(name)
        if not tags:
            raise MissingParameter("The request must contain the parameter Tags.")
        merged = queue.tags | self._tags(tags)
        if len(merged) > MAX_TAGS:
            raise OverLimit(f"Too many tags added for queue {name}: a queue has at most {MAX_TAGS}.")
        await self._queues.set_tags(name, merged)

    async def untag(self, name: str, keys: object) -> None:
        queue = await self.queue(name)
        if not isinstance(keys, list) or not keys or not all(isinstance(key, str) for key in keys):
            raise MissingParameter("The request must contain the parameter TagKeys, a list of tag keys.")
        await self._queues.set_tags(name, {k: v for k, v in queue.tags.items() if k not in keys})

    async def tags(self, name: str) -> dict[str, str]:
        return (await self.queue(name)).tags

    # ---- messages ----

    async def send(self, name: str, entry: dict[str, Any], sender_id: str) -> Sent:
        queue = await self.queue(name)
        prepared = self._message(queue, entry, sender_id)
        if is_fifo(queue):
            sent = (await self._add_fifo(queue, [prepared]))[0]
        else:
            key, payload, due_at, created_at = prepared.row()
            await self._work.add(message_kind(name), key, payload, due_at=due_at, created_at=created_at)
            sent = prepared.sent
        self._wake(name)
        return sent

    async def send_batch(self, name: str, entries: object,
                         sender_id: str) -> tuple[list[tuple[str, Sent]], list[BatchFailure]]:
        queue = await self.queue(name)
        checked = _batch_ids(entries, "SendMessageBatchRequestEntry")
        limit = SETTABLE["MaximumMessageSize"][1]  # a batch's total, whatever the queue's own limit per message
        total = sum(len(str(entry.get("MessageBody", "")).encode()) for entry in checked)
        if total > limit:
            raise BatchRequestTooLong(f"Batch requests cannot be longer than {limit} bytes. You have sent {total} "
                                      "bytes.")
        ids, failed, prepared = [], [], []
        for entry in checked:
            try:
                prepared.append(self._message(queue, entry, sender_id))
            except SqsError as error:
                failed.append(BatchFailure(entry["Id"], error.query_code, error.message))
                continue
            ids.append(entry["Id"])
        # One transaction each: the batch is stored, or none of it.
        if is_fifo(queue):
            sent = await self._add_fifo(queue, prepared) if prepared else []
        else:
            await self._work.add_many(message_kind(name), [message.row() for message in prepared])
            sent = [message.sent for message in prepared]
        done = list(zip(ids, sent))
        if done:
            self._wake(name)
        return done, failed

    async def receive(self, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        queue = await self.queue(name)
        limit = _whole(params.get("MaxNumberOfMessages", 1), "MaxNumberOfMessages", 1, MAX_BATCH)
        visibility = int(queue.attributes["VisibilityTimeout"])
        if params.get("VisibilityTimeout") is not None:
            visibility = _whole(params["VisibilityTimeout"], "VisibilityTimeout", 0, SETTABLE["VisibilityTimeout"][1])
        wait = int(queue.attributes["ReceiveMessageWaitTimeSeconds"])
        if params.get("WaitTimeSeconds") is not None:
            wait = _whole(params["WaitTimeSeconds"], "WaitTimeSeconds", 0, MAX_WAIT_S)
        system = self._system_names(params)
        wanted_attributes = self._message_attribute_names(params.get("MessageAttributeNames"))
        return await self._receive(queue, limit, visibility, wait, system, wanted_attributes)

    async def poll(self, name: str, limit: int, wait_s: float) -> list[dict[str, Any]]:
        """A receive for the event source mappings' pollers: up to `limit` messages (at most 10) with every
        attribute, under the queue's visibility timeout, waiting up to `wait_s` for the first. Raises
        QueueDoesNotExist when the queue is gone."""
        queue = await self.queue(name)
        return await self._receive(queue, min(limit, MAX_BATCH), int(queue.attributes["VisibilityTimeout"]),
                                   wait_s, ALL_POLLED, lambda _: True)

    async def settle_received(self, name: str, handles: list[str], *, release_s: float | None = None) -> None:
        """What a poller does with messages it received: delete them, or with `release_s` hand them back to
        be received again after that many seconds without counting the receive (a throttled batch). Handles
        that no longer hold their message change nothing, as DeleteMessage's."""
        held = [parse_receipt_handle(name, handle) for handle in handles]
        if release_s is None:
            await self._work.complete_many(held)
            return
        now = self._clock()
        for item_id, token in held:
            await self._work.release(item_id, token, delay_s=release_s, now=now, count_attempt=False)
        self._wake(name)

    async def _receive(self, queue: Queue, limit: int, visibility: int, wait: float, system: set[str],
                       wanted_attributes: Callable[[str], bool]) -> list[dict[str, Any]]:
        name = queue.name
        retention = int(queue.attributes["MessageRetentionPeriod"])
        token = lease_token()
        deadline = time.monotonic() + wait
        while True:
            arrived = self._arrivals.setdefault(name, asyncio.Event())  # before looking, so no send slips by
            await self._prune(queue)
            now = self._clock()
            items = await self._work.claim(message_kind(name), token, lease_s=visibility, limit=limit, now=now,
                                           created_after=now - dt.timedelta(seconds=retention), runs=is_fifo(queue))
            if REDRIVE in queue.attributes:
                items = await self._redrive(queue, items, token)
            left = deadline - time.monotonic()
            if items or left <= 0 or self._draining:
                break
            try:
                await asyncio.wait_for(arrived.wait(), min(left, RECHECK_S))
            except asyncio.TimeoutError:
                pass
            if await self._queues.get(name) is None:  # deleted while this receive waited
                return []
        return [self._received(queue, item, token, system, wanted_attributes) for item in items]

    async def delete_message(self, name: str, handle: object) -> None:
        await self.queue(name)
        item_id, token = parse_receipt_handle(name, handle)
        # False when the message was received again since, or deleted already: SQS answers success for both.
        await self._work.complete(item_id, token)

    async def delete_batch(self, name: str, entries: object) -> tuple[list[str], list[BatchFailure]]:
        await self.queue(name)
        done, failed, held = [], [], []
        for entry in _batch_ids(entries, "DeleteMessageBatchRequestEntry"):
            try:
                held.append(parse_receipt_handle(name, entry.get("ReceiptHandle")))
                done.append(entry["Id"])
            except SqsError as error:
                failed.append(BatchFailure(entry["Id"], error.query_code, error.message))
        await self._work.complete_many(held)  # as DeleteMessage: a stale handle deletes nothing, and is no error
        return done, failed

    async def change_visibility(self, name: str, handle: object, timeout: object) -> None:
        queue = await self.queue(name)
        await self._change_visibility(queue, handle, timeout)

    async def change_visibility_batch(self, name: str, entries: object) -> tuple[list[str], list[BatchFailure]]:
        queue = await self.queue(name)
        done, failed = [], []
        for entry in _batch_ids(entries, "ChangeMessageVisibilityBatchRequestEntry"):
            try:
                await self._change_visibility(queue, entry.get("ReceiptHandle"), entry.get("VisibilityTimeout"))
                done.append(entry["Id"])
            except SqsError as error:
                failed.append(BatchFailure(entry["Id"], error.query_code, error.message))
        return done, failed

    # ---- helpers ----

    async def _add_fifo(self, queue: Queue, prepared: list[_Prepared]) -> list[Sent]:
        """Store FIFO messages in order, in one transaction with their deduplication ids; a duplicate answers
        the original's MessageId and SequenceNumber."""
        by_group = queue.attributes["DeduplicationScope"] == "messageGroup"
        messages = [FifoMessage(message.sent.message_id, message.stored.group_id or "",
                                (message.stored.group_id or "") if by_group else "",
                                message.stored.deduplication_id or "", message.stored.encode())
                    for message in prepared]
        now = self._clock()
        accepted = await self._queues.add_fifo(
            queue.name, messages, now=now, due_at=now + dt.timedelta(seconds=int(queue.attributes["DelaySeconds"])),
            window=DEDUPLICATION_WINDOW)
        return [dataclasses.replace(message.sent, message_id=stored.message_id,
                                    sequence_number=sequence_number(stored.sequence_number))
                for message, stored in zip(prepared, accepted)]

    def _message(self, queue: Queue, entry: dict[str, Any], sender_id: str) -> _Prepared:
        body = check_body(entry.get("MessageBody"))
        attributes = parse_attributes(entry.get("MessageAttributes"))
        if entry.get("MessageSystemAttributes"):
            raise SqsInvalidParameterValue("MessageSystemAttributes (AWSTraceHeader) are not supported.")
        group, deduplication = entry.get("MessageGroupId"), entry.get("MessageDeduplicationId")
        if is_fifo(queue):
            if group is None:
                raise MissingParameter("The request must contain the parameter MessageGroupId.")
            if entry.get("DelaySeconds") is not None:
                raise SqsInvalidParameterValue(
                    f"Value {str(entry['DelaySeconds'])[:64]} for parameter DelaySeconds is invalid. Reason: The "
                    "request include parameter that is not valid for this queue type (a FIFO queue delays only "
                    "by its DelaySeconds attribute).")
            if deduplication is None:
                if queue.attributes["ContentBasedDeduplication"] != "true":
                    raise SqsInvalidParameterValue("The queue should either have ContentBasedDeduplication enabled "
                                                   "or MessageDeduplicationId provided explicitly")
                deduplication = hashlib.sha256(body.encode()).hexdigest()
        elif deduplication is not None:
            # A standard queue takes MessageGroupId (SQS's fair queues) but not a deduplication id.
            raise SqsInvalidParameterValue("The request include parameter MessageDeduplicationId that is not valid "
                                           "for this queue type (standard queue).")
        for field, value in (("MessageGroupId", group), ("MessageDeduplicationId", deduplication)):
            if value is not None and (not isinstance(value, str) or not FIFO_ID.fullmatch(value)):
                raise SqsInvalidParameterValue(f"Value {str(value)[:128]} for parameter {field} is invalid. Reason: "
                                               "it must be 1 to 128 alphanumeric or punctuation characters.")
        limit = int(queue.attributes["MaximumMessageSize"])
        size = message_size(body, attributes)
        if size > limit:
            raise SqsInvalidParameterValue(f"One or more parameters are invalid. Reason: Message must be shorter "
                                           f"than {limit} bytes (this one has {size}).")
        delay = int(queue.attributes["DelaySeconds"])
        if entry.get("DelaySeconds") is not None:
            delay = _whole(entry["DelaySeconds"], "DelaySeconds", 0, SETTABLE["DelaySeconds"][1])
        now = self._clock()
        stored = StoredMessage(body, attributes, sender_id, _ms(now), group_id=group, deduplication_id=deduplication)
        return _Prepared(Sent(str(uuid.uuid4()), md5_of_body(body), md5_of_attributes(attributes)), stored,
                         now + dt.timedelta(seconds=delay), now)

    async def _redrive(self, queue: Queue, items: list[WorkItem], token: str) -> list[WorkItem]:
        """Move the messages received more than maxReceiveCount times to the dead-letter queue; the rest are
        delivered. The copy is added before the original goes, so a crash in between duplicates, never loses;
        the copy keeps the message id (the key: added once) and the original's age for retention."""
        policy = json.loads(queue.attributes[REDRIVE])
        target = policy["deadLetterTargetArn"].rsplit(":", 1)[1]
        if await self._queues.get(target) is None:
            return items  # the dead-letter queue was deleted: deliver, rather than lose, what would go there
        delivered = []
        for item in items:
            if item.attempts <= policy["maxReceiveCount"]:
                delivered.append(item)
                continue
            moved = dataclasses.replace(StoredMessage.decode(item.payload), source_arn=self.arn(queue.name))
            await self._work.add(message_kind(target), item.key, moved.encode(), due_at=self._clock(),
                                 created_at=item.created_at, group=moved.group_id if is_fifo(queue) else None)
            await self._work.complete(item.id, token)
        if len(delivered) < len(items):
            self._wake(target)
        return delivered

    async def _change_visibility(self, queue: Queue, handle: object, timeout: object) -> None:
        item_id, token = parse_receipt_handle(queue.name, handle)
        if timeout is None:
            raise MissingParameter("The request must contain the parameter VisibilityTimeout.")
        seconds = _whole(timeout, "VisibilityTimeout", 0, SETTABLE["VisibilityTimeout"][1])
        if not await self._work.renew(item_id, token, lease_s=seconds, now=self._clock()):
            raise MessageNotInflight(f"Message {item_id} is not in flight under this receipt "
                                    "handle: it was deleted, or received again since.")
        if seconds == 0:
            self._wake(queue.name)

    def _received(self, queue: Queue, item, token: str, system: set[str],  # type: ignore[no-untyped-def]
                  wanted: Callable[[str], bool]) -> dict[str, Any]:
        stored = StoredMessage.decode(item.payload)
        message: dict[str, Any] = {"MessageId": item.key,
                                   "ReceiptHandle": receipt_handle(queue.name, item.id, token),
                                   "MD5OfBody": md5_of_body(stored.body), "Body": stored.body}
        values = {"SenderId": stored.sender_id, "SentTimestamp": str(stored.sent_ms),
                  "ApproximateReceiveCount": str(item.attempts),
                  "ApproximateFirstReceiveTimestamp": str(_ms(item.first_claimed_at or item.due_at))}
        if stored.source_arn:
            values["DeadLetterQueueSourceArn"] = stored.source_arn
        if stored.group_id is not None:
            values["MessageGroupId"] = stored.group_id
        if is_fifo(queue):
            values["MessageDeduplicationId"] = stored.deduplication_id or ""
            values["SequenceNumber"] = sequence_number(item.id)
        chosen = {key: value for key, value in values.items() if key in system}
        if chosen:
            message["Attributes"] = chosen
        attributes = {key: value for key, value in stored.attributes.items() if wanted(key)}
        if attributes:
            message["MessageAttributes"] = {key: value.wire() for key, value in attributes.items()}
            message["MD5OfMessageAttributes"] = md5_of_attributes(attributes)
        return message

    async def _prune(self, queue: Queue, *, force: bool = False) -> None:
        """Delete messages past the queue's retention period, at most every PRUNE_EVERY_S per queue."""
        now = time.monotonic()
        if not force and now - self._pruned_at.get(queue.name, -PRUNE_EVERY_S) < PRUNE_EVERY_S:
            return
        self._pruned_at[queue.name] = now
        retention = dt.timedelta(seconds=int(queue.attributes["MessageRetentionPeriod"]))
        await self._work.expire(message_kind(queue.name), created_before=self._clock() - retention)
        if is_fifo(queue):
            await self._queues.forget_deduplication(queue.name, now=self._clock())

    def drain(self) -> None:
        """At shutdown: waiting receives answer now, with what they have, rather than hold the node's stop for
        up to their WaitTimeSeconds."""
        self._draining = True
        for arrived in self._arrivals.values():
            arrived.set()
        self._arrivals.clear()

    def _wake(self, name: str) -> None:
        arrived = self._arrivals.pop(name, None)
        if arrived is not None:
            arrived.set()

    async def _settable(self, name: str, attributes: object, fifo: bool) -> dict[str, str]:
        """The attributes asked for, checked and in their stored form."""
        if attributes is None:
            return {}
        if not isinstance(attributes, dict):
            raise SqsInvalidParameterValue("Attributes must be a map of attribute names to values.")
        checked = {}
        for key, value in attributes.items():
            if key == FIFO:
                continue  # the queue's type: create_queue chose it, set_attributes refuses it
            if key in FIFO_SETTABLE:
                checked[key] = self._fifo_attribute(key, value, fifo)
                continue
            if key in NOT_SUPPORTED:
                raise InvalidAttributeValue(f"Invalid value for the parameter {key}: {NOT_SUPPORTED[key]}.")
            if key == REDRIVE:
                checked[key] = await self._redrive_policy(name, value)
                continue
            if key not in SETTABLE:
                raise InvalidAttributeName(f"Unknown Attribute {str(key)[:256]}.")
            least, most, _ = SETTABLE[key]
            checked[key] = str(_whole(value, key, least, most, InvalidAttributeValue))
        return checked

    @staticmethod
    def _fifo_attribute(key: str, value: object, fifo: bool) -> str:
        if not fifo:
            raise InvalidAttributeName(f"Unknown Attribute {key}: it is a FIFO queue's (a name ending in .fifo, "
                                       "created with FifoQueue=true).")
        allowed = FIFO_SETTABLE[key]
        text = str(value).lower() if key == "ContentBasedDeduplication" else str(value)
        if text not in allowed:
            raise InvalidAttributeValue(f"Invalid value for the parameter {key}: {str(value)[:64]}. Reason: must be "
                                        f"one of {', '.join(allowed)}.")
        return text

    async def _redrive_policy(self, name: str, value: object) -> str:
        """A RedrivePolicy in its stored form ("" removes it); its dead-letter queue must exist here."""
        if value == "":
            return ""
        try:
            policy = json.loads(value) if isinstance(value, str) else None
        except ValueError:
            policy = None
        if not isinstance(policy, dict) or not isinstance(policy.get("deadLetterTargetArn"), str) \
                or not isinstance(policy.get("maxReceiveCount"), (int, str)):
            raise InvalidAttributeValue("Value for parameter RedrivePolicy is invalid. Reason: it must be a JSON "
                                        "object with deadLetterTargetArn and maxReceiveCount.")
        arn = policy["deadLetterTargetArn"]
        count = _whole(policy["maxReceiveCount"], "RedrivePolicy.maxReceiveCount", 1, MAX_RECEIVE_COUNT,
                       InvalidAttributeValue)
        target = arn.rsplit(":", 1)[1] if arn.startswith(self.arn("")) else None
        if target is None or target == name or await self._queues.get(target) is None:
            raise InvalidAttributeValue(f"Value {arn[:256]} for parameter RedrivePolicy is invalid. Reason: Dead "
                                        "letter target does not exist (it must be another queue of this account "
                                        "and region).")
        if target.endswith(".fifo") != name.endswith(".fifo"):
            raise InvalidAttributeValue(f"Value {arn[:256]} for parameter RedrivePolicy is invalid. Reason: "
                                        "Dead-letter queue must be same type of queue as the source.")
        return json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": count}, separators=(",", ":"))

    @staticmethod
    def _tags(tags: object) -> dict[str, str]:
        if tags is None:
            return {}
        if not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
            raise SqsInvalidParameterValue("Tags must be a map of string keys to string values.")
        for key, value in tags.items():
            if not 1 <= len(key) <= 128 or len(value) > 256:
                raise SqsInvalidParameterValue(f"Tag key {key[:128]!r} must be 1 to 128 characters and its value at "
                                               "most 256.")
        if len(tags) > MAX_TAGS:
            raise OverLimit(f"A queue has at most {MAX_TAGS} tags.")
        return dict(tags)

    @staticmethod
    def _attribute_names(names: object) -> set[str]:
        if names is None:
            return set()
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise SqsInvalidParameterValue("AttributeNames must be a list of attribute names.")
        for name in names:
            known = (*SETTABLE, *FIFO_SETTABLE, *READ_ONLY, *NOT_SUPPORTED)
            if name not in ("All", REDRIVE, FIFO) and name not in known:
                raise InvalidAttributeName(f"Unknown Attribute {name[:256]}.")
        return set(names)

    @staticmethod
    def _system_names(params: dict[str, Any]) -> set[str]:
        names: list[str] = []
        for field in ("AttributeNames", "MessageSystemAttributeNames"):
            given = params.get(field)
            if given is None:
                continue
            if not isinstance(given, list) or not all(isinstance(name, str) for name in given):
                raise SqsInvalidParameterValue(f"{field} must be a list of attribute names.")
            for name in given:
                if name not in ALL_SYSTEM_ATTRIBUTES:
                    raise InvalidAttributeName(f"Unknown Attribute {name[:256]}.")
            names.extend(given)
        return {*SYSTEM_ATTRIBUTES, *FIFO_SYSTEM_ATTRIBUTES} if "All" in names else set(names)

    @staticmethod
    def _message_attribute_names(names: object) -> Callable[[str], bool]:
        """Which message attributes a receive asked for: names, `prefix.*`, or All / `.*`."""
        if names is None:
            return lambda _: False
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise SqsInvalidParameterValue("MessageAttributeNames must be a list of attribute names.")
        if "All" in names or ".*" in names:
            return lambda _: True
        exact = {name for name in names if not name.endswith(".*")}
        prefixes = tuple(name[:-1] for name in names if name.endswith(".*"))
        return lambda name: name in exact or (bool(prefixes) and name.startswith(prefixes))
