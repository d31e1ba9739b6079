def lambda_handler(event, context):
    print(f"order {event['detail']['id']} from {event['source']}")
