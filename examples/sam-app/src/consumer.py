"""Reads the orders queue in batches (SQS event); a batch that raises comes back after the visibility timeout."""

import json


def handler(event, context):
    for record in event["Records"]:
        order = json.loads(record["body"])
        print(f"order {order['order']} received")
    return {"processed": len(event["Records"])}
