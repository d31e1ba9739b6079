"""The one error hierarchy: each API error knows its HTTP status and its Lambda wire code."""

from __future__ import annotations

from typing import Any


class FaasError(Exception):
    """An error inside faas."""


class ConfigError(FaasError):
    """The platform is not configured correctly."""


class StartupError(FaasError):
    """The platform cannot start."""


class KeyringError(ConfigError):
    """A master key is missing, unreadable or does not match what it should open.

    Raised when the keys are loaded at start and when a request needs a sealed secret opened, so it is
    not a StartupError: it says the master key configuration is wrong, wherever that shows. The CLI
    and `faas serve` stop with it like any ConfigError; the API answers it as a KMSAccessDenied 502
    and logs the details (faas/api/middleware.py)."""


class ApiError(FaasError):
    """An error with a place in the Lambda API's error format.

    The class docstring is the default message; `code` is sent in `x-amzn-ErrorType`.
    """

    status = 500
    code = "ServiceException"
    error_type = "Service"

    def __init__(self, message: str | None = None, **fields: Any) -> None:
        self.message = message or (self.__doc__ or self.code).strip()
        self.fields = fields  # extra body fields, e.g. Reason for 429
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        # Lambda's model spells the message both ways depending on the shape; send both.
        return {"Type": self.error_type, "message": self.message, "Message": self.message, **self.fields}


class InvalidParameterValue(ApiError):
    """One of the parameters in the request is not valid."""

    status = 400
    code = "InvalidParameterValueException"
    error_type = "User"


class ValidationError(ApiError):
    """A parameter breaks a constraint of the Lambda API's model (an enum's value set, say): AWS's
    request validation answers these before the operation runs."""

    status = 400
    code = "ValidationException"
    error_type = "User"


class InvalidRequestContent(ApiError):
    """The request body could not be parsed as JSON."""

    status = 400
    code = "InvalidRequestContentException"
    error_type = "User"


class AccessDenied(ApiError):
    """You are not authorized to perform this operation."""

    status = 403
    code = "AccessDeniedException"
    error_type = "User"


class UnrecognizedClient(ApiError):
    """The security token included in the request is invalid."""

    status = 403
    code = "UnrecognizedClientException"
    error_type = "User"


class InvalidSignature(ApiError):
    """The request signature we calculated does not match the signature you provided."""

    status = 403
    code = "InvalidSignatureException"
    error_type = "User"


class IncompleteSignature(InvalidSignature):
    """The request signature does not conform to AWS standards."""

    # A refusal like its parent (audited, 403 on function URLs), but a 400 as AWS answers malformed credentials.
    status = 400
    code = "IncompleteSignatureException"


class ResourceNotFound(ApiError):
    """The resource you requested does not exist."""

    status = 404
    code = "ResourceNotFoundException"
    error_type = "User"


class ResourceConflict(ApiError):
    """The resource already exists, or another operation is in progress."""

    status = 409
    code = "ResourceConflictException"
    error_type = "User"


class ResourceInUse(ApiError):
    """The operation conflicts with the resource's availability: it is being changed or deleted."""

    status = 400
    code = "ResourceInUseException"
    error_type = "User"


class PreconditionFailed(ApiError):
    """The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id"""  # noqa: E501 (Lambda's text)

    status = 412
    code = "PreconditionFailedException"
    error_type = "User"


class RequestTooLarge(ApiError):
    """The request payload exceeded the size limit."""

    status = 413
    code = "RequestTooLargeException"
    error_type = "User"


class TooManyRequests(ApiError):
    """Rate Exceeded."""

    status = 429
    code = "TooManyRequestsException"
    error_type = "User"


class ServiceError(ApiError):
    """The service encountered an internal error."""


class ResourceNotReady(ApiError):
    """The function is not ready to run."""

    status = 502
    code = "ResourceNotReadyException"


class KMSAccessDenied(ApiError):
    """The platform could not decrypt a stored secret with its master key."""

    status = 502
    code = "KMSAccessDeniedException"


class InvalidZipFile(ApiError):
    """Lambda could not unzip the deployment package."""

    status = 502
    code = "InvalidZipFileException"


