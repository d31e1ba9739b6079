"""Hostile zips crafted byte by byte: headers that lie about sizes and counts, bombs, many entries."""

from __future__ import annotations

import bz2
import dataclasses
import lzma
import struct
import zipfile
import zlib

ZEROS = b"\0" * (1 << 24)


@dataclasses.dataclass(frozen=True)
class Entry:
    name: str
    payload: bytes = b""  # the bytes stored after the local header, compressed or not
    method: int = zipfile.ZIP_STORED
    declared: int | None = None  # the uncompressed size the headers claim (default: the payload's)
    crc: int | None = None  # default: the CRC of the payload, right for stored entries only


def craft_zip(entries: list[Entry], *, claimed_count: int | None = None, zip64: bool = False) -> bytes:
    """A zip of `entries`, exactly as given; the end record claims `claimed_count` entries when set."""
    locals_, centrals, offset = [], [], 0
    for entry in entries:
        name = entry.name.encode()
        declared = len(entry.payload) if entry.declared is None else entry.declared
        crc = zlib.crc32(entry.payload) if entry.crc is None else entry.crc
        sizes = (crc, len(entry.payload), declared)
        local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, entry.method, 0, 0x21, *sizes, len(name), 0)
        locals_.append(local + name + entry.payload)
        centrals.append(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, entry.method, 0, 0x21, *sizes,
                                    len(name), 0, 0, 0, 0, 0o644 << 16, offset) + name)
        offset += len(local) + len(name) + len(entry.payload)
    directory = b"".join(centrals)
    count = len(entries) if claimed_count is None else claimed_count
    end = b""
    if zip64:
        end = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(directory), offset)
        end += struct.pack("<4sLQL", b"PK\x06\x07", 0, offset + len(directory), 1)
    end += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, min(count, 0xFFFF), min(count, 0xFFFF),
                       min(len(directory), 0xFFFFFFFF), min(offset, 0xFFFFFFFF), 0)
    return b"".join(locals_) + directory + end


def many_entries_zip(count: int) -> bytes:
    """`count` empty stored entries (zip64 when needed), as small as a zip of that many entries gets."""
    return craft_zip([Entry(f"{i:08x}") for i in range(count)], zip64=count > 0xFFFF)


def deflated_zeros(size: int) -> bytes:
    """A raw deflate stream of `size` zero bytes (a multiple of 16 MiB or below it), built in a second:
    after a sync flush, every further 16 MiB of zeros compresses to the same bytes."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    if size < len(ZEROS):
        return compressor.compress(ZEROS[:size]) + compressor.flush()
    first = compressor.compress(ZEROS) + compressor.flush(zlib.Z_SYNC_FLUSH)
    steady = compressor.compress(ZEROS) + compressor.flush(zlib.Z_SYNC_FLUSH) if size > len(ZEROS) else b""
    return first + steady * (size // len(ZEROS) - 1) + compressor.flush(zlib.Z_FINISH)


def bomb(method: int, size: int, declared: int = 1) -> bytes:
    """One entry of `size` zeros compressed with `method` (bzip2 or LZMA), whose headers declare `declared`."""
    if method == zipfile.ZIP_BZIP2:
        compressor = bz2.BZ2Compressor(9)
        payload = b"".join(compressor.compress(ZEROS[:min(len(ZEROS), size - done)])
                           for done in range(0, size, len(ZEROS))) + compressor.flush()
    else:
        # zipfile's LZMA entries: version 9.4, the properties' length, LZMA1 properties (lc=3 lp=0 pb=2,
        # a 1 MiB dictionary), then the raw stream.
        dictionary = 1 << 20
        compressor = lzma.LZMACompressor(format=lzma.FORMAT_RAW, filters=[
            {"id": lzma.FILTER_LZMA1, "preset": 0, "dict_size": dictionary, "lc": 3, "lp": 0, "pb": 2}])
        stream = b"".join(compressor.compress(ZEROS[:min(len(ZEROS), size - done)])
                          for done in range(0, size, len(ZEROS))) + compressor.flush()
        payload = struct.pack("<BBH", 9, 4, 5) + bytes([(2 * 5 + 0) * 9 + 3]) + struct.pack("<L", dictionary) + stream
    return craft_zip([Entry("app.py", payload, method, declared=declared, crc=0)])


def with_prefix_and_comment(data: bytes, prefix: bytes, comment: bytes) -> bytes:
    """`data` (a zip without a comment) after `prefix`, as a self-extracting stub makes it, with a comment."""
    return prefix + data[:-2] + struct.pack("<H", len(comment)) + comment
