"""Response streaming against a real `faas serve`: a streaming handler written from AWS's documentation
(awslambda.streamifyResponse, HttpResponseStream.from) read through boto3's invoke_with_response_stream
and through a RESPONSE_STREAM function URL with curl, errors mid-stream, the buffered Invoke of a
streaming function, the size caps, and bad input."""

from __future__ import annotations

import base64
import json
import subprocess
import time

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import ROLE, Server, make_zip, unique
from tests.e2e.test_security_e2e import lambda_as, make_principal

pytestmark = pytest.mark.docker

STREAM_CAP = 8 * 1024 * 1024  # this server's FAAS_MAX_STREAMED_RESPONSE_BYTES

# From AWS's documentation: write, wait, write; each chunk says when it was written (ms since the epoch).
# `event.fail` throws after the first chunk; `event.bytes` streams that many bytes in 64 KiB chunks;
# `event.http` sends a status, headers and cookies first (HttpResponseStream.from).
STREAMER = """
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export const handler = awslambda.streamifyResponse(async (request, responseStream, context) => {
  // Invoked directly the event is the input; through a URL, the request body is.
  const event = request.requestContext ? JSON.parse(request.body) : request;
  console.log('streaming', event.chunks ?? 0, 'chunks');
  if (event.bytes) {
    const block = Buffer.alloc(64 * 1024, 120);
    for (let sent = 0; sent < event.bytes; sent += block.length) {
      if (!responseStream.write(block)) {
        await new Promise((resolve) => responseStream.once('drain', resolve));
      }
    }
    responseStream.end();
    return;
  }
  if (event.http) {
    responseStream = awslambda.HttpResponseStream.from(responseStream, {
      statusCode: 201, headers: {'Content-Type': 'text/plain', 'X-Streamed': 'yes'}, cookies: ['a=1', 'b=2'],
    });
  } else {
    responseStream.setContentType('text/plain');
  }
  for (let i = 0; i < (event.chunks ?? 3); i++) {
    if (i > 0) {
      await pause(700);
    }
    responseStream.write(`chunk ${i} written at ${Date.now()}\\n`);
    if (event.fail && i === 0) {
      await pause(100);
      throw new Error('broke after the first chunk');
    }
  }
  responseStream.end();
});
"""

PYTHON = "def handler(event, context):\n    print('python here')\n    return {'whole': 'body', 'n': event.get('n')}\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory):  # type: ignore[no-untyped-def]
    srv = Server(tmp_path_factory.mktemp("faas") / "data",
                 extra_env={"FAAS_MAX_STREAMED_RESPONSE_BYTES": str(STREAM_CAP)}).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def streamer(lam) -> str:  # type: ignore[no-untyped-def]
    name = unique("stream")
    lam.create_function(FunctionName=name, Runtime="nodejs20.x", Role=ROLE, Handler="index.handler", Timeout=30,
                        MemorySize=512, Code={"ZipFile": make_zip({"index.mjs": STREAMER})})
    return name


def stream_events(lam, name: str, event: dict, **params):  # type: ignore[no-untyped-def]
    """(response, [(event name, value, host time received)]) as boto3 hands the events over."""
    response = lam.invoke_with_response_stream(FunctionName=name, Payload=json.dumps(event).encode(), **params)
    events = []
    for item in response["EventStream"]:
        [(kind, value)] = item.items()
        events.append((kind, value, time.time()))
    return response, events


def test_chunks_arrive_through_boto3_as_the_function_writes_them(lam, streamer) -> None:  # type: ignore[no-untyped-def]
    response, events = stream_events(lam, streamer, {"chunks": 3}, LogType="Tail")
    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "$LATEST"
    assert response["ResponseStreamContentType"] == "text/plain"
    chunks = [(value["Payload"], received) for kind, value, received in events if kind == "PayloadChunk"]
    text = b"".join(payload for payload, _ in chunks).decode()
    written = [int(line.rsplit(" ", 1)[1]) for line in text.splitlines()]
    assert [line.split(" written")[0] for line in text.splitlines()] == ["chunk 0", "chunk 1", "chunk 2"]
    # The first chunk was in the client's hands before the function wrote the last one.
    assert chunks[0][1] * 1000 < written[-1]
    assert len(chunks) >= 2
    kind, complete, _ = events[-1]
    assert kind == "InvokeComplete"
    assert "ErrorCode" not in complete
    log = base64.b64decode(complete["LogResult"]).decode()
    assert "INFO\tstreaming 3 chunks" in log and "REPORT RequestId:" in log


