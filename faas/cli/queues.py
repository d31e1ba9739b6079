"""The `faas queues` verbs: create, ls, send, receive and rm, over SQS's API on the platform's endpoint."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from faas.cli.common import add_verb, client_for, client_options, command_group, emit, key_value_pairs, print_json, \
    print_table, print_to_stderr, wants_json
from faas.client.queues import QueueClient
from faas.client.transport import ClientError
from faas.errors import ConfigError

DATA_TYPES = ("String", "Number", "Binary")  # a custom type extends one: "Number.int", "String.json"


def parse_queue_attributes(pairs: Sequence[str]) -> dict[str, str]:
    """--attribute K=V pairs as SQS queue attributes (the server judges names and values)."""
    return key_value_pairs(pairs, "--attribute", "VisibilityTimeout=60")


def parse_message_attributes(pairs: Sequence[str]) -> dict[str, dict[str, str]]:
    """--attribute Name=Type:value pairs as SQS message attributes; a Binary value is given in base64."""
    attributes = {}
    for pair in pairs:
        name, sep, typed = pair.partition("=")
        data_type, colon, value = typed.partition(":")
        if not sep or not name or not colon or data_type.split(".", 1)[0] not in DATA_TYPES:
            raise ConfigError(f"--attribute {pair!r} is not Name=Type:value, where Type is String, Number or "
                              "Binary (base64), optionally with a custom suffix such as Number.int")
        field = "BinaryValue" if data_type.startswith("Binary") else "StringValue"
        attributes[name] = {"DataType": data_type, field: value}
    return attributes


def create_attributes(args: argparse.Namespace) -> dict[str, str]:
    """The CreateQueue attributes the options ask for, but the RedrivePolicy; the named options win over
    --attribute."""
    if (args.dead_letter is None) != (args.max_receives is None):
        raise ConfigError("--dead-letter and --max-receives go together")
    attributes = parse_queue_attributes(args.attribute or [])
    named = {"VisibilityTimeout": args.visibility_timeout, "DelaySeconds": args.delay,
             "MessageRetentionPeriod": args.retention,
             "FifoQueue": "true" if args.fifo else None,
             "ContentBasedDeduplication": "true" if args.content_based_dedup else None}
    attributes.update({key: str(value) for key, value in named.items() if value is not None})
    return attributes


def redrive_policy(dead_letter_arn: str, max_receives: int) -> str:
    return json.dumps({"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": max_receives})


def resolve_url(client: QueueClient, queue: str) -> str:
    """A queue's URL from its name (a URL is taken as it is), naming the queue when it does not exist."""
    if queue.startswith(("http://", "https://")):
        return queue
    try:
        return client.queue_url(queue)
    except ClientError as exc:
        if exc.code == "QueueDoesNotExist":
            raise ClientError(exc.code, f"{exc.message} ({queue})", exc.status) from exc
        raise


def read_body(args: argparse.Namespace) -> str:
    if args.body is not None:
        return str(args.body)
    source = "stdin" if args.file == "-" else args.file
    try:
        data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {source}: {exc.strerror or exc}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source} is not UTF-8 text: an SQS message body is text "
                          "(base64 binary data first)") from exc


def _queues(args: argparse.Namespace) -> QueueClient:
    return client_for(args, client_class=QueueClient)


