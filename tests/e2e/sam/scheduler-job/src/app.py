def lambda_handler(event, context):
    print(f"building the {event['report']} report")
