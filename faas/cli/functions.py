"""The `faas` verbs for functions: deploy, invoke, url, ls and rm (`faas logs` is faas.cli.logs)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from faas import settings as settings_module
from faas.cli.build import build_zip
from faas.cli.common import add_verb, client_for, client_options, key_value_pairs, print_error, print_to_stderr, table
from faas.cli.packaging import code_sha256, read_code
from faas.client.api import Client
from faas.client.transport import ClientError
from faas.errors import ConfigError

DEFAULT_ROLE_NAME = "faas-default"
READY_WAIT_S = 60.0


def parse_env(pairs: Sequence[str]) -> dict[str, str]:
    return key_value_pairs(pairs, "--env", "LOG_LEVEL=debug")


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
    needed = (("DIR", args.path), ("--name", args.name), ("--runtime", args.runtime), ("--handler", args.handler))
    missing = [option for option, value in needed if value is None]
    if missing:
        raise ConfigError(f"deploy needs {', '.join(missing)} (or -f template.yaml to deploy a SAM template)")
    config = settings_module.load(os.environ, data_dir=args.data_dir)
    zip_bytes = build_zip(Path(args.path), args.runtime) if args.build else read_code(Path(args.path))
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


def add_function_commands(commands: argparse._SubParsersAction) -> None:
    """Register deploy, invoke, url, ls and rm on the `faas` parser."""
    connection = client_options()

    # faas.cli.sam adds the options of a SAM template and deploys one when given.
    deploy = commands.add_parser(
        "deploy", parents=[connection], help="create or update a function from a folder, or a SAM template's",
        description="Zip a folder (deterministically; __pycache__ and .git are left out) or take a .zip, and "
                    "create the function, or update its code and configuration when it exists. On update only "
                    "the options given change. With -f (or with no DIR and --name, in a folder with a "
                    "template.yaml), deploy the functions of an AWS SAM template instead.")
    deploy.add_argument("path", metavar="DIR", nargs="?", help="folder with the function's code, or a .zip file")
    deploy.add_argument("--name", help="function name")
    deploy.add_argument("--runtime", help="runtime, e.g. python3.13 or nodejs20.x")
    deploy.add_argument("--handler", help="handler, e.g. app.handler")
    deploy.add_argument("--memory", type=int, metavar="MB", help="memory size in MB (server default: 128)")
    deploy.add_argument("--timeout", type=int, metavar="S", help="timeout in seconds (server default: 3)")
    deploy.add_argument("--env", action="append", metavar="K=V",
                        help="environment variable; repeat for several; given at all, it replaces the whole set")
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
    url_get = add_verb(url_commands, "get", parents=[connection], help="print a function's URL",
                       description="Print the function's URL configuration as JSON.")
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
