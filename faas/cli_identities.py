"""The `faas` verbs for who may do what: principals, access keys, roles, inline policies, function
permissions, bearer tokens, the audit log, and the master key's rotation."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from faas import settings as settings_module
from faas.cli import add_setting_options, client_for, client_options, print_to_stderr, settings_from, table, usage
from faas.errors import ConfigError

_SECTION_RE = re.compile(r"\[([^\]]*)\]")


def _print_table(items: Iterable[Mapping[str, Any]], columns: Mapping[str, str]) -> None:
    """A table with a column per (heading, field) of `columns`."""
    print(table([list(columns), *([str(item.get(field, "")) for field in columns.values()] for item in items)]))


# --- credentials files -------------------------------------------------------------------------

def profile_text(profile: str, key_id: str, secret: str) -> str:
    """One profile of an AWS shared-credentials file."""
    return f"[{profile}]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"


def upsert_profile(text: str, profile: str, key_id: str, secret: str) -> str:
    """`text` (a credentials file) with `profile` replaced or appended; every other line kept as it was."""
    lines = text.splitlines(keepends=True)
    kept: list[str] = []
    at: int | None = None  # where the profile was, to put its new version in the same place
    inside = False
    for line in lines:
        section = _SECTION_RE.match(line)
        if section:
            inside = section.group(1).strip() == profile
            if inside and at is None:
                at = len(kept)
        if not inside:
            kept.append(line)
    new = profile_text(profile, key_id, secret)
    if at is None:
        head = "".join(kept)
        if head and not head.endswith("\n"):
            head += "\n"
        return head + ("\n" if head.strip() else "") + new
    after = kept[at:]
    return "".join(kept[:at]) + new + ("\n" if after and after[0].strip() else "") + "".join(after)


def read_credentials_text(path: Path) -> str:
    """The credentials file's text ('' when it does not exist yet)."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from exc


