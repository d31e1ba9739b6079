"""An AWS SAM template read into the functions faas deploys, without a server.

`load` parses the YAML (or JSON) with CloudFormation's short tags (!Ref, !Sub, !GetAtt...), `read`
resolves Parameters, Globals and the intrinsic functions and returns one `FunctionSpec` per
AWS::Serverless::Function. Everything faas cannot honour (a resource type, a property, an intrinsic)
is collected into one `UnsupportedTemplate` naming each place, so nothing is dropped silently."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from faas.errors import ConfigError

TRANSFORM = "AWS::Serverless-2016-10-31"
FUNCTION = "AWS::Serverless::Function"
QUEUE = "AWS::SQS::Queue"
TOPIC = "AWS::SNS::Topic"
HTTP_API = "AWS::Serverless::HttpApi"
# The APIs SAM makes for events that name none: HttpApi events' ServerlessHttpApi (served at its $default
# stage) and Api events' ServerlessRestApi (a REST API, served at its stage Prod). faas has no REST APIs: an
# Api event is a route of an HTTP API with payload format 1.0, the event REST APIs send.
IMPLICIT_HTTP_API = "ServerlessHttpApi"
IMPLICIT_REST_API = "ServerlessRestApi"
REST_STAGE = "Prod"
DEFAULT_STAGE = "$default"
# AWS::Serverless::HttpApi's properties faas deploys (FailOnWarnings only tunes CloudFormation's import).
HTTP_API_PROPERTIES = frozenset({"StageName", "CorsConfiguration", "Auth", "FailOnWarnings"})
# LoggingConfig's fields faas honours; LogGroup is always /aws/lambda/<function>.
LOGGING_FIELDS = frozenset({"LogFormat", "ApplicationLogLevel", "SystemLogLevel"})
MAX_NAME = 64  # Lambda's limit on a function name

# The properties of AWS::Serverless::Function that faas deploys; a Globals.Function may set any of them.
FUNCTION_PROPERTIES = frozenset({
    "CodeUri", "Handler", "Runtime", "MemorySize", "Timeout", "Environment", "Role", "FunctionName",
    "Description", "ReservedConcurrentExecutions", "FunctionUrlConfig", "Layers", "Architectures", "Tracing",
    "PackageType", "Tags", "LoggingConfig",
})
# Properties that are accepted only with the value that means "nothing to do" on faas, and why.
NO_OP_VALUES: dict[str, tuple[Any, str]] = {
    "Layers": ([], "faas has no layers"),
    "Architectures": (["x86_64"], "faas runs x86_64 only"),
    "Tracing": ("Disabled", "faas has no X-Ray tracing"),
    "PackageType": ("Zip", "faas deploys zip packages only"),
}
TRACING_NO_OPS = frozenset({"Disabled", "PassThrough"})
# The events faas serves, each with the properties it takes (the first is required, but where OPTIONAL_ONLY).
EVENT_PROPERTIES: dict[str, tuple[str, ...]] = {
    "SQS": ("Queue", "BatchSize", "Enabled", "MaximumBatchingWindowInSeconds", "FunctionResponseTypes",
            "FilterCriteria"),
    "Schedule": ("Schedule", "Input", "Enabled", "State", "Name", "Description"),
    "SNS": ("Topic", "FilterPolicy", "FilterPolicyScope"),
    "EventBridgeRule": ("Pattern", "EventBusName", "Input", "InputPath", "State", "RuleName"),
    "ScheduleV2": ("ScheduleExpression", "Input", "Name", "Description", "State", "ScheduleExpressionTimezone",
                   "GroupName", "RoleArn"),
    "HttpApi": ("Path", "Method", "PayloadFormatVersion", "ApiId", "Auth"),  # a route of an HTTP API
    "Api": ("Path", "Method", "RestApiId", "Auth"),  # a route of an HTTP API with payload format 1.0
}
# An HttpApi event without Path and Method is the API's $default route: it needs nothing.
OPTIONAL_ONLY = frozenset({"HttpApi"})
ROUTE_EVENTS = frozenset({"HttpApi", "Api"})
# AWS::SQS::Queue's properties that are queue attributes of the same name.
QUEUE_ATTRIBUTES = ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds",
                    "MaximumMessageSize")
PARAMETER_TYPES = frozenset({"String", "Number", "CommaDelimitedList"})
TEMPLATE_SECTIONS = frozenset({"AWSTemplateFormatVersion", "Transform", "Description", "Metadata", "Parameters",
                               "Globals", "Resources", "Outputs"})
SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
# CloudFormation's short forms: !Ref X is {"Ref": X}, !GetAtt A.B is {"Fn::GetAtt": [A, B]}, the rest Fn::<Name>.
SHORT_TAGS = ("Ref", "Sub", "GetAtt", "Join", "Select", "Split", "If", "Equals", "Not", "And", "Or",
              "FindInMap", "ImportValue", "GetAZs", "Base64", "Cidr", "Condition", "Transform")


class UnsupportedTemplate(ConfigError):
    """The template asks for things faas does not deploy; `problems` names each one."""

    def __init__(self, path: Path, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"{path} asks for what faas does not deploy:\n{lines}")


@dataclass(frozen=True)
class EventSpec:
    """One entry of a function's Events: its id, Type and resolved Properties."""

    event_id: str
    kind: str
    properties: dict[str, Any]


