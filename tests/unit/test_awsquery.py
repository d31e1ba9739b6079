"""The query protocol's flattened parameters become the JSON protocol's shape (faas.api.awsquery)."""

from __future__ import annotations

import urllib.parse

from aiohttp.test_utils import make_mocked_request

from faas.api.awsquery import params_of
from faas.api.body import BODY
from faas.api.sqs import SQS


def flattened(fields: dict[str, str], operation: str) -> dict:
    request = make_mocked_request("POST", "/", headers={"Content-Type": "application/x-www-form-urlencoded"})
    request[BODY] = urllib.parse.urlencode({"Action": operation, "Version": "2012-11-05", **fields}).encode()
    return params_of(request, SQS.query, operation)


def test_maps_lists_and_nested_batch_entries_are_unflattened_in_index_order():
    assert flattened({
        "QueueUrl": "http://h/000000000000/q",
        "SendMessageBatchRequestEntry.2.Id": "b", "SendMessageBatchRequestEntry.2.MessageBody": "two",
        "SendMessageBatchRequestEntry.10.Id": "c", "SendMessageBatchRequestEntry.10.MessageBody": "ten",
        "SendMessageBatchRequestEntry.1.Id": "a", "SendMessageBatchRequestEntry.1.MessageBody": "one",
        "SendMessageBatchRequestEntry.1.DelaySeconds": "5",
        "SendMessageBatchRequestEntry.1.MessageAttribute.1.Name": "n",
        "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType": "Number",
        "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue": "7",
    }, "SendMessageBatch") == {"QueueUrl": "http://h/000000000000/q", "Entries": [
        {"Id": "a", "MessageBody": "one", "DelaySeconds": "5",
         "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "7"}}},
        {"Id": "b", "MessageBody": "two"}, {"Id": "c", "MessageBody": "ten"}]}


def test_create_queue_takes_attributes_and_its_tags_under_their_json_names():
    assert flattened({"QueueName": "q", "Attribute.1.Name": "DelaySeconds", "Attribute.1.Value": "3",
                      "Tag.1.Key": "team", "Tag.1.Value": "a"}, "CreateQueue") == {
        "QueueName": "q", "Attributes": {"DelaySeconds": "3"}, "tags": {"team": "a"}}
    assert flattened({"QueueUrl": "u", "Tag.1.Key": "k", "Tag.1.Value": "v"}, "TagQueue") == {
        "QueueUrl": "u", "Tags": {"k": "v"}}
    assert flattened({"QueueUrl": "u", "AttributeName.1": "All", "MessageAttributeName.1": "a.*"},
                     "ReceiveMessage") == {"QueueUrl": "u", "AttributeNames": ["All"], "MessageAttributeNames": ["a.*"]}


def sns_params(fields: dict[str, str], operation: str) -> dict:
    from faas.api.sns import SNS

    request = make_mocked_request("POST", "/", headers={"Content-Type": "application/x-www-form-urlencoded"})
    request[BODY] = urllib.parse.urlencode({"Action": operation, "Version": "2010-03-31", **fields}).encode()
    return params_of(request, SNS.query, operation)


def test_snss_wrapped_maps_and_lists_are_unwrapped():
    assert sns_params({"Name": "t", "Attributes.entry.1.key": "FifoTopic", "Attributes.entry.1.value": "true",
                       "Tags.member.2.Key": "b", "Tags.member.2.Value": "2",
                       "Tags.member.1.Key": "a", "Tags.member.1.Value": "1"}, "CreateTopic") == {
        "Name": "t", "Attributes": {"FifoTopic": "true"}, "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]}
    assert sns_params({"TopicArn": "arn", "PublishBatchRequestEntries.member.1.Id": "x",
                       "PublishBatchRequestEntries.member.1.Message": "m",
                       "PublishBatchRequestEntries.member.1.MessageAttributes.entry.1.Name": "k",
                       "PublishBatchRequestEntries.member.1.MessageAttributes.entry.1.Value.DataType": "String",
                       "PublishBatchRequestEntries.member.1.MessageAttributes.entry.1.Value.StringValue": "v"},
                      "PublishBatch") == {"TopicArn": "arn", "PublishBatchRequestEntries": [
                          {"Id": "x", "Message": "m",
                           "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}}]}


def test_snss_answers_wrap_lists_in_members_and_maps_in_entries():
    from faas.api.awsquery import response
    from faas.api.sns import SNS

    body = response(SNS, "ListTopics", {"Topics": [{"TopicArn": "a"}], "NextToken": "n"}, "rid").body.decode()
    assert "<ListTopicsResult><Topics><member><TopicArn>a</TopicArn></member></Topics><NextToken>n</NextToken>" in body
    body = response(SNS, "GetTopicAttributes", {"Attributes": {"k": "v&"}}, "rid").body.decode()
    assert "<Attributes><entry><key>k</key><value>v&amp;</value></entry></Attributes>" in body


def test_sns_is_not_reachable_through_the_json_protocol():
    from aiohttp import web

    from faas.api import awsjson
    from faas.api.sns import SNS
    from faas.api.sqs import SQS

    app = web.Application()
    app[awsjson.SERVICES] = {SQS.target_prefix: SQS, SNS.target_prefix: SNS}
    for target, found in (("AmazonSNS.ListTopics", None), ("AmazonSQS.ListQueues", (SQS, "ListQueues"))):
        request = make_mocked_request("POST", "/", headers={"X-Amz-Target": target}, app=app)
        assert awsjson.target_of(request) == found