class UnknownOperation(ApiError):
    """No operation matches this method and path."""

    status = 404
    code = "UnknownOperationException"
    error_type = "User"


class JsonSyntaxError(ApiError):
    """The request body is not valid JSON."""

    status = 400
    code = "SerializationException"
    error_type = "User"


class SqsError(ApiError):
    """An error of the SQS API. `code` is the shape name in SQS's model (boto3's modeled exception); `query_code`
    the code SQS's older query protocol used, which the JSON protocol still sends in `x-amzn-query-error`."""

    status = 400
    code = "SqsException"  # the base's own, never sent: every error raised is one of the subclasses
    error_type = "User"
    query_code = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.code = cls.__name__.removeprefix("Sqs")
        cls.query_code = cls.query_code or cls.code


class QueueDoesNotExist(SqsError):
    """The specified queue does not exist."""

    query_code = "AWS.SimpleQueueService.NonExistentQueue"


class QueueNameExists(SqsError):
    """A queue with this name already exists with different attributes."""

    query_code = "QueueAlreadyExists"


class ReceiptHandleIsInvalid(SqsError):
    """The specified receipt handle isn't valid."""


class InvalidAttributeName(SqsError):
    """The specified attribute doesn't exist."""


class InvalidAttributeValue(SqsError):
    """A queue attribute value is invalid."""


class SqsInvalidParameterValue(SqsError):
    """One or more parameters are invalid."""


class MissingParameter(SqsError):
    """A required parameter is missing."""


class InvalidAddress(SqsError):
    """The specified queue URL isn't valid."""


class InvalidMessageContents(SqsError):
    """The message contains characters outside the allowed set."""


class EmptyBatchRequest(SqsError):
    """The batch request doesn't contain any entries."""

    query_code = "AWS.SimpleQueueService.EmptyBatchRequest"


class TooManyEntriesInBatchRequest(SqsError):
    """The batch request contains more entries than permissible (10)."""

    query_code = "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"


class BatchEntryIdsNotDistinct(SqsError):
    """Two or more batch entries in the request have the same Id."""

    query_code = "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"


class InvalidBatchEntryId(SqsError):
    """The Id of a batch entry in a batch request doesn't abide by the specification."""

    query_code = "AWS.SimpleQueueService.InvalidBatchEntryId"


class BatchRequestTooLong(SqsError):
    """The length of all the messages put together is more than the limit."""

    query_code = "AWS.SimpleQueueService.BatchRequestTooLong"


class OverLimit(SqsError):
    """The specified action violates a limit."""

    status = 403


class MessageNotInflight(SqsError):
    """The specified message isn't in flight."""

    query_code = "AWS.SimpleQueueService.MessageNotInflight"


class InvalidEventPattern(FaasError):
    """An event pattern (a Lambda filter, an SNS filter policy, an EventBridge rule) is not valid.

    Not an ApiError: each API that takes patterns answers it in its own error shape."""


class JsonServiceError(ApiError):
    """An error of an AWS JSON-protocol API whose error shapes end in "Exception" (EventBridge, CloudWatch Logs).
    A subclass of a service's base is named <prefix><Shape>; its `code` is the shape name in the service's
    model (boto3's modeled exception): the class name without the prefix, plus "Exception"."""

    status = 400
    error_type = "User"
    prefix = ""  # each service's base sets its own; its own `code` is never sent

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "prefix" in cls.__dict__:
            cls.code = f"{cls.prefix}Exception"
        else:
            cls.code = cls.__name__.removeprefix(cls.prefix) + "Exception"


class EventsError(JsonServiceError):
    """An error of EventBridge's API."""

    prefix = "Events"


class EventsResourceNotFound(EventsError):
    """The resource does not exist."""


class EventsResourceAlreadyExists(EventsError):
    """The resource already exists."""


class EventsInvalidEventPattern(EventsError):
    """The event pattern is not valid."""


class EventsValidation(EventsError):
    """A parameter is not valid."""


class EventsLimitExceeded(EventsError):
    """The request exceeds a limit."""



class InvalidScheduleExpression(FaasError):
    """A schedule expression (rate, cron or at) or its time zone is not valid.

    Not an ApiError: the scheduler and EventBridge rules each answer it in their own error shape."""