def write_private(path: Path, text: str) -> None:
    """Replace `path` with `text`, mode 0600 whatever the umask or the old file's mode."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from exc


# --- principals and keys -----------------------------------------------------------------------

def cmd_principals_create(args: argparse.Namespace) -> int:
    principal = client_for(args).create_principal(args.name, args.kind)
    print(f"created principal {principal.get('Name', args.name)} ({principal.get('Arn', '')})")
    return 0


def cmd_principals_ls(args: argparse.Namespace) -> int:
    _print_table(client_for(args).list_principals(),
                 {"NAME": "Name", "KIND": "Kind", "ARN": "Arn", "CREATED": "CreatedAt"})
    return 0


def cmd_principals_rm(args: argparse.Namespace) -> int:
    client_for(args).delete_principal(args.name)
    print(f"deleted principal {args.name}")
    return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    profile = args.credentials_profile or args.principal
    target = current = None
    if args.credentials_file is not None:
        target = Path(args.credentials_file).expanduser().resolve()  # through a symlink: it stays one
        current = read_credentials_text(target)  # an unreadable file fails before a key is made
    key = client_for(args).create_access_key(args.principal)
    key_id, secret = str(key["AccessKeyId"]), str(key["SecretAccessKey"])
    if target is None:
        print(f"AccessKeyId:     {key_id}")
        print(f"SecretAccessKey: {secret}")
        print()
        print(profile_text(profile, key_id, secret), end="")
        print_to_stderr("The secret is shown only this once: paste the profile above into your AWS credentials "
                        "file.")
        return 0
    try:
        write_private(target, upsert_profile(current or "", profile, key_id, secret))
    except ConfigError as exc:
        raise ConfigError(f"{exc}; access key {key_id} was created but its secret is lost: delete it with "
                          f"'faas keys rm {key_id}'") from exc
    print(f"created access key {key_id} for {args.principal}")
    print(f"wrote profile [{profile}] to {target}")
    return 0


def cmd_keys_ls(args: argparse.Namespace) -> int:
    _print_table(client_for(args).list_access_keys(args.principal),
                 {"ACCESS KEY ID": "AccessKeyId", "PRINCIPAL": "Principal", "STATUS": "Status",
                  "CREATED": "CreatedAt"})
    return 0


def cmd_keys_enable(args: argparse.Namespace) -> int:
    client_for(args).set_access_key_enabled(args.key_id, args.enabled)
    print(f"{'enabled' if args.enabled else 'disabled'} access key {args.key_id}")
    return 0


def cmd_keys_rm(args: argparse.Namespace) -> int:
    client_for(args).delete_access_key(args.key_id)
    print(f"deleted access key {args.key_id}")
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    config = settings_from(args)
    from faas import rotation  # lazily: it brings the store, which the client verbs do without

    new_key_id = asyncio.run(rotation.rotate_master_key(config, print_to_stderr))
    print(f"new master key: {new_key_id}")
    return 0


# --- roles and policies ------------------------------------------------------------------------

def cmd_roles_create(args: argparse.Namespace) -> int:
    role = client_for(args).create_role(args.name, args.description)
    print(f"created role {role.get('Name', args.name)} ({role.get('Arn', '')})")
    return 0


def cmd_roles_ls(args: argparse.Namespace) -> int:
    _print_table(client_for(args).list_roles(),
                 {"NAME": "Name", "ARN": "Arn", "CREATED": "CreatedAt", "DESCRIPTION": "Description"})
    return 0


def cmd_roles_rm(args: argparse.Namespace) -> int:
    client_for(args).delete_role(args.name)
    print(f"deleted role {args.name}")
    return 0


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
    print(f"put policy {args.policy_name} on {kind} {owner}")
    return 0


def cmd_policies_ls(args: argparse.Namespace) -> int:
    print(json.dumps(client_for(args).list_policies(*_owner(args)), indent=2, sort_keys=True))
    return 0


def cmd_policies_rm(args: argparse.Namespace) -> int:
    kind, owner = _owner(args)
    client_for(args).delete_policy(kind, owner, args.policy_name)
    print(f"deleted policy {args.policy_name} of {kind} {owner}")
    return 0


# --- function permissions ----------------------------------------------------------------------

def cmd_permissions_add(args: argparse.Namespace) -> int:
    statement = client_for(args).add_permission(
        args.function, statement_id=args.statement_id, action=args.action, principal=args.principal,
        source_arn=args.source_arn, function_url_auth_type=args.function_url_auth_type,
        invoked_via_function_url=True if args.invoked_via_function_url else None)
    print(json.dumps(statement, indent=2))
    return 0


def cmd_permissions_rm(args: argparse.Namespace) -> int:
    client_for(args).remove_permission(args.function, args.statement_id)
    print(f"removed statement {args.statement_id} from {args.function}")
    return 0


def cmd_permissions_show(args: argparse.Namespace) -> int:
    print(json.dumps(client_for(args).get_policy(args.function), indent=2))
    return 0


# --- tokens and the audit log ------------------------------------------------------------------

def cmd_token(args: argparse.Namespace) -> int:
    token = client_for(args).create_token(args.ttl)
    print(token["Token"], flush=True)  # alone on stdout: TOKEN=$(faas token)
    print_to_stderr(f"token {token.get('TokenId', '?')} expires {token.get('Expiration', '?')}; it dies with "
                    f"access key {token.get('AccessKeyId', '?')}")
    return 0


def cmd_token_ls(args: argparse.Namespace) -> int:
    _print_table(client_for(args).list_tokens(args.principal),
                 {"TOKEN ID": "TokenId", "PRINCIPAL": "Principal", "ACCESS KEY ID": "AccessKeyId",
                  "CREATED": "CreatedAt", "EXPIRES": "Expiration"})
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    client_for(args).revoke_token(args.token_id)
    print(f"revoked token {args.token_id}")
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
    # Oldest first, like `faas logs`: the newest ends next to the prompt.
    _print_table(reversed(entries), {"TIME": "Time", "PRINCIPAL": "Principal", "ACTION": "Action",
                                     "RESOURCE": "Resource", "STATUS": "Status", "OUTCOME": "Outcome"})
    return 0


# --- the parser --------------------------------------------------------------------------------

def _group(commands: argparse._SubParsersAction, name: str, help: str, description: str,
           ) -> argparse._SubParsersAction:
    parser = commands.add_parser(name, help=help, description=description)
    parser.set_defaults(run=lambda args: usage(parser))
    return parser.add_subparsers(dest=f"{name}_command", metavar="COMMAND")


def _owner_options(parser: argparse.ArgumentParser) -> None:
    owner = parser.add_mutually_exclusive_group(required=True)
    owner.add_argument("--principal", metavar="NAME", help="a principal's inline policy")
    owner.add_argument("--role", metavar="NAME", help="a role's inline policy")


def add_identity_commands(commands: argparse._SubParsersAction) -> None:
    """Register principals, keys, roles, policies, permissions, token and audit on the `faas` parser."""
    connection = client_options()

    principals = _group(commands, "principals", "manage principals (users and services)",
                        "Principals are the callers of the platform: users and services, each with access keys "
                        "and inline policies. A new principal is allowed nothing.")
    create = principals.add_parser("create", parents=[connection], help="create a principal",
                                   description="Create a principal (allowed nothing until given a policy).")
    create.add_argument("name", metavar="NAME", help="1-64 ASCII letters, digits or +=,.@_- characters")
    create.add_argument("--kind", choices=("user", "service"), default="user", help="default: user")
    create.set_defaults(run=cmd_principals_create)
    principals.add_parser("ls", parents=[connection], help="list principals",
                          description="List the principals: name, kind, ARN, creation time."
                          ).set_defaults(run=cmd_principals_ls)
    rm = principals.add_parser("rm", parents=[connection], help="delete a principal",
                               description="Delete a principal with its access keys, tokens and policies. "
                                           "The admin principal cannot be deleted.")
    rm.add_argument("name", metavar="NAME", help="principal name")
    rm.set_defaults(run=cmd_principals_rm)

    keys = _group(commands, "keys", "manage access keys; rotate the master key",
                  "Access keys sign requests (SigV4) as a principal. 'faas keys rotate' rotates the master "
                  "key that seals every stored secret.")
    create = keys.add_parser(
        "create", parents=[client_options(profile=False)], help="create an access key for a principal",
        description="Create an access key for a principal and print its id and secret (shown only this once) "
                    "with an AWS shared-credentials profile ready to paste. With --credentials-file the profile "
                    "is written to that file (mode 0600) instead, and the secret is not printed. This command "
                    "connects with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, else the 'default' profile of "
                    "AWS_SHARED_CREDENTIALS_FILE or <data-dir>/credentials.")
    create.add_argument("principal", metavar="PRINCIPAL", help="principal name")
    create.add_argument("--credentials-file", metavar="PATH",
                        help="add the profile to this AWS shared-credentials file, replacing a profile of the "
                             "same name, e.g. ~/.aws/credentials")
    create.add_argument("--profile", dest="credentials_profile", metavar="P",
                        help="name of the profile printed or written (default: the principal's name)")
    create.set_defaults(run=cmd_keys_create, profile=None)
    ls = keys.add_parser("ls", parents=[connection], help="list access keys",
                         description="List access keys (never their secrets): id, principal, status, creation time.")
    ls.add_argument("--principal", metavar="P", help="only this principal's keys")
    ls.set_defaults(run=cmd_keys_ls)
    for verb, enabled, text in (("disable", False, "Disable an access key: requests signed with it are refused "
                                                   "(UnrecognizedClientException) until it is enabled again, and "
                                                   "the bearer tokens it minted are revoked for good."),
                                ("enable", True, "Enable an access key that was disabled.")):
        toggle = keys.add_parser(verb, parents=[connection], help=f"{verb} an access key", description=text)
        toggle.add_argument("key_id", metavar="ID", help="access key id")
        toggle.set_defaults(run=cmd_keys_enable, enabled=enabled)
    rm = keys.add_parser("rm", parents=[connection], help="delete an access key",
                         description="Delete an access key for good, with the bearer tokens it minted.")
    rm.add_argument("key_id", metavar="ID", help="access key id")
    rm.set_defaults(run=cmd_keys_rm)
    rotate = keys.add_parser(
        "rotate", help="rotate the master key (on the server's machine)",
        description="Rotate the master key that seals every stored secret: add a new key to "
                    "<data-dir>/master.key, re-wrap every sealed value under it, then retire the old key. "
                    "Not a client of the API: it runs where the data dir is, against the store, with the "
                    "settings of 'faas serve' (options over FAAS_* variables). Running servers may keep "
                    "running. Progress goes to stderr; the new key id to stdout.")
    add_setting_options(rotate, ("data_dir", "database_url"))
    rotate.set_defaults(run=cmd_keys_rotate)

    roles = _group(commands, "roles", "manage roles (execution roles of functions)",
                   "Roles are what functions run as: each environment gets short-lived credentials allowed "
                   "what its function's role allows. Name one with 'faas deploy --role ARN'.")
    create = roles.add_parser("create", parents=[connection], help="create a role",
                              description="Create a role (allowed nothing until given a policy).")
    create.add_argument("name", metavar="NAME", help="1-64 ASCII letters, digits or +=,.@_- characters")
    create.add_argument("--description", metavar="D", default="", help="at most 256 characters")
    create.set_defaults(run=cmd_roles_create)
    roles.add_parser("ls", parents=[connection], help="list roles",
                     description="List the roles: name, ARN, creation time, description."
                     ).set_defaults(run=cmd_roles_ls)
    rm = roles.add_parser("rm", parents=[connection], help="delete a role", description="Delete a role.")
    rm.add_argument("name", metavar="NAME", help="role name")
    rm.set_defaults(run=cmd_roles_rm)

    policies = _group(commands, "policies", "manage inline policies of principals and roles",
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
    ls = policies.add_parser("ls", parents=[connection], help="print the inline policies",
                             description="Print the inline policies of a principal or a role as JSON, by name.")
    _owner_options(ls)
    ls.set_defaults(run=cmd_policies_ls)
    rm = policies.add_parser("rm", parents=[connection], help="delete an inline policy",
                             description="Delete an inline policy of a principal or a role.")
    _owner_options(rm)
    rm.add_argument("policy_name", metavar="POLICY_NAME", help="policy name")
    rm.set_defaults(run=cmd_policies_rm)

    permissions = _group(commands, "permissions", "manage function policies (who else may invoke)",
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
    rm = permissions.add_parser("rm", parents=[connection], help="remove a statement from a function's policy",
                                description="Remove a statement from a function's policy (RemovePermission).")
    rm.add_argument("function", metavar="FUNCTION", help="function name or ARN")
    rm.add_argument("statement_id", metavar="SID", help="statement id")
    rm.set_defaults(run=cmd_permissions_rm)
    show = permissions.add_parser("show", parents=[connection], help="print a function's policy",
                                  description="Print a function's policy as JSON (GetPolicy).")
    show.add_argument("function", metavar="FUNCTION", help="function name or ARN")
    show.set_defaults(run=cmd_permissions_show)

    token_help = ("Create a bearer token for the calling principal and print it alone on stdout (its id and "
                  "expiry go to stderr), e.g. curl -H \"Authorization: Bearer $(faas token)\" ... A token "
                  "dies with the access key that signed its creation: disabling or deleting that key revokes "
                  "it. 'faas token ls' lists tokens, 'faas token revoke ID' revokes one.")
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
    ls = token_commands.add_parser(
        "ls", parents=[inherited], help="list live tokens",
        description="List a principal's live bearer tokens (never the tokens): id, principal, the access key "
                    "that minted each, creation and expiry.")
    ls.add_argument("--principal", metavar="P", help="this principal's tokens (default: the caller's)")
    ls.set_defaults(run=cmd_token_ls)
    revoke = token_commands.add_parser("revoke", parents=[inherited], help="revoke a token",
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
