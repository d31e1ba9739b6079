"""Function (resource) policy statements: the one AddPermission stores, in Lambda's own JSON shape."""

from __future__ import annotations

import re
from typing import Any

from faas.errors import InvalidParameterValue
from faas.security.policy.documents import ALLOW

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
