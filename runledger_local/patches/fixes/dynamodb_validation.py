"""Fix: DynamoDB refuses what AWS refuses, and a failed UpdateItem changes nothing.

AWS validates a request before it touches a table; moto 5.2.5 lets through, or crashes on,
what AWS refuses with ``ValidationException`` (messages as AWS writes them, per the
DynamoDB API reference's constraints and AWS-recorded answers in LocalStack's
AWS-validated snapshots, error_handling/test_task_service_dynamodb):

- a missing ``Item`` (PutItem) or ``Key`` (GetItem, UpdateItem, DeleteItem): "1
  validation error detected: Value null at 'item' failed to satisfy constraint: Member
  must not be null" (moto: ``'NoneType' object has no attribute 'items'``);
- a table name outside ``[a-zA-Z0-9_.-]+`` or 3-255 characters (moto:
  ResourceNotFoundException);
- numbers that are not numbers (NaN, Infinity: moto refuses them in PutItem only), with
  more than 38 significant digits, or beyond 1E-130 .. 9.9E125 in magnitude (the
  "Data types" page of the developer guide);
- values nested deeper than 32 levels (the "Quotas" page: "DynamoDB supports nested
  attributes up to 32 levels deep");
- an attribute with an empty name (AWS's wording for this one is not in any recorded
  answer: ours says what is wrong);
- an empty string or binary in a ``Key`` (moto checks PutItem's only).

An UpdateItem whose expression fails part-way (``SET a = :a ADD n :s`` with a string
``:s``) applied its ``SET`` in moto, and created the item if it was missing; on AWS a
request either applies whole or not at all ("UpdateItem ... is atomic"). Here the item
(and the stream) are put back as they were. No moto issue found for either.
"""

from __future__ import annotations

import contextlib
import copy
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from unittest import mock

from runledger_local.patches._seams import Seam
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "dynamodb_validation"
_CALL_ACTION: Final = Seam(NAME, "moto.dynamodb.responses", "DynamoHandler.call_action", ("self",))
_UPDATE_ITEM: Final = Seam(NAME, "moto.dynamodb.models", "DynamoDBBackend.update_item")
_GET_KEYS_VALUE: Final = Seam(
    NAME, "moto.dynamodb.models", "DynamoDBBackend.get_keys_value", ("self", "table", "keys")
)
_VALIDATION_ERROR: Final = Seam(NAME, "moto.dynamodb.exceptions", "MockValidationException")
SEAMS: Final[tuple[Seam, ...]] = (_CALL_ACTION, _UPDATE_ITEM, _GET_KEYS_VALUE, _VALIDATION_ERROR)

TABLE_NAME: Final = re.compile(r"[a-zA-Z0-9_.-]+")
MAX_DEPTH: Final = 32
MAX_DIGITS: Final = 38
_MAGNITUDE: Final = "Attempting to store a number with magnitude"
#: The request members that must be present, per action (moto's snake_case names).
REQUIRED: Final[Mapping[str, tuple[str, ...]]] = {
    "put_item": ("Item",),
    "get_item": ("Key",),
    "update_item": ("Key",),
    "delete_item": ("Key",),
}
#: The members that hold attribute values, per action.
VALUES: Final[Mapping[str, tuple[str, ...]]] = {
    "put_item": ("Item", "ExpressionAttributeValues"),
    "get_item": ("Key",),
    "update_item": ("Key", "ExpressionAttributeValues"),
    "delete_item": ("Key", "ExpressionAttributeValues"),
    "query": ("ExpressionAttributeValues", "ExclusiveStartKey"),
    "scan": ("ExpressionAttributeValues", "ExclusiveStartKey"),
}


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def constraint_errors(action: str, params: Mapping[str, Any]) -> str | None:
    """AWS's "N validation error(s) detected: ..." for ``params``, or None."""
    errors: list[str] = []
    table = params.get("TableName")
    if isinstance(table, str):
        constraint = "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
        if not TABLE_NAME.fullmatch(table):
            errors.append(
                f"Value '{table}' at 'tableName' failed to satisfy constraint: {constraint}"
            )
        if len(table) < 3:
            errors.append(
                f"Value '{table}' at 'tableName' failed to satisfy constraint: "
                "Member must have length greater than or equal to 3"
            )
        if len(table) > 255:
            errors.append(
                f"Value '{table}' at 'tableName' failed to satisfy constraint: "
                "Member must have length less than or equal to 255"
            )
    for member in REQUIRED.get(action, ()):
        if params.get(member) is None:
            errors.append(
                f"Value null at '{_lower_first(member)}' failed to satisfy constraint: "
                "Member must not be null"
            )
    if not errors:
        return None
    plural = "s" if len(errors) > 1 else ""
    return f"{len(errors)} validation error{plural} detected: " + "; ".join(errors)


