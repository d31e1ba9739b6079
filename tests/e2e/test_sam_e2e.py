"""`faas deploy -f template.yaml` as a user runs it: the `faas` CLI as a subprocess against a real `faas serve`,
with templates shaped like `sam init`'s and AWS's samples (tests/e2e/sam/), unchanged."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO, Server, unique

pytestmark = pytest.mark.docker

SAMPLES = Path(__file__).resolve().parent / "sam"
# `sam init`'s Python hello-world is an example too, which README.md deploys.
SOURCES = {"hello-python": REPO / "examples" / "sam-init-hello"}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def run(server: Server, home: Path):  # type: ignore[no-untyped-def]
    def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        # the shell of a user who only knows where the data dir is
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FAAS_"))}
        env.update({"FAAS_DATA_DIR": str(server.data_dir), "HOME": str(home)})
        return subprocess.run([sys.executable, "-m", "faas", *args], env=env, cwd=cwd or home,
                              capture_output=True, text=True, timeout=300)
    return run


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def summary(result: subprocess.CompletedProcess[str]) -> list[str]:
    """What a deploy did: its lines before the template's Outputs."""
    return result.stdout.split("Outputs:\n", 1)[0].splitlines()


def sample(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    shutil.copytree(SOURCES.get(name, SAMPLES / name), folder)
    return folder


def function_names(lam) -> set[str]:  # type: ignore[no-untyped-def]
    return {f["FunctionName"] for f in lam.list_functions()["Functions"]}


def api_line(line: str, verb: str, name: str, stage: str) -> tuple[str, str]:
    """(API id, endpoint) from `  <verb> HTTP API <id> (<name>): <endpoint>/<stage>`."""
    prefix = f"  {verb} HTTP API "
    assert line.startswith(prefix) and line.endswith(f"/{stage}"), line
    api_id, described, url = line.removeprefix(prefix).split(" ")
    assert described == f"({name}):" and url.startswith("http") and f"{api_id}.execute-api." in url, line
    return api_id, url.removesuffix(f"/{stage}")


REST_NOTE = ("note: faas has no REST APIs: the Api events are routes of the HTTP API {} with payload format 1.0 "
             "(the event a REST API sends), at the stage Prod")


def hello_world_outputs(api_id: str, endpoint: str, name: str) -> list[str]:
    return ["Outputs:",
            f"  HelloWorldApi: https://{api_id}.execute-api.us-east-1.amazonaws.com/Prod/hello/  "
            f"(API Gateway endpoint URL for Prod stage for Hello World function)",
            f"    on faas: {endpoint}/Prod/hello",
            f"  HelloWorldFunction: arn:aws:lambda:us-east-1:000000000000:function:{name}  "
            f"(Hello World Lambda Function ARN)",
            "  HelloWorldFunctionIamRole: arn:aws:iam::000000000000:role/faas-default  "
            "(Implicit IAM Role created for Hello World function)"]


def test_hello_world_python_deploys_as_sam_init_wrote_it_and_answers_through_its_api(run, lam, server, tmp_path):  # type: ignore[no-untyped-def]
    folder = sample(tmp_path, "hello-python")
    stack = unique("hello-py")
    name = f"{stack}-HelloWorldFunction"
    deployed = ok(run("deploy", "-f", str(folder / "template.yaml"), "--stack-name", stack))
    lines = deployed.stdout.splitlines()
    assert lines[0] == f"stack {stack} ({folder / 'template.yaml'})"
    api_id, endpoint = api_line(lines[1], "created", f"{stack}-ServerlessRestApi", "Prod")
    assert lines[2:] == [f"  created {name} (HelloWorldFunction)",
                         "    created Api event HelloWorld (GET /hello)",
                         *hello_world_outputs(api_id, endpoint, name)]
    assert deployed.stderr.splitlines() == [REST_NOTE.format(api_id)]
    configuration = lam.get_function(FunctionName=name)["Configuration"]
    assert (configuration["Runtime"], configuration["Handler"]) == ("python3.13", "app.lambda_handler")
    assert (configuration["MemorySize"], configuration["Timeout"]) == (128, 3)
    assert configuration["LoggingConfig"]["LogFormat"] == "JSON"  # Globals.Function.LoggingConfig

    # what `curl <HelloWorldApi>` does on AWS: GET /Prod/hello through the API, a REST-shaped (1.0) event
    status, _, body = server.request("GET", f"/execute-api/{api_id}/Prod/hello", sign=False)
    assert status == 200, body
    assert json.loads(body) == {"message": "hello world"}

    again = ok(run("deploy", "-f", str(folder / "template.yaml"), "--stack-name", stack)).stdout.splitlines()
    assert again[1:] == [f"  unchanged HTTP API {api_id} ({stack}-ServerlessRestApi): {endpoint}/Prod",
                         f"  unchanged {name} (HelloWorldFunction)",
                         "    unchanged Api event HelloWorld (GET /hello)",
                         *hello_world_outputs(api_id, endpoint, name)]

    # -o json: one document on stdout, the lines on stderr
    as_json = ok(run("deploy", "-f", str(folder / "template.yaml"), "--stack-name", stack, "-o", "json"))
    assert json.loads(as_json.stdout) == {
        "StackName": stack, "Template": str(folder / "template.yaml"),
        "Changes": [f"unchanged HTTP API {api_id} ({stack}-ServerlessRestApi): {endpoint}/Prod",
                    f"unchanged {name} (HelloWorldFunction)", "unchanged Api event HelloWorld (GET /hello)"],
        "Apis": [{"LogicalId": "ServerlessRestApi", "ApiId": api_id, "Url": f"{endpoint}/Prod"}],
        "Outputs": [
            {"OutputKey": "HelloWorldApi", "OutputValue": f"https://{api_id}.execute-api.us-east-1.amazonaws.com/Prod/hello/",
             "Description": "API Gateway endpoint URL for Prod stage for Hello World function"},
            {"OutputKey": "HelloWorldFunction", "OutputValue": f"arn:aws:lambda:us-east-1:000000000000:function:{name}",
             "Description": "Hello World Lambda Function ARN"},
            {"OutputKey": "HelloWorldFunctionIamRole", "OutputValue": "arn:aws:iam::000000000000:role/faas-default",
             "Description": "Implicit IAM Role created for Hello World function"}]}
    assert [line for line in as_json.stderr.splitlines() if not line.startswith("note: ")] == again


def test_hello_world_nodejs_deploys_from_the_template_in_the_current_folder(run, lam, server, tmp_path):  # type: ignore[no-untyped-def]
    folder = sample(tmp_path, "hello-node")
    stack = unique("hello-node")
    deployed = summary(ok(run("deploy", "--stack-name", stack, cwd=folder)))
    name = f"{stack}-HelloWorldFunction"
    api_id, _ = api_line(deployed[1], "created", f"{stack}-ServerlessRestApi", "Prod")
    assert deployed[2:] == [f"  created {name} (HelloWorldFunction)", "    created Api event HelloWorld (GET /hello)"]
    assert lam.get_function(FunctionName=name)["Configuration"]["Runtime"] == "nodejs20.x"
    status, _, body = server.request("GET", f"/execute-api/{api_id}/Prod/hello?name=x", sign=False)
    assert status == 200, body
    assert json.loads(body) == {"message": "hello world"}
    status, _, body = server.request("POST", f"/execute-api/{api_id}/Prod/hello", sign=False)
    assert status == 404, body  # the route is GET /hello only


def test_a_url_function_with_parameters_globals_concurrency_and_a_public_url(run, lam, server, tmp_path):  # type: ignore[no-untyped-def]
    folder = sample(tmp_path, "url-function")
    stack = unique("web")
    deployed = ok(run("deploy", "-f", str(folder / "template.yaml"), "--stack-name", stack,
                      "--parameter-overrides", "Stage=prod", "ParameterKey=Greeting,ParameterValue=Howdy"))
    name = f"{stack}-greeter-prod"  # its FunctionName: !Sub "${AWS::StackName}-greeter-${Stage}"
    lines = deployed.stdout.splitlines()
    assert lines[1] == f"  created {name} (GreeterFunction)"
    url = lines[2].removeprefix("    FunctionUrl: ")
    assert url.startswith("http://") and ".lambda-url." in url

    function = lam.get_function(FunctionName=name)
    configuration = function["Configuration"]
    assert (configuration["MemorySize"], configuration["Timeout"]) == (256, 10)  # from Globals
    assert configuration["Description"] == "Greets the caller (prod)"
    assert configuration["Environment"]["Variables"] == {"STAGE": "prod", "GREETING": "Howdy", "REGION": "us-east-1"}
    assert function["Concurrency"] == {"ReservedConcurrentExecutions": 2}
    url_config = lam.get_function_url_config(FunctionName=name)
    assert url_config["AuthType"] == "NONE"
    assert url_config["Cors"]["AllowOrigins"] == ["*"]

    url_id = url.split("//", 1)[1].split(".", 1)[0]
    status, _, body = server.request("GET", f"/lambda-url/{url_id}/?name=web", sign=False)  # anyone may call it
    assert status == 200, body
    assert json.loads(body) == {"message": "Howdy, web!", "stage": "prod", "region": "us-east-1", "memory": "256"}


def test_layers_and_s3_events_are_refused_by_name_and_nothing_is_deployed(run, lam, tmp_path):  # type: ignore[no-untyped-def]
    folder = sample(tmp_path, "hello-python")
    stack = unique("s3")
    template = folder / "template.yaml"
    template.write_text(template.read_text().replace("      Events:\n", """      Layers:
        - arn:aws:lambda:us-east-1:000000000000:layer:shared:1
      Events:
        Upload:
          Type: S3
          Properties:
            Bucket: uploads
            Events: s3:ObjectCreated:*
"""))
    refused = run("deploy", "--stack-name", stack, cwd=folder)
    assert refused.returncode == 2
    assert refused.stderr.splitlines()[1:] == [
        "  - Resources.HelloWorldFunction.Properties.Layers: ['arn:aws:lambda:us-east-1:000000000000:layer:shared:1'] "
        "is not supported: faas has no layers (only [])",
        "  - Resources.HelloWorldFunction.Properties.Events.Upload: events of type S3 are not supported: faas has no "
        "S3 notifications (supported: SQS, Schedule, SNS, EventBridgeRule, ScheduleV2, HttpApi, Api)"]
    # layers would leave the function wrong: refused even with --skip-unsupported
    assert run("deploy", "--stack-name", stack, "--skip-unsupported", cwd=folder).returncode == 2
    assert not any(name.startswith(stack) for name in function_names(lam))


def test_bad_parameter_overrides_are_refused_before_anything_is_deployed(run, lam, tmp_path):  # type: ignore[no-untyped-def]
    folder = sample(tmp_path, "url-function")
    stack = unique("web")
    refused = run("deploy", "-f", str(folder / "template.yaml"), "--stack-name", stack,
                  "--parameter-overrides", "Stage=test")
    assert refused.returncode == 2
    assert "  - Parameters.Stage: 'test' is not one of its AllowedValues ['dev', 'prod']" in refused.stderr.splitlines()
    missing = run("deploy", "-f", str(folder / "nothing.yaml"))
    assert missing.returncode == 2 and "error: cannot read" in missing.stderr
    assert not any(name.startswith(stack) for name in function_names(lam))


def test_a_redeploy_changes_only_what_changed_and_prune_removes_what_vanished(run, lam, tmp_path):  # type: ignore[no-untyped-def]
    folder = sample(tmp_path, "hello-python")
    other_stack = unique("other")
    ok(run("deploy", "--stack-name", other_stack, "--skip-unsupported", cwd=sample(tmp_path, "hello-node")))
    stack = unique("redeploy")
    name = f"{stack}-HelloWorldFunction"
    template = folder / "template.yaml"
    template.write_text(template.read_text().split("      Events:")[0])  # the function alone

    def deploy(*extra: str) -> list[str]:
        return summary(ok(run("deploy", "--stack-name", stack, *extra, cwd=folder)))[1:]

    assert deploy() == [f"  created {name} (HelloWorldFunction)"]
    first = lam.get_function(FunctionName=name)
    assert first["Tags"] == {"faas:stack": stack}

    assert deploy() == [f"  unchanged {name} (HelloWorldFunction)"]
    again = lam.get_function(FunctionName=name)["Configuration"]
    assert (again["RevisionId"], again["LastModified"]) == (first["Configuration"]["RevisionId"],
                                                            first["Configuration"]["LastModified"])

    app = folder / "hello_world" / "app.py"
    app.write_text(app.read_text().replace('"hello world"', '"hello again"'))
    assert deploy() == [f"  updated {name} (HelloWorldFunction): code"]
    assert json.loads(json.loads(ok(run("invoke", name)).stdout)["body"]) == {"message": "hello again"}

    template.write_text(template.read_text().replace("Timeout: 3", "Timeout: 7"))
    assert deploy() == [f"  updated {name} (HelloWorldFunction): configuration (timeout)"]
    assert lam.get_function(FunctionName=name)["Configuration"]["Timeout"] == 7

    # The function renamed in the template: the new one is created, the old one kept until --prune.
    template.write_text(template.read_text().replace("HelloWorldFunction:", "GreetingFunction:"))
    renamed = f"{stack}-GreetingFunction"
    assert deploy() == [f"  created {renamed} (GreetingFunction)",
                        f"  kept function {name}: no longer in the template; --prune deletes it"]
    assert deploy("--prune") == [f"  unchanged {renamed} (GreetingFunction)",
                                 f"  deleted function {name} (no longer in the template)"]
    names = function_names(lam)
    assert renamed in names and name not in names
    assert f"{other_stack}-HelloWorldFunction" in names  # another stack's function is not this stack's to prune


def test_a_template_never_takes_over_a_function_it_did_not_deploy(run, lam, tmp_path):  # type: ignore[no-untyped-def]
    folder = sample(tmp_path, "hello-python")
    stack = unique("takeover")
    name = f"{stack}-HelloWorldFunction"
    ok(run("deploy", str(folder / "hello_world"), "--name", name, "--runtime", "python3.13",
           "--handler", "app.lambda_handler", "--memory", "256"))
    refused = run("deploy", "--stack-name", stack, "--skip-unsupported", cwd=folder)
    assert refused.returncode == 1
    assert refused.stderr.splitlines()[-1] == (
        f"error: HelloWorldFunction: the function {name} exists and is not part of stack {stack} (it was deployed "
        f"outside any stack); remove it or give the function another FunctionName")
    configuration = lam.get_function(FunctionName=name)["Configuration"]
    assert configuration["MemorySize"] == 256  # untouched


def wait_for_log(run, name: str, text: str, timeout: float) -> str:  # type: ignore[no-untyped-def]
    """`faas logs NAME` polled until `text` shows in it (records are written in batches)."""
    deadline = time.monotonic() + timeout
    while True:
        logs = ok(run("logs", name)).stdout
        if text in logs:
            return logs
        assert time.monotonic() < deadline, f"{text!r} never showed in `faas logs {name}`:\n{logs}"
        time.sleep(0.5)


def test_an_sqs_consumer_gets_its_queue_and_its_messages(run, lam, server, tmp_path):  # type: ignore[no-untyped-def]
    folder = sample(tmp_path, "sqs-consumer")
    stack = unique("sqs")
    deployed = summary(ok(run("deploy", "--stack-name", stack, cwd=folder)))
    queue, name = f"{stack}-MySqsQueue", f"{stack}-MySQSQueueFunction"
    assert deployed[1:] == [f"  created queue {queue} (MySqsQueue)",
                            f"  created {name} (MySQSQueueFunction)",
                            f"    created SQS event MySQSEvent ({queue})"]
    [mapping] = lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]
    assert mapping["EventSourceArn"] == f"arn:aws:sqs:us-east-1:000000000000:{queue}"
    assert mapping["BatchSize"] == 10

    # No Role in the template: as SAM does, the function gets a role of its own, allowed to consume its queue
    assert lam.get_function(FunctionName=name)["Configuration"]["Role"] == \
        f"arn:aws:iam::000000000000:role/{name}-role"
    assert server.get_json(f"/faas/v1/roles/{name}-role/policies")["Policies"] == {"SQSQueueExecution": {
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [
            "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"],
            "Resource": [f"arn:aws:sqs:us-east-1:000000000000:{queue}"]}]}}

    ok(run("queues", "send", queue, "--body", "order 42"))
    wait_for_log(run, name, ": order 42", timeout=60)

    again = summary(ok(run("deploy", "--stack-name", stack, cwd=folder)))
    assert again[1:] == [f"  unchanged queue {queue} (MySqsQueue)",
                         f"  unchanged {name} (MySQSQueueFunction)",
                         f"    unchanged SQS event MySQSEvent ({queue})"]
    template = folder / "template.yaml"
    template.write_text(template.read_text().replace("BatchSize: 10", "BatchSize: 5")
                        .replace("VisibilityTimeout: 60", "VisibilityTimeout: 90"))
    changed = summary(ok(run("deploy", "--stack-name", stack, cwd=folder)))
    assert changed[1:] == [f"  updated queue {queue} (MySqsQueue)",
                           f"  unchanged {name} (MySQSQueueFunction)",
                           f"    updated SQS event MySQSEvent ({queue})"]
    [mapping] = lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]
    assert mapping["BatchSize"] == 5


