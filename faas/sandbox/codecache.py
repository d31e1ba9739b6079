"""Zips unpacked once per content hash on this node, to be mounted read-only into environments."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import zipfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path, PurePosixPath

from faas.errors import InvalidZipFile
from faas.zips import ZipRejected, unpack


def extract(data: bytes, target: Path) -> None:
    """Unpack into `target` (which must not exist), readable by the sandbox user, atomically.

    The zip passes the same checks as at upload (a zip stored by an older release may not have), and
    every entry is copied in capped chunks: memory stays bounded whatever the headers claim.
    """
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)

    def write(member: zipfile.ZipInfo, chunks: Iterator[bytes]) -> None:
        parts = [part for part in PurePosixPath(member.filename).parts if part != "."]
        if not parts:
            return
        path = tmp.joinpath(*parts)  # no part is "..", nor is the name absolute: checked before
        if member.is_dir():
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o755)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
        mode = (member.external_attr >> 16) & 0o777
        path.chmod(0o755 if mode & stat.S_IXUSR else 0o644)

    try:
        try:
            unpack(data, write)
        except ZipRejected as exc:
            raise InvalidZipFile(f"Lambda could not unzip the deployment package: {exc}") from exc
        for root, dirs, _files in os.walk(tmp):
            for name in dirs:
                Path(root, name).chmod(0o755)
        tmp.chmod(0o755)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    os.replace(tmp, target)


class CodeCache:
    def __init__(self, root: Path, load: Callable[[str], Awaitable[bytes]]) -> None:
        self._root = root
        self._load = load
        self._locks: dict[str, asyncio.Lock] = {}
        # Hashes whose zip cannot be unpacked (stored before the checks): the same bytes fail the same way,
        # so retries and further cold starts fail at once instead of reading up to 250 MB again.
        self._broken: dict[str, str] = {}
        root.mkdir(parents=True, exist_ok=True)

    async def directory(self, sha256: str) -> Path:
        target = self._root / sha256
        if target.is_dir():
            return target
        lock = self._locks.setdefault(sha256, asyncio.Lock())
        async with lock:
            if sha256 in self._broken:
                raise InvalidZipFile(self._broken[sha256])
            if not target.is_dir():
                data = await self._load(sha256)
                try:
                    await asyncio.to_thread(extract, data, target)
                except InvalidZipFile as exc:
                    self._broken[sha256] = exc.message
                    raise
        return target
