"""Upgrading a store whose environment variables predate encryption: sealed at start, no plaintext left."""

from __future__ import annotations

import json
import secrets
import sqlite3

import pytest

from tests.e2e.conftest import ROLE, Server, make_zip, unique

pytestmark = pytest.mark.docker


def test_plaintext_variables_are_encrypted_at_the_next_start(tmp_path) -> None:
    server = Server(tmp_path / "data").start()
    name = unique("legacy")
    secret = "plain-" + secrets.token_hex(16)
    try:
        lam = server.client()
        lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": make_zip({"app.py": "import os\ndef handler(e, c):\n"
                                                                  "    return os.environ['LEGACY']\n"})})
    finally:
        assert server.stop() == 0

    # As a release before encryption left it: the variables as plaintext JSON, nothing sealed.
    database = server.data_dir / "faas.db"
    with sqlite3.connect(database) as db:
        db.execute("UPDATE functions SET environment = ?, env_ciphertext = NULL, data_key = NULL WHERE name = ?",
                   (json.dumps({"LEGACY": secret}), name))
    assert secret.encode() in b"".join(p.read_bytes() for p in server.data_dir.glob("faas.db*"))

    again = Server(tmp_path / "data").start()
    try:
        assert "encrypted the environment variables of 1 functions" in again.output()
        lam = again.client()
        assert lam.get_function_configuration(FunctionName=name)["Environment"] == {"Variables": {"LEGACY": secret}}
        assert json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read()) == secret
    finally:
        assert again.stop() == 0
    stored = b"".join(p.read_bytes() for p in again.data_dir.glob("faas.db*"))
    assert name.encode() in stored  # the scan reads the right bytes
    assert secret.encode() not in stored
