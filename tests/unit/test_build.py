"""faas build and faas init without the network: the cache key, requirement checks, wheel unpacking,
the error paths of pip and npm (with a fake tool runner), and the starter function."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from faas.cli import main
from faas.cli import dependencies as deps
from faas.cli.build import build_zip, guess_runtime
from faas.errors import ConfigError

PYTHON = deps.language_of("python3.13")
NODE = deps.language_of("nodejs20.x")


def quiet(message: str) -> None:
    pass


def test_language_of_runtimes() -> None:
    assert (PYTHON.name, PYTHON.version, PYTHON.manifest) == ("python", "3.13", "requirements.txt")
    assert (NODE.name, NODE.version, NODE.manifest) == ("node", "20", "package.json")
    with pytest.raises(ConfigError, match="provided.al2023"):
        deps.language_of("provided.al2023")


def test_cache_key_follows_the_pinning_files_language_version_and_cpu() -> None:
    files = {"requirements.txt": b"pydantic==2.10.6\n"}
    key = deps.cache_key(PYTHON, files, "x86_64")
    assert key == deps.cache_key(PYTHON, dict(files), "x86_64")
    assert key != deps.cache_key(PYTHON, {"requirements.txt": b"pydantic==2.10.5\n"}, "x86_64")
    assert key != deps.cache_key(deps.language_of("python3.12"), files, "x86_64")
    assert key != deps.cache_key(PYTHON, files, "aarch64")
    node = {"package.json": b'{"dependencies": {"ms": "2.1.3"}}'}
    with_lock = {**node, "package-lock.json": b"{}"}
    assert deps.cache_key(NODE, node, "x86_64") != deps.cache_key(NODE, with_lock, "x86_64")
    # The name/content boundary is part of the hash: moving bytes between files changes the key.
    assert deps.cache_key(NODE, {"a": b"xy", "b": b""}, "x86_64") != deps.cache_key(NODE, {"a": b"x", "b": b"y"},
                                                                                     "x86_64")


def test_cache_root_follows_xdg_cache_home() -> None:
    assert deps.cache_root({"XDG_CACHE_HOME": "/c", "HOME": "/h"}) == Path("/c/faas/build")
    assert deps.cache_root({"HOME": "/h"}) == Path("/h/.cache/faas/build")


def test_requirements_are_counted_and_bad_lines_refused_with_their_number() -> None:
    assert deps.check_requirements("# deps\n\npydantic==2.10.6  # pinned\n--extra-index-url https://x\nms>=1\n") == 2
    assert deps.check_requirements("# nothing yet\n") == 0
    with pytest.raises(ConfigError, match=r"line 2: 'pydantic===' is not a requirement"):
        deps.check_requirements("ms\npydantic===\n")
    for line in ("-r other.txt", "-e .", "--requirement=other.txt", "-c constraints.txt"):
        with pytest.raises(ConfigError, match=r"line 1: .* is not supported by faas build"):
            deps.check_requirements(line + "\n")


def test_pip_is_asked_for_manylinux_wheels_of_the_runtimes_python(tmp_path: Path) -> None:
    argv = deps.pip_download_argv(tmp_path / "r.txt", tmp_path / "w", "3.13", "x86_64")
    assert "--only-binary=:all:" in argv and "--python-version=3.13" in argv and "--abi=cp313" in argv
    assert "--platform=manylinux2014_x86_64" in argv and "--platform=manylinux_2_28_x86_64" in argv


def test_unpack_wheel_puts_data_purelib_at_the_root_and_leaves_scripts_out(tmp_path: Path) -> None:
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("demo/__init__.py", "X = 1\n")
        archive.writestr("demo-1.0.dist-info/METADATA", "Name: demo\n")
        archive.writestr("demo-1.0.data/purelib/extra.py", "Y = 2\n")
        archive.writestr("demo-1.0.data/scripts/demo-cli", "#!/bin/sh\n")
        archive.writestr("../escape.py", "no\n")
    site = tmp_path / "site"
    deps.unpack_wheel(wheel, site)
    names = sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file())
    assert names == ["demo-1.0.dist-info/METADATA", "demo/__init__.py", "extra.py"]
    assert not (tmp_path / "escape.py").exists()


def fake_pip(wheels: dict[str, dict[str, str]], status: int = 0, output: list[str] | None = None):  # type: ignore[no-untyped-def]
    calls = []

    def run(argv, cwd):  # type: ignore[no-untyped-def]
        calls.append(list(argv))
        dest = Path(argv[argv.index("--dest") + 1])
        dest.mkdir(parents=True, exist_ok=True)
        for name, files in wheels.items():
            with zipfile.ZipFile(dest / name, "w") as archive:
                for path, text in files.items():
                    archive.writestr(path, text)
        return status, output or []
    return run, calls


def test_python_dependencies_are_built_once_then_served_from_the_cache(tmp_path: Path) -> None:
    source = tmp_path / "fn"
    source.mkdir()
    (source / "requirements.txt").write_text("demo==1.0\n")
    (source / "app.py").write_text("import demo\n")
    run, calls = fake_pip({"demo-1.0-py3-none-any.whl": {"demo/__init__.py": "X = 1\n"}})
    messages: list[str] = []
    cache = tmp_path / "cache"
    first = deps.dependencies(source, "python3.13", cache, run, messages.append)
    assert first is not None and (first / "demo" / "__init__.py").read_text() == "X = 1\n"
    assert sorted(p.name for p in first.iterdir()) == ["demo"]  # no wheels or requirements left behind
    second = deps.dependencies(source, "python3.13", cache, run, messages.append)
    assert second == first and len(calls) == 1 and "cache hit" in messages[-1]
    (source / "requirements.txt").write_text("demo==1.1\n")
    deps.dependencies(source, "python3.13", cache, run, messages.append)
    assert len(calls) == 2


def test_a_package_without_a_wheel_is_named_and_nothing_is_cached(tmp_path: Path) -> None:
    source = tmp_path / "fn"
    source.mkdir()
    (source / "requirements.txt").write_text("sdistonly==0.1\n")
    run, _ = fake_pip({}, status=1, output=[
        "ERROR: Could not find a version that satisfies the requirement sdistonly==0.1 (from versions: none)",
        "ERROR: No matching distribution found for sdistonly==0.1"])
    cache = tmp_path / "cache"
    with pytest.raises(deps.BuildError, match=r"no wheel of sdistonly==0.1 for Python 3.13 on manylinux x86_64 "
                                              r"\(no version has one\)"):
        deps.dependencies(source, "python3.13", cache, run, quiet)
    assert list(cache.iterdir()) == []  # the half-built entry is gone: the next build tries again


def test_pip_failure_lists_the_last_versions_that_have_a_wheel() -> None:
    message = deps.pip_failure([
        "ERROR: Could not find a version that satisfies the requirement numpy==1.24.4 (from versions: 2.1.0, "
        "2.2.0, 2.3.0, 2.4.0, 2.5.0, 2.5.1)", "ERROR: No matching distribution found for numpy==1.24.4"],
        "3.13", "x86_64")
    assert "(versions that have one: 2.2.0, 2.3.0, 2.4.0, 2.5.0, 2.5.1)" in message
    assert deps.pip_failure(["ERROR: Invalid requirement: 'x'"], "3.13", "x86_64") == \
        "pip download failed: ERROR: Invalid requirement: 'x'"


def test_an_empty_requirements_file_builds_nothing(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("# none yet\n")
    run, calls = fake_pip({})
    assert deps.dependencies(tmp_path, "python3.13", tmp_path / "cache", run, quiet) is None
    assert calls == []


def test_missing_npm_is_said_plainly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "package.json").write_text('{"dependencies": {"ms": "2.1.3"}}')
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(deps.BuildError, match="npm is not installed"):
        deps.dependencies(tmp_path, "nodejs20.x", tmp_path / "cache", deps.stream, quiet)


def test_npm_ci_with_a_lock_file_and_npm_install_without(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deps.shutil, "which", lambda name: f"/usr/bin/{name}")
    source = tmp_path / "fn"
    source.mkdir()
    (source / "package.json").write_text('{"dependencies": {"ms": "2.1.3"}}')
    calls = []

    def npm(argv, cwd):  # type: ignore[no-untyped-def]
        calls.append(list(argv))
        (cwd / "node_modules" / "ms").mkdir(parents=True)
        return 0, []
    messages: list[str] = []
    built = deps.dependencies(source, "nodejs20.x", tmp_path / "cache", npm, messages.append)
    assert calls[-1][:3] == ["npm", "install", "--omit=dev"] and "no package-lock.json" in messages[0]
    assert built is not None and sorted(p.name for p in built.iterdir()) == ["node_modules"]
    (source / "package-lock.json").write_text("{}")
    deps.dependencies(source, "nodejs20.x", tmp_path / "cache", npm, messages.append)
    assert calls[-1][:3] == ["npm", "ci", "--omit=dev"]


def test_npm_failure_shows_its_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deps.shutil, "which", lambda name: f"/usr/bin/{name}")
    (tmp_path / "package.json").write_text('{"dependencies": {"no-such-pkg-faas": "1.0.0"}}')

    def npm(argv, cwd):  # type: ignore[no-untyped-def]
        return 1, ["npm ERR! code E404", "npm ERR! 404 Not Found - no-such-pkg-faas"]
    with pytest.raises(deps.BuildError, match="npm install failed: npm ERR! code E404 npm ERR! 404 Not Found"):
        deps.dependencies(tmp_path, "nodejs20.x", tmp_path / "cache", npm, quiet)


def test_build_zip_puts_the_folder_over_its_dependencies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(deps.shutil, "which", lambda name: f"/usr/bin/{name}")

    def npm(argv, cwd):  # type: ignore[no-untyped-def]
        (cwd / "node_modules" / "ms").mkdir(parents=True)
        (cwd / "node_modules" / "ms" / "index.js").write_text("module.exports = 1;\n")
        return 0, []
    monkeypatch.setattr("faas.cli.build.dependencies",
                        lambda source, runtime, cache: deps.dependencies(source, runtime, cache, npm, quiet))
    source = tmp_path / "fn"
    (source / "node_modules" / "devonly").mkdir(parents=True)
    (source / "node_modules" / "devonly" / "index.js").write_text("dev\n")
    (source / ".faas-build").mkdir()
    (source / ".faas-build" / "function.zip").write_bytes(b"old")
    (source / "package.json").write_text('{"dependencies": {"ms": "2.1.3"}}')
    (source / "index.mjs").write_text("export const handler = async () => 1;\n")
    names = zipfile.ZipFile(io.BytesIO(build_zip(source, "nodejs20.x"))).namelist()
    assert names == ["index.mjs", "node_modules/ms/index.js", "package.json"]


def test_guess_runtime_needs_exactly_one_dependency_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="neither requirements.txt nor package.json: say which runtime"):
        guess_runtime(tmp_path)
    (tmp_path / "requirements.txt").write_text("")
    assert guess_runtime(tmp_path) == "python3.13"
    (tmp_path / "package.json").write_text("{}")
    with pytest.raises(ConfigError, match="both requirements.txt and package.json"):
        guess_runtime(tmp_path)


def test_build_of_a_bad_requirement_exits_2_naming_the_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "requirements.txt").write_text("pydantic\nnot a requirement!\n")
    assert main(["build", str(tmp_path)]) == 2
    assert "requirements.txt line 2: 'not a requirement!' is not a requirement" in capsys.readouterr().err


@pytest.mark.parametrize("runtime, handler_file", [("python3.13", "app.py"), ("nodejs20.x", "index.mjs")])
def test_init_writes_a_starter_and_refuses_to_overwrite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str], runtime: str,
                                                        handler_file: str) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init", "hello", "--runtime", runtime]) == 0
    assert (tmp_path / "hello" / handler_file).is_file()
    assert json.loads((tmp_path / "hello" / "events" / "event.json").read_text()) == {"name": "faas"}
    assert f"--runtime {runtime}" in capsys.readouterr().out
    (tmp_path / "hello" / handler_file).write_text("# mine\n")
    assert main(["init", "hello", "--runtime", runtime]) == 2
    assert "hello already exists and is not empty" in capsys.readouterr().err
    assert (tmp_path / "hello" / handler_file).read_text() == "# mine\n"


def test_init_python_starter_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init", "hello", "--runtime", "python3.13"]) == 0
    namespace: dict = {}
    exec((tmp_path / "hello" / "app.py").read_text(), namespace)
    event = json.loads((tmp_path / "hello" / "events" / "event.json").read_text())
    assert json.loads(namespace["handler"](event, None)["body"]) == {"message": "hello, faas"}
