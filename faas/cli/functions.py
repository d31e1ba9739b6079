"""The `faas` verbs for functions: deploy, invoke, url, ls and rm (`faas logs` is faas.cli.logs)."""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from faas import settings as settings_module
from faas.cli.build import build_zip
from faas.cli.common import add_verb, client_for, client_options, emit, print_error, print_json, print_to_stderr, \
    table, wants_json
from faas.cli.handler_check import handler_warning
from faas.cli.packaging import code_sha256, read_code
from faas.cli.variables import VariableOptions, desired_variables
from faas.client.api import Client
from faas.client.transport import ClientError
from faas.errors import ConfigError

DEFAULT_ROLE_NAME = "faas-default"
READY_WAIT_S = 60.0
PAYLOAD_EXCERPT = 72  # characters of a long payload line shown around an error


def _current_configuration(client: Client, name: str) -> dict[str, Any] | None:
    try:
        return client.get_function(name)["Configuration"]
    except ClientError as exc:
        if exc.code != "ResourceNotFoundException":
            raise
        return None


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


# Client.update_function_configuration's argument names, and the FunctionConfiguration fields they set.
CONFIGURATION_FIELDS = {"runtime": "Runtime", "handler": "Handler", "role": "Role", "memory_size": "MemorySize",
                        "timeout": "Timeout", "description": "Description"}


def current_variables(configuration: dict[str, Any]) -> dict[str, str]:
    return dict((configuration.get("Environment") or {}).get("Variables") or {})


def changed_settings(desired: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """The settings of `desired` (None: not given) that differ from the current configuration: what an update
    sends. Nothing differing sends nothing, so an unchanged redeploy makes no new revision."""
    deployed = {option: current.get(field) for option, field in CONFIGURATION_FIELDS.items()}
    deployed["description"] = deployed["description"] or ""
    deployed["environment"] = current_variables(current)
    return {option: value for option, value in desired.items()
            if value is not None and value != deployed[option]}


def _zip_reader(zip_bytes: bytes) -> Callable[[str], bytes | None]:
    archive = zipfile.ZipFile(io.BytesIO(zip_bytes))
    names = set(archive.namelist())
    return lambda path: archive.read(path) if path in names else None


def warn_about_handler(runtime: str, handler: str, zip_bytes: bytes) -> None:
    try:
        warning = handler_warning(runtime, handler, _zip_reader(zip_bytes))
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError) as exc:  # RuntimeError: an encrypted entry
        warning = f"the zip could not be read to look for the handler {handler} ({exc})"
    if warning is not None:
        print_to_stderr(f"warning: {warning}; deploying anyway (an import can be dynamic)")


def _deploy_update(client: Client, args: argparse.Namespace, current: dict[str, Any], zip_bytes: bytes,
                   variables: dict[str, str] | None) -> tuple[dict[str, Any], list[str]]:
    """Update what differs, configuration first (where bad flags are refused, before new code goes live);
    returns the configuration and what changed."""
    desired = {"runtime": args.runtime, "handler": args.handler, "role": args.role, "memory_size": args.memory,
               "timeout": args.timeout, "description": args.description, "environment": variables}
    changes = changed_settings(desired, current)
    result, changed = current, []
    if changes:
        result = client.update_function_configuration(args.name, **changes)
        changed.append("configuration (" + ", ".join(sorted(changes)) + ")")
    if current.get("CodeSha256") != code_sha256(zip_bytes):
        _wait_until_ready(client, args.name, result)
        result = client.update_function_code(args.name, zip_bytes)
        changed.append("code")
    return result, changed


