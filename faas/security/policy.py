"""IAM-style policies: validating documents, building function-policy statements, deciding Allow or Deny.

Pure functions, no I/O; the semantics are AWS's:

- An explicit Deny anywhere wins; otherwise an Allow anywhere allows; otherwise the request is denied.
- Actions match case-insensitively, resources case-sensitively; both take `*` and `?` wildcards, and `*`
  crosses `:` and `/`, so `function:app` does not cover `function:app:PROD` but `function:app*` does.
- A condition key absent from the request context makes a positive operator (StringEquals, ArnLike...)
  false and a negated one (StringNotEquals, ArnNotLike...) true, as IAM documents.
  Bool compares "true"/"false" without regard to case; the platform alone sets the keys a function
  URL request carries (`lambda:FunctionUrlAuthType`, `lambda:InvokedViaFunctionUrl`), so a direct
  Invoke never matches a grant limited to invocations through the URL.
- Statements are trusted to be well formed (the output of `parse_document` or `function_statement`):
  a malformed one, or an unsupported condition operator, raises rather than being skipped, so a bad
  stored policy fails closed.

Wildcard patterns are compiled once (lru_cache) into matchers that never backtrack: a pattern such
as `*a*a*a*a*a*a*b` cannot make a request backtrack for seconds. Rough cost on a laptop (not a test):

    python -m timeit -s 'from faas.security.policy import evaluate
    doc = {"Statement": [{"Effect": "Allow", "Action": [f"lambda:Get{i}*", "lambda:List*"],
           "Resource": f"arn:aws:lambda:us-east-1:000000000000:function:app{i}-*"} for i in range(10)]}' \\
      'evaluate([doc], "lambda:InvokeFunction", "arn:aws:lambda:us-east-1:000000000000:function:x")'
    # ~5 usec per loop (the budget is 20); a 10-statement function policy with conditions: ~9 usec
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from faas.errors import InvalidParameterValue

ALLOW, DENY, NO_MATCH = "Allow", "Deny", "NoMatch"

VERSIONS = ("2012-10-17", "2008-10-17")
DEFAULT_VERSION = "2012-10-17"

_DOCUMENT_KEYS = frozenset({"Version", "Id", "Statement"})
_STATEMENT_KEYS = frozenset({"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource"})
# What an identity policy cannot have here, with the reason the user sees.
_REFUSED_KEYS = {
    "Principal": "is not allowed in an identity policy",
    "NotPrincipal": "is not allowed in an identity policy",
    # evaluate() has no request context, so a condition could only be ignored, widening an Allow.
    "Condition": "is not supported in identity policies",
}
_IAM_ACTION = re.compile(r"\*|[A-Za-z0-9*?-]+:[A-Za-z0-9*?]+")

# AddPermission's own limits (botocore's Lambda model); the statement id also allows "." here.
_LAMBDA_ACTION = re.compile(r"lambda:\*|lambda:[a-zA-Z]+|\*")
_STATEMENT_ID = re.compile(r"[a-zA-Z0-9_.-]{1,100}")
_SOURCE_ARN = re.compile(
    r"arn:(aws[a-zA-Z0-9-]*):[a-zA-Z0-9-]+:((eusc-)?[a-z]{2}((-gov)|(-iso[a-z]?))?-[a-z]+-\d)?:(\d{12})?:.*"
)
_ACCOUNT_ID = re.compile(r"\d{12}")
_ORG_ID = re.compile(r"o-[a-z0-9]{10,32}")
_PRINCIPAL_ARN = re.compile(r"arn:aws[a-zA-Z-]*:(iam|sts)::\d{12}:[^\s*?]+")
_SERVICE_NAME = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_URL_AUTH_TYPES = ("NONE", "AWS_IAM")
# Condition keys the platform sets for a request through a function URL (never taken from the caller).
FUNCTION_URL_AUTH_TYPE = "lambda:FunctionUrlAuthType"
INVOKED_VIA_FUNCTION_URL = "lambda:InvokedViaFunctionUrl"

# A caller's ARN: arn:<partition>:iam|sts::<account>:<resource>.
_CALLER_ARN = re.compile(r"arn:([^:\s]+):(iam|sts)::(\d{12}):(\S+)")
# An account principal as a statement names it: the account's root ARN (or, unnormalised, a bare id).
_ACCOUNT_ROOT = re.compile(r"arn:([^:\s]+):iam::(\d{12}):root")
_ROLE_ARN = re.compile(r"arn:([^:\s]+):iam::(\d{12}):role/(?:\S+/)?([^/\s]+)")


# --- parsing -------------------------------------------------------------------------------------


def _invalid(message: str) -> InvalidParameterValue:
    return InvalidParameterValue(f"Invalid policy document: {message}")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of two "Effect" keys; a reviewer reading the text may see the first.
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _invalid(f"the key {key!r} appears twice in one object")
        obj[key] = value
    return obj


def parse_document(document: str | dict, *, max_bytes: int | None = None) -> dict:
    """Validate an identity policy document (JSON text or a dict) and return it normalised.

    The result is a new dict: {"Version", ["Id",] "Statement": [...]}, each statement with "Effect",
    an optional "Sid", and lists under exactly one of Action/NotAction and one of Resource/NotResource.
    Raises InvalidParameterValue naming the statement and field at fault.
    """
    if isinstance(document, str):
        if max_bytes is not None and len(document.encode("utf-8", "surrogatepass")) > max_bytes:
            raise _invalid(f"the document is larger than {max_bytes} bytes")
        try:
            document = json.loads(document, object_pairs_hook=_no_duplicate_keys)
        except (ValueError, RecursionError) as exc:
            raise _invalid(f"not valid JSON ({exc})") from exc
    elif isinstance(document, dict):
        if max_bytes is not None:
            try:
                size = len(json.dumps(document, separators=(",", ":")).encode("utf-8", "surrogatepass"))
            except (TypeError, ValueError, RecursionError) as exc:
                raise _invalid(f"not representable as JSON ({exc})") from exc
            if size > max_bytes:
                raise _invalid(f"the document is larger than {max_bytes} bytes")
    else:
        raise _invalid(f"expected JSON text or an object, got {type(document).__name__}")

    if not isinstance(document, dict):
        raise _invalid(f"the document must be a JSON object, got {_json_type(document)}")
    unknown = sorted(set(document) - _DOCUMENT_KEYS)
    if unknown:
        raise _invalid(f"unknown top-level field(s) {', '.join(map(repr, unknown))}")

    version = document.get("Version", DEFAULT_VERSION)
    if version not in VERSIONS:
        raise _invalid(f"Version must be one of {', '.join(VERSIONS)}, got {version!r}")
    normalised: dict[str, Any] = {"Version": version}
    if "Id" in document:
        if not isinstance(document["Id"], str):
            raise _invalid(f"Id must be a string, got {_json_type(document['Id'])}")
        normalised["Id"] = document["Id"]

    if "Statement" not in document:
        raise _invalid("Statement is missing")
    statements = document["Statement"]
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        raise _invalid(f"Statement must be an object or a list of objects, got {_json_type(statements)}")
    if not statements:
        raise _invalid("Statement is empty")

    parsed = [_parse_statement(index, statement) for index, statement in enumerate(statements)]
    seen: set[str] = set()
    for sid in (statement["Sid"] for statement in parsed if "Sid" in statement):
        if sid in seen:
            raise _invalid(f"Sid {sid!r} is used by more than one statement")
        seen.add(sid)
    normalised["Statement"] = parsed
    return normalised


def _parse_statement(index: int, statement: Any) -> dict[str, Any]:
    where = f"Statement[{index}]"
    if not isinstance(statement, dict):
        raise _invalid(f"{where} must be an object, got {_json_type(statement)}")
    for key, reason in _REFUSED_KEYS.items():
        if key in statement:
            raise _invalid(f"{where}.{key} {reason}")
    unknown = sorted(set(statement) - _STATEMENT_KEYS)
    if unknown:
        raise _invalid(f"{where} has unknown field(s) {', '.join(map(repr, unknown))}")

    parsed: dict[str, Any] = {}
    if "Sid" in statement:
        if not isinstance(statement["Sid"], str):
            raise _invalid(f"{where}.Sid must be a string, got {_json_type(statement['Sid'])}")
        parsed["Sid"] = statement["Sid"]

    if "Effect" not in statement:
        raise _invalid(f"{where}.Effect is missing")
    if statement["Effect"] not in (ALLOW, DENY):
        raise _invalid(f"{where}.Effect must be \"Allow\" or \"Deny\", got {statement['Effect']!r}")
    parsed["Effect"] = statement["Effect"]

    key, values = _one_of(statement, where, "Action", "NotAction")
    for i, action in enumerate(values):
        if not _IAM_ACTION.fullmatch(action):
            raise _invalid(f"{where}.{key}[{i}] must be \"*\" or \"service:action\", got {action!r}")
    parsed[key] = values

    key, values = _one_of(statement, where, "Resource", "NotResource")
    for i, resource in enumerate(values):
        if resource != "*" and not resource.startswith("arn:"):
            raise _invalid(f"{where}.{key}[{i}] must be \"*\" or an ARN, got {resource!r}")
        if "${" in resource:
            # Policy variables are not expanded here; matching "${aws:username}" literally would be wrong.
            raise _invalid(f"{where}.{key}[{i}] uses a policy variable, which is not supported")
    parsed[key] = values
    return parsed


def _one_of(statement: dict, where: str, key: str, not_key: str) -> tuple[str, list[str]]:
    if key in statement and not_key in statement:
        raise _invalid(f"{where} has both {key} and {not_key}; use one")
    if key not in statement and not_key not in statement:
        raise _invalid(f"{where}.{key} is missing (or give {not_key})")
    key = key if key in statement else not_key
    value = statement[key]
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise _invalid(f"{where}.{key} must be a string or a list of strings, got {_json_type(value)}")
    if not values:
        raise _invalid(f"{where}.{key} is an empty list")
    return key, list(values)


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else type(value).__name__)


# --- Lambda function-policy statements ------------------------------------------------------------


def function_statement(
    *,
    sid: str,
    action: str,
    principal: str,
    resource: str,
    source_arn: str | None = None,
    source_account: str | None = None,
    function_url_auth_type: str | None = None,
    invoked_via_function_url: bool | None = None,
    principal_org_id: str | None = None,
) -> dict:
    """The statement AddPermission stores in a function policy, in Lambda's own JSON shape.

    principal: "*"; a 12-digit account id (stored as the account's root ARN); an IAM or STS ARN; or
    a service principal such as "s3.amazonaws.com". invoked_via_function_url=True limits an
    InvokeFunction grant to invocations through the function's URL (Lambda's
    `{"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}`); False is the same as leaving it out.
    Raises InvalidParameterValue for bad values.
    """
    if not isinstance(sid, str) or not _STATEMENT_ID.fullmatch(sid):
        raise InvalidParameterValue(
            f"StatementId {sid!r} is not valid: use 1-100 letters, digits, '-', '_' or '.'")
    if not isinstance(action, str) or not _LAMBDA_ACTION.fullmatch(action):
        raise InvalidParameterValue(
            f"Action {action!r} is not valid: use \"*\", \"lambda:*\" or a Lambda action such as "
            "lambda:InvokeFunction")
    if not isinstance(resource, str) or not resource.startswith("arn:"):
        raise InvalidParameterValue(f"Resource {resource!r} is not a function ARN")

    condition: dict[str, dict[str, str]] = {}
    if source_arn is not None:
        if not isinstance(source_arn, str) or not _SOURCE_ARN.fullmatch(source_arn):
            raise InvalidParameterValue(f"SourceArn {source_arn!r} is not a valid ARN")
        condition["ArnLike"] = {"AWS:SourceArn": source_arn}
    string_equals: dict[str, str] = {}
    if source_account is not None:
        if not isinstance(source_account, str) or not _ACCOUNT_ID.fullmatch(source_account):
            raise InvalidParameterValue(f"SourceAccount {source_account!r} must be a 12-digit account id")
        string_equals["AWS:SourceAccount"] = source_account
    if function_url_auth_type is not None:
        if function_url_auth_type not in _URL_AUTH_TYPES:
            raise InvalidParameterValue(
                f"FunctionUrlAuthType {function_url_auth_type!r} is not valid: use NONE or AWS_IAM")
        if action.lower() != "lambda:invokefunctionurl":
            raise InvalidParameterValue(
                "FunctionUrlAuthType is only valid with the action lambda:InvokeFunctionUrl")
        string_equals[FUNCTION_URL_AUTH_TYPE] = function_url_auth_type
    if invoked_via_function_url is not None:
        if not isinstance(invoked_via_function_url, bool):
            raise InvalidParameterValue(
                f"InvokedViaFunctionUrl {invoked_via_function_url!r} is not valid: use true or false")
        if invoked_via_function_url:
            if action.lower() != "lambda:invokefunction":
                raise InvalidParameterValue(
                    "InvokedViaFunctionUrl is only valid with the action lambda:InvokeFunction")
            condition["Bool"] = {INVOKED_VIA_FUNCTION_URL: "true"}
    if principal_org_id is not None:
        if not isinstance(principal_org_id, str) or not _ORG_ID.fullmatch(principal_org_id):
            raise InvalidParameterValue(
                f"PrincipalOrgID {principal_org_id!r} is not valid: expected o- and 10-32 letters or digits")
        string_equals["aws:PrincipalOrgID"] = principal_org_id
    if string_equals:
        condition["StringEquals"] = string_equals

    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": ALLOW,
        "Principal": _principal_element(principal),
        "Action": action,
        "Resource": resource,
    }
    if condition:
        statement["Condition"] = condition
    return statement


def _principal_element(principal: str) -> str | dict[str, str]:
    if principal == "*":
        return "*"
    if not isinstance(principal, str):
        raise InvalidParameterValue(f"Principal {principal!r} is not valid")
    if _ACCOUNT_ID.fullmatch(principal):
        return {"AWS": f"arn:aws:iam::{principal}:root"}
    if _PRINCIPAL_ARN.fullmatch(principal):
        return {"AWS": principal}
    if ":" not in principal and _SERVICE_NAME.fullmatch(principal):
        return {"Service": principal}
    # Wildcards inside an ARN are refused: principals are matched exactly, never as patterns.
    raise InvalidParameterValue(
        f"Principal {principal!r} is not valid: use \"*\", an account id, an IAM ARN or a service "
        "principal such as s3.amazonaws.com")


# --- matching -------------------------------------------------------------------------------------


def _always(_: str) -> bool:
    return True


def _glob(pattern: str) -> Callable[[str], bool]:
    """A matcher for `*` (any run, including empty) and `?` (one character) that never backtracks.

    The pattern is cut at each `*` into fixed-length segments; taking the leftmost fit of each middle
    segment is always right, so one forward scan decides (a regex `.*a.*a.*b` would backtrack).
    """
    if pattern == "*":
        return _always
    if "*" not in pattern and "?" not in pattern:
        return pattern.__eq__
    if "*" not in pattern:  # only `?`: one fixed-length segment
        return re.compile(_segment(pattern), re.DOTALL).fullmatch
    head, *middle, tail = pattern.split("*")
    middle = [segment for segment in middle if segment]
    min_length = len(pattern) - pattern.count("*")
    if "?" not in pattern:  # the common case: plain string operations, no regex
        def match_literal(value: str) -> bool:
            if len(value) < min_length or not value.startswith(head) or not value.endswith(tail):
                return False
            pos, end = len(head), len(value) - len(tail)
            for segment in middle:
                pos = value.find(segment, pos, end)
                if pos < 0:
                    return False
                pos += len(segment)
            return True

        return match_literal
    head_re = re.compile(_segment(head), re.DOTALL)
    tail_re = re.compile(_segment(tail), re.DOTALL)
    middle_res = [re.compile(_segment(segment), re.DOTALL) for segment in middle]

    def match(value: str) -> bool:
        if len(value) < min_length:
            return False
        end = len(value) - len(tail)
        if not head_re.match(value) or not tail_re.match(value, end):
            return False
        pos = len(head)
        for segment_re in middle_res:
            found = segment_re.search(value, pos, end)
            if found is None:
                return False
            pos = found.end()
        return True

    return match


def _segment(text: str) -> str:
    return "".join("." if c == "?" else re.escape(c) for c in text)


@functools.lru_cache(maxsize=4096)
def _action_matcher(pattern: str) -> Callable[[str], bool]:
    """Matches an action already lower-cased (IAM actions are case-insensitive)."""
    return _glob(pattern.lower())


@functools.lru_cache(maxsize=4096)
def _resource_matcher(pattern: str) -> Callable[[str], bool]:
    return _glob(pattern)


@functools.lru_cache(maxsize=1024)
def _arn_matcher(pattern: str) -> Callable[[str], bool]:
    """ArnLike/ArnEquals: each of the six `:`-separated parts is matched on its own, case-sensitively."""
    parts = pattern.split(":", 5)
    if len(parts) != 6:
        return lambda _: False
    matchers = [_glob(part) for part in parts]

    def match(value: str) -> bool:
        values = value.split(":", 5)
        return len(values) == 6 and all(m(v) for m, v in zip(matchers, values))

    return match


def _string_equals(pattern: str, value: str) -> bool:
    return pattern == value


def _string_like(pattern: str, value: str) -> bool:
    return _resource_matcher(pattern)(value)


def _arn_like(pattern: str, value: str) -> bool:
    return _arn_matcher(pattern)(value)


def _bool(pattern: str, value: str) -> bool:
    return pattern.lower() == value.lower()


# operator (lower-cased) -> (value test, negated). ArnEquals takes wildcards too, as in IAM.
_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "stringequals": (_string_equals, False),
    "stringnotequals": (_string_equals, True),
    "stringlike": (_string_like, False),
    "stringnotlike": (_string_like, True),
    "arnequals": (_arn_like, False),
    "arnlike": (_arn_like, False),
    "arnnotequals": (_arn_like, True),
    "arnnotlike": (_arn_like, True),
    "bool": (_bool, False),
}


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


def _conditions_hold(condition: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    """`context` has lower-cased keys: condition keys are case-insensitive (AWS:SourceArn, aws:SourceArn)."""
    for operator, tests in condition.items():
        try:
            test, negated = _OPERATORS[operator.lower()]
        except KeyError:
            raise ValueError(f"unsupported condition operator {operator!r}") from None
        for key, wanted in tests.items():
            value = context.get(key.lower())
            if value is None:
                if negated:  # IAM: a negated operator holds when the key is absent
                    continue
                return False
            hit = any(test(w, value) for w in ((wanted,) if isinstance(wanted, str) else wanted))
            if hit == negated:
                return False
    return True


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
