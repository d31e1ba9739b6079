"""`faas deploy -f template.yaml`: the functions of an AWS SAM template (read by faas.sam.template) created or
brought up to date through the Lambda API, changing only what differs from what is deployed."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from faas import settings as settings_module
from faas.cli import sam_sources
from faas.cli.common import client_for, print_error, print_json, print_to_stderr, wants_json
from faas.cli.functions import DEFAULT_ROLE_NAME, PUBLIC_URL_STATEMENTS, _wait_until_ready
from faas.cli.packaging import code_sha256, read_code
from faas.client.api import Client
from faas.client.events import EventsClient
from faas.client.http_apis import HttpApiClient
from faas.client.queues import QueueClient
from faas.client.schedules import ScheduleClient
from faas.client.topics import TopicClient
from faas.client.transport import ClientError
from faas.client.triggers import MappingClient
from faas.errors import StackConflict
from faas.sam import template as sam_template

DEFAULT_TEMPLATE = "template.yaml"
STACK_TAG = "faas:stack"  # the tag naming the stack that deployed a function
# What AWS::Serverless::Function gives a function that does not say (SAM's and Lambda's defaults).
DEFAULT_MEMORY_MB = 128
DEFAULT_TIMEOUT_S = 3


def add_template_options(deploy: argparse.ArgumentParser) -> None:
    """Teach `faas deploy` (faas.cli.functions) the template options, and to deploy a template when given one."""
    group = deploy.add_argument_group("SAM template")
    group.add_argument("-f", "--template", metavar="FILE",
                       help="deploy the AWS::Serverless::Function resources of this AWS SAM template "
                            "(default, with no DIR and no --name: ./template.yaml when it exists)")
    group.add_argument("--stack-name", metavar="NAME",
                       help="the stack's name: functions without a FunctionName are named <stack>-<LogicalId> "
                            "(default: the template's folder name)")
    group.add_argument("--parameter-overrides", nargs="+", metavar="KEY=VALUE",
                       help="values of the template's Parameters, as Key=Value or "
                            "ParameterKey=K,ParameterValue=V")
    group.add_argument("--skip-unsupported", action="store_true",
                       help="deploy what faas supports and warn about the rest (resources, properties, events) "
                            "instead of refusing the template")
    group.add_argument("--prune", action="store_true",
                       help="delete the functions this stack deployed before that the template no longer names "
                            "(they carry the tag faas:stack=<stack name>)")
    deploy_folder = deploy.get_default("run")
    deploy.set_defaults(run=lambda args: cmd_deploy_template(args) if wants_template(args) else deploy_folder(args))


def wants_template(args: argparse.Namespace) -> bool:
    """`faas deploy -f FILE`, or a bare `faas deploy` in a folder with a template.yaml."""
    return args.template is not None or (args.path is None and args.name is None and Path(DEFAULT_TEMPLATE).is_file())


def _current(client: Client, name: str) -> dict[str, Any] | None:
    try:
        return client.get_function(name)
    except ClientError as exc:
        if exc.code != "ResourceNotFoundException":
            raise
        return None


def _url(client: Client, name: str) -> dict[str, Any] | None:
    try:
        return client.get_url(name)
    except ClientError as exc:
        if exc.code != "ResourceNotFoundException":
            raise
        return None


def configuration_changes(spec: sam_template.FunctionSpec, role: str, current: dict[str, Any]) -> dict[str, Any]:
    """The configuration fields (as Client.update_function_configuration names them) that differ."""
    desired = {"runtime": spec.runtime, "handler": spec.handler, "role": role,
               "memory_size": spec.memory_size or DEFAULT_MEMORY_MB, "timeout": spec.timeout or DEFAULT_TIMEOUT_S,
               "description": spec.description, "environment": spec.environment}
    deployed = {"runtime": current.get("Runtime"), "handler": current.get("Handler"), "role": current.get("Role"),
                "memory_size": current.get("MemorySize"), "timeout": current.get("Timeout"),
                "description": current.get("Description") or "",
                "environment": (current.get("Environment") or {}).get("Variables") or {}}
    return {key: value for key, value in desired.items() if deployed[key] != value}


def _deploy_url(client: Client, spec: sam_template.FunctionSpec) -> list[str]:
    """Bring the function's URL in line with FunctionUrlConfig; what changed, for the summary."""
    current = _url(client, spec.name)
    if spec.url is None:
        if current is None:
            return []
        client.delete_url(spec.name)
        return ["URL removed"]
    auth_type, cors = spec.url["AuthType"], spec.url.get("Cors") or {}
    if current is None:
        client.create_url(spec.name, auth_type, cors)
    elif current.get("AuthType") != auth_type or (current.get("Cors") or {}) != cors:
        client.update_url(spec.name, auth_type, cors)
    else:
        return []
    if auth_type == "NONE":  # as `faas url create` does, and as SAM adds the permission for a NONE URL
        for statement in PUBLIC_URL_STATEMENTS:
            try:
                client.add_permission(spec.name, **statement)
            except ClientError as exc:
                if exc.code != "ResourceConflictException":
                    raise
    return ["URL"]


