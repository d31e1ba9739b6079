"""Uploaded zips: checks before storing (faas.services.code) and unpacking for the sandbox (faas.sandbox.codecache)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import io
import itertools
import os
import stat
import zipfile
from pathlib import Path

import pytest

from faas.errors import InvalidParameterValue, InvalidZipFile, RequestTooLarge
from faas.sandbox import codecache
from faas.sandbox.codecache import CodeCache, extract
from faas.sandbox.launcher import new_slot
from faas.services import code
from faas.services.code import decode_zip_field, inspect_zip
from faas.zips import MAX_UNZIPPED_BYTES, MAX_ZIP_BYTES, unsafe_member
from tests.support.zips import Entry, bomb, craft_zip, deflated_zeros


def make_zip(entries: dict[str, bytes | None], modes: dict[str, int] | None = None) -> bytes:
    """A zip of `entries` (None makes a directory entry); `modes` sets Unix permission bits."""
    modes = modes or {}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name)
            if data is None:
                info.external_attr = ((modes.get(name, 0o755) | stat.S_IFDIR) << 16) | 0x10
                archive.writestr(info, b"")
            else:
                info.compress_type = zipfile.ZIP_DEFLATED
                if name in modes:
                    info.external_attr = (modes[name] | stat.S_IFREG) << 16
                archive.writestr(info, data)
    return buf.getvalue()


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- decode_zip_field -----------------------------------------------------------------------------


def test_decode_zip_field():
    data = make_zip({"app.py": b"x = 1\n"})
    assert decode_zip_field(base64.b64encode(data).decode()) == data


@pytest.mark.parametrize("value", [None, 12, b"UEsDBA==", ["UEsDBA=="]])
def test_decode_zip_field_wants_a_string(value):
    with pytest.raises(InvalidParameterValue, match="base64"):
        decode_zip_field(value)


@pytest.mark.parametrize("value", ["not base64!", "UEsDBA=", "UEs DBA=="])
def test_decode_zip_field_refuses_bad_base64(value):
    with pytest.raises(InvalidParameterValue, match="not valid base64"):
        decode_zip_field(value)


def test_decode_zip_field_decodes_in_slices_as_one_string(monkeypatch):
    monkeypatch.setattr(code, "DECODE_SLICE", 8)
    for size in range(0, 40):
        data = bytes(range(size))
        assert decode_zip_field(base64.b64encode(data).decode()) == data, size


@pytest.mark.parametrize("slice_size", [4, 8])
def test_decode_zip_field_in_slices_accepts_and_refuses_what_the_whole_string_would(monkeypatch, slice_size):
    monkeypatch.setattr(code, "DECODE_SLICE", slice_size)
    for length in range(11):
        for chars in itertools.product("A/= ", repeat=length) if length <= 7 else itertools.product("A=", repeat=length):
            value = "".join(chars)
            try:
                whole = base64.b64decode(value, validate=True)
            except binascii.Error:
                with pytest.raises(InvalidParameterValue, match="not valid base64"):
                    decode_zip_field(value)
            else:
                assert decode_zip_field(value) == whole, value


# -- unsafe_member --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [
    "../evil.py", "a/../../evil.py", "a/..", "/etc/passwd", "/abs/x.py", "..\\evil.py", "a\\..\\..\\evil",
    "\\\\server\\share\\x", "C:evil.py", "C:/Windows/evil.dll", "c:\\evil.dll",
])
def test_unsafe_members(name):
    assert unsafe_member(name)


@pytest.mark.parametrize("name", ["app.py", "pkg/", "pkg/mod.py", "a..b.py", "..hidden", "pkg/..x/y", "./app.py"])
def test_safe_members(name):
    assert not unsafe_member(name)


# -- inspect_zip ----------------------------------------------------------------------------------


def test_inspect_zip_reports_hash_and_sizes():
    data = make_zip({"app.py": b"a" * 1000, "pkg/": None, "pkg/mod.py": b"b" * 24})
    info = inspect_zip(data)
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.size == len(data)
    assert info.unzipped_size == 1024
    assert base64.b64decode(info.sha256_b64) == hashlib.sha256(data).digest()


def test_zip_over_50_mb_is_too_large():
    with pytest.raises(RequestTooLarge, match="50 MB"):
        inspect_zip(b"\0" * (MAX_ZIP_BYTES + 1))


def test_zip_of_exactly_50_mb_is_not_refused_for_its_size():
    # Not a zip, so it fails, but for that reason and not for its size.
    with pytest.raises(InvalidParameterValue):
        inspect_zip(b"\0" * MAX_ZIP_BYTES)


def test_a_zip_bomb_is_refused():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open("zeros.bin", "w", force_zip64=True) as member:
            chunk = b"\0" * (1 << 20)
            for _ in range(MAX_UNZIPPED_BYTES // len(chunk) + 1):
                member.write(chunk)
    data = buf.getvalue()
    assert len(data) < MAX_ZIP_BYTES
    with pytest.raises(InvalidParameterValue, match="250 MB"):
        inspect_zip(data)


def test_unzipped_size_just_under_the_limit_is_fine():
    # Sizes are read from the directory; many small members summing to the limit pass.
    info = inspect_zip(make_zip({f"f{i}": b"\0" * 1024 for i in range(10)}))
    assert info.unzipped_size == 10 * 1024


@pytest.mark.parametrize("data", [b"", b"hello", b"PK\x03\x04garbage", make_zip({"a.py": b"x"})[:-10]])
def test_not_a_zip(data):
    with pytest.raises(InvalidParameterValue, match="Could not unzip"):
        inspect_zip(data)


@pytest.mark.parametrize("name", ["../evil.py", "/etc/cron.d/evil", "C:/evil.py", "pkg/../../evil.py"])
def test_zip_with_an_unsafe_path_is_refused(name):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("app.py", b"ok")
        archive.writestr(zipfile.ZipInfo(name), b"evil")
    with pytest.raises(InvalidParameterValue) as caught:
        inspect_zip(buf.getvalue())
    assert name in caught.value.message


def patched_zip(flag_bits: int = 0, method: int | None = None) -> bytes:
    """A one-member zip whose headers claim encryption or another compression method."""
    data = bytearray(make_zip({"app.py": b"def handler(e, c):\n    return 1\n"}))
    local, central = data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02")
    data[local + 6] |= flag_bits
    data[central + 8] |= flag_bits
    if method is not None:
        data[local + 8:local + 10] = method.to_bytes(2, "little")
        data[central + 10:central + 12] = method.to_bytes(2, "little")
    return bytes(data)


@pytest.mark.parametrize("data", [
    patched_zip(flag_bits=0x1), patched_zip(method=98), bomb(zipfile.ZIP_BZIP2, 1 << 20),
    bomb(zipfile.ZIP_LZMA, 1 << 20),
], ids=["encrypted", "ppmd", "bzip2", "lzma"])
def test_a_zip_the_sandbox_will_not_unpack_is_refused_at_upload(data, tmp_path):
    with pytest.raises(InvalidZipFile, match="Lambda could not unzip the deployment package: The zip entry"):
        extract(data, tmp_path / "code")  # what a cold start would meet with a zip stored before these checks
    with pytest.raises(InvalidParameterValue, match="The zip entry 'app.py'"):
        inspect_zip(data)
    assert list(tmp_path.iterdir()) == []


def test_inspect_reads_every_entry_so_a_lying_size_is_refused_at_upload():
    data = craft_zip([Entry("app.py", deflated_zeros(1 << 20), zipfile.ZIP_DEFLATED, declared=10)])
    with pytest.raises(InvalidParameterValue, match="'app.py' cannot be unpacked: Bad CRC-32"):
        inspect_zip(data)


def test_inspect_reports_the_bytes_actually_unpacked():
    zeros = b"\0" * (3 << 20)
    data = craft_zip([Entry("a", b"abc"), Entry("b", deflated_zeros(len(zeros)), zipfile.ZIP_DEFLATED,
                                                declared=len(zeros), crc=zipfile.crc32(zeros))])
    assert inspect_zip(data).unzipped_size == 3 + len(zeros)


# -- extract --------------------------------------------------------------------------------------


def test_extract_makes_files_readable_and_keeps_executables_executable(tmp_path):
    data = make_zip(
        {"app.py": b"print(1)\n", "bin/": None, "bin/tool": b"#!/bin/sh\n", "secret.txt": b"s",
         "locked/": None, "locked/x.py": b"x", "deep/er/mod.py": b"m"},
        modes={"app.py": 0o644, "bin/tool": 0o700, "secret.txt": 0o600, "locked/": 0o700, "bin/": 0o750},
    )
    target = tmp_path / "code" / "abc"
    extract(data, target)
    assert (target / "app.py").read_bytes() == b"print(1)\n"
    assert mode_of(target / "app.py") == 0o644
    assert mode_of(target / "secret.txt") == 0o644
    assert mode_of(target / "locked" / "x.py") == 0o644  # no mode recorded in the zip
    assert mode_of(target / "bin" / "tool") == 0o755
    for directory in (target, target / "bin", target / "locked", target / "deep", target / "deep" / "er"):
        assert mode_of(directory) == 0o755, directory
    assert sorted(p.name for p in target.parent.iterdir()) == ["abc"]  # no temporary left


def test_extract_refuses_an_unsafe_entry_and_leaves_no_target(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("app.py", b"ok")
        archive.writestr(zipfile.ZipInfo("../escaped.py"), b"evil")
    target = tmp_path / "code" / "abc"
    with pytest.raises(InvalidZipFile, match="absolute path or '..'"):
        extract(buf.getvalue(), target)
    assert not target.exists()
    assert not (tmp_path / "code" / "escaped.py").exists()
    assert not (tmp_path / "escaped.py").exists()


def test_a_failed_extract_leaves_nothing_behind(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("app.py", b"ok")
        archive.writestr(zipfile.ZipInfo("../escaped.py"), b"evil")
    target = tmp_path / "code" / "abc"
    with pytest.raises(InvalidZipFile):
        extract(buf.getvalue(), target)
    assert list(target.parent.iterdir()) == []


def test_extract_refuses_an_entry_that_lies_after_writing_what_came_before(tmp_path):
    data = craft_zip([Entry("app.py", b"ok"), Entry("big.bin", deflated_zeros(64 << 20), zipfile.ZIP_DEFLATED,
                                                     declared=1 << 20)])
    target = tmp_path / "code" / "abc"
    with pytest.raises(InvalidZipFile, match="'big.bin' cannot be unpacked"):
        extract(data, target)
    assert list(target.parent.iterdir()) == []  # the partial temporary is gone too


def test_target_appears_in_one_step_complete(tmp_path, monkeypatch):
    data = make_zip({"app.py": b"a", "pkg/mod.py": b"m"})
    target = tmp_path / "abc"
    seen = []
    real_replace = os.replace

    def watching_replace(src, dst):
        seen.append((Path(dst).exists(), sorted(str(p.relative_to(src)) for p in Path(src).rglob("*"))))
        real_replace(src, dst)

    monkeypatch.setattr(codecache.os, "replace", watching_replace)
    extract(data, target)
    assert seen == [(False, ["app.py", "pkg", "pkg/mod.py"])]
    assert (target / "pkg" / "mod.py").read_bytes() == b"m"


def test_extract_cleans_a_stale_temporary_from_an_earlier_crash(tmp_path):
    target = tmp_path / "abc"
    stale = tmp_path / f"abc.tmp{os.getpid()}"
    stale.mkdir()
    (stale / "junk.py").write_text("junk")
    extract(make_zip({"app.py": b"a"}), target)
    assert sorted(p.name for p in target.iterdir()) == ["app.py"]
    assert not stale.exists()


async def test_code_cache_extracts_once_per_hash(tmp_path):
    data = make_zip({"app.py": b"a"})
    loads = []

    async def load(sha256: str) -> bytes:
        loads.append(sha256)
        return data

    cache = CodeCache(tmp_path / "cache", load)
    first = await cache.directory("h1")
    second = await cache.directory("h1")
    assert first == second == tmp_path / "cache" / "h1"
    assert (first / "app.py").read_bytes() == b"a"
    assert loads == ["h1"]


async def test_code_cache_extracts_once_when_asked_concurrently(tmp_path):
    data = make_zip({"app.py": b"a"})
    loads = []

    async def load(sha256: str) -> bytes:
        loads.append(sha256)
        await asyncio.sleep(0.01)
        return data

    cache = CodeCache(tmp_path / "cache", load)
    directories = await asyncio.gather(*(cache.directory("h1") for _ in range(5)))
    assert set(directories) == {tmp_path / "cache" / "h1"}
    assert loads == ["h1"]


def test_a_slot_names_nothing_and_links_the_code(tmp_path):
    code = tmp_path / "code" / ("ab" * 32)
    extract(make_zip({"app.py": b"a", "lib/": None, "lib/m.py": b"m"}), code)
    slots = tmp_path / "slots"
    slots.mkdir()
    old_umask = os.umask(0o077)  # as under deploy/faas.service
    try:
        first, second, empty = new_slot(slots, code), new_slot(slots, code), new_slot(slots)
    finally:
        os.umask(old_umask)
    assert len({first, second, empty}) == 3
    for slot in (first, second, empty):
        assert slot.parent == slots and len(slot.name) == 16 and int(slot.name, 16) >= 0  # random hex only
        assert stat.S_IMODE(slot.stat().st_mode) == 0o755  # the sandbox user can read it
    assert os.path.samefile(first / "lib" / "m.py", code / "lib" / "m.py")  # a hard link, not a copy
    assert list(empty.iterdir()) == []


def test_a_slot_that_cannot_be_filled_is_removed(tmp_path):
    slots = tmp_path / "slots"
    slots.mkdir()
    with pytest.raises(OSError):
        new_slot(slots, tmp_path / "no-such-code")
    assert list(slots.iterdir()) == []


async def test_code_cache_remembers_a_zip_that_cannot_be_unpacked(tmp_path):
    loads = []

    async def load(sha256: str) -> bytes:
        loads.append(sha256)
        return bomb(zipfile.ZIP_BZIP2, 1 << 20)  # stored by a release that accepted bzip2

    cache = CodeCache(tmp_path / "cache", load)
    for _ in range(3):
        with pytest.raises(InvalidZipFile, match="compression method 12 \\(bzip2\\)"):
            await cache.directory("h1")
    assert loads == ["h1"]
    assert list((tmp_path / "cache").iterdir()) == []
