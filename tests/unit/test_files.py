"""faas.files.write_private: the one way the server and the CLI write a file only its owner may read."""

import os
import stat

import pytest

from faas.files import write_private


def test_write_private_replaces_the_file_with_mode_0600(tmp_path):
    path = tmp_path / "sub" / "credentials"
    old = os.umask(0)
    try:
        write_private(path, "[a]\n")
        path.chmod(0o644)
        write_private(path, "[b]\n")
    finally:
        os.umask(old)
    assert path.read_text() == "[b]\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["credentials"]


def test_write_private_removes_its_temporary_file_when_the_rename_fails(tmp_path):
    path = tmp_path / "credentials"
    path.mkdir()  # renaming a file over a directory fails
    with pytest.raises(OSError):
        write_private(path, "[a]\n")
    assert [p.name for p in tmp_path.iterdir()] == ["credentials"]
