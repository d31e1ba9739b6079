"""faas.security.policy: parsing policy documents, building function-policy statements, IAM evaluation."""

from __future__ import annotations

import json
import time

import pytest

from faas.errors import InvalidParameterValue
from faas.security import policy
from faas.security.policy import ALLOW, DENY, NO_MATCH

ACCOUNT = "111122223333"
OTHER = "444455556666"
REGION_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}"
FN = f"{REGION_ARN}:function:app"
USER = f"arn:aws:iam::{ACCOUNT}:user/alice"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/deployer"
ROLE_WITH_PATH = f"arn:aws:iam::{ACCOUNT}:role/ops/deployer"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/ci-42"
OTHER_USER = f"arn:aws:iam::{OTHER}:user/mallory"
S3 = "service:s3.amazonaws.com"
BUCKET_ARN = "arn:aws:s3:::uploads"
ORG = "o-a1b2c3d4e5"


def doc(*statements: dict) -> dict:
    return policy.parse_document({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


# --- identity evaluation --------------------------------------------------------------------------

IDENTITY_CASES = [
    # (statements, action, resource, expected)
    ([allow("lambda:InvokeFunction", FN)], "lambda:InvokeFunction", FN, ALLOW),
    ([allow("lambda:InvokeFunction", FN)], "lambda:GetFunction", FN, NO_MATCH),
    ([allow("lambda:InvokeFunction", FN)], "lambda:InvokeFunction", f"{FN}2", NO_MATCH),
    ([], "lambda:InvokeFunction", FN, NO_MATCH),
    # explicit deny beats allow within one document, whatever the order
    ([allow("lambda:*"), deny("lambda:InvokeFunction", FN)], "lambda:InvokeFunction", FN, DENY),
    ([deny("lambda:InvokeFunction", FN), allow("lambda:*")], "lambda:InvokeFunction", FN, DENY),
    ([allow("lambda:*"), deny("lambda:InvokeFunction", FN)], "lambda:GetFunction", FN, ALLOW),
    # action wildcards, case-insensitive
    ([allow("*")], "lambda:DeleteFunction", FN, ALLOW),
    ([allow("lambda:*")], "lambda:DeleteFunction", FN, ALLOW),
    ([allow("lambda:*")], "iam:PassRole", FN, NO_MATCH),
    ([allow("lambda:Get*")], "lambda:GetFunctionConfiguration", FN, ALLOW),
    ([allow("lambda:Get*")], "lambda:ListFunctions", FN, NO_MATCH),
    ([allow("lambda:get*")], "lambda:GetFunction", FN, ALLOW),
    ([allow("LAMBDA:INVOKEFUNCTION")], "lambda:InvokeFunction", FN, ALLOW),
    ([allow("lambda:InvokeFunction")], "LAMBDA:invokefunction", FN, ALLOW),
    ([allow("lambda:?etFunction")], "lambda:GetFunction", FN, ALLOW),
    ([allow("lambda:?etFunction")], "lambda:GGetFunction", FN, NO_MATCH),
    ([allow("lambda:*Function*")], "lambda:UpdateFunctionCode", FN, ALLOW),
    ([allow(["lambda:ListFunctions", "lambda:GetFunction"])], "lambda:GetFunction", FN, ALLOW),
    # resource wildcards, case-sensitive
    ([allow("lambda:*", f"{REGION_ARN}:function:app-*")], "lambda:InvokeFunction",
     f"{REGION_ARN}:function:app-web", ALLOW),
    ([allow("lambda:*", f"{REGION_ARN}:function:app-*")], "lambda:InvokeFunction",
     f"{REGION_ARN}:function:App-web", NO_MATCH),
    ([allow("lambda:*", f"{REGION_ARN}:function:app-*")], "lambda:InvokeFunction",
     f"{REGION_ARN}:function:app", NO_MATCH),
    ([allow("lambda:*", f"{REGION_ARN}:function:APP")], "lambda:InvokeFunction", FN, NO_MATCH),
    ([allow("lambda:*", "arn:aws:lambda:*:*:function:*")], "lambda:InvokeFunction", FN, ALLOW),
    ([allow("lambda:*", f"{REGION_ARN}:function:ap?")], "lambda:InvokeFunction", FN, ALLOW),
    ([allow("lambda:*", f"{REGION_ARN}:function:ap?")], "lambda:InvokeFunction", f"{FN}p", NO_MATCH),
    # a function ARN does not cover its qualified ARNs unless the pattern says so
    ([allow("lambda:*", FN)], "lambda:InvokeFunction", f"{FN}:$LATEST", NO_MATCH),
    ([allow("lambda:*", FN)], "lambda:InvokeFunction", f"{FN}:PROD", NO_MATCH),
    ([allow("lambda:*", f"{FN}:*")], "lambda:InvokeFunction", f"{FN}:PROD", ALLOW),
    ([allow("lambda:*", f"{FN}:*")], "lambda:InvokeFunction", FN, NO_MATCH),
    ([allow("lambda:*", f"{FN}*")], "lambda:InvokeFunction", f"{FN}:$LATEST", ALLOW),
    ([allow("lambda:*", f"{FN}:$LATEST")], "lambda:InvokeFunction", f"{FN}:$LATEST", ALLOW),
    ([allow("lambda:*", [f"{FN}:1", f"{FN}:2"])], "lambda:InvokeFunction", f"{FN}:2", ALLOW),
    # NotAction / NotResource
    ([{"Effect": "Allow", "NotAction": "lambda:Delete*", "Resource": "*"}], "lambda:GetFunction", FN, ALLOW),
    ([{"Effect": "Allow", "NotAction": "lambda:Delete*", "Resource": "*"}], "lambda:DeleteFunction", FN,
     NO_MATCH),
    ([{"Effect": "Allow", "NotAction": "LAMBDA:DELETE*", "Resource": "*"}], "lambda:DeleteFunction", FN,
     NO_MATCH),
    ([allow("*"), {"Effect": "Deny", "NotAction": ["lambda:Get*", "lambda:List*"], "Resource": "*"}],
     "lambda:DeleteFunction", FN, DENY),
    ([allow("*"), {"Effect": "Deny", "NotAction": ["lambda:Get*", "lambda:List*"], "Resource": "*"}],
     "lambda:ListFunctions", FN, ALLOW),
    ([{"Effect": "Allow", "Action": "lambda:*", "NotResource": f"{REGION_ARN}:function:secret-*"}],
     "lambda:InvokeFunction", FN, ALLOW),
    ([{"Effect": "Allow", "Action": "lambda:*", "NotResource": f"{REGION_ARN}:function:secret-*"}],
     "lambda:InvokeFunction", f"{REGION_ARN}:function:secret-db", NO_MATCH),
    ([allow("*"), {"Effect": "Deny", "Action": "*", "NotResource": [FN, f"{FN}:*"]}],
     "lambda:InvokeFunction", f"{REGION_ARN}:function:other", DENY),
    ([allow("*"), {"Effect": "Deny", "Action": "*", "NotResource": [FN, f"{FN}:*"]}],
     "lambda:InvokeFunction", f"{FN}:PROD", ALLOW),
]


@pytest.mark.parametrize(("statements", "action", "resource", "expected"), IDENTITY_CASES)
def test_identity_evaluation(statements, action, resource, expected):
    documents = [doc(*statements)] if statements else []
    assert policy.evaluate(documents, action, resource) == expected


def test_deny_in_one_document_beats_allow_in_another():
    documents = [doc(allow("lambda:*")), doc(allow("*", FN)), doc(deny("lambda:Invoke*", f"{REGION_ARN}:*"))]
    assert policy.evaluate(documents, "lambda:InvokeFunction", FN) == DENY
    assert policy.evaluate(documents, "lambda:GetFunction", FN) == ALLOW
    assert policy.evaluate(iter(documents), "lambda:InvokeFunction", FN) == DENY  # any iterable


def test_evaluation_takes_single_strings_as_well_as_lists():
    raw = {"Statement": {"Effect": "Allow", "Action": "lambda:Get*", "Resource": FN}}
    assert policy.evaluate([raw], "lambda:GetFunction", FN) == ALLOW


def test_wildcards_are_literal_elsewhere():
    # regex metacharacters in a pattern mean themselves
    documents = [doc(allow("*", "arn:aws:s3:::a.b+c(d)[e]^$*"))]
    assert policy.evaluate(documents, "s3:x", "arn:aws:s3:::a.b+c(d)[e]^$/k") == ALLOW
    assert policy.evaluate(documents, "s3:x", "arn:aws:s3:::aXb+c(d)[e]^$/k") == NO_MATCH
    assert policy.evaluate(documents, "s3:x", "arn:aws:s3:::a.bbc(d)[e]^$/k") == NO_MATCH
    unparsed = {"Statement": [allow("lambda:Get.*")]}  # parse_document would refuse the "."
    assert policy.evaluate([unparsed], "lambda:GetXFunction", FN) == NO_MATCH
    assert policy.evaluate([unparsed], "lambda:Get.Function", FN) == ALLOW


def test_many_wildcards_do_not_backtrack():
    pattern = "arn:aws:s3:::" + "*a" * 30 + "*b"
    document = doc(allow("*", pattern))
    resource = "arn:aws:s3:::" + "a" * 20_000 + "c"
    start = time.perf_counter()
    assert policy.evaluate([document], "s3:GetObject", resource) == NO_MATCH
    assert time.perf_counter() - start < 10.0  # a backtracking matcher would take longer than the universe


def test_a_malformed_statement_fails_closed():
    with pytest.raises(ValueError, match="Effect"):
        policy.evaluate([{"Statement": [{"Effect": "allow", "Action": "*", "Resource": "*"}]}], "a:b", FN)
    with pytest.raises(KeyError):
        policy.evaluate([{"Statement": [{"Effect": "Allow", "Resource": "*"}]}], "a:b", FN)


# --- is_allowed ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("identity", "resource", "expected"), [
    (ALLOW, NO_MATCH, True),
    (NO_MATCH, ALLOW, True),
    (ALLOW, ALLOW, True),
    (NO_MATCH, NO_MATCH, False),
    (DENY, ALLOW, False),
    (ALLOW, DENY, False),
    (DENY, NO_MATCH, False),
    (NO_MATCH, DENY, False),
    (DENY, DENY, False),
])
def test_is_allowed(identity, resource, expected):
    assert policy.is_allowed(identity, resource) is expected


