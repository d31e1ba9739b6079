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


def test_a_cache_with_max_items_starts_again_empty_past_it() -> None:
    items: TtlCache[int] = TtlCache(max_items=2)
    for n in range(3):
        items.put(str(n), n)
    assert [items.get(str(n)) for n in range(3)] == [0, 1, 2]  # 3 items: more than 2, not yet cleared
    items.put("3", 3)
    assert [items.get(str(n)) for n in range(4)] == [None, None, None, 3]
