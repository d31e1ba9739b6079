"""Replacing files whole: readers never see half of one (the endpoint file, and the credentials files
the server and the CLI write, which only their owner may read)."""

from __future__ import annotations

import os
from pathlib import Path


def replace_file(path: Path, text: str, mode: int = 0o600) -> None:
    """Replace `path` with `text`, with `mode` (0600 unless told) at every moment whatever the umask or
    the old file's mode.

    The text goes to a temporary file beside `path` (named by the process id, so two writers do not
    share it) and is renamed over `path`, so a reader sees the old file or the new one, never half.
    An OSError is raised as it is, after the temporary file is removed; callers say what it means."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode & 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
