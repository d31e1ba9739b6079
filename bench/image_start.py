"""`docker run --rm` of runtime images side by side: what a bigger image costs a container's start.

Each round runs every image given once, in turn, with its runtime's no-op (python3 -c pass,
node -e 0, true), so a slower minute of the machine hits them all; prints p50 and min per image.
Compare an image with the one its recipe made before a change (e.g. before and after the SDKs).

Usage:  .venv/bin/python bench/image_start.py [--runs 10] IMAGE [IMAGE ...]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time

NO_OP = {"python3.13": ["python3", "-c", "pass"], "nodejs20.x": ["node", "-e", "0"]}


def no_op(image: str) -> list[str]:
    recipe = subprocess.run(["docker", "image", "inspect", "-f", '{{index .Config.Labels "faas.recipe"}}', image],
                            capture_output=True, text=True, check=True).stdout.strip()
    return NO_OP.get(recipe, ["true"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10, help="docker runs of each image")
    parser.add_argument("images", nargs="+", help="image references")
    args = parser.parse_args()
    commands = {image: no_op(image) for image in args.images}
    samples: dict[str, list[float]] = {image: [] for image in args.images}
    for _ in range(args.runs):
        for image, command in commands.items():
            start = time.perf_counter()
            subprocess.run(["docker", "run", "--rm", "--entrypoint", command[0], image, *command[1:]], check=True)
            samples[image].append((time.perf_counter() - start) * 1000)
    print("| image | `docker run --rm` p50 | min |\n| --- | --- | --- |")
    for image, values in samples.items():
        print(f"| `{image}` | {statistics.median(values):.0f} ms | {min(values):.0f} ms |")


if __name__ == "__main__":
    main()
