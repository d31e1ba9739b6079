"""The floors of docs/ARCHITECTURE.md hold: no module of faas imports one on a floor above its own.

    wiring (app, server, cli, client, ...) -> api -> services, sources -> dispatch -> sandbox
        -> store, security -> model, errors, settings (and the other plain modules)

Sources may use services (function and event configurations); services never import sources or
dispatch; security stays pure (it imports only model-floor modules).
"""

from __future__ import annotations

import ast
from pathlib import Path

import faas

PACKAGE = Path(faas.__file__).resolve().parent

WIRING = 7
FLOORS = {"api": 6, "services": 5, "sources": 5, "dispatch": 4, "sandbox": 3, "store": 2, "security": 2}
TOP_LEVEL_WIRING = {"app", "server", "cli", "client", "rotation", "listener", "__main__"}  # the wiring and the CLI
ALLOWED_SIDEWAYS = {("sources", "services")}


def area(module: str) -> str:
    """`faas.api.auth` -> `api`; `faas.model` -> `model`; a package `faas.cli` -> `cli`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def floor(module: str) -> int:
    name = area(module)
    if name in FLOORS:
        return FLOORS[name]
    return WIRING if name in TOP_LEVEL_WIRING else 1


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in ("runtimes", "migrations"):  # package data, not code of faas
            continue
        name = ".".join(("faas", *relative.with_suffix("").parts))
        found[name.removesuffix(".__init__")] = path
    return found


def imports(path: Path, module: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # faas imports absolutely, so every arrow is visible here
                names.add(f"relative import in {module}")
            elif node.module:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name.startswith(("faas.", "relative import"))}


def violations() -> list[str]:
    known = modules()
    found = []
    for module, path in known.items():
        for target in sorted(imports(path, module)):
            if target.startswith("relative import"):
                found.append(target)
                continue
            if target not in known:  # `from faas.x import name` also yields faas.x.name
                continue
            source_area, target_area = area(module), area(target)
            if source_area == target_area or not target_area:
                continue
            if floor(target) > floor(module):
                found.append(f"{module} (floor {floor(module)}) imports {target} (floor {floor(target)})")
            elif floor(target) == floor(module) and floor(module) != 1 and floor(module) != WIRING \
                    and (source_area, target_area) not in ALLOWED_SIDEWAYS:
                found.append(f"{module} imports {target} sideways ({source_area} -> {target_area})")
            elif source_area == "security" and floor(target) != 1:
                found.append(f"{module} (security stays pure) imports {target}")
            elif source_area == "services" and target_area == "dispatch":
                found.append(f"{module} imports {target}: services and dispatch never import each other")
    return found


def test_no_module_imports_a_floor_above_its_own():
    assert violations() == []


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    store = tmp_path / "faas" / "store"
    store.mkdir(parents=True)
    (tmp_path / "faas" / "__init__.py").write_text("")
    (store / "__init__.py").write_text("")
    (store / "leak.py").write_text("from faas.api.auth import Guard\nfrom faas.model import Function\n")
    api = tmp_path / "faas" / "api"
    api.mkdir()
    (api / "__init__.py").write_text("")
    (api / "auth.py").write_text("")
    (tmp_path / "faas" / "model.py").write_text("")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", tmp_path / "faas")
    assert violations() == ["faas.store.leak (floor 2) imports faas.api.auth (floor 6)"]