def cmd_deploy(args: argparse.Namespace) -> int:
    if args.path is None or args.name is None:
        raise ConfigError("deploy needs DIR and --name (or -f template.yaml to deploy a SAM template)")
    config = settings_module.load(os.environ, data_dir=args.data_dir)
    client = client_for(args, config)
    current = _current_configuration(client, args.name)
    if current is None:
        missing = [option for option, value in (("--runtime", args.runtime), ("--handler", args.handler))
                   if value is None]
        if missing:
            raise ConfigError(f"{args.name} does not exist yet: creating it needs {' and '.join(missing)} "
                              "(an update takes them from the function)")
    runtime = args.runtime or (current or {}).get("Runtime")
    handler = args.handler or (current or {}).get("Handler")
    if runtime is None or handler is None:
        raise ConfigError(f"{args.name} is an image function (no runtime or handler): deploy zips to zip functions")
    wanted = VariableOptions(files=[Path(f) for f in args.env_file or []], pairs=args.env or [],
                             unset=args.unset_env or [], replace=args.replace_env)
    # GetFunction shows the variables to whoever may call it (as on AWS): merging never drops unseen ones.
    variables = desired_variables(wanted, current_variables(current or {}))
    zip_bytes = build_zip(Path(args.path), runtime) if args.build else read_code(Path(args.path))
    warn_about_handler(runtime, handler, zip_bytes)
    options = {"memory_size": args.memory, "timeout": args.timeout, "environment": variables,
               "description": args.description}
    if current is None:
        role = args.role or f"arn:aws:iam::{config.account_id}:role/{DEFAULT_ROLE_NAME}"
        result = client.create_function(args.name, runtime=runtime, handler=handler, role=role,
                                        zip_file=zip_bytes, **options)
        summary = f"created {args.name}"
    else:
        result, changed = _deploy_update(client, args, current, zip_bytes, variables)
        summary = (f"updated {args.name}: {', '.join(changed)}" if changed
                   else f"unchanged {args.name} (same code and configuration: no new revision)")
    result = _wait_until_ready(client, args.name, result)

    def text() -> None:
        print(summary)
        print(f"  FunctionArn: {result.get('FunctionArn')}")
        print(f"  CodeSha256:  {result.get('CodeSha256')}")
        print(f"  CodeSize:    {result.get('CodeSize')} bytes")
    emit(args, result, text)
    return 0


def payload_error(payload: bytes, source: str) -> str | None:
    """Why `payload` is not JSON, with the line and a caret under the position; None when it is JSON (or empty:
    the function gets no event body, as from `aws lambda invoke` without --payload)."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"the payload ({source}) is not UTF-8 text: byte {exc.start} is {payload[exc.start]:#04x}"
    if not text.strip():
        return None
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        lines = text.split("\n")  # as the decoder counts lines: an error may be on the empty last one
        line = lines[exc.lineno - 1].rstrip("\r") if exc.lineno <= len(lines) else ""
        column = exc.colno - 1
        start = max(0, column - PAYLOAD_EXCERPT // 2)  # a long line is shown around the position
        excerpt = line[start:start + PAYLOAD_EXCERPT].replace("\t", " ")
        return (f"the payload ({source}) is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}\n"
                f"  {excerpt}\n  {' ' * (column - start)}^")
    return None


def _read_payload(args: argparse.Namespace) -> tuple[bytes, str]:
    if args.payload_file == "-":
        return sys.stdin.buffer.read(), "stdin"
    if args.payload_file is not None:
        try:
            return Path(args.payload_file).read_bytes(), args.payload_file
        except OSError as exc:
            raise ConfigError(f"cannot read {args.payload_file}: {exc.strerror}") from exc
    return (args.payload if args.payload is not None else "{}").encode("utf-8"), "--payload"


def _json_or_text(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except ValueError:  # also a payload that is not UTF-8
        return payload.decode("utf-8", "replace")


def cmd_invoke(args: argparse.Namespace) -> int:
    payload, source = _read_payload(args)
    error = payload_error(payload, source)
    if error is not None:
        raise ConfigError(error)
    if args.asynchronous:
        # 202: the platform stored the event and runs it (and its retries) on its own.
        request_id = client_for(args).invoke_async(args.name, payload)
        emit(args, {"StatusCode": 202, "RequestId": request_id}, request_id)
        return 0
    result = client_for(args).invoke(args.name, payload, log_tail=args.log)
    if wants_json(args):
        document = {"StatusCode": result.status, "FunctionError": result.function_error,
                    "Payload": _json_or_text(result.payload)}
        if args.log:
            document["LogResult"] = result.log_tail or ""
        print_json(document)
    else:
        if args.log and result.log_tail:
            sys.stderr.write(result.log_tail if result.log_tail.endswith("\n") else result.log_tail + "\n")
            sys.stderr.flush()
        out = sys.stdout.buffer
        out.write(result.payload)
        if result.payload and not result.payload.endswith(b"\n"):
            out.write(b"\n")
        out.flush()
    if result.function_error:
        print_error(f"the function failed ({result.function_error})")
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


def path_style_url(client: Client, function_url: str) -> str:
    """The URL's path-style twin on the API endpoint, which needs no wildcard DNS name."""
    url_id = function_url.split("//", 1)[1].split(".", 1)[0]
    return f"{client.endpoint_url.rstrip('/')}/lambda-url/{url_id}/"