def test_a_scheduled_job_runs_on_its_schedule(run, lam, tmp_path):  # type: ignore[no-untyped-def]
    folder = sample(tmp_path, "scheduled-job")
    stack = unique("cron")
    name = f"{stack}-ScheduledFunction"
    deployed = summary(ok(run("deploy", "--stack-name", stack, cwd=folder)))
    assert deployed[1:] == [f"  created {name} (ScheduledFunction)",
                            f"    created Schedule event CloudWatchEvent (rule {name}-CloudWatchEvent)"]
    # rate(1 minute): the rule's first run comes within a minute of its creation
    wait_for_log(run, name, "running scheduled job cleanup", timeout=150)
    again = summary(ok(run("deploy", "--stack-name", stack, cwd=folder)))
    assert again[1:] == [f"  unchanged {name} (ScheduledFunction)",
                         f"    unchanged Schedule event CloudWatchEvent (rule {name}-CloudWatchEvent)"]
    # the event dropped from the template: its rule goes too
    template = folder / "template.yaml"
    template.write_text(template.read_text().split("      Events:")[0])
    dropped = summary(ok(run("deploy", "--stack-name", stack, cwd=folder)))
    assert dropped[1:] == [f"  unchanged {name} (ScheduledFunction)",
                           f"    removed rule {name}-CloudWatchEvent (no longer an event of the function)"]
    assert f"{name}-CloudWatchEvent" not in ok(run("rules", "ls")).stdout
    assert summary(ok(run("deploy", "--stack-name", stack, cwd=folder)))[1:] == [
        f"  unchanged {name} (ScheduledFunction)"]


