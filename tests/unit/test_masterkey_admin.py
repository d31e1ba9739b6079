"""The master key file (faas.security.keyfile, faas.security.masterkey) and the first admin key (faas.services.admin) on a real SQLite store."""

from __future__ import annotations

import base64
import configparser
import json
import os
import stat
from pathlib import Path

import pytest

from faas.errors import KeyringError
from faas.services.admin import credentials_text, ensure_admin_credentials
from faas.services.identities import ADMIN, IdentityService, new_key_id, new_secret
from faas.security.masterkey import MasterKey
from faas.store.db import create_engine, migrate
from faas.store.identities import IdentityStore


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- master key -----------------------------------------------------------------------------------


def test_key_file_is_created_private(tmp_path):
    path = tmp_path / "keys" / "master.key"
    master = MasterKey.load_or_create(path)
    assert mode_of(path) == 0o600
    [entry] = json.loads(path.read_text())["keys"]
    assert entry["id"] == master.newest_id
    assert len(base64.b64decode(entry["key"], validate=True)) == 32


def test_key_file_is_created_private_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        MasterKey.load_or_create(tmp_path / "master.key")
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "master.key") == 0o600


def test_the_key_is_reused_on_the_next_load(tmp_path):
    path = tmp_path / "master.key"
    first = MasterKey.load_or_create(path)
    content = path.read_bytes()
    sealed = first.seal(b"payload", "fn:orders")
    second = MasterKey.load_or_create(path)
    assert path.read_bytes() == content
    assert second.open(sealed, "fn:orders") == b"payload"


def test_sealing_hides_the_plaintext_and_is_randomised(tmp_path):
    key = MasterKey.load_or_create(tmp_path / "master.key")
    first, second = key.seal(b"top secret value", "ctx"), key.seal(b"top secret value", "ctx")
    assert b"top secret value" not in first
    assert first != second
    assert key.open(first, "ctx") == key.open(second, "ctx") == b"top secret value"


def test_a_different_key_cannot_open(tmp_path):
    sealed = MasterKey.load_or_create(tmp_path / "a.key").seal(b"payload", "ctx")
    other = MasterKey.load_or_create(tmp_path / "b.key")
    with pytest.raises(KeyringError, match="master key"):
        other.open(sealed, "ctx")


def test_the_context_is_bound_in(tmp_path):
    key = MasterKey.load_or_create(tmp_path / "master.key")
    sealed = key.seal(b"payload", "AKIAONE")
    with pytest.raises(KeyringError):
        key.open(sealed, "AKIATWO")
    with pytest.raises(KeyringError):
        key.open(sealed, "")


def test_tampered_ciphertext_cannot_be_opened(tmp_path):
    key = MasterKey.load_or_create(tmp_path / "master.key")
    sealed = bytearray(key.seal(b"payload", "ctx"))
    sealed[-1] ^= 1
    with pytest.raises(KeyringError):
        key.open(bytes(sealed), "ctx")


@pytest.mark.parametrize("content", [
    "not base64 at all!!",
    "",
    base64.b64encode(b"x" * 16).decode(),  # valid base64, wrong length
    base64.b64encode(b"x" * 33).decode(),
    "\x00\x01\x02",
])
def test_a_corrupted_key_file_stops_the_start(tmp_path, content):
    path = tmp_path / "master.key"
    path.write_text(content)
    with pytest.raises(KeyringError):
        MasterKey.load_or_create(path)
    assert path.read_text() == content  # never replaced behind the operator's back


def test_an_unreadable_key_file_stops_the_start(tmp_path):
    path = tmp_path / "master.key"
    path.mkdir()  # reading a directory fails with an OSError
    with pytest.raises(KeyringError):
        MasterKey.load_or_create(path)


# -- admin credentials ----------------------------------------------------------------------------


def test_new_key_pairs_look_like_aws_keys():
    key_id, secret = new_key_id("AKIA"), new_secret()
    assert key_id.startswith("AKIA") and len(key_id) == 20 and key_id.isalnum() and key_id.isupper()
    assert len(secret) == 40
    assert (new_key_id("AKIA"), new_secret()) != (key_id, secret)


