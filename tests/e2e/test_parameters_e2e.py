"""Lambda's function parameters through boto3 and the AWS CLI against a real `faas serve`: tags round-trip,
the architecture is the node's, and every parameter faas does not honour is refused by name, changing nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import ROLE, Server, make_zip, unique
from tests.e2e.test_config_security_e2e import allow, lambda_as, principal

pytestmark = pytest.mark.docker

ECHO = make_zip({"app.py": "def handler(event, context):\n    return event\n"})
ARN = "arn:aws:lambda:us-east-1:000000000000:function:{}"


def create(lam, name: str, **extra):  # type: ignore[no-untyped-def]
    return lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                               Code={"ZipFile": ECHO}, **extra)


def refused(call, *args, **kwargs) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as exc_info:
        call(*args, **kwargs)
    error = exc_info.value.response["Error"]
    return error["Code"], error.get("Message", "")


def test_tags_round_trip(lam) -> None:  # type: ignore[no-untyped-def]
    name = unique("tags")
    arn = ARN.format(name)
    create(lam, name, Tags={"team": "payments", "env": "prod"})
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "payments", "env": "prod"}
    assert lam.get_function(FunctionName=name)["Tags"] == {"team": "payments", "env": "prod"}

    lam.tag_resource(Resource=arn, Tags={"env": "staging", "owner": "ana@example.com"})
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "payments", "env": "staging",
                                                   "owner": "ana@example.com"}
    lam.untag_resource(Resource=arn, TagKeys=["team", "owner", "absent"])
    assert lam.get_function(FunctionName=name)["Tags"] == {"env": "staging"}

    # Deleting the function deletes its tags: a new function of the same name starts without them.
    lam.delete_function(FunctionName=name)
    assert refused(lam.list_tags, Resource=arn)[0] == "ResourceNotFoundException"
    create(lam, name)
    assert lam.list_tags(Resource=arn)["Tags"] == {}
    assert lam.get_function(FunctionName=name)["Tags"] == {}


def test_bad_tags_are_refused_and_change_nothing(lam) -> None:  # type: ignore[no-untyped-def]
    name = unique("badtags")
    arn = ARN.format(name)
    create(lam, name, Tags={f"k{i}": "v" for i in range(49)})
    before = lam.list_tags(Resource=arn)["Tags"]
    for tags, words in [({"x1": "v", "x2": "v"}, "at most 50 tags"), ({"aws:owner": "me"}, "reserved"),
                        ({"k" * 129: "v"}, "Tag key"), ({"k": "v" * 257}, "Tag value"), ({"a*b": "v"}, "Tag key")]:
        code, message = refused(lam.tag_resource, Resource=arn, Tags=tags)
        assert code == "InvalidParameterValueException" and words in message, message
    assert refused(lam.untag_resource, Resource=arn, TagKeys=["aws:x"])[0] == "InvalidParameterValueException"
    assert lam.list_tags(Resource=arn)["Tags"] == before
    lam.tag_resource(Resource=arn, Tags={"k0": "overwritten", "fiftieth": ""})  # overwrite + one new: 50
    assert len(lam.list_tags(Resource=arn)["Tags"]) == 50

    # CreateFunction with bad tags creates nothing.
    other = unique("badtags")
    code, message = refused(create, lam, other, Tags={f"t{i}": "v" for i in range(51)})
    assert code == "InvalidParameterValueException" and "at most 50 tags" in message
    assert refused(lam.get_function, FunctionName=other)[0] == "ResourceNotFoundException"

    # Unknown, foreign, qualified or bare resources.
    missing = ARN.format(unique("missing"))
    for call in (lambda: lam.list_tags(Resource=missing),
                 lambda: lam.tag_resource(Resource=missing, Tags={"a": "b"}),
                 lambda: lam.untag_resource(Resource=missing, TagKeys=["a"]),
                 lambda: lam.list_tags(Resource=f"arn:aws:lambda:us-east-1:111111111111:function:{name}")):
        assert refused(call)[0] == "ResourceNotFoundException"
    for resource in (name, arn + ":$LATEST"):
        assert refused(lam.list_tags, Resource=resource)[0] == "InvalidParameterValueException"


def test_tagging_needs_its_own_permissions(server: Server, lam) -> None:  # type: ignore[no-untyped-def]
    name = unique("tagperm")
    arn = ARN.format(name)
    create(lam, name, Tags={"team": "a"})
    reader = lambda_as(server, principal(server, [allow(["lambda:GetFunction", "lambda:CreateFunction", "iam:PassRole"], "*")]))
    got = reader.get_function(FunctionName=name)
    assert "Tags" not in got and got["TagsError"]["ErrorCode"] == "AccessDeniedException"
    for call in (lambda: reader.list_tags(Resource=arn), lambda: reader.tag_resource(Resource=arn, Tags={"a": "b"}),
                 lambda: reader.untag_resource(Resource=arn, TagKeys=["team"])):
        assert refused(call)[0] == "AccessDeniedException"
    # Creating with tags needs lambda:TagResource too, as on AWS; without tags the same principal may create.
    other = unique("tagperm")
    assert refused(create, reader, other, Tags={"a": "b"})[0] == "AccessDeniedException"
    assert refused(lam.get_function, FunctionName=other)[0] == "ResourceNotFoundException"
    create(reader, other)
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "a"}


def test_the_architecture_is_the_nodes(lam) -> None:  # type: ignore[no-untyped-def]
    name = unique("arch")
    code, message = refused(create, lam, name, Architectures=["arm64"])
    assert code == "InvalidParameterValueException" and message.startswith("Architectures arm64"), message
    assert refused(lam.get_function, FunctionName=name)[0] == "ResourceNotFoundException"

    assert create(lam, name, Architectures=["x86_64"])["Architectures"] == ["x86_64"]
    assert lam.get_function_configuration(FunctionName=name)["Architectures"] == ["x86_64"]
    revision = lam.get_function_configuration(FunctionName=name)["RevisionId"]
    code, _ = refused(lam.update_function_code, FunctionName=name, ZipFile=ECHO, Architectures=["arm64"])
    assert code == "InvalidParameterValueException"
    assert lam.get_function_configuration(FunctionName=name)["RevisionId"] == revision
    updated = lam.update_function_code(FunctionName=name, ZipFile=ECHO, Architectures=["x86_64"])
    assert updated["Architectures"] == ["x86_64"]
    answer = lam.invoke(FunctionName=name, Payload=b'{"ok": 1}')
    assert json.loads(answer["Payload"].read()) == {"ok": 1}


UNHONOURED_ON_CREATE = [
    ("Publish", True), ("Layers", ["arn:aws:lambda:us-east-1:123456789012:layer:deps:1"]),
    ("TracingConfig", {"Mode": "Active"}),
    ("VpcConfig", {"SubnetIds": ["subnet-0abc"], "SecurityGroupIds": ["sg-0abc"]}),
    ("FileSystemConfigs", [{"Arn": "arn:aws:elasticfilesystem:us-east-1:000000000000:access-point/fsap-1",
                            "LocalMountPath": "/mnt/efs"}]),
    ("KMSKeyArn", "arn:aws:kms:us-east-1:000000000000:key/1234"),
    ("SnapStart", {"ApplyOn": "PublishedVersions"}),
    ("CodeSigningConfigArn", "arn:aws:lambda:us-east-1:000000000000:code-signing-config:csc-0123456789abcdef0"),
    ("ImageConfig", {"Command": ["app.handler"]}),
]


@pytest.mark.parametrize("key,value", UNHONOURED_ON_CREATE, ids=[k for k, _ in UNHONOURED_ON_CREATE])
def test_create_refuses_what_it_cannot_honour(lam, key, value) -> None:  # type: ignore[no-untyped-def]
    name = unique("unhonoured")
    code, message = refused(create, lam, name, **{key: value})
    assert code == "InvalidParameterValueException" and message.startswith(key), message
    assert refused(lam.get_function, FunctionName=name)[0] == "ResourceNotFoundException"


@pytest.mark.parametrize("key,value", [(k, v) for k, v in UNHONOURED_ON_CREATE
                                       if k not in ("Publish", "CodeSigningConfigArn")],
                         ids=[k for k, _ in UNHONOURED_ON_CREATE if k not in ("Publish", "CodeSigningConfigArn")])
def test_update_configuration_refuses_what_it_cannot_honour(lam, key, value) -> None:  # type: ignore[no-untyped-def]
    name = unique("unhonoured")
    create(lam, name)
    before = lam.get_function_configuration(FunctionName=name)
    code, message = refused(lam.update_function_configuration, FunctionName=name, Timeout=9, **{key: value})
    assert code == "InvalidParameterValueException" and message.startswith(key), message
    after = lam.get_function_configuration(FunctionName=name)
    assert (after["RevisionId"], after["Timeout"]) == (before["RevisionId"], before["Timeout"])


def test_update_code_refuses_publish_and_s3(lam) -> None:  # type: ignore[no-untyped-def]
    name = unique("unhonoured")
    create(lam, name)
    revision = lam.get_function_configuration(FunctionName=name)["RevisionId"]
    for kwargs, key in [({"ZipFile": ECHO, "Publish": True}, "Publish"),
                        ({"S3Bucket": "code", "S3Key": "app.zip"}, "S3Bucket")]:
        code, message = refused(lam.update_function_code, FunctionName=name, **kwargs)
        assert code == "InvalidParameterValueException" and message.startswith(key), message
    assert lam.get_function_configuration(FunctionName=name)["RevisionId"] == revision


def test_aws_defaults_are_accepted(lam) -> None:  # type: ignore[no-untyped-def]
    name = unique("defaults")
    created = create(lam, name, Publish=False, Layers=[], TracingConfig={"Mode": "PassThrough"},
                     DeadLetterConfig={}, VpcConfig={"SubnetIds": [], "SecurityGroupIds": []}, FileSystemConfigs=[],
                     SnapStart={"ApplyOn": "None"}, EphemeralStorage={"Size": 1024},
                     LoggingConfig={"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"})
    assert created["EphemeralStorage"] == {"Size": 1024} and created["TracingConfig"] == {"Mode": "PassThrough"}
    updated = lam.update_function_configuration(FunctionName=name, Layers=[], TracingConfig={"Mode": "PassThrough"},
                                                DeadLetterConfig={"TargetArn": ""}, KMSKeyArn="",
                                                EphemeralStorage={"Size": 2048})
    assert updated["EphemeralStorage"] == {"Size": 2048}
    assert lam.update_function_code(FunctionName=name, ZipFile=ECHO, Publish=False)["FunctionName"] == name


def test_tags_with_the_aws_cli(server: Server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FAAS_"))}
    env.update({"AWS_SHARED_CREDENTIALS_FILE": str(server.data_dir / "credentials"),
                "AWS_DEFAULT_REGION": "us-east-1", "HOME": str(tmp_path)})

    def aws(*args: str) -> str:
        result = subprocess.run([sys.executable, "-m", "awscli", "lambda", *args, "--endpoint-url", server.endpoint],
                                env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout

    name = unique("awstags")
    arn = ARN.format(name)
    server.client().create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                                    Code={"ZipFile": ECHO})
    aws("tag-resource", "--resource", arn, "--tags", "team=payments,env=prod")
    assert json.loads(aws("list-tags", "--resource", arn))["Tags"] == {"team": "payments", "env": "prod"}
    aws("untag-resource", "--resource", arn, "--tag-keys", "env")
    assert json.loads(aws("list-tags", "--resource", arn))["Tags"] == {"team": "payments"}