def test_an_error_mid_stream_ends_with_invoke_complete(lam, streamer) -> None:  # type: ignore[no-untyped-def]
    _, events = stream_events(lam, streamer, {"chunks": 3, "fail": True})
    payload = b"".join(value["Payload"] for kind, value, _ in events if kind == "PayloadChunk")
    assert payload.startswith(b"chunk 0 written at ") and b"chunk 1" not in payload
    kind, complete, _ = events[-1]
    assert kind == "InvokeComplete"
    assert (complete["ErrorCode"], complete["ErrorDetails"]) == ("Error", "broke after the first chunk")


def test_buffered_invoke_of_a_streaming_function_returns_the_whole_body(lam, streamer) -> None:  # type: ignore[no-untyped-def]
    response = lam.invoke(FunctionName=streamer, Payload=b'{"chunks": 2}')
    assert "FunctionError" not in response
    lines = response["Payload"].read().decode().splitlines()
    assert [line.split(" written")[0] for line in lines] == ["chunk 0", "chunk 1"]

    failed = lam.invoke(FunctionName=streamer, Payload=b'{"chunks": 2, "fail": true}')
    assert failed["FunctionError"] == "Unhandled"
    assert json.loads(failed["Payload"].read())["errorMessage"] == "broke after the first chunk"


def test_a_buffered_invoke_is_held_to_the_buffered_limit(lam, streamer) -> None:  # type: ignore[no-untyped-def]
    response = lam.invoke(FunctionName=streamer, Payload=json.dumps({"bytes": 7 * 1024 * 1024}).encode())
    assert response["FunctionError"] == "Unhandled"
    error = json.loads(response["Payload"].read())
    assert error == {"errorType": "Function.ResponseSizeTooLarge",
                     "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes)."}


def test_a_stream_over_the_cap_is_cut_with_lambdas_error(lam, streamer) -> None:  # type: ignore[no-untyped-def]
    _, events = stream_events(lam, streamer, {"bytes": STREAM_CAP + 1024 * 1024})
    received = sum(len(value["Payload"]) for kind, value, _ in events if kind == "PayloadChunk")
    assert received <= STREAM_CAP
    kind, complete, _ = events[-1]
    assert kind == "InvokeComplete"
    assert complete["ErrorCode"] == "Function.ResponseSizeTooLarge"
    assert complete["ErrorDetails"] == f"Response payload size exceeded maximum allowed payload size ({STREAM_CAP} bytes)."
    # The environment still serves: the function ran to its end.
    _, again = stream_events(lam, streamer, {"chunks": 1})
    assert again[-1][0] == "InvokeComplete" and "ErrorCode" not in again[-1][1]


