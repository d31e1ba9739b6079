"""Runtime image names, recipe hashes, the Debian mirror lookup and the build decisions, without Docker."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import docker.errors
import pytest

from faas.errors import StartupError
from faas.sandbox import images

# --- the Debian mirror ------------------------------------------------------------------------

DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://security.example.org/debian-security
Suites: bookworm-security
Components: main

Types: deb-src
URIs: http://src.example.org/debian
Suites: bookworm

Types: deb
URIs: http://disabled.example.org/debian
Suites: bookworm
Enabled: no

Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example.org/debian/
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_mirror_from_deb822_skips_security_source_and_disabled_stanzas(tmp_path):
    sources = write(tmp_path / "debian.sources", DEB822)
    assert images.debian_mirror([sources]) == "http://mirror.example.org/debian"


def test_mirror_from_one_line_format(tmp_path):
    sources = write(tmp_path / "sources.list", """\
# deb http://commented.example.org/debian bookworm main
deb-src http://src.example.org/debian bookworm main
deb http://security.debian.org/debian-security bookworm-security main
deb http://other.example.org/debian buster/updates main
deb [arch=amd64 signed-by=/usr/share/keyrings/debian.gpg] https://mirror.example.org/debian bookworm main contrib
""")
    assert images.debian_mirror([sources]) == "https://mirror.example.org/debian"


def test_mirror_skips_repositories_that_are_not_debian_archives(tmp_path):
    sources_d = tmp_path / "sources.list.d"
    write(sources_d / "a-nodesource.sources", "Types: deb\nURIs: https://deb.nodesource.com/node_20.x\n"
                                               "Suites: nodistro\nComponents: main\n")
    write(sources_d / "b-cloud.list", "deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\n")
    write(sources_d / "c-debian.list.disabled", "deb http://ignored.example.org/debian bookworm main\n")
    write(sources_d / "d-debian.list", "deb http://mirror.example.org/debian trixie main\n")
    assert images.debian_mirror([tmp_path / "sources.list", sources_d]) == "http://mirror.example.org/debian"


def test_sources_list_comes_before_sources_list_d(tmp_path):
    write(tmp_path / "sources.list.d" / "debian.sources", DEB822)
    write(tmp_path / "sources.list", "deb http://first.example.org/debian stable main\n")
    paths = [tmp_path / "sources.list", tmp_path / "sources.list.d"]
    assert images.debian_mirror(paths) == "http://first.example.org/debian"


def test_no_debian_mirror_is_a_startup_error_with_a_hint(tmp_path):
    write(tmp_path / "sources.list", "deb http://security.debian.org/debian-security bookworm-security main\n")
    with pytest.raises(StartupError, match="FAAS_DEBIAN_MIRROR=http://<mirror>/debian"):
        images.debian_mirror([tmp_path / "sources.list", tmp_path / "missing.d"])


# --- recipe hashes and names ------------------------------------------------------------------

def make_recipe(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        write(root / name, text)
    return root


def test_recipe_hash_is_stable_and_follows_content(tmp_path):
    recipe = {"Dockerfile": "FROM ${BASE}\n", "bootstrap.py": "print('hi')\n", "lib/util.py": "x = 1\n"}
    first = images.recipe_hash(make_recipe(tmp_path / "a", recipe), "faas/base:1")
    # same files written in another order, at another time, in another place: same hash
    second = images.recipe_hash(make_recipe(tmp_path / "b", dict(reversed(recipe.items()))), "faas/base:1")
    assert first == second
    assert re.fullmatch(r"[0-9a-f]{64}", first)

    assert images.recipe_hash(tmp_path / "a", "faas/base:2") != first  # another base
    write(tmp_path / "a" / "__pycache__" / "bootstrap.cpython-311.pyc", "junk")
    assert images.recipe_hash(tmp_path / "a", "faas/base:1") == first  # caches are not recipe
    (tmp_path / "a" / "bootstrap.py").chmod(0o755)
    assert images.recipe_hash(tmp_path / "a", "faas/base:1") != first  # the executable bit is
    (tmp_path / "a" / "bootstrap.py").chmod(0o644)
    write(tmp_path / "a" / "lib" / "util.py", "x = 2\n")
    assert images.recipe_hash(tmp_path / "a", "faas/base:1") != first
    write(tmp_path / "a" / "lib" / "util.py", "x = 1\n")
    write(tmp_path / "a" / "extra.txt", "")
    assert images.recipe_hash(tmp_path / "a", "faas/base:1") != first


def test_image_refs_are_named_after_recipe_hashes():
    base = images.base_ref("faas")
    assert re.fullmatch(r"faas/base:[0-9a-f]{12}", base)
    ref = images.image_ref("faas", "python3.13")
    digest = images.recipe_hash(images.RECIPES_DIR / "python3.13", base)
    assert ref == f"faas/python3.13:{digest[:12]}"
    assert images.image_ref("faas", "python3.13") == ref
    assert images.image_ref("other", "python3.13").startswith("other/python3.13:")


def test_every_runtime_has_a_recipe():
    for runtime in images.RUNTIMES:
        assert (images.RECIPES_DIR / images.image_runtime(runtime) / "Dockerfile").is_file()


def test_provided_al2_is_served_by_the_provided_al2023_image():
    assert set(images.ALIASES) <= set(images.RUNTIMES) and set(images.ALIASES.values()) <= set(images.RUNTIMES)
    ref = images.image_ref("faas", "provided.al2023")
    assert ref.startswith("faas/provided.al2023:")
    assert images.image_ref("faas", "provided.al2") == ref
    assert images.recipe_dir("provided.al2") == images.RECIPES_DIR / "provided.al2023"


def test_unknown_runtime_is_a_startup_error():
    with pytest.raises(StartupError, match="unknown runtime 'cobol85'"):
        images.image_ref("faas", "cobol85")


# --- what ensure_images decides to build ------------------------------------------------------

class FakeDocker:
    """Just enough of docker.DockerClient: images that exist, and a record of builds."""

    def __init__(self, existing: set[str], build_messages: list[dict] | None = None) -> None:
        self.existing = set(existing)
        self.builds: list[dict] = []
        self.build_messages = build_messages
        self.images = self
        self.api = self

    def get(self, ref: str):
        if ref not in self.existing:
            raise docker.errors.ImageNotFound(ref)
        return object()

    def build(self, **kwargs):
        # The context is a temporary directory, gone after the build: what it held is kept here.
        context = Path(kwargs["path"])
        kwargs["files"] = sorted(p.relative_to(context).as_posix() for p in context.rglob("*") if p.is_file())
        self.builds.append(kwargs)
        if self.build_messages is None:
            self.existing.add(kwargs["tag"])
            return iter([{"stream": "Step 1/2 : ARG BASE\n"}, {"stream": " ---> abc\n"},
                         {"stream": "Step 2/2 : FROM ${BASE}\n"}])
        return iter(self.build_messages)


@pytest.fixture(autouse=True)
def fetched(monkeypatch) -> list[tuple[str, str]]:
    """dependencies.fetch faked: (runtime, context) of each call, and one file it "fetched"."""
    calls: list[tuple[str, str]] = []

    def fetch(context: Path, runtime: str, progress) -> None:
        calls.append((runtime, str(context)))
        write(context / "sdk" / "fetched.txt", runtime)
        progress(f"{runtime}: fetched")

    monkeypatch.setattr(images.dependencies, "fetch", fetch)
    return calls


def test_nothing_is_built_when_every_image_exists():
    refs = {"python3.13": images.image_ref("faas", "python3.13")}
    client = FakeDocker(set(refs.values()))
    lines: list[str] = []
    assert images.ensure_images(client, prefix="faas", progress=lines.append, runtimes=refs) == refs
    assert client.builds == [] and lines == []


def test_a_missing_runtime_image_is_built_on_the_existing_base(fetched):
    base, ref = images.base_ref("faas"), images.image_ref("faas", "python3.13")
    client = FakeDocker({base})
    lines: list[str] = []
    assert images.ensure_images(client, prefix="faas", progress=lines.append,
                                runtimes=["python3.13"]) == {"python3.13": ref}
    [build] = client.builds
    assert build["tag"] == ref
    assert build["buildargs"] == {"BASE": base}
    assert build["labels"]["faas.recipe-hash"].startswith(ref.rsplit(":", 1)[1])
    # The context: a copy of the recipe, plus what the pins fetched into it; the recipe is untouched.
    recipe = images.RECIPES_DIR / "python3.13"
    copied = sorted(p.relative_to(recipe).as_posix() for p in recipe.rglob("*")
                    if p.is_file() and "__pycache__" not in p.parts)
    assert build["files"] == sorted([*copied, "sdk/fetched.txt"])
    assert fetched == [("python3.13", build["path"])] and build["path"] != str(recipe)
    assert not Path(build["path"]).exists() and not (recipe / "sdk" / "fetched.txt").exists()
    assert lines == ["python3.13: fetched", f"building runtime image {ref}...", "python3.13: Step 1/2 : ARG BASE",
                     "python3.13: Step 2/2 : FROM ${BASE}"]


def test_an_alias_and_its_runtime_are_built_once():
    base, ref = images.base_ref("faas"), images.image_ref("faas", "provided.al2023")
    client = FakeDocker({base})
    refs = images.ensure_images(client, prefix="faas", progress=lambda line: None,
                                runtimes=["provided.al2023", "provided.al2"])
    assert refs == {"provided.al2023": ref, "provided.al2": ref}
    [build] = client.builds
    assert build["tag"] == ref and "bootstrap.sh" in build["files"]


def test_a_failed_build_is_a_startup_error():
    client = FakeDocker({images.base_ref("faas")},
                        build_messages=[{"error": "The command '/bin/sh -c false' returned 1\n"}])
    with pytest.raises(StartupError, match="building faas/python3.13:.* failed: The command"):
        images.ensure_images(client, prefix="faas", progress=lambda line: None)


def test_a_missing_base_without_debootstrap_asks_for_it(monkeypatch):
    monkeypatch.setattr(images.shutil, "which", lambda *args, **kwargs: None)
    with pytest.raises(StartupError, match="apt-get install -y debootstrap"):
        images.ensure_images(FakeDocker(set()), prefix="faas", progress=lambda line: None)


def test_docker_errors_become_startup_errors():
    class Unreachable(FakeDocker):
        def get(self, ref):
            raise docker.errors.DockerException("Error while fetching server API version")

    with pytest.raises(StartupError, match="cannot ask Docker") as caught:
        images.ensure_images(Unreachable(set()), prefix="faas", progress=lambda line: None)
    assert isinstance(caught.value.__cause__, docker.errors.DockerException)


def test_import_answers_report_errors_inside_a_200():
    answer = '{"status":"Downloading"}\n{"errorDetail":{"message":"bad tar"},"error":"bad tar"}\n'
    assert images._stream_error(answer) == "bad tar"
    assert images._stream_error('{"status":"sha256:abc"}\n') is None


# --- the SDK pins are recipe ------------------------------------------------------------------

def test_the_sdk_pins_are_part_of_the_recipe_hash(tmp_path):
    """Another boto3 or another @aws-sdk/client-lambda is another image."""
    base = images.base_ref("faas")
    for runtime, pins, old, new in (
            ("python3.13", "sdk/requirements.txt", "boto3==", "boto3==0.0.1+"),
            ("nodejs20.x", "sdk/package-lock.json", '"version": "3.', '"version": "4.')):
        recipe = tmp_path / runtime
        shutil.copytree(images.RECIPES_DIR / runtime, recipe, ignore=shutil.ignore_patterns("__pycache__"))
        before = images.recipe_hash(recipe, base)
        assert before == images.recipe_hash(images.RECIPES_DIR / runtime, base)
        text = (recipe / pins).read_text()
        assert old in text
        (recipe / pins).write_text(text.replace(old, new, 1))
        assert images.recipe_hash(recipe, base) != before, runtime


def test_the_python_sdk_is_pinned_by_version_and_hash():
    text = (images.RECIPES_DIR / "python3.13" / "sdk" / "requirements.txt").read_text()
    requirements = [line for line in text.replace("\\\n", " ").splitlines() if line and not line.startswith("#")]
    names = {line.split("==")[0] for line in requirements}
    assert names == {"boto3", "botocore", "jmespath", "python-dateutil", "s3transfer", "six", "urllib3"}
    for line in requirements:
        assert re.fullmatch(r"[a-z0-9-]+==[0-9][0-9a-z.]* +--hash=sha256:[0-9a-f]{64}", line), line


def test_the_node_sdk_is_pinned_exactly_and_locked():
    sdk = images.RECIPES_DIR / "nodejs20.x" / "sdk"
    wanted = json.loads((sdk / "package.json").read_text())["dependencies"]
    lock = json.loads((sdk / "package-lock.json").read_text())
    assert {"@aws-sdk/client-lambda", "@aws-sdk/client-sqs", "@aws-sdk/client-sns", "@aws-sdk/client-s3",
            "@aws-sdk/client-sts", "@aws-sdk/client-dynamodb", "@aws-sdk/lib-dynamodb",
            "@aws-sdk/client-eventbridge", "@aws-sdk/client-scheduler", "@aws-sdk/client-cloudwatch-logs",
            "@aws-sdk/client-secrets-manager", "@aws-sdk/client-apigatewaymanagementapi"} <= set(wanted)
    assert lock["packages"][""]["dependencies"] == wanted  # the lock was made from this package.json
    for name, version in wanted.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), (name, version)  # exact, no ranges
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
    for path, package in lock["packages"].items():
        assert not path or package["integrity"].startswith("sha512-"), path
