"""A function URL's handler that reads what the caller sent: the query string and the body (payload format 2.0).

    faas deploy examples/url-echo --name url-echo --runtime python3.13 --handler app.handler
    faas url create url-echo --auth-type NONE
"""

import base64
import json


def handler(event, context):
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):  # a body that is not text (or has no text content type) comes base64-encoded
        body = base64.b64decode(body).decode("utf-8", errors="replace")
    answer = {
        "method": event["requestContext"]["http"]["method"],
        "path": event["rawPath"],
        "rawQueryString": event["rawQueryString"],
        "query": event.get("queryStringParameters", {}),  # repeated keys arrive joined by commas: a=1,2
        "body": body,
    }
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(answer)}
