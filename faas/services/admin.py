"""The first principal's credentials: an admin access key made on first start, written as AWS shared
credentials so boto3, the AWS CLI and the faas CLI on this machine find them."""

from __future__ import annotations

import configparser
import io
from pathlib import Path

from faas.files import replace_file
from faas.security.masterkey import MasterKey
from faas.services.identities import ADMIN, IdentityService
from faas.store.identities import IdentityStore


def credentials_text(key_id: str, secret: str) -> str:
    parser = configparser.ConfigParser()
    parser["default"] = {"aws_access_key_id": key_id, "aws_secret_access_key": secret}
    out = io.StringIO()
    parser.write(out)
    return out.getvalue()


async def ensure_admin_credentials(identities: IdentityService, store: IdentityStore, master: MasterKey,
                                   path: Path) -> str:
    """Make the admin key on first start; (re)write the credentials file when it is missing."""
    existing = [k for k in await store.keys(ADMIN) if k.enabled]
    if existing:
        key = existing[0]
        if not path.exists():
            replace_file(path, credentials_text(key.key_id, master.open(key.secret, key.key_id).decode()))
        return key.key_id
    key_id, secret = await identities.create_key(ADMIN)
    replace_file(path, credentials_text(key_id, secret))
    return key_id
