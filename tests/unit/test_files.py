"""faas.files.replace_file: the one way the server and the CLI write a file whole (credentials 0600, the endpoint 0644)."""

import os
import stat

import pytest

from faas.files import replace_file


def test_replace_file_replaces_the_file_with_mode_0600(tmp_path):
    path = tmp_path / "sub" / "credentials"
    old = os.umask(0)
    try:
        replace_file(path, "[a]\n")
        path.chmod(0o644)
        replace_file(path, "[b]\n")
    finally:
        os.umask(old)
    assert path.read_text() == "[b]\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["credentials"]


def test_replace_file_removes_its_temporary_file_when_the_rename_fails(tmp_path):
    path = tmp_path / "credentials"
    path.mkdir()  # renaming a file over a directory fails
    with pytest.raises(OSError):
        replace_file(path, "[a]\n")
    assert [p.name for p in tmp_path.iterdir()] == ["credentials"]


def test_replace_file_can_leave_a_file_readable_by_all(tmp_path):
    path = tmp_path / "endpoint"
    replace_file(path, "http://127.0.0.1:1\n", mode=0o644)  # the server's endpoint file
    assert (path.read_text(), path.stat().st_mode & 0o777) == ("http://127.0.0.1:1\n", 0o644)
