"""`faas build`: a function's folder and its dependencies (faas.cli.dependencies) as one deterministic zip,
the zip `faas deploy --build` uploads."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from faas.cli.common import add_output_option, emit
from faas.cli.dependencies import PACKAGE_JSON, REQUIREMENTS, cache_root, dependencies, language_of
from faas.cli.packaging import SKIPPED_DIRS, code_sha256, folder_files, zip_files
from faas.errors import ConfigError

DEFAULT_RUNTIMES = {REQUIREMENTS: "python3.13", PACKAGE_JSON: "nodejs20.x"}
OUTPUT = Path(".faas-build") / "function.zip"  # inside the folder; zips of the folder leave .faas-build out


def guess_runtime(source: Path) -> str:
    """The runtime a folder's dependency file implies, when --runtime is not given."""
    found = [name for name in DEFAULT_RUNTIMES if (source / name).is_file()]
    if len(found) != 1:
        what = "both " + " and ".join(found) if found else f"neither {REQUIREMENTS} nor {PACKAGE_JSON}"
        raise ConfigError(f"{source} holds {what}: say which runtime with --runtime")
    return DEFAULT_RUNTIMES[found[0]]


def build_zip(source: Path, runtime: str) -> bytes:
    """The function's zip: its folder's files over its built dependencies (its own files win a clash)."""
    if not source.is_dir():
        raise ConfigError(f"{source} is not a folder: faas build needs the function's folder")
    built = dependencies(source, runtime, cache_root(os.environ))
    files = folder_files(built) if built is not None else {}
    skipped = SKIPPED_DIRS
    if built is not None and language_of(runtime).name == "node":
        skipped = skipped | {"node_modules"}  # the host's own node_modules may hold dev dependencies
    files.update(folder_files(source, skipped))
    if not files:
        raise ConfigError(f"{source} holds no files to deploy")
    return zip_files(files)


def cmd_build(args: argparse.Namespace) -> int:
    source = Path(args.path)
    runtime = args.runtime or guess_runtime(source)
    zip_bytes = build_zip(source, runtime)
    output = Path(args.zip) if args.zip else source / OUTPUT
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(zip_bytes)
    built = {"Zip": str(output), "Runtime": runtime, "CodeSha256": code_sha256(zip_bytes), "CodeSize": len(zip_bytes)}
    emit(args, built, f"built {output} for {runtime}\n  CodeSha256: {built['CodeSha256']}\n"
                      f"  CodeSize:   {len(zip_bytes)} bytes")
    print(f"deploy it with: faas deploy {output} --name NAME --runtime {runtime} --handler HANDLER",
          file=sys.stderr)
    return 0


def add_build_command(commands: argparse._SubParsersAction) -> None:
    """Register `faas build` on the `faas` parser."""
    build = commands.add_parser(
        "build", help="zip a function with its dependencies",
        description=f"Fetch a function's dependencies on this machine and zip them with its folder: a "
                    f"{REQUIREMENTS} becomes manylinux wheels for the runtime's Python, unpacked at the zip's "
                    f"root; a {PACKAGE_JSON} becomes node_modules by 'npm ci --omit=dev' ('npm install "
                    f"--omit=dev' without a package-lock.json). Dependencies are cached by the hash of the "
                    f"lock file (requirements.txt, package-lock.json) under $XDG_CACHE_HOME/faas/build "
                    f"(~/.cache/faas/build). 'faas deploy --build' does the same before uploading.")
    build.add_argument("path", metavar="DIR", nargs="?", default=".", help="the function's folder (default: .)")
    build.add_argument("--runtime", help=f"runtime (default: {DEFAULT_RUNTIMES[REQUIREMENTS]} with a "
                                         f"{REQUIREMENTS}, {DEFAULT_RUNTIMES[PACKAGE_JSON]} with a {PACKAGE_JSON})")
    build.add_argument("--zip", metavar="PATH", help=f"where to write the zip (default: DIR/{OUTPUT})")
    add_output_option(build)
    build.set_defaults(run=cmd_build)
