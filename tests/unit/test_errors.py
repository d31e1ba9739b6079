"""The error hierarchy (faas.errors) and the middleware that turns errors into Lambda's error format."""

from __future__ import annotations

import inspect
import json
import logging
import uuid

import botocore.session
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from faas import errors
from faas.api.middleware import lambda_errors
from faas.errors import ApiError, ResourceNotFound, TooManyRequests


def all_subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(all_subclasses(sub))
    return found


API_ERRORS = [cls for cls in all_subclasses(ApiError) if cls.__module__ == errors.__name__]


def test_the_hierarchy_is_found():
    assert ResourceNotFound in API_ERRORS and len(API_ERRORS) >= 10


@pytest.mark.parametrize("cls", API_ERRORS, ids=lambda c: c.__name__)
def test_every_api_error_has_a_status_a_code_and_a_docstring(cls):
    assert isinstance(cls.status, int) and 400 <= cls.status <= 599
    bases = (errors.SqsError, errors.SnsError, errors.SnsBatchError)
    if issubclass(cls, (errors.SqsError, errors.SnsError)) and cls not in bases:  # their models name them without it
        assert isinstance(cls.code, str) and cls.query_code
    else:
        assert isinstance(cls.code, str) and cls.code.endswith("Exception")
    assert cls.error_type in ("User", "Service")
    assert (cls.status < 500) == (cls.error_type == "User")
    assert "__doc__" in vars(cls) and inspect.cleandoc(cls.__doc__)


def test_sqs_errors_are_the_ones_sqs_models_so_boto3_raises_its_exceptions():
    model = botocore.session.get_session().get_service_model("sqs")
    modeled = {shape.name for shape in model.error_shapes}
    unmodeled = {"InvalidParameterValue", "MissingParameter"}  # SQS sends these without modelling them
    for cls in API_ERRORS:
        if issubclass(cls, errors.SqsError) and cls is not errors.SqsError:
            assert cls.code in modeled | unmodeled, cls


def test_eventbridge_errors_are_the_ones_eventbridge_models_so_boto3_raises_its_exceptions():
    model = botocore.session.get_session().get_service_model("events")
    modeled = {shape.name for shape in model.error_shapes} | {"ValidationException"}  # sent, not modeled
    for cls in API_ERRORS:
        if issubclass(cls, errors.EventsError) and cls is not errors.EventsError:
            assert cls.code in modeled, cls


def test_logs_errors_are_the_ones_cloudwatch_logs_models_so_boto3_raises_its_exceptions():
    model = botocore.session.get_session().get_service_model("logs")
    modeled = {shape.name for shape in model.error_shapes}
    for cls in API_ERRORS:
        if issubclass(cls, errors.LogsError) and cls is not errors.LogsError:
            assert cls.code in modeled, cls


def test_sns_errors_are_the_ones_sns_models_so_boto3_raises_its_exceptions():
    model = botocore.session.get_session().get_service_model("sns")
    modeled = {shape.metadata["error"]["code"]: shape.metadata["error"]["httpStatusCode"]
               for shape in model.error_shapes if "error" in shape.metadata}
    for cls in API_ERRORS:
        if issubclass(cls, errors.SnsError) and cls not in (errors.SnsError, errors.SnsBatchError):
            assert modeled.get(cls.code) == cls.status, cls


def test_wire_codes_are_unique_within_a_service():
    """A client maps a wire code to one exception of its service; services may share a code (ConflictException
    is API Gateway's and the Scheduler's, ResourceNotFoundException Lambda's and EventBridge's)."""
    def family(cls: type) -> str:
        for base in (errors.SnsError, errors.ApiGatewayError, errors.EventsError, errors.LogsError):
            if issubclass(cls, base):
                return base.__name__
        return "Scheduler" if cls is errors.SchedulerConflict else "Lambda and SQS"

    families: dict[str, list[str]] = {}
    for cls in API_ERRORS:
        if cls not in (errors.SnsError, errors.SnsBatchError, errors.ApiGatewayError, errors.JsonServiceError,
                       errors.EventsError, errors.LogsError):
            families.setdefault(family(cls), []).append(cls.code)
    for codes in families.values():
        assert len(codes) == len(set(codes)), codes


def test_api_gateway_errors_are_the_ones_its_model_names():
    model = botocore.session.get_session().get_service_model("apigatewayv2")
    modeled = {shape.name: shape.metadata["error"]["httpStatusCode"] for shape in model.error_shapes}
    for cls in API_ERRORS:
        if issubclass(cls, errors.ApiGatewayError) and cls is not errors.ApiGatewayError:
            assert modeled[cls.code] == cls.status, cls


@pytest.mark.parametrize(("cls", "status", "code"), [
    (errors.InvalidParameterValue, 400, "InvalidParameterValueException"),
    (errors.InvalidRequestContent, 400, "InvalidRequestContentException"),
    (errors.AccessDenied, 403, "AccessDeniedException"),
    (errors.ResourceNotFound, 404, "ResourceNotFoundException"),
    (errors.ResourceConflict, 409, "ResourceConflictException"),
    (errors.PreconditionFailed, 412, "PreconditionFailedException"),
    (errors.RequestTooLarge, 413, "RequestTooLargeException"),
    (errors.TooManyRequests, 429, "TooManyRequestsException"),
    (errors.ServiceError, 500, "ServiceException"),
    (errors.ResourceNotReady, 502, "ResourceNotReadyException"),
    (errors.InvalidZipFile, 502, "InvalidZipFileException"),
])
def test_lambda_status_and_codes(cls, status, code):
    assert (cls.status, cls.code) == (status, code)