def cmd_create(args: argparse.Namespace) -> int:
    attributes = create_attributes(args)  # bad options are refused before any request
    client = _queues(args)
    if args.dead_letter is not None:
        arn = args.dead_letter if args.dead_letter.startswith("arn:") else \
            client.attributes(resolve_url(client, args.dead_letter), ["QueueArn"])["QueueArn"]
        attributes["RedrivePolicy"] = redrive_policy(arn, args.max_receives)
    url = client.create_queue(args.name, attributes)
    emit(args, {"QueueUrl": url}, url)
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    client = _queues(args)
    found = []
    for url in client.list_queues(args.prefix):
        try:
            counts = client.attributes(url, ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
        except ClientError as exc:
            if exc.code == "QueueDoesNotExist":
                continue  # deleted since it was listed
            raise
        found.append({"Name": url.rstrip("/").rsplit("/", 1)[-1], "QueueUrl": url, **counts})
    emit(args, found, lambda: print_table(found, {
        "NAME": "Name", "URL": "QueueUrl", "VISIBLE": "ApproximateNumberOfMessages",
        "IN FLIGHT": "ApproximateNumberOfMessagesNotVisible"}))
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    attributes = parse_message_attributes(args.attribute or [])
    body = read_body(args)
    client = _queues(args)
    sent = client.send_message(resolve_url(client, args.name), body, delay_s=args.delay, attributes=attributes,
                               group_id=args.group, deduplication_id=args.dedup_id)
    emit(args, sent, sent["MessageId"])
    return 0


def shown_message(message: dict[str, Any]) -> dict[str, Any]:
    """What a developer looks at in a received message, and the handle to act on it."""
    return {"MessageId": message.get("MessageId"), "Body": message.get("Body"),
            "Attributes": message.get("Attributes") or {},
            "MessageAttributes": message.get("MessageAttributes") or {},
            "ReceiptHandle": message.get("ReceiptHandle")}


def message_line(message: dict[str, Any]) -> str:
    """One received message as a line of JSON."""
    return json.dumps(shown_message(message), ensure_ascii=False)


def cmd_receive(args: argparse.Namespace) -> int:
    client = _queues(args)
    url = resolve_url(client, args.name)
    messages = client.receive_messages(url, max_messages=args.max, wait_s=args.wait)
    if wants_json(args):  # one array, printed whole before any message is deleted: never lost unseen
        print_json([shown_message(message) for message in messages])
    for message in messages:
        if not wants_json(args):
            print(message_line(message), flush=True)  # printed before it is deleted: never lost unseen
        if args.delete:
            client.delete_message(url, message["ReceiptHandle"])
    if not messages:
        print_to_stderr("no message")
    elif args.delete:
        print_to_stderr(f"deleted {len(messages)} message{'s' if len(messages) > 1 else ''}")
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    client = _queues(args)
    client.delete_queue(resolve_url(client, args.name))
    emit(args, {"Name": args.name, "Deleted": True}, f"deleted queue {args.name}")
    return 0


def _seconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative")
    return value


def add_queue_commands(commands: argparse._SubParsersAction) -> None:
    """Register `faas queues create|ls|send|receive|rm` on the `faas` parser."""
    connection = client_options()
    queues = command_group(commands, "queues", help="manage SQS queues and their messages",
                           description="Create, list and delete queues, and send and receive messages, through "
                                       "the SQS API the platform serves on its endpoint (boto3's sqs client and "
                                       "'aws sqs' work on the same queues).")

    create = queues.add_parser("create", parents=[connection], help="create a queue and print its URL",
                               description="Create a queue (CreateQueue) and print its URL. Creating it again with "
                                           "the same attributes is harmless; with other attributes it fails "
                                           "with QueueNameExists.")
    create.add_argument("name", help="queue name: up to 80 letters, digits, '-' and '_'")
    create.add_argument("--attribute", action="append", metavar="K=V",
                        help="a queue attribute, e.g. ReceiveMessageWaitTimeSeconds=20 or MaximumMessageSize=65536; "
                             "repeat for several")
    create.add_argument("--visibility-timeout", type=_seconds, metavar="S",
                        help="VisibilityTimeout: how long a received message stays hidden (0-43200, default 30)")
    create.add_argument("--delay", type=_seconds, metavar="S",
                        help="DelaySeconds: how long a new message stays hidden (0-900, default 0)")
    create.add_argument("--retention", type=_seconds, metavar="S",
                        help="MessageRetentionPeriod: how long a message is kept (60-1209600, default 345600)")
    create.add_argument("--fifo", action="store_true",
                        help="a FIFO queue (FifoQueue=true): its name must end in .fifo, and every message needs "
                             "a group (send --group)")
    create.add_argument("--content-based-dedup", action="store_true",
                        help="ContentBasedDeduplication=true (FIFO): a message's deduplication id is the SHA-256 "
                             "of its body unless send --dedup-id gives one")
    create.add_argument("--dead-letter", metavar="QUEUE",
                        help="dead-letter queue (name, URL or ARN) that receives messages received more than "
                             "--max-receives times (sets RedrivePolicy); it must exist")
    create.add_argument("--max-receives", type=int, metavar="N",
                        help="maxReceiveCount of the RedrivePolicy (1-1000); needs --dead-letter")
    create.set_defaults(run=cmd_create)

    ls = add_verb(queues, "ls", parents=[connection], help="list queues",
                  description="List the queues: name, URL, and the approximate numbers of visible "
                              "messages and of messages in flight (received, not yet deleted).")
    ls.add_argument("--prefix", metavar="P", help="only queues whose name starts with P")
    ls.set_defaults(run=cmd_ls)

    send = queues.add_parser("send", parents=[connection], help="send a message and print its MessageId",
                             description="Send one message (SendMessage) and print its MessageId.")
    send.add_argument("name", help="queue name or URL")
    body = send.add_mutually_exclusive_group(required=True)
    body.add_argument("--body", metavar="TEXT", help="the message body")
    body.add_argument("--file", metavar="PATH", help="read the body (UTF-8 text) from PATH ('-' for stdin)")
    send.add_argument("--delay", type=_seconds, metavar="S",
                      help="DelaySeconds of this message (0-900; default: the queue's)")
    send.add_argument("--attribute", action="append", metavar="Name=Type:value",
                      help="a message attribute, Type String, Number or Binary (value in base64), e.g. "
                           "kind=String:order or count=Number:3; repeat for several")
    send.add_argument("--group", metavar="ID",
                      help="MessageGroupId: required on a FIFO queue, whose groups are delivered in order")
    send.add_argument("--dedup-id", metavar="ID",
                      help="MessageDeduplicationId (FIFO): a second message with the same id within 5 minutes is "
                           "accepted and dropped; required unless the queue has content-based deduplication")
    send.set_defaults(run=cmd_send)

    receive = queues.add_parser(
        "receive", parents=[connection], help="receive messages and print them as JSON lines",
        description="Receive messages (ReceiveMessage) and print each as one line of JSON: MessageId, Body, "
                    "Attributes, MessageAttributes and ReceiptHandle. Received messages stay hidden for the "
                    "queue's visibility timeout and then come back, unless --delete deletes them once printed.")
    receive.add_argument("name", help="queue name or URL")
    receive.add_argument("--max", type=int, default=1, metavar="N", help="at most N messages (1-10, default 1)")
    receive.add_argument("--wait", type=_seconds, metavar="S",
                         help="long-poll up to S seconds for a message (0-20; default: the queue's "
                              "ReceiveMessageWaitTimeSeconds)")
    receive.add_argument("--delete", action="store_true", help="delete each message after printing it")
    receive.set_defaults(run=cmd_receive)

    rm = add_verb(queues, "rm", parents=[connection], help="delete a queue",
                  description="Delete a queue and the messages in it (DeleteQueue).")
    rm.add_argument("name", help="queue name or URL")
    rm.set_defaults(run=cmd_rm)
