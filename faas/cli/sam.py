"""`faas deploy -f template.yaml`: the resources of an AWS SAM template (read by faas.sam.template) created or
brought up to date through the platform's AWS APIs, changing only what differs from what is deployed, then
what the stack deployed before and the template no longer has listed or, with --prune, deleted."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from faas import settings as settings_module
from faas.cli import sam_apis, sam_sources
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
STACK_TAG = sam_sources.STACK_TAG
# What AWS::Serverless::Function gives a function that does not say (SAM's and Lambda's defaults).
DEFAULT_MEMORY_MB = 128
DEFAULT_TIMEOUT_S = 3


def add_template_options(deploy: argparse.ArgumentParser) -> None:
    """Teach `faas deploy` (faas.cli.functions) the template options, and to deploy a template when given one."""
    group = deploy.add_argument_group("SAM template")
    group.add_argument("-f", "--template", metavar="FILE",
                       help="deploy this AWS SAM template: its functions, queues, topics and HTTP APIs and the "
                            "functions' events (REST Api events become routes of an HTTP API, payload format 1.0) "
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
                       help="delete the functions, queues, topics and HTTP APIs this stack deployed before that "
                            "the template no longer has (they carry the tag faas:stack=<stack name>); without it "
                            "they are listed. Routes an event no longer names are removed either way")
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
    logging = spec.logging or {"LogFormat": "Text"}  # Text: Lambda's default
    desired = {"runtime": spec.runtime, "handler": spec.handler, "role": role,
               "memory_size": spec.memory_size or DEFAULT_MEMORY_MB, "timeout": spec.timeout or DEFAULT_TIMEOUT_S,
               "description": spec.description, "environment": spec.environment,
               "logging_config": logging}
    deployed = {"runtime": current.get("Runtime"), "handler": current.get("Handler"), "role": current.get("Role"),
                "memory_size": current.get("MemorySize"), "timeout": current.get("Timeout"),
                "description": current.get("Description") or "",
                "environment": (current.get("Environment") or {}).get("Variables") or {},
                "logging_config": {key: (current.get("LoggingConfig") or {}).get(key)
                                   for key in logging}}
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
                                        description=spec.description, tags=tags,
                                        logging_config=spec.logging or None)
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
                                 queue_url_base=f"{client.endpoint_url.rstrip('/')}/{config.account_id}/",
                                 default_role=DEFAULT_ROLE_NAME)
    for skipped in template.skipped:
        print_to_stderr(f"warning: not deployed: {skipped}")
    for note in template.notes:
        print_to_stderr(f"note: {note}")
    stack = template.stack_name
    default_role = f"arn:aws:iam::{config.account_id}:role/{DEFAULT_ROLE_NAME}"
    say = Progress(wants_json(args))
    say(f"stack {stack} ({path})")
    queues = client_for(args, config, client_class=QueueClient)
    for queue in template.queues:
        say(f"  {sam_sources.deploy_queue(queues, queue, stack)} queue {queue.name} ({queue.logical_id})")
    topics = client_for(args, config, client_class=TopicClient)
    for topic in template.topics:
        arn = f"arn:aws:sns:{config.region}:{config.account_id}:{topic.name}"
        say(f"  {sam_sources.deploy_topic(topics, topic, arn, stack)} topic {topic.name} ({topic.logical_id})")
    apis = client_for(args, config, client_class=HttpApiClient)
    deployed_apis: dict[str, tuple[sam_template.ApiSpec, str]] = {}
    endpoints: dict[str, str] = {}  # API id: its endpoint on faas
    for api_spec in template.apis:
        api, verb = sam_apis.deploy_api(apis, api_spec, stack)
        deployed_apis[api_spec.logical_id] = (api_spec, api["apiId"])
        endpoints[api["apiId"]] = str(api["apiEndpoint"])
        say(f"  {verb} HTTP API {api['apiId']} ({api_spec.name}): {sam_apis.api_url(api, api_spec.stage)}")
        if api_spec.logical_id == sam_template.IMPLICIT_REST_API:
            print_to_stderr(f"note: faas has no REST APIs: the Api events are routes of the HTTP API {api['apiId']} "
                            f"with payload format 1.0 (the event a REST API sends), at the stage "
                            f"{sam_template.REST_STAGE}")
    for spec in template.functions:
        try:
            role = sam_sources.implicit_role(client, spec) or default_role
            verb, changed = deploy_function(client, spec, role, stack)
        except (ClientError, StackConflict):
            print_error(f"{spec.logical_id} ({spec.name}) failed; the functions before it are deployed")
            raise
        detail = f": {', '.join(changed)}" if changed and verb == "updated" else ""
        say(f"  {verb} {spec.name} ({spec.logical_id}){detail}")
        if spec.url is not None:
            say(f"    FunctionUrl: {client.get_url(spec.name)['FunctionUrl']}")
        function_arn = f"arn:aws:lambda:{config.region}:{config.account_id}:function:{spec.name}"
        for line in (_deploy_events(args, config, client, spec, function_arn)
                     + sam_apis.deploy_routes(apis, deployed_apis, spec, function_arn, config.region,
                                              config.account_id)):
            say(f"    {line}")
    for api_spec, api_id in deployed_apis.values():
        for line in sam_apis.remove_dropped_routes(apis, api_spec, api_id, template.functions):
            say(f"  {line}")
    _prune(args, config, client, template, say)
    changes = say.lines[1:]  # after the stack's line, before the Outputs
    outputs = _print_outputs(template, deployed_apis, endpoints, client, config.region, say)
    if wants_json(args):
        print_json({"StackName": stack, "Template": str(path), "Changes": changes,
                    "Apis": [{"LogicalId": spec.logical_id, "ApiId": api_id,
                              "Url": sam_apis.api_url({"apiEndpoint": endpoints[api_id]}, spec.stage)}
                             for spec, api_id in deployed_apis.values()],
                    "Outputs": [{"OutputKey": name, "OutputValue": value, "Description": description}
                                for name, description, value in outputs]})
    return 0


class Progress:
    """The deploy's lines: on stdout, or with -o json on stderr (stdout holds the one JSON document)."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.lines: list[str] = []

    def __call__(self, text: str) -> None:
        self.lines.append(text.strip())
        if self.as_json:
            print_to_stderr(text)
        else:
            print(text)


