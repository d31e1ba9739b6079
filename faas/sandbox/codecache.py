"""Zips unpacked once per content hash on this node, to be mounted read-only into environments."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import stat
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from faas.services.code import unsafe_member


def extract(data: bytes, target: Path) -> None:
    """Unpack into `target` (which must not exist), readable by the sandbox user, atomically."""
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.infolist():
                if unsafe_member(member.filename):  # checked at upload; checked again before touching disk
                    raise ValueError(f"unsafe zip entry {member.filename!r}")
                archive.extract(member, tmp)
                mode = (member.external_attr >> 16) & 0o777
                path = tmp / member.filename
                if member.is_dir():
                    path.chmod(0o755)
                else:
                    path.chmod(0o755 if mode & stat.S_IXUSR else 0o644)
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
        root.mkdir(parents=True, exist_ok=True)

    async def directory(self, sha256: str) -> Path:
        target = self._root / sha256
        if target.is_dir():
            return target
        lock = self._locks.setdefault(sha256, asyncio.Lock())
        async with lock:
            if not target.is_dir():
                data = await self._load(sha256)
                await asyncio.to_thread(extract, data, target)
        return target