def _deploy_tags(client: Client, arn: str, desired: dict[str, str], current: dict[str, str]) -> list[str]:
    added = {key: value for key, value in desired.items() if current.get(key) != value}
    removed = sorted(set(current) - set(desired))
    if added:
        client.tag(arn, added)
    if removed:
        client.untag(arn, removed)
    return ["tags"] if added or removed else []


def deploy_function(client: Client, spec: sam_template.FunctionSpec, default_role: str,
                    stack_name: str) -> tuple[str, list[str]]:
    """Create the function or update what differs; returns (created/updated/unchanged, what changed)."""
    zip_bytes = read_code(spec.code_uri)
    role = spec.role or default_role
    tags = {**spec.tags, STACK_TAG: stack_name}  # what --prune finds the stack's functions by
    current = _current(client, spec.name)
    changed: list[str] = []
    if current is None:
        result = client.create_function(spec.name, runtime=spec.runtime, handler=spec.handler, role=role,
                                        zip_file=zip_bytes, memory_size=spec.memory_size or DEFAULT_MEMORY_MB,
                                        timeout=spec.timeout or DEFAULT_TIMEOUT_S, environment=spec.environment,
                                        description=spec.description, tags=tags)
        _wait_until_ready(client, spec.name, result)
        verb, deployed_reserved = "created", None
    else:
        configuration = current["Configuration"]
        owner = (current.get("Tags") or {}).get(STACK_TAG)
        if owner != stack_name:
            # As CloudFormation does: a stack never takes over a function it did not create.
            raise StackConflict(f"{spec.logical_id}: the function {spec.name} exists and is not part of stack "
                                f"{stack_name} (" + (f"it belongs to stack {owner}" if owner else
                                                     "it was deployed outside any stack") +
                                "); remove it or give the function another FunctionName")
        changed += _deploy_tags(client, configuration["FunctionArn"], tags, current.get("Tags") or {})
        changes = configuration_changes(spec, role, configuration)
        if changes:
            configuration = client.update_function_configuration(spec.name, **changes)
            changed.append("configuration (" + ", ".join(sorted(changes)) + ")")
        if configuration.get("CodeSha256") != code_sha256(zip_bytes):
            _wait_until_ready(client, spec.name, configuration)
            configuration = client.update_function_code(spec.name, zip_bytes)
            changed.append("code")
        _wait_until_ready(client, spec.name, configuration)
        verb = "updated"
        deployed_reserved = (current.get("Concurrency") or {}).get("ReservedConcurrentExecutions")
    if spec.reserved_concurrency != deployed_reserved:
        if spec.reserved_concurrency is None:
            client.delete_concurrency(spec.name)
        else:
            client.put_concurrency(spec.name, spec.reserved_concurrency)
        changed.append("reserved concurrency")
    changed += _deploy_url(client, spec)
    if verb == "updated" and not changed:
        verb = "unchanged"
    return verb, changed


