"""Runs on a schedule (Schedule event: an EventBridge rule), with the template's Input as its event."""


def handler(event, context):
    print(f"writing the {event.get('report', 'ad hoc')} report")
    return {"report": event.get("report", "ad hoc")}
