"""The `faas` verbs for what callers may do and what they did: inline policies, function permissions,
bearer tokens and the audit log."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from faas import settings as settings_module
from faas.cli.common import add_verb, client_for, client_options, command_group, emit, print_json, print_table, \
    print_to_stderr, wants_json
from faas.errors import ConfigError


# --- inline policies ---------------------------------------------------------------------------

def _owner(args: argparse.Namespace) -> tuple[str, str]:
    return ("principal", args.principal) if args.principal is not None else ("role", args.role)


def read_policy_document(document: str | None, file: str | None) -> Any:
    """The policy JSON of --document or --file ('-': stdin), parsed here so a typo fails before any request."""
    if document is not None:
        text, source = document, "--document"
    elif file == "-":
        text, source = sys.stdin.read(), "stdin"
    else:
        assert file is not None
        try:
            text, source = Path(file).read_text(encoding="utf-8"), file
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {file}: {getattr(exc, 'strerror', None) or exc}") from exc
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"the policy in {source} is not JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise ConfigError(f"the policy in {source} must be a JSON object with a Statement")
    return parsed


def cmd_policies_put(args: argparse.Namespace) -> int:
    document = read_policy_document(args.document, args.file)
    kind, owner = _owner(args)
    client_for(args).put_policy(kind, owner, args.policy_name, document)
    emit(args, {"PolicyName": args.policy_name, kind.capitalize(): owner, "PolicyDocument": document},
         f"put policy {args.policy_name} on {kind} {owner}")
    return 0


def cmd_policies_ls(args: argparse.Namespace) -> int:
    print(json.dumps(client_for(args).list_policies(*_owner(args)), indent=2, sort_keys=True))  # JSON either way
    return 0


def cmd_policies_rm(args: argparse.Namespace) -> int:
    kind, owner = _owner(args)
    client_for(args).delete_policy(kind, owner, args.policy_name)
    emit(args, {"PolicyName": args.policy_name, kind.capitalize(): owner, "Deleted": True},
         f"deleted policy {args.policy_name} of {kind} {owner}")
    return 0


# --- function permissions ----------------------------------------------------------------------

def cmd_permissions_add(args: argparse.Namespace) -> int:
    statement = client_for(args).add_permission(
        args.function, statement_id=args.statement_id, action=args.action, principal=args.principal,
        source_arn=args.source_arn, function_url_auth_type=args.function_url_auth_type,
        invoked_via_function_url=True if args.invoked_via_function_url else None)
    print_json(statement)  # JSON either way
    return 0


def cmd_permissions_rm(args: argparse.Namespace) -> int:
    client_for(args).remove_permission(args.function, args.statement_id)
    emit(args, {"FunctionName": args.function, "StatementId": args.statement_id, "Deleted": True},
         f"removed statement {args.statement_id} from {args.function}")
    return 0


def cmd_permissions_get(args: argparse.Namespace) -> int:
    print_json(client_for(args).get_policy(args.function))  # JSON either way
    return 0


# --- tokens and the audit log ------------------------------------------------------------------

def cmd_token(args: argparse.Namespace) -> int:
    token = client_for(args).create_token(args.ttl)
    if wants_json(args):
        print_json(token)
        return 0
    print(token["Token"], flush=True)  # alone on stdout: TOKEN=$(faas token)
    print_to_stderr(f"token {token.get('TokenId', '?')} expires {token.get('Expiration', '?')}; it dies with "
                    f"access key {token.get('AccessKeyId', '?')}")
    return 0


def cmd_token_ls(args: argparse.Namespace) -> int:
    tokens = client_for(args).list_tokens(args.principal)
    emit(args, tokens, lambda: print_table(tokens, {"TOKEN ID": "TokenId", "PRINCIPAL": "Principal",
                                                    "ACCESS KEY ID": "AccessKeyId", "CREATED": "CreatedAt",
                                                    "EXPIRES": "Expiration"}))
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    client_for(args).revoke_token(args.token_id)
    emit(args, {"TokenId": args.token_id, "Revoked": True}, f"revoked token {args.token_id}")
    return 0


def audit_principal(value: str | None, account_id: str) -> str | None:
    """The audit log names callers by ARN; a bare name means that principal's user ARN."""
    if value is None or value.startswith("arn:") or value == "anonymous":
        return value
    return f"arn:aws:iam::{account_id}:user/{value}"