def test_an_sns_consumer_gets_its_topic_and_its_notifications(run, lam, tmp_path):  # type: ignore[no-untyped-def]
    folder = sample(tmp_path, "sns-consumer")
    stack = unique("sns")
    topic, name = f"{stack}-MySnsTopic", f"{stack}-TopicConsumerFunction"
    deployed = summary(ok(run("deploy", "--stack-name", stack, cwd=folder)))
    assert deployed[1:] == [f"  created topic {topic} (MySnsTopic)",
                            f"  created {name} (TopicConsumerFunction)",
                            f"    created SNS event SNSEvent ({topic})"]
    ok(run("topics", "publish", topic, "--message", "disk full"))
    wait_for_log(run, name, "received notification: disk full", timeout=60)

    again = summary(ok(run("deploy", "--stack-name", stack, cwd=folder)))
    assert again[1:] == [f"  unchanged topic {topic} (MySnsTopic)",
                         f"  unchanged {name} (TopicConsumerFunction)",
                         f"    unchanged SNS event SNSEvent ({topic})"]
    # a filter policy added to the event changes the subscription only
    template = folder / "template.yaml"
    template.write_text(template.read_text().replace(
        "            Topic: !Ref MySnsTopic\n",
        "            Topic: !Ref MySnsTopic\n            FilterPolicy:\n              level: [error]\n"))
    changed = summary(ok(run("deploy", "--stack-name", stack, cwd=folder)))
    assert changed[1:] == [f"  unchanged topic {topic} (MySnsTopic)",
                           f"  unchanged {name} (TopicConsumerFunction)",
                           f"    updated SNS event SNSEvent ({topic})"]
    again = summary(ok(run("deploy", "--stack-name", stack, cwd=folder)))
    assert again[-1] == f"    unchanged SNS event SNSEvent ({topic})"
    template.write_text(template.read_text().split("      Events:")[0])
    dropped = summary(ok(run("deploy", "--stack-name", stack, cwd=folder)))
    assert dropped[1:] == [f"  unchanged topic {topic} (MySnsTopic)",
                           f"  unchanged {name} (TopicConsumerFunction)",
                           f"    removed the subscription to {topic} (no longer an event of the function)"]
    assert name not in ok(run("topics", "subscriptions", topic)).stdout


