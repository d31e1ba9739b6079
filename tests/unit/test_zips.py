"""Reading deployment zips within bounds (faas.zips): counts, methods and sizes, whatever the headers claim."""

from __future__ import annotations

import io
import tracemalloc
import zipfile

import pytest

from faas import zips
from faas.zips import CHUNK, MAX_ENTRIES, ZipRejected, count_entries, open_archive, read_entry, unpack, \
    unsafe_member
from tests.support.zips import Entry, bomb, craft_zip, deflated_zeros, many_entries_zip, with_prefix_and_comment

MB = 1024 * 1024


def written_by_zipfile(count: int, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for i in range(count):
            archive.writestr(f"pkg/mod{i}.py", f"x = {i}\n" * 50)
    return buffer.getvalue()


def peak_memory(action) -> int:  # type: ignore[no-untyped-def]
    """The most memory Python held above its start while `action` ran (it may raise)."""
    tracemalloc.start()
    try:
        try:
            action()
        except ZipRejected:
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# -- counting entries -----------------------------------------------------------------------------


@pytest.mark.parametrize("data", [
    written_by_zipfile(0), written_by_zipfile(1), written_by_zipfile(25, zipfile.ZIP_STORED),
    with_prefix_and_comment(written_by_zipfile(7), b"#!/bin/sh\nexit 0\n" * 10, b"a comment"),
    many_entries_zip(70_000),  # ZIP64 end records
], ids=["empty", "one", "stored", "prefix-and-comment", "zip64"])
def test_count_matches_what_zipfile_lists(data):
    assert count_entries(data) == len(zipfile.ZipFile(io.BytesIO(data)).infolist())


def test_the_count_in_the_end_record_is_not_trusted():
    data = craft_zip([Entry(f"f{i}") for i in range(300)], claimed_count=1)
    assert len(zipfile.ZipFile(io.BytesIO(data)).infolist()) == 300  # what zipfile would build
    assert count_entries(data) == 300
    assert count_entries(data, limit=50) == 51  # stops once past the limit


@pytest.mark.parametrize("data", [b"", b"not a zip", b"PK\x05\x06"])
def test_nothing_to_count_in_what_is_not_a_zip(data):
    assert count_entries(data) == 0


def test_entries_up_to_the_limit_pass(monkeypatch):
    monkeypatch.setattr(zips, "MAX_ENTRIES", 10)
    assert len(open_archive(many_entries_zip(10)).infolist()) == 10
    with pytest.raises(ZipRejected, match="more than 10 entries"):
        open_archive(many_entries_zip(11))


def test_too_many_entries_are_refused_before_zipfile_lists_them(monkeypatch):
    # More entries than allowed behind an end record that claims one: listing them would cost 55 MB.
    data = craft_zip([Entry(f"{i:08x}") for i in range(MAX_ENTRIES + 1)], claimed_count=1)

    def listing(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("zipfile listed the entries")

    monkeypatch.setattr(zips.zipfile, "ZipFile", listing)
    with pytest.raises(ZipRejected, match=f"more than {MAX_ENTRIES} entries"):
        open_archive(data)


# -- methods and flags ----------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "name"), [(zipfile.ZIP_BZIP2, "bzip2"), (zipfile.ZIP_LZMA, "lzma")])
def test_bzip2_and_lzma_bombs_are_refused_without_being_read(method, name):
    data = bomb(method, 16 * MB)  # declares 1 byte
    assert len(data) < 5_000
    assert peak_memory(lambda: unpack(data)) < 2 * MB
    with pytest.raises(ZipRejected, match=f"compression method {method} \\({name}\\).*stored or deflate"):
        unpack(data)


def test_stored_and_deflate_entries_unpack():
    data = craft_zip([Entry("a.txt", b"hello"),
                      Entry("b.txt", deflated_zeros(5 * MB), zipfile.ZIP_DEFLATED, declared=5 * MB,
                            crc=zipfile.crc32(b"\0" * (5 * MB)))])
    seen = {}

    def write(member, chunks):  # type: ignore[no-untyped-def]
        seen[member.filename] = [len(chunk) for chunk in chunks]

    assert unpack(data, write) == 5 + 5 * MB
    assert seen["a.txt"] == [5]
    assert sum(seen["b.txt"]) == 5 * MB and max(seen["b.txt"]) <= CHUNK


def test_encrypted_entries_are_refused():
    data = bytearray(craft_zip([Entry("app.py", b"x")]))
    data[data.index(b"PK\x01\x02") + 8] |= 0x1
    with pytest.raises(ZipRejected, match="encrypted"):
        open_archive(bytes(data))


@pytest.mark.parametrize("name", ["../evil.py", "/etc/passwd", "C:/evil.py", "a/../../b"])
def test_unsafe_names(name):
    assert unsafe_member(name)
    with pytest.raises(ZipRejected, match="absolute path or '..'"):
        open_archive(craft_zip([Entry("app.py", b"ok"), Entry(name, b"evil")]))


def test_declared_total_over_250_mb_is_refused_before_reading():
    data = craft_zip([Entry(f"f{i}", b"", zipfile.ZIP_DEFLATED, declared=100 * MB) for i in range(3)])
    with pytest.raises(ZipRejected, match="250 MB"):
        open_archive(data)


@pytest.mark.parametrize("data", [b"", b"hello", b"PK\x03\x04garbage", written_by_zipfile(2)[:-10]])
def test_not_a_zip(data):
    with pytest.raises(ZipRejected, match="Could not unzip"):
        open_archive(data)


# -- sizes that lie -------------------------------------------------------------------------------


def test_a_deflate_entry_that_declares_less_than_it_holds_yields_no_more_than_declared():
    data = craft_zip([Entry("app.py", deflated_zeros(256 * MB), zipfile.ZIP_DEFLATED, declared=1)])
    assert len(data) < 300_000
    assert peak_memory(lambda: unpack(data)) < 4 * CHUNK
    with pytest.raises(ZipRejected, match="'app.py' cannot be unpacked: Bad CRC-32"):
        unpack(data)


def test_a_deflate_entry_that_declares_more_than_it_holds_is_refused():
    data = craft_zip([Entry("app.py", deflated_zeros(16 * MB), zipfile.ZIP_DEFLATED, declared=20 * MB,
                            crc=zipfile.crc32(b"\0" * (16 * MB)))])
    with pytest.raises(ZipRejected, match=f"'app.py' holds {16 * MB} bytes but its header declares {20 * MB}"):
        unpack(data)


def test_a_stored_entry_that_declares_more_than_it_holds_is_refused():
    data = craft_zip([Entry("app.py", b"x" * 100, declared=200)])
    with pytest.raises(ZipRejected, match="holds 100 bytes but its header declares 200"):
        unpack(data)


def test_a_stored_entry_that_declares_less_than_it_holds_is_refused():
    data = craft_zip([Entry("app.py", b"x" * 100, declared=10)])
    with pytest.raises(ZipRejected, match="Bad CRC-32"):
        unpack(data)


def test_read_entry_stops_at_the_declared_size_even_if_the_reader_does_not(monkeypatch):
    data = craft_zip([Entry("app.py", b"x" * 100)])
    archive = zipfile.ZipFile(io.BytesIO(data))
    member = archive.infolist()[0]
    member.file_size = 10  # the reader now thinks there is more than declared...
    monkeypatch.setattr(zipfile.ZipExtFile, "read", lambda self, n=-1: b"x" * 11 if n else b"")
    with pytest.raises(ZipRejected, match="holds more than the 10 bytes its header declares"):
        list(read_entry(archive, member))


def test_a_corrupt_deflate_stream_is_refused():
    data = craft_zip([Entry("app.py", b"\xff" * 64, zipfile.ZIP_DEFLATED, declared=1000)])
    with pytest.raises(ZipRejected, match="'app.py' cannot be unpacked"):
        unpack(data)