@dataclass(frozen=True)
class QueueSpec:
    """An AWS::SQS::Queue: its name and the attributes CreateQueue takes."""

    logical_id: str
    name: str
    attributes: dict[str, str]


@dataclass(frozen=True)
class TopicSpec:
    """An AWS::SNS::Topic: its name and the attributes CreateTopic takes (DisplayName)."""

    logical_id: str
    name: str
    attributes: dict[str, str]


@dataclass(frozen=True)
class ApiSpec:
    """An HTTP API of the stack: an AWS::Serverless::HttpApi, or one SAM makes implicitly for events."""

    logical_id: str
    name: str  # <stack>-<LogicalId>; the implicit ServerlessHttpApi is named after the stack
    stage: str
    payload_version: str  # of its routes, unless an HttpApi event says otherwise
    cors: dict[str, Any] | None = None  # CreateApi's corsConfiguration
    authorizers: dict[str, dict[str, Any]] = field(default_factory=dict)  # name: CreateAuthorizer's body
    default_authorizer: str | None = None


@dataclass(frozen=True)
class FunctionSpec:
    """One function as the template describes it, every value resolved."""

    logical_id: str
    name: str
    code_uri: Path
    handler: str
    runtime: str
    memory_size: int | None = None
    timeout: int | None = None
    environment: dict[str, str] = field(default_factory=dict)
    role: str | None = None
    description: str = ""
    reserved_concurrency: int | None = None
    url: dict[str, Any] | None = None  # FunctionUrlConfig: AuthType, Cors
    tags: dict[str, str] = field(default_factory=dict)
    logging: dict[str, str] = field(default_factory=dict)  # LoggingConfig: LogFormat and levels
    events: list[EventSpec] = field(default_factory=list)


@dataclass(frozen=True)
class Template:
    path: Path
    stack_name: str
    functions: list[FunctionSpec]
    queues: list[QueueSpec]
    topics: list[TopicSpec]
    skipped: list[str]  # what faas does not deploy, when the caller chose to go on without it
    apis: list[ApiSpec] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)  # the Outputs section, unresolved
    notes: list[str] = field(default_factory=list)  # what is accepted but means nothing on faas
    resolver: _Resolver | None = field(default=None, compare=False, repr=False)

    def resolved_outputs(self, refs: Mapping[str, str],
                         attributes: Mapping[tuple[str, str], str]) -> list[tuple[str, str, Any]]:
        """(name, description, value) of each output, with what is known only once deployed: `refs` of the
        stack's APIs (logical id: API id), `attributes` such as (<Function>Url, FunctionUrl)."""
        assert self.resolver is not None
        resolver = dataclasses.replace(self.resolver, refs={**self.resolver.refs, **refs},
                                       attributes={**self.resolver.attributes, **attributes}, problems=[])
        return [(name, str((output or {}).get("Description") or ""),
                 resolver.resolve((output or {}).get("Value"), f"Outputs.{name}.Value"))
                for name, output in self.outputs.items()]


class _Loader(yaml.SafeLoader):
    """SafeLoader plus CloudFormation's short tags."""


def _short_tag(name: str):  # type: ignore[no-untyped-def]
    key = "Ref" if name == "Ref" else ("Condition" if name == "Condition" else f"Fn::{name}")

    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {key: value}
    return construct


for _tag in SHORT_TAGS:
    _Loader.add_constructor(f"!{_tag}", _short_tag(_tag))


