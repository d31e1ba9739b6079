"""The environment variables `faas deploy` sends: dotenv files (--env-file), --env pairs merged into the
function's current variables, --unset-env and --replace-env."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from faas.cli.common import key_value_pairs
from faas.errors import ConfigError

# KEY=VALUE with an optional `export ` in front, as shells and docker compose read .env files.
_LINE = re.compile(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*)")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def _unquote(raw: str, where: str) -> str:
    """A value as written after `=`: "double" (with \\n, \\t, \\" and \\\\ escapes), 'single' (as it is) or bare
    (up to a ` #` comment, trimmed)."""
    if raw[:1] in ("'", '"'):
        quote = raw[0]
        end = raw.find(quote, 1)
        while quote == '"' and end != -1 and _escaped(raw, end):
            end = raw.find(quote, end + 1)
        if end == -1:
            raise ConfigError(f"{where}: the value's closing {quote} is missing")
        rest = raw[end + 1:].strip()
        if rest and not rest.startswith("#"):
            raise ConfigError(f"{where}: unexpected {rest!r} after the quoted value")
        value = raw[1:end]
        if quote == '"':
            value = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), value)
        return value
    return re.split(r"\s+#", raw, maxsplit=1)[0].strip()


def _escaped(text: str, index: int) -> bool:
    backslashes = len(text[:index]) - len(text[:index].rstrip("\\"))
    return backslashes % 2 == 1


def parse_dotenv(text: str, source: str) -> dict[str, str]:
    """The variables of a dotenv file's text: KEY=VALUE lines, blank lines and # comments skipped, an optional
    `export ` prefix, optional quotes. A bad line is an error naming `source` and its line number."""
    variables: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        where = f"{source}, line {number}"
        match = _LINE.fullmatch(stripped)
        if match is None:
            raise ConfigError(f"{where}: {stripped[:60]!r} is not KEY=VALUE (a name of letters, digits and _, "
                              "not starting with a digit)")
        variables[match.group(1)] = _unquote(match.group(2), where)
    return variables


def read_dotenv(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"cannot read --env-file {path}: {reason}") from exc
    return parse_dotenv(text, str(path))


@dataclasses.dataclass(frozen=True)
class VariableOptions:
    """What deploy was told about variables: files and pairs in the order given (a later key wins)."""
    files: Sequence[Path] = ()
    pairs: Sequence[str] = ()
    unset: Sequence[str] = ()
    replace: bool = False

    def given(self) -> bool:
        return bool(self.files or self.pairs or self.unset or self.replace)


def desired_variables(options: VariableOptions, current: Mapping[str, str]) -> dict[str, str] | None:
    """The function's variables after deploy: None when no option touches them (they stay as they are);
    else `current` with the files' and pairs' values merged in (or only those, with --replace-env), without
    the --unset-env keys."""
    if not options.given():
        return None
    given: dict[str, str] = {}
    for path in options.files:
        given.update(read_dotenv(path))
    given.update(key_value_pairs(options.pairs, "--env", "LOG_LEVEL=debug"))
    variables = given if options.replace else {**current, **given}
    for key in options.unset:
        variables.pop(key, None)
    return variables