async def admin_credentials(store: IdentityStore, master: MasterKey, path: Path) -> str:
    """What faas serve does on start: the admin principal, then its key and credentials file."""
    identities = IdentityService(store, master, "000000000000")
    await identities.bootstrap()
    return await ensure_admin_credentials(identities, store, master, path)


def read_credentials_text(text: str) -> tuple[str, str]:
    """Key id and secret as the AWS SDKs read a shared credentials file."""
    parser = configparser.ConfigParser()
    parser.read_string(text)
    assert parser.sections() == ["default"]
    return parser["default"]["aws_access_key_id"], parser["default"]["aws_secret_access_key"]


def read_credentials(path: Path) -> tuple[str, str]:
    return read_credentials_text(path.read_text())


def test_credentials_text_is_an_aws_shared_credentials_file():
    assert read_credentials_text(credentials_text("AKIAEXAMPLE", "abc/def+ghi")) == ("AKIAEXAMPLE", "abc/def+ghi")


@pytest.fixture
async def store(tmp_path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'faas.db'}")
    await migrate(engine)
    yield IdentityStore(engine)
    await engine.dispose()


@pytest.fixture
def master(tmp_path):
    return MasterKey.load_or_create(tmp_path / "master.key")


async def test_first_call_creates_one_key_and_a_private_credentials_file(store, master, tmp_path):
    path = tmp_path / "data" / "credentials"
    key_id = await admin_credentials(store, master, path)
    keys = await store.keys(ADMIN)
    assert [k.key_id for k in keys] == [key_id]
    assert keys[0].enabled and keys[0].created_at.tzinfo is not None
    assert mode_of(path) == 0o600
    file_key_id, secret = read_credentials(path)
    assert file_key_id == key_id
    assert master.open(keys[0].secret, key_id).decode() == secret
    assert not (tmp_path / "data" / "credentials.tmp").exists()


async def test_second_call_reuses_the_key_and_leaves_the_file_alone(store, master, tmp_path):
    path = tmp_path / "credentials"
    key_id = await admin_credentials(store, master, path)
    before = path.read_bytes()
    assert await admin_credentials(store, master, path) == key_id
    assert len(await store.keys(ADMIN)) == 1
    assert path.read_bytes() == before


async def test_a_deleted_credentials_file_is_rewritten_with_the_same_key(store, master, tmp_path):
    path = tmp_path / "credentials"
    key_id = await admin_credentials(store, master, path)
    original = read_credentials(path)
    path.unlink()
    assert await admin_credentials(store, master, path) == key_id
    assert read_credentials(path) == original == (key_id, original[1])
    assert mode_of(path) == 0o600
    assert len(await store.keys(ADMIN)) == 1


async def test_a_different_master_key_stops_the_rewrite(store, master, tmp_path):
    path = tmp_path / "credentials"
    await admin_credentials(store, master, path)
    path.unlink()
    with pytest.raises(KeyringError):
        await admin_credentials(store, MasterKey.load_or_create(tmp_path / "other.key"), path)
    assert not path.exists()


async def test_the_secret_is_not_stored_in_plain_text(tmp_path, master):
    db = tmp_path / "faas.db"
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    await migrate(engine)
    path = tmp_path / "credentials"
    key_id = await admin_credentials(IdentityStore(engine), master, path)
    _, secret = read_credentials(path)

    def database_bytes() -> bytes:
        files = sorted(tmp_path.glob("faas.db*"))  # the database and its WAL
        assert db in files
        return b"".join(f.read_bytes() for f in files)

    stored = database_bytes()
    assert key_id.encode() in stored  # the check looks at the right bytes
    assert secret.encode() not in stored
    assert base64.b64encode(secret.encode()) not in stored
    await engine.dispose()
    stored = database_bytes()
    assert key_id.encode() in stored
    assert secret.encode() not in stored
