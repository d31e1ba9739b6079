"""What `faas deploy -f` changes on a redeploy and the routes it makes, decided without a server."""

from __future__ import annotations

from pathlib import Path

from faas.cli import sam
from faas.cli.sam_apis import route_key
from faas.sam.template import EventSpec, FunctionSpec

ROLE = "arn:aws:iam::000000000000:role/faas-default"


def deployed(**fields: object) -> dict[str, object]:
    configuration = {"Runtime": "python3.13", "Handler": "app.handler", "Role": ROLE, "MemorySize": 128,
                     "Timeout": 3, "Description": "", "Environment": {"Variables": {"A": "1"}},
                     "LoggingConfig": {"LogFormat": "Text", "LogGroup": "/aws/lambda/s-Fn"}}
    configuration.update(fields)
    return configuration


def spec(**fields: object) -> FunctionSpec:
    return FunctionSpec(**{"logical_id": "Fn", "name": "s-Fn", "code_uri": Path("."), "handler": "app.handler",
                           "runtime": "python3.13", "environment": {"A": "1"}, **fields})  # type: ignore[arg-type]


def test_the_same_configuration_changes_nothing():
    assert sam.configuration_changes(spec(), ROLE, deployed()) == {}
    # SAM's defaults (128 MB, 3 s) are what an omitted MemorySize and Timeout mean
    assert sam.configuration_changes(spec(memory_size=128, timeout=3), ROLE, deployed()) == {}


def test_only_the_fields_that_differ_change():
    assert sam.configuration_changes(spec(timeout=7, environment={"A": "2"}), ROLE, deployed()) == {
        "timeout": 7, "environment": {"A": "2"}}
    # a function deployed with 512 MB goes back to the default when the template no longer says
    assert sam.configuration_changes(spec(), ROLE, deployed(MemorySize=512, Environment=None)) == {
        "memory_size": 128, "environment": {"A": "1"}}


def test_the_route_of_an_http_api_event():
    assert route_key(EventSpec("E", "HttpApi", {"Path": "/items/{id}", "Method": "get"})) == "GET /items/{id}"
    assert route_key(EventSpec("E", "HttpApi", {"Path": "/any", "Method": "any"})) == "ANY /any"
    assert route_key(EventSpec("E", "HttpApi", {"Path": "/p"})) == "ANY /p"
    assert route_key(EventSpec("E", "HttpApi", {})) == "$default"