def load(path: Path) -> dict[str, Any]:
    """The template as plain data ({"Ref": ...} for !Ref); YAML or JSON (JSON is YAML)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        document = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise ConfigError(f"{path} is not a SAM template: it has no Resources mapping")
    return document


def parse_overrides(pairs: Sequence[str]) -> dict[str, str]:
    """--parameter-overrides as `sam deploy` takes them: Key=Value, or ParameterKey=K,ParameterValue=V."""
    values: dict[str, str] = {}
    for pair in pairs:
        if pair.startswith("ParameterKey="):
            key_part, sep, value_part = pair.partition(",ParameterValue=")
            if not sep:
                raise ConfigError(f"--parameter-overrides {pair!r}: expected ParameterKey=K,ParameterValue=V")
            values[key_part.removeprefix("ParameterKey=")] = value_part
            continue
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--parameter-overrides {pair!r} is not Key=Value (e.g. Stage=prod)")
        values[key] = value
    return values


@dataclass
class _Resolver:
    """Resolves intrinsic functions against the parameters, pseudo parameters and the template's resources."""

    parameters: Mapping[str, Any]
    pseudo: Mapping[str, str]
    refs: Mapping[str, str]  # what Ref of a resource gives: a function's name, a queue's URL, a topic's ARN
    attributes: Mapping[tuple[str, str], str]  # what Fn::GetAtt of (resource, attribute) gives
    problems: list[str]

    def resolve(self, value: Any, where: str) -> Any:
        if isinstance(value, list):
            return [self.resolve(item, where) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument), = value.items()
            if key == "Ref":
                return self.ref(argument, where)
            if key == "Fn::GetAtt":
                return self.get_att(argument, where)
            if key == "Fn::Sub":
                return self.sub(argument, where)
            if key == "Fn::Join":
                return self.join(argument, where)
            if key.startswith("Fn::") or key == "Condition":
                self.problems.append(f"{where}: the intrinsic function {key} is not supported "
                                     f"(supported: Ref, Fn::Sub, Fn::GetAtt, Fn::Join)")
                return None
        return {key: self.resolve(item, f"{where}.{key}") for key, item in value.items()}

    def ref(self, name: Any, where: str) -> Any:
        if name in self.parameters:
            return self.parameters[name]
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.refs:
            return self.refs[name]
        self.problems.append(f"{where}: Ref {name!r} names no parameter, pseudo parameter or resource faas deploys")
        return None

    def get_att(self, argument: Any, where: str) -> Any:
        if isinstance(argument, str):
            argument = argument.split(".", 1)
        if not (isinstance(argument, list) and len(argument) == 2):
            self.problems.append(f"{where}: Fn::GetAtt takes [LogicalId, Attribute], not {argument!r}")
            return None
        logical_id, attribute = argument
        if (logical_id, attribute) in self.attributes:
            return self.attributes[logical_id, attribute]
        self.problems.append(f"{where}: Fn::GetAtt {logical_id}.{attribute} is not known to faas "
                             f"(known: <Function>.Arn, <Function>Role.Arn, <Function>Url.FunctionUrl in Outputs, <Queue>.Arn, <Queue>.QueueName, <Queue>.QueueUrl, "
                             f"<Topic>.TopicName, <Topic>.TopicArn)")
        return None

    def sub(self, argument: Any, where: str) -> Any:
        variables: Mapping[str, Any] = {}
        if isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], dict):
            argument, variables = argument[0], {k: self.resolve(v, where) for k, v in argument[1].items()}
        if not isinstance(argument, str):
            self.problems.append(f"{where}: Fn::Sub takes a string or [string, {{variables}}], not {argument!r}")
            return None

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):  # ${!Literal} is the text ${Literal}
                return "${" + name[1:] + "}"
            if name in variables:
                value = variables[name]
            elif "." in name:
                value = self.get_att(name.split(".", 1), where)
            else:
                value = self.ref(name, where)
            return "" if value is None else str(value)
        return SUB_VARIABLE.sub(replace, argument)

    def join(self, argument: Any, where: str) -> Any:
        parts = self.resolve(argument[1], where) if isinstance(argument, list) and len(argument) == 2 else None
        if not isinstance(parts, list):  # a list, or a Ref to a CommaDelimitedList
            self.problems.append(f"{where}: Fn::Join takes [delimiter, [values]], not {argument!r}")
            return None
        return str(argument[0]).join("" if part is None else str(part) for part in parts)


