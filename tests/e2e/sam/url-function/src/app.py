import json
import os


def handler(event, context):
    name = (event.get("queryStringParameters") or {}).get("name", "world")
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({
            "message": f"{os.environ['GREETING']}, {name}!",
            "stage": os.environ["STAGE"],
            "region": os.environ["REGION"],
            "memory": context.memory_limit_in_mb,
        }),
    }
