"""An AWS SAM template read into FunctionSpecs without a server: tags, Parameters, Globals, intrinsics, and
the list of what faas does not deploy."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from faas.errors import ConfigError
from faas.sam import template as sam

SAMPLES = Path(__file__).resolve().parents[1] / "e2e" / "sam"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "stack" / "template.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


HEADER = """\
        Transform: AWS::Serverless-2016-10-31
"""


def test_short_tags_become_intrinsic_functions(tmp_path):
    path = write(tmp_path, """\
        A: !Ref X
        B: !GetAtt Fn.Arn
        C: !Sub "${X}-y"
        D: !Join [",", [!Ref X, b]]
        Resources: {}
    """)
    document = sam.load(path)
    assert document["A"] == {"Ref": "X"}
    assert document["B"] == {"Fn::GetAtt": ["Fn", "Arn"]}
    assert document["C"] == {"Fn::Sub": "${X}-y"}
    assert document["D"] == {"Fn::Join": [",", [{"Ref": "X"}, "b"]]}


def test_not_yaml_or_no_resources_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="is not valid YAML"):
        sam.load(write(tmp_path, "a: [b\n"))
    with pytest.raises(ConfigError, match="is not a SAM template: it has no Resources mapping"):
        sam.load(write(tmp_path, "a: b\n"))
    with pytest.raises(ConfigError, match="cannot read"):
        sam.load(tmp_path / "missing.yaml")


HELLO_PYTHON = Path(__file__).resolve().parents[2] / "examples" / "sam-init-hello"  # sam init's, as it is


def test_hello_world_python_maps_its_api_event_to_a_route_of_an_http_api_at_stage_prod():
    template = sam.read(HELLO_PYTHON / "template.yaml")
    assert template.stack_name == "sam-init-hello"  # the template's folder
    assert template.skipped == []
    (spec,) = template.functions
    assert spec == sam.FunctionSpec(
        logical_id="HelloWorldFunction", name="sam-init-hello-HelloWorldFunction",
        code_uri=(HELLO_PYTHON / "hello_world").resolve(), handler="app.lambda_handler",
        runtime="python3.13", memory_size=128, timeout=3, logging={"LogFormat": "JSON"},
        events=[sam.EventSpec("HelloWorld", "Api", {"Path": "/hello", "Method": "get", "ApiId": "ServerlessRestApi"})])
    # SAM's implicit ServerlessRestApi: an HTTP API with payload format 1.0 and SAM's stage Prod
    assert template.apis == [sam.ApiSpec("ServerlessRestApi", "sam-init-hello-ServerlessRestApi", "Prod", "1.0")]
    assert template.resolved_outputs({"ServerlessRestApi": "abc123"}, {}) == [
        ("HelloWorldApi", "API Gateway endpoint URL for Prod stage for Hello World function",
         "https://abc123.execute-api.us-east-1.amazonaws.com/Prod/hello/"),
        ("HelloWorldFunction", "Hello World Lambda Function ARN",
         "arn:aws:lambda:us-east-1:000000000000:function:sam-init-hello-HelloWorldFunction"),
        # SAM's implicit role: the role the function runs under
        ("HelloWorldFunctionIamRole", "Implicit IAM Role created for Hello World function",
         "arn:aws:iam::000000000000:role/faas-default")]


def test_parameters_globals_and_intrinsics_resolve(tmp_path):
    template = sam.read(SAMPLES / "url-function" / "template.yaml", stack_name="web",
                        overrides={"Stage": "prod"}, region="eu-west-1", account_id="123456789012")
    (spec,) = template.functions
    assert spec.name == "web-greeter-prod"
    assert spec.description == "Greets the caller (prod)"
    assert (spec.runtime, spec.memory_size, spec.timeout, spec.reserved_concurrency) == ("python3.13", 256, 10, 2)
    # Globals' variables merged with the function's (the function's win)
    assert spec.environment == {"STAGE": "prod", "GREETING": "Hello", "REGION": "eu-west-1"}
    assert spec.url == {"AuthType": "NONE", "Cors": {"AllowOrigins": ["*"], "AllowMethods": ["GET"]}}
    assert template.skipped == []


def test_getatt_and_ref_of_another_function_and_sub_forms(tmp_path):
    path = write(tmp_path, HEADER + """\
        Parameters:
          Size: {Type: Number, Default: 512}
          Names: {Type: CommaDelimitedList, Default: "a,b"}
        Resources:
          Worker:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: src/, Handler: app.handler, Runtime: python3.13, MemorySize: !Ref Size}
          Caller:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: ./src
              Handler: app.handler
              Runtime: python3.13
              Role: !Sub "arn:aws:iam::${AWS::AccountId}:role/caller"
              Tags: {team: !Ref AWS::StackName}
              Environment:
                Variables:
                  WORKER: !Ref Worker
                  WORKER_ARN: !GetAtt Worker.Arn
                  LITERAL: !Sub "${!NotAVariable}"
                  WITH_VARS: !Sub ["${Prefix}-${AWS::StackName}", {Prefix: !Ref Size}]
                  JOINED: !Join ["/", !Ref Names]
    """)
    template = sam.read(path)
    worker, caller = template.functions
    assert worker.memory_size == 512
    assert caller.role == "arn:aws:iam::000000000000:role/caller"
    assert caller.environment == {
        "WORKER": "stack-Worker", "WORKER_ARN": "arn:aws:lambda:us-east-1:000000000000:function:stack-Worker",
        "LITERAL": "${NotAVariable}", "WITH_VARS": "512-stack", "JOINED": "a/b"}
    assert worker.code_uri == caller.code_uri == (path.parent / "src").resolve()
    assert (worker.tags, caller.tags) == ({}, {"team": "stack"})


def test_globals_lists_join_and_the_function_wins_on_plain_values():
    assert sam._merge_globals({"Timeout": 3, "Environment": {"Variables": {"A": "1", "B": "1"}}, "Layers": ["x"]},
                              {"Timeout": 5, "Environment": {"Variables": {"B": "2"}}, "Layers": ["y"]}) == {
        "Timeout": 5, "Environment": {"Variables": {"A": "1", "B": "2"}}, "Layers": ["x", "y"]}


def test_every_unsupported_thing_is_listed_at_once(tmp_path):
    path = write(tmp_path, HEADER + """\
        Conditions:
          IsProd: !Equals [!Ref AWS::StackName, prod]
        Globals:
          Api: {Cors: "'*'"}
          Function: {Tracing: Active}
        Resources:
          Table:
            Type: AWS::Serverless::SimpleTable
          Fn:
            Type: AWS::Serverless::Function
            DependsOn: Table
            Properties:
              CodeUri: src/
              Handler: app.handler
              Runtime: python3.13
              Architectures: [arm64]
              Layers: [arn:aws:lambda:us-east-1:000000000000:layer:x:1]
              VpcConfig: {SubnetIds: [a]}
              Environment: {Variables: {A: !If [IsProd, a, b]}}
              Events:
                Stream: {Type: Kinesis, Properties: {Stream: arn}}
                Tick: {Type: Schedule, Properties: {Schedule: rate(1 minute), RetryPolicy: {}}}
                Queue: {Type: SQS, Properties: {BatchSize: 5}}
    """)
    with pytest.raises(sam.UnsupportedTemplate) as caught:
        sam.read(path)
    assert caught.value.problems == [
        "Resources.Fn.Properties.Events.Queue.Properties.Queue missing",
        "Resources.Fn.Properties.Environment.Variables.A: the intrinsic function Fn::If is not supported "
        "(supported: Ref, Fn::Sub, Fn::GetAtt, Fn::Join)",
        "Resources.Fn.Properties.Layers: ['arn:aws:lambda:us-east-1:000000000000:layer:x:1'] is not supported: "
        "faas has no layers (only [])",
        "Resources.Fn.Properties.Architectures: ['arm64'] is not supported: faas runs x86_64 only (only ['x86_64'])",
        "Resources.Fn.Properties.Tracing: 'Active' is not supported: faas has no X-Ray tracing (only 'Disabled')",
        "Conditions: the template section is not supported",
        "Globals.Api: only Globals.Function is supported",
        "Resources.Table: the resource type AWS::Serverless::SimpleTable is not supported "
        "(supported: AWS::Serverless::Function, AWS::SQS::Queue, AWS::SNS::Topic, AWS::Serverless::HttpApi)",
        "Resources.Fn.DependsOn: not supported",
        "Resources.Fn.Properties.VpcConfig: the property is not supported",
        "Resources.Fn.Properties.Events.Stream: events of type Kinesis are not supported (supported: SQS, Schedule, SNS, EventBridgeRule, ScheduleV2, HttpApi, Api)",
        "Resources.Fn.Properties.Events.Tick.Properties.RetryPolicy: not supported for Schedule events",
    ]
    # what leaves a function undeployable is refused even with --skip-unsupported
    with pytest.raises(sam.UnsupportedTemplate, match="faas has no layers"):
        sam.read(path, skip_unsupported=True)


def test_parameters_are_checked(tmp_path):
    path = write(tmp_path, HEADER + """\
        Parameters:
          Stage: {Type: String, AllowedValues: [dev, prod]}
          Count: {Type: Number, Default: "x"}
          Vpc: {Type: "AWS::EC2::VPC::Id"}
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: s3://bucket/key.zip, Runtime: python3.13}
    """)
    with pytest.raises(sam.UnsupportedTemplate) as caught:
        sam.read(path, overrides={"Stag": "dev"})
    assert caught.value.problems == [
        "--parameter-overrides Stag: the template declares no such parameter",
        "Parameters.Stage has no Default: give it with --parameter-overrides Stage=VALUE",
        "Parameters.Count: 'x' is not a Number",
        "Parameters.Vpc: the type AWS::EC2::VPC::Id is not supported (supported: CommaDelimitedList, Number, String)",
        "Resources.Fn.Properties.CodeUri: 's3://bucket/key.zip' is not supported: faas deploys a local folder or "
        ".zip (InlineCode and S3 locations are not supported)",
    ]
    with pytest.raises(sam.UnsupportedTemplate, match=r"Parameters.Stage: 'test' is not one of its AllowedValues"):
        sam.read(path, overrides={"Stage": "test", "Count": "1"})


def test_unknown_references_and_a_missing_transform_are_named(tmp_path):
    path = write(tmp_path, """\
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: src/
              Runtime: python3.13
              Role: !GetAtt FnRole.Arn
              Description: !Ref Nothing
    """)
    with pytest.raises(sam.UnsupportedTemplate) as caught:
        sam.read(path)
    assert caught.value.problems == [
        "Transform: None is not supported: faas reads SAM templates (Transform: AWS::Serverless-2016-10-31)",
        "Resources.Fn.Properties.Role: Fn::GetAtt FnRole.Arn is not known to faas "
        "(known: <Function>.Arn, <Function>Role.Arn, <Function>Url.FunctionUrl in Outputs, <Queue>.Arn, "
        "<Queue>.QueueName, <Queue>.QueueUrl, "
        "<Topic>.TopicName, <Topic>.TopicArn)",
        "Resources.Fn.Properties.Description: Ref 'Nothing' names no parameter, pseudo parameter or resource "
        "faas deploys",
        "Resources.Fn.Properties: Handler missing",
    ]


def test_parameter_overrides_take_both_forms():
    assert sam.parse_overrides(["Stage=prod", "ParameterKey=Greeting,ParameterValue=Hi, there"]) == {
        "Stage": "prod", "Greeting": "Hi, there"}
    with pytest.raises(ConfigError, match="is not Key=Value"):
        sam.parse_overrides(["Stage"])
    with pytest.raises(ConfigError, match="expected ParameterKey=K,ParameterValue=V"):
        sam.parse_overrides(["ParameterKey=Stage"])


def test_default_names_fit_lambdas_limit():
    assert sam.default_function_name("s" * 60, "Function") == ("s" * 60 + "-Fun")


def test_an_sqs_consumer_and_its_queue(tmp_path):
    template = sam.read(SAMPLES / "sqs-consumer" / "template.yaml", stack_name="s",
                        queue_url_base="http://127.0.0.1:9000/000000000000/")
    assert template.queues == [sam.QueueSpec("MySqsQueue", "s-MySqsQueue", {"VisibilityTimeout": "60"})]
    (function,) = template.functions
    assert function.events == [sam.EventSpec("MySQSEvent", "SQS", {
        "Queue": "arn:aws:sqs:us-east-1:000000000000:s-MySqsQueue", "BatchSize": 10})]


def test_a_queues_ref_is_its_url_and_its_attributes_resolve(tmp_path):
    path = write(tmp_path, HEADER + """\
        Resources:
          Dlq: {Type: AWS::SQS::Queue, Properties: {QueueName: !Sub "${AWS::StackName}-dead"}}
          Jobs:
            Type: AWS::SQS::Queue
            Properties:
              RedrivePolicy: {deadLetterTargetArn: !GetAtt Dlq.Arn, maxReceiveCount: 3}
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: src/
              Handler: app.handler
              Runtime: python3.13
              Environment: {Variables: {JOBS: !Ref Jobs, DLQ: !GetAtt Dlq.QueueName}}
              Events:
                Nightly: {Type: Schedule, Properties: {Schedule: "cron(0 3 * * ? *)", Input: '{"a": 1}', Enabled: false}}
    """)
    template = sam.read(path)
    dlq, jobs = template.queues
    assert dlq.name == "stack-dead"
    assert jobs.attributes == {"RedrivePolicy": '{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:'
                                                'stack-dead","maxReceiveCount":3}'}
    (function,) = template.functions
    assert function.environment == {"JOBS": "https://sqs.us-east-1.amazonaws.com/000000000000/stack-Jobs",
                                    "DLQ": "stack-dead"}
    assert function.events == [sam.EventSpec("Nightly", "Schedule", {
        "Schedule": "cron(0 3 * * ? *)", "Input": '{"a": 1}', "Enabled": False})]


def test_a_topic_and_an_sns_event(tmp_path):
    path = write(tmp_path, HEADER + """\
        Resources:
          Alerts: {Type: AWS::SNS::Topic, Properties: {DisplayName: Alerts}}
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: src/
              Handler: app.handler
              Runtime: python3.13
              Environment: {Variables: {TOPIC: !Ref Alerts, NAME: !GetAtt Alerts.TopicName}}
              Events:
                Alert:
                  Type: SNS
                  Properties: {Topic: !Ref Alerts, FilterPolicy: {level: [error]}}
    """)
    template = sam.read(path)
    assert template.topics == [sam.TopicSpec("Alerts", "stack-Alerts", {"DisplayName": "Alerts"})]
    (function,) = template.functions
    assert function.environment == {"TOPIC": "arn:aws:sns:us-east-1:000000000000:stack-Alerts", "NAME": "stack-Alerts"}
    assert function.events == [sam.EventSpec("Alert", "SNS", {
        "Topic": "arn:aws:sns:us-east-1:000000000000:stack-Alerts", "FilterPolicy": {"level": ["error"]}})]


def test_an_eventbridge_rule_event():
    template = sam.read(SAMPLES / "eventbridge-consumer" / "template.yaml")
    (function,) = template.functions
    assert function.events == [sam.EventSpec("Trigger", "EventBridgeRule", {
        "Pattern": {"source": ["demo.orders"], "detail-type": ["Order Placed"]}})]


def test_a_schedule_v2_event():
    template = sam.read(SAMPLES / "scheduler-job" / "template.yaml")
    (function,) = template.functions
    assert function.events == [sam.EventSpec("EveryMinute", "ScheduleV2", {
        "ScheduleExpression": "rate(1 minute)", "Input": '{"report": "minutely"}'})]


def test_an_http_api_resource_with_its_stage_cors_and_jwt_authorizer(tmp_path):
    path = write(tmp_path, HEADER + """\
        Resources:
          MyApi:
            Type: AWS::Serverless::HttpApi
            Properties:
              StageName: v1
              FailOnWarnings: true
              CorsConfiguration:
                AllowOrigins: ["https://example.com"]
                AllowMethods: [get]
              Auth:
                DefaultAuthorizer: OAuth
                Authorizers:
                  OAuth:
                    IdentitySource: $request.header.Authorization
                    JwtConfiguration:
                      issuer: https://issuer.example.com
                      audience: [my-app]
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: src/
              Handler: app.handler
              Runtime: python3.13
              Events:
                Private: {Type: HttpApi, Properties: {ApiId: !Ref MyApi, Path: /me, Method: get}}
                Open:
                  Type: HttpApi
                  Properties: {ApiId: !Ref MyApi, Path: /health, Method: get, Auth: {Authorizer: NONE}}
        Outputs:
          Url:
            Value: !Sub "https://${MyApi}.execute-api.${AWS::Region}.amazonaws.com/v1/"
    """)
    template = sam.read(path, stack_name="shop")
    assert template.apis == [sam.ApiSpec(
        "MyApi", "shop-MyApi", "v1", "2.0", {"allowOrigins": ["https://example.com"], "allowMethods": ["GET"]},
        {"OAuth": {"name": "OAuth", "authorizerType": "JWT", "identitySource": ["$request.header.Authorization"],
                   "jwtConfiguration": {"issuer": "https://issuer.example.com", "audience": ["my-app"]}}}, "OAuth")]
    (spec,) = template.functions
    assert [event.properties for event in spec.events] == [
        {"Path": "/me", "Method": "get", "ApiId": "MyApi"},
        {"Path": "/health", "Method": "get", "ApiId": "MyApi", "Auth": {"Authorizer": "NONE"}}]
    assert template.resolved_outputs({"MyApi": "x1"}, {}) == [
        ("Url", "", "https://x1.execute-api.us-east-1.amazonaws.com/v1/")]
    assert template.notes == ["Resources.MyApi.Properties.FailOnWarnings has no effect: it tunes CloudFormation's "
                              "import of an OpenAPI definition, which faas does not do"]


def test_what_a_rest_api_or_an_http_api_has_beyond_faas_is_listed(tmp_path):
    path = write(tmp_path, HEADER + """\
        Resources:
          RestApi:
            Type: AWS::Serverless::Api
            Properties: {StageName: prod}
          MyApi:
            Type: AWS::Serverless::HttpApi
            Properties:
              AccessLogSettings: {}
              Auth:
                Authorizers:
                  Custom: {FunctionArn: arn}
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: src/
              Handler: app.handler
              Runtime: python3.13
              Events:
                Keyed:
                  Type: Api
                  Properties: {Path: /k, Method: post, RestApiId: !Ref RestApi}
                Validated:
                  Type: Api
                  Properties: {Path: /v, Method: post, RequestModel: {Model: M}, Auth: {ApiKeyRequired: true}}
                Unknown: {Type: HttpApi, Properties: {ApiId: !Ref Nowhere, Path: /n}}
                WrongAuth: {Type: HttpApi, Properties: {ApiId: !Ref MyApi, Auth: {Authorizer: Missing}}}
                NoMethod: {Type: Api, Properties: {Path: /m}}
                Upload: {Type: S3, Properties: {Bucket: !Ref RestApi, Events: s3:ObjectCreated:*}}
    """)
    with pytest.raises(sam.UnsupportedTemplate) as caught:
        sam.read(path, stack_name="s")
    where = "Resources.Fn.Properties.Events"
    assert caught.value.problems == [
        f"{where}.WrongAuth.Properties.Auth.Authorizer: 'Missing' is not an authorizer of MyApi (its Auth.Authorizers)",
        f"{where}.NoMethod.Properties.Method missing",
        "Resources.RestApi: the resource type AWS::Serverless::Api is not supported (a REST API: faas serves Api "
        "events' routes on an HTTP API) (supported: AWS::Serverless::Function, AWS::SQS::Queue, AWS::SNS::Topic, "
        "AWS::Serverless::HttpApi)",
        "Resources.MyApi.Properties.AccessLogSettings: the property is not supported",
        "Resources.MyApi.Properties.Auth.Authorizers.Custom: only JWT authorizers (JwtConfiguration, "
        "IdentitySource) are supported",
        f"{where}.Keyed.Properties.RestApiId: {{'Ref': 'RestApi'}} is not supported: faas deploys routes of the "
        "AWS::Serverless::HttpApi resources of the template (!Ref MyApi) and of the implicit ServerlessRestApi",
        f"{where}.Validated.Properties.RequestModel: not supported for Api events",
        f"{where}.Validated.Properties.Auth: {{'ApiKeyRequired': True}} is not supported: a REST Api event's route "
        "is open (Auth: {Authorizer: NONE})",
        f"{where}.Unknown.Properties.ApiId: {{'Ref': 'Nowhere'}} is not supported: faas deploys routes of the "
        "AWS::Serverless::HttpApi resources of the template (!Ref MyApi) and of the implicit ServerlessHttpApi",
        f"{where}.Upload: events of type S3 are not supported: faas has no S3 notifications "
        "(supported: SQS, Schedule, SNS, EventBridgeRule, ScheduleV2, HttpApi, Api)",
    ]
    # with --skip-unsupported the routes faas can serve are deployed, the others left out
    fixed = path.read_text().replace("Auth: {Authorizer: Missing}", "Path: /ok").replace(
        "Properties: {Path: /m}", "Properties: {Path: /m, Method: get}")
    path.write_text(fixed)
    template = sam.read(path, stack_name="s", skip_unsupported=True)
    assert [(event.event_id, event.properties.get("ApiId")) for event in template.functions[0].events] == [
        ("Validated", "ServerlessRestApi"), ("WrongAuth", "MyApi"), ("NoMethod", "ServerlessRestApi")]
    assert [api.logical_id for api in template.apis] == ["ServerlessRestApi", "MyApi"]


def test_layers_are_refused_even_with_skip_unsupported(tmp_path):
    path = write(tmp_path, HEADER + """\
        Globals:
          Function:
            Layers: [!Ref Shared]
        Resources:
          Shared:
            Type: AWS::Serverless::LayerVersion
            Properties: {ContentUri: layer/}
          Fn:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: src/, Handler: app.handler, Runtime: python3.13}
    """)
    with pytest.raises(sam.UnsupportedTemplate) as caught:
        sam.read(path, skip_unsupported=True)
    assert "  - Resources.Fn.Properties.Layers: [None] is not supported: faas has no layers (only [])" \
        in str(caught.value).splitlines()
