"""The `faas` command: `faas serve` runs the platform, the other verbs are a thin client of its REST API.
This module wires the verbs' modules into one parser and turns their errors into exit statuses."""

from __future__ import annotations

import argparse
import os
import sys
import importlib.metadata
from collections.abc import Sequence

import faas

from faas.cli.access import add_access_commands
from faas.cli.apis import add_api_commands
from faas.cli.completion import add_completion_command
from faas.cli.common import print_error, print_to_stderr, usage
from faas.cli.describe import add_describe_command
from faas.cli.events import add_event_commands
from faas.cli.functions import add_function_commands
from faas.cli.logs import add_logs_command
from faas.cli.identities import add_identity_commands
from faas.cli.queues import add_queue_commands
from faas.cli.sam import add_template_options
from faas.cli.schedules import add_schedule_commands
from faas.cli.serve import add_serve_commands
from faas.cli.top import add_top_command
from faas.cli.topics import add_topic_commands
from faas.cli.triggers import add_trigger_commands
from faas.cli.billing import add_usage_commands
from faas.cli.build import add_build_command
from faas.cli.starter import add_init_command
from faas.client.transport import ClientError, EndpointUnreachable
from faas.errors import ConfigError, FaasError, StartupError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faas", description="A self-hosted serverless platform that speaks the AWS Lambda API. "
                                 "'faas serve' runs it; the other commands are clients of a running "
                                 "server, but for 'images build' and 'keys rotate', which run on its machine.")
    parser.add_argument("--version", action="version", version=f"faas {version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    add_serve_commands(commands)
    add_function_commands(commands)
    add_build_command(commands)
    add_init_command(commands)
    add_template_options(commands.choices["deploy"])
    add_describe_command(commands)
    add_logs_command(commands)
    add_identity_commands(commands)
    add_access_commands(commands)
    add_queue_commands(commands)
    add_topic_commands(commands)
    add_trigger_commands(commands)
    add_event_commands(commands)
    add_api_commands(commands)
    add_schedule_commands(commands)
    add_usage_commands(commands)
    add_top_command(commands)
    add_completion_command(commands, parser)
    return parser


def version() -> str:
    """The installed distribution's version; faas.__version__ when run from a checkout that is not installed."""
    try:
        return importlib.metadata.version("faas")
    except importlib.metadata.PackageNotFoundError:
        return faas.__version__


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help and usage errors: keep main() returning the status
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    if not hasattr(args, "run"):
        return usage(parser)
    try:
        return args.run(args)
    except ClientError as exc:
        # A refusal names whose credentials were refused: a wrong profile or a stale key shows at once.
        refused = f" (credentials: {exc.credentials_source})" if exc.credentials_source else ""
        print_error(f"{exc.code}: {exc.message}{refused}")
        return 1
    except EndpointUnreachable as exc:
        print_error(f"cannot connect to {exc.endpoint}: {exc.reason}")
        print_to_stderr(f"hint: is 'faas serve' running? endpoint: {exc.endpoint} (from {exc.source})")
        return 1
    except (ConfigError, StartupError) as exc:
        print_error(str(exc))
        return 2
    except FaasError as exc:
        print_error(str(exc))
        return 1
    except KeyboardInterrupt:
        print_to_stderr("interrupted")
        return 130
    except BrokenPipeError:
        # The reader of stdout stopped reading (`faas url create NAME | head -n 1`): what it wanted, it has.
        # Later writes (and the interpreter's final flush) go nowhere instead of ending in a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
