"""SNS's API (query protocol, routed by faas.api.router on `POST /` by the credential scope's service "sns"):
thin handlers over faas.services.topics. Beside it, two unauthenticated GETs SNS also serves: the signing
certificate at a message's SigningCertURL, and the SubscribeURL and UnsubscribeURL links, whose
unguessable Token is the capability (a subscription's confirmation token, or a token minted for that
subscription's unsubscribe link).

The links the messages carry (SigningCertURL, SubscribeURL, UnsubscribeURL) name the endpoint the publishing
or subscribing client called, as queue URLs do.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from faas.api import awsquery
from faas.api.auth import CALLER, GUARD, operation, permits
from faas.api.awsjson import JsonService
from faas.api.body import REQUEST_ID
from faas.api.context import services
from faas.api.router import params_of
from faas.errors import InvalidParameter, SnsAuthorizationError, SnsError
from faas.services.topics import PENDING, TopicService

# A message is at most 256 KiB, a batch's messages too; form encoding may triple that.
BODY_LIMIT = 1024 * 1024


def _topics(request: web.Request) -> TopicService:
    return services(request).topics


def base_url(request: web.Request) -> str:
    return f"{services(request).settings.scheme}://{request.host}"


def _arn_of(parameter: str):  # type: ignore[no-untyped-def]
    """The resource a call acts on: the topic its parameter names ("*" when that is malformed: the handler
    refuses it in its own words)."""

    def resource(request: web.Request) -> str:
        try:
            value = params_of(request).get(parameter)
            topics = _topics(request)
            name = topics.subscription_id(value)[0] if parameter == "SubscriptionArn" else topics.topic_name(value)
            return topics.topic_arn(name)
        except Exception:  # noqa: BLE001
            return "*"

    return resource


def _created(request: web.Request) -> str:
    try:
        name = params_of(request).get("Name")
    except Exception:  # noqa: BLE001
        return "*"
    return _topics(request).topic_arn(name) if isinstance(name, str) and name else "*"


def _account_topics(request: web.Request) -> str:
    return _topics(request).topic_arn("*")


def topic_operation(action: str, *, audited: bool = True, resource=_arn_of("TopicArn")):  # type: ignore[no-untyped-def]
    return operation(f"sns:{action}", body_limit=BODY_LIMIT, audited=audited, resource=resource)


@topic_operation("CreateTopic", resource=_created)
async def create_topic(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("DataProtectionPolicy") is not None:
        raise InvalidParameter("Invalid parameter: DataProtectionPolicy: data protection policies are not supported")
    topic = await _topics(request).create_topic(params.get("Name"), params.get("Attributes"), params.get("Tags"))
    return {"TopicArn": _topics(request).topic_arn(topic.name)}


@topic_operation("ListTopics", audited=False, resource=_account_topics)
async def list_topics(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    arns, token = await _topics(request).list_topics(params.get("NextToken"))
    answer: dict[str, Any] = {"Topics": [{"TopicArn": arn} for arn in arns]}
    if token:
        answer["NextToken"] = token
    return answer


@topic_operation("DeleteTopic")
async def delete_topic(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    await _topics(request).delete_topic(_topics(request).topic_name(params.get("TopicArn")))
    return {}


@topic_operation("GetTopicAttributes", audited=False)
async def get_topic_attributes(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    topics = _topics(request)
    return {"Attributes": await topics.get_topic_attributes(topics.topic_name(params.get("TopicArn")))}


@topic_operation("SetTopicAttributes")
async def set_topic_attributes(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    topics = _topics(request)
    await topics.set_topic_attribute(topics.topic_name(params.get("TopicArn")), params.get("AttributeName"),
                                     params.get("AttributeValue"))
    return {}


@topic_operation("Subscribe")
async def subscribe(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    topics = _topics(request)
    name = topics.topic_name(params.get("TopicArn"))
    caller = request[CALLER]
    if params.get("Protocol") == "sqs" and isinstance(params.get("Endpoint"), str):
        # The subscriber sends the queue what the topic delivers: it must be allowed to send it itself.
        queue_arn = params["Endpoint"]
        topics.queue_in(queue_arn)
        if not permits(caller, "sqs:SendMessage", queue_arn):
            raise SnsAuthorizationError(f"Authorization error: {caller.arn} is not authorized to perform "
                                        f"sqs:SendMessage on {queue_arn}, which a subscription of that queue needs")
    subscription = await topics.subscribe(name, params.get("Protocol"), params.get("Endpoint"),
                                          params.get("Attributes"), caller.arn, base_url(request))
    returned = str(params.get("ReturnSubscriptionArn", "false")).lower() == "true"
    arn = topics.subscription_arn(subscription) if subscription.confirmed or returned else PENDING
    return {"SubscriptionArn": arn}


@topic_operation("ConfirmSubscription")
async def confirm_subscription(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    topics = _topics(request)
    subscription = await topics.confirm(topics.topic_name(params.get("TopicArn")), params.get("Token"))
    return {"SubscriptionArn": topics.subscription_arn(subscription)}


@topic_operation("Unsubscribe", resource=_arn_of("SubscriptionArn"))
async def unsubscribe(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    await _topics(request).unsubscribe(params.get("SubscriptionArn"))
    return {}


def _subscriptions(topics: TopicService, found: list, token: str | None) -> dict[str, Any]:  # type: ignore[type-arg]
    answer: dict[str, Any] = {"Subscriptions": [topics.listed(subscription) for subscription in found]}
    if token:
        answer["NextToken"] = token
    return answer


@topic_operation("ListSubscriptions", audited=False, resource=_account_topics)
async def list_subscriptions(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    topics = _topics(request)
    return _subscriptions(topics, *await topics.list_subscriptions(None, params.get("NextToken")))


@topic_operation("ListSubscriptionsByTopic", audited=False)
async def list_subscriptions_by_topic(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    topics = _topics(request)
    name = topics.topic_name(params.get("TopicArn"))
    return _subscriptions(topics, *await topics.list_subscriptions(name, params.get("NextToken")))


@topic_operation("GetSubscriptionAttributes", audited=False, resource=_arn_of("SubscriptionArn"))
async def get_subscription_attributes(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    return {"Attributes": await _topics(request).get_subscription_attributes(params.get("SubscriptionArn"))}


@topic_operation("SetSubscriptionAttributes", resource=_arn_of("SubscriptionArn"))
async def set_subscription_attributes(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    await _topics(request).set_subscription_attribute(params.get("SubscriptionArn"), params.get("AttributeName"),
                                                      params.get("AttributeValue"))
    return {}


def _topic_of_publish(request: web.Request) -> str:
    try:
        params = params_of(request)
        return _topics(request).topic_arn(_topics(request).topic_name(params.get("TopicArn") or params.get("TargetArn")))
    except Exception:  # noqa: BLE001
        return "*"


@topic_operation("Publish", audited=False, resource=_topic_of_publish)
async def publish(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    topics = _topics(request)
    if params.get("PhoneNumber") is not None:
        raise InvalidParameter("Invalid parameter: PhoneNumber: SMS is not supported; publish to a topic")
    target = params.get("TopicArn") if params.get("TopicArn") is not None else params.get("TargetArn")
    if target is None:
        raise InvalidParameter("Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter")
    published = await topics.publish(topics.topic_name(target, "TopicArn"), params, base_url(request))
    answer = {"MessageId": published.message_id}
    if published.sequence_number:
        answer["SequenceNumber"] = published.sequence_number
    return answer


@topic_operation("Publish", audited=False)  # IAM authorises PublishBatch as sns:Publish
async def publish_batch(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    topics = _topics(request)
    done, failed = await topics.publish_batch(topics.topic_name(params.get("TopicArn")),
                                              params.get("PublishBatchRequestEntries"), base_url(request))
    successful = []
    for entry_id, published in done:
        entry = {"Id": entry_id, "MessageId": published.message_id}
        if published.sequence_number:
            entry["SequenceNumber"] = published.sequence_number
        successful.append(entry)
    return {"Successful": successful, "Failed": [failure.wire() for failure in failed]}


@topic_operation("TagResource", resource=_arn_of("ResourceArn"))
async def tag_resource(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    await _topics(request).tag(params.get("ResourceArn"), params.get("Tags"))
    return {}


@topic_operation("UntagResource", resource=_arn_of("ResourceArn"))
async def untag_resource(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    await _topics(request).untag(params.get("ResourceArn"), params.get("TagKeys"))
    return {}


@topic_operation("ListTagsForResource", audited=False, resource=_arn_of("ResourceArn"))
async def list_tags_for_resource(request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
    tags = await _topics(request).tags(params.get("ResourceArn"))
    return {"Tags": [{"Key": key, "Value": value} for key, value in tags.items()]}


@operation("sns:GetSigningCertificate", open=True, audited=False)
async def signing_certificate(request: web.Request) -> web.Response:
    signer = _topics(request).signer
    if request.match_info["key"] != signer.key_id:
        raise web.HTTPNotFound(text="no such certificate")
    return web.Response(body=signer.certificate_pem, content_type="application/x-pem-file")


@operation("sns:ConfirmSubscription", open=True)
async def link(request: web.Request) -> web.Response:
    """A SubscribeURL or UnsubscribeURL followed: its Token is the capability, so no signature is needed. Each
    use is audited as the anonymous caller's."""
    topics = _topics(request)
    action = request.query.get("Action", "")
    resource = "*"
    try:
        if action == "ConfirmSubscription":
            name = topics.topic_name(request.query.get("TopicArn"))
            resource = topics.topic_arn(name)
            subscription = await topics.confirm(name, request.query.get("Token"))
            result = {"SubscriptionArn": topics.subscription_arn(subscription)}
        elif action == "Unsubscribe":
            token = request.query.get("Token")
            if not token:
                raise InvalidParameter("Invalid parameter: Token (an UnsubscribeURL carries one; otherwise call "
                                       "Unsubscribe signed)")
            resource = topics.topic_arn(topics.subscription_id(request.query.get("SubscriptionArn"))[0])
            await topics.unsubscribe(request.query.get("SubscriptionArn"), token)
            result = {}
        else:
            raise InvalidParameter("Invalid parameter: Action (a link is for ConfirmSubscription or Unsubscribe)")
    except SnsError as error:
        request.app[GUARD].record(request, None, f"sns:{action[:64] or 'Link'}", resource, error.status, "failed")
        return awsquery.error_response(SNS, error, request[REQUEST_ID])
    request.app[GUARD].record(request, None, f"sns:{action}", resource, 200, "allowed")
    return awsquery.response(SNS, action, result, request[REQUEST_ID])


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", link)
    app.router.add_get("/SimpleNotificationService-{key}.pem", signing_certificate)