def test_is_allowed_defaults_to_no_resource_policy():
    assert policy.is_allowed(ALLOW) is True
    assert policy.is_allowed(NO_MATCH) is False
    assert policy.is_allowed(DENY) is False


def test_identity_deny_beats_resource_policy_allow():
    identity = policy.evaluate([doc(deny("lambda:InvokeFunction", FN))], "lambda:InvokeFunction", FN)
    resource = resource_decision([grant(USER)], USER)
    assert (identity, resource) == (DENY, ALLOW)
    assert policy.is_allowed(identity, resource) is False


# --- parse_document ------------------------------------------------------------------------------

def test_parse_normalises():
    text = json.dumps({"Version": "2012-10-17", "Statement": {
        "Sid": "Read", "Effect": "Allow", "Action": "lambda:Get*", "NotResource": FN}})
    assert policy.parse_document(text) == {"Version": "2012-10-17", "Statement": [
        {"Sid": "Read", "Effect": "Allow", "Action": ["lambda:Get*"], "NotResource": [FN]}]}


def test_parse_keeps_lists_and_does_not_share_them():
    original = {"Statement": [{"Effect": "Deny", "NotAction": ["a:b", "c:*"], "Resource": ["*"]}], "Id": "p1"}
    parsed = policy.parse_document(original)
    assert parsed == {"Version": "2012-10-17", "Id": "p1", "Statement": [
        {"Effect": "Deny", "NotAction": ["a:b", "c:*"], "Resource": ["*"]}]}
    parsed["Statement"][0]["NotAction"].append("x:y")
    assert original["Statement"][0]["NotAction"] == ["a:b", "c:*"]


