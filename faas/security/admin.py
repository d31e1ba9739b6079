"""The first principal: an admin access key made on first start, written as AWS shared credentials."""

from __future__ import annotations

import configparser
import io
import os
import secrets
import string
from pathlib import Path

from faas.model import AccessKey, utcnow
from faas.security.masterkey import MasterKey
from faas.store.keys import KeyStore

ADMIN = "admin"
_KEY_ALPHABET = string.ascii_uppercase + string.digits


def new_key_pair() -> tuple[str, str]:
    key_id = "AKIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))
    secret = secrets.token_urlsafe(30)[:40]
    return key_id, secret


def credentials_text(key_id: str, secret: str) -> str:
    parser = configparser.ConfigParser()
    parser["default"] = {"aws_access_key_id": key_id, "aws_secret_access_key": secret}
    out = io.StringIO()
    parser.write(out)
    return out.getvalue()


def write_private(path: Path, text: str) -> None:
    """Replace `path` with `text`, readable by the owner only at every moment."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


async def ensure_admin_credentials(keys: KeyStore, master: MasterKey, path: Path) -> str:
    """Make the admin key on first start; (re)write the credentials file when it is missing."""
    existing = [k for k in await keys.for_principal(ADMIN) if k.enabled]
    if existing:
        key = existing[0]
        if not path.exists():
            secret = master.open(key.secret, key.key_id).decode()
            write_private(path, credentials_text(key.key_id, secret))
        return key.key_id
    key_id, secret = new_key_pair()
    await keys.add(
        AccessKey(key_id=key_id, principal=ADMIN, secret=master.seal(secret.encode(), key_id),
                  enabled=True, created_at=utcnow())
    )
    write_private(path, credentials_text(key_id, secret))
    return key_id
