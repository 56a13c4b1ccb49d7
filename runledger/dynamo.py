"""Plain Python values <-> DynamoDB JSON (``{"S": ...}``, ``{"N": ...}``, ``{"M": ...}``).

Stream images and the state machine's DynamoDB tasks speak DynamoDB JSON; the domain code
speaks plain JSON-able values. boto3's TypeSerializer/TypeDeserializer do the work; this
module adds the two conversions they leave to the caller: numbers come back as ``int`` or
``float`` (not ``Decimal``), and floats go in through ``Decimal(str(x))`` (TypeSerializer
rejects floats, and ``str`` keeps the short repr: ``0.1`` stays ``0.1``).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def plain(value: Any) -> Any:
    """Replace ``Decimal`` by ``int`` (whole) or ``float``, ``Binary`` by ``bytes``, recursively.

    Sets stay sets (of converted members): a set is never valid where the request
    model expects a list, and the validator should say so.
    """
    if isinstance(value, Decimal):
        if value.is_finite() and value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, Binary):
        raw: bytes = value.value  # type: ignore[attr-defined]  # boto3-stubs lacks .value
        return raw
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, set | frozenset):
        return {plain(item) for item in value}
    return value


def dynamo_ready(value: Any) -> Any:
    """Replace ``float`` by ``Decimal(str(x))`` and tuples by lists, recursively.

    Raises:
        ValueError: for NaN or infinity, which DynamoDB cannot store.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"DynamoDB cannot store the number {value!r}")
        return Decimal(str(value))
    if isinstance(value, Mapping):
        return {key: dynamo_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [dynamo_ready(item) for item in value]
    return value


def _decode_binary(value: Any) -> Any:
    """Base64 strings in ``B``/``BS`` (DynamoDB JSON on the wire) -> bytes, recursively."""
    if not isinstance(value, Mapping) or len(value) != 1:
        return value
    ((kind, inner),) = value.items()
    if kind == "B" and isinstance(inner, str):
        return {"B": base64.b64decode(inner)}
    if kind == "BS" and isinstance(inner, list):
        return {"BS": [base64.b64decode(v) if isinstance(v, str) else v for v in inner]}
    if kind == "M" and isinstance(inner, Mapping):
        return {"M": {name: _decode_binary(v) for name, v in inner.items()}}
    if kind == "L" and isinstance(inner, list):
        return {"L": [_decode_binary(v) for v in inner]}
    return value


def from_dynamodb_json(image: Mapping[str, Any]) -> dict[str, Any]:
    """An attribute map in DynamoDB JSON (a stream ``NewImage``) as plain values.

    Binary values may be bytes or, as in JSON from the wire, base64 strings.

    Raises:
        TypeError, ValueError, ArithmeticError: a value is not valid DynamoDB JSON.
    """
    return {
        name: plain(_deserializer.deserialize(_decode_binary(value)))
        for name, value in image.items()
    }


def to_attribute_value(value: Any) -> dict[str, Any]:
    """One plain value as a DynamoDB JSON attribute value, e.g. ``{"M": {...}}``."""
    return dict(_serializer.serialize(dynamo_ready(value)))


def to_dynamodb_json(item: Mapping[str, Any]) -> dict[str, Any]:
    """A plain mapping as a DynamoDB JSON attribute map (what PutItem's ``Item`` takes)."""
    return {name: to_attribute_value(value) for name, value in item.items()}