def cmd_deploy_template(args: argparse.Namespace) -> int:
    config = settings_module.load(os.environ, data_dir=args.data_dir)
    path = Path(args.template or DEFAULT_TEMPLATE)
    client = client_for(args, config)
    template = sam_template.read(path, stack_name=args.stack_name,
                                 overrides=sam_template.parse_overrides(args.parameter_overrides or []),
                                 region=config.region, account_id=config.account_id,
                                 skip_unsupported=args.skip_unsupported,
                                 queue_url_base=f"{client.endpoint_url.rstrip('/')}/{config.account_id}/")
    for skipped in template.skipped:
        print_to_stderr(f"warning: not deployed: {skipped}")
    # With -o json the lines below are progress on stderr, and `summary` is the one document on stdout.
    say = print_to_stderr if wants_json(args) else print
    summary: dict[str, Any] = {"Stack": template.stack_name, "Template": str(path), "Skipped": list(template.skipped),
                               "Queues": [], "Topics": [], "HttpApi": None, "Functions": [], "Vanished": []}
    default_role = f"arn:aws:iam::{config.account_id}:role/{DEFAULT_ROLE_NAME}"
    say(f"stack {template.stack_name} ({path})")
    if template.queues:
        queues = client_for(args, config, client_class=QueueClient)
        for queue in template.queues:
            verb = sam_sources.deploy_queue(queues, queue)
            summary["Queues"].append({"Name": queue.name, "LogicalId": queue.logical_id, "Result": verb})
            say(f"  {verb} queue {queue.name} ({queue.logical_id})")
    topics = client_for(args, config, client_class=TopicClient)
    for topic in template.topics:
        arn = f"arn:aws:sns:{config.region}:{config.account_id}:{topic.name}"
        verb = sam_sources.deploy_topic(topics, topic, arn)
        summary["Topics"].append({"Name": topic.name, "LogicalId": topic.logical_id, "TopicArn": arn, "Result": verb})
        say(f"  {verb} topic {topic.name} ({topic.logical_id})")
    apis = client_for(args, config, client_class=HttpApiClient)
    api_id = None
    if any(event.kind == "HttpApi" for spec in template.functions for event in spec.events):
        api, verb = sam_sources.stack_api(apis, template.stack_name)
        api_id = api["apiId"]
        summary["HttpApi"] = {"ApiId": api_id, "ApiEndpoint": api.get("apiEndpoint"), "Result": verb}
        say(f"  {verb} HTTP API {api_id} ({template.stack_name}): {api.get('apiEndpoint')}")
    mappings = client_for(args, config, client_class=MappingClient)
    schedules = client_for(args, config, client_class=ScheduleClient)
    events_client = client_for(args, config, client_class=EventsClient)
    for spec in template.functions:
        try:
            role = sam_sources.implicit_role(client, spec) or default_role
            verb, changed = deploy_function(client, spec, role, template.stack_name)
        except (ClientError, StackConflict):
            print_error(f"{spec.logical_id} ({spec.name}) failed; the functions before it are deployed")
            raise
        detail = f": {', '.join(changed)}" if changed and verb == "updated" else ""
        say(f"  {verb} {spec.name} ({spec.logical_id}){detail}")
        deployed: dict[str, Any] = {"Name": spec.name, "LogicalId": spec.logical_id, "Result": verb,
                                    "Changed": changed}
        if spec.url is not None:
            deployed["FunctionUrl"] = client.get_url(spec.name)["FunctionUrl"]
            say(f"    FunctionUrl: {deployed['FunctionUrl']}")
        function_arn = f"arn:aws:lambda:{config.region}:{config.account_id}:function:{spec.name}"
        deployed["Events"] = (sam_sources.deploy_sqs_events(mappings, spec)
                              + sam_sources.deploy_rule_events(events_client, client, spec, function_arn)
                              + sam_sources.deploy_scheduler_events(schedules, client, spec, function_arn)
                              + sam_sources.deploy_sns_events(topics, client, spec, function_arn)
                              + (sam_sources.deploy_http_api_events(apis, api_id, spec, function_arn, config.region,
                                                                    config.account_id) if api_id else []))
        for line in deployed["Events"]:
            say(f"    {line}")
        summary["Functions"].append(deployed)
    for name in vanished_functions(client, template):
        if args.prune:
            client.delete_function(name)
            say(f"  deleted {name} (no longer in the template)")
        else:
            say(f"  kept {name}: no longer in the template; --prune deletes it")
        summary["Vanished"].append({"Name": name, "Result": "deleted" if args.prune else "kept"})
    if wants_json(args):
        print_json(summary)
    return 0


def vanished_functions(client: Client, template: sam_template.Template) -> list[str]:
    """The functions the stack deployed earlier that its template no longer names."""
    named = {spec.name for spec in template.functions}
    return [function["FunctionName"] for function in client.list_functions()
            if function["FunctionName"] not in named
            and client.list_tags(function["FunctionArn"]).get(STACK_TAG) == template.stack_name]
