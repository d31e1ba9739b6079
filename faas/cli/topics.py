"""The `faas topics` verbs: create, ls, publish, subscribe and rm, over SNS's API on the platform's endpoint."""

from __future__ import annotations

import argparse
import json

from faas.cli.common import add_verb, client_for, client_options, command_group, emit, print_table
from faas.cli.queues import parse_message_attributes, parse_queue_attributes, read_body
from faas.client.topics import TopicClient
from faas.client.transport import ClientError
from faas.errors import ConfigError


def _topics(args: argparse.Namespace) -> TopicClient:
    return client_for(args, client_class=TopicClient)


def resolve_arn(client: TopicClient, topic: str) -> str:
    """A topic's ARN from its name (an ARN is taken as it is), naming the topic when there is none."""
    if topic.startswith("arn:"):
        return topic
    found = [arn for arn in client.list_topics() if arn.rsplit(":", 1)[-1] == topic]
    if not found:
        raise ClientError("NotFound", f"Topic does not exist ({topic})", 404)
    return found[0]


def endpoint_of(args: argparse.Namespace, topic_arn: str) -> tuple[str, str]:
    """The protocol and endpoint `subscribe` was given: a function or queue by name (in the topic's account
    and region), ARN or queue URL; or an http(s) URL."""
    _, _, _, region, account, _ = topic_arn.split(":", 5)
    if args.function is not None:
        function = args.function
        return "lambda", function if function.startswith("arn:") else \
            f"arn:aws:lambda:{region}:{account}:function:{function}"
    if args.queue is not None:
        queue = args.queue
        if queue.startswith("arn:"):
            return "sqs", queue
        name = queue.rstrip("/").rsplit("/", 1)[-1]  # a queue URL ends in its name
        return "sqs", f"arn:aws:sqs:{region}:{account}:{name}"
    url = args.http
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"--http {url!r} is not an http:// or https:// URL")
    return url.split(":", 1)[0], url


def subscription_attributes(args: argparse.Namespace) -> dict[str, str]:
    attributes = {}
    if args.filter is not None:
        try:
            json.loads(args.filter)
        except ValueError as exc:
            raise ConfigError(f"--filter is not JSON: {exc}") from exc
        attributes["FilterPolicy"] = args.filter
        if args.filter_body:
            attributes["FilterPolicyScope"] = "MessageBody"
    elif args.filter_body:
        raise ConfigError("--filter-body goes with --filter")
    if args.raw:
        if args.function is not None:
            raise ConfigError("--raw is for queues and HTTP endpoints: a function always gets Lambda's SNS event")
        attributes["RawMessageDelivery"] = "true"
    return attributes


def cmd_create(args: argparse.Namespace) -> int:
    attributes = parse_queue_attributes(args.attribute or [])
    if args.fifo:
        attributes["FifoTopic"] = "true"
    if args.content_based_dedup:
        attributes["ContentBasedDeduplication"] = "true"
    arn = _topics(args).create_topic(args.name, attributes)
    emit(args, {"TopicArn": arn}, arn)
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    client = _topics(args)
    found = []
    for arn in client.list_topics():
        try:
            attributes = client.topic_attributes(arn)
        except ClientError as exc:
            if exc.code == "NotFound":
                continue  # deleted since it was listed
            raise
        found.append({"Name": arn.rsplit(":", 1)[-1], "TopicArn": arn,
                      "SubscriptionsConfirmed": attributes.get("SubscriptionsConfirmed", ""),
                      "SubscriptionsPending": attributes.get("SubscriptionsPending", "")})
    emit(args, found, lambda: print_table(found, {"NAME": "Name", "ARN": "TopicArn",
                                                  "SUBSCRIPTIONS": "SubscriptionsConfirmed",
                                                  "PENDING": "SubscriptionsPending"}))
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    attributes = parse_message_attributes(args.attribute or [])
    message = read_body(args)
    client = _topics(args)
    published = client.publish(resolve_arn(client, args.name), message, subject=args.subject, attributes=attributes,
                               group_id=args.group, deduplication_id=args.dedup_id)
    emit(args, published, published["MessageId"])
    return 0


def cmd_subscribe(args: argparse.Namespace) -> int:
    attributes = subscription_attributes(args)
    client = _topics(args)
    arn = resolve_arn(client, args.name)
    protocol, endpoint = endpoint_of(args, arn)
    subscription = client.subscribe(arn, protocol, endpoint, attributes)
    emit(args, {"SubscriptionArn": subscription}, subscription)
    return 0


def cmd_subscriptions(args: argparse.Namespace) -> int:
    client = _topics(args)
    found = client.subscriptions(resolve_arn(client, args.name))
    emit(args, found, lambda: print_table(found, {"PROTOCOL": "Protocol", "ENDPOINT": "Endpoint",
                                                  "SUBSCRIPTION": "SubscriptionArn"}))
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    client = _topics(args)
    client.delete_topic(resolve_arn(client, args.name))
    emit(args, {"Name": args.name, "Deleted": True}, f"deleted topic {args.name}")
    return 0


