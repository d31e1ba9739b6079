"""The request path's time-limited cache."""

from __future__ import annotations

from faas.services import cache as cache_module
from faas.services.cache import TtlCache


def test_values_expire_and_can_be_dropped(monkeypatch) -> None:
    now = [100.0]
    monkeypatch.setattr(cache_module.time, "monotonic", lambda: now[0])
    items: TtlCache[str] = TtlCache(ttl_s=5)
    assert items.get("a") is None
    assert items.put("a", "one") == "one"
    items.put("b", "two")
    now[0] += 4.9
    assert items.get("a") == "one"
    now[0] += 0.2
    assert items.get("a") is None  # re-read from the store after the time limit
    items.put("a", "again")
    items.drop_where(lambda value: value == "again")
    assert items.get("a") is None
    items.put("c", "three")
    items.pop("c")
    items.pop("never-there")
    assert items.get("c") is None
