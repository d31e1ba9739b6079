"""faas.cli.handler_check: a deploy's handler looked for by parsing Python and Node.js code, never running it."""

from __future__ import annotations

import pytest

from faas.cli.handler_check import handler_warning


def reader(files: dict[str, str]):
    return lambda path: files[path].encode() if path in files else None


@pytest.mark.parametrize(("handler", "files"), [
    ("app.handler", {"app.py": "def handler(event, context):\n    return 1\n"}),
    ("app.handler", {"app.py": "async def handler(event, context):\n    return 1\n"}),
    ("app.handler", {"app.py": "from mangum import Mangum\nhandler = Mangum(app)\n"}),
    ("app.handler", {"app.py": "handler: object = make()\n"}),
    ("app.handler", {"app.py": "from .impl import main as handler\n"}),
    ("app.handler", {"app.py": "import handler\n"}),
    ("app.handler", {"app.py": "from impl import *\n"}),  # cannot tell: no warning
    ("app.handler", {"app.py": "try:\n    from fast import handler\nexcept ImportError:\n    handler = None\n"}),
    ("pkg.sub.mod.fn", {"pkg/sub/mod.py": "def fn(e, c): pass\n"}),
    ("pkg.fn", {"pkg/__init__.py": "def fn(e, c): pass\n"}),
])
def test_python_handlers_found(handler: str, files: dict[str, str]) -> None:
    assert handler_warning("python3.13", handler, reader(files)) is None


@pytest.mark.parametrize(("handler", "files", "warning"), [
    ("app.handler", {}, "looked for app.py or app/__init__.py"),
    ("pkg.mod.fn", {"mod.py": "def fn(): pass\n"}, "looked for pkg/mod.py or pkg/mod/__init__.py"),
    ("app.handler", {"app.py": "def handle(event, context):\n    pass\n"}, "app.py has no top-level function, "
                                                                          "assignment or import named 'handler'"),
    ("app.handler", {"app.py": "def outer():\n    def handler(): pass\n"}, "named 'handler'"),
    ("app.handler", {"app.py": "def handler(:\n"}, "app.py does not parse: line 1"),
    ("handler", {"handler.py": ""}, "is not MODULE.FUNCTION"),
])
def test_python_misses_say_what_was_looked_for(handler: str, files: dict[str, str], warning: str) -> None:
    assert warning in handler_warning("python3.12", handler, reader(files))


@pytest.mark.parametrize(("handler", "files"), [
    ("index.handler", {"index.js": "exports.handler = async (event) => event;\n"}),
    ("index.handler", {"index.js": "module.exports.handler = function (event) {};\n"}),
    ("index.handler", {"index.js": "async function handler() {}\nmodule.exports = { handler };\n"}),
    ("index.handler", {"index.mjs": "export const handler = async (event) => event;\n"}),
    ("index.handler", {"index.mjs": "export async function handler(event) {}\n"}),
    ("index.handler", {"index.mjs": "export function handler(event) {}\n"}),
    ("index.handler", {"index.mjs": "const main = () => 1;\nexport { main as handler };\n"}),
    ("src/app.main", {"src/app.cjs": "exports.main = () => 1;\n"}),
    # As the runtime reads it: the file is `index`, the export `handlers`, and `main` a member of it.
    ("index.handlers.main", {"index.js": "exports.handlers = { main: () => 1 };\n"}),
    ("v1.2/index.handler", {"v1.2/index.mjs": "export const handler = () => 1;\n"}),
])
def test_node_handlers_found(handler: str, files: dict[str, str]) -> None:
    assert handler_warning("nodejs20.x", handler, reader(files)) is None


@pytest.mark.parametrize(("handler", "files", "warning"), [
    ("index.handler", {}, "looked for index.js, index.mjs, index.cjs"),
    ("index.handler", {"index.js": "exports.main = () => 1;\n"}, "index.js exports no 'handler'"),
    ("index.handler", {"index.mjs": "const handler = 1;\nexport default handler;\n"}, "exports no 'handler'"),
    ("index.handler", {"index.mjs": "export const handlerV2 = 1;\n"}, "exports no 'handler'"),
    ("index.handlers.main", {"index.js": "exports.main = 1;\n"}, "index.js exports no 'handlers'"),
    ("index", {"index.js": "exports.index = 1;\n"}, "is not FILE.FUNCTION"),
])
def test_node_misses_say_what_was_looked_for(handler: str, files: dict[str, str], warning: str) -> None:
    assert warning in handler_warning("nodejs22.x", handler, reader(files))


@pytest.mark.parametrize("runtime", ["provided.al2023", "provided", "java21"])
def test_runtimes_without_handler_files_are_not_checked(runtime: str) -> None:
    assert handler_warning(runtime, "bootstrap", reader({})) is None
