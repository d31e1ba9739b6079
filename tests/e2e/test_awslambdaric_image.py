"""AWS's own runtime interface client (awslambdaric) runs a function on faas's Runtime API unchanged."""

from __future__ import annotations

import json

import docker
import pytest

from faas.sandbox import images
from tests.e2e.conftest import ROLE, Server, unique
from tests.support.images import build_awslambdaric_image

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The test image's repository (faas-test/) is one the operator allows besides the platform's own."""
    srv = Server(tmp_path_factory.mktemp("faas") / "data",
                 extra_env={"FAAS_IMAGE_REPOSITORIES": "faas/, faas-test/"}).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def ric_image() -> str:
    client = docker.from_env()
    return build_awslambdaric_image(client, images.image_ref("faas", "python3.13"))


def test_awslambdaric_image_function(lam, ric_image: str) -> None:  # type: ignore[no-untyped-def]
    name = unique("ric")
    created = lam.create_function(FunctionName=name, PackageType="Image", Role=ROLE, Code={"ImageUri": ric_image},
                                  MemorySize=256, Timeout=10)
    assert created["PackageType"] == "Image" and "Runtime" not in created
    assert lam.get_function(FunctionName=name)["Code"]["ImageUri"] == ric_image

    for n in range(3):  # cold, then warm through the same client
        response = lam.invoke(FunctionName=name, Payload=json.dumps({"n": n}).encode())
        assert "FunctionError" not in response, response["Payload"].read()
        body = json.loads(response["Payload"].read())
        assert body["echo"] == {"n": n}
        assert body["request_id"] == response["ResponseMetadata"]["RequestId"]
        assert body["function_name"] == name
        assert str(body["memory_limit_in_mb"]) == "256"
        assert 0 < body["remaining_ms"] <= 10000


def test_awslambdaric_handler_error_and_missing_image(lam, ric_image: str) -> None:  # type: ignore[no-untyped-def]
    name = unique("ricerr")
    lam.create_function(FunctionName=name, PackageType="Image", Role=ROLE, Code={"ImageUri": ric_image},
                        ImageConfig={"Command": ["app.no_such_handler"]})
    response = lam.invoke(FunctionName=name, Payload=b"{}")
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"] == "Runtime.HandlerNotFound"

    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.create_function(FunctionName=unique("noimg"), PackageType="Image", Role=ROLE,
                            Code={"ImageUri": "faas-test/does-not-exist:1"})
