"""The node's clock for schedules: the real one, or, as a test and development aid, one read from a file.

With FAAS_CLOCK_FILE set, the file holds an ISO-8601 instant; the clock reads as that instant plus the real
time elapsed since the file was last written (its mtime), so a test moves time by rewriting the file and time
still passes between rewrites. It is re-read whenever the file changes. Only schedules and the event bus's schedule rules use it: request
signatures, leases and records keep the real clock. `faas serve` refuses it unless the API listens on a
loopback address (faas/app.py), so it cannot be switched on by accident on a node others reach.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from faas.errors import ConfigError
from faas.model import utcnow


class Clock:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._seen: tuple[float, dt.datetime] | None = None  # (mtime, the instant the file held then)

    @property
    def controlled(self) -> bool:
        return self.path is not None

    def now(self) -> dt.datetime:
        if self.path is None:
            return utcnow()
        try:
            mtime = os.stat(self.path).st_mtime
        except OSError as exc:
            raise ConfigError(f"FAAS_CLOCK_FILE {self.path} cannot be read: {exc.strerror}") from exc
        if self._seen is None or self._seen[0] != mtime:
            text = self.path.read_text().strip()
            try:
                instant = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError as exc:
                raise ConfigError(f"FAAS_CLOCK_FILE {self.path} must hold an ISO-8601 instant, not {text[:40]!r}") \
                    from exc
            if instant.tzinfo is None:
                instant = instant.replace(tzinfo=dt.timezone.utc)
            self._seen = (mtime, instant.astimezone(dt.timezone.utc))
        written, instant = self._seen
        return instant + dt.timedelta(seconds=max(0.0, dt.datetime.now().timestamp() - written))