def cmd_audit(args: argparse.Namespace) -> int:
    config = settings_module.load(os.environ, data_dir=args.data_dir)
    entries = client_for(args, config).audit_log(principal=audit_principal(args.principal, config.account_id),
                                                 action=args.action, since=args.since, limit=args.limit)
    oldest_first = entries[::-1]  # like `faas logs`: the newest ends next to the prompt
    emit(args, oldest_first, lambda: print_table(oldest_first, {
        "TIME": "Time", "PRINCIPAL": "Principal", "ACTION": "Action", "RESOURCE": "Resource", "STATUS": "Status",
        "OUTCOME": "Outcome"}))
    return 0


# --- the parser --------------------------------------------------------------------------------

def _owner_options(parser: argparse.ArgumentParser) -> None:
    owner = parser.add_mutually_exclusive_group(required=True)
    owner.add_argument("--principal", metavar="NAME", help="a principal's inline policy")
    owner.add_argument("--role", metavar="NAME", help="a role's inline policy")


def add_access_commands(commands: argparse._SubParsersAction) -> None:
    """Register policies, permissions, token and audit on the `faas` parser."""
    connection = client_options()

    policies = command_group(commands, "policies", "manage inline policies of principals and roles",
                             "Inline policies are IAM policy documents attached to a principal or a role.")
    put = policies.add_parser(
        "put", parents=[connection], help="create or replace an inline policy",
        description="Attach an IAM policy document to a principal or a role, replacing the policy of the same "
                    "name. Example: --document '{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": "
                    "\"Allow\", \"Action\": \"lambda:ListFunctions\", \"Resource\": \"*\"}]}'")
    _owner_options(put)
    put.add_argument("policy_name", metavar="POLICY_NAME", help="1-128 ASCII letters, digits or +=,.@_- characters")
    source = put.add_mutually_exclusive_group(required=True)
    source.add_argument("--document", metavar="JSON", help="the policy document")
    source.add_argument("--file", metavar="F", help="read the policy document from F ('-' for stdin)")
    put.set_defaults(run=cmd_policies_put)
    ls = add_verb(policies, "ls", parents=[connection], help="print the inline policies",
                  description="Print the inline policies of a principal or a role as JSON, by name.")
    _owner_options(ls)
    ls.set_defaults(run=cmd_policies_ls)
    rm = add_verb(policies, "rm", parents=[connection], help="delete an inline policy",
                  description="Delete an inline policy of a principal or a role.")
    _owner_options(rm)
    rm.add_argument("policy_name", metavar="POLICY_NAME", help="policy name")
    rm.set_defaults(run=cmd_policies_rm)

    permissions = command_group(
        commands, "permissions", "manage function policies (who else may invoke)",
        "A function's policy lets other principals invoke it, as Lambda's AddPermission does.")
    add = permissions.add_parser(
        "add", parents=[connection], help="add a statement to a function's policy",
        description="Add a statement to a function's policy (Lambda's AddPermission) and print it.")
    add.add_argument("function", metavar="FUNCTION", help="function name or ARN")
    add.add_argument("--statement-id", required=True, metavar="S", help="the statement's id, unique in the policy")
    add.add_argument("--action", default="lambda:InvokeFunction", metavar="A",
                     help="lambda:InvokeFunction (default), lambda:InvokeFunctionUrl, lambda:* or another "
                          "Lambda action")
    add.add_argument("--principal", required=True, metavar="ARN",
                     help="who: a principal's ARN (arn:aws:iam::<account>:user/NAME), a role ARN, an account "
                          "id, a service such as s3.amazonaws.com, or *")
    add.add_argument("--source-arn", metavar="A", help="only for calls on behalf of this ARN (condition)")
    add.add_argument("--function-url-auth-type", choices=("NONE", "AWS_IAM"),
                     help="with --action lambda:InvokeFunctionUrl: the function URL's auth type")
    add.add_argument("--invoked-via-function-url", action="store_true",
                     help="with --action lambda:InvokeFunction: only for invocations through the function's URL "
                          "(a URL needs this or a wider InvokeFunction grant besides lambda:InvokeFunctionUrl)")
    add.set_defaults(run=cmd_permissions_add)
    rm = add_verb(permissions, "rm", parents=[connection], help="remove a statement from a function's policy",
                  description="Remove a statement from a function's policy (RemovePermission).")
    rm.add_argument("function", metavar="FUNCTION", help="function name or ARN")
    rm.add_argument("statement_id", metavar="SID", help="statement id")
    rm.set_defaults(run=cmd_permissions_rm)
    show = add_verb(permissions, "get", parents=[connection], help="print a function's policy",
                    description="Print a function's policy as JSON (GetPolicy).")
    show.add_argument("function", metavar="FUNCTION", help="function name or ARN")
    show.set_defaults(run=cmd_permissions_get)

    token_help = ("Create a bearer token for the calling principal and print it alone on stdout (its id and "
                  "expiry go to stderr), e.g. curl -H \"Authorization: Bearer $(faas token)\" ... A token "
                  "dies with the access key that signed its creation: disabling or deleting that key revokes "
                  "it. 'faas token ls' lists tokens, 'faas token revoke ID' (or rm) revokes one.")
    ttl_help = "lifetime in seconds, 60 to the server's FAAS_TOKEN_MAX_TTL_S (default 604800, 7 days); default 3600"
    token = commands.add_parser("token", parents=[connection], help="print a bearer token for curl; list or "
                                "revoke tokens", description=token_help)
    token.add_argument("--ttl", type=int, default=3600, metavar="SECONDS", help=ttl_help)
    token.set_defaults(run=cmd_token)
    token_commands = token.add_subparsers(dest="token_command", metavar="COMMAND")
    # The subcommands take the same options again; not given there, the ones before the subcommand stand.
    inherited = client_options()
    for action in inherited._actions:
        action.default = argparse.SUPPRESS
    create = token_commands.add_parser("create", parents=[inherited], help="create a token (the default)",
                                       description=token_help)
    create.add_argument("--ttl", type=int, default=argparse.SUPPRESS, metavar="SECONDS", help=ttl_help)
    create.set_defaults(run=cmd_token)
    ls = add_verb(
        token_commands, "ls", parents=[inherited], help="list live tokens",
        description="List a principal's live bearer tokens (never the tokens): id, principal, the access key "
                    "that minted each, creation and expiry.")
    ls.add_argument("--principal", metavar="P", help="this principal's tokens (default: the caller's)")
    ls.set_defaults(run=cmd_token_ls)
    revoke = token_commands.add_parser("revoke", aliases=["rm"], parents=[inherited], help="revoke a token",
                                       description="Revoke a bearer token by its id (see 'faas token ls'): "
                                                   "requests with it are refused from then on.")
    revoke.add_argument("token_id", metavar="ID", help="token id, tok-...")
    revoke.set_defaults(run=cmd_token_revoke)

    audit = commands.add_parser(
        "audit", parents=[connection], help="print the audit log",
        description="Print the latest audit log entries, oldest first: control-plane changes and every "
                    "refused request (time, principal, action, resource, status, outcome).")
    audit.add_argument("--principal", metavar="P",
                       help="only this caller: an ARN, or a principal's name (taken as "
                            "arn:aws:iam::<FAAS_ACCOUNT_ID>:user/P)")
    audit.add_argument("--action", metavar="A", help="only this action, e.g. faas:CreatePrincipal")
    audit.add_argument("--since", metavar="ISO",
                       help="only entries at or after this ISO 8601 time (UTC when it names no zone)")
    audit.add_argument("--limit", type=int, metavar="N", help="at most N entries, 1-1000 (server default 100)")
    audit.set_defaults(run=cmd_audit)
