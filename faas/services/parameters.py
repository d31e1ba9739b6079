"""Which of Lambda's function parameters faas honours, and the refusal of every other one by name.

Lambda's API has parameters faas does not implement (layers, VPCs, X-Ray, ...). Accepting one and answering as
if it had been applied would let a user believe their function runs with it, so each is refused with
InvalidParameterValueException naming it, unless it holds the value that means "not used" (AWS's own
default, such as `Publish: false` or `TracingConfig: {Mode: PassThrough}`), which is what faas does anyway.
Tags and architectures are validated here too: pure functions of the request.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from faas.errors import InvalidParameterValue

MAX_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
RESERVED_TAG_PREFIX = "aws:"
TAG_PUNCTUATION = frozenset("_.:/=+-@")
ARCHITECTURES = ("x86_64", "arm64")
# What `docker info` calls the host's architecture, in Lambda's words.
ENGINE_ARCHITECTURES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}
DEFAULT_LOG_FORMAT = "Text"
LOG_FORMATS = ("Text", "JSON")
APPLICATION_LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
SYSTEM_LOG_LEVELS = ("DEBUG", "INFO", "WARN")
DEFAULT_LOG_LEVEL = "INFO"  # what AWS sets both levels to when a function switches to JSON without them


def _empty(value: Any) -> bool:
    return value is None or value in ("", [], {}, False)


def _empty_list(value: Any) -> bool:
    return value is None or value == []


def _mode(field: str, default: str) -> Callable[[Any], bool]:
    """Accepted when the structure is absent or its `field` is missing or `default`."""
    return lambda value: value is None or (isinstance(value, dict) and value.get(field, default) in (default, None))


def _no_vpc(value: Any) -> bool:
    return value is None or (isinstance(value, dict) and _empty_list(value.get("SubnetIds"))
                             and _empty_list(value.get("SecurityGroupIds"))
                             and not value.get("Ipv6AllowedForDualStack"))


# Each refused parameter with the test its accepted (no-op) values pass, and why faas refuses the others.
REFUSED: dict[str, tuple[Callable[[Any], bool], str]] = {
    "Publish": (lambda v: v is None or v is False, "versions are not supported yet"),
    "PublishTo": (lambda v: v is None, "versions are not supported yet"),
    "Layers": (_empty_list, "layers are not supported yet"),
    "TracingConfig": (_mode("Mode", "PassThrough"), "X-Ray tracing is not supported; only Mode PassThrough"),
    "VpcConfig": (_no_vpc, "functions reach the network through the node's egress policy (FAAS_EGRESS), not VPCs"),
    "FileSystemConfigs": (_empty_list, "EFS file systems are not supported"),
    "KMSKeyArn": (_empty, "environment variables are always encrypted under the node's master key"),
    "SourceKMSKeyArn": (_empty, "code is stored under the node's own keys"),
    "CodeSigningConfigArn": (_empty, "code signing is not supported"),
    "SnapStart": (_mode("ApplyOn", "None"), "SnapStart is not supported; only ApplyOn None"),
    "TenancyConfig": (lambda v: v is None, "tenant isolation is not supported"),
    "CapacityProviderConfig": (lambda v: v is None, "capacity providers are not supported"),
    "DurableConfig": (lambda v: v is None, "durable functions are not supported"),
    "RuntimeConfig": (lambda v: v is None, "runtime management settings are not supported"),
    "AcceleratorConfig": (lambda v: v is None, "accelerators are not supported"),
    # Code locations: faas stores the code it is given, it does not fetch it.
    "S3Bucket": (_empty, "S3 code locations are not supported; upload the zip (ZipFile)"),
    "S3Key": (_empty, "S3 code locations are not supported; upload the zip (ZipFile)"),
    "S3ObjectVersion": (_empty, "S3 code locations are not supported; upload the zip (ZipFile)"),
    "S3ObjectStorageMode": (lambda v: v is None, "S3 code locations are not supported; upload the zip (ZipFile)"),
}

# The parameters of each operation (botocore's lambda model) that faas refuses unless they hold a no-op value.
OPERATIONS: dict[str, tuple[str, ...]] = {
    "CreateFunction": ("Publish", "PublishTo", "Layers", "TracingConfig", "VpcConfig",
                       "FileSystemConfigs", "KMSKeyArn", "CodeSigningConfigArn", "SnapStart", "TenancyConfig", "CapacityProviderConfig", "DurableConfig", "RuntimeConfig",
                       "AcceleratorConfig"),
    "UpdateFunctionConfiguration": ("Layers", "TracingConfig", "VpcConfig", "FileSystemConfigs",
                                    "KMSKeyArn", "SnapStart", "CapacityProviderConfig", "DurableConfig", "RuntimeConfig", "AcceleratorConfig"),
    "UpdateFunctionCode": ("Publish", "PublishTo", "SourceKMSKeyArn", "S3Bucket", "S3Key", "S3ObjectVersion",
                           "S3ObjectStorageMode"),
    # CreateFunction's Code structure
    "FunctionCode": ("S3Bucket", "S3Key", "S3ObjectVersion", "S3ObjectStorageMode", "SourceKMSKeyArn"),
}


def refuse_unhonoured(operation: str, params: Mapping[str, Any], prefix: str = "") -> None:
    """Raise InvalidParameterValue naming the first parameter of `operation` that asks for what faas lacks."""
    for key in OPERATIONS[operation]:
        if key in params:
            accepted, why = REFUSED[key]
            if not accepted(params[key]):
                raise InvalidParameterValue(f"{prefix}{key} is not supported by this platform: {why}.")


def check_logging_config(params: Mapping[str, Any], function_name: str) -> None:
    """A LoggingConfig may name the function's default log group (what GetFunction answers), no other."""
    config = params.get("LoggingConfig")
    if isinstance(config, dict) and config.get("LogGroup") not in (None, f"/aws/lambda/{function_name}"):
        raise InvalidParameterValue("LoggingConfig.LogGroup is not supported by this platform: a function's log "
                                    f"is /aws/lambda/{function_name}, read with GetFunction's logs or `faas logs`.")


