"""`faas init NAME --runtime R`: a starter function (handler, dependency file, test event) in a new folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from faas.cli.common import add_output_option, emit
from faas.errors import ConfigError

TEST_EVENT = json.dumps({"name": "faas"}, indent=2) + "\n"

PYTHON_HANDLER = '''"""The function's handler: Lambda calls handler(event, context) for each invocation."""

import json


def handler(event, context):
    name = event.get("name", "world") if isinstance(event, dict) else "world"
    return {"statusCode": 200, "body": json.dumps({"message": f"hello, {name}"})}
'''

NODE_HANDLER = '''// The function's handler: Lambda calls handler(event, context) for each invocation.
export const handler = async (event) => {
  const name = (event && event.name) || "world";
  return { statusCode: 200, body: JSON.stringify({ message: `hello, ${name}` }) };
};
'''

# Per runtime family: the files of the starter and the handler to deploy it with.
STARTERS = {
    "python": ({"app.py": PYTHON_HANDLER,
                "requirements.txt": "# one requirement per line, e.g. requests==2.32.3; `faas build` bundles them\n"},
               "app.handler"),
    "nodejs": ({"index.mjs": NODE_HANDLER}, "index.handler"),
}
RUNTIMES = ("python3.13", "nodejs20.x")


def starter_files(name: str, runtime: str) -> tuple[dict[str, str], str]:
    """The starter's files by relative path, and its handler."""
    files, handler = STARTERS["python" if runtime.startswith("python") else "nodejs"]
    files = dict(files)
    if runtime.startswith("nodejs"):
        files["package.json"] = json.dumps({"name": name, "version": "1.0.0", "private": True, "type": "module",
                                            "dependencies": {}}, indent=2) + "\n"
    files["events/event.json"] = TEST_EVENT
    return files, handler


def cmd_init(args: argparse.Namespace) -> int:
    folder = Path(args.directory or args.name)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ConfigError(f"{folder} already exists and is not empty: faas init never overwrites files")
    files, handler = starter_files(args.name, args.runtime)
    for relative, content in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    deploy = f"faas deploy {folder} --name {args.name} --runtime {args.runtime} --handler {handler} --build"
    invoke = f"faas invoke {args.name} --payload-file {folder / 'events' / 'event.json'}"
    emit(args, {"Directory": str(folder), "Files": sorted(files), "Runtime": args.runtime, "Handler": handler,
                "Deploy": deploy, "Invoke": invoke},
         f"wrote {folder}/: {', '.join(sorted(files))}\ndeploy:  {deploy}\ninvoke:  {invoke}")
    return 0


def add_init_command(commands: argparse._SubParsersAction) -> None:
    """Register `faas init` on the `faas` parser."""
    init = commands.add_parser(
        "init", help="write a starter function",
        description="Write a starter function into a new folder: a handler, its dependency file "
                    "(requirements.txt or package.json, for 'faas build') and a test event in events/event.json. "
                    "Refuses a folder that exists and is not empty.")
    init.add_argument("name", help="function name (and the folder's, unless --dir is given)")
    init.add_argument("--runtime", required=True, choices=RUNTIMES, help="the function's runtime")
    init.add_argument("--dir", dest="directory", metavar="DIR", help="folder to write (default: NAME)")
    add_output_option(init)
    init.set_defaults(run=cmd_init)
