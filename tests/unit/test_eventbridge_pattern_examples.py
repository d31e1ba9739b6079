"""EventBridge's own pattern examples (the user guide's "Content filtering in Amazon EventBridge event
patterns", "Comparison operators for use in event patterns" and "Amazon EventBridge event patterns"
pages), each pattern against events built from the guide's example events, through
compile_pattern(dialect="events"): what the guide says matches, matches; what it says does not, does not."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from faas.event_patterns import compile_pattern

# The guide's example event (an EC2 state change), extended per case below.
EC2 = {
    "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2", "account": "111122223333", "time": "2017-12-22T18:43:48Z", "region": "us-west-1",
    "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
    "detail": {"instance-id": "i-1234567890abcdef0", "state": "terminated"},
}


def ec2(**detail: Any) -> dict:
    event = copy.deepcopy(EC2)
    event["detail"].update(detail)
    return event


def with_top(**fields: Any) -> dict:
    event = copy.deepcopy(EC2)
    event.update(fields)
    return event


CASES = [
    # (name, pattern, event, matches)
    # Exact values, and the event's structure: every field of the pattern must be in the event.
    ("exact source", {"source": ["aws.ec2"]}, EC2, True),
    ("exact source other", {"source": ["aws.s3"]}, EC2, False),
    ("exact nested", {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"],
                      "detail": {"state": ["terminated"]}}, EC2, True),
    ("exact nested other value", {"detail": {"state": ["running"]}}, EC2, False),
    ("a field the event lacks", {"detail": {"nope": ["x"]}}, EC2, False),
    ("any of a list", {"detail": {"state": ["running", "terminated"]}}, EC2, True),
    ("an event array matches if any element does", {"resources": [
        "arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0", "arn:aws:ec2:us-east-1:1:instance/x"]},
     EC2, True),
    ("case-sensitive", {"source": ["AWS.EC2"]}, EC2, False),
    ("null", {"detail": {"responseElements": [None]}}, ec2(responseElements=None), True),
    ("null is not missing", {"detail": {"responseElements": [None]}}, EC2, False),
    ("empty string", {"detail": {"eTag": [""]}}, ec2(eTag=""), True),
    ("empty string is not null", {"detail": {"eTag": [""]}}, ec2(eTag=None), False),
    ("number exact", {"detail": {"count": [5]}}, ec2(count=5), True),
    ("number exact, float form", {"detail": {"count": [5]}}, ec2(count=5.0), True),
    ("number is not string", {"detail": {"count": [5]}}, ec2(count="5"), False),
    # Prefix, and prefix ignoring case.
    ("prefix time", {"time": [{"prefix": "2017-12-22"}]}, EC2, True),
    ("prefix time other day", {"time": [{"prefix": "2017-10-02"}]}, EC2, False),
    ("prefix ignoring case", {"detail": {"service": [{"prefix": {"equals-ignore-case": "EventB"}}]}},
     ec2(service="eventbridge"), True),
    ("prefix ignoring case, other", {"detail": {"service": [{"prefix": {"equals-ignore-case": "EventB"}}]}},
     ec2(service="lambda"), False),
    # Suffix, and suffix ignoring case.
    ("suffix", {"FileName": [{"suffix": ".png"}]}, {"FileName": "image.png"}, True),
    ("suffix other", {"FileName": [{"suffix": ".png"}]}, {"FileName": "image.PNG"}, False),
    ("suffix ignoring case", {"detail": {"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}},
     ec2(FileName="IMAGE.PNG"), True),
    # Anything-but: a string, a number, a list, a prefix, a suffix, ignoring case, a wildcard.
    ("anything-but string", {"detail": {"state": [{"anything-but": "initializing"}]}}, EC2, True),
    ("anything-but string, same", {"detail": {"state": [{"anything-but": "terminated"}]}}, EC2, False),
    ("anything-but number", {"detail": {"x-limit": [{"anything-but": 123}]}}, ec2(**{"x-limit": 124}), True),
    ("anything-but number, same", {"detail": {"x-limit": [{"anything-but": 123}]}}, ec2(**{"x-limit": 123}), False),
    ("anything-but list", {"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}, EC2, True),
    ("anything-but list, in it", {"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}},
     ec2(state="stopped"), False),
    ("anything-but number list", {"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}},
     ec2(**{"x-limit": 300}), False),
    ("anything-but prefix", {"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}, EC2, True),
    ("anything-but prefix, has it", {"detail": {"state": [{"anything-but": {"prefix": "init"}}]}},
     ec2(state="initializing"), False),
    ("anything-but region prefix", {"Region": [{"anything-but": {"prefix": "us-"}}]}, {"Region": "eu-west-1"}, True),
    ("anything-but suffix", {"detail": {"FileName": [{"anything-but": {"suffix": ".txt"}}]}},
     ec2(FileName="notes.txt"), False),
    ("anything-but suffix, other", {"detail": {"FileName": [{"anything-but": {"suffix": ".txt"}}]}},
     ec2(FileName="photo.png"), True),
    ("anything-but ignoring case", {"detail": {"state": [{"anything-but": {"equals-ignore-case": "Terminated"}}]}},
     EC2, False),
    ("anything-but ignoring case list",
     {"detail": {"state": [{"anything-but": {"equals-ignore-case": ["Stopped", "OverLoaded"]}}]}}, EC2, True),
    ("anything-but wildcard", {"detail": {"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}},
     ec2(FilePath="/usr/lib/x.so"), False),
    ("anything-but wildcard, other", {"detail": {"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}},
     ec2(FilePath="/usr/bin/x"), True),
    ("anything-but on a missing field", {"detail": {"nope": [{"anything-but": "x"}]}}, EC2, False),
    # Numeric ranges (the guide's c-count, d-count and x-limit).
    ("numeric ranges", {"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}], "d-count": [{"numeric": ["<", 10]}],
                                   "x-limit": [{"numeric": ["=", 3.018e2]}]}},
     ec2(**{"c-count": 5, "d-count": 7, "x-limit": 301.8}), True),
    ("numeric ranges, one out", {"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}],
                                            "d-count": [{"numeric": ["<", 10]}]}},
     ec2(**{"c-count": 6, "d-count": 7}), False),
    ("numeric on a string", {"detail": {"c-count": [{"numeric": [">", 0]}]}}, ec2(**{"c-count": "5"}), False),
    # IP address matching.
    ("cidr", {"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}}, ec2(sourceIPAddress="10.0.0.255"), True),
    ("cidr outside", {"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}}, ec2(sourceIPAddress="10.0.1.0"), False),
    # Exists.
    ("exists", {"detail": {"state": [{"exists": True}]}}, EC2, True),
    ("exists, missing", {"detail": {"nope": [{"exists": True}]}}, EC2, False),
    ("does not exist", {"detail": {"nope": [{"exists": False}]}}, EC2, True),
    ("does not exist, present", {"detail": {"state": [{"exists": False}]}}, EC2, False),
    # Equals-ignore-case.
    ("equals-ignore-case", {"detail-type": [{"equals-ignore-case": "ec2 instance state-change notification"}]},
     EC2, True),
    ("equals-ignore-case, other", {"detail-type": [{"equals-ignore-case": "ec2 instance launch"}]}, EC2, False),
    # Wildcards.
    ("wildcard", {"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]},
     {"EventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/orders"}, True),
    ("wildcard other region", {"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]},
     {"EventBusArn": "arn:aws:events:eu-west-1:123456789012:event-bus/orders"}, False),
    ("wildcard suffix", {"detail": {"eventSource": [{"wildcard": "*.amazonaws.com"}]}},
     ec2(eventSource="s3.amazonaws.com"), True),
    ("wildcard escaped star", {"detail": {"name": [{"wildcard": "a\\*b"}]}}, ec2(name="a*b"), True),
    ("wildcard escaped star, literal only", {"detail": {"name": [{"wildcard": "a\\*b"}]}}, ec2(name="axxb"), False),
    # $or, inside detail and at the top.
    ("$or in detail", {"detail": {"$or": [{"c-count": [{"numeric": [">", 0, "<=", 5]}]},
                                          {"d-count": [{"numeric": ["<", 10]}]},
                                          {"x-limit": [{"numeric": ["=", 3.018e2]}]}]}},
     ec2(**{"c-count": 50, "d-count": 70, "x-limit": 301.8}), True),
    ("$or in detail, none", {"detail": {"$or": [{"c-count": [{"numeric": [">", 0, "<=", 5]}]},
                                                {"d-count": [{"numeric": ["<", 10]}]}]}},
     ec2(**{"c-count": 50, "d-count": 70}), False),
    ("$or at the top", {"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]},
                                                             {"namespace": ["AWS/EC2", "AWS/ES"]}]},
     {"source": "aws.cloudwatch", "metricName": "DiskWrite", "namespace": "AWS/EC2"}, True),
    ("$or at the top, none", {"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization"]},
                                                                   {"namespace": ["AWS/ES"]}]},
     {"source": "aws.cloudwatch", "metricName": "DiskWrite", "namespace": "AWS/EC2"}, False),
    # Several matchers on one field: any of them.
    ("prefix or anything-but", {"detail": {"location": [{"prefix": "us-"}, {"anything-but": "eu-west"}]}},
     ec2(location="ap-south"), True),
    # Nested objects, and an array of objects: one element must match all of the nested pattern.
    ("nested objects", {"detail": {"requestParameters": {"bucketName": [{"prefix": "logs-"}]}}},
     ec2(requestParameters={"bucketName": "logs-2017"}), True),
    ("array of objects", {"detail": {"items": {"sku": ["A"], "qty": [{"numeric": [">", 1]}]}}},
     ec2(items=[{"sku": "A", "qty": 1}, {"sku": "A", "qty": 2}]), True),
    ("array of objects, no single match", {"detail": {"items": {"sku": ["A"], "qty": [{"numeric": [">", 1]}]}}},
     ec2(items=[{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}]), False),
]


@pytest.mark.parametrize(("pattern", "event", "matches"), [case[1:] for case in CASES], ids=[c[0] for c in CASES])
def test_the_guides_examples(pattern, event, matches):
    assert compile_pattern(pattern, dialect="events").matches(event) is matches
