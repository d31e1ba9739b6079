"""SNS message signatures (SignatureVersion 2: SHA256withRSA): the canonical string SNS signs, the signature,
and the key pair with the self-signed certificate subscribers verify it with (served at SigningCertURL).

Pure: the key is generated here and handed back as PEM; the caller stores it sealed (faas.services.topic_signing).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

SIGNATURE_VERSION = "2"
KEY_BITS = 2048
CERTIFICATE_DAYS = 3650

# The fields each message type signs, in the order SNS's documentation gives (Subject only when present).
NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")


def canonical_string(message: dict[str, str]) -> str:
    """SNS's string to sign: each signed field present in the message as `Name\\nValue\\n`."""
    fields = NOTIFICATION_FIELDS if message.get("Type") == "Notification" else CONFIRMATION_FIELDS
    return "".join(f"{name}\n{message[name]}\n" for name in fields if message.get(name) is not None)


class Signer:
    """Signs messages with one RSA key; `certificate_pem` is what SigningCertURL serves."""

    def __init__(self, key_pem: bytes, certificate_pem: bytes) -> None:
        self._key = serialization.load_pem_private_key(key_pem, password=None)
        self.certificate_pem = certificate_pem
        # Names the certificate in its URL, so a new key gets a new URL and caches of the old one do no harm.
        self.key_id = hashlib.sha256(certificate_pem).hexdigest()[:32]
        # A second secret from the same key, for capabilities in URLs (an UnsubscribeURL's token).
        self._capability_key = hashlib.sha256(b"faas capability key\n" + key_pem).digest()

    def sign(self, message: dict[str, str]) -> str:
        signature = self._key.sign(canonical_string(message).encode(), padding.PKCS1v15(),  # type: ignore[union-attr]
                                   hashes.SHA256())
        return base64.b64encode(signature).decode()

    def capability(self, purpose: str) -> str:
        """An unguessable token for `purpose` that only this key can mint and check."""
        return hmac.new(self._capability_key, purpose.encode(), hashlib.sha256).hexdigest()


def generate(common_name: str, now: dt.datetime) -> tuple[bytes, bytes]:
    """A new RSA key (PEM, unencrypted: the caller seals it) and a self-signed certificate for it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
                   .not_valid_after(now + dt.timedelta(days=CERTIFICATE_DAYS))
                   .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM)
