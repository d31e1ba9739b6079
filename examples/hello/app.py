"""A small function to deploy first: greets by name and says which invocation answered.

    faas deploy examples/hello --name hello --runtime python3.13 --handler app.handler
    faas invoke hello --payload '{"name": "faas"}' --log
"""


def handler(event, context):
    name = event.get("name", "world") if isinstance(event, dict) else "world"
    # Printed lines land in the invocation's log (`faas logs hello`, `faas invoke hello --log`).
    print(f"greeting {name} from {context.function_name} "
          f"({context.get_remaining_time_in_millis()} ms left)")
    return {"message": f"Hello, {name}!", "requestId": context.aws_request_id}