def test_parse_accepts_the_older_version():
    parsed = policy.parse_document({"Version": "2008-10-17", "Statement": [allow("*")]})
    assert parsed["Version"] == "2008-10-17"


def test_parse_accepts_a_document_at_the_size_limit():
    text = json.dumps({"Statement": [allow("*")]})
    assert policy.parse_document(text, max_bytes=len(text))["Statement"][0]["Action"] == ["*"]


def second(**statement) -> dict:
    """A document whose second statement (index 1) is `statement`."""
    return {"Version": "2012-10-17", "Statement": [allow("*"), statement]}


PARSE_ERRORS = [
    # (document, words the message must contain)
    ("{not json", "not valid JSON"),
    ("", "not valid JSON"),
    ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
    ('{"Statement": [{"Effect": "Deny", "Effect": "Allow", "Action": "*", "Resource": "*"}]}',
     "'Effect' appears twice"),
    (b'{"Statement": []}', "expected JSON text or an object, got bytes"),
    ("[]", "must be a JSON object, got a list"),
    ('"text"', "must be a JSON object, got a string"),
    ("42", "must be a JSON object, got a number"),
    ("null", "must be a JSON object, got null"),
    ({"Statement": [allow("*")], "Extra": 1}, "unknown top-level field(s) 'Extra'"),
    ({"Version": "2020-01-01", "Statement": [allow("*")]}, "Version must be one of"),
    ({"Version": 2012, "Statement": [allow("*")]}, "Version must be one of"),
    ({"Id": 5, "Statement": [allow("*")]}, "Id must be a string"),
    ({"Version": "2012-10-17"}, "Statement is missing"),
    ({"Statement": []}, "Statement is empty"),
    ({"Statement": "Allow everything"}, "Statement must be an object or a list"),
    ({"Statement": [allow("*"), "x"]}, "Statement[1] must be an object, got a string"),
    ({"Statement": {"Effect": "Allow", "Action": "*"}}, "Statement[0].Resource is missing"),
    (second(Action="*", Resource="*"), "Statement[1].Effect is missing"),
    (second(Effect="allow", Action="*", Resource="*"), "Statement[1].Effect must be \"Allow\" or \"Deny\""),
    (second(Effect="Maybe", Action="*", Resource="*"), "Statement[1].Effect must be"),
    (second(Effect=True, Action="*", Resource="*"), "Statement[1].Effect must be"),
    (second(Effect="Allow", Resource="*"), "Statement[1].Action is missing (or give NotAction)"),
    (second(Effect="Allow", Action="*", NotAction="a:b", Resource="*"),
     "Statement[1] has both Action and NotAction"),
    (second(Effect="Allow", Action="*"), "Statement[1].Resource is missing (or give NotResource)"),
    (second(Effect="Allow", Action="*", Resource="*", NotResource=FN),
     "Statement[1] has both Resource and NotResource"),
    (second(Effect="Allow", Action=7, Resource="*"), "Statement[1].Action must be a string or a list"),
    (second(Effect="Allow", Action=["a:b", 7], Resource="*"), "Statement[1].Action must be a string"),
    (second(Effect="Allow", Action={"a": "b"}, Resource="*"), "Statement[1].Action must be a string"),
    (second(Effect="Allow", Action=[], Resource="*"), "Statement[1].Action is an empty list"),
    (second(Effect="Allow", NotAction=[], Resource="*"), "Statement[1].NotAction is an empty list"),
    (second(Effect="Allow", Action="InvokeFunction", Resource="*"),
     "Statement[1].Action[0] must be \"*\" or \"service:action\""),
    (second(Effect="Allow", Action=["lambda:Get*", "lambda:"], Resource="*"), "Statement[1].Action[1]"),
    (second(Effect="Allow", Action="*", Resource=None), "Statement[1].Resource must be a string or a list"),
    (second(Effect="Allow", Action="*", Resource=[]), "Statement[1].Resource is an empty list"),
    (second(Effect="Allow", Action="*", Resource="function:app"),
     "Statement[1].Resource[0] must be \"*\" or an ARN"),
    (second(Effect="Allow", Action="*", NotResource=["*", "app"]), "Statement[1].NotResource[1] must be"),
    (second(Effect="Allow", Action="*", Resource=f"{REGION_ARN}:function:${{aws:username}}"),
     "policy variable"),
    (second(Effect="Allow", Action="*", Resource="*", Sid=3), "Statement[1].Sid must be a string"),
    (second(Effect="Allow", Action="*", Resource="*", Principal="*"),
     "Statement[1].Principal is not allowed in an identity policy"),
    (second(Effect="Deny", Action="*", Resource="*", NotPrincipal={"AWS": USER}),
     "Statement[1].NotPrincipal is not allowed"),
    (second(Effect="Allow", Action="*", Resource="*", Condition={"Bool": {"aws:SecureTransport": "true"}}),
     "Statement[1].Condition is not supported"),
    (second(Effect="Allow", Action="*", Resource="*", Actions="x"), "has unknown field(s) 'Actions'"),
    ({"Statement": [allow("*", Sid="A"), allow("*", Sid="A")]}, "Sid 'A' is used by more than one statement"),
]


