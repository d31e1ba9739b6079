"""What a recipe's sdk/ pins make the host fetch, and the errors when it cannot, without a registry."""

from __future__ import annotations

import subprocess

import pytest

from faas.errors import StartupError
from faas.sandbox import dependencies


@pytest.fixture
def no_subprocess(monkeypatch):  # type: ignore[no-untyped-def]
    def refuse(*args, **kwargs):
        raise AssertionError(f"nothing should run: {args}")

    monkeypatch.setattr(subprocess, "Popen", refuse)


def test_a_recipe_without_pins_fetches_nothing(tmp_path, no_subprocess):
    (tmp_path / "Dockerfile").write_text("FROM ${BASE}\n")
    lines: list[str] = []
    dependencies.fetch(tmp_path, "provided.al2023", lines.append)
    assert lines == [] and sorted(p.name for p in tmp_path.iterdir()) == ["Dockerfile"]


def test_python_pins_need_a_python_runtime(tmp_path, no_subprocess):
    (tmp_path / "sdk").mkdir()
    (tmp_path / "sdk" / "requirements.txt").write_text("boto3==1.0 --hash=sha256:00\n")
    with pytest.raises(StartupError, match="runtime nodejs20.x has sdk/requirements.txt but is no pythonX.Y"):
        dependencies.fetch(tmp_path, "nodejs20.x", lambda line: None)


def test_python_pins_without_pip_say_how_to_get_it(tmp_path, monkeypatch, no_subprocess):
    (tmp_path / "sdk").mkdir()
    (tmp_path / "sdk" / "requirements.txt").write_text("boto3==1.0 --hash=sha256:00\n")
    monkeypatch.setattr(dependencies.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(StartupError, match=r"python3.13: pip is needed .* -m ensurepip"):
        dependencies.fetch(tmp_path, "python3.13", lambda line: None)


def test_node_pins_without_npm_say_how_to_get_it(tmp_path, monkeypatch, no_subprocess):
    (tmp_path / "sdk").mkdir()
    (tmp_path / "sdk" / "package-lock.json").write_text("{}")
    monkeypatch.setattr(dependencies.shutil, "which", lambda name: None)
    with pytest.raises(StartupError, match=r"nodejs20.x: npm is needed .*: apt-get install -y npm"):
        dependencies.fetch(tmp_path, "nodejs20.x", lambda line: None)