def test_an_eventbridge_consumer_gets_the_events_its_rule_matches(run, lam, tmp_path):  # type: ignore[no-untyped-def]
    folder = sample(tmp_path, "eventbridge-consumer")
    stack = unique("bus")
    name = f"{stack}-ConsumerFunction"
    rule = f"{name}-Trigger"
    deployed = summary(ok(run("deploy", "--stack-name", stack, cwd=folder)))
    assert deployed[1:] == [f"  created {name} (ConsumerFunction)",
                            f"    created EventBridgeRule event Trigger (rule {rule})"]
    ok(run("events", "put", "--source", "demo.orders", "--detail-type", "Order Placed", "--detail", '{"id": 7}'))
    wait_for_log(run, name, "order 7 from demo.orders", timeout=60)

    again = summary(ok(run("deploy", "--stack-name", stack, cwd=folder)))
    assert again[1:] == [f"  unchanged {name} (ConsumerFunction)",
                         f"    unchanged EventBridgeRule event Trigger (rule {rule})"]
    template = folder / "template.yaml"
    template.write_text(template.read_text().replace("- Order Placed", "- Order Shipped"))
    changed = summary(ok(run("deploy", "--stack-name", stack, cwd=folder)))
    assert changed[-1] == f"    updated EventBridgeRule event Trigger (rule {rule})"

    # the function renamed in the template: the old one is pruned with its rule
    template.write_text(template.read_text().replace("ConsumerFunction", "HandlerFunction"))
    renamed = f"{stack}-HandlerFunction"
    pruned = summary(ok(run("deploy", "--stack-name", stack, "--prune", cwd=folder)))
    assert pruned[1:] == [f"  created {renamed} (HandlerFunction)",
                          f"    created EventBridgeRule event Trigger (rule {renamed}-Trigger)",
                          f"  deleted function {name} (no longer in the template)",
                          f"    removed rule {rule} (no longer an event of the function)"]
    rules = ok(run("rules", "ls")).stdout
    assert rule not in rules and f"{renamed}-Trigger" in rules


