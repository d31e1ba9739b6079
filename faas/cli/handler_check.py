"""Whether a deploy's code holds the handler it names, found by parsing (Python's `ast`, regular expressions
for Node.js), never by running the user's code. A miss is only a warning: imports can be dynamic."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator

# Reads a file of the code by its path in the zip; None when there is no such file.
Reader = Callable[[str], "bytes | None"]

NODE_EXTENSIONS = (".js", ".mjs", ".cjs")


def handler_warning(runtime: str, handler: str, read: Reader) -> str | None:
    """What is missing for `handler` in the code `read` reads, or None when it was found (or the runtime's
    handlers are not files: provided* runs a bootstrap, and an unknown runtime is not guessed at)."""
    if runtime.startswith("python"):
        return _python_warning(handler, read)
    if runtime.startswith("nodejs"):
        return _node_warning(handler, read)
    return None


def _python_warning(handler: str, read: Reader) -> str | None:
    module, dot, name = handler.rpartition(".")
    if not dot or not module or not name:
        return f"the handler {handler!r} is not MODULE.FUNCTION (e.g. app.handler)"
    base = module.replace(".", "/")
    candidates = (f"{base}.py", f"{base}/__init__.py")
    for path in candidates:
        source = read(path)
        if source is None:
            continue
        try:
            tree = ast.parse(source, filename=path)
        except SyntaxError as exc:
            return f"the handler's module {path} does not parse: line {exc.lineno}: {exc.msg}"
        except ValueError as exc:  # null bytes
            return f"the handler's module {path} does not parse: {exc}"
        names = set(_top_level_names(tree.body))
        if name in names or "*" in names:
            return None
        return f"{path} has no top-level function, assignment or import named {name!r} (handler {handler})"
    return f"the handler's module was not found: looked for {' or '.join(candidates)} (handler {handler})"


def _top_level_names(body: list[ast.stmt]) -> Iterator[str]:
    """The names a module's top level binds: defs, assignments and imports, also those inside top-level
    if/try/with blocks (`try: import x except ImportError: ...`); "*" for a `from m import *`."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node.name
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                yield from (n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                yield alias.asname or alias.name.split(".")[0]
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            blocks = [node.body, getattr(node, "orelse", []), getattr(node, "finalbody", [])]
            blocks += [h.body for h in getattr(node, "handlers", [])]
            for block in blocks:
                yield from _top_level_names(block)


def _node_exports(name: str) -> tuple[re.Pattern[str], ...]:
    word = re.escape(name)
    return (
        re.compile(rf"\b(?:module\.)?exports\.{word}\s*="),  # exports.handler = / module.exports.handler =
        re.compile(rf"\bexport\s+(?:const|let|var|(?:async\s+)?function\s*\*?)\s*{word}\b"),
        re.compile(rf"\bexport\s*\{{[^}}]*\b{word}\b[^}}]*\}}"),  # export { handler } / { x as handler }
    )


def _node_split(handler: str) -> tuple[str, str] | str:
    """The module and the exported name of a Node.js handler, split as the runtime splits it: the file name
    ends at the first dot after the last /, and `index.handlers.main` reads the export `handlers` (then its
    member `main`, which parsing cannot follow)."""
    folder, slash, base = handler.rpartition("/")
    module, dot, path = base.partition(".")
    if not dot or not module or not path:
        return f"the handler {handler!r} is not FILE.FUNCTION (e.g. index.handler)"
    return folder + slash + module, path.split(".")[0]


def _node_warning(handler: str, read: Reader) -> str | None:
    parts = _node_split(handler)
    if isinstance(parts, str):
        return parts
    module, name = parts
    candidates = [module + extension for extension in NODE_EXTENSIONS]
    for path in candidates:
        source = read(path)
        if source is None:
            continue
        text = source.decode("utf-8", "replace")
        # module.exports = {...} or = someFunction: found when the name is written in the file at all.
        whole = re.search(r"\bmodule\.exports\s*=", text) and re.search(rf"\b{re.escape(name)}\b", text)
        if whole or any(pattern.search(text) for pattern in _node_exports(name)):
            return None
        return (f"{path} exports no {name!r} (looked for exports.{name} =, module.exports, export "
                f"const/function {name} and export {{ {name} }}; handler {handler})")
    return f"the handler's module was not found: looked for {', '.join(candidates)} (handler {handler})"
