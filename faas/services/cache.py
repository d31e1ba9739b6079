"""A small time-limited cache: what the request path reads is kept in memory, but re-read after a few
seconds, so changes made through another node sharing the store take effect there too."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")

TTL_S = 5.0


class TtlCache(Generic[V]):
    def __init__(self, ttl_s: float = TTL_S, max_items: int | None = None) -> None:
        self._ttl_s = ttl_s
        # Keys a caller chooses (a role named in a function's config) must not grow memory without end:
        # past max_items the cache starts again empty, which costs only re-reads.
        self._max_items = max_items
        self._items: dict[str, tuple[V, float]] = {}

    def get(self, key: str) -> V | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[1] < time.monotonic():
            del self._items[key]
            return None
        return item[0]

    def put(self, key: str, value: V) -> V:
        if self._max_items is not None and len(self._items) > self._max_items:
            self._items.clear()
        self._items[key] = (value, time.monotonic() + self._ttl_s)
        return value

    def pop(self, key: str) -> None:
        self._items.pop(key, None)

    def drop_where(self, predicate: Callable[[V], bool]) -> None:
        for key in [k for k, (value, _) in self._items.items() if predicate(value)]:
            del self._items[key]
