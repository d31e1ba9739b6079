"""The `faas` verbs for who calls the platform and what functions run as: principals, their access keys,
and roles."""

from __future__ import annotations

import argparse
from pathlib import Path

from faas.cli.common import add_output_option, add_verb, client_for, client_options, command_group, emit, \
    print_json, print_table, print_to_stderr, wants_json
from faas.cli.profiles import profile_text, read_credentials_text, upsert_profile, write_private
from faas.cli.serve import add_setting_options, cmd_keys_rotate
from faas.errors import ConfigError


# --- principals and keys -----------------------------------------------------------------------

def cmd_principals_create(args: argparse.Namespace) -> int:
    principal = client_for(args).create_principal(args.name, args.kind)
    emit(args, principal, f"created principal {principal.get('Name', args.name)} ({principal.get('Arn', '')})")
    return 0


def cmd_principals_ls(args: argparse.Namespace) -> int:
    principals = client_for(args).list_principals()
    emit(args, principals, lambda: print_table(principals, {"NAME": "Name", "KIND": "Kind", "ARN": "Arn",
                                                            "CREATED": "CreatedAt"}))
    return 0


def cmd_principals_rm(args: argparse.Namespace) -> int:
    client_for(args).delete_principal(args.name)
    emit(args, {"Name": args.name, "Deleted": True}, f"deleted principal {args.name}")
    return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    profile = args.credentials_profile or args.principal
    target = current = None
    if args.credentials_file is not None:
        target = Path(args.credentials_file).expanduser().resolve()  # through a symlink: it stays one
        current = read_credentials_text(target)  # an unreadable file fails before a key is made
    key = client_for(args).create_access_key(args.principal)
    key_id, secret = str(key["AccessKeyId"]), str(key["SecretAccessKey"])
    if target is None and wants_json(args):
        print_json({"AccessKeyId": key_id, "SecretAccessKey": secret, "Principal": args.principal,
                    "Profile": profile})
        print_to_stderr("The secret is shown only this once.")
        return 0
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
    emit(args, {"AccessKeyId": key_id, "Principal": args.principal, "Profile": profile,
                "CredentialsFile": str(target)},
         f"created access key {key_id} for {args.principal}\nwrote profile [{profile}] to {target}")
    return 0


def cmd_keys_ls(args: argparse.Namespace) -> int:
    keys = client_for(args).list_access_keys(args.principal)
    emit(args, keys, lambda: print_table(keys, {"ACCESS KEY ID": "AccessKeyId", "PRINCIPAL": "Principal",
                                                "STATUS": "Status", "CREATED": "CreatedAt"}))
    return 0


def cmd_keys_enable(args: argparse.Namespace) -> int:
    client_for(args).set_access_key_enabled(args.key_id, args.enabled)
    emit(args, {"AccessKeyId": args.key_id, "Status": "Active" if args.enabled else "Inactive"},
         f"{'enabled' if args.enabled else 'disabled'} access key {args.key_id}")
    return 0


def cmd_keys_rm(args: argparse.Namespace) -> int:
    client_for(args).delete_access_key(args.key_id)
    emit(args, {"AccessKeyId": args.key_id, "Deleted": True}, f"deleted access key {args.key_id}")
    return 0


# --- roles -------------------------------------------------------------------------------------

def cmd_roles_create(args: argparse.Namespace) -> int:
    role = client_for(args).create_role(args.name, args.description)
    emit(args, role, f"created role {role.get('Name', args.name)} ({role.get('Arn', '')})")
    return 0


def cmd_roles_ls(args: argparse.Namespace) -> int:
    roles = client_for(args).list_roles()
    emit(args, roles, lambda: print_table(roles, {"NAME": "Name", "ARN": "Arn", "CREATED": "CreatedAt",
                                                  "DESCRIPTION": "Description"}))
    return 0


