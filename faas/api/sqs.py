"""SQS's API (JSON protocol, routed by faas.api.awsjson): thin handlers over faas.services.queues.

A queue's URL is `<endpoint>/<account>/<name>`, built from the Host the client called; a QueueUrl selects
its queue by the path's account and name, whatever host it names (clients may reach a node by any name).
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from aiohttp import web

from faas.api.auth import CALLER, operation
from faas.api.awsjson import JsonService
from faas.api.awsquery import QueryShapes
from faas.api.router import params_of
from faas.api.context import services
from faas.errors import InvalidAddress, MissingParameter, QueueDoesNotExist
from faas.services.queues import QueueService

# A request carries at most 1 MiB of messages (one, or a batch's total), which JSON's escapes (boto3's \uXXXX
# for every non-ASCII character) may triple: room for that and the rest of the request, and no more.
MESSAGE_BODY_LIMIT = 4 * 1024 * 1024


def _queues(request: web.Request) -> QueueService:
    return services(request).queues


def queue_url(request: web.Request, name: str) -> str:
    return f"{services(request).settings.scheme}://{request.host}/{_queues(request).account_id}/{name}"


def queue_name(request: web.Request, params: dict[str, Any]) -> str:
    """The queue a QueueUrl names, refused in SQS's words when it names none here."""
    url = params.get("QueueUrl")
    if url is None:
        raise MissingParameter("The request must contain the parameter QueueUrl.")
    if not isinstance(url, str):
        raise InvalidAddress("The QueueUrl must be a string.")
    parts = urllib.parse.urlsplit(url).path.strip("/").split("/")
    if len(parts) != 2 or not parts[1]:
        raise InvalidAddress(f"The address {url[:256]} is not valid for this endpoint.")
    if parts[0] != _queues(request).account_id:
        raise QueueDoesNotExist()
    return parts[1]


def _arn_from_url(request: web.Request) -> str:
    try:
        return _queues(request).arn(queue_name(request, params_of(request)))
    except Exception:  # noqa: BLE001 (the handler refuses the bad request itself, in its own words)
        return "*"


def _arn_from_name(request: web.Request) -> str:
    try:
        name = params_of(request).get("QueueName")
    except Exception:  # noqa: BLE001
        return "*"
    return _queues(request).arn(name) if isinstance(name, str) and name else "*"


def _account_queues(request: web.Request) -> str:
    return _queues(request).arn("*")


def queue_operation(action: str, *, audited: bool = True, resource=_arn_from_url):  # type: ignore[no-untyped-def]
    return operation(f"sqs:{action}", body_limit=MESSAGE_BODY_LIMIT, audited=audited, resource=resource)


def _failures(failed: list) -> list[dict[str, Any]]:  # type: ignore[type-arg]
    return [failure.wire() for failure in failed]


