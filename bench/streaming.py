"""Response streaming benchmark: time to first byte and throughput of a streamed response against a
buffered one of the same size, all in one run.

Starts its own `faas serve` (bench/invoke.py's Platform) and deploys two nodejs20.x functions that
produce the same bytes: `streamer` (awslambda.streamifyResponse, writes 64 KiB chunks as it makes them)
and `buffered` (returns a Buffer of the whole body at the end). Each case is invoked `--n` times and
reported as medians:
  - buffered Invoke of `buffered`         (the baseline: Lambda's ordinary response)
  - buffered Invoke of `streamer`         (the platform collects the stream)
  - InvokeWithResponseStream of `streamer` (the event stream, read as it arrives)
Time to first byte is measured to the first byte of the response body (the first event of the event
stream), total time to its last byte; throughput is body bytes / total time. Two shapes: the body made
all at once (what the transport costs), and made in 10 pieces 100 ms apart (what a slow producer such as
an LLM looks like, where streaming is for). Plus one large stream (--large-mb) for sustained throughput.
Every request is SigV4-signed (the server verifies each one).

Usage:  .venv/bin/python bench/streaming.py [--n 10] [--mb 5] [--large-mb 100] [--markdown]
Needs: a running Docker engine and built runtime images.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import statistics
import sys
import time
import zipfile
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from invoke import ROLE, Platform  # noqa: E402

# event: {bytes, pieces, pause_ms}: `bytes` in `pieces` equal parts, `pause_ms` before each part after the first.
CODE = """
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const CHUNK = 64 * 1024;

async function produce(event, emit) {
  const pieces = event.pieces ?? 1;
  const per = Math.ceil(event.bytes / pieces);
  for (let i = 0, left = event.bytes; i < pieces; i++, left -= per) {
    if (i > 0 && event.pause_ms) await pause(event.pause_ms);
    for (let sent = 0, size = Math.min(per, left); sent < size; sent += CHUNK) {
      await emit(Buffer.alloc(Math.min(CHUNK, size - sent), 120));
    }
  }
}

export const streamer = awslambda.streamifyResponse(async (event, responseStream) => {
  await produce(event, (block) => responseStream.write(block)
    ? undefined : new Promise((resolve) => responseStream.once('drain', resolve)));
  responseStream.end();
});

export const buffered = async (event) => {
  const blocks = [];
  await produce(event, (block) => { blocks.push(block); });
  return Buffer.concat(blocks);
};
"""


def code_zip() -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.mjs", CODE)
    return base64.b64encode(buffer.getvalue()).decode()


async def create(session: aiohttp.ClientSession, platform: Platform, name: str, handler: str) -> None:
    body = json.dumps({"FunctionName": name, "Runtime": "nodejs20.x", "Role": ROLE, "Handler": handler,
                       "Code": {"ZipFile": code_zip()}, "MemorySize": 1024, "Timeout": 300}).encode()
    url = f"{platform.endpoint}/2015-03-31/functions"
    async with session.post(url, data=body, headers=platform.signed("POST", url, body)) as response:
        assert response.status == 201, await response.text()


async def timed(session: aiohttp.ClientSession, platform: Platform, url: str, event: dict) -> tuple[float, float, int]:
    """(ms to the first body byte, ms to the last, body bytes)."""
    body = json.dumps(event).encode()
    headers = platform.signed("POST", url, body)
    start = time.perf_counter()
    first = None
    size = 0
    async with session.post(url, data=body, headers=headers) as response:
        if response.status != 200 or "X-Amz-Function-Error" in response.headers:
            raise RuntimeError(f"invoke failed: {response.status} {(await response.read())[:300]!r}")
        async for data in response.content.iter_any():
            if first is None:
                first = time.perf_counter()
            size += len(data)
    end = time.perf_counter()
    return ((first or end) - start) * 1000, (end - start) * 1000, size


async def case(session, platform, url: str, event: dict, n: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    await timed(session, platform, url, event)  # warm the environment
    samples = [await timed(session, platform, url, event) for _ in range(n)]
    ttfb = statistics.median(s[0] for s in samples)
    total = statistics.median(s[1] for s in samples)
    size = samples[0][2]
    return {"ttfb_ms": ttfb, "total_ms": total, "bytes": size, "mb_per_s": size / (1024 * 1024) / (total / 1000)}


async def run(args: argparse.Namespace) -> dict:
    results: dict = {}
    with Platform(FAAS_PREWARM_PER_RUNTIME="0") as platform:
        timeout = aiohttp.ClientTimeout(total=600)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await create(session, platform, "streamer", "index.streamer")
            await create(session, platform, "buffered", "index.buffered")
            invoke = platform.url
            stream = f"{platform.endpoint}/2021-11-15/functions/streamer/response-streaming-invocations"
            size = int(args.mb * 1024 * 1024)
            for shape, event in (("at once", {"bytes": size}),
                                 ("10 pieces, 100 ms apart", {"bytes": size, "pieces": 10, "pause_ms": 100})):
                results[shape] = {
                    "Invoke, buffered function": await case(session, platform, invoke("buffered"), event, args.n),
                    "Invoke, streaming function": await case(session, platform, invoke("streamer"), event, args.n),
                    "InvokeWithResponseStream": await case(session, platform, stream, event, args.n),
                }
            large = int(args.large_mb * 1024 * 1024)
            results["large"] = await case(session, platform, stream, {"bytes": large}, max(1, args.n // 5))
    return results


def markdown(results: dict, args: argparse.Namespace) -> str:
    lines = [f"Body {args.mb:g} MiB; medians of {args.n} invocations after one warm-up.", "",
             "| body made | call | first byte | last byte | throughput |", "| --- | --- | --- | --- | --- |"]
    for shape in ("at once", "10 pieces, 100 ms apart"):
        for call, r in results[shape].items():
            lines.append(f"| {shape} | {call} | {r['ttfb_ms']:.0f} ms | {r['total_ms']:.0f} ms | "
                         f"{r['mb_per_s']:.0f} MiB/s |")
    large = results["large"]
    lines += ["", f"One {args.large_mb:g} MiB InvokeWithResponseStream: first byte {large['ttfb_ms']:.0f} ms, "
                  f"last {large['total_ms']:.0f} ms, {large['mb_per_s']:.0f} MiB/s."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--mb", type=float, default=5)
    parser.add_argument("--large-mb", type=float, default=100)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    print(markdown(results, args) if args.markdown else json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
