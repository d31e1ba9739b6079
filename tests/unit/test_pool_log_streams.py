"""Each environment's log stream, on the fake backend: the runtime is told it (AWS_LAMBDA_LOG_STREAM_NAME, the
context's log_stream_name) and every invocation record of the environment names it, whether the environment
started cold or prewarmed; a new environment writes a new stream."""

from __future__ import annotations

import json
import re
from pathlib import Path

from faas.sandbox.fake_backend import Context, FakeBackend
from tests.support.pool import function, harness, wait_for

STREAM = re.compile(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}")


def stream_of(event: dict, context: Context) -> dict:
    return {"stream": context.environment.get("AWS_LAMBDA_LOG_STREAM_NAME")}


async def test_records_name_the_stream_their_environment_was_told(tmp_path: Path) -> None:
    async with harness(tmp_path, backend=FakeBackend(stream_of)) as h:
        fn = function()
        told = [json.loads((await h.invoke(fn)).body)["stream"] for _ in range(2)]  # cold, then warm
        await h.pool.discard(next(iter(h.pool.registry)))  # the next invocation starts another
        told.append(json.loads((await h.invoke(fn)).body)["stream"])
        await h.recorder.flush()
        assert all(STREAM.fullmatch(name) for name in told)
        assert told[0] == told[1] != told[2]
        assert [record.log_stream for record in h.records.items] == told


async def test_a_prewarmed_environment_gets_its_stream_on_hand_over(tmp_path: Path) -> None:
    backend = FakeBackend(stream_of)
    async with harness(tmp_path, backend=backend, prewarm=1) as h:
        await wait_for(lambda: [c for c in backend.running() if "faas.prewarmed" in c.spec.labels])
        told = json.loads((await h.invoke(function())).body)["stream"]
        await h.recorder.flush()
        assert STREAM.fullmatch(told) and h.records.items[0].log_stream == told
