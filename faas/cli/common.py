"""What the `faas` verbs share: their connection options, the client they build from them, and output."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from faas import settings as settings_module
from faas.client.api import Client
from faas.client.transport import Transport, UploadProgress
from faas.errors import ConfigError

T = TypeVar("T", bound=Transport)


def print_to_stderr(*parts: Any) -> None:
    print(*parts, file=sys.stderr, flush=True)


def print_error(message: str) -> None:
    print_to_stderr(f"error: {message}")


def table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def print_table(items: Iterable[Mapping[str, Any]], columns: Mapping[str, str]) -> None:
    """A table with a column per (heading, field) of `columns`."""
    print(table([list(columns), *([str(item.get(field, "")) for field in columns.values()] for item in items)]))


OUTPUT_FORMATS = ("text", "json")


def add_output_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """`-o/--output text|json`: every verb prints either its human form or one JSON document on stdout."""
    parser.add_argument("-o", "--output", choices=OUTPUT_FORMATS, default=None,
                        help="text (default, for people) or json (one JSON document on stdout, for scripts; "
                             "env FAAS_OUTPUT)")


def output_format(args: argparse.Namespace) -> str:
    chosen = getattr(args, "output", None) or os.environ.get("FAAS_OUTPUT") or "text"
    if chosen not in OUTPUT_FORMATS:
        raise ConfigError(f"FAAS_OUTPUT={chosen!r} is not one of: {', '.join(OUTPUT_FORMATS)}")
    return chosen


def wants_json(args: argparse.Namespace) -> bool:
    return output_format(args) == "json"


def print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, default=str, ensure_ascii=False))


def emit(args: argparse.Namespace, document: Any, text: Callable[[], None] | str) -> None:
    """Print a verb's result: `document` as JSON with -o json, else `text` (a string, or a function that
    prints the human form). Progress and hints go to stderr either way, so stdout stays parseable."""
    if wants_json(args):
        print_json(document)
    elif callable(text):
        text()
    else:
        print(text)


def key_value_pairs(pairs: Sequence[str], option: str, example: str) -> dict[str, str]:
    """`option`'s KEY=VALUE arguments as a dict (a later key wins); `example` shows one in the error."""
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{option} {pair!r} is not KEY=VALUE (e.g. {example})")
        values[key] = value
    return values


def escape_help(text: str) -> str:
    return text.replace("%", "%%")  # argparse %-formats help strings


def _upload_progress(args: argparse.Namespace) -> UploadProgress | None:
    choice = getattr(args, "progress", None)  # True (--progress), False (--no-progress) or None: auto
    if choice is False or (choice is None and not sys.stderr.isatty()):
        return None
    return UploadProgress(sys.stderr)  # rewritten in place on a terminal, a line per 10% otherwise


def client_for(args: argparse.Namespace, config: settings_module.Settings | None = None,
               client_class: type[T] = Client) -> T:  # type: ignore[assignment]
    config = config or settings_module.load(os.environ, data_dir=args.data_dir)
    return client_class.from_settings(config, os.environ, endpoint_url=args.endpoint_url, profile=args.profile,
                                      region=args.region, progress=_upload_progress(args), ca_bundle=args.ca_bundle)


def client_options(profile: bool = True) -> argparse.ArgumentParser:
    """The connection options of every client verb; `profile=False` leaves --profile to the verb. Each is
    found the same way for every verb (faas.client.discovery): the option, else its environment variable,
    else the data dir's file, else the default."""
    parent = argparse.ArgumentParser(add_help=False)
    add_output_option(parent)
    group = parent.add_argument_group("connection (each: the option, else the environment, else the data dir's "
                                      "files, else the default)")
    group.add_argument("--endpoint-url", metavar="URL",
                       help="the platform's URL (env FAAS_ENDPOINT_URL, else AWS_ENDPOINT_URL; default: the URL in "
                            "<data-dir>/endpoint, written by 'faas serve', else http://FAAS_HOST:FAAS_PORT)")
    data_dir = next(s for s in settings_module.SETTINGS if s.name == "data_dir")
    group.add_argument("--data-dir", metavar="DIR",
                       help=escape_help(f"the server's data dir, where endpoint and credentials are found "
                                         f"(env {data_dir.env}, default {data_dir.default})"))
    group.add_argument("--ca-bundle", metavar="FILE",
                       help="PEM file of the CA certificates to verify an https:// endpoint with, instead of the "
                            "system's; for a self-signed certificate, the certificate itself (env AWS_CA_BUNDLE)")
    group.add_argument("--region", metavar="REGION",
                       help="the region requests are signed for (env AWS_REGION, else AWS_DEFAULT_REGION; default: "
                            "FAAS_REGION's, us-east-1)")
    if profile:
        group.add_argument("--profile", metavar="NAME",
                           help="profile in the credentials file: AWS_SHARED_CREDENTIALS_FILE when set, else "
                                "<data-dir>/credentials (default: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                                "when both are set, else the profile AWS_PROFILE names, else 'default')")
    return parent


# Every group names its verbs ls, get and rm; the names other tools (and older faas) use still work.
VERB_ALIASES = {"ls": ["list"], "get": ["show"], "rm": ["delete", "remove"]}


def add_verb(group: argparse._SubParsersAction, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A verb of a command group, with the usual aliases of ls, get and rm (VERB_ALIASES)."""
    return group.add_parser(name, aliases=VERB_ALIASES.get(name, []), **kwargs)


def usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def command_group(commands: argparse._SubParsersAction, name: str, help: str, description: str,
                  ) -> argparse._SubParsersAction:
    parser = commands.add_parser(name, help=help, description=description)
    parser.set_defaults(run=lambda args: usage(parser))
    return parser.add_subparsers(dest=f"{name}_command", metavar="COMMAND")
