"""The SDK pins fetched with the host's real pip and npm: what lands in a build context, and the error
when the registry cannot be reached (a closed port on this machine stands for it)."""

from __future__ import annotations

import json
import re
import shutil
import socket
from pathlib import Path

import pytest

from faas.errors import StartupError
from faas.sandbox import dependencies, images


def context_of(runtime: str, tmp_path: Path) -> Path:
    context = tmp_path / "context"
    shutil.copytree(images.RECIPES_DIR / runtime, context, ignore=shutil.ignore_patterns("__pycache__"))
    return context


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on: connections to it are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_python_pins_become_an_unpacked_site_directory(tmp_path):
    context = context_of("python3.13", tmp_path)
    lines: list[str] = []
    dependencies.fetch(context, "python3.13", lines.append)
    pins = dict(re.findall(r"^([a-z0-9-]+)==(\S+)", (context / "sdk" / "requirements.txt").read_text(), re.M))
    site = context / "sdk" / "python"
    for name, version in pins.items():
        assert (site / f"{name.replace('-', '_')}-{version}.dist-info").is_dir(), name
    assert (site / "boto3" / "__init__.py").is_file() and (site / "botocore" / "data").is_dir()
    assert not (site / "bin").exists() and not (context / "sdk" / "wheels").exists()
    assert not list(site.rglob("*.pyc"))  # compiled in the image, by its own Python
    assert lines[0] == "python3.13: fetching the Python packages pinned in sdk/requirements.txt (pip download)..."
    assert any(line.startswith("  Successfully installed boto3-") for line in lines)


def test_the_node_pins_become_a_node_modules_without_unused_builds(tmp_path):
    context = context_of("nodejs20.x", tmp_path)
    lines: list[str] = []
    dependencies.fetch(context, "nodejs20.x", lines.append)
    modules = context / "sdk" / "node_modules"
    wanted = json.loads((context / "sdk" / "package.json").read_text())["dependencies"]
    for name, version in wanted.items():
        assert json.loads((modules / name / "package.json").read_text())["version"] == version
        assert (modules / name / "dist-cjs").is_dir()
    assert not list(modules.glob("@*/*/dist-types")) and not list(modules.glob("@*/*/dist-es"))
    assert lines[0] == "nodejs20.x: fetching the npm packages pinned in sdk/package-lock.json (npm ci)..."
    assert re.fullmatch(r"  added \d+ packages in .*", lines[-1])


def test_an_unreachable_package_index_is_a_startup_error(tmp_path, monkeypatch, closed_port):
    context = context_of("python3.13", tmp_path)
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")  # this host's own indexes and wheel folders
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{closed_port}/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    with pytest.raises(StartupError, match=r"python3.13: cannot download the Python packages pinned in "
                                           r"sdk/requirements.txt; is the package index .* reachable"):
        dependencies.fetch(context, "python3.13", lambda line: None)
    assert not (context / "sdk" / "python").exists()


def test_an_unreachable_npm_registry_is_a_startup_error(tmp_path, monkeypatch, closed_port):
    context = context_of("nodejs20.x", tmp_path)
    monkeypatch.setenv("npm_config_registry", f"http://127.0.0.1:{closed_port}/")
    monkeypatch.setenv("npm_config_cache", str(tmp_path / "npm-cache"))  # nothing to fall back on
    monkeypatch.setenv("npm_config_fetch_retries", "0")
    with pytest.raises(StartupError, match=r"nodejs20.x: cannot install the npm packages pinned in "
                                           r"sdk/package-lock.json; is the npm registry .* reachable"):
        dependencies.fetch(context, "nodejs20.x", lambda line: None)
