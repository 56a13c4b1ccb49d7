"""DynamoDB's rules for requests and items, as AWS enforces them (no moto, no boto3).

``fixes/dynamodb_validation`` makes moto refuse what these refuse; ``admission`` refuses
a request file before the local cloud starts when PutItem would refuse its item. Messages
are AWS's (see that module for the sources); ``item_size`` follows the developer guide's
"Item sizes and formats".
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

TABLE_NAME: Final = re.compile(r"[a-zA-Z0-9_.-]+")
MAX_DEPTH: Final = 32
MAX_DIGITS: Final = 38
_MAGNITUDE: Final = "Attempting to store a number with magnitude"
_NUMBER: Final = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_INVALID: Final = "One or more parameter values were invalid"
#: A set's type -> the word AWS's messages use for it.
_SETS: Final = {"SS": "string", "NS": "number", "BS": "binary"}
_ONE_TYPE: Final = "must contain exactly one of the supported datatypes"
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
        # Digits, a point and an exponent: not Python's ``1_000``, NaN or Infinity.
        number = Decimal(str(text).strip()) if _NUMBER.fullmatch(str(text).strip()) else None
    except InvalidOperation:
        number = None
    if number is None:
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
    if not value:  # moto: StopIteration, or IndexError in a map or list
        return f"Supplied AttributeValue is empty, {_ONE_TYPE}"
    if len(value) > 1:  # moto kept the first
        return f"Supplied AttributeValue has more than one datatypes set, {_ONE_TYPE}"
    if depth > MAX_DEPTH:
        return "Nesting Levels have exceeded supported limits"
    for kind, inner in value.items():
        if kind == "N":
            problem = number_problem(inner)
        elif kind in _SETS and isinstance(inner, list):
            problem = set_problem(kind, inner)
        elif kind == "M" and isinstance(inner, Mapping):
            problem = attributes_problem(inner, depth + 1)
        elif kind == "L" and isinstance(inner, list):
            problem = next((p for v in inner if (p := value_problem(v, depth + 1))), None)
        elif kind == "NULL" and inner is not True:  # moto checks it at the top level only
            problem = f"{_INVALID}: Null attribute value types must have the value of true"
        else:
            problem = None
        if problem:
            return problem
    return None


def set_problem(kind: str, members: list[Any]) -> str | None:
    """Why DynamoDB refuses the set ``members`` of type ``kind`` (SS, NS or BS), or None:
    empty (moto refused only SS and NS), a number it refuses, or a member twice (1 and
    1.0 are one number)."""
    if not members:
        return f"1 validation error detected: {_INVALID}: An {_SETS[kind]} set  may not be empty"
    if kind == "NS":
        problem = next(filter(None, map(number_problem, members)), None)
        if problem:
            return problem
        distinct: set[object] = {Decimal(str(member).strip()) for member in members}
    else:
        distinct = set(map(_member_text, members))
    if len(distinct) < len(members):
        shown = ", ".join(map(_member_text, members))
        return f"{_INVALID}: Input collection [{shown}] contains duplicates."
    return None


def _member_text(member: Any) -> str:
    """A set member as the wire shows it: binary in base64 (moto may hold it decoded)."""
    if isinstance(member, bytes | bytearray):
        return base64.b64encode(member).decode("ascii")
    return str(member)


def attributes_problem(attributes: Mapping[str, Any], depth: int = 0) -> str | None:
    """Why DynamoDB refuses a map of attribute names to values, or None."""
    for name, value in attributes.items():
        if name == "":
            return f"{_INVALID}: An attribute name may not be empty"
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


MAX_ITEM_BYTES: Final = 400 * 1024
MAX_KEY_BYTES: Final = {"HASH": 2048, "RANGE": 1024}


def value_size(value: Mapping[str, Any]) -> int:
    """The bytes DynamoDB counts for the attribute value ``value`` (``{"S": ...}``)."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(str(inner).encode("utf-8"))
    if kind == "N":
        digits = "".join(map(str, Decimal(str(inner)).as_tuple().digits)).strip("0")
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(inner) if isinstance(inner, bytes) else len(str(inner)) * 3 // 4
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(value_size({kind[0]: member}) for member in inner)
    if kind == "L":
        return 3 + sum(1 + value_size(member) for member in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + value_size(v) for k, v in inner.items())
    return 0


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """The size DynamoDB gives an item: its attribute names' and values' lengths."""
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())
