"""Floods of refused requests become a few audit rows: per caller, source address, action and status (and,
for an authenticated caller, resource), the first refusal of a window is written as it is and the rest of
that window as one row with their count.

Anonymous refusals are summarised whatever they aimed at: anyone can send them, varying the path at will.
A known principal's refusals keep their resource in the key, so the trail says what each one tried to
touch (and a flood of them is attributable, and still bounded by the recorder's buffer)."""

from __future__ import annotations

import dataclasses

from faas.store.audit import AuditEntry

WINDOW_S = 60.0
# Windows open at once; a flood from more sources than this passes through to the recorder's bounded buffer.
MAX_WINDOWS = 10_000

Key = tuple[str, str, str, int, str]
ANONYMOUS = "anonymous"


@dataclasses.dataclass
class _Window:
    opened: float
    suppressed: int = 0
    last: AuditEntry | None = None


def summary_resource(count: int, window_s: float) -> str:
    """What a summary row says in place of one resource (its refusals may name many)."""
    return f"{count} more refusals like this within {window_s:g} s"


class RefusalCoalescer:
    """Pure bookkeeping on a monotonic clock the caller passes in; the Recorder drives it."""

    def __init__(self, window_s: float = WINDOW_S, max_windows: int = MAX_WINDOWS) -> None:
        self._window_s = window_s
        self._max_windows = max_windows
        self._windows: dict[Key, _Window] = {}

    def offer(self, entry: AuditEntry, now: float) -> list[AuditEntry]:
        """What to write now: the entry itself (after the summary of its ended window, if any), or nothing
        when it was counted into its open window."""
        if entry.outcome != "denied":
            return [entry]
        resource = "" if entry.principal == ANONYMOUS else entry.resource
        key = (entry.principal, entry.source_ip, entry.action, entry.status, resource)
        window = self._windows.get(key)
        if window is None or now - window.opened >= self._window_s:
            ended = self._summary(window) if window is not None else None
            if window is not None or len(self._windows) < self._max_windows:
                self._windows[key] = _Window(opened=now)
            return [ended, entry] if ended is not None else [entry]
        window.suppressed += 1
        window.last = entry
        return []

    def closed(self, now: float) -> list[AuditEntry]:
        """Summary rows of the windows that have ended; those windows are forgotten."""
        ended = [key for key, window in self._windows.items() if now - window.opened >= self._window_s]
        return [summary for key in ended if (summary := self._summary(self._windows.pop(key))) is not None]

    def drain(self) -> list[AuditEntry]:
        """Summary rows of every window, ended or not (at shutdown)."""
        windows, self._windows = self._windows, {}
        return [summary for window in windows.values() if (summary := self._summary(window)) is not None]

    def _summary(self, window: _Window) -> AuditEntry | None:
        if not window.suppressed or window.last is None:
            return None
        return dataclasses.replace(window.last, resource=summary_resource(window.suppressed, self._window_s))
