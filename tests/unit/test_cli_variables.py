"""faas.cli.variables: dotenv files, and how --env, --env-file, --unset-env and --replace-env make the set."""

from __future__ import annotations

from pathlib import Path

import pytest

from faas.cli.variables import VariableOptions, desired_variables, parse_dotenv, read_dotenv
from faas.errors import ConfigError

DOTENV = '''
# a comment, then a blank line

PLAIN=value
export EXPORTED=yes
SPACED = around the sign
BARE=trailing comment # gone
HASH=a#b
DOUBLE="two words # kept"
ESCAPES="line\\nnext \\"quoted\\" back\\\\slash"
SINGLE='as $it \\n is'
EMPTY=
EMPTY_QUOTED=""
EQUALS=a=b=c
DOTTED.NAME=1
'''


def test_a_dotenv_file_is_read_as_docker_compose_and_shells_read_it() -> None:
    assert parse_dotenv(DOTENV, ".env") == {
        "PLAIN": "value", "EXPORTED": "yes", "SPACED": "around the sign", "BARE": "trailing comment",
        "HASH": "a#b", "DOUBLE": "two words # kept", "ESCAPES": 'line\nnext "quoted" back\\slash',
        "SINGLE": "as $it \\n is", "EMPTY": "", "EMPTY_QUOTED": "", "EQUALS": "a=b=c", "DOTTED.NAME": "1",
    }


@pytest.mark.parametrize(("text", "line", "why"), [
    ("A=1\nnot a pair\n", 2, "is not KEY=VALUE"),
    ("A=1\n\n1ABC=x\n", 3, "is not KEY=VALUE"),
    ("=x\n", 1, "is not KEY=VALUE"),
    ('A="open\n', 1, 'closing " is missing'),
    ("A='x' y\n", 1, "unexpected 'y' after the quoted value"),
])
def test_a_bad_line_names_the_file_and_its_number(text: str, line: int, why: str) -> None:
    with pytest.raises(ConfigError, match=f"^prod.env, line {line}: .*{why}"):
        parse_dotenv(text, "prod.env")


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read --env-file .*missing.env"):
        read_dotenv(tmp_path / "missing.env")
    (tmp_path / "binary.env").write_bytes(b"A=\xff\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        read_dotenv(tmp_path / "binary.env")


CURRENT = {"KEEP": "k", "CHANGE": "old", "DROP": "d"}


@pytest.mark.parametrize(("options", "expected"), [
    (VariableOptions(), None),  # no option: the variables are not sent, so they stay
    (VariableOptions(pairs=["CHANGE=new", "ADD=a"]), {"KEEP": "k", "CHANGE": "new", "DROP": "d", "ADD": "a"}),
    (VariableOptions(unset=["DROP", "NEVER_SET"]), {"KEEP": "k", "CHANGE": "old"}),
    (VariableOptions(pairs=["ADD=a"], replace=True), {"ADD": "a"}),
    (VariableOptions(replace=True), {}),
    (VariableOptions(pairs=["DROP=again"], unset=["DROP"]), {"KEEP": "k", "CHANGE": "old"}),  # unset last
])
def test_options_merge_into_the_current_variables(options: VariableOptions, expected: dict | None) -> None:
    assert desired_variables(options, CURRENT) == expected


def test_files_come_before_pairs_and_a_later_file_wins(tmp_path: Path) -> None:
    (tmp_path / "a.env").write_text("X=from-a\nY=from-a\nZ=from-a\n")
    (tmp_path / "b.env").write_text("Y=from-b\nZ=from-b\n")
    options = VariableOptions(files=[tmp_path / "a.env", tmp_path / "b.env"], pairs=["Z=from-pair"])
    assert desired_variables(options, {}) == {"X": "from-a", "Y": "from-b", "Z": "from-pair"}
    assert desired_variables(VariableOptions(files=[tmp_path / "b.env"], replace=True), CURRENT) == {
        "Y": "from-b", "Z": "from-b"}
