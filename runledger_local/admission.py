"""Whether writing an item to the runs table would start a run: from the template alone.

On AWS nothing at all happens for an item that cannot start a run: PutItem refuses an item
without the table's keys, and the pipe drops a record its filter does not pass. Written,
such a request would only wait for a timeout; ``runledger local run`` refuses it before it
starts the local cloud, with ``request_problem``, which reads what it needs from the
template (the table's keys and stream view, the pipe's filter) and starts nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runledger.dynamo import to_dynamodb_json
from runledger_cli.sam_template import resources_of_type
from runledger_local.pipe_records import PipeFilter, pipes_record

__all__ = ["request_problem"]

#: The stack name the local cloud gives its resources unless told otherwise.
DEFAULT_STACK = "runledger-local"
_EXPECTED = {"S": "a string", "N": "a number", "B": "binary"}


def _source_table(template: Mapping[str, Any], pipe: Mapping[str, Any]) -> Mapping[str, Any]:
    """The table whose stream is the pipe's ``Source`` (``!GetAtt Table.StreamArn``)."""
    source = pipe["Properties"]["Source"]
    get_att = source.get("Fn::GetAtt") if isinstance(source, Mapping) else None
    if isinstance(get_att, str):
        get_att = get_att.split(".", 1)
    if not get_att or get_att[1] != "StreamArn":
        raise ValueError(f"the pipe's Source is not a table's StreamArn: {source!r}")
    table: Mapping[str, Any] = template["Resources"][get_att[0]]
    return table


def request_problem(
    template: Mapping[str, Any], item: Mapping[str, Any], stack_name: str = DEFAULT_STACK
) -> str | None:
    """Why writing ``item`` to the runs table would start no run, or None if it would.

    ``template`` is template.yaml as read (``load_sam``), with one pipe; ``stack_name``
    names the pipe in the answer as the stack names it. The item needs the table's key
    attributes, of their declared types; and the INSERT record the table's stream makes
    of it must pass the pipe's filter.
    """
    ((pipe_id, pipe),) = resources_of_type(dict(template), "AWS::Pipes::Pipe").items()
    table = _source_table(template, pipe)["Properties"]
    try:
        image = to_dynamodb_json(item)
    except (TypeError, ValueError, ArithmeticError) as exc:  # NaN, Infinity, ...
        return f"it is not a DynamoDB item: {exc}"
    types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    keys: dict[str, Any] = {}
    for key in table["KeySchema"]:
        name = key["AttributeName"]
        if types[name] not in image.get(name, {}):
            return f"the table's key attribute {name!r} must be {_EXPECTED[types[name]]}"
        keys[name] = image[name]
    view = (table.get("StreamSpecification") or {}).get("StreamViewType", "")
    stream: dict[str, Any] = {"Keys": keys, "StreamViewType": view}
    if view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
        stream["NewImage"] = image
    record = {"eventName": "INSERT", "eventVersion": "1.1", "eventSource": "aws:dynamodb"}
    delivered, _ = pipes_record({**record, "dynamodb": stream}, "stream-arn", "region")
    pipe_filter = PipeFilter.of(pipe["Properties"].get("SourceParameters"))
    if pipe_filter.passes(delivered):
        return None
    name = f"{stack_name}-{pipe_id}"
    return f"the pipe {name} would not start a run for it: its filter is {pipe_filter}"
