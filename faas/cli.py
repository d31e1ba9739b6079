"""The `faas` command: `faas serve` runs the platform, the other verbs are a thin client of its REST API."""

from __future__ import annotations

import argparse
import json
import base64
import hashlib
import io
import os
import stat
import sys
import textwrap
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from faas import settings as settings_module
from faas.client.api import Client
from faas.client.transport import ClientError, EndpointUnreachable, UploadProgress
from faas.errors import ConfigError, FaasError, StartupError

SKIPPED_DIRS = frozenset({"__pycache__", ".git"})
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can hold: same folder, same CodeSha256
DEFAULT_ROLE_NAME = "faas-default"
READY_WAIT_S = 60.0


# --- packaging ---------------------------------------------------------------------------------

def zip_directory(directory: Path) -> bytes:
    """A deterministic zip of a folder: sorted entries, fixed timestamps and modes, no caches or .git."""
    files: list[tuple[str, Path]] = []
    for root, dirnames, filenames in os.walk(directory):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
        for filename in filenames:
            path = Path(root, filename)
            if path.is_file():  # skips sockets, fifos and dangling links
                files.append((path.relative_to(directory).as_posix(), path))
    if not files:
        raise ConfigError(f"{directory} holds no files to deploy")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, path in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
            info.create_system = 3  # unix, whatever the host, so the modes below mean the same
            executable = path.stat().st_mode & 0o111
            info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=6)
    return buffer.getvalue()


def code_sha256(zip_bytes: bytes) -> str:
    """As Lambda reports CodeSha256: base64 of the digest, not hex."""
    return base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode("ascii")


def read_code(path: Path) -> bytes:
    """The zip to deploy: a folder is zipped, a .zip file is sent as it is."""
    if path.is_dir():
        return zip_directory(path)
    if path.is_file() and zipfile.is_zipfile(path):
        return path.read_bytes()
    raise ConfigError(f"{path} is neither a folder nor a zip file")


def parse_env(pairs: Sequence[str]) -> dict[str, str]:
    variables = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--env {pair!r} is not KEY=VALUE")
        variables[key] = value
    return variables


# --- output helpers ----------------------------------------------------------------------------

def print_to_stderr(*parts: Any) -> None:
    print(*parts, file=sys.stderr, flush=True)


def _error(message: str) -> None:
    print_to_stderr(f"error: {message}")


def table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


# --- commands ----------------------------------------------------------------------------------

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
    for runtime, ref in sorted(refs.items()):
        print(f"{runtime}\t{ref}")
    return 0


def _upload_progress(args: argparse.Namespace) -> UploadProgress | None:
    choice = getattr(args, "progress", None)  # True (--progress), False (--no-progress) or None: auto
    if choice is False or (choice is None and not sys.stderr.isatty()):
        return None
    return UploadProgress(sys.stderr)  # rewritten in place on a terminal, a line per 10% otherwise


def client_for(args: argparse.Namespace, config: settings_module.Settings | None = None) -> Client:
    config = config or settings_module.load(os.environ, data_dir=args.data_dir)
    return Client.from_settings(config, os.environ, endpoint_url=args.endpoint_url, profile=args.profile,
                                progress=_upload_progress(args), ca_bundle=args.ca_bundle)


