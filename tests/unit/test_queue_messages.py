"""SQS message rules (faas.services.queue_messages): attribute checks, sizes, digests and receipt handles."""

from __future__ import annotations

import base64
import hashlib

import pytest

from faas.errors import InvalidMessageContents, MissingParameter, ReceiptHandleIsInvalid, SqsInvalidParameterValue
from faas.services.queue_messages import (
    StoredMessage,
    check_body,
    md5_of_attributes,
    md5_of_body,
    message_size,
    parse_attributes,
    parse_receipt_handle,
    receipt_handle,
)


def test_the_body_digest_is_md5_of_its_utf8():
    assert md5_of_body("héllo") == hashlib.md5("héllo".encode()).hexdigest()


def test_the_attribute_digest_follows_sqs_encoding_in_name_order():
    attributes = parse_attributes({"b": {"DataType": "Binary", "BinaryValue": base64.b64encode(b"\x01").decode()},
                                   "a": {"DataType": "String", "StringValue": "x"}})
    expected = hashlib.md5(b"\x00\x00\x00\x01a" b"\x00\x00\x00\x06String" b"\x01\x00\x00\x00\x01x"
                           b"\x00\x00\x00\x01b" b"\x00\x00\x00\x06Binary" b"\x02\x00\x00\x00\x01\x01").hexdigest()
    assert md5_of_attributes(attributes) == expected
    assert md5_of_attributes({}) is None


@pytest.mark.parametrize("raw", [
    {"bad name": {"DataType": "String", "StringValue": "x"}},
    {"AWS.x": {"DataType": "String", "StringValue": "x"}},
    {"a..b": {"DataType": "String", "StringValue": "x"}},
    {"n": {"DataType": "Number", "StringValue": "twelve"}},
    {"n": {"DataType": "Integer", "StringValue": "1"}},
    {"s": {"DataType": "String", "StringValue": ""}},
    {"b": {"DataType": "Binary", "BinaryValue": "not base64!"}},
    {f"k{i}": {"DataType": "String", "StringValue": "v"} for i in range(11)},
    ["not", "a", "map"],
])
def test_bad_attributes_are_refused(raw):
    with pytest.raises(SqsInvalidParameterValue):
        parse_attributes(raw)


def test_bodies_must_be_present_and_of_xml_characters():
    with pytest.raises(MissingParameter):
        check_body(None)
    with pytest.raises(InvalidMessageContents):
        check_body("nul \x00")
    assert check_body("tab\tnewline\n☃") == "tab\tnewline\n☃"


def test_size_counts_the_body_and_every_attribute_part():
    attributes = parse_attributes({"ab": {"DataType": "String", "StringValue": "xyz"}})
    assert message_size("é", attributes) == 2 + 2 + 6 + 3


def test_a_stored_message_round_trips_with_binary_attributes():
    attributes = parse_attributes({"b": {"DataType": "Binary.gz", "BinaryValue": base64.b64encode(b"\xff").decode()}})
    stored = StoredMessage("body", attributes, "alice", 123)
    assert StoredMessage.decode(stored.encode()) == stored


def test_receipt_handles_name_their_queue_message_and_receive():
    handle = receipt_handle("q", 42, "token")
    assert parse_receipt_handle("q", handle) == (42, "token")
    for bad in ("", "%%%", base64.urlsafe_b64encode(b"q\nnot-a-number\nt").decode(), None, 7):
        with pytest.raises(ReceiptHandleIsInvalid):
            parse_receipt_handle("q", bad)
    with pytest.raises(ReceiptHandleIsInvalid):
        parse_receipt_handle("other", handle)