def _parameters(document: Mapping[str, Any], overrides: Mapping[str, str], problems: list[str]) -> dict[str, Any]:
    declared = document.get("Parameters") or {}
    values: dict[str, Any] = {}
    for name in overrides:
        if name not in declared:
            problems.append(f"--parameter-overrides {name}: the template declares no such parameter")
    for name, spec in declared.items():
        spec = spec or {}
        kind = spec.get("Type", "String")
        if kind not in PARAMETER_TYPES:
            problems.append(f"Parameters.{name}: the type {kind} is not supported "
                            f"(supported: {', '.join(sorted(PARAMETER_TYPES))})")
            continue
        value = overrides.get(name, spec.get("Default"))
        if value is None:
            problems.append(f"Parameters.{name} has no Default: give it with --parameter-overrides {name}=VALUE")
            continue
        value = str(value)
        allowed = spec.get("AllowedValues")
        if allowed is not None and value not in [str(v) for v in allowed]:
            problems.append(f"Parameters.{name}: {value!r} is not one of its AllowedValues {allowed}")
            continue
        if kind == "Number":
            try:
                float(value)
            except ValueError:
                problems.append(f"Parameters.{name}: {value!r} is not a Number")
                continue
        values[name] = value.split(",") if kind == "CommaDelimitedList" else value
    return values


def _merge_globals(global_properties: Mapping[str, Any], properties: Mapping[str, Any]) -> dict[str, Any]:
    """SAM's rule: the resource's value wins for plain values, maps are merged (the resource's keys win),
    lists are joined (Globals first)."""
    merged = dict(global_properties)
    for key, value in properties.items():
        base = merged.get(key)
        if isinstance(base, dict) and isinstance(value, dict):
            merged[key] = _merge_globals(base, value)
        elif isinstance(base, list) and isinstance(value, list):
            merged[key] = base + value
        else:
            merged[key] = value
    return merged


def default_function_name(stack_name: str, logical_id: str) -> str:
    """SAM names a function <stack>-<LogicalId>-<random>; faas leaves the random part out, so a redeploy of
    the stack finds its functions again."""
    return f"{stack_name}-{logical_id}"[:MAX_NAME]


def _check_no_ops(properties: Mapping[str, Any], where: str, problems: list[str]) -> None:
    for key, (accepted, why) in NO_OP_VALUES.items():
        if key not in properties:
            continue
        value = properties[key]
        if key == "Tracing" and value in TRACING_NO_OPS:
            continue
        if value != accepted:
            problems.append(f"{where}.{key}: {value!r} is not supported: {why} (only {accepted!r})")


def _integer(value: Any, where: str, problems: list[str]) -> int | None:
    if value is None:
        return None
    try:
        return int(value)  # a parameter's value is a string, as in CloudFormation
    except (TypeError, ValueError):
        problems.append(f"{where}: {value!r} is not an integer")
        return None


def _function(logical_id: str, name: str, properties: Mapping[str, Any], base_dir: Path,
              problems: list[str]) -> FunctionSpec | None:
    where = f"Resources.{logical_id}.Properties"
    _check_no_ops(properties, where, problems)
    code_uri = properties.get("CodeUri")
    if not isinstance(code_uri, str) or code_uri.startswith("s3://"):
        problems.append(f"{where}.CodeUri: {code_uri!r} is not supported: faas deploys a local folder or .zip "
                        f"(InlineCode and S3 locations are not supported)")
        return None
    missing = [key for key in ("Handler", "Runtime") if not properties.get(key)]
    if missing:
        problems.append(f"{where}: {' and '.join(missing)} missing")
        return None
    environment = properties.get("Environment") or {}
    unknown_environment = sorted(set(environment) - {"Variables"})
    if unknown_environment:
        problems.append(f"{where}.Environment: {', '.join(unknown_environment)} not supported (only Variables)")
    tags = properties.get("Tags") or {}
    if not isinstance(tags, dict):
        problems.append(f"{where}.Tags: expected a map of keys to values, not {tags!r}")
        tags = {}
    logging = properties.get("LoggingConfig") or {}
    if not isinstance(logging, dict):
        problems.append(f"{where}.LoggingConfig: expected a map (LogFormat, ApplicationLogLevel, SystemLogLevel)")
        logging = {}
    for key in sorted(set(logging) - LOGGING_FIELDS):
        problems.append(f"{where}.LoggingConfig.{key} is not supported (a function's log is /aws/lambda/<name>)")
    url = properties.get("FunctionUrlConfig")
    if url is not None:
        unknown_url = sorted(set(url) - {"AuthType", "Cors"})
        if unknown_url:
            problems.append(f"{where}.FunctionUrlConfig: {', '.join(unknown_url)} not supported "
                            f"(only AuthType and Cors)")
        if url.get("AuthType") not in ("NONE", "AWS_IAM"):
            problems.append(f"{where}.FunctionUrlConfig.AuthType: {url.get('AuthType')!r} is not NONE or AWS_IAM")
    return FunctionSpec(
        logical_id=logical_id, name=name, code_uri=(base_dir / code_uri).resolve(),
        handler=str(properties["Handler"]), runtime=str(properties["Runtime"]),
        memory_size=_integer(properties.get("MemorySize"), f"{where}.MemorySize", problems),
        timeout=_integer(properties.get("Timeout"), f"{where}.Timeout", problems),
        environment={str(k): "" if v is None else str(v) for k, v in (environment.get("Variables") or {}).items()},
        role=properties.get("Role"), description=str(properties.get("Description") or ""),
        reserved_concurrency=_integer(properties.get("ReservedConcurrentExecutions"),
                                      f"{where}.ReservedConcurrentExecutions", problems),
        url=None if url is None else {key: url[key] for key in ("AuthType", "Cors") if key in url},
        tags={str(k): "" if v is None else str(v) for k, v in tags.items()},
        logging={key: str(value) for key, value in logging.items() if key in LOGGING_FIELDS})


