def lambda_handler(event, context):
    for record in event["Records"]:
        print(f"processed message {record['messageId']}: {record['body']}")
    return {"batchItemFailures": []}
