"""Environment variables appear in a configuration only for callers allowed to read them
(lambda:GetFunctionConfiguration on the function), and ListFunctions leaves the others sealed."""

from __future__ import annotations

import pytest

from faas.api.auth import permits
from faas.api.functions import READ_VARIABLES, configuration
from faas.dispatch.concurrency import Limiter
from faas.security import policy
from faas.services.functions import FunctionService
from faas.services.identities import Caller
from faas.settings import load
from tests.unit.test_function_rules import MASTER, RUNTIMES, FakeFunctionStore, b64, zip_of

SETTINGS = load({})
SECRET = "s3cr3t-value-of-app-a"


def caller(*statements: dict) -> Caller:
    return Caller(arn="arn:aws:iam::000000000000:user/u", name="u", kind="user",
                  documents=(policy.parse_document({"Statement": list(statements)}),) if statements else ())


def statement(action: str | list[str], resource: str, effect: str = "Allow") -> dict:
    return {"Effect": effect, "Action": action, "Resource": resource}


async def functions_with_secrets(names: list[str]) -> FunctionService:
    store = FakeFunctionStore()
    service = FunctionService(store, RUNTIMES, Limiter(1000), MASTER, SETTINGS.function_arn)
    for name in names:
        await service.create({"FunctionName": name, "Runtime": "python3.13", "Handler": "app.handler",
                              "Role": "arn:aws:iam::000000000000:role/r", "Code": {"ZipFile": b64(zip_of())},
                              "Environment": {"Variables": {"TOKEN": f"{SECRET}-{name}"}}})
    return service


@pytest.mark.parametrize("documents, name, expected", [
    ([statement("lambda:ListFunctions", "*")], "app-a", False),
    ([statement("lambda:GetFunctionConfiguration", SETTINGS.function_arn("app-a"))], "app-a", True),
    ([statement("lambda:GetFunctionConfiguration", SETTINGS.function_arn("app-a"))], "app-b", False),
    ([statement("lambda:Get*", "*")], "app-b", True),
    ([statement("lambda:*", "*"), statement("lambda:GetFunctionConfiguration", "*", "Deny")], "app-a", False),
    ([statement("lambda:GetFunction", "*")], "app-a", False),  # GetFunction's own route shows them; not others
    ([], "app-a", False),
])
def test_permits_is_the_identity_decision(documents: list[dict], name: str, expected: bool) -> None:
    assert permits(caller(*documents), READ_VARIABLES, SETTINGS.function_arn(name)) is expected


async def test_configuration_shows_variables_only_when_told() -> None:
    service = await functions_with_secrets(["app-a"])
    fn = await service.get("app-a")
    assert configuration(fn, SETTINGS, variables=True)["Environment"] == {"Variables": {"TOKEN": f"{SECRET}-app-a"}}
    for hidden in (configuration(fn, SETTINGS, variables=False), configuration(fn, SETTINGS)):
        assert "Environment" not in hidden
        assert SECRET not in repr(hidden)
        assert hidden["FunctionName"] == "app-a"


async def test_list_decrypts_only_what_the_caller_may_read() -> None:
    service = await functions_with_secrets(["app-a", "app-b", "app-c"])
    page, marker = await service.list(None, 50, unseal=lambda name: name == "app-b")
    assert marker is None
    assert [fn.name for fn in page] == ["app-a", "app-b", "app-c"]
    assert {fn.name: fn.environment for fn in page} == {
        "app-a": {}, "app-b": {"TOKEN": f"{SECRET}-app-b"}, "app-c": {}}
    assert all(fn.env_ciphertext for fn in page)  # still stored, sealed
    shown = [configuration(fn, SETTINGS, variables=fn.name == "app-b") for fn in page]
    assert [c.get("Environment") for c in shown] == [None, {"Variables": {"TOKEN": f"{SECRET}-app-b"}}, None]
