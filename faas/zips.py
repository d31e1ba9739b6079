"""Reading deployment zips within fixed bounds, whatever their headers claim: entry count, compression
methods, paths and sizes are checked before anything is unpacked, and entries are read in capped chunks."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import PurePosixPath

from faas.errors import FaasError

MAX_ZIP_BYTES = 50 * 1024 * 1024
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024
# Lambda has no entry limit. Real packages stay far below this (a Node.js app with the whole AWS SDK v3,
# or Python with numpy, pandas and botocore, holds a few tens of thousands of files), while a 50 MB zip
# of empty entries holds about 570,000, each costing zipfile half a kilobyte and 13 us to list.
MAX_ENTRIES = 100_000
# Deployment tools write only these; bzip2 and LZMA are refused because CPython decompresses them
# without an output bound, so a few hundred bytes can expand to gigabytes in one read.
METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
CHUNK = 1024 * 1024  # the most any entry costs in memory while it is read

NOT_A_ZIP = "Could not unzip uploaded file. Please check your file, then try to upload again."

_END = struct.Struct("<4s4H2LH")  # end of central directory record
_END64_LOCATOR = struct.Struct("<4sLQL")
_END64 = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s24xHHH12x")  # signature, then the name, extra and comment lengths
_END_SIG, _END64_LOCATOR_SIG, _END64_SIG, _CENTRAL_SIG = b"PK\x05\x06", b"PK\x06\x07", b"PK\x06\x06", b"PK\x01\x02"


class ZipRejected(FaasError):
    """The zip cannot be a deployment package; the message says why, for the user."""


def unsafe_member(name: str) -> bool:
    path = PurePosixPath(name.replace("\\", "/"))
    return path.is_absolute() or ".." in path.parts or (len(name) > 1 and name[1] == ":")


def _central_directory(data: bytes) -> tuple[int, int] | None:
    """(start, size) of the central directory, found exactly as zipfile finds it; None if there is none."""
    end = len(data) - _END.size
    if not (end >= 0 and data.startswith(_END_SIG, end) and data.endswith(b"\0\0")):
        end = data.rfind(_END_SIG, max(len(data) - (1 << 16) - _END.size, 0))
        if end < 0 or len(data) - end < _END.size:
            return None
    size = _END.unpack_from(data, end)[5]
    locator, end64 = end - _END64_LOCATOR.size, end - _END64_LOCATOR.size - _END64.size
    if end64 >= 0 and data.startswith(_END64_LOCATOR_SIG, locator) and data.startswith(_END64_SIG, end64):
        size, end = _END64.unpack_from(data, end64)[8], end64
    return end - size, size


def count_entries(data: bytes, limit: int = MAX_ENTRIES) -> int:
    """The entries zipfile would list, counted from the raw central directory without listing them
    (which costs memory and time per entry), stopping once past `limit`.

    The count in the end record is not trusted: zipfile lists every record in the directory's bytes.
    """
    found = _central_directory(data)
    if found is None:
        return 0
    start, size = found
    offset, count = 0, 0
    while offset < size and count <= limit and 0 <= start + offset <= len(data) - _CENTRAL.size:
        signature, name, extra, comment = _CENTRAL.unpack_from(data, start + offset)
        if signature != _CENTRAL_SIG:
            break
        count += 1
        offset += _CENTRAL.size + name + extra + comment
    return count


def open_archive(data: bytes) -> zipfile.ZipFile:
    """The archive, once its entry count, entry names, methods and declared sizes are acceptable."""
    entries = count_entries(data, MAX_ENTRIES)
    if entries > MAX_ENTRIES:
        raise ZipRejected(f"The zip file holds more than {MAX_ENTRIES} entries; a deployment package may hold "
                          f"at most {MAX_ENTRIES}")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, EOFError, NotImplementedError) as exc:
        raise ZipRejected(NOT_A_ZIP) from exc
    declared = 0
    for member in archive.infolist():
        if unsafe_member(member.filename):
            raise ZipRejected(f"The zip file contains an entry with an absolute path or '..': {member.filename!r}")
        if member.flag_bits & 0x1:
            raise ZipRejected(f"The zip entry {member.filename!r} is encrypted; deployment packages cannot be")
        if member.compress_type not in METHODS:
            method = zipfile.compressor_names.get(member.compress_type, "unknown")
            raise ZipRejected(f"The zip entry {member.filename!r} uses compression method {member.compress_type} "
                              f"({method}); deployment packages may only use stored or deflate entries")
        declared += member.file_size
    if declared > MAX_UNZIPPED_BYTES:
        raise ZipRejected(f"Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes. This zip declares "
                          f"{declared} bytes (the limit is 250 MB)")
    return archive


def read_entry(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> Iterator[bytes]:
    """An entry's bytes in chunks of at most CHUNK, exactly as many as its header declares, or ZipRejected.

    zipfile already stops at the declared size; counting here keeps that promise independent of it.
    """
    read = 0
    try:
        with archive.open(member) as source:
            while chunk := source.read(CHUNK):
                read += len(chunk)
                if read > member.file_size:
                    raise ZipRejected(f"The zip entry {member.filename!r} holds more than the {member.file_size} "
                                      "bytes its header declares")
                yield chunk
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError) as exc:
        raise ZipRejected(f"The zip entry {member.filename!r} cannot be unpacked: {exc or type(exc).__name__}") from exc
    if read != member.file_size:
        raise ZipRejected(f"The zip entry {member.filename!r} holds {read} bytes but its header declares "
                          f"{member.file_size}")


def unpack(data: bytes, write: Callable[[zipfile.ZipInfo, Iterator[bytes]], None] | None = None) -> int:
    """Check the zip, then read every entry, handing its capped chunks to `write`; the bytes unpacked."""
    total = 0
    with open_archive(data) as archive:
        for member in archive.infolist():
            chunks = read_entry(archive, member)
            if write is not None:
                write(member, chunks)
            for _ in chunks:  # whatever `write` left unread is still checked
                pass
            total += member.file_size
    return total
