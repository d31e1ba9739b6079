"""Lambda's function parameters: the ones faas refuses (unless they ask for nothing), tags and architectures."""

from __future__ import annotations

import pytest

from faas.errors import InvalidParameterValue
from faas.services import parameters
from faas.services.parameters import (
    OPERATIONS,
    REFUSED,
    architecture,
    check_logging_config,
    engine_architectures,
    logging_config,
    refuse_unhonoured,
    validate_tags,
)


@pytest.mark.parametrize("operation,key,value", [
    ("CreateFunction", "Publish", True),
    ("CreateFunction", "PublishTo", "LATEST_PUBLISHED"),
    ("CreateFunction", "Layers", ["arn:aws:lambda:us-east-1:123456789012:layer:x:1"]),
    ("CreateFunction", "TracingConfig", {"Mode": "Active"}),
    ("CreateFunction", "VpcConfig", {"SubnetIds": ["subnet-1"], "SecurityGroupIds": []}),
    ("CreateFunction", "VpcConfig", {"Ipv6AllowedForDualStack": True}),
    ("CreateFunction", "FileSystemConfigs", [{"Arn": "arn:aws:elasticfilesystem:x", "LocalMountPath": "/mnt/x"}]),
    ("CreateFunction", "KMSKeyArn", "arn:aws:kms:us-east-1:123456789012:key/k"),
    ("CreateFunction", "CodeSigningConfigArn", "arn:aws:lambda:us-east-1:123456789012:code-signing-config:csc-1"),
    ("CreateFunction", "SnapStart", {"ApplyOn": "PublishedVersions"}),
    ("UpdateFunctionConfiguration", "Layers", ["arn:aws:lambda:us-east-1:123456789012:layer:x:1"]),
    ("UpdateFunctionConfiguration", "TracingConfig", {"Mode": "Active"}),
    ("UpdateFunctionConfiguration", "SnapStart", {"ApplyOn": "PublishedVersions"}),
    ("UpdateFunctionCode", "Publish", True),
    ("UpdateFunctionCode", "S3Bucket", "bucket"),
    ("UpdateFunctionCode", "SourceKMSKeyArn", "arn:aws:kms:us-east-1:123456789012:key/k"),
    ("FunctionCode", "S3Key", "code.zip"),
])
def test_a_parameter_faas_cannot_honour_is_refused_by_name(operation, key, value) -> None:
    with pytest.raises(InvalidParameterValue, match=f"^{key} is not supported"):
        refuse_unhonoured(operation, {key: value})


@pytest.mark.parametrize("key,value", [
    ("Publish", False), ("Layers", []), ("TracingConfig", {"Mode": "PassThrough"}), ("TracingConfig", {}),
    ("VpcConfig", {"SubnetIds": [], "SecurityGroupIds": []}), ("FileSystemConfigs", []), ("KMSKeyArn", ""),
    ("SnapStart", {"ApplyOn": "None"}), ("Publish", None),
])
def test_aws_defaults_ask_for_nothing_and_are_accepted(key, value) -> None:
    refuse_unhonoured("CreateFunction", {key: value})


def test_every_operations_parameter_has_a_reason() -> None:
    for keys in OPERATIONS.values():
        assert set(keys) <= set(REFUSED)
    assert all(why for _, why in REFUSED.values())


def test_the_log_group_may_only_be_the_functions_own() -> None:
    check_logging_config({"LoggingConfig": {"LogFormat": "Text", "LogGroup": "/aws/lambda/f"}}, "f")
    with pytest.raises(InvalidParameterValue, match="LoggingConfig.LogGroup"):
        check_logging_config({"LoggingConfig": {"LogGroup": "/custom"}}, "f")


def test_architectures_are_one_the_node_runs() -> None:
    assert architecture({}, ("x86_64",)) is None
    assert architecture({"Architectures": ["x86_64"]}, ("x86_64",)) == "x86_64"
    assert architecture({"Architectures": ["arm64"]}, ("arm64",)) == "arm64"
    with pytest.raises(InvalidParameterValue, match="^Architectures arm64 is not supported"):
        architecture({"Architectures": ["arm64"]}, ("x86_64",))
    for bad in ([], ["x86_64", "arm64"], ["sparc"], "x86_64"):
        with pytest.raises(InvalidParameterValue, match="^Architectures"):
            architecture({"Architectures": bad}, ("x86_64", "arm64"))


@pytest.mark.parametrize("engine,expected", [
    ("x86_64", ("x86_64",)), ("aarch64", ("arm64",)), ("arm64", ("arm64",)), ("s390x", ()), ("", ()),
])
def test_the_engines_architecture_in_lambdas_words(engine, expected) -> None:
    assert engine_architectures(engine) == expected


def test_tags_as_lambda_accepts_them() -> None:
    assert validate_tags(None) == {}
    tags = {"team": "a b", "k" * 128: "v" * 256, "é:/=+-@_.": "", "n1": "ü"}
    assert validate_tags(tags) == tags
    assert validate_tags({f"k{i}": "v" for i in range(parameters.MAX_TAGS)})


@pytest.mark.parametrize("tags,message", [
    ({"": "v"}, "Tag key"), ({"k" * 129: "v"}, "Tag key"), ({"a*b": "v"}, "Tag key"),
    ({"aws:x": "v"}, "reserved"), ({"AWS:x": "v"}, "reserved"), ({"k": "v" * 257}, "Tag value"),
    ({"k": 1}, "Tag value"), ({"k": "a;b"}, "Tag value"), (["k"], "Tags must be a map"),
    ({f"k{i}": "v" for i in range(51)}, "at most 50 tags"),
])
def test_bad_tags_are_refused(tags, message) -> None:
    with pytest.raises(InvalidParameterValue, match=message):
        validate_tags(tags)


def test_logging_config_json_gets_both_levels_and_text_stores_nothing() -> None:
    assert logging_config({"LogFormat": "Text"}, {}) == {}
    assert logging_config({"LogFormat": "JSON"}, {}) == {
        "LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": "INFO"}
    current = logging_config({"LogFormat": "JSON", "ApplicationLogLevel": "WARN", "SystemLogLevel": "DEBUG"}, {})
    # An update without LogFormat or levels keeps the function's own.
    assert logging_config({"SystemLogLevel": "WARN"}, current) == {
        "LogFormat": "JSON", "ApplicationLogLevel": "WARN", "SystemLogLevel": "WARN"}
    assert logging_config({"LogFormat": "Text"}, current) == {}


@pytest.mark.parametrize("value,match", [
    ({"ApplicationLogLevel": "DEBUG"}, "only be set with LogFormat JSON"),
    ({"LogFormat": "Text", "SystemLogLevel": "INFO"}, "only be set with LogFormat JSON"),
    ({"LogFormat": "XML"}, "LogFormat must be one of Text, JSON"),
    ({"LogFormat": "JSON", "ApplicationLogLevel": "VERBOSE"}, "ApplicationLogLevel must be one of"),
    ({"LogFormat": "JSON", "SystemLogLevel": "ERROR"}, "SystemLogLevel must be one of DEBUG, INFO, WARN"),
    ("JSON", "must be an object"),
])
def test_logging_config_refuses_what_lambda_refuses(value, match) -> None:
    with pytest.raises(InvalidParameterValue, match=match):
        logging_config(value, {})
