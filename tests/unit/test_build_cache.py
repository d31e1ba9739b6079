"""faas.cli.dependencies.prune: the build cache forgets entries unused for a month and builds that died."""

from __future__ import annotations

import os
from pathlib import Path

from faas.cli import dependencies as deps

NOW = 2_000_000_000.0


def aged(path: Path, idle_s: float) -> Path:
    path.mkdir()
    os.utime(path, (NOW - idle_s, NOW - idle_s))
    return path


def test_prune_removes_what_was_unused_for_a_month_and_dead_builds(tmp_path: Path) -> None:
    fresh = aged(tmp_path / "python-recent", 3 * 86400)
    stale = aged(tmp_path / "python-stale", deps.CACHE_KEEP_S + 60)
    building = aged(tmp_path / ".building-now", 60)  # a build under way elsewhere
    dead = aged(tmp_path / ".building-dead", deps.ABANDONED_BUILD_S + 60)
    assert sorted(deps.prune(tmp_path, NOW)) == sorted([stale, dead])
    assert fresh.is_dir() and building.is_dir() and not stale.exists() and not dead.exists()


def test_a_cache_hit_counts_as_a_use(tmp_path: Path) -> None:
    source = tmp_path / "fn"
    source.mkdir()
    (source / "requirements.txt").write_text("six==1.16.0\n")
    language = deps.language_of("python3.13")
    cache = tmp_path / "cache"
    cache.mkdir()
    entry = aged(cache / deps.cache_key(language, deps.pinned_files(source, language), deps.machine()),
                 deps.CACHE_KEEP_S - 60)
    assert deps.dependencies(source, "python3.13", cache, say=lambda _: None) == entry
    assert deps.prune(cache, entry.stat().st_mtime + 86400) == []
