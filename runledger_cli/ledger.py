"""The runs table as the operator side reads it: one model of a run, for every reader.

A run is one partition of the runs table: its ``REQUEST`` item (the request, its status,
summary and cost) and a ``VARIANT#<name>`` item per variant its execution ran. The keys
and which variant items belong to the run are the Lambda code's (runledger.models);
``runledger report``, ``runledger cost`` and the local cloud (runledger_local) read runs
only through this module:

* ``RunRecord``: a run as the table holds it, in plain values (numbers as int/float);
* ``read_run``, ``read_runs``, ``read_items``, ``read_statuses``: reads with a DynamoDB
  client (of AWS or of any endpoint);
* ``table_from_stack``: the runs table of a deployed stack, from the stack output that
  template.yaml declares for it (``table_output_key``).

Every failure the user can act on (no such stack, output, table or run) is a
``LedgerError`` that says which and why.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from runledger.dynamo import from_dynamodb_json
from runledger.models import PK_PREFIX, REQUEST_SK, split_run_items

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import KeysAndAttributesUnionTypeDef

#: BatchGetItem's limit of keys per request.
_BATCH_GET_KEYS = 100


class LedgerError(Exception):
    """A run or its table cannot be read: no such stack, output, table or run (says why)."""


def run_key(run_id: str) -> str:
    """The partition key of a run: ``"abc" -> "RUN#abc"``."""
    return PK_PREFIX + run_id


def run_id_of(pk: str) -> str:
    """The run id of a partition key: ``"RUN#abc" -> "abc"`` (a key without it as it is)."""
    return pk.removeprefix(PK_PREFIX)


@dataclass
class RunRecord:
    """A run as the runs table holds it: its REQUEST item and its variants' items.

    ``request`` is the REQUEST item in plain values; it is empty while the table holds
    no such item. ``variants`` has the VARIANT# items of the execution that owns the
    run, by variant name (``runledger.models.split_run_items``); ``read_runs`` reads
    REQUEST items only, and leaves it empty.
    """

    run_id: str
    request: dict[str, Any] = field(default_factory=dict)
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> RunRecord:
        """From a REQUEST item in plain values (``runledger.dynamo.from_dynamodb_json``)."""
        return cls(run_id=run_id_of(str(item["pk"])), request=dict(item))

    @classmethod
    def from_items(cls, run_id: str, items: Iterable[Mapping[str, Any]]) -> RunRecord:
        """From every item of the run's partition (plain values), in any order."""
        request, variants = split_run_items(items)
        return cls(run_id=run_id, request=request or {}, variants=variants)

    @property
    def status(self) -> str:
        """The request item's status ("?" without one)."""
        return str(self.request.get("status", "?"))

    @property
    def workflow(self) -> str | None:
        return _str_or_none(self.request.get("workflow"))

    @property
    def cost_center(self) -> str | None:
        return _str_or_none(self.request.get("cost_center"))

    @property
    def started_at(self) -> str | None:
        """When the run started (or, before it did, when it was claimed)."""
        return _str_or_none(self.request.get("started_at") or self.request.get("claimed_at"))

    @property
    def finished_at(self) -> str | None:
        return _str_or_none(self.request.get("finished_at"))

    @property
    def cost(self) -> dict[str, Any] | None:
        """The estimate the workflow wrote (runledger.summary), or None: not priced."""
        cost = self.request.get("cost")
        return cost if isinstance(cost, dict) else None

    @property
    def requested(self) -> dict[str, dict[str, Any]]:
        """The variants as requested (name -> size and capacity), from the REQUEST item."""
        variants = self.request.get("variants")
        return {
            str(v["name"]): v
            for v in (variants if isinstance(variants, list) else [])
            if isinstance(v, dict) and "name" in v
        }

    @property
    def day(self) -> dt.date | None:
        """The UTC day the run started (or finished, if it never started)."""
        return _day(self.started_at) or _day(self.finished_at)

    @property
    def last_day(self) -> dt.date | None:
        """The UTC day the run finished (or started, if it has not finished)."""
        return _day(self.finished_at) or _day(self.started_at)

    @property
    def estimate_usd(self) -> float | None:
        """The estimated total, or None when the item has no cost map (see the README)."""
        return None if self.cost is None else float(self.cost.get("total_usd", 0))

    @property
    def batch_estimate_usd(self) -> float | None:
        """The Batch part of the estimate: what the ``run-id`` tag can be compared with."""
        if self.cost is None:
            return None
        return float(self.cost.get("breakdown", {}).get("batch", 0))


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _day(timestamp: str | None) -> dt.date | None:
    if not timestamp:
        return None
    try:
        moment = dt.datetime.fromisoformat(timestamp)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return moment.date()


# --------------------------------------------------------------------------- reads


