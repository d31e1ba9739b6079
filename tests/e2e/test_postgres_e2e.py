"""The same platform on PostgreSQL: nothing SQLite-only may creep into the store."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import ROLE, Server, make_zip, unique

pytestmark = [pytest.mark.docker, pytest.mark.postgres]


def psql(url: str, sql: str) -> None:
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True, capture_output=True)


def drop_database(admin: str, database: str) -> None:
    """DROP ... WITH (FORCE) cannot end an autovacuum worker that happens to be in the database (the test role
    may only end its own sessions): it finishes within moments, so try again until then (as
    tests/support/postgres.py does for the unit tests)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return psql(admin, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        except subprocess.CalledProcessError as exc:
            if time.monotonic() > deadline or b"pg_signal_backend" not in exc.stderr + exc.stdout:
                raise
            time.sleep(0.2)


@pytest.fixture
def postgres_url():  # type: ignore[no-untyped-def]
    admin = os.environ.get("FAAS_TEST_POSTGRES_URL")
    if not admin:
        if os.environ.get("CI"):
            pytest.fail("FAAS_TEST_POSTGRES_URL is not set: run the tests through deploy/dev.sh test")
        pytest.skip("FAAS_TEST_POSTGRES_URL is not set")
    database = f"faas_e2e_{uuid.uuid4().hex[:10]}"
    psql(admin, f"CREATE DATABASE {database}")
    yield admin.rsplit("/", 1)[0] + "/" + database
    drop_database(admin, database)


def test_functions_and_invocations_on_postgres(tmp_path, postgres_url: str) -> None:
    server = Server(tmp_path / "data", database_url=postgres_url).start()
    try:
        assert not (server.data_dir / "faas.db").exists()
        lam = server.client()
        name = unique("pg")
        code = make_zip({"app.py": "def handler(e, c):\n    print('on postgres')\n    return {'got': e}\n"})
        lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": code}, Environment={"Variables": {"A": "1"}})
        for other in range(3):
            lam.create_function(FunctionName=f"{name}-{other}", Runtime="python3.13", Role=ROLE,
                                Handler="app.handler", Code={"ZipFile": code})
        with pytest.raises(ClientError) as err:
            lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                                Code={"ZipFile": code})
        assert err.value.response["Error"]["Code"] == "ResourceConflictException"
        page = lam.list_functions(MaxItems=2)
        assert len(page["Functions"]) == 2 and page["NextMarker"]
        response = lam.invoke(FunctionName=name, Payload=b'{"k": "v"}')
        assert json.loads(response["Payload"].read()) == {"got": {"k": "v"}}
        lam.update_function_configuration(FunctionName=name, Timeout=12)
        lam.delete_function(FunctionName=f"{name}-0")
        before = lam.get_function_configuration(FunctionName=name)
    finally:
        assert server.stop() == 0

    again = Server(tmp_path / "data", database_url=postgres_url).start()
    try:
        lam = again.client()
        after = lam.get_function_configuration(FunctionName=name)
        assert after["Timeout"] == 12 and after["RevisionId"] == before["RevisionId"]
        assert after["Environment"] == {"Variables": {"A": "1"}}
        names = {f["FunctionName"] for f in lam.list_functions()["Functions"]}
        assert names == {name, f"{name}-1", f"{name}-2"}
        lam.invoke(FunctionName=name, Payload=b"{}")
        records = again_logs(again, name)
        assert len(records) == 2 and all(r["Outcome"] == "success" for r in records)
        assert "on postgres" in records[0]["Log"]
    finally:
        assert again.stop() == 0


def again_logs(server: Server, name: str) -> list[dict]:
    import time

    deadline = time.monotonic() + 10
    while True:
        records = server.get_json(f"/faas/v1/functions/{name}/logs")["Invocations"]
        if len(records) >= 2 or time.monotonic() > deadline:
            return records
        time.sleep(0.2)