@pytest.mark.parametrize(("document", "message"), PARSE_ERRORS, ids=[m for _, m in PARSE_ERRORS])
def test_parse_errors(document, message):
    with pytest.raises(InvalidParameterValue) as raised:
        policy.parse_document(document)
    assert raised.value.status == 400
    assert raised.value.message.startswith("Invalid policy document: ")
    assert message in raised.value.message


@pytest.mark.parametrize("document", [
    json.dumps({"Statement": [allow("*", FN)]}),
    {"Statement": [allow("*", FN)]},
])
def test_parse_refuses_documents_over_max_bytes(document):
    with pytest.raises(InvalidParameterValue, match="larger than 20 bytes"):
        policy.parse_document(document, max_bytes=20)


def test_parse_refuses_a_dict_that_is_not_json():
    with pytest.raises(InvalidParameterValue, match="not representable as JSON"):
        policy.parse_document({"Statement": [allow("*", Sid=object())]}, max_bytes=1000)


def test_parse_refuses_a_huge_text_before_parsing_it():
    with pytest.raises(InvalidParameterValue, match="larger than"):
        policy.parse_document("{" * 10_000_000, max_bytes=6144)


# --- function_statement --------------------------------------------------------------------------

def test_function_statement_shapes_for_each_principal():
    base = {"sid": "s1", "action": "lambda:InvokeFunction", "resource": FN}
    expect = {"Sid": "s1", "Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": FN}
    assert policy.function_statement(principal="*", **base) == {**expect, "Principal": "*"}
    assert policy.function_statement(principal=ACCOUNT, **base) == {
        **expect, "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}}
    for arn in (USER, ROLE, SESSION, f"arn:aws:iam::{ACCOUNT}:root", ROLE_WITH_PATH):
        assert policy.function_statement(principal=arn, **base) == {**expect, "Principal": {"AWS": arn}}
    for service in ("s3.amazonaws.com", "events.amazonaws.com", "scheduler.example.internal"):
        assert policy.function_statement(principal=service, **base) == {
            **expect, "Principal": {"Service": service}}


def test_function_statement_conditions():
    statement = policy.function_statement(
        sid="sns-topic", action="lambda:InvokeFunction", principal="sns.amazonaws.com", resource=FN,
        source_arn="arn:aws:sns:us-east-1:111122223333:topic-*", source_account=ACCOUNT,
        principal_org_id="o-a1b2c3d4e5")
    assert statement == {
        "Sid": "sns-topic", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "lambda:InvokeFunction", "Resource": FN,
        "Condition": {
            "ArnLike": {"AWS:SourceArn": "arn:aws:sns:us-east-1:111122223333:topic-*"},
            "StringEquals": {"AWS:SourceAccount": ACCOUNT, "aws:PrincipalOrgID": "o-a1b2c3d4e5"},
        },
    }
    assert "Condition" not in policy.function_statement(sid="x", action="*", principal="*", resource=FN)
    assert policy.function_statement(sid="b", action="lambda:InvokeFunction", principal="s3.amazonaws.com",
                                     resource=FN, source_arn=BUCKET_ARN)["Condition"] == {
        "ArnLike": {"AWS:SourceArn": BUCKET_ARN}}


@pytest.mark.parametrize("auth_type", ["NONE", "AWS_IAM"])
def test_function_statement_for_a_function_url(auth_type):
    statement = policy.function_statement(sid="url", action="lambda:InvokeFunctionUrl", principal="*",
                                          resource=FN, function_url_auth_type=auth_type)
    assert statement["Condition"] == {"StringEquals": {"lambda:FunctionUrlAuthType": auth_type}}
    assert statement["Principal"] == "*"


def test_function_statement_invoked_via_a_function_url():
    statement = policy.function_statement(sid="FunctionURLAllowInvokeAction", action="lambda:InvokeFunction",
                                          principal="*", resource=FN, invoked_via_function_url=True)
    # Lambda's own rendering: a Bool condition with the string "true"
    assert statement == {"Sid": "FunctionURLAllowInvokeAction", "Effect": "Allow", "Principal": "*",
                         "Action": "lambda:InvokeFunction", "Resource": FN,
                         "Condition": {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}}
    assert "Condition" not in policy.function_statement(sid="s", action="lambda:InvokeFunction", principal="*",
                                                        resource=FN, invoked_via_function_url=False)
    assert policy.function_statement(sid="s", action="lambda:InvokeFunction", principal="s3.amazonaws.com",
                                     resource=FN, source_arn=BUCKET_ARN, invoked_via_function_url=True)[
        "Condition"] == {"ArnLike": {"AWS:SourceArn": BUCKET_ARN}, "Bool": {"lambda:InvokedViaFunctionUrl": "true"}}


URL_VIA = "lambda:InvokedViaFunctionUrl"


@pytest.mark.parametrize("caller", ["anonymous", USER, SESSION])
def test_a_grant_limited_to_url_invocations_never_covers_a_direct_invoke(caller):
    statement = grant("*", invoked_via_function_url=True)
    assert resource_decision([statement], caller, context={URL_VIA: "true"}) == ALLOW
    # the Invoke API sets no such key, and nothing a caller sends can set it
    assert resource_decision([statement], caller) == NO_MATCH
    assert resource_decision([statement], caller, context={}) == NO_MATCH
    assert resource_decision([statement], caller, action="lambda:InvokeFunctionUrl",
                             context={URL_VIA: "true", "lambda:FunctionUrlAuthType": "NONE"}) == NO_MATCH


@pytest.mark.parametrize(("action", "valid"), [
    ("lambda:InvokeFunction", True),
    ("lambda:InvokeFunctionUrl", True),
    ("lambda:GetFunction", True),
    ("lambda:*", True),
    ("*", True),
    ("lambda:Get*", False),
    ("lambda:", False),
    ("s3:GetObject", False),
    ("lambda:Invoke Function", False),
    ("lambda:InvokeFunction\n", False),
    ("", False),
])
def test_function_statement_actions(action, valid):
    make = lambda: policy.function_statement(sid="s", action=action, principal="*", resource=FN)  # noqa: E731
    if valid:
        assert make()["Action"] == action
    else:
        with pytest.raises(InvalidParameterValue, match="Action"):
            make()


@pytest.mark.parametrize(("sid", "valid"), [
    ("a", True),
    ("Allow-S3_upload.v2", True),
    ("x" * 100, True),
    ("", False),
    ("x" * 101, False),
    ("has space", False),
    ("a:b", False),
    ("a@b", False),
    ("a/b", False),
    ("ok\n", False),
])
def test_function_statement_ids(sid, valid):
    make = lambda: policy.function_statement(sid=sid, action="*", principal="*", resource=FN)  # noqa: E731
    if valid:
        assert make()["Sid"] == sid
    else:
        with pytest.raises(InvalidParameterValue, match="StatementId"):
            make()


FUNCTION_STATEMENT_ERRORS = [
    ({"principal": "alice"}, "Principal"),
    ({"principal": "service:s3.amazonaws.com"}, "Principal"),
    ({"principal": "12345"}, "Principal"),
    ({"principal": "arn:aws:iam::*:root"}, "Principal"),
    ({"principal": f"arn:aws:iam::{ACCOUNT}:user/*"}, "Principal"),
    ({"principal": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:x"}, "Principal"),
    ({"principal": "s3.amazonaws.com "}, "Principal"),
    ({"principal": ""}, "Principal"),
    ({"resource": "app"}, "Resource"),
    ({"source_arn": "not-an-arn"}, "SourceArn"),
    ({"source_arn": "arn:aws:sns"}, "SourceArn"),
    ({"source_arn": "arn:aws:s3:::bucket\nx"}, "SourceArn"),
    ({"source_account": "1234"}, "SourceAccount"),
    ({"source_account": f"{ACCOUNT}\n"}, "SourceAccount"),
    ({"principal_org_id": "org-123"}, "PrincipalOrgID"),
    ({"action": "lambda:InvokeFunctionUrl", "function_url_auth_type": "IAM"}, "FunctionUrlAuthType"),
    ({"action": "lambda:InvokeFunctionUrl", "function_url_auth_type": "none"}, "FunctionUrlAuthType"),
    ({"action": "lambda:InvokeFunction", "function_url_auth_type": "NONE"}, "only valid with the action"),
    ({"action": "*", "function_url_auth_type": "NONE"}, "only valid with the action"),
    ({"action": "lambda:InvokeFunctionUrl", "invoked_via_function_url": True}, "only valid with the action"),
    ({"action": "lambda:*", "invoked_via_function_url": True}, "only valid with the action"),
    ({"invoked_via_function_url": "true"}, "InvokedViaFunctionUrl"),
    ({"invoked_via_function_url": 1}, "InvokedViaFunctionUrl"),
]


@pytest.mark.parametrize(("override", "message"), FUNCTION_STATEMENT_ERRORS,
                         ids=[repr(o) for o, _ in FUNCTION_STATEMENT_ERRORS])
def test_function_statement_errors(override, message):
    arguments = {"sid": "s", "action": "lambda:InvokeFunction", "principal": "*", "resource": FN, **override}
    with pytest.raises(InvalidParameterValue, match=message) as raised:
        policy.function_statement(**arguments)
    assert raised.value.status == 400


# --- resource (function) policies ----------------------------------------------------------------

def grant(principal, action="lambda:InvokeFunction", resource=FN, **conditions) -> dict:
    return policy.function_statement(sid="s", action=action, principal=principal, resource=resource,
                                     **conditions)


def resource_decision(statements, principal, action="lambda:InvokeFunction", resource=FN, context=None,
                      ) -> str:
    return policy.evaluate_resource_policy(statements, principal=principal, action=action, resource=resource,
                                           context=context)


RESOURCE_CASES = [
    # (statements, caller, expected)
    # users
    ([grant(USER)], USER, ALLOW),
    ([grant(USER)], f"arn:aws:iam::{ACCOUNT}:user/bob", NO_MATCH),
    ([grant(USER)], f"arn:aws:iam::{OTHER}:user/alice", NO_MATCH),
    ([grant(OTHER_USER)], OTHER_USER, ALLOW),
    # roles and their sessions
    ([grant(ROLE)], ROLE, ALLOW),
    ([grant(ROLE)], SESSION, ALLOW),
    ([grant(ROLE_WITH_PATH)], SESSION, ALLOW),  # a session ARN omits the role's path
    ([grant(ROLE)], f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer2/ci", NO_MATCH),
    ([grant(ROLE)], f"arn:aws:sts::{OTHER}:assumed-role/deployer/ci-42", NO_MATCH),
    ([grant(f"arn:aws:iam::{ACCOUNT}:role/deployer-x")], SESSION, NO_MATCH),
    ([grant(SESSION)], SESSION, ALLOW),
    ([grant(SESSION)], f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/other", NO_MATCH),
    ([grant(SESSION)], ROLE, NO_MATCH),
    ([grant(f"arn:aws:iam::{ACCOUNT}:user/deployer")], SESSION, NO_MATCH),
    # services
    ([grant("s3.amazonaws.com")], S3, ALLOW),
    ([grant("s3.amazonaws.com")], "service:sns.amazonaws.com", NO_MATCH),
    ([grant("s3.amazonaws.com")], USER, NO_MATCH),
    ([grant("s3.amazonaws.com")], "anonymous", NO_MATCH),
    # everyone
    ([grant("*")], "anonymous", ALLOW),
    ([grant("*")], USER, ALLOW),
    ([grant("*")], S3, ALLOW),
    ([{**grant(USER), "Principal": {"AWS": "*"}}], "anonymous", ALLOW),
    ([{**grant(USER), "Principal": {"AWS": [USER, ROLE]}}], "anonymous", NO_MATCH),
    ([{**grant(USER), "Principal": {"AWS": [OTHER_USER, ROLE]}}], SESSION, ALLOW),
    ([grant(USER)], "anonymous", NO_MATCH),
    ([grant(ROLE)], "anonymous", NO_MATCH),
    # an account principal never grants by itself
    ([grant(ACCOUNT)], USER, NO_MATCH),
    ([grant(ACCOUNT)], SESSION, NO_MATCH),
    ([grant(ACCOUNT)], f"arn:aws:iam::{ACCOUNT}:root", NO_MATCH),
    ([grant(ACCOUNT)], "anonymous", NO_MATCH),
    ([{**grant(USER), "Principal": {"AWS": ACCOUNT}}], USER, NO_MATCH),
    # action and resource must match too
    ([grant(USER)], USER, ALLOW),
    ([grant(USER, action="lambda:GetFunction")], USER, NO_MATCH),
    ([grant(USER, action="lambda:*")], USER, ALLOW),
    ([grant(USER, action="*")], USER, ALLOW),
    ([grant(USER, resource=f"{FN}:PROD")], USER, NO_MATCH),
    # explicit deny wins
    ([grant("*"), {**grant(USER), "Effect": "Deny"}], USER, DENY),
    ([{**grant(USER), "Effect": "Deny"}, grant("*")], USER, DENY),
    ([grant("*"), {**grant(USER), "Effect": "Deny"}], ROLE, ALLOW),
    ([grant(USER), {**grant("*"), "Effect": "Deny"}], USER, DENY),
    ([grant(USER), {**grant("*"), "Effect": "Deny"}], "anonymous", DENY),
    ([grant(SESSION), {**grant(ROLE), "Effect": "Deny"}], SESSION, DENY),
    # ...and a Deny naming an account covers every principal in it, but nobody outside it
    ([grant("*"), {**grant(ACCOUNT), "Effect": "Deny"}], USER, DENY),
    ([grant("*"), {**grant(ACCOUNT), "Effect": "Deny"}], SESSION, DENY),
    ([grant("*"), {**grant(ACCOUNT), "Effect": "Deny"}], OTHER_USER, ALLOW),
    ([grant("*"), {**grant(ACCOUNT), "Effect": "Deny"}], "anonymous", ALLOW),
    ([grant("*"), {**grant(ACCOUNT), "Effect": "Deny"}], S3, ALLOW),
    ([grant("*"), {**grant(USER), "Principal": {"AWS": ACCOUNT}, "Effect": "Deny"}], ROLE, DENY),
    ([], USER, NO_MATCH),
]


@pytest.mark.parametrize(("statements", "caller", "expected"), RESOURCE_CASES)
def test_resource_policy(statements, caller, expected):
    assert resource_decision(statements, caller) == expected


CONFUSED_DEPUTY = grant("s3.amazonaws.com", source_arn="arn:aws:s3:::uploads-*", source_account=ACCOUNT)

CONDITION_CASES = [
    # (statement, context, expected)
    (CONFUSED_DEPUTY, {"aws:SourceArn": "arn:aws:s3:::uploads-eu", "aws:SourceAccount": ACCOUNT}, ALLOW),
    (CONFUSED_DEPUTY, {"AWS:SOURCEARN": "arn:aws:s3:::uploads-eu", "aws:sourceaccount": ACCOUNT}, ALLOW),
    (CONFUSED_DEPUTY, {"aws:SourceArn": "arn:aws:s3:::other", "aws:SourceAccount": ACCOUNT}, NO_MATCH),
    (CONFUSED_DEPUTY, {"aws:SourceArn": "arn:aws:s3:::UPLOADS-eu", "aws:SourceAccount": ACCOUNT}, NO_MATCH),
    (CONFUSED_DEPUTY, {"aws:SourceArn": "arn:aws:s3:::uploads-eu", "aws:SourceAccount": OTHER}, NO_MATCH),
    (CONFUSED_DEPUTY, {"aws:SourceArn": "arn:aws:s3:::uploads-eu"}, NO_MATCH),  # absent key: no match
    (CONFUSED_DEPUTY, {"aws:SourceAccount": ACCOUNT}, NO_MATCH),
    (CONFUSED_DEPUTY, {}, NO_MATCH),
    (CONFUSED_DEPUTY, None, NO_MATCH),
    # ArnLike compares the six ARN parts one by one: `*` in the resource part does not reach the service part
    (grant("s3.amazonaws.com", source_arn="arn:aws:s3:::*"), {"aws:SourceArn": "arn:aws:s3:::b/k:v"}, ALLOW),
    (grant("s3.amazonaws.com", source_arn="arn:aws:s3:::*"), {"aws:SourceArn": "arn:aws:sns:::b"}, NO_MATCH),
    (grant("s3.amazonaws.com", source_arn="arn:aws:s3:::*"), {"aws:SourceArn": "not-an-arn"}, NO_MATCH),
    (grant("s3.amazonaws.com", source_arn="arn:aws:sns:us-east-1:111122223333:t?"),
     {"aws:SourceArn": "arn:aws:sns:us-east-1:111122223333:t1"}, ALLOW),
    (grant("s3.amazonaws.com", source_arn="arn:aws:sns:us-east-1:111122223333:t?"),
     {"aws:SourceArn": "arn:aws:sns:us-east-1:111122223333:t12"}, NO_MATCH),
    (grant("s3.amazonaws.com", principal_org_id=ORG), {"aws:PrincipalOrgID": ORG}, ALLOW),
    (grant("s3.amazonaws.com", principal_org_id=ORG), {"aws:PrincipalOrgID": "o-zzzzzzzzzz"}, NO_MATCH),
]


@pytest.mark.parametrize(("statement", "context", "expected"), CONDITION_CASES)
def test_resource_policy_conditions(statement, context, expected):
    assert resource_decision([statement], S3, context=context) == expected


def raw(effect: str, condition: dict, principal="*") -> dict:
    return {"Sid": "r", "Effect": effect, "Principal": principal, "Action": "lambda:InvokeFunction",
            "Resource": FN, "Condition": condition}


OPERATOR_CASES = [
    # (condition, context, holds)
    ({"StringEquals": {"aws:SourceAccount": ACCOUNT}}, {"aws:SourceAccount": ACCOUNT}, True),
    ({"StringEquals": {"aws:SourceAccount": [OTHER, ACCOUNT]}}, {"aws:SourceAccount": ACCOUNT}, True),  # OR
    ({"StringEquals": {"aws:SourceAccount": OTHER}}, {"aws:SourceAccount": ACCOUNT}, False),
    ({"StringEquals": {"k": "Value"}}, {"k": "value"}, False),  # values are case-sensitive
    ({"StringNotEquals": {"k": "a"}}, {"k": "b"}, True),
    ({"StringNotEquals": {"k": "a"}}, {"k": "a"}, False),
    ({"StringNotEquals": {"k": ["a", "b"]}}, {"k": "b"}, False),  # NOR
    ({"StringNotEquals": {"k": "a"}}, {}, True),  # IAM: a negated operator holds when the key is absent
    ({"StringLike": {"k": "dev-*"}}, {"k": "dev-1"}, True),
    ({"StringLike": {"k": "dev-*"}}, {"k": "prod-1"}, False),
    ({"StringLike": {"k": "dev-*"}}, {}, False),
    ({"StringNotLike": {"k": "dev-*"}}, {"k": "prod"}, True),
    ({"ArnEquals": {"aws:SourceArn": BUCKET_ARN}}, {"aws:SourceArn": BUCKET_ARN}, True),
    ({"ArnEquals": {"aws:SourceArn": "arn:aws:s3:::*"}}, {"aws:SourceArn": BUCKET_ARN}, True),
    ({"ArnNotLike": {"aws:SourceArn": "arn:aws:s3:::*"}}, {"aws:SourceArn": BUCKET_ARN}, False),
    ({"ArnNotLike": {"aws:SourceArn": "arn:aws:s3:::*"}}, {}, True),
    ({"stringequals": {"K": "v"}}, {"k": "v"}, True),  # operator and key names are case-insensitive
    # operators AND together, as do keys within one operator
    ({"StringEquals": {"a": "1", "b": "2"}}, {"a": "1", "b": "2"}, True),
    ({"StringEquals": {"a": "1", "b": "2"}}, {"a": "1", "b": "3"}, False),
    ({"StringEquals": {"a": "1"}, "StringLike": {"b": "x*"}}, {"a": "1", "b": "xy"}, True),
    ({"StringEquals": {"a": "1"}, "StringLike": {"b": "x*"}}, {"a": "1", "b": "yx"}, False),
    ({"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}, {"lambda:InvokedViaFunctionUrl": "true"}, True),
    ({"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}, {"lambda:InvokedViaFunctionUrl": "TRUE"}, True),
    ({"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}, {"lambda:InvokedViaFunctionUrl": "false"}, False),
    ({"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}, {}, False),  # absent: a direct Invoke
    ({"Bool": {"lambda:InvokedViaFunctionUrl": "false"}}, {"lambda:InvokedViaFunctionUrl": "false"}, True),
]


@pytest.mark.parametrize(("condition", "context", "holds"), OPERATOR_CASES)
def test_condition_operators(condition, context, holds):
    allowed = resource_decision([raw("Allow", condition)], USER, context=context)
    assert allowed == (ALLOW if holds else NO_MATCH)
    assert resource_decision([grant("*"), raw("Deny", condition)], USER, context=context) == (
        DENY if holds else ALLOW)


def test_an_unsupported_condition_operator_fails_closed():
    with pytest.raises(ValueError, match="NumericLessThan"):
        resource_decision([raw("Allow", {"NumericLessThan": {"k": "1"}})], USER, context={"k": "0"})


@pytest.mark.parametrize("caller", [
    "", "alice", "*", "arn:aws:iam::1:user/x", "service:", "service:s3", f"arn:aws:sts::{ACCOUNT}:role/x",
    f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer",
])
def test_an_unknown_caller_is_a_programming_error(caller):
    with pytest.raises(ValueError, match="caller principal"):
        resource_decision([grant("*")], caller)


URL = "lambda:InvokeFunctionUrl"


@pytest.mark.parametrize(("statement_type", "function_type", "caller", "expected"), [
    ("NONE", "NONE", "anonymous", ALLOW),
    ("NONE", "AWS_IAM", "anonymous", NO_MATCH),  # the grant was for a public URL; the URL is no longer public
    ("NONE", None, "anonymous", NO_MATCH),
    ("AWS_IAM", "AWS_IAM", USER, ALLOW),
    ("AWS_IAM", "NONE", USER, NO_MATCH),
])
def test_invoke_function_url_with_auth_type(statement_type, function_type, caller, expected):
    statement = grant("*", action=URL, function_url_auth_type=statement_type)
    context = {} if function_type is None else {"lambda:FunctionUrlAuthType": function_type}
    assert resource_decision([statement], caller, action=URL, context=context) == expected
    # the grant is for the URL only: it does not cover a plain Invoke
    assert resource_decision([statement], caller, action="lambda:InvokeFunction", context=context) == NO_MATCH


def test_an_account_principal_leaves_the_decision_to_the_identity_policy():
    resource = resource_decision([grant(ACCOUNT)], USER)
    assert resource == NO_MATCH
    assert policy.is_allowed(NO_MATCH, resource) is False
    assert policy.is_allowed(ALLOW, resource) is True