def read_items(dynamodb: DynamoDBClient, table: str, pk: str) -> list[dict[str, Any]]:
    """Every item of one partition (every page of the Query), in plain values.

    Raises:
        LedgerError: the table cannot be read (no such table, no access...).
    """
    pages = dynamodb.get_paginator("query").paginate(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
    )
    return _items(pages, table)


def read_run(dynamodb: DynamoDBClient, table: str, run_id: str) -> RunRecord:
    """One run: its REQUEST item and the VARIANT# items of its execution.

    Raises:
        LedgerError: no such table, or no REQUEST item for ``run_id``.
    """
    record = RunRecord.from_items(run_id, read_items(dynamodb, table, run_key(run_id)))
    if not record.request:
        raise LedgerError(
            f"no run {run_id!r} in table {table} (no item pk={run_key(run_id)}, sk={REQUEST_SK})"
        )
    return record


def read_runs(dynamodb: DynamoDBClient, table: str) -> list[RunRecord]:
    """Every run's REQUEST item (a Scan: it reads, and bills, the whole table).

    Raises:
        LedgerError: no such table.
    """
    pages = dynamodb.get_paginator("scan").paginate(
        TableName=table,
        FilterExpression="sk = :request",
        ExpressionAttributeValues={":request": {"S": REQUEST_SK}},
    )
    return [RunRecord.from_item(item) for item in _items(pages, table)]


def read_statuses(dynamodb: DynamoDBClient, table: str, pks: Sequence[str]) -> dict[str, str]:
    """The status of each run (by partition key) whose REQUEST item exists ("" if unset).

    Reads the status alone (BatchGetItem, a projection), not the run's items.

    Raises:
        LedgerError: no such table.
    """
    statuses: dict[str, str] = {}
    for start in range(0, len(pks), _BATCH_GET_KEYS):
        keys = [
            {"pk": {"S": pk}, "sk": {"S": REQUEST_SK}}
            for pk in pks[start : start + _BATCH_GET_KEYS]
        ]
        request: Mapping[str, KeysAndAttributesUnionTypeDef] = {
            table: {
                "Keys": keys,
                "ProjectionExpression": "pk, #s",
                "ExpressionAttributeNames": {"#s": "status"},
            }
        }
        while request:
            try:
                answer = dynamodb.batch_get_item(RequestItems=request)
            except ClientError as exc:
                raise LedgerError(f"table {table}: {aws_message(exc)}") from exc
            for item in answer["Responses"].get(table, []):
                statuses[str(item["pk"]["S"])] = str(item.get("status", {}).get("S", ""))
            request = answer.get("UnprocessedKeys") or {}
    return statuses


def _items(pages: Iterable[Any], table: str) -> list[dict[str, Any]]:
    try:
        return [from_dynamodb_json(raw) for page in pages for raw in page.get("Items", [])]
    except ClientError as exc:
        raise LedgerError(f"table {table}: {aws_message(exc)}") from exc


def aws_message(exc: ClientError) -> str:
    """An AWS error as its code and message: ``"ValidationError: Stack with id x ..."``."""
    error = exc.response.get("Error", {})
    return f"{error.get('Code', 'Error')}: {error.get('Message', str(exc))}"


# --------------------------------------------------------------------------- the stack


def table_output_key(template: Path | None = None) -> str:
    """The stack output that names the runs table: the template's output whose value is
    the table's Ref (template.yaml is the one place that names it).

    Raises:
        LedgerError: the template has no such output.
    """
    from runledger_cli.sam_template import TEMPLATE_PATH, load_sam_as_read, resources_of_type

    sam = load_sam_as_read(template or TEMPLATE_PATH)
    tables = set(resources_of_type(sam, "AWS::DynamoDB::Table"))
    for key, output in sam.get("Outputs", {}).items():
        if output.get("Value") in [{"Ref": t} for t in tables]:
            return str(key)
    raise LedgerError("template.yaml has no output naming the runs table")


def table_from_stack(cloudformation: CloudFormationClient, stack: str) -> str:
    """The runs table of a deployed stack, from its outputs (``table_output_key``).

    Raises:
        LedgerError: no such stack (or no access, no credentials), or it has no such output.
    """
    key = table_output_key()
    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        raise LedgerError(f"cannot read stack {stack!r}: {aws_message(exc)}") from exc
    except BotoCoreError as exc:  # no credentials, no endpoint...
        raise LedgerError(f"cannot read stack {stack!r}: {exc}") from exc
    outputs = {o.get("OutputKey"): o.get("OutputValue") for o in stacks[0].get("Outputs", [])}
    table = outputs.get(key)
    if not table:
        raise LedgerError(f"stack {stack!r} has no output {key} (is it a runledger stack?)")
    return table