def _of_type(resources: Mapping[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {logical_id: resource for logical_id, resource in resources.items()
            if isinstance(resource, dict) and resource.get("Type") == kind}


def _name(resolver: _Resolver, logical_id: str, resource: Mapping[str, Any], name_property: str,
          stack_name: str) -> str:
    given = (resource.get("Properties") or {}).get(name_property)
    if given is None:
        return default_function_name(stack_name, logical_id)
    return str(resolver.resolve(given, f"Resources.{logical_id}.Properties.{name_property}"))


def _queue(logical_id: str, name: str, resolver: _Resolver, resource: Mapping[str, Any], problems: list[str],
           skippable: list[str]) -> QueueSpec:
    where = f"Resources.{logical_id}"
    for key in sorted(set(resource) - {"Type", "Properties", "Metadata"}):
        skippable.append(f"{where}.{key}: not supported")
    properties = resolver.resolve(resource.get("Properties") or {}, f"{where}.Properties")
    for key in sorted(set(properties) - {"QueueName", "RedrivePolicy", *QUEUE_ATTRIBUTES}):
        skippable.append(f"{where}.Properties.{key}: the property is not supported")
    attributes = {key: str(properties[key]) for key in QUEUE_ATTRIBUTES if key in properties}
    redrive = properties.get("RedrivePolicy")
    if redrive is not None:
        if not isinstance(redrive, dict):
            problems.append(f"{where}.Properties.RedrivePolicy: expected deadLetterTargetArn and maxReceiveCount")
        else:
            attributes["RedrivePolicy"] = json.dumps(redrive, separators=(",", ":"))
    return QueueSpec(logical_id, name, attributes)


def _route_api(properties: dict[str, Any], kind: str, apis: Mapping[str, ApiSpec], where: str,
               problems: list[str], skippable: list[str]) -> bool:
    """Whether the route can be deployed. An HttpApi or Api event's API, as the logical id of one of `apis`, in properties["ApiId"] (read before
    resolving: Ref of an API gives its id, known only once deployed); its Auth checked against the API's."""
    key, implicit = ("ApiId", IMPLICIT_HTTP_API) if kind == "HttpApi" else ("RestApiId", IMPLICIT_REST_API)
    named = properties.pop(key, None)
    if named is None:
        properties["ApiId"] = implicit
    elif isinstance(named, dict) and named.get("Ref") in apis and kind == "HttpApi":
        properties["ApiId"] = named["Ref"]
    else:
        skippable.append(f"{where}.{key}: {named!r} is not supported: faas deploys routes of the "
                         f"{HTTP_API} resources of the template (!Ref MyApi) and of the implicit {implicit}")
        return False
    auth = properties.get("Auth") or {}
    authorizer = auth.get("Authorizer") if isinstance(auth, dict) else None
    unknown = sorted(set(auth) - {"Authorizer", "AuthorizationScopes"}) if isinstance(auth, dict) else ["Auth"]
    if kind == "Api" and (authorizer not in (None, "NONE") or unknown or "AuthorizationScopes" in auth):
        skippable.append(f"{where}.Auth: {auth!r} is not supported: a REST Api event's route is open "
                         f"(Auth: {{Authorizer: NONE}})")
        properties.pop("Auth", None)
    elif unknown:
        skippable.append(f"{where}.Auth: {', '.join(unknown)} not supported (only Authorizer, AuthorizationScopes)")
    elif authorizer not in (None, "NONE") and properties["ApiId"] in apis \
            and authorizer not in apis[properties["ApiId"]].authorizers:
        problems.append(f"{where}.Auth.Authorizer: {authorizer!r} is not an authorizer of "
                        f"{properties['ApiId']} (its Auth.Authorizers)")
    return True


def _events(events: Mapping[str, Any], resolver: _Resolver, where: str, problems: list[str],
            skippable: list[str], apis: Mapping[str, ApiSpec]) -> list[EventSpec]:
    specs = []
    for event_id, event in events.items():
        kind = event.get("Type") if isinstance(event, dict) else None
        if kind not in EVENT_PROPERTIES:
            why = {"S3": "faas has no S3 notifications"}.get(str(kind), "")
            skippable.append(f"{where}.{event_id}: events of type {kind} are not supported{': ' if why else ''}"
                             f"{why} (supported: {', '.join(EVENT_PROPERTIES)})")
            continue
        raw = dict(event.get("Properties") or {})
        api = {key: raw.pop(key) for key in ("ApiId", "RestApiId") if key in raw and kind in ROUTE_EVENTS}
        properties = {**resolver.resolve(raw, f"{where}.{event_id}.Properties"), **api}
        required, *_ = EVENT_PROPERTIES[kind]
        for key in sorted(set(properties) - set(EVENT_PROPERTIES[kind])):
            skippable.append(f"{where}.{event_id}.Properties.{key}: not supported for {kind} events")
        missing = [key for key in (["Path", "Method"] if kind == "Api" else [required]) if properties.get(key) is None]
        if kind not in OPTIONAL_ONLY and missing:
            problems.append(f"{where}.{event_id}.Properties.{' and '.join(missing)} missing")
            continue
        kept = {key: properties[key] for key in EVENT_PROPERTIES[kind] if key in properties}
        if kind in ROUTE_EVENTS and not _route_api(kept, kind, apis, f"{where}.{event_id}.Properties", problems,
                                                   skippable):
            continue
        specs.append(EventSpec(event_id, kind, kept))
    return specs


def _http_api(logical_id: str, name: str, resource: Mapping[str, Any], resolver: _Resolver, problems: list[str],
              skippable: list[str]) -> ApiSpec:
    """An AWS::Serverless::HttpApi: its stage, CORS and JWT authorizers."""
    where = f"Resources.{logical_id}"
    for key in sorted(set(resource) - {"Type", "Properties", "Metadata"}):
        skippable.append(f"{where}.{key}: not supported")
    properties = resolver.resolve(resource.get("Properties") or {}, f"{where}.Properties")
    for key in sorted(set(properties) - HTTP_API_PROPERTIES):
        skippable.append(f"{where}.Properties.{key}: the property is not supported")
    cors = properties.get("CorsConfiguration")
    if cors is True:  # SAM's shorthand: any origin
        cors = {"AllowOrigins": ["*"], "AllowMethods": ["*"], "AllowHeaders": ["*"]}
    if cors is not None and not isinstance(cors, dict):
        problems.append(f"{where}.Properties.CorsConfiguration: expected true or a map, not {cors!r}")
        cors = None
    auth = properties.get("Auth") or {}
    for key in sorted(set(auth) - {"Authorizers", "DefaultAuthorizer"}):
        skippable.append(f"{where}.Properties.Auth.{key}: not supported (only Authorizers, DefaultAuthorizer)")
    authorizers = {}
    for authorizer_name, authorizer in (auth.get("Authorizers") or {}).items():
        jwt = (authorizer or {}).get("JwtConfiguration")
        if not isinstance(jwt, dict):
            skippable.append(f"{where}.Properties.Auth.Authorizers.{authorizer_name}: only JWT authorizers "
                             f"(JwtConfiguration, IdentitySource) are supported")
            continue
        source = authorizer.get("IdentitySource") or "$request.header.Authorization"
        authorizers[authorizer_name] = {
            "name": authorizer_name, "authorizerType": "JWT", "identitySource": [str(source)],
            "jwtConfiguration": {"issuer": jwt.get("issuer"), "audience": list(jwt.get("audience") or [])}}
    default = auth.get("DefaultAuthorizer")
    if default is not None and default not in authorizers:
        problems.append(f"{where}.Properties.Auth.DefaultAuthorizer: {default!r} is not one of its Authorizers")
    if cors and isinstance(cors.get("AllowMethods"), list):  # as the API keeps them, so a redeploy compares equal
        cors = {**cors, "AllowMethods": [str(method).upper() for method in cors["AllowMethods"]]}
    return ApiSpec(logical_id, name, str(properties.get("StageName") or DEFAULT_STAGE), "2.0",
                   {_camel(key): value for key, value in cors.items()} if cors else None, authorizers, default)


def _camel(key: str) -> str:
    """CloudFormation's AllowOrigins is the API's allowOrigins."""
    return key[:1].lower() + key[1:]


def _implicit_apis(stack_name: str, functions: Mapping[str, Any]) -> list[ApiSpec]:
    """The APIs SAM makes for HttpApi events and Api events that name none."""
    kinds = {event.get("Type") for resource in functions.values()
             for event in ((resource.get("Properties") or {}).get("Events") or {}).values()
             if isinstance(event, dict) and not (event.get("Properties") or {}).get(
                 "ApiId" if event.get("Type") == "HttpApi" else "RestApiId")}
    apis = []
    if "HttpApi" in kinds:
        apis.append(ApiSpec(IMPLICIT_HTTP_API, stack_name, DEFAULT_STAGE, "2.0"))
    if "Api" in kinds:
        apis.append(ApiSpec(IMPLICIT_REST_API, default_function_name(stack_name, IMPLICIT_REST_API), REST_STAGE,
                            "1.0"))
    return apis


def read(path: Path, *, stack_name: str | None = None, overrides: Mapping[str, str] | None = None,
         region: str = "us-east-1", account_id: str = "000000000000", skip_unsupported: bool = False,
         queue_url_base: str | None = None, default_role: str = "faas-default") -> Template:
    """The template's functions, resolved. Raises UnsupportedTemplate listing everything faas would not
    deploy; with `skip_unsupported`, only problems that leave a function undeployable raise, and the rest
    come back in `Template.skipped`. A queue's URL (its Ref) is `queue_url_base` + its name (default: AWS's
    form; the CLI gives the platform's). A function without a Role runs under the role `default_role`, or,
    with SQS events, a role of its own (<function>-role): SAM's implicit <LogicalId>Role."""
    document = load(path)
    stack_name = stack_name or path.resolve().parent.name
    problems: list[str] = []   # what faas cannot deploy: always fatal
    skippable: list[str] = []  # what faas leaves out: fatal unless skip_unsupported
    for section in sorted(set(document) - TEMPLATE_SECTIONS):
        skippable.append(f"{section}: the template section is not supported")
    transform = document.get("Transform")
    transforms = transform if isinstance(transform, list) else [transform]
    if TRANSFORM not in transforms or len(transforms) != 1:
        problems.append(f"Transform: {transform!r} is not supported: faas reads SAM templates "
                        f"(Transform: {TRANSFORM})")
    parameters = _parameters(document, overrides or {}, problems)
    pseudo = {"AWS::Region": region, "AWS::AccountId": account_id, "AWS::StackName": stack_name,
              "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}

    globals_section = document.get("Globals") or {}
    for section in sorted(set(globals_section) - {"Function"}):
        skippable.append(f"Globals.{section}: only Globals.Function is supported")
    global_function = globals_section.get("Function") or {}
    for key in sorted(set(global_function) - FUNCTION_PROPERTIES):
        skippable.append(f"Globals.Function.{key}: the property is not supported")
    global_function = {k: v for k, v in global_function.items() if k in FUNCTION_PROPERTIES}

    resources = document["Resources"]
    functions = _of_type(resources, FUNCTION)
    queues = _of_type(resources, QUEUE)
    topics = _of_type(resources, TOPIC)
    http_apis = _of_type(resources, HTTP_API)
    for logical_id, resource in resources.items():
        if not any(logical_id in known for known in (functions, queues, topics, http_apis)):
            kind = resource.get("Type") if isinstance(resource, dict) else None
            why = " (a REST API: faas serves Api events' routes on an HTTP API)" if kind == "AWS::Serverless::Api" \
                else ""
            skippable.append(f"Resources.{logical_id}: the resource type {kind} is not supported{why} "
                             f"(supported: {FUNCTION}, {QUEUE}, {TOPIC}, {HTTP_API})")

    # Names first: a resource's properties may Ref or GetAtt another resource, or itself.
    bootstrap = _Resolver(parameters, pseudo, {}, {}, problems)
    names = {logical_id: _name(bootstrap, logical_id, resource, "FunctionName", stack_name)
             for logical_id, resource in functions.items()}
    queue_names = {logical_id: _name(bootstrap, logical_id, resource, "QueueName", stack_name)
                   for logical_id, resource in queues.items()}
    topic_names = {logical_id: _name(bootstrap, logical_id, resource, "TopicName", stack_name)
                   for logical_id, resource in topics.items()}
    queue_url_base = queue_url_base or f"https://sqs.{region}.amazonaws.com/{account_id}/"
    refs = {**names, **{logical_id: queue_url_base + name for logical_id, name in queue_names.items()}}
    attributes = {(logical_id, "Arn"): f"arn:aws:lambda:{region}:{account_id}:function:{name}"
                  for logical_id, name in names.items()}
    for logical_id, name in queue_names.items():
        attributes.update({(logical_id, "Arn"): f"arn:aws:sqs:{region}:{account_id}:{name}",
                           (logical_id, "QueueName"): name, (logical_id, "QueueUrl"): queue_url_base + name})
    for logical_id, name in topic_names.items():
        refs[logical_id] = f"arn:aws:sns:{region}:{account_id}:{name}"  # a topic's Ref is its ARN
        attributes.update({(logical_id, "TopicName"): name, (logical_id, "TopicArn"): refs[logical_id]})
    for logical_id, resource in functions.items():  # SAM's implicit role, where the function names none
        properties = resource.get("Properties") or {}
        if "Role" not in properties and "Role" not in global_function:
            sqs = any(isinstance(event, dict) and event.get("Type") == "SQS"
                      for event in (properties.get("Events") or {}).values())
            role = implicit_role_name(names[logical_id]) if sqs else default_role
            refs[f"{logical_id}Role"] = role
            attributes[f"{logical_id}Role", "Arn"] = f"arn:aws:iam::{account_id}:role/{role}"
    resolver = _Resolver(parameters, pseudo, refs, attributes, problems)
    apis = {spec.logical_id: spec for spec in _implicit_apis(stack_name, functions)}
    for logical_id, resource in http_apis.items():
        apis[logical_id] = _http_api(logical_id, default_function_name(stack_name, logical_id), resource, resolver,
                                     problems, skippable)

    queue_specs = [_queue(logical_id, queue_names[logical_id], resolver, resource, problems, skippable)
                   for logical_id, resource in queues.items()]
    topic_specs = []
    for logical_id, resource in topics.items():
        where = f"Resources.{logical_id}"
        for key in sorted(set(resource) - {"Type", "Properties", "Metadata"}):
            skippable.append(f"{where}.{key}: not supported")
        properties = resolver.resolve(resource.get("Properties") or {}, f"{where}.Properties")
        for key in sorted(set(properties) - {"TopicName", "DisplayName"}):
            skippable.append(f"{where}.Properties.{key}: the property is not supported")
        display = {"DisplayName": str(properties["DisplayName"])} if "DisplayName" in properties else {}
        topic_specs.append(TopicSpec(logical_id, topic_names[logical_id], display))
    specs: list[FunctionSpec] = []
    for logical_id, resource in functions.items():
        where = f"Resources.{logical_id}"
        for key in sorted(set(resource) - {"Type", "Properties", "Metadata"}):
            skippable.append(f"{where}.{key}: not supported")
        properties = resource.get("Properties") or {}
        for key in sorted(set(properties) - FUNCTION_PROPERTIES - {"Events"}):
            skippable.append(f"{where}.Properties.{key}: the property is not supported")
        events = _events(properties.get("Events") or {}, resolver, f"{where}.Properties.Events", problems, skippable,
                         apis)
        merged = _merge_globals(global_function, {k: v for k, v in properties.items() if k in FUNCTION_PROPERTIES})
        resolved = resolver.resolve(merged, f"{where}.Properties")
        spec = _function(logical_id, names[logical_id], resolved, path.resolve().parent, problems)
        if spec is not None:
            specs.append(dataclasses.replace(spec, events=events))
    if not functions:
        problems.append(f"Resources: no {FUNCTION} to deploy")
    outputs = document.get("Outputs") or {}
    # Checked now, printed after the deploy: the APIs' ids are known only then.
    url_functions = [logical_id for logical_id, resource in functions.items()
                     if (resource.get("Properties") or {}).get("FunctionUrlConfig") or global_function.get(
                         "FunctionUrlConfig")]
    dataclasses.replace(resolver, refs={**refs, **{logical_id: "api" for logical_id in apis}},
                        attributes={**attributes, **{(f"{logical_id}Url", "FunctionUrl"): "url"
                                                     for logical_id in url_functions}},
                        problems=skippable).resolve({name: (output or {}).get("Value") for name, output
                                                     in outputs.items()}, "Outputs")
    if problems or (skippable and not skip_unsupported):
        raise UnsupportedTemplate(path, problems + ([] if skip_unsupported else skippable))
    return Template(path=path, stack_name=stack_name, functions=specs, queues=queue_specs, topics=topic_specs,
                    skipped=skippable, apis=list(apis.values()), outputs=outputs, resolver=resolver,
                    notes=[f"Resources.{logical_id}.Properties.FailOnWarnings has no effect: it tunes CloudFormation's "
                           f"import of an OpenAPI definition, which faas does not do"
                           for logical_id, resource in http_apis.items()
                           if "FailOnWarnings" in (resource.get("Properties") or {})])


def implicit_role_name(function_name: str) -> str:
    """The role SAM would make for a function consuming queues: <function>-role."""
    return f"{function_name}-role"[:MAX_NAME]
