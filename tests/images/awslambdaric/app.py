"""A handler that echoes what it was given, to prove event and context arrived through awslambdaric."""


def handler(event, context):
    print("awslambdaric handler invoked:", context.aws_request_id)
    return {
        "echo": event,
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
