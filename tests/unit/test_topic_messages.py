"""SNS messages as pure values (faas.services.topic_messages): attributes checked as SNS checks them, the
message chosen per protocol, the envelope, Lambda's SNS event and what filter policies match against."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from faas.errors import InvalidParameter, SnsInvalidParameterValue
from faas.services import topic_messages as messages
from faas.services.topic_messages import Attribute

AT = dt.datetime(2026, 12, 1, 1, 2, 3, 456789, tzinfo=dt.timezone.utc)


def test_attributes_of_every_type_are_kept_as_the_envelope_shows_them():
    parsed = messages.parse_attributes({
        "s": {"DataType": "String", "StringValue": "text"}, "n": {"DataType": "Number.int", "StringValue": "-1.5"},
        "b": {"DataType": "Binary", "BinaryValue": b"\x00\xff"}, "a": {"DataType": "String.Array",
                                                                     "StringValue": '["x", 1]'},
        "empty": {"DataType": "String", "StringValue": ""}})
    assert parsed == {"s": Attribute("String", "text"), "n": Attribute("Number.int", "-1.5"),
                      "b": Attribute("Binary", "AP8="), "a": Attribute("String.Array", '["x", 1]'),
                      "empty": Attribute("String", "")}
    assert parsed["b"].sqs() == {"DataType": "Binary", "BinaryValue": "AP8="}
    assert parsed["s"].envelope() == {"Type": "String", "Value": "text"}


@pytest.mark.parametrize("attributes", [
    {"AWS.x": {"DataType": "String", "StringValue": "v"}},
    {"a..b": {"DataType": "String", "StringValue": "v"}},
    {"n": {"DataType": "Number", "StringValue": "ten"}},
    {"n": {"DataType": "Number", "StringValue": ""}},
    {"a": {"DataType": "String.Array", "StringValue": '{"not": "an array"}'}},
    {"b": {"DataType": "Binary", "BinaryValue": "not base64!"}},
    {"t": {"DataType": "Date", "StringValue": "today"}},
    {"t": {"StringValue": "no type"}},
])
def test_bad_attributes_are_parameter_value_invalid(attributes):
    with pytest.raises(SnsInvalidParameterValue):
        messages.parse_attributes(attributes)


def test_a_message_is_at_most_256_kib_with_its_attributes():
    messages.check_message("x" * (256 * 1024), None, {})
    attributes = {"k": Attribute("String", "v")}
    with pytest.raises(InvalidParameter, match="Message too long"):
        messages.check_message("x" * (256 * 1024 - 3), None, attributes)
    with pytest.raises(InvalidParameter, match="Empty message"):
        messages.check_message("", None, {})


@pytest.mark.parametrize("subject", ["", "x" * 101, "line\nbreak", "naïve"])
def test_a_subject_is_one_line_of_ascii(subject):
    with pytest.raises(InvalidParameter, match="Subject"):
        messages.check_message("m", subject, {})


def test_message_structure_json_gives_each_protocol_its_message():
    assert messages.messages_by_protocol("plain", None) is None
    by_protocol = messages.messages_by_protocol(json.dumps({"default": "d", "sqs": "q"}), "json")
    assert by_protocol == {"default": "d", "sqs": "q"}
    for bad in ("not json", json.dumps({"sqs": "no default"}), json.dumps(["default"]),
                json.dumps({"default": {"nested": 1}})):
        with pytest.raises(InvalidParameter, match="Message Structure"):
            messages.messages_by_protocol(bad, "json")
    with pytest.raises(InvalidParameter):
        messages.messages_by_protocol("{}", "xml")


def test_the_envelope_and_the_lambda_event_carry_the_same_message():
    fields = messages.signed_fields(message_id="m-1", topic_arn="arn:aws:sns:r:1:t", message="hi", subject=None,
                                    at=messages.timestamp(AT))
    assert fields["Timestamp"] == "2026-12-01T01:02:03.456Z"
    attributes = {"k": Attribute("String", "v")}
    envelope = messages.envelope(fields, signature="c2ln", certificate_url="http://h/c.pem",
                                 unsubscribe_url="http://h/?Action=Unsubscribe", attributes=attributes)
    assert list(envelope) == ["Type", "MessageId", "TopicArn", "Message", "Timestamp", "SignatureVersion",
                              "Signature", "SigningCertURL", "UnsubscribeURL", "MessageAttributes"]
    assert "Subject" not in envelope and envelope["MessageAttributes"] == {"k": {"Type": "String", "Value": "v"}}
    event = messages.lambda_event(fields, subscription_arn="arn:aws:sns:r:1:t:s", signature="c2ln",
                                  certificate_url="http://h/c.pem", unsubscribe_url="http://h/u", attributes={})
    [record] = event["Records"]
    assert (record["EventSource"], record["EventVersion"], record["EventSubscriptionArn"]) == \
        ("aws:sns", "1.0", "arn:aws:sns:r:1:t:s")
    assert record["Sns"]["Subject"] is None and record["Sns"]["MessageAttributes"] == {}
    assert record["Sns"]["SigningCertUrl"] == "http://h/c.pem" and record["Sns"]["UnsubscribeUrl"] == "http://h/u"


def test_filter_events_hold_matchable_attributes_or_the_parsed_body():
    attributes = {"s": Attribute("String", "x"), "n": Attribute("Number", "3"), "f": Attribute("Number", "2.5"),
                  "a": Attribute("String.Array", '["p", 2]'), "b": Attribute("Binary", "AA==")}
    assert messages.filter_event("MessageAttributes", "body", attributes) == {"s": "x", "n": 3, "f": 2.5,
                                                                              "a": ["p", 2]}
    assert messages.filter_event("MessageBody", '{"order": {"total": 5}}', {}) == {"order": {"total": 5}}
    assert messages.filter_event("MessageBody", "not json", {}) is None
    assert messages.filter_event("MessageBody", "[1, 2]", {}) is None