def logging_config(value: Any, current: Mapping[str, str]) -> dict[str, str]:
    """The LoggingConfig to store: {} for Text (faas's default), else LogFormat JSON with both levels.

    As on AWS, an absent LogFormat keeps the current one, absent levels keep the current ones (INFO when the
    function was Text), and levels are refused with the Text format, which has none.
    """
    if not isinstance(value, dict):
        raise InvalidParameterValue("LoggingConfig must be an object")
    log_format = value.get("LogFormat") or current.get("LogFormat", DEFAULT_LOG_FORMAT)
    if log_format not in LOG_FORMATS:
        raise InvalidParameterValue(f"LoggingConfig.LogFormat must be one of {', '.join(LOG_FORMATS)}; "
                                    f"got {str(log_format)[:40]}")
    levels = {"ApplicationLogLevel": APPLICATION_LOG_LEVELS, "SystemLogLevel": SYSTEM_LOG_LEVELS}
    for key, allowed in levels.items():
        if value.get(key) is not None and value[key] not in allowed:
            raise InvalidParameterValue(f"LoggingConfig.{key} must be one of {', '.join(allowed)}; "
                                        f"got {str(value[key])[:40]}")
    if log_format == DEFAULT_LOG_FORMAT:
        if any(value.get(key) is not None for key in levels):
            raise InvalidParameterValue("LoggingConfig.ApplicationLogLevel and SystemLogLevel can only be set "
                                        "with LogFormat JSON.")
        return {}
    return {"LogFormat": log_format, **{key: value.get(key) or current.get(key) or DEFAULT_LOG_LEVEL
                                        for key in levels}}


def architecture(params: Mapping[str, Any], supported: tuple[str, ...]) -> str | None:
    """The one architecture `Architectures` asks for (None when absent), refused if this node cannot run it."""
    value = params.get("Architectures")
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 1 or value[0] not in ARCHITECTURES:
        raise InvalidParameterValue(f"Architectures must be a list of exactly one of {', '.join(ARCHITECTURES)}; "
                                    f"got {str(value)[:80]}")
    if value[0] not in supported:
        raise InvalidParameterValue(f"Architectures {value[0]} is not supported by this platform: this node runs "
                                    f"{', '.join(supported)} only.")
    return value[0]


def engine_architectures(engine: str) -> tuple[str, ...]:
    """The Lambda architectures a container engine reporting `engine` (`docker info`) runs natively."""
    lambda_name = ENGINE_ARCHITECTURES.get(engine.lower())
    return (lambda_name,) if lambda_name else ()


def _tag_text(text: str) -> bool:
    # Lambda's pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]*
    return all(ch.isalpha() or ch.isnumeric() or unicodedata.category(ch).startswith("Z") or ch in TAG_PUNCTUATION
               for ch in text)


def validate_tag_key(key: Any) -> str:
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_TAG_KEY or not _tag_text(key):
        raise InvalidParameterValue(f"Tag key {str(key)[:MAX_TAG_KEY + 2]!r} is not valid: 1-{MAX_TAG_KEY} letters, "
                                    "digits, spaces and _.:/=+-@")
    if key.lower().startswith(RESERVED_TAG_PREFIX):
        raise InvalidParameterValue(f"Tag key {key!r} is not valid: the prefix {RESERVED_TAG_PREFIX} is reserved "
                                    "for AWS's own tags")
    return key


def validate_tags(tags: Any) -> dict[str, str]:
    """A Tags map as Lambda accepts it (its count is checked with the function's existing tags by the caller)."""
    if tags is None:
        return {}
    if not isinstance(tags, dict):
        raise InvalidParameterValue("Tags must be a map of tag keys to values")
    for key, value in tags.items():
        validate_tag_key(key)
        if not isinstance(value, str) or len(value) > MAX_TAG_VALUE or not _tag_text(value):
            raise InvalidParameterValue(f"Tag value for key {key!r} is not valid: 0-{MAX_TAG_VALUE} letters, digits, "
                                        "spaces and _.:/=+-@")
    check_tag_count(len(tags))
    return dict(tags)


def check_tag_count(count: int) -> None:
    if count > MAX_TAGS:
        raise InvalidParameterValue(f"Tags: a function can have at most {MAX_TAGS} tags; this request would give it "
                                    f"{count}")