def how_to_call(auth_type: str, region: str) -> str:
    """What a caller of a URL needs (faas.sources.urls checks it before reading the body)."""
    if auth_type == "NONE":
        return "auth type NONE: anyone may call it while the function's policy allows principal *"
    return ("auth type AWS_IAM: each request needs a caller allowed lambda:InvokeFunctionUrl and "
            "lambda:InvokeFunction on the function, with either a bearer token: curl -H \"Authorization: Bearer "
            f"$(faas token)\" URL, or a SigV4 signature for the service lambda: curl --aws-sigv4 "
            f"\"aws:amz:{region}:lambda\" --user \"$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY\" URL (or a presigned "
            "URL, or any AWS SDK's signer)")


def _print_url(args: argparse.Namespace, client: Client, config: dict[str, Any]) -> None:
    """The URL and its path-style twin on stdout (-o json: the configuration with PathStyleUrl), and how to
    call it on stderr."""
    path_style = path_style_url(client, config["FunctionUrl"])
    emit(args, {**config, "PathStyleUrl": path_style}, f"{config['FunctionUrl']}\n{path_style}")
    print_to_stderr(how_to_call(config["AuthType"], client.region))


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
                    print_error(f"the URL {config['FunctionUrl']} was created, but it answers 403 until the "
                                f"function's policy allows it: adding statement {statement['statement_id']} failed")
                    raise
                # An earlier URL of this function left it: keep it (faas permissions get prints it).
                print_to_stderr(f"kept the statement {statement['statement_id']} already in the function's policy")
    _print_url(args, client, config)
    return 0


def cmd_url_get(args: argparse.Namespace) -> int:
    client = client_for(args)
    _print_url(args, client, client.get_url(args.name))
    return 0


def cmd_url_delete(args: argparse.Namespace) -> int:
    client_for(args).delete_url(args.name)
    emit(args, {"FunctionName": args.name, "Deleted": True}, f"deleted the URL of {args.name}")
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    functions = client_for(args).list_functions()
    rows = [["NAME", "RUNTIME", "MEMORY", "TIMEOUT", "LAST MODIFIED"]]
    for function in functions:
        rows.append([str(function.get("FunctionName", "")), str(function.get("Runtime", "")),
                     f"{function.get('MemorySize', '')} MB", f"{function.get('Timeout', '')} s",
                     str(function.get("LastModified", ""))])
    emit(args, functions, table(rows))
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    client_for(args).delete_function(args.name)
    emit(args, {"FunctionName": args.name, "Deleted": True}, f"deleted {args.name}")
    return 0