@queue_operation("CreateQueue", resource=_arn_from_name)
async def create_queue(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    queue = await _queues(request).create_queue(params.get("QueueName"), params.get("Attributes"),
                                                params.get("tags"))
    return {"QueueUrl": queue_url(request, queue.name)}


@queue_operation("GetQueueUrl", audited=False, resource=_arn_from_name)
async def get_queue_url(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    name = params.get("QueueName")
    if not isinstance(name, str) or not name:
        raise MissingParameter("The request must contain the parameter QueueName.")
    owner = params.get("QueueOwnerAWSAccountId")
    if owner is not None and owner != _queues(request).account_id:
        raise QueueDoesNotExist()
    queue = await _queues(request).queue(name)
    return {"QueueUrl": queue_url(request, queue.name)}


@queue_operation("ListQueues", audited=False, resource=_account_queues)
async def list_queues(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    names, token = await _queues(request).list_queues(params.get("QueueNamePrefix"), params.get("MaxResults"),
                                                      params.get("NextToken"))
    answer: dict[str, Any] = {"QueueUrls": [queue_url(request, name) for name in names]} if names else {}
    if token:
        answer["NextToken"] = token
    return answer


@queue_operation("DeleteQueue")
async def delete_queue(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    await _queues(request).delete_queue(queue_name(request, params))
    return {}


@queue_operation("GetQueueAttributes", audited=False)
async def get_queue_attributes(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    attributes = await _queues(request).get_attributes(queue_name(request, params), params.get("AttributeNames"))
    return {"Attributes": attributes} if attributes else {}


@queue_operation("SetQueueAttributes")
async def set_queue_attributes(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    await _queues(request).set_attributes(queue_name(request, params), params.get("Attributes"))
    return {}


@queue_operation("PurgeQueue")
async def purge_queue(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    await _queues(request).purge(queue_name(request, params))
    return {}


@queue_operation("TagQueue")
async def tag_queue(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    await _queues(request).tag(queue_name(request, params), params.get("Tags"))
    return {}


@queue_operation("UntagQueue")
async def untag_queue(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    await _queues(request).untag(queue_name(request, params), params.get("TagKeys"))
    return {}


@queue_operation("ListQueueTags", audited=False)
async def list_queue_tags(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    tags = await _queues(request).tags(queue_name(request, params))
    return {"Tags": tags} if tags else {}


@queue_operation("SendMessage", audited=False)
async def send_message(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    sent = await _queues(request).send(queue_name(request, params), params, request[CALLER].name)
    answer = {"MessageId": sent.message_id, "MD5OfMessageBody": sent.md5_of_body}
    if sent.md5_of_attributes:
        answer["MD5OfMessageAttributes"] = sent.md5_of_attributes
    if sent.sequence_number:
        answer["SequenceNumber"] = sent.sequence_number
    return answer


@queue_operation("SendMessage", audited=False)  # IAM authorises SendMessageBatch as sqs:SendMessage
async def send_message_batch(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    done, failed = await _queues(request).send_batch(queue_name(request, params), params.get("Entries"),
                                                     request[CALLER].name)
    successful = []
    for entry_id, sent in done:
        entry = {"Id": entry_id, "MessageId": sent.message_id, "MD5OfMessageBody": sent.md5_of_body}
        if sent.md5_of_attributes:
            entry["MD5OfMessageAttributes"] = sent.md5_of_attributes
        if sent.sequence_number:
            entry["SequenceNumber"] = sent.sequence_number
        successful.append(entry)
    return {"Successful": successful, "Failed": _failures(failed)}


@queue_operation("ReceiveMessage", audited=False)
async def receive_message(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    messages = await _queues(request).receive(queue_name(request, params), params)
    return {"Messages": messages} if messages else {}


@queue_operation("DeleteMessage", audited=False)
async def delete_message(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    name = queue_name(request, params)
    if params.get("ReceiptHandle") is None:
        raise MissingParameter("The request must contain the parameter ReceiptHandle.")
    await _queues(request).delete_message(name, params["ReceiptHandle"])
    return {}


@queue_operation("DeleteMessage", audited=False)  # IAM authorises DeleteMessageBatch as sqs:DeleteMessage
async def delete_message_batch(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    done, failed = await _queues(request).delete_batch(queue_name(request, params), params.get("Entries"))
    return {"Successful": [{"Id": entry_id} for entry_id in done], "Failed": _failures(failed)}


@queue_operation("ChangeMessageVisibility", audited=False)
async def change_message_visibility(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    name = queue_name(request, params)
    if params.get("ReceiptHandle") is None:
        raise MissingParameter("The request must contain the parameter ReceiptHandle.")
    await _queues(request).change_visibility(name, params["ReceiptHandle"], params.get("VisibilityTimeout"))
    return {}


@queue_operation("ChangeMessageVisibility", audited=False)  # as IAM authorises the batch
async def change_message_visibility_batch(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    done, failed = await _queues(request).change_visibility_batch(queue_name(request, params), params.get("Entries"))
    return {"Successful": [{"Id": entry_id} for entry_id in done], "Failed": _failures(failed)}


SQS = JsonService(
    signing_name="sqs",
    target_prefix="AmazonSQS",
    error_namespace="com.amazonaws.sqs",
    operations={
        "CreateQueue": create_queue, "GetQueueUrl": get_queue_url, "ListQueues": list_queues,
        "DeleteQueue": delete_queue, "GetQueueAttributes": get_queue_attributes,
        "SetQueueAttributes": set_queue_attributes, "PurgeQueue": purge_queue, "TagQueue": tag_queue,
        "UntagQueue": untag_queue, "ListQueueTags": list_queue_tags, "SendMessage": send_message,
        "SendMessageBatch": send_message_batch, "ReceiveMessage": receive_message,
        "DeleteMessage": delete_message, "DeleteMessageBatch": delete_message_batch,
        "ChangeMessageVisibility": change_message_visibility,
        "ChangeMessageVisibilityBatch": change_message_visibility_batch,
    },
    # The query protocol (SQS's before 2023), its flattened names as SQS's query model spells them.
    query=QueryShapes(
        xml_namespace="http://queue.amazonaws.com/doc/2012-11-05/",
        maps={"Attribute": ("Attributes", "Name", "Value"), "MessageAttribute": ("MessageAttributes", "Name", "Value"),
              "MessageSystemAttribute": ("MessageSystemAttributes", "Name", "Value"),
              "Tag": ("Tags", "Key", "Value")},
        lists={"AttributeName": "AttributeNames", "MessageAttributeName": "MessageAttributeNames",
               "MessageSystemAttributeName": "MessageSystemAttributeNames", "TagKey": "TagKeys",
               "SendMessageBatchRequestEntry": "Entries", "DeleteMessageBatchRequestEntry": "Entries",
               "ChangeMessageVisibilityBatchRequestEntry": "Entries"},
        renamed={"CreateQueue": {"Tag": "tags"}},
        list_elements={"QueueUrls": "QueueUrl", "Messages": "Message", "Successful": None,
                       "Failed": "BatchResultErrorEntry"},
        map_elements={"Attributes": ("Attribute", "Name", "Value"),
                      "MessageAttributes": ("MessageAttribute", "Name", "Value"), "Tags": ("Tag", "Key", "Value")},
    ),
    # The platform's own refusals, in the codes SQS answers them with.
    common_codes={
        "AccessDeniedException": "AccessDenied",
        "UnrecognizedClientException": "InvalidClientTokenId",
        "InvalidSignatureException": "SignatureDoesNotMatch",
        "IncompleteSignatureException": "IncompleteSignature",
        "RequestTooLargeException": "RequestTooLarge",
        "ServiceException": "InternalFailure",
        "UnknownOperationException": "InvalidAction",
        "SerializationException": "SerializationException",
        "TooManyRequestsException": "RequestThrottled",
        "InvalidParameterValueException": "InvalidParameterValue",
    },
)
