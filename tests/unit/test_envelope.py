"""The master keyring and its rotation (faas.security.masterkey), per-function data keys (faas.security.envelope)."""

from __future__ import annotations

import base64
import json
import os
import stat
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from faas.errors import ConfigError, StartupError
from faas.security import masterkey
from faas.security.envelope import decrypt_environment, encrypt_environment, new_data_key, rewrap
from faas.security.masterkey import LEGACY_ID, KeyringError, MasterKey

ARN = "arn:aws:lambda:us-east-1:000000000000:function:orders"
OTHER_ARN = "arn:aws:lambda:us-east-1:000000000000:function:billing"


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def keys_in_file(path: Path) -> list[str]:
    return [entry["id"] for entry in json.loads(path.read_text())["keys"]]


def key_material(path: Path) -> list[str]:
    """Every way a key from the file could leak into a message: its base64 and its raw bytes."""
    text = path.read_text()
    encoded = [entry["key"] for entry in json.loads(text)["keys"]] if text.startswith("{") else [text.strip()]
    return encoded + [base64.b64decode(e).decode("latin-1") for e in encoded]


def assert_no_secret(message: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in message


@pytest.fixture
def path(tmp_path) -> Path:
    return tmp_path / "master.key"


@pytest.fixture
def master(path) -> MasterKey:
    return MasterKey.load_or_create(path)


# -- the key file -----------------------------------------------------------------------------------


def test_a_new_key_file_is_a_private_keyring_of_one_key(path, master):
    assert mode_of(path) == 0o600
    document = json.loads(path.read_text())
    assert document["version"] == 1
    [entry] = document["keys"]
    assert entry["id"] == master.newest_id == master.key_ids[0]
    assert entry["id"].startswith("mk-") and len(entry["id"]) == 11 and int(entry["id"][3:], 16) >= 0
    assert len(base64.b64decode(entry["key"], validate=True)) == 32
    assert entry["created"].endswith("+00:00")
    assert [p.name for p in path.parent.iterdir()] == ["master.key"]  # no temp file left behind


def check_private_at_every_rename(monkeypatch) -> list[Path]:
    """Wrap the renames: at the moment a file takes the key file's place it is complete and 0600,
    and no file in the directory is readable by anyone else."""
    seen = []

    def checked(real):
        def rename(src, dst, *args, **kwargs):
            src = Path(src)
            assert mode_of(src) == 0o600
            json.loads(src.read_text())  # complete before it becomes visible
            for other in src.parent.iterdir():
                if other.is_file():
                    assert mode_of(other) & 0o077 == 0, other
            seen.append(src)
            return real(src, dst, *args, **kwargs)
        return rename

    monkeypatch.setattr(masterkey.os, "link", checked(os.link))
    monkeypatch.setattr(masterkey.os, "replace", checked(os.replace))
    return seen


def test_the_key_file_is_never_readable_by_others_while_written(path, monkeypatch):
    seen = check_private_at_every_rename(monkeypatch)
    old = os.umask(0)
    try:
        MasterKey.load_or_create(path)
        MasterKey.rotate(path)
        MasterKey.retire_old(path)
    finally:
        os.umask(old)
    assert len(seen) == 3
    assert all(p.name.startswith(".master.key.") and p.name.endswith(".tmp") for p in seen)
    assert mode_of(path) == 0o600
    assert mode_of(path.with_name("master.key.lock")) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["master.key", "master.key.lock"]


def test_the_legacy_one_line_file_is_read_as_mk_legacy_and_left_alone(path):
    key = AESGCM.generate_key(bit_length=256)
    path.write_text(base64.b64encode(key).decode() + "\n")
    before = path.read_bytes()
    # a secret sealed before keyrings: nonce + ciphertext, the context as associated data
    nonce = os.urandom(12)
    old_sealed = nonce + AESGCM(key).encrypt(nonce, b"old secret", b"AKIAOLD")

    master = MasterKey.load_or_create(path)
    assert master.key_ids == (LEGACY_ID,)
    assert MasterKey.sealed_key_id(old_sealed) == LEGACY_ID
    assert master.open(old_sealed, "AKIAOLD") == b"old secret"
    sealed = master.seal(b"new secret", "AKIANEW")
    assert sealed.startswith(b"fk1:mk-legacy:")
    assert master.open(sealed, "AKIANEW") == b"new secret"
    assert MasterKey.load_or_create(path).open(sealed, "AKIANEW") == b"new secret"
    assert path.read_bytes() == before

    new_id = MasterKey.rotate(path)  # the first rotation writes the keyring form, the legacy key first
    assert keys_in_file(path) == [LEGACY_ID, new_id]
    assert json.loads(path.read_text())["keys"][0]["created"] is None
    reloaded = MasterKey.load_or_create(path)
    assert reloaded.open(old_sealed, "AKIAOLD") == b"old secret"
    assert reloaded.open(sealed, "AKIANEW") == b"new secret"


def test_load_without_create_refuses_a_missing_file(path):
    with pytest.raises(KeyringError, match="does not exist") as caught:
        MasterKey.load_or_create(path, create=False)
    assert str(path) in str(caught.value)
    assert not path.exists()


def test_two_processes_starting_at_once_share_one_key(path):
    results: list[MasterKey] = []
    threads = [threading.Thread(target=lambda: results.append(MasterKey.load_or_create(path))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({m.newest_id for m in results}) == 1
    assert keys_in_file(path) == [results[0].newest_id]


@pytest.mark.parametrize("document", [
    {"keys": []},
    {"version": 2, "keys": [{"id": "mk-00000000", "key": base64.b64encode(b"k" * 32).decode()}]},
    {"keys": [{"id": "mk-00000000", "key": base64.b64encode(b"k" * 31).decode()}]},
    {"keys": [{"id": "mk-00000000", "key": "not base64!"}]},
    {"keys": [{"id": "no-prefix", "key": base64.b64encode(b"k" * 32).decode()}]},
    {"keys": [{"id": "mk-0000:0000", "key": base64.b64encode(b"k" * 32).decode()}]},
    {"keys": [{"id": "mk-00000000", "key": base64.b64encode(b"k" * 32).decode()},
              {"id": "mk-00000000", "key": base64.b64encode(b"j" * 32).decode()}]},
    {"keys": ["mk-00000000"]},
    {"keys": "mk-00000000"},
    ["mk-00000000"],
])
def test_a_malformed_keyring_stops_the_start_without_showing_keys(path, document):
    path.write_text(json.dumps(document))
    before = path.read_bytes()
    with pytest.raises(KeyringError) as caught:
        MasterKey.load_or_create(path)
    assert_no_secret(str(caught.value), base64.b64encode(b"k" * 32).decode(), base64.b64encode(b"j" * 32).decode())
    assert path.read_bytes() == before


def test_a_truncated_keyring_stops_the_start(path, master):
    path.write_text(path.read_text()[:40])
    with pytest.raises(KeyringError, match="not valid JSON"):
        MasterKey.load_or_create(path)


# -- sealing ----------------------------------------------------------------------------------------


def test_seal_and_open_round_trip_with_the_key_id_in_the_header(master):
    sealed = master.seal(b"top secret value", "AKIAONE")
    assert sealed.startswith(b"fk1:" + master.newest_id.encode() + b":")
    assert len(sealed) == len(b"fk1:mk-00000000:") + 12 + len(b"top secret value") + 16
    assert b"top secret value" not in sealed
    assert MasterKey.sealed_key_id(sealed) == master.newest_id
    assert not master.needs_rewrap(sealed)
    assert master.open(sealed, "AKIAONE") == b"top secret value"
    assert master.seal(b"", "ctx") != master.seal(b"", "ctx")
    assert master.open(master.seal(b"", "ctx"), "ctx") == b""


def test_open_with_another_context_fails(master):
    sealed = master.seal(b"payload", "AKIAONE")
    for context in ("AKIATWO", "", "AKIAONE "):
        with pytest.raises(KeyringError, match="cannot be decrypted") as caught:
            master.open(sealed, context)
        # a request-time failure: the master key configuration is wrong, not the start
        assert isinstance(caught.value, ConfigError) and not isinstance(caught.value, StartupError)


def test_every_tampered_byte_is_detected(master):
    sealed = master.seal(b"payload", "ctx")
    for index in range(len(sealed)):
        tampered = bytearray(sealed)
        tampered[index] ^= 0x01
        with pytest.raises(KeyringError):
            master.open(bytes(tampered), "ctx")
    for cut in (1, 16, len(sealed) - 20):
        with pytest.raises(KeyringError):
            master.open(sealed[:-cut], "ctx")


def test_a_key_with_the_right_id_but_the_wrong_bytes_is_a_clear_error(tmp_path, path, master):
    sealed = master.seal(b"payload", "ctx")
    impostor = tmp_path / "impostor.key"
    impostor.write_text(json.dumps({"keys": [{"id": master.newest_id, "key": base64.b64encode(b"x" * 32).decode()}]}))
    with pytest.raises(KeyringError, match=f"master key {master.newest_id}: the key does not match") as caught:
        MasterKey.load_or_create(impostor).open(sealed, "ctx")
    assert_no_secret(str(caught.value), "payload", *key_material(path), *key_material(impostor))


def test_an_unknown_key_id_rereads_the_file_once_then_says_which_key_is_missing(tmp_path, path, master, monkeypatch):
    foreign = MasterKey.load_or_create(tmp_path / "elsewhere.key")
    sealed = foreign.seal(b"payload", "ctx")
    master.recheck_interval_s = 3600  # only the unknown id may cause a read
    reads = []
    real_read = masterkey._read_file
    monkeypatch.setattr(masterkey, "_read_file", lambda p: reads.append(p) or real_read(p))
    with pytest.raises(KeyringError) as caught:
        master.open(sealed, "ctx")
    assert reads == [path]
    message = str(caught.value)
    assert f"sealed with master key {foreign.newest_id}, which is not in the master key file {path}" in message
    assert master.newest_id in message  # what the file does hold
    assert_no_secret(message, "payload", *key_material(path), *key_material(tmp_path / "elsewhere.key"))


# -- rotation ---------------------------------------------------------------------------------------


def test_rotate_appends_a_key_old_values_still_open_and_new_ones_use_it(path, master):
    first = master.newest_id
    old = master.seal(b"old", "ctx")
    content_before = json.loads(path.read_text())["keys"]
    new_id = MasterKey.rotate(path)
    assert new_id != first and new_id.startswith("mk-")
    after = json.loads(path.read_text())["keys"]
    assert after[0] == content_before[0]  # the old key is kept as it was
    assert [e["id"] for e in after] == [first, new_id]
    assert mode_of(path) == 0o600

    rotated = MasterKey.load_or_create(path)
    assert rotated.key_ids == (first, new_id)
    assert rotated.newest_id == new_id
    assert rotated.open(old, "ctx") == b"old"
    new = rotated.seal(b"new", "ctx")
    assert MasterKey.sealed_key_id(new) == new_id
    assert rotated.needs_rewrap(old) and not rotated.needs_rewrap(new)


def test_rotating_a_missing_file_creates_nothing(path):
    with pytest.raises(KeyringError, match="does not exist"):
        MasterKey.rotate(path)
    assert not path.exists()


def test_a_rotation_by_another_process_is_seen_on_the_next_check(path, master):
    first = master.newest_id
    other_process = MasterKey.load_or_create(path)
    master.recheck_interval_s = 3600
    new_id = MasterKey.rotate(path)
    assert MasterKey.sealed_key_id(master.seal(b"x", "ctx")) == first  # not looked at the file yet
    master.recheck_interval_s = 0
    assert MasterKey.sealed_key_id(master.seal(b"x", "ctx")) == new_id
    other_process.recheck_interval_s = 0
    assert MasterKey.sealed_key_id(other_process.seal(b"x", "ctx")) == new_id
    assert other_process.newest_id == new_id


def test_a_value_under_a_key_not_seen_yet_makes_the_server_reload(path, master):
    master.recheck_interval_s = 3600
    other_process = MasterKey.load_or_create(path)
    new_id = MasterKey.rotate(path)
    other_process.reload()
    sealed = other_process.seal(b"written by the other process", "ctx")
    assert MasterKey.sealed_key_id(sealed) == new_id
    assert master.open(sealed, "ctx") == b"written by the other process"
    assert master.newest_id == new_id  # and it seals with the new key from now on


def test_a_broken_file_while_running_keeps_the_keys_in_memory(path, master, caplog):
    master.recheck_interval_s = 0
    sealed = master.seal(b"payload", "ctx")
    secret_parts = key_material(path)
    path.write_text("{ half written")
    assert master.open(sealed, "ctx") == b"payload"
    assert MasterKey.sealed_key_id(master.seal(b"x", "ctx")) == master.newest_id
    assert len([r for r in caplog.records if "keeping the master keys" in r.getMessage()]) == 1
    assert_no_secret(caplog.text, *secret_parts)


def test_concurrent_rotations_lose_no_key(path, master):
    first = master.newest_id
    ids: list[str] = []
    threads = [threading.Thread(target=lambda: [ids.append(MasterKey.rotate(path)) for _ in range(5)])
               for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    in_file = keys_in_file(path)
    assert len(in_file) == 31 and in_file[0] == first
    assert sorted(in_file[1:]) == sorted(ids)


def test_rewrap_moves_a_value_to_the_newest_key(path, master):
    master.recheck_interval_s = 0
    old = master.seal(b"payload", "ctx")
    new_id = MasterKey.rotate(path)
    moved = rewrap(master, old, "ctx")
    assert MasterKey.sealed_key_id(moved) == new_id
    assert master.open(moved, "ctx") == b"payload"
    assert rewrap(master, moved, "ctx") is moved  # already under the newest key: nothing to write
    with pytest.raises(KeyringError):
        rewrap(master, old, "another context")


def test_rewrap_upgrades_values_sealed_before_keyrings(path):
    key = AESGCM.generate_key(bit_length=256)
    path.write_text(base64.b64encode(key).decode())
    nonce = os.urandom(12)
    old = nonce + AESGCM(key).encrypt(nonce, b"payload", b"ctx")
    master = MasterKey.load_or_create(path)
    assert master.needs_rewrap(old)
    upgraded = rewrap(master, old, "ctx")
    assert upgraded.startswith(b"fk1:mk-legacy:")
    assert master.open(upgraded, "ctx") == b"payload"


def test_retire_old_drops_keys_and_what_they_sealed_no_longer_opens(path, master):
    master.recheck_interval_s = 0
    first = master.newest_id
    stranded = master.seal(b"never re-wrapped", "ctx")
    kept = master.seal(b"re-wrapped", "ctx")
    dropped_material = key_material(path)
    MasterKey.rotate(path)
    newest = MasterKey.rotate(path)
    kept = rewrap(master, kept, "ctx")

    assert MasterKey.retire_old(path, keep=1) == [first, master.key_ids[1]]
    assert keys_in_file(path) == [newest]
    assert mode_of(path) == 0o600
    assert master.open(kept, "ctx") == b"re-wrapped"
    with pytest.raises(KeyringError, match=f"master key {first}, which is not in") as caught:
        master.open(stranded, "ctx")
    assert_no_secret(str(caught.value), "never re-wrapped", *dropped_material, *key_material(path))
    with pytest.raises(KeyringError):
        MasterKey.load_or_create(path).open(stranded, "ctx")


def test_retire_old_keeps_what_it_is_asked_to(path, master):
    before = path.read_bytes()
    assert MasterKey.retire_old(path) == []
    assert path.read_bytes() == before  # nothing to drop: the file is not rewritten
    second, third = MasterKey.rotate(path), MasterKey.rotate(path)
    assert MasterKey.retire_old(path, keep=2) == [master.key_ids[0]]
    assert keys_in_file(path) == [second, third]
    with pytest.raises(ValueError):
        MasterKey.retire_old(path, keep=0)


# -- keys from a setting ----------------------------------------------------------------------------


def test_a_key_from_a_setting_opens_what_the_same_key_sealed(path, master):
    [entry] = json.loads(path.read_text())["keys"]
    sealed = master.seal(b"payload", "ctx")
    from_setting = MasterKey.from_setting(f"{entry['id']}:{entry['key']}")
    assert from_setting.open(sealed, "ctx") == b"payload"

    bare = MasterKey.from_setting(entry["key"])
    assert bare.key_ids == (LEGACY_ID,)
    with pytest.raises(KeyringError, match=f"{entry['id']}, which is not in the master key setting"):
        bare.open(sealed, "ctx")


def test_a_setting_may_hold_several_keys_newest_last(master):
    old, new = (base64.b64encode(AESGCM.generate_key(bit_length=256)).decode() for _ in range(2))
    ring = MasterKey.from_setting(f"mk-old00001:{old}, mk-new00002:{new}")
    assert ring.key_ids == ("mk-old00001", "mk-new00002")
    assert MasterKey.sealed_key_id(ring.seal(b"x", "ctx")) == "mk-new00002"


@pytest.mark.parametrize("value", [
    "",
    "not base64!",
    base64.b64encode(b"k" * 16).decode(),
    "bad-id:" + base64.b64encode(b"k" * 32).decode(),
    "mk-a:" + base64.b64encode(b"k" * 32).decode() + ",mk-a:" + base64.b64encode(b"k" * 32).decode(),
])
def test_a_bad_setting_is_refused_without_echoing_it(value):
    with pytest.raises(KeyringError, match="master key setting") as caught:
        MasterKey.from_setting(value)
    assert_no_secret(str(caught.value), base64.b64encode(b"k" * 32).decode(), base64.b64encode(b"k" * 16).decode())


# -- function environments --------------------------------------------------------------------------


VARIABLES = {"DB_PASSWORD": "hunter2-correct-horse", "API_TOKEN": "tok_5f3a9c", "GREETING": "grüß dich ✓",
             "ODD": "\ud800"}


def test_environment_round_trip(master):
    key, wrapped = new_data_key(master, ARN)
    assert len(key) == 32 and key not in wrapped
    assert master.open(wrapped, ARN) == key
    ciphertext = encrypt_environment(master, wrapped, ARN, VARIABLES)
    assert ciphertext.startswith(b"fe1:")
    assert decrypt_environment(master, wrapped, ARN, ciphertext) == VARIABLES
    assert encrypt_environment(master, wrapped, ARN, VARIABLES) != ciphertext  # a fresh nonce each time
    assert decrypt_environment(master, wrapped, ARN, encrypt_environment(master, wrapped, ARN, {})) == {}


def test_the_ciphertext_shows_no_value_and_not_whether_there_are_variables(master):
    _, wrapped = new_data_key(master, ARN)
    ciphertext = encrypt_environment(master, wrapped, ARN, VARIABLES)
    for name, value in VARIABLES.items():
        for form in (value.encode("utf-8", "surrogatepass"), json.dumps(value).encode(), name.encode()):
            assert form not in ciphertext and form not in wrapped
    empty = encrypt_environment(master, wrapped, ARN, {})
    small = encrypt_environment(master, wrapped, ARN, {"A": "1"})
    assert len(empty) == len(small) == len(b"fe1:") + 12 + 256 + 16


def test_an_environment_is_bound_to_its_function(master):
    _, wrapped = new_data_key(master, ARN)
    ciphertext = encrypt_environment(master, wrapped, ARN, VARIABLES)
    with pytest.raises(KeyringError):  # both columns copied to another function
        decrypt_environment(master, wrapped, OTHER_ARN, ciphertext)
    _, other_wrapped = new_data_key(master, OTHER_ARN)
    with pytest.raises(KeyringError):  # the ciphertext alone copied over
        decrypt_environment(master, other_wrapped, OTHER_ARN, ciphertext)
    # even the same data key, wrapped for the other function, does not take the ciphertext across
    same_key_for_other = master.seal(master.open(wrapped, ARN), OTHER_ARN)
    with pytest.raises(KeyringError, match=f"environment of {OTHER_ARN} cannot be decrypted") as caught:
        decrypt_environment(master, same_key_for_other, OTHER_ARN, ciphertext)
    assert_no_secret(str(caught.value), *VARIABLES.values())


def test_a_tampered_or_foreign_environment_is_refused(master):
    _, wrapped = new_data_key(master, ARN)
    ciphertext = bytearray(encrypt_environment(master, wrapped, ARN, {"A": "1"}))
    ciphertext[-1] ^= 1
    with pytest.raises(KeyringError):
        decrypt_environment(master, wrapped, ARN, bytes(ciphertext))
    for garbage in (b"", b"fe1:", b"xx1:" + bytes(40), bytes(ciphertext)[:30]):
        with pytest.raises(KeyringError):
            decrypt_environment(master, wrapped, ARN, garbage)
    with pytest.raises(TypeError):
        encrypt_environment(master, wrapped, ARN, {"A": 1})  # type: ignore[dict-item]


def test_rotation_rewraps_data_keys_and_leaves_environments_alone(path, master):
    master.recheck_interval_s = 0
    _, wrapped = new_data_key(master, ARN)
    ciphertext = encrypt_environment(master, wrapped, ARN, VARIABLES)
    new_id = MasterKey.rotate(path)
    rewrapped = rewrap(master, wrapped, ARN)
    assert MasterKey.sealed_key_id(rewrapped) == new_id
    MasterKey.retire_old(path)
    assert decrypt_environment(master, rewrapped, ARN, ciphertext) == VARIABLES
    with pytest.raises(KeyringError, match="which is not in"):
        decrypt_environment(master, wrapped, ARN, ciphertext)
