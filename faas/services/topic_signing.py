"""The key SNS messages are signed with: generated on a first start, kept in the store sealed under the
master key like every other secret (its certificate in the clear: it is public), and loaded at start."""

from __future__ import annotations

from faas.model import utcnow
from faas.security import message_signing
from faas.security.masterkey import MasterKey
from faas.store.meta import MetaStore

KEY = "sns-signing-key"  # sealed PEM; the context it is sealed under is its name
CERTIFICATE = "sns-signing-certificate"


async def load_signer(meta: MetaStore, master: MasterKey, common_name: str) -> message_signing.Signer:
    sealed, certificate = await meta.get(KEY), await meta.get(CERTIFICATE)
    if sealed is None or certificate is None:
        key_pem, certificate = message_signing.generate(common_name, utcnow())
        # The certificate first: a crash in between leaves no key without its certificate.
        await meta.put(CERTIFICATE, certificate)
        await meta.put(KEY, master.seal(key_pem, KEY))
        return message_signing.Signer(key_pem, certificate)
    return message_signing.Signer(master.open(sealed, KEY), certificate)