def add_function_commands(commands: argparse._SubParsersAction) -> None:
    """Register deploy, invoke, url, ls and rm on the `faas` parser."""
    connection = client_options()

    # faas.cli.sam adds the options of a SAM template and deploys one when given.
    deploy = commands.add_parser(
        "deploy", parents=[connection], help="create or update a function from a folder, or a SAM template's",
        description="Zip a folder (deterministically; __pycache__ and .git are left out) or take a .zip, and "
                    "create the function, or update its code and configuration when it exists. On update only "
                    "the options given change, and only what differs is sent: the same code and settings again "
                    "make no new revision (warm environments stay warm). Before uploading, the handler's module "
                    "and function are looked for by parsing the code (never running it); a miss is a warning. "
                    "With -o json, the function's final configuration is printed. With -f (or with no DIR and --name, in a folder with a "
                    "template.yaml), deploy the functions of an AWS SAM template instead.")
    deploy.add_argument("path", metavar="DIR", nargs="?", help="folder with the function's code, or a .zip file")
    deploy.add_argument("--name", help="function name")
    deploy.add_argument("--runtime", help="runtime, e.g. python3.13 or nodejs20.x (needed on create; an update "
                                          "keeps the function's)")
    deploy.add_argument("--handler", help="handler, e.g. app.handler (needed on create; an update keeps the "
                                          "function's)")
    deploy.add_argument("--memory", type=int, metavar="MB", help="memory size in MB (server default: 128)")
    deploy.add_argument("--timeout", type=int, metavar="S", help="timeout in seconds (server default: 3)")
    variables = deploy.add_argument_group(
        "environment variables", "Merged into the function's current variables in this order: --env-file, then "
                                 "--env (a later value wins), then --unset-env; with no such option they stay as "
                                 "they are.")
    variables.add_argument("--env", action="append", metavar="K=V",
                           help="set a variable, keeping the others; repeat for several")
    variables.add_argument("--env-file", action="append", metavar="FILE",
                           help="set the variables of a dotenv file: KEY=VALUE lines, # comments, optional quotes "
                                "and 'export '; repeatable")
    variables.add_argument("--unset-env", action="append", metavar="K", help="remove a variable; repeatable")
    variables.add_argument("--replace-env", action="store_true",
                           help="the --env-file and --env variables become the whole set (with neither: no "
                                "variables)")
    deploy.add_argument("--description", metavar="D", help="description")
    deploy.add_argument("--build", action="store_true",
                        help="bundle the folder's requirements.txt or package.json dependencies first (as 'faas build')")
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
                    "function fails (the error JSON is still printed). A payload that is not JSON is refused "
                    "before any request, showing where. With -o json: {StatusCode, FunctionError, Payload (parsed "
                    "when JSON), LogResult (with --log)}. With --async the event is queued "
                    "(InvocationType Event) and only its request id is printed.")
    invoke.add_argument("name", help="function name or ARN")
    payload = invoke.add_mutually_exclusive_group()
    payload.add_argument("--payload", metavar="JSON", help="the event as JSON (default: {})")
    payload.add_argument("--payload-file", metavar="FILE", help="read the event from FILE ('-' for stdin)")
    mode = invoke.add_mutually_exclusive_group()
    mode.add_argument("--log", action="store_true", help="print the last 4 KB of the log to stderr (-o json: as LogResult)")
    mode.add_argument("--async", dest="asynchronous", action="store_true",
                      help="queue the event (retried on failure, sent to destinations) and print its request id")
    invoke.set_defaults(run=cmd_invoke)

    url = commands.add_parser("url", help="manage a function's URL",
                              description="Create, show or delete the HTTP endpoint of a function (a function "
                                          "URL), which webhooks and browsers call.")
    url_commands = url.add_subparsers(dest="url_command", metavar="ACTION", required=True)
    url_create = url_commands.add_parser("create", parents=[connection], help="give a function a URL",
                                         description="Create the function's URL and print it, then its path-style "
                                                     "twin (/lambda-url/<url-id>/ on the API endpoint, which needs no "
                                                     "DNS name); how to call it goes to stderr.")
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
    url_get = add_verb(url_commands, "get", parents=[connection], help="print a function's URL",
                       description="Print the function's URL and its path-style twin (-o json: the URL "
                                   "configuration with PathStyleUrl); how to call it goes to stderr.")
    url_get.add_argument("name", help="function name or ARN")
    url_get.set_defaults(run=cmd_url_get)
    url_delete = add_verb(url_commands, "rm", parents=[connection], help="remove a function's URL",
                          description="Delete the function's URL.")
    url_delete.add_argument("name", help="function name or ARN")
    url_delete.set_defaults(run=cmd_url_delete)

    ls = add_verb(commands, "ls", parents=[connection], help="list functions",
                  description="List the functions: name, runtime, memory, timeout, last modified.")
    ls.set_defaults(run=cmd_ls)

    rm = add_verb(commands, "rm", parents=[connection], help="delete a function",
                  description="Delete a function.")
    rm.add_argument("name", help="function name or ARN")
    rm.set_defaults(run=cmd_rm)
