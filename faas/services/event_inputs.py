"""What a rule's target receives for a matched event: the event itself, or its target's `Input` (fixed JSON
text), `InputPath` (one part of the event, by a JSONPath) or `InputTransformer` (values picked by JSONPaths,
put into a template), following EventBridge's documented rules. Pure functions of the target and the event.

Paths are the subset EventBridge documents: `$`, then `.key` steps and `[n]` indexes (`$.detail.state`,
`$.resources[0]`). In a transformer's template `<name>` is replaced by the value `name` picks, and
`<aws.events.rule-arn>`, `<aws.events.rule-name>`, `<aws.events.event.ingestion-time>` and
`<aws.events.event>`/`<aws.events.event.json>` (the whole event) are predefined. A template that is a JSON
object or array gets JSON values outside quotes (a string with its quotes) and the text of a value inside
quotes (escaped); any other template is text, and a value goes in as its text (a string without quotes).
A path that finds nothing gives `null` outside quotes in a JSON template, and nothing elsewhere.
"""

from __future__ import annotations

import json
import re
from typing import Any

from faas.errors import EventsValidation

MAX_PATHS = 100  # InputPathsMap's limit
_STEP = re.compile(r"\.([^.\[\]\s]+)|\[(\d+)\]")
_KEY = re.compile(r"[A-Za-z0-9_\-]{1,256}")
_PLACEHOLDER = re.compile(r"<([^<>\s]+)>")
PREDEFINED = ("aws.events.rule-arn", "aws.events.rule-name", "aws.events.event.ingestion-time",
              "aws.events.event", "aws.events.event.json")
MISSING = object()


def parse_path(path: object, what: str) -> list[str | int]:
    """The steps of a JSONPath, refused in EventBridge's words when it is not one."""
    if not isinstance(path, str) or not path.startswith("$"):
        raise EventsValidation(f"{what} is not a valid JSONPath: it must start with '$' (as in $.detail.state)")
    steps: list[str | int] = []
    at = 1
    while at < len(path):
        step = _STEP.match(path, at)
        if step is None:
            raise EventsValidation(f"{what} {path[:256]!r} is not a valid JSONPath: use $.key steps and [n] indexes")
        steps.append(step.group(1) if step.group(1) is not None else int(step.group(2)))
        at = step.end()
    return steps


def pick(event: Any, steps: list[str | int]) -> Any:
    """The value at a path, or MISSING."""
    value = event
    for step in steps:
        if isinstance(step, int) and isinstance(value, list) and step < len(value):
            value = value[step]
        elif isinstance(step, str) and isinstance(value, dict) and step in value:
            value = value[step]
        else:
            return MISSING
    return value


def check_target_input(target: dict[str, Any]) -> None:
    """Refuse a target whose Input, InputPath or InputTransformer is not valid (at most one of them)."""
    given = [name for name in ("Input", "InputPath", "InputTransformer") if target.get(name) is not None]
    if len(given) > 1:
        raise EventsValidation(f"Only one of Input, InputPath, or InputTransformer may be set (got {', '.join(given)}).")
    if "Input" in given:
        if not isinstance(target["Input"], str) or len(target["Input"]) > 8192:
            raise EventsValidation("Input must be a string of at most 8192 characters.")
        try:
            json.loads(target["Input"])
        except ValueError as exc:
            raise EventsValidation("Input is not valid JSON text.") from exc
    if "InputPath" in given:
        if len(str(target["InputPath"])) > 256:
            raise EventsValidation("InputPath must be at most 256 characters.")
        parse_path(target["InputPath"], "InputPath")
    if "InputTransformer" in given:
        transformer = target["InputTransformer"]
        if not isinstance(transformer, dict):
            raise EventsValidation("InputTransformer must be an object with InputPathsMap and InputTemplate.")
        template = transformer.get("InputTemplate")
        if not isinstance(template, str) or not 1 <= len(template) <= 8192:
            raise EventsValidation("InputTransformer.InputTemplate must be a string of 1 to 8192 characters.")
        paths = transformer.get("InputPathsMap", {})
        if not isinstance(paths, dict) or len(paths) > MAX_PATHS:
            raise EventsValidation(f"InputTransformer.InputPathsMap must be an object of at most {MAX_PATHS} paths.")
        for key, path in paths.items():
            if not _KEY.fullmatch(key) or key in PREDEFINED:
                raise EventsValidation(f"InputPathsMap key {key[:256]!r} is not valid: use letters, digits, _ and -, "
                                       "and not a predefined name.")
            parse_path(path, f"InputPathsMap value for {key}")


def target_input(target: dict[str, Any], event: dict[str, Any], *, rule_arn: str, rule_name: str,
                 ingestion_time: str) -> str:
    """The text the target receives for `event` (checked with check_target_input when stored)."""
    if target.get("Input") is not None:
        return target["Input"]
    if target.get("InputPath") is not None:
        value = pick(event, parse_path(target["InputPath"], "InputPath"))
        return json.dumps(None if value is MISSING else value)
    transformer = target.get("InputTransformer")
    if transformer is None:
        return json.dumps(event)
    values: dict[str, Any] = {key: pick(event, parse_path(path, key))
                              for key, path in transformer.get("InputPathsMap", {}).items()}
    values.update({"aws.events.rule-arn": rule_arn, "aws.events.rule-name": rule_name,
                   "aws.events.event.ingestion-time": ingestion_time, "aws.events.event": event,
                   "aws.events.event.json": event})
    return render(transformer["InputTemplate"], values)


def render(template: str, values: dict[str, Any]) -> str:
    """Fill `template`'s placeholders, each by where it stands: inside a quoted string or not."""
    json_template = template.lstrip()[:1] in ("{", "[")
    out: list[str] = []
    quoted = False
    at = 0
    while at < len(template):
        char = template[at]
        if char == "\\" and quoted:
            out.append(template[at:at + 2])
            at += 2
            continue
        if char == '"':
            quoted = not quoted
        elif char == "<":
            found = _PLACEHOLDER.match(template, at)
            if found is not None and found.group(1) in values:
                out.append(_value(values[found.group(1)], quoted=quoted, json_template=json_template))
                at = found.end()
                continue
        out.append(char)
        at += 1
    return "".join(out)


def _value(value: Any, *, quoted: bool, json_template: bool) -> str:
    if value is MISSING:
        return "null" if json_template and not quoted else ""
    if json_template and not quoted:
        return json.dumps(value)
    text = value if isinstance(value, str) else json.dumps(value)
    return json.dumps(text)[1:-1] if quoted else text
