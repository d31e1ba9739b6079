"""Environments' role credentials are short-lived: an environment is replaced, with new credentials,
once half their lifetime has passed, and the old ones stop working when it stops."""

from __future__ import annotations

import json
import time

import pytest

from faas.security.sigv4 import Credentials
from tests.e2e.conftest import ROLE, Server, make_zip, unique

pytestmark = pytest.mark.docker

WHO = make_zip({"app.py": "import os\ndef handler(e, c):\n    return {k: os.environ[k] for k in "
                          "('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN')}\n"})


TTL_S = 10  # long enough that a loaded machine still checks the first credentials within their lifetime


def test_credentials_are_renewed_with_the_environment(tmp_path) -> None:
    server = Server(tmp_path / "data", extra_env={"FAAS_CREDENTIALS_TTL_S": str(TTL_S)}).start()
    try:
        lam = server.client()
        name = unique("renew")
        lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": WHO})
        first = json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())
        issued = time.monotonic()  # at the latest: they were issued for this first invocation
        assert first["AWS_ACCESS_KEY_ID"].startswith("ASIA")
        # Still fresh: the same environment, the same credentials.
        assert json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read()) == first
        old = Credentials(first["AWS_ACCESS_KEY_ID"], first["AWS_SECRET_ACCESS_KEY"], first["AWS_SESSION_TOKEN"])
        status, headers, _ = server.request("GET", "/2015-03-31/functions/", credentials=old)
        # Recognised credentials; the default role just may do nothing.
        assert (status, headers.get("x-amzn-ErrorType")) == (403, "AccessDeniedException")
        time.sleep(max(0.0, issued + TTL_S / 2 + 0.2 - time.monotonic()))  # past half of their lifetime
        second = json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())
        assert second["AWS_ACCESS_KEY_ID"] != first["AWS_ACCESS_KEY_ID"]
        deadline = time.monotonic() + 10
        while True:  # the replaced environment is stopped and its session revoked
            status, headers, _ = server.request("GET", "/2015-03-31/functions/", credentials=old)
            if headers.get("x-amzn-ErrorType") == "UnrecognizedClientException" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert (status, headers.get("x-amzn-ErrorType")) == (403, "UnrecognizedClientException")
    finally:
        assert server.stop() == 0