def test_an_http_api_routes_to_its_function(run, lam, server, tmp_path):  # type: ignore[no-untyped-def]
    folder = sample(tmp_path, "http-api")
    stack = unique("api")
    name = f"{stack}-AppFunction"
    deployed = summary(ok(run("deploy", "--stack-name", stack, cwd=folder)))
    assert deployed[1].startswith("  created HTTP API ") and f"({stack}): http://" in deployed[1]
    api_id = deployed[1].split()[3]
    assert deployed[2:] == [f"  created {name} (AppFunction)",
                            "    created HttpApi event GetItem (GET /items/{id})"]
    status, _, body = server.request("GET", f"/execute-api/{api_id}/items/7", sign=False)
    assert status == 200, body
    assert json.loads(body) == {"id": "7", "route": "GET /items/{id}"}

    again = summary(ok(run("deploy", "--stack-name", stack, cwd=folder)))
    assert again[1:] == [f"  unchanged HTTP API {api_id} ({stack}): {deployed[1].rsplit(' ', 1)[-1]}",
                         f"  unchanged {name} (AppFunction)",
                         "    unchanged HttpApi event GetItem (GET /items/{id})"]


def test_a_scheduler_job_runs_under_a_role_of_its_own(run, lam, server, tmp_path):  # type: ignore[no-untyped-def]
    folder = sample(tmp_path, "scheduler-job")
    stack = unique("sched")
    name = f"{stack}-ReportFunction"
    schedule = f"{name}-EveryMinute"
    deployed = summary(ok(run("deploy", "--stack-name", stack, cwd=folder)))
    assert deployed[1:] == [f"  created {name} (ReportFunction)",
                            f"    created ScheduleV2 event EveryMinute (schedule {schedule})"]
    # No RoleArn: as SAM does, the schedule gets a role allowed to invoke the function, and only that
    assert server.get_json(f"/faas/v1/roles/{name}-scheduler/policies")["Policies"] == {"InvokeFunction": {
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["lambda:InvokeFunction"],
                                                "Resource": [f"arn:aws:lambda:us-east-1:000000000000:function:{name}"]}]}}
    wait_for_log(run, name, "building the minutely report", timeout=150)
    again = summary(ok(run("deploy", "--stack-name", stack, cwd=folder)))
    assert again[1:] == [f"  unchanged {name} (ReportFunction)",
                         f"    unchanged ScheduleV2 event EveryMinute (schedule {schedule})"]
    template = folder / "template.yaml"
    template.write_text(template.read_text().split("      Events:")[0])
    dropped = summary(ok(run("deploy", "--stack-name", stack, cwd=folder)))
    assert dropped[1:] == [f"  unchanged {name} (ReportFunction)",
                           f"    removed schedule {schedule} (no longer an event of the function)"]
    assert schedule not in ok(run("schedules", "ls")).stdout


