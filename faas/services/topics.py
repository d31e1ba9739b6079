"""SNS topics: topics and their subscriptions (faas/store/topics.py), and publishing, which fans a message out
to every confirmed subscription its filter policy lets through and records each delivery as leased work in
one transaction before it answers: a function's as an asynchronous invocation (it gets the async path's
retries and destinations), a queue's and an HTTP endpoint's as a delivery that faas/sources/topic_deliveries.py
makes.

Who may receive: a `lambda` subscription needs the function's resource policy to allow sns.amazonaws.com
lambda:InvokeFunction with the topic as SourceArn (AddPermission), checked at Subscribe and again at every
publish (a removed permission stops deliveries, each refusal audited); an `sqs` subscription needs the
subscriber's own policies to allow sqs:SendMessage on the queue (checked by the API at Subscribe); an
`http`/`https` endpoint must confirm the subscription with the token it is sent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
import secrets
import urllib.parse
import uuid
from collections.abc import Callable
from typing import Any

from faas.errors import (
    InvalidEventPattern,
    InvalidParameter,
    SnsAuthorizationError,
    SnsError,
    SnsResourceNotFound,
    TopicNotFound,
)
from faas.event_patterns import compile_pattern
from faas.model import utcnow
from faas.security import policy
from faas.security.addresses import AddressRule, literal_address
from faas.security.message_signing import Signer
from faas.services import topic_checks as checks
from faas.services import topic_messages as messages
from faas.services.permissions import PermissionService
from faas.store.audit import AuditEntry
from faas.store.topics import Subscription, Topic, TopicStore, Work

DELIVERY = "sns"  # the kind of work a queue's or an HTTP endpoint's delivery is
SNS_PRINCIPAL = "service:sns.amazonaws.com"
INVOKE = "lambda:InvokeFunction"
NAME = re.compile(r"[A-Za-z0-9_-]{1,256}")
FIFO_NAME = re.compile(r"[A-Za-z0-9_-]{1,251}\.fifo")
PAGE = 100
DEDUPLICATION_WINDOW = dt.timedelta(minutes=5)
FORGET_EVERY = dt.timedelta(minutes=1)
PROTOCOLS = ("lambda", "sqs", "http", "https")
PENDING = "pending confirmation"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def group_key(subscription_id: str, group: str) -> str:
    """The work-item group a FIFO message's delivery waits in: per subscription and message group, so each
    subscriber gets each group in order, and one slow subscriber holds up only its own deliveries."""
    return hashlib.sha256(f"{subscription_id}\n{group}".encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class PublishedMessage:
    message_id: str
    sequence_number: str | None


@dataclasses.dataclass(frozen=True)
class BatchFailure:
    id: str
    code: str
    message: str

    def wire(self) -> dict[str, Any]:
        return {"Id": self.id, "Code": self.code, "Message": self.message, "SenderFault": True}


class TopicService:
    def __init__(self, store: TopicStore, permissions: PermissionService, signer: Signer, *, region: str,
                 account_id: str, function_arn: Callable[[str], str], queue_exists: Callable[[str], Any],
                 lambda_work: Callable[[str, bytes], Work], published: Callable[[], None],
                 audit: Callable[[AuditEntry], None], http_rule: AddressRule,
                 clock: Callable[[], dt.datetime] = utcnow) -> None:
        self._store = store
        self._permissions = permissions
        self.signer = signer
        self._region = region
        self.account_id = account_id
        self._function_arn = function_arn
        self._queue_exists = queue_exists  # async: queue name -> bool
        self._lambda_work = lambda_work  # (function name, event) -> its asynchronous invocation's work item
        self._published = published  # wakes the sources that deliver what was just recorded
        self._audit = audit
        self._http_rule = http_rule
        self._clock = clock
        self._patterns: dict[str, Any] = {}  # a filter policy's text and scope -> its compiled pattern
        self._forgotten_at: dict[str, dt.datetime] = {}  # per FIFO topic: when its old deduplication ids went

    # ---- ARNs ----

    def topic_arn(self, name: str) -> str:
        return f"arn:aws:sns:{self._region}:{self.account_id}:{name}"

    def subscription_arn(self, subscription: Subscription) -> str:
        return f"{self.topic_arn(subscription.topic)}:{subscription.id}"

    def topic_name(self, arn: object, parameter: str = "TopicArn") -> str:
        """The topic an ARN names: InvalidParameter when it is no topic ARN, NotFound when it names another
        account's or region's."""
        if not isinstance(arn, str) or not arn:
            raise InvalidParameter(f"Invalid parameter: {parameter}")
        parts = arn.split(":")
        if len(parts) != 6 or parts[:3] != ["arn", "aws", "sns"] or not (NAME.fullmatch(parts[5])
                                                                       or FIFO_NAME.fullmatch(parts[5])):
            raise InvalidParameter(f"Invalid parameter: {parameter} Reason: {arn[:256]} is not a topic ARN "
                                   "(arn:aws:sns:<region>:<account>:<name>)")
        if parts[3] != self._region or parts[4] != self.account_id:
            raise TopicNotFound("Topic does not exist")
        return parts[5]

    def subscription_id(self, arn: object) -> tuple[str, str]:
        """The topic and subscription id a subscription ARN names."""
        if not isinstance(arn, str) or arn.count(":") != 6:
            raise InvalidParameter("Invalid parameter: SubscriptionArn")
        topic_arn, _, subscription_id = arn.rpartition(":")
        try:
            uuid.UUID(subscription_id)
        except ValueError:
            raise InvalidParameter("Invalid parameter: SubscriptionArn") from None
        return self.topic_name(topic_arn, "SubscriptionArn"), subscription_id

    # ---- topics ----

    async def create_topic(self, name: object, attributes: object, tags: object) -> Topic:
        if not isinstance(name, str) or not name:
            raise InvalidParameter("Invalid parameter: Topic Name")
        asked = checks.attribute_map(attributes)
        fifo_value = str(asked.pop("FifoTopic", "false")).lower()
        if fifo_value not in ("true", "false"):
            raise InvalidParameter("Invalid parameter: Attributes Reason: FifoTopic must be true or false")
        fifo = fifo_value == "true"
        if fifo != name.endswith(".fifo") or not (FIFO_NAME if fifo else NAME).fullmatch(name):
            raise InvalidParameter(
                "Invalid parameter: Topic Name (1 to 256 letters, digits, '-' and '_'; a FIFO topic's name ends "
                "in .fifo and it is created with FifoTopic=true, and only a FIFO topic's name does)")
        checked = {key: checks.topic_attribute(key, value, fifo) for key, value in asked.items()}
        values = dict(checks.TOPIC_SETTABLE) | ({"FifoTopic": "true", **checks.FIFO_SETTABLE} if fifo else {}) | checked
        topic = await self._store.create(Topic(name, values, checks.tags(tags), self._clock()))
        differing = [key for key, value in checked.items() if topic.attributes.get(key) != value]
        if differing or topic.attributes.get("FifoTopic", "false") != ("true" if fifo else "false"):
            raise InvalidParameter("Invalid parameter: Attributes Reason: Topic already exists with different "
                                   "attributes")
        return topic

    async def topic(self, name: str) -> Topic:
        topic = await self._store.get(name)
        if topic is None:
            raise TopicNotFound("Topic does not exist")
        return topic

    async def list_topics(self, next_token: object) -> tuple[list[str], str | None]:
        after = checks.after(next_token)
        found = await self._store.list(after=after, limit=PAGE + 1)
        names = [topic.name for topic in found[:PAGE]]
        return [self.topic_arn(name) for name in names], (names[-1] if len(found) > PAGE else None)

    async def delete_topic(self, name: str) -> None:
        await self._store.delete(name)  # SNS answers success for a topic that is already gone

    async def get_topic_attributes(self, name: str) -> dict[str, str]:
        topic = await self.topic(name)
        subscriptions = await self._store.subscriptions(name)
        confirmed = sum(1 for subscription in subscriptions if subscription.confirmed)
        return {**topic.attributes, "TopicArn": self.topic_arn(name), "Owner": self.account_id,
                "SubscriptionsConfirmed": str(confirmed), "SubscriptionsPending": str(len(subscriptions) - confirmed),
                "SubscriptionsDeleted": "0", "EffectiveDeliveryPolicy": checks.EFFECTIVE_DELIVERY_POLICY}

    async def set_topic_attribute(self, name: str, key: object, value: object) -> None:
        topic = await self.topic(name)
        if not isinstance(key, str) or not key:
            raise InvalidParameter("Invalid parameter: AttributeName")
        if key == "FifoTopic":
            raise InvalidParameter("Invalid parameter: AttributeName Reason: a topic's type is chosen when it is "
                                   "created")
        checked = checks.topic_attribute(key, "" if value is None else value, topic.attributes.get("FifoTopic") == "true")
        await self._store.set_attributes(name, topic.attributes | {key: checked})

    async def tag(self, arn: object, tags: object) -> None:
        name = self._tagged(arn)
        topic = await self._tagged_topic(name)
        merged = topic.tags | checks.tags(tags)
        if len(merged) > checks.MAX_TAGS:
            raise InvalidParameter(f"Invalid parameter: Tags Reason: a topic has at most {checks.MAX_TAGS} tags")
        await self._store.set_tags(name, merged)

    async def untag(self, arn: object, keys: object) -> None:
        name = self._tagged(arn)
        topic = await self._tagged_topic(name)
        if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
            raise InvalidParameter("Invalid parameter: TagKeys")
        await self._store.set_tags(name, {k: v for k, v in topic.tags.items() if k not in keys})

    async def tags(self, arn: object) -> dict[str, str]:
        return (await self._tagged_topic(self._tagged(arn))).tags

    def _tagged(self, arn: object) -> str:
        try:
            return self.topic_name(arn, "ResourceArn")
        except TopicNotFound:
            raise SnsResourceNotFound("Resource does not exist") from None

    async def _tagged_topic(self, name: str) -> Topic:
        topic = await self._store.get(name)
        if topic is None:
            raise SnsResourceNotFound("Resource does not exist")
        return topic

    # ---- subscriptions ----

    async def subscribe(self, topic_name: str, protocol: object, endpoint: object, attributes: object, owner: str,
                        base_url: str) -> Subscription:
        """A new subscription, or the existing one for the same protocol and endpoint. Queues and functions
        are confirmed at once; an HTTP endpoint is sent a SubscriptionConfirmation to confirm it with."""
        topic = await self.topic(topic_name)
        fifo = topic.attributes.get("FifoTopic") == "true"
        if not isinstance(protocol, str) or protocol not in PROTOCOLS:
            raise InvalidParameter(f"Invalid parameter: Amazon SNS does not support this protocol string: "
                                   f"{str(protocol)[:64]} (faas delivers to {', '.join(PROTOCOLS)})")
        if not isinstance(endpoint, str) or not endpoint:
            raise InvalidParameter("Invalid parameter: Endpoint")
        asked = checks.attribute_map(attributes)
        if checks.no_filter(asked.get("FilterPolicy")):
            asked.pop("FilterPolicy")
        checked = {key: self._subscription_attribute(protocol, key, value, asked) for key, value in asked.items()}
        if protocol == "lambda":
            if fifo:
                raise InvalidParameter("Invalid parameter: Invalid protocol type: lambda (Lambda does not subscribe "
                                       "to FIFO topics)")
            function = self.function_in(endpoint)
            if not await self.may_invoke(topic_name, function):
                raise SnsAuthorizationError(
                    f"Authorization error: the resource policy of function {function} does not allow "
                    f"sns.amazonaws.com to call lambda:InvokeFunction with SourceArn {self.topic_arn(topic_name)}: "
                    "grant it with AddPermission (Principal sns.amazonaws.com, SourceArn the topic's ARN)")
        elif protocol == "sqs":
            queue = self.queue_in(endpoint)
            if not await self._queue_exists(queue):
                raise InvalidParameter(f"Invalid parameter: Endpoint Reason: queue {queue} does not exist")
            if queue.endswith(".fifo") and not fifo:
                raise InvalidParameter("Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed "
                                       "to standard SNS topics")
        else:
            self.check_url(protocol, endpoint)
        for existing in await self._store.subscriptions(topic_name):
            if (existing.protocol, existing.endpoint) == (protocol, endpoint):
                if any(existing.attributes.get(key) != value for key, value in checked.items()):
                    raise InvalidParameter("Invalid parameter: Attributes Reason: Subscription already exists with "
                                           "different attributes")
                return existing
        subscription_id = str(uuid.uuid4())
        now = self._clock()
        work = []
        token = None
        if protocol in ("http", "https"):
            token = secrets.token_hex(64)  # the capability that confirms: 512 random bits
            work.append(self._confirmation(topic_name, subscription_id, protocol, endpoint, token, base_url, now))
        subscription = Subscription(subscription_id, topic_name, protocol, endpoint, owner, checked,
                                    confirmed=token is None, token_hash=token_hash(token) if token else None,
                                    created_at=now)
        stored = await self._store.subscribe(subscription, work, now)
        if work:
            self._published()
        return stored

    async def confirm(self, topic_name: str, token: object) -> Subscription:
        await self.topic(topic_name)
        if not isinstance(token, str) or not token:
            raise InvalidParameter("Invalid parameter: Token")
        subscription = await self._store.confirm(topic_name, token_hash(token))
        if subscription is None:
            raise InvalidParameter("Invalid parameter: Token Reason: no pending subscription of this topic was "
                                   "sent this token")
        return subscription

    async def unsubscribe(self, arn: object, token: str | None = None) -> None:
        """Remove a subscription; `token`, from an UnsubscribeURL, is checked when given (the API's callers are
        authorised by their policies instead)."""
        _, subscription_id = self.subscription_id(arn)
        if token is not None and not secrets.compare_digest(token, self.unsubscribe_token(subscription_id)):
            raise InvalidParameter("Invalid parameter: Token")
        if not await self._store.unsubscribe(subscription_id):
            raise TopicNotFound("Subscription does not exist")

    def unsubscribe_token(self, subscription_id: str) -> str:
        return self.signer.capability(f"unsubscribe:{subscription_id}")

    async def subscription(self, arn: object) -> Subscription:
        topic_name, subscription_id = self.subscription_id(arn)
        found = await self._store.subscription(subscription_id)
        if found is None or found.topic != topic_name:
            raise TopicNotFound("Subscription does not exist")
        return found

    async def subscription_by_id(self, subscription_id: str) -> Subscription | None:
        return await self._store.subscription(subscription_id)

    async def list_subscriptions(self, topic_name: str | None,
                                 next_token: object) -> tuple[list[Subscription], str | None]:
        if topic_name is not None:
            await self.topic(topic_name)
        found = await self._store.subscriptions(topic_name, after=checks.after(next_token), limit=PAGE + 1)
        page = found[:PAGE]
        return page, (page[-1].id if len(found) > PAGE else None)

    def listed(self, subscription: Subscription) -> dict[str, str]:
        return {"SubscriptionArn": self.subscription_arn(subscription) if subscription.confirmed else PENDING,
                "Owner": self.account_id, "Protocol": subscription.protocol, "Endpoint": subscription.endpoint,
                "TopicArn": self.topic_arn(subscription.topic)}

    async def get_subscription_attributes(self, arn: object) -> dict[str, str]:
        subscription = await self.subscription(arn)
        answer = {"SubscriptionArn": self.subscription_arn(subscription),
                  "TopicArn": self.topic_arn(subscription.topic), "Owner": self.account_id,
                  "SubscriptionPrincipal": subscription.owner, "Protocol": subscription.protocol,
                  "Endpoint": subscription.endpoint, "ConfirmationWasAuthenticated": "true",
                  "PendingConfirmation": "false" if subscription.confirmed else "true",
                  "RawMessageDelivery": "false"}
        if "FilterPolicy" in subscription.attributes:
            answer["FilterPolicyScope"] = "MessageAttributes"
        return answer | subscription.attributes

    async def set_subscription_attribute(self, arn: object, key: object, value: object) -> None:
        subscription = await self.subscription(arn)
        if not isinstance(key, str) or key not in checks.SUBSCRIPTION_SETTABLE:
            raise InvalidParameter(f"Invalid parameter: AttributeName Reason: {str(key)[:64]} is not one of "
                                   f"{', '.join(checks.SUBSCRIPTION_SETTABLE)}")
        changed = dict(subscription.attributes)
        if (value in (None, "") and key in ("FilterPolicy", "RedrivePolicy")) or (key == "FilterPolicy"
                                                                               and checks.no_filter(value)):
            changed.pop(key, None)
        else:
            changed[key] = self._subscription_attribute(subscription.protocol, key, value, changed)
        if "FilterPolicy" in changed:  # a policy written for one scope may not be valid in the other
            self._pattern(changed["FilterPolicy"], changed.get("FilterPolicyScope", "MessageAttributes"))
        await self._store.set_subscription_attributes(subscription.id, changed)

    # ---- who may receive ----

    def function_in(self, endpoint: str) -> str:
        """The function a lambda subscription's endpoint names: an unqualified function ARN of this account."""
        prefix = self._function_arn("")
        name = endpoint.removeprefix(prefix)
        if not endpoint.startswith(prefix) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
            raise InvalidParameter(f"Invalid parameter: Lambda endpoint ARN ({endpoint[:256]} is not a function ARN "
                                   f"of this account and region, {prefix}<name>)")
        return name

    def queue_in(self, endpoint: str) -> str:
        prefix = f"arn:aws:sqs:{self._region}:{self.account_id}:"
        name = endpoint.removeprefix(prefix)
        if not endpoint.startswith(prefix) or not re.fullmatch(r"[A-Za-z0-9_-]{1,80}(\.fifo)?", name):
            raise InvalidParameter(f"Invalid parameter: SQS endpoint ARN ({endpoint[:256]} is not a queue ARN of "
                                   f"this account and region, {prefix}<name>)")
        return name

    def check_url(self, protocol: str, endpoint: str) -> None:
        parts = urllib.parse.urlsplit(endpoint)
        if parts.scheme != protocol or not parts.hostname:
            raise InvalidParameter(f"Invalid parameter: Endpoint Reason: an {protocol} endpoint is a URL starting "
                                   f"with {protocol}://")
        address = literal_address(parts.hostname)
        if address is not None and not self._http_rule.permits(address):
            raise InvalidParameter(f"Invalid parameter: Endpoint Reason: deliveries to {address} are not allowed "
                                   "here (FAAS_TOPIC_HTTP_DENY; an operator may open it with FAAS_TOPIC_HTTP_ALLOW)")

    async def may_invoke(self, topic_name: str, function: str) -> bool:
        """Does the function's resource policy let this topic invoke it (pure policy work on cached
        statements)?"""
        statements = await self._permissions.statements(function)
        decision = policy.evaluate_resource_policy(
            statements, principal=SNS_PRINCIPAL, action=INVOKE, resource=self._function_arn(function),
            context={"aws:SourceArn": self.topic_arn(topic_name), "aws:SourceAccount": self.account_id})
        return policy.is_allowed(policy.NO_MATCH, decision)

    # ---- publishing ----

    async def publish(self, topic_name: str, params: dict[str, Any], base_url: str) -> PublishedMessage:
        topic = await self.topic(topic_name)
        message = checks.publish_message(topic, params)
        return (await self._publish(topic, [message], base_url))[0]

    async def publish_batch(self, topic_name: str, entries: object,
                            base_url: str) -> tuple[list[tuple[str, PublishedMessage]], list[BatchFailure]]:
        topic = await self.topic(topic_name)
        ids, checked, failed = [], [], []
        for entry in checks.batch(entries):
            try:
                checked.append(checks.publish_message(topic, entry))
            except SnsError as error:
                failed.append(BatchFailure(entry["Id"], error.code, error.message))
                continue
            ids.append(entry["Id"])
        published = await self._publish(topic, checked, base_url) if checked else []
        return list(zip(ids, published)), failed

    async def _publish(self, topic: Topic, batch: list[checks.Message], base_url: str) -> list[PublishedMessage]:
        """Record one delivery per matching subscription of each message; only then answer. A standard topic's
        messages are written in one transaction; a FIFO topic's one at a time, each in one transaction with
        its sequence number and deduplication id."""
        subscriptions = await self._store.subscriptions(topic.name, confirmed_only=True)
        now = self._clock()
        fanned = [await self._fan_out(topic, message, subscriptions, base_url, now) for message in batch]
        if topic.attributes.get("FifoTopic") != "true":
            await self._store.add_deliveries([work for _, work in fanned for work in work], now=now)
            if any(work for _, work in fanned):
                self._published()
            return [PublishedMessage(message_id, None) for message_id, _ in fanned]
        answers = []
        for message, (message_id, work) in zip(batch, fanned):
            published = await self._store.publish_fifo(topic.name, message_id, work, now=now,
                                                       deduplication_id=message.deduplication_id,  # type: ignore[arg-type]
                                                       window=DEDUPLICATION_WINDOW)
            if work and not published.duplicate:
                self._published()
            answers.append(PublishedMessage(published.message_id, f"{published.sequence_number:020d}"))
        await self._forget_deduplication(topic.name, now)
        return answers

    async def _fan_out(self, topic: Topic, message: checks.Message, subscriptions: list[Subscription], base_url: str,
                       now: dt.datetime) -> tuple[str, list[Work]]:
        """A new message's id, and the work item of each subscription it is delivered to."""
        message_id = str(uuid.uuid4())
        at = messages.timestamp(now)
        arn = self.topic_arn(topic.name)
        fifo = topic.attributes.get("FifoTopic") == "true"
        certificate_url = f"{base_url}/SimpleNotificationService-{self.signer.key_id}.pem"
        signatures: dict[str, tuple[dict[str, str], str]] = {}

        def signed(text: str) -> tuple[dict[str, str], str]:  # one signature per distinct text, not per subscriber
            if text not in signatures:
                fields = messages.signed_fields(message_id=message_id, topic_arn=arn, message=text,
                                                subject=message.subject, at=at)
                signatures[text] = fields, self.signer.sign(fields)
            return signatures[text]

        work = []
        for subscription in subscriptions:
            text = message.text_for(subscription.protocol)
            if not self._matches(subscription, message, text):
                continue
            fields, signature = signed(text)
            unsubscribe_url = (f"{base_url}/?Action=Unsubscribe&SubscriptionArn="
                               f"{urllib.parse.quote(self.subscription_arn(subscription), safe='')}"
                               f"&Token={self.unsubscribe_token(subscription.id)}")
            if subscription.protocol == "lambda":
                function = self.function_in(subscription.endpoint)
                if not await self.may_invoke(topic.name, function):
                    self._refused(subscription, function)
                    continue
                event = messages.lambda_event(fields, subscription_arn=self.subscription_arn(subscription),
                                              signature=signature, certificate_url=certificate_url,
                                              unsubscribe_url=unsubscribe_url, attributes=message.attributes)
                work.append(self._lambda_work(function, json.dumps(event).encode()))
                continue
            raw = subscription.attributes.get("RawMessageDelivery") == "true"
            document = messages.envelope(fields, signature=signature, certificate_url=certificate_url,
                                         unsubscribe_url=unsubscribe_url, attributes=message.attributes)
            delivery = {"subscription": subscription.id, "topic_arn": arn, "protocol": subscription.protocol,
                        "endpoint": subscription.endpoint, "type": "Notification", "message_id": message_id,
                        "body": text if raw else json.dumps(document), "raw": raw}
            if raw and subscription.protocol == "sqs":
                delivery["attributes"] = {name: value.sqs() for name, value in message.attributes.items()}
            if fifo:
                delivery |= {"group": message.group, "deduplication_id": message.deduplication_id}
            work.append(Work(DELIVERY, f"{message_id}:{subscription.id}", json.dumps(delivery).encode(),
                             group_key(subscription.id, message.group) if fifo and message.group else None))
        return message_id, work

    async def _forget_deduplication(self, topic: str, now: dt.datetime) -> None:
        """Drop a FIFO topic's deduplication ids past their five minutes, at most once a minute per topic (a
        publish ignores expired ones meanwhile)."""
        if now - self._forgotten_at.get(topic, dt.datetime.min.replace(tzinfo=dt.timezone.utc)) < FORGET_EVERY:
            return
        self._forgotten_at[topic] = now
        await self._store.forget_deduplication(topic, now=now)

    def _matches(self, subscription: Subscription, message: checks.Message, text: str) -> bool:
        document = subscription.attributes.get("FilterPolicy")
        if document is None:
            return True
        scope = subscription.attributes.get("FilterPolicyScope", "MessageAttributes")
        event = messages.filter_event(scope, text, message.attributes)
        return event is not None and self._pattern(document, scope).matches(event)

    def _pattern(self, document: str, scope: str):  # type: ignore[no-untyped-def]
        key = f"{scope}\n{document}"
        pattern = self._patterns.get(key)
        if pattern is None:
            try:
                pattern = compile_pattern(json.loads(document), dialect="sns")
            except (InvalidEventPattern, ValueError) as error:
                raise InvalidParameter(f"Invalid parameter: FilterPolicy: {error}") from None
            if scope == "MessageAttributes" and pattern.nested:
                raise InvalidParameter("Invalid parameter: FilterPolicy: Filter policy scope MessageAttributes "
                                       "does not support nested filter policy")
            if len(self._patterns) > 10_000:
                self._patterns.clear()
            self._patterns[key] = pattern
        return pattern

    def _refused(self, subscription: Subscription, function: str) -> None:
        self._audit(AuditEntry(at=self._clock(), principal="sns.amazonaws.com", action=INVOKE,
                               resource=self._function_arn(function), status=403, outcome="denied",
                               request_id=self.subscription_arn(subscription), source_ip=""))

    def _confirmation(self, topic_name: str, subscription_id: str, protocol: str, endpoint: str, token: str,
                      base_url: str, now: dt.datetime) -> Work:
        arn = self.topic_arn(topic_name)
        message_id = str(uuid.uuid4())
        subscribe_url = (f"{base_url}/?Action=ConfirmSubscription&TopicArn={urllib.parse.quote(arn, safe='')}"
                         f"&Token={token}")
        fields = {"Type": "SubscriptionConfirmation", "MessageId": message_id, "Token": token, "TopicArn": arn,
                  "Message": f"You have chosen to subscribe to the topic {arn}.\nTo confirm the subscription, "
                             "visit the SubscribeURL included in this message.",
                  "SubscribeURL": subscribe_url, "Timestamp": messages.timestamp(now)}
        document = {**fields, "SignatureVersion": "2", "Signature": self.signer.sign(fields),
                    "SigningCertURL": f"{base_url}/SimpleNotificationService-{self.signer.key_id}.pem"}
        delivery = {"subscription": subscription_id, "topic_arn": arn, "protocol": protocol, "endpoint": endpoint,
                    "type": "SubscriptionConfirmation", "message_id": message_id, "body": json.dumps(document),
                    "raw": False}
        return Work(DELIVERY, f"confirm:{subscription_id}", json.dumps(delivery).encode())

    # ---- checks ----

    def _subscription_attribute(self, protocol: str, key: object, value: object,
                                current: dict[str, str] | None = None) -> str:
        if not isinstance(key, str) or key not in checks.SUBSCRIPTION_SETTABLE:
            raise InvalidParameter(f"Invalid parameter: Attributes Reason: Unknown attribute {str(key)[:128]} (a "
                                   f"subscription sets {', '.join(checks.SUBSCRIPTION_SETTABLE)})")
        if not isinstance(value, str):
            raise InvalidParameter(f"Invalid parameter: Attributes Reason: {key} must be a string")
        if key == "RawMessageDelivery":
            if value.lower() not in ("true", "false"):
                raise InvalidParameter("Invalid parameter: Attributes Reason: RawMessageDelivery must be true or "
                                       "false")
            if protocol == "lambda" and value.lower() == "true":
                raise InvalidParameter("Invalid parameter: Attributes Reason: Delivery protocol [lambda] does not "
                                       "support raw message delivery.")
            return value.lower()
        if key == "FilterPolicyScope":
            if value not in checks.SCOPES:
                raise InvalidParameter("Invalid parameter: Attributes Reason: FilterPolicyScope must be "
                                       "MessageAttributes or MessageBody")
            return value
        if key == "FilterPolicy":
            scope = (current or {}).get("FilterPolicyScope", "MessageAttributes")
            self._pattern(value, scope if scope in checks.SCOPES else "MessageAttributes")
            return value
        try:
            redrive = json.loads(value)
        except ValueError:
            redrive = None
        if not isinstance(redrive, dict) or not isinstance(redrive.get("deadLetterTargetArn"), str):
            raise InvalidParameter("Invalid parameter: RedrivePolicy: deadLetterTargetArn is missing")
        self.queue_in(redrive["deadLetterTargetArn"])
        return json.dumps({"deadLetterTargetArn": redrive["deadLetterTargetArn"]})