class SchedulerConflict(ApiError):
    """The request conflicts with the resource's state (EventBridge Scheduler's ConflictException)."""

    status = 409
    code = "ConflictException"
    error_type = "User"


class SnsError(ApiError):
    """An error of the SNS API (query protocol): `code` is the wire code SNS's model gives its exception shape,
    from which boto3 picks the modeled exception (NotFound is sns.exceptions.NotFoundException)."""

    status = 400
    code = "SnsException"  # the base's own, never sent: every error raised is one of the subclasses
    error_type = "User"


class TopicNotFound(SnsError):
    """Topic does not exist"""

    status = 404
    code = "NotFound"
    query_code = "NotFound"


class InvalidParameter(SnsError):
    """Invalid parameter"""

    code = "InvalidParameter"
    query_code = "InvalidParameter"


class SnsAuthorizationError(SnsError):
    """The caller is not authorized to perform this action."""

    status = 403
    code = "AuthorizationError"
    query_code = "AuthorizationError"


class SnsBatchError(SnsError):
    """A PublishBatch request is refused as a whole: its code is its class name."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.code = cls.query_code = cls.__name__.removeprefix("Sns")


class SnsEmptyBatchRequest(SnsBatchError):
    """The batch request doesn't contain any entries."""


class SnsTooManyEntriesInBatchRequest(SnsBatchError):
    """The batch request contains more entries than permissible (10)."""


class SnsBatchEntryIdsNotDistinct(SnsBatchError):
    """Two or more batch entries in the request have the same Id."""


class SnsInvalidBatchEntryId(SnsBatchError):
    """The Id of a batch entry in a batch request doesn't abide by the specification."""


class SnsBatchRequestTooLong(SnsBatchError):
    """The length of all the messages put together is more than the limit (256 KiB)."""


class SnsResourceNotFound(SnsError):
    """Resource does not exist"""

    status = 404
    code = "ResourceNotFound"
    query_code = "ResourceNotFound"


class SnsInvalidParameterValue(SnsError):
    """Invalid parameter value (a message attribute)"""

    code = "ParameterValueInvalid"
    query_code = "ParameterValueInvalid"


class ApiGatewayError(ApiError):
    """An error of the API Gateway v2 API (HTTP APIs): its model's shapes carry only `message` (and a
    NotFoundException its `resourceType`), sent with the shape's name in `x-amzn-ErrorType`."""

    status = 400
    code = "ApiGatewayException"  # the base's own, never sent: every error raised is one of the subclasses
    error_type = "User"

    def body(self) -> dict[str, Any]:
        return {"message": self.message, **self.fields}


class BadRequest(ApiGatewayError):
    """The request is not valid."""

    code = "BadRequestException"


class NotFound(ApiGatewayError):
    """The resource specified in the request was not found."""

    status = 404
    code = "NotFoundException"

    def __init__(self, message: str | None = None, resource_type: str | None = None) -> None:
        super().__init__(message, **({"resourceType": resource_type} if resource_type else {}))


class Conflict(ApiGatewayError):
    """The requested operation would cause a conflict with the current state of a resource."""

    status = 409
    code = "ConflictException"


class ConsoleSessionRefused(ApiError):
    """Your console session has expired or is not valid: sign in again. Nothing was changed."""

    status = 401
    code = "ConsoleSessionRefusedException"
    error_type = "User"


class CsrfTokenRefused(ApiError):
    """The form was sent without this session's CSRF token (or with a wrong one): nothing was changed."""

    status = 403
    code = "CsrfTokenRefusedException"
    error_type = "User"


class InvalidFilterPattern(FaasError):
    """A CloudWatch Logs filter pattern is not valid.

    Not an ApiError: the Logs API and the console each answer it in their own words."""


class LogsError(JsonServiceError):
    """An error of CloudWatch Logs' API."""

    prefix = "Logs"


class LogsInvalidParameter(LogsError):
    """A parameter is specified incorrectly."""


class LogsResourceNotFound(LogsError):
    """The specified resource does not exist."""


class StackConflict(FaasError):
    """A SAM template names a function that another stack (or no stack) deployed: `faas deploy -f` leaves it."""
