"""The first principal's credentials: an admin access key made on first start, written as AWS shared
credentials so boto3, the AWS CLI and the faas CLI on this machine find them."""

from __future__ import annotations

import configparser
import io
import os
from pathlib import Path

from faas.security.masterkey import MasterKey
from faas.services.identities import ADMIN, IdentityService
from faas.store.identities import IdentityStore


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


async def ensure_admin_credentials(identities: IdentityService, store: IdentityStore, master: MasterKey,
                                   path: Path) -> str:
    """Make the admin key on first start; (re)write the credentials file when it is missing."""
    existing = [k for k in await store.keys(ADMIN) if k.enabled]
    if existing:
        key = existing[0]
        if not path.exists():
            write_private(path, credentials_text(key.key_id, master.open(key.secret, key.key_id).decode()))
        return key.key_id
    key_id, secret = await identities.create_key(ADMIN)
    write_private(path, credentials_text(key_id, secret))
    return key_id