def _wait_until_ready(client: Client, name: str, configuration: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + READY_WAIT_S
    while (configuration.get("State") == "Pending" or configuration.get("LastUpdateStatus") == "InProgress") \
            and time.monotonic() < deadline:
        time.sleep(0.5)
        configuration = client.get_function(name)["Configuration"]
    if configuration.get("State") == "Failed" or configuration.get("LastUpdateStatus") == "Failed":
        reason = configuration.get("StateReason") or configuration.get("LastUpdateStatusReason") or "no reason given"
        raise ClientError("FunctionFailed", f"{name} is not usable: {reason}", 200)
    return configuration


def cmd_deploy(args: argparse.Namespace) -> int:
    config = settings_module.load(os.environ, data_dir=args.data_dir)
    zip_bytes = read_code(Path(args.path))
    environment = parse_env(args.env) if args.env is not None else None
    client = client_for(args, config)
    try:
        current = client.get_function(args.name)["Configuration"]
    except ClientError as exc:
        if exc.code != "ResourceNotFoundException":
            raise
        current = None
    options = {"memory_size": args.memory, "timeout": args.timeout, "environment": environment,
               "description": args.description}
    if current is None:
        role = args.role or f"arn:aws:iam::{config.account_id}:role/{DEFAULT_ROLE_NAME}"
        result = client.create_function(args.name, runtime=args.runtime, handler=args.handler, role=role,
                                        zip_file=zip_bytes, **options)
        verb = "created"
    else:
        # Only what was given changes: a redeploy without --env keeps the function's variables.
        # Configuration first: that is where bad flags are refused, before any new code goes live.
        result = client.update_function_configuration(args.name, runtime=args.runtime, handler=args.handler,
                                                      role=args.role, **options)
        if current.get("CodeSha256") != code_sha256(zip_bytes):
            _wait_until_ready(client, args.name, result)
            result = client.update_function_code(args.name, zip_bytes)
            verb = "updated"
        else:
            verb = "updated (code unchanged)"
    result = _wait_until_ready(client, args.name, result)
    print(f"{verb} {result.get('FunctionName', args.name)}")
    print(f"  FunctionArn: {result.get('FunctionArn')}")
    print(f"  CodeSha256:  {result.get('CodeSha256')}")
    print(f"  CodeSize:    {result.get('CodeSize')} bytes")
    return 0


def cmd_invoke(args: argparse.Namespace) -> int:
    if args.payload_file == "-":
        payload = sys.stdin.buffer.read()
    elif args.payload_file is not None:
        try:
            payload = Path(args.payload_file).read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read {args.payload_file}: {exc.strerror}") from exc
    else:
        payload = (args.payload if args.payload is not None else "{}").encode("utf-8")
    if args.asynchronous:
        # 202: the platform stored the event and runs it (and its retries) on its own.
        print(client_for(args).invoke_async(args.name, payload))
        return 0
    result = client_for(args).invoke(args.name, payload, log_tail=args.log)
    if args.log and result.log_tail:
        sys.stderr.write(result.log_tail if result.log_tail.endswith("\n") else result.log_tail + "\n")
        sys.stderr.flush()
    out = sys.stdout.buffer
    out.write(result.payload)
    if result.payload and not result.payload.endswith(b"\n"):
        out.write(b"\n")
    out.flush()
    if result.function_error:
        _error(f"the function failed ({result.function_error})")
        return 1
    return 0


# What a NONE URL needs in the function's policy before it answers anyone, with the statement ids the
# AWS console gives them: InvokeFunctionUrl for principal "*" on a NONE URL, and InvokeFunction for "*"
# only when invoked through the URL (so the function does not become invocable by anyone directly).
PUBLIC_URL_STATEMENTS: tuple[dict[str, Any], ...] = (
    {"statement_id": "FunctionURLAllowPublicAccess", "action": "lambda:InvokeFunctionUrl", "principal": "*",
     "function_url_auth_type": "NONE"},
    {"statement_id": "FunctionURLAllowInvokeAction", "action": "lambda:InvokeFunction", "principal": "*",
     "invoked_via_function_url": True},
)


def cmd_url_create(args: argparse.Namespace) -> int:
    cors = {"AllowOrigins": args.cors_origin, "AllowMethods": ["*"]} if args.cors_origin else None
    client = client_for(args)
    config = client.create_url(args.name, args.auth_type, cors)
    if args.auth_type == "NONE":
        for statement in PUBLIC_URL_STATEMENTS:
            try:
                client.add_permission(args.name, **statement)
            except ClientError as exc:
                if exc.code != "ResourceConflictException":
                    _error(f"the URL {config['FunctionUrl']} was created, but it answers 403 until the function's "
                           f"policy allows it: adding statement {statement['statement_id']} failed")
                    raise
                # An earlier URL of this function left it: keep it (faas permissions show prints it).
                print_to_stderr(f"kept the statement {statement['statement_id']} already in the function's policy")
    print(config["FunctionUrl"])
    print(f"auth type: {config['AuthType']}; path-style: /lambda-url/"
          f"{config['FunctionUrl'].split('//', 1)[1].split('.', 1)[0]}/ on the API endpoint", file=sys.stderr)
    return 0


def cmd_url_get(args: argparse.Namespace) -> int:
    print(json.dumps(client_for(args).get_url(args.name), indent=2))
    return 0


def cmd_url_delete(args: argparse.Namespace) -> int:
    client_for(args).delete_url(args.name)
    print(f"deleted the URL of {args.name}")
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    rows = [["NAME", "RUNTIME", "MEMORY", "TIMEOUT", "LAST MODIFIED"]]
    for function in client_for(args).list_functions():
        rows.append([str(function.get("FunctionName", "")), str(function.get("Runtime", "")),
                     f"{function.get('MemorySize', '')} MB", f"{function.get('Timeout', '')} s",
                     str(function.get("LastModified", ""))])
    print(table(rows))
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    client_for(args).delete_function(args.name)
    print(f"deleted {args.name}")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    for invocation in client_for(args).logs(args.name, args.limit):
        log = str(invocation.get("Log") or "")
        sys.stdout.write(log if log.endswith("\n") or not log else log + "\n")
    sys.stdout.flush()
    return 0


# --- the parser --------------------------------------------------------------------------------

def _escape(text: str) -> str:
    return text.replace("%", "%%")  # argparse %-formats help strings


def _default_text(setting: settings_module.Setting) -> str:
    if isinstance(setting.default, tuple):
        return ",".join(setting.default) or "empty"
    return "empty" if setting.default in ("", None) else str(setting.default)


def add_setting_options(parser: argparse.ArgumentParser, names: Sequence[str] | None = None) -> None:
    """`faas serve`'s setting options (or only those named), read back by settings_from()."""
    for s in settings_module.SETTINGS:
        if s.flag and (names is None or s.name in names):
            parser.add_argument(s.option, dest=s.name, metavar=s.name.split("_")[-1].upper(),
                                help=_escape(f"{s.help} (env {s.env}, default {_default_text(s)})"))


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
    return _escape("\n".join(lines))


def client_options(profile: bool = True) -> argparse.ArgumentParser:
    """The connection options of every client verb; `profile=False` leaves --profile to the verb."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("connection")
    group.add_argument("--endpoint-url", metavar="URL",
                       help="the platform's URL (env FAAS_ENDPOINT_URL; default: the URL in <data-dir>/endpoint, "
                            "written by 'faas serve', else http://FAAS_HOST:FAAS_PORT)")
    data_dir = next(s for s in settings_module.SETTINGS if s.name == "data_dir")
    group.add_argument("--data-dir", metavar="DIR",
                       help=_escape(f"the server's data dir, where endpoint and credentials are found "
                                    f"(env {data_dir.env}, default {data_dir.default})"))
    group.add_argument("--ca-bundle", metavar="FILE",
                       help="PEM file of the CA certificates to verify an https:// endpoint with, instead of the "
                            "system's; for a self-signed certificate, the certificate itself (env AWS_CA_BUNDLE)")
    if profile:
        group.add_argument("--profile", metavar="NAME",
                           help="profile in the credentials file: AWS_SHARED_CREDENTIALS_FILE when set, else "
                                "<data-dir>/credentials (default: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                                "when both are set, else the profile 'default')")
    return parent


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faas", description="A self-hosted serverless platform that speaks the AWS Lambda API. "
                                 "'faas serve' runs it; the other commands are clients of a running "
                                 "server, but for 'images build' and 'keys rotate', which run on its machine.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    connection = client_options()

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
    build.set_defaults(run=cmd_images_build)
    images.set_defaults(run=lambda args: usage(images))

    deploy = commands.add_parser(
        "deploy", parents=[connection], help="create or update a function from a folder",
        description="Zip a folder (deterministically; __pycache__ and .git are left out) or take a .zip, and "
                    "create the function, or update its code and configuration when it exists. On update only "
                    "the options given change.")
    deploy.add_argument("path", metavar="DIR", help="folder with the function's code, or a .zip file")
    deploy.add_argument("--name", required=True, help="function name")
    deploy.add_argument("--runtime", required=True, help="runtime, e.g. python3.13 or nodejs20.x")
    deploy.add_argument("--handler", required=True, help="handler, e.g. app.handler")
    deploy.add_argument("--memory", type=int, metavar="MB", help="memory size in MB (server default: 128)")
    deploy.add_argument("--timeout", type=int, metavar="S", help="timeout in seconds (server default: 3)")
    deploy.add_argument("--env", action="append", metavar="K=V",
                        help="environment variable; repeat for several; given at all, it replaces the whole set")
    deploy.add_argument("--description", metavar="D", help="description")
    deploy.add_argument("--role", metavar="ARN",
                        help="execution role (default on create: arn:aws:iam::<FAAS_ACCOUNT_ID>:role/faas-default)")
    progress = deploy.add_mutually_exclusive_group()
    progress.add_argument("--progress", dest="progress", action="store_true", default=None,
                          help="show upload progress of code over 1 MiB (default: when stderr is a terminal)")
    progress.add_argument("--no-progress", dest="progress", action="store_false", help="never show upload progress")
    deploy.set_defaults(run=cmd_deploy)

    invoke = commands.add_parser(
        "invoke", parents=[connection], help="invoke a function and print its result",
        description="Invoke a function synchronously and print its result to stdout. Exits 1 when the "
                    "function fails (the error JSON is still printed). With --async the event is queued "
                    "(InvocationType Event) and only its request id is printed.")
    invoke.add_argument("name", help="function name or ARN")
    payload = invoke.add_mutually_exclusive_group()
    payload.add_argument("--payload", metavar="JSON", help="the event as JSON (default: {})")
    payload.add_argument("--payload-file", metavar="FILE", help="read the event from FILE ('-' for stdin)")
    mode = invoke.add_mutually_exclusive_group()
    mode.add_argument("--log", action="store_true", help="print the last 4 KB of the log to stderr")
    mode.add_argument("--async", dest="asynchronous", action="store_true",
                      help="queue the event (retried on failure, sent to destinations) and print its request id")
    invoke.set_defaults(run=cmd_invoke)

    url = commands.add_parser("url", help="manage a function's URL",
                              description="Create, show or delete the HTTP endpoint of a function (a function "
                                          "URL), which webhooks and browsers call.")
    url_commands = url.add_subparsers(dest="url_command", metavar="ACTION", required=True)
    url_create = url_commands.add_parser("create", parents=[connection], help="give a function a URL",
                                         description="Create the function's URL and print it.")
    url_create.add_argument("name", help="function name or ARN")
    url_create.add_argument("--auth-type", choices=["NONE", "AWS_IAM"], default="AWS_IAM",
                            help="NONE: anyone may call it, once the function's policy allows principal * both "
                                 "lambda:InvokeFunctionUrl and lambda:InvokeFunction via the URL (this command "
                                 "adds the two statements, FunctionURLAllowPublicAccess and "
                                 "FunctionURLAllowInvokeAction); AWS_IAM (default): signed requests or bearer "
                                 "tokens allowed lambda:InvokeFunctionUrl and lambda:InvokeFunction")
    url_create.add_argument("--cors-origin", action="append", metavar="ORIGIN",
                            help="allow browsers on ORIGIN (repeatable; '*' for any)")
    url_create.set_defaults(run=cmd_url_create)
    url_get = url_commands.add_parser("get", parents=[connection], help="print a function's URL",
                                      description="Print the function's URL configuration as JSON.")
    url_get.add_argument("name", help="function name or ARN")
    url_get.set_defaults(run=cmd_url_get)
    url_delete = url_commands.add_parser("delete", parents=[connection], help="remove a function's URL",
                                         description="Delete the function's URL.")
    url_delete.add_argument("name", help="function name or ARN")
    url_delete.set_defaults(run=cmd_url_delete)

    ls = commands.add_parser("ls", parents=[connection], help="list functions",
                             description="List the functions: name, runtime, memory, timeout, last modified.")
    ls.set_defaults(run=cmd_ls)

    rm = commands.add_parser("rm", parents=[connection], help="delete a function",
                             description="Delete a function.")
    rm.add_argument("name", help="function name or ARN")
    rm.set_defaults(run=cmd_rm)

    logs = commands.add_parser("logs", parents=[connection], help="print a function's recent logs",
                               description="Print the logs of a function's latest invocations, oldest first.")
    logs.add_argument("name", help="function name")
    logs.add_argument("--limit", type=int, default=20, metavar="N", help="how many invocations (default 20)")
    logs.set_defaults(run=cmd_logs)

    # Imported here, not at the top: that module uses this one's helpers.
    from faas.cli_identities import add_identity_commands

    add_identity_commands(commands)
    return parser


def usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


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
        _error(f"{exc.code}: {exc.message}")
        return 1
    except EndpointUnreachable as exc:
        _error(f"cannot connect to {exc.endpoint}: {exc.reason}")
        print_to_stderr(f"hint: is 'faas serve' running? endpoint: {exc.endpoint} (from {exc.source})")
        return 1
    except (ConfigError, StartupError) as exc:
        _error(str(exc))
        return 2
    except FaasError as exc:
        _error(str(exc))
        return 1
    except KeyboardInterrupt:
        print_to_stderr("interrupted")
        return 130

