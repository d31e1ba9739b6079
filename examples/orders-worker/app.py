"""An SQS consumer that reports the messages it could not process, so only those come back to the queue.

    faas triggers add orders-worker --queue orders --report-failures    (see README.md, "A queue-driven function")
"""

import json


def process(order):
    if "kind" not in order:
        raise ValueError("an order needs a kind")
    print(f"processed {order}")


def handler(event, context):
    failures = []
    for record in event["Records"]:
        try:
            process(json.loads(record["body"]))
        except Exception:
            failures.append({"itemIdentifier": record["messageId"]})  # only these come back
    return {"batchItemFailures": failures}