def test_an_http_api_resource_with_a_jwt_authorizer_and_what_leaves_the_template(run, lam, server, tmp_path):  # type: ignore[no-untyped-def]
    folder = sample(tmp_path, "http-api-jwt")
    stack = unique("jwt")
    name, queue, topic = f"{stack}-ItemsFunction", f"{stack}-OrdersQueue", f"{stack}-AlertsTopic"
    ok(run("queues", "create", f"{stack}-OrdersQueueOfMine"))  # not the stack's: never pruned
    template = folder / "template.yaml"

    def deploy(*extra: str) -> subprocess.CompletedProcess[str]:
        return ok(run("deploy", "--stack-name", stack, "--parameter-overrides", "IssuerUrl=http://127.0.0.1:9/",
                      *extra, cwd=folder))

    first = deploy()
    assert first.stderr.splitlines() == [
        "note: Resources.MyHttpApi.Properties.FailOnWarnings has no effect: it tunes CloudFormation's import of an "
        "OpenAPI definition, which faas does not do"]
    lines = first.stdout.splitlines()
    api_id, endpoint = api_line(lines[3], "created", f"{stack}-MyHttpApi", "v1")
    assert lines[1:3] + lines[4:] == [f"  created queue {queue} (OrdersQueue)",
                                      f"  created topic {topic} (AlertsTopic)",
                                      f"  created {name} (ItemsFunction)",
                         "    created HttpApi event ListItems (GET /items)",
                         "    created HttpApi event Health (GET /health)",
                         "Outputs:",
                         f"  ApiUrl: https://{api_id}.execute-api.us-east-1.amazonaws.com/v1/  (The API's URL)",
                         f"    on faas: {endpoint}/v1"]
    status, headers, body = server.request("GET", f"/execute-api/{api_id}/v1/health", sign=False,
                                           headers={"Origin": "https://example.com"})
    assert (status, json.loads(body)) == (200, {"route": "GET /health"})
    assert dict(headers).get("Access-Control-Allow-Origin") == "https://example.com"  # its CorsConfiguration
    status, _, body = server.request("GET", f"/execute-api/{api_id}/v1/items", sign=False)
    assert status == 401, body  # the DefaultAuthorizer: no token, no answer

    again = summary(deploy())
    assert again[1:] == [f"  unchanged queue {queue} (OrdersQueue)",
                         f"  unchanged topic {topic} (AlertsTopic)",
                         f"  unchanged HTTP API {api_id} ({stack}-MyHttpApi): {endpoint}/v1",
                         f"  unchanged {name} (ItemsFunction)",
                         "    unchanged HttpApi event ListItems (GET /items)",
                         "    unchanged HttpApi event Health (GET /health)"]

    # The Health event, the queue and the topic leave the template: the route goes at once (the API is the
    # stack's), the queue and the topic with --prune
    text = template.read_text()
    text = text.replace(text[text.index("        Health:"):text.index("  OrdersQueue:")], "\n")
    template.write_text(text.split("  OrdersQueue:")[0] + "Outputs:" + text.split("Outputs:")[1])
    dropped = summary(deploy())
    assert dropped[4:] == ["  removed route GET /health of MyHttpApi (no longer in the template)",
                           f"  kept queue {queue}: no longer in the template; --prune deletes it",
                           f"  kept topic {topic}: no longer in the template; --prune deletes it"]
    status, _, _ = server.request("GET", f"/execute-api/{api_id}/v1/health", sign=False)
    assert status == 404
    assert queue in ok(run("queues", "ls")).stdout
    pruned = summary(deploy("--prune"))
    assert pruned[4:] == [f"  deleted queue {queue} (no longer in the template)",
                          f"  deleted topic {topic} (no longer in the template)"]
    queues = ok(run("queues", "ls")).stdout
    assert queue not in queues.split() and f"{stack}-OrdersQueueOfMine" in queues
    assert topic not in ok(run("topics", "ls")).stdout

    # the API itself leaves: kept, then deleted with --prune
    text = template.read_text()
    template.write_text(text[:text.index("  MyHttpApi:")] + text[text.index("  ItemsFunction:"):text.index(
        "      Events:")])
    kept = summary(deploy())
    assert kept[1:] == [f"  unchanged {name} (ItemsFunction)",
                        f"  kept HTTP API {api_id} ({stack}-MyHttpApi): no longer in the template; --prune deletes it"]
    assert summary(deploy("--prune"))[2:] == [f"  deleted HTTP API {api_id} ({stack}-MyHttpApi) (no longer in the "
                                              "template)"]
    status, _, _ = server.request("GET", f"/execute-api/{api_id}/v1/items", sign=False)
    assert status == 404