SNS = JsonService(
    signing_name="sns",
    target_prefix="AmazonSNS",  # names it among the services; SNS speaks only the query protocol
    error_namespace="http://sns.amazonaws.com/doc/2010-03-31/",
    operations={
        "CreateTopic": create_topic, "ListTopics": list_topics, "DeleteTopic": delete_topic,
        "GetTopicAttributes": get_topic_attributes, "SetTopicAttributes": set_topic_attributes,
        "Subscribe": subscribe, "ConfirmSubscription": confirm_subscription, "Unsubscribe": unsubscribe,
        "ListSubscriptions": list_subscriptions, "ListSubscriptionsByTopic": list_subscriptions_by_topic,
        "GetSubscriptionAttributes": get_subscription_attributes,
        "SetSubscriptionAttributes": set_subscription_attributes, "Publish": publish, "PublishBatch": publish_batch,
        "TagResource": tag_resource, "UntagResource": untag_resource, "ListTagsForResource": list_tags_for_resource,
    },
    query=awsquery.QueryShapes(
        xml_namespace="http://sns.amazonaws.com/doc/2010-03-31/",
        maps={}, lists={}, renamed={}, list_elements={},
        map_elements={"Attributes": ("entry", "key", "value")},
        wrapped=True,
    ),
    # The platform's own refusals, in the codes SNS answers them with.
    common_codes={
        "AccessDeniedException": "AuthorizationError",
        "UnrecognizedClientException": "InvalidClientTokenId",
        "InvalidSignatureException": "SignatureDoesNotMatch",
        "IncompleteSignatureException": "IncompleteSignature",
        "RequestTooLargeException": "RequestTooLarge",
        "ServiceException": "InternalError",
        "UnknownOperationException": "InvalidAction",
        "SerializationException": "InvalidParameter",
        "TooManyRequestsException": "Throttled",
        "InvalidParameterValueException": "InvalidParameter",
    },
    query_compatible=False,
    speaks_json=False,
)
