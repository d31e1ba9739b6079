"""Each Lambda API error, provoked with boto3 against a real `faas serve`, carries AWS's status, code and text.

SDK users and their tests match on these messages ("Function not found: arn:..."), so each row names the
exact text Lambda sends; where faas adds a hint after AWS's sentence, the row checks that AWS's sentence
comes first (docs/ARCHITECTURE.md, "Error texts", lists those).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import ROLE, make_zip, unique
from tests.support.zips import Entry, craft_zip

ARN = "arn:aws:lambda:us-east-1:000000000000:function:"
HELLO = make_zip({"app.py": "def handler(event, context):\n    return event\n"})
NAME_PATTERN = ("(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?"
                "([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?")


def create(lam, name: str, **extra) -> None:  # type: ignore[no-untyped-def]
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": HELLO}, **extra)


def twice(call: Callable[[], object]) -> None:
    call()
    call()


@dataclass(frozen=True)
class Case:
    id: str
    provoke: Callable  # (lam, name of a fresh function) -> None; must raise
    status: int
    code: str
    message: str  # with {name} and {arn}; exact unless `prefix`
    prefix: bool = False  # AWS's sentence, then a hint of ours


CASES = [
    Case("get-unknown", lambda lam, n: lam.get_function(FunctionName=n + "-gone"),
         404, "ResourceNotFoundException", "Function not found: {arn}-gone"),
    Case("invoke-unknown", lambda lam, n: lam.invoke(FunctionName=n + "-gone"),
         404, "ResourceNotFoundException", "Function not found: {arn}-gone"),
    Case("delete-unknown", lambda lam, n: lam.delete_function(FunctionName=n + "-gone"),
         404, "ResourceNotFoundException", "Function not found: {arn}-gone"),
    Case("update-unknown", lambda lam, n: lam.update_function_configuration(FunctionName=n + "-gone", Timeout=5),
         404, "ResourceNotFoundException", "Function not found: {arn}-gone"),
    Case("unknown-by-arn", lambda lam, n: lam.get_function_configuration(FunctionName=ARN + n + "-gone"),
         404, "ResourceNotFoundException", "Function not found: {arn}-gone"),
    Case("unknown-version", lambda lam, n: lam.get_function(FunctionName=n, Qualifier="7"),
         404, "ResourceNotFoundException", "Function not found: {arn}:7"),
    Case("unknown-version-in-name", lambda lam, n: lam.invoke(FunctionName=n + ":live"),
         404, "ResourceNotFoundException", "Function not found: {arn}:live"),
    Case("create-twice", lambda lam, n: create(lam, n),
         409, "ResourceConflictException", "Function already exist: {name}"),
    Case("bad-name", lambda lam, n: lam.get_function(FunctionName="bad@name"),
         400, "InvalidParameterValueException",
         "1 validation error detected: Value 'bad@name' at 'functionName' failed to satisfy constraint: "
         "Member must satisfy regular expression pattern: " + NAME_PATTERN),
    Case("unknown-role", lambda lam, n: lam.create_function(
        FunctionName=n + "-2", Runtime="python3.13", Role="arn:aws:iam::000000000000:role/nobody",
        Handler="app.handler", Code={"ZipFile": HELLO}),
         400, "InvalidParameterValueException", "The role defined for the function cannot be assumed by Lambda. ",
         prefix=True),
    Case("stale-revision", lambda lam, n: lam.update_function_configuration(
        FunctionName=n, Timeout=5, RevisionId="00000000-0000-0000-0000-000000000000"),
         412, "PreconditionFailedException",
         "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to "
         "retrieve the latest Revision Id"),
    Case("no-policy", lambda lam, n: lam.get_policy(FunctionName=n),
         404, "ResourceNotFoundException", "The resource you requested does not exist."),
    Case("remove-from-no-policy", lambda lam, n: lam.remove_permission(FunctionName=n, StatementId="s1"),
         404, "ResourceNotFoundException", "No policy is associated with the given resource."),
    Case("remove-unknown-statement", lambda lam, n: (
        lam.add_permission(FunctionName=n, StatementId="s1", Action="lambda:InvokeFunction",
                           Principal="000000000000"),
        lam.remove_permission(FunctionName=n, StatementId="s2")),
         404, "ResourceNotFoundException", "Statement s2 is not found in resource policy."),
    Case("statement-twice", lambda lam, n: twice(lambda: lam.add_permission(
        FunctionName=n, StatementId="s1", Action="lambda:InvokeFunction", Principal="000000000000")),
         409, "ResourceConflictException",
         "The statement id (s1) provided already exists. Please provide a new statement id, or remove the existing "
         "statement."),
    Case("no-event-invoke-config", lambda lam, n: lam.get_function_event_invoke_config(FunctionName=n),
         404, "ResourceNotFoundException", "The function {arn}:$LATEST doesn't have an EventInvokeConfig"),
    Case("no-url-config", lambda lam, n: lam.get_function_url_config(FunctionName=n),
         404, "ResourceNotFoundException", "The resource you requested does not exist."),
    Case("url-config-twice", lambda lam, n: twice(lambda: lam.create_function_url_config(
        FunctionName=n, AuthType="AWS_IAM")),
         409, "ResourceConflictException",
         "Failed to create function url config for [functionArn = {arn}]. Error message:  FunctionUrlConfig exists "
         "for this Lambda function"),
    Case("throttled", lambda lam, n: (lam.put_function_concurrency(FunctionName=n, ReservedConcurrentExecutions=0),
                                      lam.invoke(FunctionName=n)),
         429, "TooManyRequestsException", "Rate Exceeded."),
    Case("reservation-too-large", lambda lam, n: lam.put_function_concurrency(
        FunctionName=n, ReservedConcurrentExecutions=1_000_000),
         400, "InvalidParameterValueException",
         "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution "
         "below its minimum value of [", prefix=True),
    Case("invoke-not-json", lambda lam, n: lam.invoke(FunctionName=n, Payload=b"{not json"),
         400, "InvalidRequestContentException",
         "Could not parse request body into json: Could not parse payload into json: ", prefix=True),
    Case("event-payload-too-large", lambda lam, n: lam.invoke(
        FunctionName=n, InvocationType="Event", Payload=json.dumps("x" * (1024 * 1024))),
         413, "RequestTooLargeException",
         f"{1024 * 1024 + 2} byte payload is too large for the Event invocation type (limit 1048576 bytes)"),
    Case("unzipped-too-large", lambda lam, n: lam.update_function_code(
        FunctionName=n, ZipFile=craft_zip([Entry("app.py", b"x", declared=300 * 1024 * 1024)])),
         400, "InvalidParameterValueException", "Unzipped size must be smaller than 262144000 bytes. ",
         prefix=True),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_each_error_has_lambdas_status_code_and_text(lam, case: Case) -> None:  # type: ignore[no-untyped-def]
    name = unique("texts")
    create(lam, name)
    with pytest.raises(ClientError) as caught:
        case.provoke(lam, name)
    response = caught.value.response
    expected = case.message.replace("{name}", name).replace("{arn}", ARN + name)
    assert (response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]) == (case.status, case.code)
    if case.prefix:
        assert response["Error"]["Message"].startswith(expected), response["Error"]["Message"]
    else:
        assert response["Error"]["Message"] == expected
    # Nothing the refusal concerned was lost or half-made: the function is still there, as it was.
    assert lam.get_function_configuration(FunctionName=name)["CodeSize"] == len(HELLO)


def test_a_throttle_says_why_as_lambda_does(lam) -> None:  # type: ignore[no-untyped-def]
    name = unique("texts")
    create(lam, name)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    with pytest.raises(lam.exceptions.TooManyRequestsException) as caught:
        lam.invoke(FunctionName=name)
    assert caught.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"


def test_an_invoke_payload_over_6_mb_is_refused_in_lambdas_words(lam) -> None:  # type: ignore[no-untyped-def]
    name = unique("texts")
    create(lam, name)
    with pytest.raises(lam.exceptions.RequestTooLargeException) as caught:
        lam.invoke(FunctionName=name, Payload=json.dumps("x" * (6 * 1024 * 1024)))
    assert caught.value.response["Error"]["Message"] == (
        "Request must be smaller than 6291456 bytes for the InvokeFunction operation")


def test_the_minimum_in_the_reservation_text_is_the_accounts(lam) -> None:  # type: ignore[no-untyped-def]
    name = unique("texts")
    create(lam, name)
    with pytest.raises(ClientError) as caught:
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1_000_000)
    assert re.fullmatch(r".* below its minimum value of \[\d+\]\.", caught.value.response["Error"]["Message"])
