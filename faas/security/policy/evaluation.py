"""Deciding Allow or Deny: identity policies (`evaluate`), function policies for one caller
(`evaluate_resource_policy`), and the two decisions combined (`is_allowed`)."""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from faas.security.policy.conditions import _conditions_hold
from faas.security.policy.documents import ALLOW, DENY, NO_MATCH
from faas.security.policy.matching import _action_matcher, _resource_matcher
from faas.security.policy.statements import _ACCOUNT_ID, _SERVICE_NAME

# A caller's ARN: arn:<partition>:iam|sts::<account>:<resource>.
_CALLER_ARN = re.compile(r"arn:([^:\s]+):(iam|sts)::(\d{12}):(\S+)")
# An account principal as a statement names it: the account's root ARN (or, unnormalised, a bare id).
_ACCOUNT_ROOT = re.compile(r"arn:([^:\s]+):iam::(\d{12}):root")
_ROLE_ARN = re.compile(r"arn:([^:\s]+):iam::(\d{12}):role/(?:\S+/)?([^/\s]+)")


def _matches_any(patterns: str | list[str], value: str, matcher: Callable[[str], Callable[[str], bool]],
                 ) -> bool:
    if isinstance(patterns, str):
        return matcher(patterns)(value)
    for pattern in patterns:
        if matcher(pattern)(value):
            return True
    return False


def _action_and_resource_match(statement: Mapping[str, Any], action: str, resource: str) -> bool:
    """`action` is lower-cased. A statement missing both Action and NotAction raises KeyError."""
    if "NotAction" in statement:
        if _matches_any(statement["NotAction"], action, _action_matcher):
            return False
    elif not _matches_any(statement["Action"], action, _action_matcher):
        return False
    if "NotResource" in statement:
        return not _matches_any(statement["NotResource"], resource, _resource_matcher)
    return _matches_any(statement["Resource"], resource, _resource_matcher)


def _is_deny(statement: Mapping[str, Any]) -> bool:
    effect = statement["Effect"]
    if effect == DENY:
        return True
    if effect != ALLOW:
        raise ValueError(f"policy statement has an unknown Effect {effect!r}")
    return False


# --- identity policies ----------------------------------------------------------------------------


def evaluate(documents: Iterable[dict], action: str, resource: str) -> str:
    """Identity-based evaluation: DENY if any statement denies, else ALLOW if any allows, else NO_MATCH.

    `documents` are parse_document results.
    """
    action = action.lower()
    allowed = False
    for document in documents:
        statements = document["Statement"]
        if isinstance(statements, dict):
            statements = (statements,)
        for statement in statements:
            if _action_and_resource_match(statement, action, resource):
                if _is_deny(statement):
                    return DENY
                allowed = True
    return ALLOW if allowed else NO_MATCH


# --- resource (function) policies -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Caller:
    arn: str | None = None  # an IAM/STS principal's ARN
    partition: str | None = None
    account: str | None = None
    role_name: str | None = None  # set for an assumed-role session
    service: str | None = None  # set for a platform service caller, lower-cased


_ANONYMOUS = _Caller()


@functools.lru_cache(maxsize=1024)
def _caller(principal: str) -> _Caller:
    if principal == "anonymous":
        return _ANONYMOUS
    if principal.startswith("service:") and _SERVICE_NAME.fullmatch(principal[len("service:"):]):
        return _Caller(service=principal[len("service:"):].lower())
    arn = _CALLER_ARN.fullmatch(principal)
    if arn is None:
        raise ValueError(f"not a caller principal: {principal!r}")
    partition, service, account, path = arn.groups()
    role_name = None
    if service == "sts":
        kind, _, rest = path.partition("/")
        role, _, session = rest.partition("/")
        if kind != "assumed-role" or not role or not session:
            raise ValueError(f"not a caller principal: {principal!r}")
        role_name = role
    return _Caller(arn=principal, partition=partition, account=account, role_name=role_name)


def _aws_principal_matches(value: str, caller: _Caller, deny: bool) -> bool:
    if value == "*":
        return True
    if caller.arn is None:  # services and anonymous callers are named only by "*" here
        return False
    root = _ACCOUNT_ROOT.fullmatch(value)
    if root is not None or _ACCOUNT_ID.fullmatch(value):
        # An account principal delegates to the account's own identity policies: it never grants by
        # itself. A Deny naming the account does cover every principal in it.
        partition, account = root.groups() if root else (caller.partition, value)
        return deny and account == caller.account and partition == caller.partition
    if value == caller.arn:
        return True
    if caller.role_name is not None:  # a session is covered by statements naming its role
        role = _ROLE_ARN.fullmatch(value)
        return role is not None and role.groups() == (caller.partition, caller.account, caller.role_name)
    return False


def _principal_matches(principal: Any, caller: _Caller, deny: bool) -> bool:
    """A statement without Principal raises KeyError upstream; an unknown principal type never matches."""
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        raise ValueError(f"policy statement has an invalid Principal {principal!r}")
    aws = principal.get("AWS")
    if aws is not None:
        for value in (aws,) if isinstance(aws, str) else aws:
            if _aws_principal_matches(value, caller, deny):
                return True
    service = principal.get("Service")
    if service is not None and caller.service is not None:
        for value in (service,) if isinstance(service, str) else service:
            if value.lower() == caller.service:
                return True
    return False


def evaluate_resource_policy(
    statements: Iterable[dict],
    *,
    principal: str,
    action: str,
    resource: str,
    context: Mapping[str, str] | None = None,
) -> str:
    """Function-policy evaluation for one caller: DENY, ALLOW or NO_MATCH.

    principal is the caller: "arn:aws:iam::<acct>:user/<name>", "...:role/<name>", an assumed-role
    session "arn:aws:sts::<acct>:assumed-role/<role>/<session>" (also covered by statements naming
    the role), "service:<name>.amazonaws.com" for platform services, or "anonymous" (covered only by
    "*" and {"AWS": "*"}). An Allow naming an account ({"AWS": "arn:aws:iam::<acct>:root"}) is
    NO_MATCH: as in AWS, the identity policy must allow. `context` holds condition keys
    (aws:SourceArn, aws:SourceAccount, lambda:FunctionUrlAuthType, lambda:InvokedViaFunctionUrl,
    aws:PrincipalOrgID...).
    """
    caller = _caller(principal)
    action = action.lower()
    lowered: Mapping[str, str] | None = None
    allowed = False
    for statement in statements:
        deny = _is_deny(statement)
        if not _action_and_resource_match(statement, action, resource):
            continue
        if not _principal_matches(statement["Principal"], caller, deny):
            continue
        condition = statement.get("Condition")
        if condition:
            if lowered is None:
                lowered = {k.lower(): v for k, v in (context or {}).items()}
            if not _conditions_hold(condition, lowered):
                continue
        if deny:
            return DENY
        allowed = True
    return ALLOW if allowed else NO_MATCH


def is_allowed(identity: str, resource: str = NO_MATCH) -> bool:
    """Combine the two decisions: an explicit DENY in either wins, then an ALLOW in either allows."""
    if DENY in (identity, resource):
        return False
    return ALLOW in (identity, resource)
