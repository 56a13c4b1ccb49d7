"""Whether writing an item to the runs table would start a run: from the template alone.

On AWS nothing at all happens for an item that cannot start a run: PutItem refuses an item
without the table's keys, and the pipe drops a record its filter does not pass. Written,
such a request would only wait for a timeout; ``runledger local run`` refuses it before it
starts the local cloud, with ``request_problem``, which reads what it needs from the
template (the table's keys and stream view, the pipe's filter) and starts nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Overflow, Subnormal, Underflow
from typing import Any

from runledger.dynamo import to_dynamodb_json
from runledger_cli.sam_template import resources_of_type
from runledger_local.dynamodb_rules import (
    MAX_ITEM_BYTES,
    MAX_KEY_BYTES,
    item_size,
    value_problem,
    value_size,
)
from runledger_local.pipe_input import MAX_EXECUTION_INPUT_BYTES, render_input_template
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


def _why(error: ArithmeticError) -> str:
    """What decimal's signal ``error`` means for a number, in words."""
    if isinstance(error, Overflow):
        return "too large"
    if isinstance(error, Underflow | Subnormal):
        return "too small"
    return "too many digits"


def _item_problem(item: Mapping[str, Any]) -> str | None:
    """Why PutItem would refuse ``item`` (a plain mapping), naming the attribute, or None."""
    for name, value in item.items():
        if name == "":
            return "an attribute has an empty name (PutItem refuses it)"
        try:
            attribute = to_dynamodb_json({name: value})[name]
        except ArithmeticError as exc:  # decimal's Inexact/Rounded, Overflow, ...
            return (
                f"attribute {name!r} holds a number DynamoDB cannot store ({_why(exc)}: "
                "at most 38 significant digits, magnitude 1E-130 to 9.9E125)"
            )
        except (TypeError, ValueError) as exc:  # NaN, Infinity, a type it has no form for
            return f"attribute {name!r} is not a DynamoDB value: {exc}"
        except RecursionError:  # hundreds of levels deep: DynamoDB takes 32
            return f"attribute {name!r}: Nesting Levels have exceeded supported limits"
        problem = value_problem(attribute)
        if problem:
            return f"attribute {name!r}: {problem}"
        try:
            item_size({name: attribute})
        except UnicodeEncodeError:  # JSON's "\ud800": DynamoDB's strings are UTF-8
            return f"attribute {name!r} holds text that is not Unicode (a lone surrogate)"
    size = item_size(to_dynamodb_json(item))
    if size > MAX_ITEM_BYTES:
        return f"the item is {size:,} bytes; DynamoDB items are at most 400 KB ({MAX_ITEM_BYTES:,})"
    return None


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
    problem = _item_problem(item)
    if problem:
        return problem
    image = to_dynamodb_json(item)
    types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    keys: dict[str, Any] = {}
    for key in table["KeySchema"]:
        name = key["AttributeName"]
        if types[name] not in image.get(name, {}):
            return f"the table's key attribute {name!r} must be {_EXPECTED[types[name]]}"
        if image[name][types[name]] in ("", b""):
            return f"the table's key attribute {name!r} must not be empty (PutItem refuses it)"
        size, limit = value_size(image[name]), MAX_KEY_BYTES[key["KeyType"]]
        if size > limit:
            kind = "partition" if key["KeyType"] == "HASH" else "sort"
            return (
                f"the table's key attribute {name!r} is {size:,} bytes; DynamoDB takes at "
                f"most {limit:,} for a {kind} key"
            )
        keys[name] = image[name]
    view = (table.get("StreamSpecification") or {}).get("StreamViewType", "")
    stream: dict[str, Any] = {"Keys": keys, "StreamViewType": view}
    if view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
        stream["NewImage"] = image
    record = {"eventName": "INSERT", "eventVersion": "1.1", "eventSource": "aws:dynamodb"}
    delivered, _ = pipes_record({**record, "dynamodb": stream}, "stream-arn", "region")
    pipe_filter = PipeFilter.of(pipe["Properties"].get("SourceParameters"))
    name = f"{stack_name}-{pipe_id}"
    if not pipe_filter.passes(delivered):
        return f"the pipe {name} would not start a run for it: its filter is {pipe_filter}"
    size = _target_input_size(pipe, delivered, name)
    if size > MAX_EXECUTION_INPUT_BYTES:
        return (
            f"the pipe {name} would start its run with an input of about {size:,} bytes; "
            f"StartExecution takes at most {MAX_EXECUTION_INPUT_BYTES:,} (the record would "
            "go to the pipe's DLQ)"
        )
    return None


def _target_input_size(pipe: Mapping[str, Any], record: Mapping[str, Any], name: str) -> int:
    """About how many bytes the pipe's StartExecution input for ``record`` would be (as
    PipeRunner._payload makes it; the ARNs it would name are stood in for)."""
    template = (pipe["Properties"].get("TargetParameters") or {}).get("InputTemplate")
    if template is None:
        return len(json.dumps([record]).encode("utf-8"))
    arn = f"arn:aws:pipes:us-east-1:123456789012:pipe/{name}"
    variables: dict[str, Any] = dict.fromkeys(
        ("aws.pipes.pipe-arn", "aws.pipes.source-arn", "aws.pipes.target-arn"), arn
    )
    variables.update(
        {
            "aws.pipes.pipe-name": name,
            "aws.pipes.enrichment-arn": "",
            "aws.pipes.event.ingestion-time": "2026-01-01T00:00:00.000Z",
            "aws.pipes.event": record,
            "aws.pipes.event.json": record,
        }
    )
    rendered = render_input_template(str(template), record, variables)
    return len(json.dumps([rendered]).encode("utf-8"))
