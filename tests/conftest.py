"""Shared test set-up: no FAAS_* setting leaks in from the shell running the tests."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _clean_faas_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FAAS_") and name not in ("FAAS_TEST_POSTGRES_URL", "FAAS_DEBIAN_MIRROR"):
            monkeypatch.delenv(name, raising=False)