@pytest.mark.parametrize("cls", API_ERRORS, ids=lambda c: c.__name__)
def test_default_message_is_the_docstring(cls):
    error = cls()
    assert error.message == cls.__doc__.strip()
    assert str(error) == error.message
    body = error.body()
    if issubclass(cls, errors.ApiGatewayError):  # API Gateway's model: only `message`
        assert body == {"message": error.message}
        return
    assert body["message"] == body["Message"] == error.message
    assert body["Type"] == cls.error_type


def test_body_has_type_and_message_both_ways():
    body = ResourceNotFound("Function not found: fn").body()
    assert body == {"Type": "User", "message": "Function not found: fn", "Message": "Function not found: fn"}


def test_extra_fields_land_in_the_body():
    body = TooManyRequests("Rate exceeded.", Reason="ReservedFunctionConcurrentInvocationLimitExceeded").body()
    assert body["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert body["message"] == "Rate exceeded."


def test_api_errors_are_faas_errors():
    assert issubclass(ApiError, errors.FaasError)
    assert issubclass(errors.ConfigError, errors.FaasError)
    assert issubclass(errors.StartupError, errors.FaasError)
    # raised during requests too, so not a StartupError; the CLI and `faas serve` stop with it as a ConfigError
    assert issubclass(errors.KeyringError, errors.ConfigError)
    assert not issubclass(errors.KeyringError, errors.StartupError)


# -- the middleware -------------------------------------------------------------------------------

SECRET = "sk-live-7f3a9c1e-do-not-leak"


async def ok(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def throttled(request: web.Request) -> web.Response:
    raise TooManyRequests("Rate exceeded.", Reason="ConcurrentInvocationLimitExceeded")


async def not_found(request: web.Request) -> web.Response:
    raise ResourceNotFound("Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope")


async def crash(request: web.Request) -> web.Response:
    raise RuntimeError(f"database password is {SECRET}")


async def crash_with_key_error(request: web.Request) -> web.Response:
    return web.json_response({}[SECRET])


@pytest.fixture
async def client():
    app = web.Application(middlewares=[lambda_errors])
    app.router.add_get("/ok", ok)
    app.router.add_get("/throttled", throttled)
    app.router.add_get("/missing", not_found)
    app.router.add_get("/crash", crash)
    app.router.add_get("/crash-key", crash_with_key_error)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


def assert_request_id(response) -> str:
    request_id = response.headers["x-amzn-RequestId"]
    uuid.UUID(request_id)
    return request_id


async def test_success_gets_a_request_id(client):
    response = await client.get("/ok")
    assert response.status == 200
    assert await response.json() == {"ok": True}
    assert_request_id(response)
    assert "x-amzn-ErrorType" not in response.headers


async def test_request_ids_differ(client):
    first, second = await client.get("/ok"), await client.get("/ok")
    assert assert_request_id(first) != assert_request_id(second)


async def test_an_api_error_becomes_lambdas_error_format(client):
    response = await client.get("/missing")
    assert response.status == 404
    assert response.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    assert response.content_type == "application/json"
    assert_request_id(response)
    body = await response.json()
    message = "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope"
    assert body == {"Type": "User", "message": message, "Message": message}


async def test_extra_fields_of_an_api_error_reach_the_caller(client):
    response = await client.get("/throttled")
    assert response.status == 429
    assert response.headers["x-amzn-ErrorType"] == "TooManyRequestsException"
    assert (await response.json())["Reason"] == "ConcurrentInvocationLimitExceeded"


@pytest.mark.parametrize("path", ["/crash", "/crash-key"])
async def test_an_unexpected_exception_is_a_500_without_details(client, path, caplog):
    caplog.set_level(logging.CRITICAL + 1, logger="faas.api.middleware")  # the traceback goes to the log
    response = await client.get(path)
    assert response.status == 500
    assert response.headers["x-amzn-ErrorType"] == "ServiceException"
    request_id = assert_request_id(response)
    text = await response.text()
    assert SECRET not in text
    assert "Traceback" not in text
    assert "RuntimeError" not in text and "KeyError" not in text
    assert 'File "' not in text
    body = json.loads(text)
    assert body["Type"] == "Service"
    assert body["message"] == body["Message"]
    assert request_id in body["message"]  # the operator can find the traceback in the log by this id
    assert SECRET not in json.dumps(dict(response.headers))


async def test_the_traceback_goes_to_the_servers_log(client, caplog):
    caplog.set_level(logging.ERROR, logger="faas.api.middleware")
    response = await client.get("/crash")
    request_id = assert_request_id(response)
    records = [r for r in caplog.records if r.name == "faas.api.middleware"]
    assert records and records[0].exc_info is not None
    assert request_id in records[0].getMessage()


@pytest.mark.parametrize(("method", "path"), [("GET", "/2015-03-31/functions/x/nothing"), ("DELETE", "/ok")])
async def test_unknown_routes_are_404_in_lambda_format(client, method, path):
    response = await client.request(method, path)
    assert response.status == 404
    assert response.headers["x-amzn-ErrorType"] == "UnknownOperationException"
    assert response.content_type == "application/json"
    assert_request_id(response)
    body = await response.json()
    assert body["Type"] == "User"
    assert path in body["message"] and method in body["message"]
    assert body["Message"] == body["message"]
