"""GET /orders/{id} on the stack's HTTP API (payload format 2.0)."""

import json
import os


def handler(event, context):
    order_id = event["pathParameters"]["id"]
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"order": order_id, "stage": os.environ["STAGE"]}),
    }
