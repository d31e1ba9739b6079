"""faas build, faas deploy --build and faas init as a user runs them: dependencies fetched on the host
(pydantic with its compiled pydantic-core wheel, an npm package), deployed to a real `faas serve`,
imported by the function; a second build served from the cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import Server, unique

pytestmark = pytest.mark.docker

PYDANTIC_APP = '''import pydantic
import pydantic_core


class Order(pydantic.BaseModel):
    item: str
    quantity: int


def handler(event, context):
    order = Order.model_validate(event)
    return {"order": order.model_dump(), "pydantic": pydantic.VERSION, "core": pydantic_core.__version__,
            "compiled": pydantic_core._pydantic_core.__file__}
'''

MS_HANDLER = '''import ms from "ms";

export const handler = async (event) => ({ name: event.name, ms: ms(event.duration) });
'''


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")  # its ~/.cache/faas/build starts empty


@pytest.fixture(scope="module")
def faas(server: Server, home: Path):  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FAAS_", "XDG_"))}
    env.update({"FAAS_DATA_DIR": str(server.data_dir), "HOME": str(home)})

    def faas(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "faas", *args], env=env, cwd=home, capture_output=True,
                                text=True, timeout=300)
        if ok:
            assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
        return result
    return faas


def test_python_requirements_with_a_compiled_wheel(faas, home: Path) -> None:  # type: ignore[no-untyped-def]
    name = unique("pydantic")
    faas("init", name, "--runtime", "python3.13")  # its requirements.txt holds a comment to append to
    code = home / name
    with (code / "requirements.txt").open("a") as requirements:
        requirements.write("pydantic==2.10.6\n")
    (code / "app.py").write_text(PYDANTIC_APP)
    deployed = faas("deploy", str(code), "--name", name, "--runtime", "python3.13", "--handler", "app.handler",
                    "--build")
    assert "fetching wheels of requirements.txt for Python 3.13" in deployed.stderr
    assert "pydantic_core-2.27.2-cp313-cp313-manylinux" in deployed.stderr  # pip's progress, shown

    answer = json.loads(faas("invoke", name, "--payload", '{"item": "tea", "quantity": "3"}').stdout)
    assert answer["order"] == {"item": "tea", "quantity": 3}  # "3" coerced by pydantic-core's validator
    assert (answer["pydantic"], answer["core"]) == ("2.10.6", "2.27.2")
    assert answer["compiled"].startswith("/var/task/pydantic_core/") and answer["compiled"].endswith(".so")
    refused = faas("invoke", name, "--payload", '{"item": "tea", "quantity": "many"}', ok=False)
    assert refused.returncode == 1 and "ValidationError" in refused.stdout

    rebuilt = faas("build", str(code))
    assert "dependencies: cache hit" in rebuilt.stderr and "Collecting" not in rebuilt.stderr
    zip_path = code / ".faas-build" / "function.zip"
    assert f"built {zip_path} for python3.13" in rebuilt.stdout
    # The zip built from the cache is the one deployed: same bytes, so a redeploy uploads no new code.
    described = faas("deploy", str(zip_path), "--name", name, "--runtime", "python3.13", "--handler", "app.handler")
    assert described.stdout.startswith(f"unchanged {name} ")


def test_a_package_without_a_wheel_or_a_bad_line_is_refused_before_deploying(faas, home: Path) -> None:  # type: ignore[no-untyped-def]
    name = unique("nowheel")
    code = home / name
    code.mkdir()
    (code / "app.py").write_text("import numpy\n\ndef handler(event, context):\n    return 1\n")
    (code / "requirements.txt").write_text("numpy==1.24.4\n")  # compiled, and released before Python 3.13
    deploy = ("deploy", str(code), "--name", name, "--runtime", "python3.13", "--handler", "app.handler", "--build")
    refused = faas(*deploy, ok=False)
    assert refused.returncode == 1
    assert "error: no wheel of numpy==1.24.4 for Python 3.13 on manylinux" in refused.stderr
    (code / "requirements.txt").write_text("numpy\nnumpy>=\n")
    refused = faas(*deploy, ok=False)
    assert refused.returncode == 2 and "requirements.txt line 2: 'numpy>=' is not a requirement" in refused.stderr
    assert "ResourceNotFoundException" in faas("invoke", name, ok=False).stderr  # nothing was deployed


def test_node_starter_with_an_npm_dependency(faas, home: Path) -> None:  # type: ignore[no-untyped-def]
    name = unique("ms")
    created = faas("init", name, "--runtime", "nodejs20.x")
    assert f"faas deploy {name} --name {name} --runtime nodejs20.x --handler index.handler --build" in created.stdout
    assert faas("init", name, "--runtime", "nodejs20.x", ok=False).returncode == 2  # never overwrites
    code = home / name
    package = json.loads((code / "package.json").read_text())
    package["dependencies"] = {"ms": "2.1.3"}
    (code / "package.json").write_text(json.dumps(package))
    (code / "index.mjs").write_text(MS_HANDLER)
    event = code / "events" / "event.json"
    event.write_text(json.dumps({**json.loads(event.read_text()), "duration": "2h"}))

    deployed = faas("deploy", str(code), "--name", name, "--runtime", "nodejs20.x", "--handler", "index.handler",
                    "--build")
    assert "no package-lock.json: npm install --omit=dev" in deployed.stderr
    assert json.loads(faas("invoke", name, "--payload-file", str(event)).stdout) == {"name": "faas", "ms": 7200000}

    assert "dependencies: cache hit" in faas("build", str(code)).stderr

    # With a lock file the build is `npm ci`, and the lock's hash is the new cache key.
    subprocess.run(["npm", "install", "--package-lock-only", "--no-audit", "--no-fund"], cwd=code, check=True,
                   capture_output=True, timeout=300)
    locked = faas("build", str(code))
    assert "npm ci --omit=dev (from package-lock.json)" in locked.stderr and "cache hit" not in locked.stderr
    assert "dependencies: cache hit" in faas("build", str(code)).stderr
