"""SNS message signatures (faas.security.message_signing): SNS's canonical strings, and signatures a
subscriber verifies with the certificate alone."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from faas.security import message_signing
from faas.security.message_signing import Signer, canonical_string

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def key() -> tuple[bytes, bytes]:
    return message_signing.generate("test signer", NOW)


@pytest.fixture(scope="module")
def signer(key) -> Signer:
    return Signer(*key)


def test_a_notification_signs_its_fields_in_snss_order_subject_only_when_present():
    fields = {"Type": "Notification", "MessageId": "m", "TopicArn": "t", "Message": "hi", "Timestamp": "ts",
              "UnsubscribeURL": "not signed"}
    assert canonical_string(fields) == "Message\nhi\nMessageId\nm\nTimestamp\nts\nTopicArn\nt\nType\nNotification\n"
    assert canonical_string({**fields, "Subject": "s"}) == \
        "Message\nhi\nMessageId\nm\nSubject\ns\nTimestamp\nts\nTopicArn\nt\nType\nNotification\n"


def test_a_confirmation_signs_its_url_and_token():
    fields = {"Type": "SubscriptionConfirmation", "MessageId": "m", "TopicArn": "t", "Message": "confirm",
              "Timestamp": "ts", "Token": "tok", "SubscribeURL": "http://h/?Action=ConfirmSubscription"}
    assert canonical_string(fields) == ("Message\nconfirm\nMessageId\nm\nSubscribeURL\n"
                                        "http://h/?Action=ConfirmSubscription\nTimestamp\nts\nToken\ntok\nTopicArn\nt\n"
                                        "Type\nSubscriptionConfirmation\n")


def test_the_signature_verifies_with_the_certificate_and_fails_on_a_change(signer):
    fields = {"Type": "Notification", "MessageId": "m", "TopicArn": "t", "Message": "hi", "Timestamp": "ts"}
    signature = base64.b64decode(signer.sign(fields))
    key = x509.load_pem_x509_certificate(signer.certificate_pem).public_key()
    key.verify(signature, canonical_string(fields).encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[call-arg,union-attr]
    with pytest.raises(InvalidSignature):
        key.verify(signature, canonical_string({**fields, "Message": "hi!"}).encode(),  # type: ignore[call-arg,union-attr]
                   padding.PKCS1v15(), hashes.SHA256())  # type: ignore[call-arg]


def test_a_reloaded_key_signs_alike_and_capabilities_are_per_purpose(key, signer):
    again = Signer(*key)
    assert again.key_id == signer.key_id
    assert again.capability("unsubscribe:a") == signer.capability("unsubscribe:a") != signer.capability("unsubscribe:b")
    other = Signer(*message_signing.generate("another", NOW))
    assert other.capability("unsubscribe:a") != signer.capability("unsubscribe:a") and other.key_id != signer.key_id
