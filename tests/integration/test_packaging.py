"""The built wheel is the whole platform: its runtime recipes and migrations are package data, so faas
installed from it serves, migrates a database and finds its images from any directory."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import docker
import pytest
from alembic.script import ScriptDirectory

from faas.sandbox import images
from faas.store.db import alembic_config
from faas.store.tables import metadata

REPO = Path(__file__).resolve().parents[2]
# What a build reads: the project file, its readme, the package and the two folders it links to.
SOURCES = ("pyproject.toml", "README.md", "faas", "runtimes", "migrations")
SHIPPED = ("runtimes", "migrations")


class Installed:
    """faas installed from its wheel into a fresh venv. Its dependencies come from the venv running
    the tests (a .pth line), so the test needs no network; faas itself only from the wheel."""

    def __init__(self, wheel: Path, venv: Path, workdir: Path) -> None:
        self.wheel = wheel
        self.venv = venv
        self.workdir = workdir  # outside the repository, so nothing resolves against a checkout
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV") and not k.startswith("FAAS_")}

    def run(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.venv / "bin" / program), *args], cwd=self.workdir, env=self.env,
                              capture_output=True, text=True, timeout=120)

    def python(self, code: str, *args: str) -> dict:
        done = self.run("python", "-c", code, *args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.splitlines()[-1])  # the code's answer: its last line


def _run(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{command}: {done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    root = tmp_path_factory.mktemp("packaging")
    # Built from a copy: an in-tree build leaves build/ behind, whose stale files would go into the
    # next wheel, and two runs would share it.
    source = root / "source"
    source.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(REPO / name, source / name)
    dist = root / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    # The venv's setuptools and wheel (the test extra), so the build needs no network.
    _run(*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(dist), str(source))
    (wheel,) = dist.glob("faas-*.whl")

    venv = root / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", str(venv))
    purelib = Path(_run(str(venv / "bin" / "python"), "-c",
                        "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    # Appended after the venv's own site-packages, and without running that directory's .pth files,
    # so the editable install of faas there is not seen.
    (purelib / "test-dependencies.pth").write_text("".join(f"{path}\n" for path in site.getsitepackages()))
    _run(*pip, "--python", str(venv / "bin" / "python"), "install", "--no-deps", "--no-index", str(wheel))
    workdir = root / "elsewhere"
    workdir.mkdir()
    return Installed(wheel, venv, workdir)


def _shipped_files() -> set[str]:
    return {path.relative_to(REPO).as_posix() for folder in SHIPPED for path in (REPO / folder).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"}


def test_the_wheel_carries_every_recipe_and_migration_file(installed):
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
        assert {f"faas/{name}" for name in _shipped_files()} <= names
        assert not [name for name in names if name.endswith(".pyc") or "__pycache__" in name]
        # byte for byte what the repository holds
        for name in _shipped_files():
            assert wheel.read(f"faas/{name}") == (REPO / name).read_bytes(), name


def test_the_wheel_carries_the_consoles_templates_and_static_files(installed):
    console = REPO / "faas" / "api" / "console"
    files = [path for folder in ("templates", "static") for path in (console / folder).iterdir() if path.is_file()]
    assert files
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
        assert {path.relative_to(REPO).as_posix() for path in files} <= names


def test_faas_comes_from_the_wheel_not_from_a_checkout(installed):
    found = installed.python("import json, faas; print(json.dumps({'file': faas.__file__}))")
    assert Path(found["file"]).is_relative_to(installed.venv)


def test_faas_serve_help_runs_from_the_installed_wheel(installed):
    done = installed.run("faas", "serve", "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: faas serve")
    assert "--database-url" in done.stdout


MIGRATE = """
import asyncio, json, sys
import sqlalchemy as sa
from faas.store.db import MIGRATIONS_DIR, create_engine, migrate

async def main(url):
    engine = create_engine(url)
    try:
        await migrate(engine)
        async with engine.connect() as conn:
            revision = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar_one()
            tables = await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names())
    finally:
        await engine.dispose()
    print(json.dumps({"dir": str(MIGRATIONS_DIR), "revision": revision, "tables": sorted(tables)}))

asyncio.run(main(sys.argv[1]))
"""


def test_a_fresh_database_migrates_to_head_from_the_installed_wheel(installed, tmp_path):
    database = tmp_path / "faas.db"
    migrated = installed.python(MIGRATE, f"sqlite+aiosqlite:///{database}")
    assert Path(migrated["dir"]).is_relative_to(installed.venv)
    assert migrated["revision"] == ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert migrated["tables"] == sorted([*metadata.tables, "alembic_version"])


REVISION = """
import json, sys
from alembic import command
from faas.store.db import MIGRATIONS_DIR, alembic_config

config = alembic_config()
config.set_main_option("version_locations", f"{MIGRATIONS_DIR / 'versions'} {sys.argv[1]}")
script = command.revision(config, message="probe", rev_id="probe", version_path=sys.argv[1])
print(json.dumps({"path": script.path, "down": script.down_revision}))
"""


def test_a_new_revision_renders_from_the_installed_template(installed, tmp_path):
    """script.py.mako travels too: `alembic revision` works against the installed migrations."""
    made = installed.python(REVISION, str(tmp_path))
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert made["down"] == head
    text = Path(made["path"]).read_text()
    assert '"""probe' in text and f"Revises: {head}" in text and "def upgrade() -> None:" in text


REFS = """
import json
from faas.sandbox import images
print(json.dumps({"dir": str(images.RECIPES_DIR),
                  "refs": {runtime: images.image_ref("faas", runtime) for runtime in images.RUNTIMES}}))
"""


def test_the_installed_recipes_name_the_same_images(installed):
    """Same files, same executable bits, same hash: images built from a checkout are reused (pip
    compiles bootstrap.py into __pycache__ beside it, which the hash leaves out)."""
    found = installed.python(REFS)
    assert Path(found["dir"]).is_relative_to(installed.venv)
    assert found["refs"] == {runtime: images.image_ref("faas", runtime) for runtime in images.RUNTIMES}


@pytest.mark.docker
def test_faas_images_build_from_the_installed_wheel_reuses_the_images(installed):
    client = docker.from_env()
    try:
        refs = images.ensure_images(client, prefix="faas", progress=print)  # as deploy/dev.sh does first
    finally:
        client.close()
    done = installed.run("faas", "images", "build")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no progress: nothing was built
    assert done.stdout.splitlines() == [f"{runtime}\t{ref}" for runtime, ref in sorted(refs.items())]
