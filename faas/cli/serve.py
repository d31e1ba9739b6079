"""The verbs that run on the platform's machine rather than through its API: `faas serve`, `faas images
build` and `faas keys rotate`, with the setting options they read like `faas serve` does."""

from __future__ import annotations

import argparse
import asyncio
import os
import textwrap
from collections.abc import Sequence

from faas import settings as settings_module
from faas.cli.common import add_output_option, emit, escape_help, print_to_stderr, usage
from faas.errors import FaasError, StartupError


def settings_from(args: argparse.Namespace) -> settings_module.Settings:
    """The settings as `faas serve` loads them: its options (see add_setting_options) over FAAS_* variables."""
    given = {s.name: getattr(args, s.name) for s in settings_module.SETTINGS
             if s.flag and getattr(args, s.name, None) is not None}
    return settings_module.load(os.environ, **given)


def cmd_serve(args: argparse.Namespace) -> int:
    config = settings_from(args)
    from faas import server  # lazily: the client verbs should not pay for the server's imports

    return server.run(config)


def cmd_images_build(args: argparse.Namespace) -> int:
    config = settings_module.load(os.environ)
    import docker  # lazily, as above

    from faas.sandbox import images

    try:
        docker_client = docker.from_env()
        docker_client.ping()
    except docker.errors.DockerException as exc:
        raise StartupError(f"Docker is not reachable ({exc}); start dockerd first") from exc
    runtimes = [args.runtime] if args.runtime else None  # None: every runtime the platform knows
    try:
        refs = images.ensure_images(docker_client, prefix=config.image_prefix, progress=print_to_stderr,
                                    runtimes=runtimes, mirror=config.debian_mirror or None)
    except docker.errors.DockerException as exc:
        raise FaasError(f"building runtime images failed: {exc}") from exc
    emit(args, dict(sorted(refs.items())), "\n".join(f"{runtime}\t{ref}" for runtime, ref in sorted(refs.items())))
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    config = settings_from(args)
    from faas import rotation  # lazily: it brings the store, which the client verbs do without

    new_key_id = asyncio.run(rotation.rotate_master_key(config, print_to_stderr))
    emit(args, {"MasterKeyId": new_key_id}, f"new master key: {new_key_id}")
    return 0


def _default_text(setting: settings_module.Setting) -> str:
    if isinstance(setting.default, tuple):
        return ",".join(setting.default) or "empty"
    return "empty" if setting.default in ("", None) else str(setting.default)


def add_setting_options(parser: argparse.ArgumentParser, names: Sequence[str] | None = None) -> None:
    """`faas serve`'s setting options (or only those named), read back by settings_from()."""
    for s in settings_module.SETTINGS:
        if s.flag and (names is None or s.name in names):
            parser.add_argument(s.option, dest=s.name, metavar=s.name.split("_")[-1].upper(),
                                help=escape_help(f"{s.help} (env {s.env}, default {_default_text(s)})"))


def _serve_epilog() -> str:
    env_only = [s for s in settings_module.SETTINGS if not s.flag]
    width = max(len(s.env) for s in env_only)
    lines = ["settings read only from the environment:"]
    for s in env_only:
        text = f"{s.help} (default: {_default_text(s)})"
        lines.extend(textwrap.wrap(text, 100, initial_indent=f"  {s.env.ljust(width)}  ",
                                   subsequent_indent=" " * (width + 4)))
    lines.append("")
    lines.extend(textwrap.wrap("Options win over their FAAS_* variables. At start the server writes "
                               "<data-dir>/endpoint and <data-dir>/credentials, which the client commands "
                               "read.", 100, break_on_hyphens=False))
    return escape_help("\n".join(lines))


def add_serve_commands(commands: argparse._SubParsersAction) -> None:
    """Register serve and images on the `faas` parser (keys rotate is in the keys group)."""
    serve = commands.add_parser("serve", help="run the platform", description="Run the platform: the Lambda API, "
                                "the invoke path and the execution environments.", epilog=_serve_epilog(),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_setting_options(serve)
    serve.set_defaults(run=cmd_serve)

    images = commands.add_parser("images", help="manage the runtime images",
                                 description="Manage the locally built runtime images.")
    image_commands = images.add_subparsers(dest="images_command", metavar="COMMAND")
    build = image_commands.add_parser(
        "build", help="build the runtime images that are missing",
        description="Build the runtime images whose recipe changed or that are missing (the others are "
                    "reused) and print their references. Needs a running Docker engine; reads "
                    "FAAS_IMAGE_PREFIX.")
    build.add_argument("--runtime", metavar="R", help="only this runtime, e.g. python3.13 (default: all)")
    add_output_option(build)
    build.set_defaults(run=cmd_images_build)
    images.set_defaults(run=lambda args: usage(images))