def _deploy_events(args: argparse.Namespace, config: settings_module.Settings, client: Client,
                   spec: sam_template.FunctionSpec, function_arn: str) -> list[str]:
    """The function's SQS, SNS, Schedule, ScheduleV2 and EventBridgeRule events deployed (and those it no
    longer has removed); a line for each."""
    events_client = client_for(args, config, client_class=EventsClient)
    topics = client_for(args, config, client_class=TopicClient)
    return (sam_sources.deploy_sqs_events(client_for(args, config, client_class=MappingClient), spec)
            + sam_sources.deploy_rule_events(events_client, client, spec, function_arn)
            + sam_sources.deploy_scheduler_events(client_for(args, config, client_class=ScheduleClient), client,
                                                  spec, function_arn)
            + sam_sources.deploy_sns_events(topics, client, spec, function_arn))


def _prune(args: argparse.Namespace, config: settings_module.Settings, client: Client,
           template: sam_template.Template, say: Progress) -> None:
    """What the stack deployed earlier (tagged faas:stack=<stack>) and its template no longer has: deleted
    with --prune, else listed."""
    stack = template.stack_name
    queues = client_for(args, config, client_class=QueueClient)
    topics = client_for(args, config, client_class=TopicClient)
    apis = client_for(args, config, client_class=HttpApiClient)
    named_queues = {queue.name for queue in template.queues}
    named_topics = {topic.name for topic in template.topics}
    vanished: list[tuple[str, str, Callable[[], list[str] | None]]] = []  # (kind, name, delete: what it did)
    for name in vanished_functions(client, template):
        vanished.append(("function", name, lambda name=name: _delete_function(args, config, client, name)))
    for url in queues.list_queues():
        name = url.rsplit("/", 1)[-1]
        if name not in named_queues and queues.tags(url).get(sam_sources.STACK_TAG) == stack:
            vanished.append(("queue", name, lambda url=url: queues.delete_queue(url)))
    for arn in topics.list_topics():
        name = arn.rsplit(":", 1)[-1]
        if name not in named_topics and topics.tags(arn).get(sam_sources.STACK_TAG) == stack:
            vanished.append(("topic", name, lambda arn=arn: topics.delete_topic(arn)))
    for api in sam_apis.vanished_apis(apis, stack, template.apis):
        vanished.append(("HTTP API", f"{api['apiId']} ({api.get('name')})",
                         lambda api_id=api["apiId"]: apis.delete_api(api_id)))
    for kind, name, delete in vanished:
        if args.prune:
            lines = delete() or []
            say(f"  deleted {kind} {name} (no longer in the template)")
            for line in lines:
                say(f"    {line}")
        else:
            say(f"  kept {kind} {name}: no longer in the template; --prune deletes it")


def _delete_function(args: argparse.Namespace, config: settings_module.Settings, client: Client,
                     name: str) -> list[str]:
    """Delete the function, and first its events (rules, schedules, subscriptions, mappings), as a
    deploy of it with no events would."""
    arn = f"arn:aws:lambda:{config.region}:{config.account_id}:function:{name}"
    # no logical id: any rule target of the function counts as its own
    stub = sam_template.FunctionSpec(logical_id="", name=name, code_uri=Path(), handler="", runtime="")
    lines = _deploy_events(args, config, client, stub, arn)
    client.delete_function(name)
    return lines


def _print_outputs(template: sam_template.Template, deployed_apis: dict[str, tuple[sam_template.ApiSpec, str]],
                   endpoints: dict[str, str], client: Client, region: str,
                   say: Progress) -> list[tuple[str, str, Any]]:
    """The template's Outputs, resolved; an API's AWS URL (https://<id>.execute-api.<region>.amazonaws.com)
    is followed by where faas serves it (without a trailing slash: a REST API ignores it, an HTTP API's
    route does not match it)."""
    urls = {(f"{spec.logical_id}Url", "FunctionUrl"): client.get_url(spec.name)["FunctionUrl"]
            for spec in template.functions if spec.url is not None}
    outputs = template.resolved_outputs({logical_id: api_id for logical_id, (_, api_id) in deployed_apis.items()},
                                        urls)
    if not outputs:
        return outputs
    say("Outputs:")
    for name, description, value in outputs:
        shown = "(not known to faas: see the warning above)" if value is None else value
        say(f"  {name}: {shown}" + (f"  ({description})" if description else ""))
        for api_id, endpoint in endpoints.items():
            aws_url = f"https://{api_id}.execute-api.{region}.amazonaws.com"
            if isinstance(value, str) and value.startswith(aws_url):
                path = value[len(aws_url):]
                say(f"    on faas: {endpoint.rstrip('/')}{path.rstrip('/') if path.count('/') > 1 else path}")
    return outputs


def vanished_functions(client: Client, template: sam_template.Template) -> list[str]:
    """The functions the stack deployed earlier that its template no longer names."""
    named = {spec.name for spec in template.functions}
    return [function["FunctionName"] for function in client.list_functions()
            if function["FunctionName"] not in named
            and client.list_tags(function["FunctionArn"]).get(STACK_TAG) == template.stack_name]
