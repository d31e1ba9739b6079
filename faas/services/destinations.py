"""Where a function's asynchronous results go: an OnSuccess or OnFailure destination, or a dead-letter queue,
names a function, a queue or a topic by ARN. Lambda delivers them with the function's execution role, so the
role's rights decide, both when a target is configured and again at every delivery."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable
from typing import Any

from faas.errors import InvalidParameterValue
from faas.security import policy
from faas.services.identities import IdentityService
from faas.services.permissions import PermissionService

INVOKE = "lambda:InvokeFunction"
# What the role must be allowed for each kind of target, and the operation's name in Lambda's error text.
ACTIONS = {"lambda": (INVOKE, "InvokeFunction"), "sqs": ("sqs:SendMessage", "SendMessage"),
           "sns": ("sns:Publish", "Publish")}
NOUNS = {"lambda": "function", "sqs": "queue", "sns": "topic"}

_FUNCTION_RE = re.compile(r"arn:aws[a-zA-Z-]*:lambda:([a-z0-9-]+):(\d{12}):function:([a-zA-Z0-9_-]{1,64})(:\$LATEST)?")
_RESOURCE_RE = re.compile(r"arn:aws[a-zA-Z-]*:(sqs|sns):([a-z0-9-]+):(\d{12}):([a-zA-Z0-9_-]{1,80}(?:\.fifo)?)")

# Sends a message to a queue or a topic: (target, body, message attributes {name: (type, value)}, sender).
Send = Callable[["Target", str, dict[str, tuple[str, str]], str], Awaitable[None]]


@dataclasses.dataclass(frozen=True)
class Target:
    service: str  # lambda | sqs | sns
    region: str
    account: str
    name: str  # the function, queue or topic
    arn: str  # as configured (a function's may end in :$LATEST)

    @property
    def action(self) -> str:
        return ACTIONS[self.service][0]


def parse_target(arn: object, what: str = "destination", services: tuple[str, ...] = ("lambda", "sqs", "sns")) -> Target:
    """The function, queue or topic an ARN names; `services` are the kinds `what` may be."""
    if not isinstance(arn, str):
        raise InvalidParameterValue(f"The {what} ARN must be a string")
    found = _FUNCTION_RE.fullmatch(arn)
    if found:
        target = Target("lambda", found.group(1), found.group(2), found.group(3), arn)
    else:
        found = _RESOURCE_RE.fullmatch(arn)
        if not found:
            kinds = " or ".join(f"a {NOUNS[service]}" for service in services)
            raise InvalidParameterValue(f"The {what} ARN {arn[:256]} is not valid: it must name {kinds} "
                                        "(arn:aws:<service>:<region>:<account>:...)")
        target = Target(found.group(1), found.group(2), found.group(3), found.group(4), arn)
    if target.service not in services:
        raise InvalidParameterValue(f"The {what} ARN {arn[:256]} names an {target.service} resource, which cannot be "
                                    f"a {what}")
    if target.service != "lambda" and target.name.endswith(".fifo"):
        # Lambda's own rule: its records carry no message group, so only standard queues and topics qualify.
        raise InvalidParameterValue(f"The {what} ARN {arn[:256]} names a FIFO {NOUNS[target.service]}: "
                                    f"a {what} must be a standard one")
    return target


class Destinations:
    """Checks by pure policy evaluation over cached documents (the role's own policies and, for a function,
    its function policy, combined as for any caller: an explicit Deny wins, then an Allow in either), and
    sends to queues and topics (functions are the asynchronous invoker's own business)."""

    def __init__(self, identities: IdentityService, permissions: PermissionService, *, region: str, account_id: str,
                 send: dict[str, Send] | None = None) -> None:
        self._identities = identities
        self._permissions = permissions
        self._region = region
        self._account = account_id
        self._send = dict(send or {})  # by service: how a message reaches a queue ("sqs") or a topic ("sns")

    def home_arn(self, target: Target) -> str:
        """The ARN the target would have on this platform."""
        resource = f"function:{target.name}" if target.service == "lambda" else target.name
        return f"arn:aws:{target.service}:{self._region}:{self._account}:{resource}"

    def check_local(self, target: Target, what: str = "destination") -> None:
        if target.service != "lambda" and target.service not in self._send:
            raise InvalidParameterValue(f"The {what} ARN {target.arn[:256]} names an {target.service} resource, "
                                        "which this platform cannot send to yet")
        if (target.region, target.account) != (self._region, self._account):
            raise InvalidParameterValue(
                f"The {what} ARN {target.arn[:256]} names a resource outside this platform: it must be a "
                f"{NOUNS[target.service]} of this region and account ({self.home_arn(target)})")

    async def check(self, role_arn: str, source_function: str, target: Target, what: str = "destination") -> None:
        """Refuse, with Lambda's error, a target outside this platform or one the role may not send to."""
        self.check_local(target, what)
        if not await self.may_send(role_arn, source_function, target):
            action, operation = ACTIONS[target.service]
            raise InvalidParameterValue(
                f"The function's execution role {role_arn} does not have permissions to call {operation} on "
                f"{target.arn}: allow it {action} on the {what}"
                + (" (in the role's policy, or with AddPermission on the destination)" if target.service == "lambda"
                   else " in the role's policy"))

    async def may_send(self, role_arn: str, source_function: str, target: Target) -> bool:
        """May `source_function`, running as `role_arn`, send to `target`?"""
        documents = await self._identities.role_documents(role_arn)
        if documents is None:
            return False  # not a role of this account: it is allowed nothing
        resource = self.home_arn(target)
        identity = policy.evaluate(documents, target.action, resource)
        if identity == policy.DENY:
            return False
        resource_decision = policy.NO_MATCH
        statements = await self._permissions.statements(target.name) if target.service == "lambda" else ()
        if statements:
            # The caller is the source function's role session, which statements naming the role cover.
            session = self._identities.session_arn(role_arn.rsplit("/", 1)[1], source_function)
            resource_decision = policy.evaluate_resource_policy(statements, principal=session, action=INVOKE,
                                                                resource=resource)
        return policy.is_allowed(identity, resource_decision)

    async def send(self, target: Target, body: str, attributes: dict[str, tuple[str, str]], role_arn: str,
                   source_function: str) -> None:
        """Deliver a message to a queue or a topic, sent as the function's role session."""
        sender = f"{role_arn.rsplit('/', 1)[-1]}:{source_function}"
        await self._send[target.service](target, body, attributes, sender)


def queue_entry(body: str, attributes: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """SendMessage's parameters for a body and typed attributes."""
    entry: dict[str, Any] = {"MessageBody": body}
    if attributes:
        entry["MessageAttributes"] = {name: {"DataType": kind, "StringValue": value}
                                      for name, (kind, value) in attributes.items()}
    return entry
