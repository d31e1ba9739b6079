"""The CLI's modules (faas/cli/ and faas/client/) import each other without a cycle, and each imports on
its own, so a shared helper always has one home below the verbs that use it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import faas

FAAS_DIR = Path(faas.__file__).parent
PACKAGES = ("cli", "client")


def module_files() -> dict[str, Path]:
    """Every module of the CLI's packages by dotted name; a package is its __init__.py."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((FAAS_DIR / package).glob("*.py")):
            name = f"faas.{package}" if path.stem == "__init__" else f"faas.{package}.{path.stem}"
            modules[name] = path
    return modules


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The modules of `known` that `path` imports, at its top or inside a function (a lazy import still
    runs the module's code, so it counts). `from faas.cli import x` names the module faas.cli.x when
    there is one, else the package faas.cli itself."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in known else node.module)
    return found & known


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path that ends where it starts, or None."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_finds_one_and_only_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"b"}}) == ["b", "c", "b"]


def test_the_cli_modules_import_each_other_without_a_cycle() -> None:
    modules = module_files()
    assert {"faas.cli", "faas.cli.common", "faas.client.api", "faas.client.transport"} <= set(modules)
    graph = {name: imports_of(path, set(modules)) - {name} for name, path in modules.items()}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])
    # faas/cli/__init__.py wires every verb module: one that imported it back would close a cycle.
    assert [name for name, targets in graph.items() if "faas.cli" in targets] == []
    # The client is a library below the command line: it never reaches up into it.
    in_cli = {name for name in modules if name == "faas.cli" or name.startswith("faas.cli.")}
    assert {name: graph[name] & in_cli for name in modules if name not in in_cli} == {
        name: set() for name in modules if name not in in_cli}


@pytest.mark.parametrize("module", sorted(module_files()))
def test_each_cli_module_imports_on_its_own(module: str) -> None:
    # A fresh interpreter: nothing imported before it can hide a missing or circular import.
    result = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=FAAS_DIR.parent,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