def number_problem(text: Any) -> str | None:
    """Why DynamoDB refuses the number ``text`` (an ``N`` value), or None."""
    try:
        number = Decimal(str(text).strip())
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        return f"The parameter cannot be converted to a numeric value: {text}"
    if number.is_zero():
        return None
    digits = "".join(map(str, number.as_tuple().digits)).strip("0")  # significant ones
    if number.adjusted() > 125:
        return f"Number overflow. {_MAGNITUDE} larger than supported range"
    if number.adjusted() < -130:
        return f"Number underflow. {_MAGNITUDE} smaller than supported range"
    if len(digits) > MAX_DIGITS:
        return f"Attempting to store more than {MAX_DIGITS} significant digits in a Number"
    return None


def value_problem(value: Any, depth: int = 0) -> str | None:
    """Why DynamoDB refuses the attribute value ``value`` (``{"S": ...}``), or None."""
    if not isinstance(value, Mapping):
        return None  # moto's own parsing answers for the shape
    if depth > MAX_DEPTH:
        return "Nesting Levels have exceeded supported limits"
    for kind, inner in value.items():
        if kind == "N":
            problem = number_problem(inner)
        elif kind == "NS" and isinstance(inner, list):
            problem = next(filter(None, map(number_problem, inner)), None)
        elif kind == "M" and isinstance(inner, Mapping):
            problem = attributes_problem(inner, depth + 1)
        elif kind == "L" and isinstance(inner, list):
            problem = next((p for v in inner if (p := value_problem(v, depth + 1))), None)
        else:
            problem = None
        if problem:
            return problem
    return None


def attributes_problem(attributes: Mapping[str, Any], depth: int = 0) -> str | None:
    """Why DynamoDB refuses a map of attribute names to values, or None."""
    for name, value in attributes.items():
        if name == "":
            return "One or more parameter values were invalid: An attribute name may not be empty"
        problem = value_problem(value, depth)
        if problem:
            return problem
    return None


def key_problem(key: Mapping[str, Any]) -> str | None:
    """Why DynamoDB refuses ``key`` (a Key member), or None."""
    for name, value in key.items():
        if isinstance(value, Mapping) and (value.get("S") == "" or value.get("B") in ("", b"")):
            return (
                "One or more parameter values were invalid: An AttributeValue may not "
                f"contain an empty string. Key: {name}"
            )
    return None


def request_problem(action: str, params: Mapping[str, Any]) -> str | None:
    """Why DynamoDB refuses the request ``params`` of ``action``, or None."""
    problem = constraint_errors(action, params)
    if problem:
        return problem
    key = params.get("Key")
    if isinstance(key, Mapping):
        problem = key_problem(key)
        if problem:
            return problem
    for member in VALUES.get(action, ()):
        attributes = params.get(member)
        if isinstance(attributes, Mapping):
            problem = attributes_problem(attributes)
            if problem:
                return problem
    return None


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    handler_class, action_attribute, original_call_action = _CALL_ACTION.resolve()
    backend_class, update_attribute, original_update_item = _UPDATE_ITEM.resolve()
    _GET_KEYS_VALUE.resolve()
    validation_error = _VALIDATION_ERROR.value

    def call_action(self: Any) -> Any:
        from moto.core.utils import camelcase_to_underscores

        action = camelcase_to_underscores(self._get_action())
        params = getattr(self, "params", None)
        problem = request_problem(action, params) if isinstance(params, Mapping) else None
        if problem:

            def refuse() -> Any:
                raise validation_error(problem)

            setattr(self, action, refuse)  # answered as moto answers its own refusals
        return original_call_action(self)

    def update_item(
        self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Any:
        table = self.get_table(table_name)
        try:
            hash_value, range_value = self.get_keys_value(table, key)
        except Exception:  # moto's own update answers for a bad key
            return original_update_item(self, table_name, key, *args, **kwargs)
        before = copy.deepcopy(table.get_item(hash_value, range_value))
        shard = table.stream_shard
        records = len(shard.items) if shard is not None else 0
        try:
            return original_update_item(self, table_name, key, *args, **kwargs)
        except Exception:
            # All or nothing: the item (or its absence) and the stream as they were.
            if before is None:
                partition = table.items.get(hash_value)
                if range_value is not None and isinstance(partition, dict):
                    partition.pop(range_value, None)
                elif range_value is None:
                    table.items.pop(hash_value, None)
            elif range_value is not None:
                table.items[hash_value][range_value] = before
            else:
                table.items[hash_value] = before
            if shard is not None:
                del shard.items[records:]
            raise

    with (
        mock.patch.object(handler_class, action_attribute, call_action),
        mock.patch.object(backend_class, update_attribute, update_item),
    ):
        yield
