"""Every shell and Python snippet of README.md and of the examples' READMEs, run in order against a real
`faas serve`, so the READMEs cannot drift from the code (tests/support/snippets.py says how a snippet is run,
and how one is skipped)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import REPO, Server
from tests.support.snippets import Terminal, failure, snippets

pytestmark = pytest.mark.docker

DOCUMENTS = [REPO / "README.md", *sorted((REPO / "examples").glob("*/README.md"))]


def test_every_skipped_snippet_says_why() -> None:
    found = [snippet for document in DOCUMENTS for snippet in snippets(document)]
    assert len(found) > 30
    assert [snippet.where for snippet in found if snippet.skip_reason == ""] == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(REPO)))
def test_snippets_run_in_order(server: Server, document: Path, tmp_path: Path) -> None:
    terminal = Terminal(tmp_path, REPO, server.data_dir, server.endpoint)
    for snippet in snippets(document):
        if snippet.skip_reason is None:
            result = terminal.run(snippet)
            assert result.returncode == 0, failure(snippet, result)
