"""AWS shared-credentials files as `faas keys create --credentials-file` writes them: one profile
replaced or appended, every other line kept, the file private (0600)."""

from __future__ import annotations

import re
from pathlib import Path

from faas import files
from faas.errors import ConfigError

_SECTION_RE = re.compile(r"\[([^\]]*)\]")


def profile_text(profile: str, key_id: str, secret: str) -> str:
    """One profile of an AWS shared-credentials file."""
    return f"[{profile}]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"


def upsert_profile(text: str, profile: str, key_id: str, secret: str) -> str:
    """`text` (a credentials file) with `profile` replaced or appended; every other line kept as it was."""
    lines = text.splitlines(keepends=True)
    kept: list[str] = []
    at: int | None = None  # where the profile was, to put its new version in the same place
    inside = False
    for line in lines:
        section = _SECTION_RE.match(line)
        if section:
            inside = section.group(1).strip() == profile
            if inside and at is None:
                at = len(kept)
        if not inside:
            kept.append(line)
    new = profile_text(profile, key_id, secret)
    if at is None:
        head = "".join(kept)
        if head and not head.endswith("\n"):
            head += "\n"
        return head + ("\n" if head.strip() else "") + new
    after = kept[at:]
    return "".join(kept[:at]) + new + ("\n" if after and after[0].strip() else "") + "".join(after)


def read_credentials_text(path: Path) -> str:
    """The credentials file's text ('' when it does not exist yet)."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from exc


def write_private(path: Path, text: str) -> None:
    """Replace `path` with `text`, mode 0600 at every moment (faas.files), or say why it cannot be."""
    try:
        files.replace_file(path, text)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from exc