def cmd_roles_rm(args: argparse.Namespace) -> int:
    client_for(args).delete_role(args.name)
    emit(args, {"Name": args.name, "Deleted": True}, f"deleted role {args.name}")
    return 0


# --- the parser --------------------------------------------------------------------------------

def add_identity_commands(commands: argparse._SubParsersAction) -> None:
    """Register principals, keys and roles on the `faas` parser."""
    connection = client_options()

    principals = command_group(commands, "principals", "manage principals (users and services)",
                               "Principals are the callers of the platform: users and services, each with access "
                               "keys and inline policies. A new principal is allowed nothing.")
    create = principals.add_parser("create", parents=[connection], help="create a principal",
                                   description="Create a principal (allowed nothing until given a policy).")
    create.add_argument("name", metavar="NAME", help="1-64 ASCII letters, digits or +=,.@_- characters")
    create.add_argument("--kind", choices=("user", "service"), default="user", help="default: user")
    create.set_defaults(run=cmd_principals_create)
    add_verb(principals, "ls", parents=[connection], help="list principals",
             description="List the principals: name, kind, ARN, creation time."
             ).set_defaults(run=cmd_principals_ls)
    rm = add_verb(principals, "rm", parents=[connection], help="delete a principal",
                  description="Delete a principal with its access keys, tokens and policies. "
                              "The admin principal cannot be deleted.")
    rm.add_argument("name", metavar="NAME", help="principal name")
    rm.set_defaults(run=cmd_principals_rm)

    keys = command_group(commands, "keys", "manage access keys; rotate the master key",
                         "Access keys sign requests (SigV4) as a principal. 'faas keys rotate' rotates the master "
                         "key that seals every stored secret.")
    create = keys.add_parser(
        "create", parents=[client_options(profile=False)], help="create an access key for a principal",
        description="Create an access key for a principal and print its id and secret (shown only this once) "
                    "with an AWS shared-credentials profile ready to paste. With --credentials-file the profile "
                    "is written to that file (mode 0600) instead, and the secret is not printed. This command "
                    "connects with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, else the profile AWS_PROFILE names (else "
                    "'default') of AWS_SHARED_CREDENTIALS_FILE or <data-dir>/credentials. With -o json the new key "
                    "(secret included, unless --credentials-file) is one JSON document.")
    create.add_argument("principal", metavar="PRINCIPAL", help="principal name")
    create.add_argument("--credentials-file", metavar="PATH",
                        help="add the profile to this AWS shared-credentials file, replacing a profile of the "
                             "same name, e.g. ~/.aws/credentials")
    create.add_argument("--profile", dest="credentials_profile", metavar="P",
                        help="name of the profile printed or written (default: the principal's name)")
    create.set_defaults(run=cmd_keys_create, profile=None)
    ls = add_verb(keys, "ls", parents=[connection], help="list access keys",
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
    rm = add_verb(keys, "rm", parents=[connection], help="delete an access key",
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
    add_output_option(rotate)
    rotate.set_defaults(run=cmd_keys_rotate)

    roles = command_group(commands, "roles", "manage roles (execution roles of functions)",
                          "Roles are what functions run as: each environment gets short-lived credentials allowed "
                          "what its function's role allows. Name one with 'faas deploy --role ARN'.")
    create = roles.add_parser("create", parents=[connection], help="create a role",
                              description="Create a role (allowed nothing until given a policy).")
    create.add_argument("name", metavar="NAME", help="1-64 ASCII letters, digits or +=,.@_- characters")
    create.add_argument("--description", metavar="D", default="", help="at most 256 characters")
    create.set_defaults(run=cmd_roles_create)
    add_verb(roles, "ls", parents=[connection], help="list roles",
             description="List the roles: name, ARN, creation time, description."
             ).set_defaults(run=cmd_roles_ls)
    rm = add_verb(roles, "rm", parents=[connection], help="delete a role", description="Delete a role.")
    rm.add_argument("name", metavar="NAME", help="role name")
    rm.set_defaults(run=cmd_roles_rm)