def add_topic_commands(commands: argparse._SubParsersAction) -> None:
    """Register `faas topics create|ls|publish|subscribe|subscriptions|rm` on the `faas` parser."""
    connection = client_options()
    topics = command_group(commands, "topics", help="manage SNS topics, their subscriptions and messages",
                           description="Create, list and delete topics, subscribe functions, queues and HTTP "
                                       "endpoints to them, and publish messages, through the SNS API the "
                                       "platform serves on its endpoint (boto3's sns client and 'aws sns' work on "
                                       "the same topics).")

    create = topics.add_parser("create", parents=[connection], help="create a topic and print its ARN",
                               description="Create a topic (CreateTopic) and print its ARN. Creating it again "
                                           "with the same attributes is harmless.")
    create.add_argument("name", help="topic name: up to 256 letters, digits, '-' and '_' (a FIFO topic's ends in "
                                     ".fifo)")
    create.add_argument("--attribute", action="append", metavar="K=V",
                        help="a topic attribute, e.g. DisplayName=Orders; repeat for several")
    create.add_argument("--fifo", action="store_true",
                        help="a FIFO topic (FifoTopic=true): its name must end in .fifo, and every message needs "
                             "a group (publish --group)")
    create.add_argument("--content-based-dedup", action="store_true",
                        help="ContentBasedDeduplication=true (FIFO): a message's deduplication id is the SHA-256 "
                             "of its body unless publish --dedup-id gives one")
    create.set_defaults(run=cmd_create)

    ls = add_verb(topics, "ls", parents=[connection], help="list topics",
                  description="List the topics: name, ARN, and the numbers of confirmed and pending "
                              "subscriptions.")
    ls.set_defaults(run=cmd_ls)

    publish = topics.add_parser("publish", parents=[connection], help="publish a message and print its MessageId",
                                description="Publish one message (Publish) to every subscription whose filter "
                                            "policy lets it through, and print its MessageId.")
    publish.add_argument("name", help="topic name or ARN")
    body = publish.add_mutually_exclusive_group(required=True)
    body.add_argument("--message", dest="body", metavar="TEXT", help="the message")
    body.add_argument("--file", metavar="PATH", help="read the message (UTF-8 text) from PATH ('-' for stdin)")
    publish.add_argument("--subject", metavar="TEXT", help="Subject (up to 100 ASCII characters)")
    publish.add_argument("--attribute", action="append", metavar="Name=Type:value",
                         help="a message attribute, Type String, Number or Binary (value in base64), e.g. "
                              "kind=String:order; repeat for several")
    publish.add_argument("--group", metavar="ID", help="MessageGroupId: required on a FIFO topic")
    publish.add_argument("--dedup-id", metavar="ID",
                         help="MessageDeduplicationId (FIFO): required unless the topic has content-based "
                              "deduplication")
    publish.set_defaults(run=cmd_publish)

    subscribe = topics.add_parser(
        "subscribe", parents=[connection], help="subscribe a function, a queue or an HTTP endpoint",
        description="Subscribe (Subscribe) and print the subscription's ARN. A function must first allow the "
                    "topic to invoke it: faas permissions add FUNCTION --statement-id sns --principal "
                    "sns.amazonaws.com --source-arn <topic ARN> (Lambda's AddPermission). An HTTP endpoint is sent a "
                    "SubscriptionConfirmation and gets messages once it follows its SubscribeURL.")
    subscribe.add_argument("name", help="topic name or ARN")
    target = subscribe.add_mutually_exclusive_group(required=True)
    target.add_argument("--function", metavar="NAME", help="a function (name or ARN): protocol lambda")
    target.add_argument("--queue", metavar="QUEUE", help="a queue (name, URL or ARN): protocol sqs")
    target.add_argument("--http", metavar="URL", help="an http:// or https:// endpoint")
    subscribe.add_argument("--filter", metavar="POLICY",
                           help='a FilterPolicy (JSON), e.g. \'{"kind": ["order"]}\': only messages it matches '
                                "are delivered; it matches message attributes unless --filter-body")
    subscribe.add_argument("--filter-body", action="store_true",
                           help="the --filter policy matches the message body (FilterPolicyScope=MessageBody)")
    subscribe.add_argument("--raw", action="store_true",
                           help="RawMessageDelivery: a queue or endpoint gets the message itself, not SNS's JSON "
                                "envelope")
    subscribe.set_defaults(run=cmd_subscribe)

    subscriptions = topics.add_parser("subscriptions", parents=[connection], help="list a topic's subscriptions",
                                      description="List a topic's subscriptions: protocol, endpoint and ARN "
                                                  "('pending confirmation' until an HTTP endpoint confirms).")
    subscriptions.add_argument("name", help="topic name or ARN")
    subscriptions.set_defaults(run=cmd_subscriptions)

    rm = add_verb(topics, "rm", parents=[connection], help="delete a topic",
                  description="Delete a topic and its subscriptions (DeleteTopic); messages already "
                              "published are still delivered.")
    rm.add_argument("name", help="topic name or ARN")
    rm.set_defaults(run=cmd_rm)
