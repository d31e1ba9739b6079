"""Test images built on top of the runtime images: today, AWS's awslambdaric as a Lambda container image."""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors

from faas.sandbox.images import recipe_hash

AWSLAMBDARIC_RECIPE = Path(__file__).resolve().parents[1] / "images" / "awslambdaric"


def build_awslambdaric_image(client: docker.DockerClient, python_image_ref: str,
                             progress: Callable[[str], None] = print) -> str:
    """Build (or reuse) the awslambdaric image on `python_image_ref`; return its reference.

    The tag is a hash of the recipe directory (which pins the awslambdaric version) and the base.
    """
    ref = f"faas-test/awslambdaric:{recipe_hash(AWSLAMBDARIC_RECIPE, python_image_ref)[:12]}"
    try:
        client.images.get(ref)
        return ref
    except docker.errors.ImageNotFound:
        pass
    progress(f"building test image {ref}...")
    with tempfile.TemporaryDirectory(prefix="faas-awslambdaric-") as context:
        shutil.copytree(AWSLAMBDARIC_RECIPE, context, dirs_exist_ok=True)
        _download_wheels(Path(context))
        for message in client.api.build(path=context, tag=ref, buildargs={"BASE": python_image_ref},
                                        labels={"faas.recipe": "test-awslambdaric"},
                                        decode=True, rm=True, forcerm=True, pull=False):
            if message.get("error"):
                raise RuntimeError(f"building {ref} failed: {message['error']}")
            line = str(message.get("stream", "")).strip()
            if line.startswith("Step "):
                progress(f"awslambdaric: {line}")
    return ref


def _download_wheels(context: Path) -> None:
    # PyPI is reachable from the host only: fetch wheels for the image's Python and architecture.
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
               "--only-binary=:all:", "--python-version", "3.13",
               "--platform", f"manylinux2014_{platform.machine()}",
               "-r", str(context / "requirements.txt"), "-d", str(context / "wheels")]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"pip download of awslambdaric failed:\n{result.stdout}\n{result.stderr}")
