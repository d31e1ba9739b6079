"""Response streaming in the nodejs20.x bootstrap (awslambda.streamifyResponse, HttpResponseStream), run
with the host's `node` against the fake Runtime API, which records a chunked POST as it arrives."""

from __future__ import annotations

import base64
import json
import time

import pytest

from tests.support.fake_runtime_api import FakeRuntimeApi
from tests.unit.test_node_bootstrap import NODE, finish, run_bootstrap, write_code

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed on this host")


@pytest.fixture
def api():
    with FakeRuntimeApi() as fake:
        yield fake


def wait_for(predicate, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


def test_chunks_reach_the_runtime_api_as_the_handler_writes_them(api, tmp_path):
    # AWS's documented shape: streamifyResponse, setContentType, write, end; the second write waits for
    # the test, which lets it go only once the first chunk has arrived.
    write_code(tmp_path, {"app.mjs": f"""
        import fs from 'node:fs';
        export const handler = awslambda.streamifyResponse(async (event, responseStream, context) => {{
            console.log('streaming for', context.awsRequestId);
            responseStream.setContentType('text/plain');
            responseStream.write('first ');
            await new Promise((resolve) => {{
                const poll = setInterval(() => {{
                    if (fs.existsSync({json.dumps(str(tmp_path / 'go'))})) {{ clearInterval(poll); resolve(); }}
                }}, 5);
            }});
            responseStream.write(Buffer.from('second '));
            responseStream.write({{ third: 3 }});
            responseStream.end();
        }});
    """})
    invocation = api.add({})
    process = run_bootstrap(api, tmp_path, handler="app.handler", wait=False)
    try:
        stream = api.wait_for_call("POST", f"/invocation/{invocation.request_id}/response")
        wait_for(lambda: stream.chunks)
        assert b"".join(stream.chunks) == b"first " and not stream.complete
        (tmp_path / "go").touch()
        wait_for(lambda: stream.complete)
    finally:
        result = finish(process)
    assert result.returncode == 1  # out of events
    assert stream.headers["Lambda-Runtime-Function-Response-Mode"] == "streaming"
    assert stream.headers["Transfer-Encoding"] == "chunked"
    assert stream.headers["Content-Type"] == "text/plain"
    assert stream.headers["Trailer"] == "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body"
    assert stream.body == b'first second {"third":3}'  # anything but text and bytes is sent as JSON
    assert stream.trailers == {}
    assert f"\tINFO\tstreaming for {invocation.request_id}" in api.take_output()  # a stream is no answer
    assert not api.posts("/error")


def test_pipeline_from_a_readable_and_the_default_content_type(api, tmp_path):
    write_code(tmp_path, {"app.mjs": """
        import { Readable } from 'node:stream';
        import { pipeline } from 'node:stream/promises';
        export const handler = awslambda.streamifyResponse(async (event, responseStream) => {
            await pipeline(Readable.from(['a', 'b', 'c'].map((x) => x.repeat(100000))), responseStream);
        });
    """})
    invocation = api.add({})
    run_bootstrap(api, tmp_path)
    [stream] = api.posts("/response")
    assert stream.path == f"/invocation/{invocation.request_id}/response"
    assert stream.headers["Content-Type"] == "application/octet-stream"
    assert stream.body == b"a" * 100000 + b"b" * 100000 + b"c" * 100000


def test_http_response_stream_writes_the_prelude_before_the_body(api, tmp_path):
    write_code(tmp_path, {"app.js": """
        exports.handler = awslambda.streamifyResponse(async (event, responseStream) => {
            const metadata = { statusCode: 201, headers: { 'X-Custom': 'yes' }, cookies: ['a=1'] };
            responseStream = awslambda.HttpResponseStream.from(responseStream, metadata);
            responseStream.write('hello');
            responseStream.end(' world');
        });
    """})
    api.add({})
    run_bootstrap(api, tmp_path)
    [stream] = api.posts("/response")
    assert stream.headers["Content-Type"] == "application/vnd.awslambda.http-integration-response"
    prelude, _, body = stream.body.partition(b"\0" * 8)
    assert json.loads(prelude) == {"statusCode": 201, "headers": {"X-Custom": "yes"}, "cookies": ["a=1"]}
    assert body == b"hello world"


def test_an_error_mid_stream_is_posted_then_sent_as_trailers(api, tmp_path):
    write_code(tmp_path, {"app.js": """
        exports.handler = awslambda.streamifyResponse(async (event, responseStream) => {
            responseStream.write('partial');
            await new Promise((resolve) => setImmediate(resolve));
            throw new TypeError('broke mid-stream');
        });
    """})
    invocation = api.add({})
    run_bootstrap(api, tmp_path)
    [error] = api.posts("/error")
    [stream] = api.posts("/response")
    assert error.path == f"/invocation/{invocation.request_id}/error"
    assert error.headers["Lambda-Runtime-Function-Error-Type"] == "TypeError"
    assert error.json()["errorMessage"] == "broke mid-stream"
    assert stream.body == b"partial"
    assert stream.trailers["Lambda-Runtime-Function-Error-Type"] == "TypeError"
    trailer_body = json.loads(base64.b64decode(stream.trailers["Lambda-Runtime-Function-Error-Body"]))
    assert (trailer_body["errorType"], trailer_body["errorMessage"]) == ("TypeError", "broke mid-stream")
    assert "Invoke Error" in error.output  # logged before the error was posted


def test_an_error_before_anything_was_written_is_a_plain_error(api, tmp_path):
    write_code(tmp_path, {"app.js": """
        exports.handler = awslambda.streamifyResponse(async () => { throw new Error('early'); });
    """})
    api.add({})
    run_bootstrap(api, tmp_path)
    assert not api.posts("/response")
    assert api.posts("/error")[0].json()["errorMessage"] == "early"


@pytest.mark.parametrize("code, message", [
    ("exports.handler = awslambda.streamifyResponse((event, stream) => { stream.end('x'); });",
     "Streaming does not support non-async handlers."),
    ("exports.handler = awslambda.streamifyResponse(async (event, stream) => { stream.write('x'); "
     "stream.setContentType('text/plain'); });", "Cannot set content-type, too late."),
])
def test_streaming_misuse_fails_as_with_aws(api, tmp_path, code, message):
    write_code(tmp_path, {"app.js": code})
    api.add({})
    run_bootstrap(api, tmp_path)
    assert api.posts("/error")[0].json()["errorMessage"] == message


def test_a_handler_marked_for_another_streaming_mode_fails_init(api, tmp_path):
    write_code(tmp_path, {"app.js": """
        exports.handler = async () => {};
        exports.handler[Symbol.for('aws.lambda.runtime.handler.streaming')] = 'request';
    """})
    api.add({})
    run_bootstrap(api, tmp_path)
    error = api.posts("/init/error")[0].json()
    assert (error["errorType"], error["errorMessage"]) == ("Runtime.MalformedStreamingHandler",
                                                           "Only response streaming is supported.")


def test_a_non_streaming_handler_still_answers_in_one_piece(api, tmp_path):
    write_code(tmp_path, {"app.js": "exports.handler = async () => typeof awslambda.streamifyResponse;"})
    api.add({})
    run_bootstrap(api, tmp_path)
    [response] = api.posts("/response")
    assert response.json() == "function"
    assert "Lambda-Runtime-Function-Response-Mode" not in response.headers
