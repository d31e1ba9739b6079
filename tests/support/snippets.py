"""The shell and Python snippets of a Markdown file, and a reader's terminal that runs them in order.

A snippet that cannot run in a test (it starts a server forever, needs root, a TLS certificate or a
second machine) is skipped only by a visible marker on the line before its fence:

    <!-- not tested: why -->

and a marker without a reason is an error, so every skip says why. A Python snippet that goes on with the
names of the one before it says so with `<!-- continues the snippet above -->`: it runs in one process
after that snippet, which runs again first (so that snippet must be safe to run twice).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

SHELL = ("sh", "bash", "console")
PYTHON = ("python",)
FENCE = re.compile(r"^ *```(?P<lang>[\w-]*)\s*$")
MARKER = re.compile(r"^\s*<!--\s*not tested:(?P<reason>.*?)-->\s*$")
CONTINUES = re.compile(r"^\s*<!--\s*continues the snippet above\s*-->\s*$")
# Snippets are written for a server at the default address; the test server listens elsewhere.
DEFAULT_ENDPOINT = "http://127.0.0.1:9000"


@dataclass(frozen=True)
class Snippet:
    path: Path
    line: int  # of the opening fence, 1-based, as an editor shows it
    lang: str
    text: str
    skip_reason: str | None  # None: run it; "" is a marker without a reason
    continues: bool = False  # runs after the snippet before it, in the same process

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line} ({self.lang})"


def snippets(path: Path) -> list[Snippet]:
    """Every ```sh/bash/console and ```python block of `path`, in order, with its skip marker if any."""
    lines = path.read_text().splitlines()
    found: list[Snippet] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        lang = opening["lang"]
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if lang in SHELL + PYTHON:
            body = textwrap.dedent("\n".join(lines[index + 1:end])) + "\n"
            before = lines[index - 1] if index else ""
            marker = MARKER.match(before)
            found.append(Snippet(path, index + 1, lang, body, marker["reason"].strip() if marker else None,
                                 bool(CONTINUES.match(before))))
        index = end + 1
    return found


class Terminal:
    """A reader at a terminal: one HOME and working directory for all snippets, exported variables kept
    from one shell snippet to the next, `faas` and `aws` on the PATH, and the server's data dir where the
    README says it is (`~/.local/share/faas`)."""

    def __init__(self, root: Path, repo: Path, data_dir: Path, endpoint: str) -> None:
        self.endpoint = endpoint
        self.home = root / "home"
        self.cwd = root / "checkout"  # a copy of what the README's commands read: examples/, .venv
        (self.home / ".local" / "share").mkdir(parents=True)
        (self.home / ".local" / "share" / "faas").symlink_to(data_dir)
        self.cwd.mkdir()
        (self.cwd / ".venv").symlink_to(sys.prefix)
        shutil.copytree(repo / "examples", self.cwd / "examples",
                        ignore=shutil.ignore_patterns("__pycache__", ".faas-build", "node_modules"))
        tools = root / "bin"
        tools.mkdir()
        aws = tools / "aws"  # AWS CLI v1, from the test venv: a JSON --payload as the README writes it
        aws.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m awscli "$@"\n')
        aws.chmod(0o755)
        self.env_file = root / "env"
        self.last_python = ""  # what a snippet that continues the one above runs first
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FAAS_"))}
        # The HOME is new, but `faas build`'s dependency cache stays the runner's: PyPI is asked once, not each run.
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        self.env.update({"HOME": str(self.home), "XDG_CACHE_HOME": cache, "FAAS_DATA_DIR": str(data_dir),
                         "PYTHONPATH": str(repo),
                         "PATH": os.pathsep.join([str(tools), str(Path(sys.executable).parent),
                                                  os.environ.get("PATH", "")])})

    def script(self, snippet: Snippet) -> str:
        return snippet.text.replace(DEFAULT_ENDPOINT, self.endpoint)

    def run(self, snippet: Snippet, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        if snippet.lang in PYTHON:
            code = (self.last_python if snippet.continues else "") + self.script(snippet)
            self.last_python = code
            command = [sys.executable, "-c", code]
        else:  # `set -e` for each line; variables set (-a exports them) are kept for the next snippet
            command = ["bash", "-e", "-a", "-o", "pipefail", "-c",
                       self.script(snippet) + f'\nenv -0 > "{self.env_file}"\n']
        result = subprocess.run(command, env=self.env, cwd=self.cwd, capture_output=True, text=True,
                                timeout=timeout)
        if result.returncode == 0 and snippet.lang in SHELL:
            pairs = self.env_file.read_text().split("\0")
            self.env = dict(pair.split("=", 1) for pair in pairs if "=" in pair)
        return result


def failure(snippet: Snippet, result: subprocess.CompletedProcess[str]) -> str:
    return (f"{snippet.where} exited {result.returncode}\n--- snippet\n{snippet.text}"
            f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}")