def test_a_large_stream_arrives_whole(lam, streamer) -> None:  # type: ignore[no-untyped-def]
    size = 7 * 1024 * 1024 + 5  # over the buffered limit, under the streamed one
    _, events = stream_events(lam, streamer, {"bytes": size})
    payload = b"".join(value["Payload"] for kind, value, _ in events if kind == "PayloadChunk")
    blocks = -(-size // (64 * 1024))
    assert payload == b"x" * (blocks * 64 * 1024)
    assert "ErrorCode" not in events[-1][1]


def test_a_python_function_answers_in_one_chunk(lam) -> None:  # type: ignore[no-untyped-def]
    name = unique("py")
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": PYTHON})})
    response, events = stream_events(lam, name, {"n": 4}, LogType="Tail")
    assert [kind for kind, _, _ in events] == ["PayloadChunk", "InvokeComplete"]
    assert json.loads(events[0][1]["Payload"]) == {"whole": "body", "n": 4}
    assert response["ResponseStreamContentType"] == "application/json"
    assert "python here" in base64.b64decode(events[1][1]["LogResult"]).decode()


def test_dry_run_and_bad_input(lam, streamer) -> None:  # type: ignore[no-untyped-def]
    dry = lam.invoke_with_response_stream(FunctionName=streamer, InvocationType="DryRun", Payload=b"{}")
    assert dry["StatusCode"] == 204
    assert list(dry["EventStream"]) == []  # read to its end: the connection goes back to the pool
    for params, code in (({"FunctionName": unique("missing")}, "ResourceNotFoundException"),
                         ({"FunctionName": streamer, "InvocationType": "Event"}, "InvalidParameterValueException"),
                         ({"FunctionName": streamer, "Payload": b"{not json"}, "InvalidRequestContentException"),
                         ({"FunctionName": streamer, "Qualifier": "7"}, "ResourceNotFoundException"),
                         ({"FunctionName": streamer, "TenantId": "t1"}, "InvalidParameterValueException")):
        with pytest.raises(ClientError) as caught:
            lam.invoke_with_response_stream(**params)
        assert caught.value.response["Error"]["Code"] == code, params
    missing = unique("missing")
    with pytest.raises(ClientError) as caught:
        lam.invoke_with_response_stream(FunctionName=missing)
    assert caught.value.response["Error"]["Message"] == \
        f"Function not found: arn:aws:lambda:us-east-1:000000000000:function:{missing}"


# --- function URLs ------------------------------------------------------------------------------

def public_url(lam, name: str, **config) -> str:  # type: ignore[no-untyped-def]
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE", **config)["FunctionUrl"]
    lam.add_permission(FunctionName=name, StatementId="public-url", Principal="*",
                       Action="lambda:InvokeFunctionUrl", FunctionUrlAuthType="NONE")
    lam.add_permission(FunctionName=name, StatementId="public-invoke", Principal="*",
                       Action="lambda:InvokeFunction", InvokedViaFunctionUrl=True)
    return url


def path_style(server: Server, url: str) -> str:
    """The URL path-style on the server's own address (curl cannot resolve <id>.lambda-url.localhost)."""
    url_id = url.split("//", 1)[1].split(".", 1)[0]
    return f"{server.endpoint}/lambda-url/{url_id}/"


@pytest.fixture(scope="module")
def stream_url(server, lam, streamer) -> str:  # type: ignore[no-untyped-def]
    url = public_url(lam, streamer, InvokeMode="RESPONSE_STREAM")
    return path_style(server, url)


def curl(url: str, body: dict) -> tuple[int, str, list[tuple[str, float]]]:
    """curl -N: (exit code, response head, [(body line, host time it arrived)])."""
    with subprocess.Popen(["curl", "-sS", "-N", "-i", "-X", "POST", "--data-binary", json.dumps(body),
                           "-H", "Content-Type: application/json", url], stdout=subprocess.PIPE) as process:
        assert process.stdout is not None
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            line = process.stdout.readline()
            assert line, head
            head += line
        lines = []
        for line in iter(process.stdout.readline, b""):
            lines.append((line.decode(), time.time()))
        return process.wait(timeout=60), head.decode(), lines


def test_a_response_stream_url_streams_to_curl_with_the_prelude_head(lam, stream_url, streamer) -> None:  # type: ignore[no-untyped-def]
    code, head, lines = curl(stream_url, {"chunks": 3, "http": True})
    assert code == 0
    status_line, *header_lines = head.strip().split("\r\n")
    assert status_line.split()[1] == "201"
    headers = [tuple(part.strip() for part in line.split(":", 1)) for line in header_lines]
    lowered = [(name.lower(), value) for name, value in headers]
    assert ("content-type", "text/plain") in lowered and ("x-streamed", "yes") in lowered
    assert [value for name, value in lowered if name == "set-cookie"] == ["a=1", "b=2"]
    assert ("transfer-encoding", "chunked") in lowered
    assert [text.split(" written")[0] for text, _ in lines] == ["chunk 0", "chunk 1", "chunk 2"]
    last_written = int(lines[-1][0].rsplit(" ", 1)[1])
    assert lines[0][1] * 1000 < last_written  # curl printed the first line before the last was written
    assert lam.get_function_url_config(FunctionName=streamer)["InvokeMode"] == "RESPONSE_STREAM"


def test_a_url_stream_without_prelude_and_one_that_fails(stream_url) -> None:  # type: ignore[no-untyped-def]
    code, head, lines = curl(stream_url, {"chunks": 2})
    assert code == 0 and head.startswith("HTTP/1.1 200")
    assert "content-type: text/plain" in head.lower()
    assert len(lines) == 2

    code, head, lines = curl(stream_url, {"chunks": 3, "fail": True})
    assert head.startswith("HTTP/1.1 200")  # sent before the function failed
    assert [text.split(" written")[0] for text, _ in lines] == ["chunk 0"]
    assert code == 18  # curl: transfer closed with outstanding read data remaining (no last chunk)


def test_a_buffered_url_of_a_streaming_function_answers_whole(server, lam) -> None:  # type: ignore[no-untyped-def]
    name = unique("stream")
    lam.create_function(FunctionName=name, Runtime="nodejs20.x", Role=ROLE, Handler="index.handler", Timeout=30,
                        Code={"ZipFile": make_zip({"index.mjs": STREAMER})})
    url = path_style(server, public_url(lam, name))
    code, head, lines = curl(url, {"chunks": 2, "http": True})
    assert code == 0 and head.startswith("HTTP/1.1 201")
    assert "content-length:" in head.lower() and "x-streamed: yes" in head.lower()
    assert [text.split(" written")[0] for text, _ in lines] == ["chunk 0", "chunk 1"]


def test_invoke_mode_is_validated_and_updated(lam) -> None:  # type: ignore[no-untyped-def]
    name = unique("stream")
    lam.create_function(FunctionName=name, Runtime="nodejs20.x", Role=ROLE, Handler="index.handler",
                        Code={"ZipFile": make_zip({"index.mjs": STREAMER})})
    with pytest.raises(ClientError) as caught:
        lam.create_function_url_config(FunctionName=name, AuthType="NONE", InvokeMode="STREAMING")
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert caught.value.response["Error"]["Message"] == (
        "1 validation error detected: Value 'STREAMING' at 'invokeMode' failed to satisfy constraint: "
        "Member must satisfy enum value set: [BUFFERED, RESPONSE_STREAM]")
    created = lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    assert created["InvokeMode"] == "BUFFERED"
    updated = lam.update_function_url_config(FunctionName=name, InvokeMode="RESPONSE_STREAM")
    assert updated["InvokeMode"] == "RESPONSE_STREAM"
    assert lam.update_function_url_config(FunctionName=name, AuthType="AWS_IAM")["InvokeMode"] == "RESPONSE_STREAM"
    with pytest.raises(ClientError) as caught:
        lam.update_function_url_config(FunctionName=name, InvokeMode="buffered")
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"][0]["InvokeMode"] == "RESPONSE_STREAM"


def test_invoke_with_response_stream_needs_lambda_invoke_function(server, lam, streamer) -> None:  # type: ignore[no-untyped-def]
    # Lambda has no action of its own for InvokeWithResponseStream: lambda:InvokeFunction allows it.
    arn = lam.get_function(FunctionName=streamer)["Configuration"]["FunctionArn"]
    allowed = lambda_as(server, make_principal(server, unique("streamer-user"), [
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": arn}]))
    refused = lambda_as(server, make_principal(server, unique("reader-user"), [
        {"Effect": "Allow", "Action": "lambda:GetFunction", "Resource": arn}]))
    _, events = stream_events(allowed, streamer, {"chunks": 1})
    assert events[-1][0] == "InvokeComplete" and "ErrorCode" not in events[-1][1]
    with pytest.raises(ClientError) as caught:
        refused.invoke_with_response_stream(FunctionName=streamer, Payload=b'{"chunks": 1}')
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "lambda:InvokeFunction" in caught.value.response["Error"]["Message"]
