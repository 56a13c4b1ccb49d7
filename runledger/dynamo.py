"""Plain Python values <-> DynamoDB JSON (``{"S": ...}``, ``{"N": ...}``, ``{"M": ...}``).

Stream images and the state machine's DynamoDB tasks speak DynamoDB JSON; the domain code
speaks plain JSON-able values. ``serialize`` and ``deserialize`` are the codec: they give
what boto3's ``TypeSerializer`` / ``TypeDeserializer`` give (numbers as ``Decimal`` in
DynamoDB's 38-digit context, the same type checks, the same errors), without importing
boto3, which costs a handler that never calls AWS ~150 ms of cold start (docs/cold-start.md).
tests/unit/test_dynamo_codec.py holds them to boto3's answers. The one difference: binary
comes back as ``bytes``, not boto3's ``Binary`` wrapper, as in Powertools'
``aws_lambda_powertools/shared/dynamodb_deserializer.py``, whose shape this follows (a
Powertools-internal module, so copied, not imported; unlike it, numbers of more than 38
digits are refused as boto3 refuses them, not trimmed).

On top of the codec, this module adds the two conversions boto3 leaves to the caller:
numbers come back as ``int`` or ``float`` (not ``Decimal``), and floats go in through
``Decimal(str(x))`` (the serializer rejects floats, and ``str`` keeps the short repr:
``0.1`` stays ``0.1``).
"""

from __future__ import annotations

import base64
import math
import sys
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import Any

#: DynamoDB numbers: 38 significant digits, exponents -128..126; anything that would
#: round, overflow or underflow is an error (boto3.dynamodb.types.DYNAMODB_CONTEXT).
DYNAMODB_CONTEXT = Context(
    Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow]
)
_BINARY_TYPES = (bytearray, bytes)


def _boto3_binary() -> type | None:
    """boto3's ``Binary`` if boto3's types module is loaded (only then can one exist)."""
    binary: type | None = getattr(sys.modules.get("boto3.dynamodb.types"), "Binary", None)
    return binary


def _binary(value: Any) -> Any:
    """``value`` as the raw bytes boto3's ``Binary(value)`` would wrap, or its TypeError."""
    if not isinstance(value, _BINARY_TYPES):
        types = ", ".join(str(t) for t in _BINARY_TYPES)
        raise TypeError(f"Value must be of the following types: {types}")
    return value


# ------------------------------------------------------------------ DynamoDB JSON -> Python
def _number(value: Any) -> Decimal:
    return DYNAMODB_CONTEXT.create_decimal(value)


def _list(value: Any) -> list[Any]:
    return [deserialize(item) for item in value]


def _map(value: Any) -> dict[Any, Any]:
    return {name: deserialize(item) for name, item in value.items()}


_DESERIALIZERS: dict[str, Callable[[Any], Any]] = {
    "null": lambda _: None,
    "bool": lambda value: value,
    "n": _number,
    "s": lambda value: value,
    "b": _binary,
    "ns": lambda value: set(map(_number, value)),
    "ss": lambda value: set(value),
    "bs": lambda value: set(map(_binary, value)),
    "l": _list,
    "m": _map,
}


def deserialize(value: Any) -> Any:
    """One attribute value (``{"N": "1.5"}``) as Python: what boto3's TypeDeserializer gives.

    ``NULL`` -> None, ``BOOL`` -> bool, ``N`` -> Decimal, ``S`` -> str, ``B`` -> bytes,
    ``NS``/``SS``/``BS`` -> set, ``L`` -> list, ``M`` -> dict. As in boto3 the type key
    is the first key and is matched case-insensitively.

    Raises:
        TypeError, AttributeError, ArithmeticError: as boto3 raises them, with its messages.
    """
    if not value:
        raise TypeError("Value must be a nonempty dictionary whose key is a valid dynamodb type.")
    kind = next(iter(value.keys()))
    decode = _DESERIALIZERS.get(f"{kind}".lower())
    if decode is None:
        raise TypeError(f"Dynamodb type {kind} is not supported")
    return decode(value[kind])


# ------------------------------------------------------------------ Python -> DynamoDB JSON
def _is_number(value: Any) -> bool:
    if isinstance(value, float):
        raise TypeError("Float types are not supported. Use Decimal types instead.")
    return isinstance(value, int | Decimal)


def _is_string(value: Any) -> bool:
    return isinstance(value, str)


def _is_binary(value: Any) -> bool:
    boto3_binary = _boto3_binary()
    return isinstance(value, _BINARY_TYPES) or (
        boto3_binary is not None and isinstance(value, boto3_binary)
    )


def _is_set_of(value: Any, member: Callable[[Any], bool]) -> bool:
    # Member by member, stopping at the first miss (a float before it raises), as boto3.
    return isinstance(value, AbstractSet) and False not in map(member, value)


def _kind(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "BOOL"
    if _is_number(value):
        return "N"
    if _is_string(value):
        return "S"
    if _is_binary(value):
        return "B"
    for kind, member in (("NS", _is_number), ("SS", _is_string), ("BS", _is_binary)):
        if _is_set_of(value, member):
            return kind
    if isinstance(value, Mapping):
        return "M"
    if isinstance(value, list | tuple):
        return "L"
    raise TypeError(f'Unsupported type "{type(value)}" for value "{value}"')


def _number_text(value: Any) -> str:
    number = str(DYNAMODB_CONTEXT.create_decimal(value))
    if number in ("Infinity", "NaN"):
        raise TypeError("Infinity and NaN not supported")
    return number


def _bytes(value: Any) -> Any:
    return value if isinstance(value, _BINARY_TYPES) else value.value


_SERIALIZERS: dict[str, Callable[[Any], Any]] = {
    "NULL": lambda _: True,
    "BOOL": lambda value: value,
    "N": _number_text,
    "S": lambda value: value,
    "B": _bytes,
    "NS": lambda value: [_number_text(n) for n in value],
    "SS": lambda value: list(value),
    "BS": lambda value: [_bytes(b) for b in value],
    "L": lambda value: [serialize(item) for item in value],
    "M": lambda value: {name: serialize(item) for name, item in value.items()},
}


def serialize(value: Any) -> dict[str, Any]:
    """One Python value as an attribute value: what boto3's TypeSerializer gives.

    None, bool, int/Decimal, str, bytes/bytearray, sets of numbers, strings or bytes
    (an empty set is ``NS``), mappings, lists and tuples.

    Raises:
        TypeError: a float (use Decimal), infinity or NaN, or any other type.
        ArithmeticError: a number DynamoDB cannot hold exactly (over 38 digits, ...).
    """
    kind = _kind(value)
    return {kind: _SERIALIZERS[kind](value)}


# ------------------------------------------------------------------ plain values
def plain(value: Any) -> Any:
    """Replace ``Decimal`` by ``int`` (whole) or ``float``, boto3's ``Binary`` by its bytes,
    recursively.

    Sets stay sets (of converted members): a set is never valid where the request
    model expects a list, and the validator should say so.
    """
    if isinstance(value, Decimal):
        if value.is_finite() and value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, set | frozenset):
        return {plain(item) for item in value}
    boto3_binary = _boto3_binary()
    if boto3_binary is not None and isinstance(value, boto3_binary):
        raw: bytes = value.value  # type: ignore[attr-defined]
        return raw
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


def _reduced(number: Any) -> Any:
    """An ``N`` text of more than 38 digits whose significant ones are 38 at most (1
    followed by 125 zeros: DynamoDB stores it) rewritten without its trailing zeros, which
    the 38-digit codec would refuse (decimal.Rounded); any other value as it is."""
    if not isinstance(number, str) or len(number) <= 38:  # 38 digits at most
        return number
    try:
        sign, digits, exponent = Decimal(number.strip()).as_tuple()
    except ArithmeticError:
        return number
    if not isinstance(exponent, int):  # NaN, Infinity: the codec refuses them
        return number
    kept = list(digits)
    while len(kept) > 1 and kept[-1] == 0:
        kept.pop()
        exponent += 1
    return str(Decimal((sign, tuple(kept), exponent)))


def _from_wire(value: Any) -> Any:
    """DynamoDB JSON as the wire and the stream carry it, for the codec, recursively:
    base64 strings in ``B``/``BS`` as bytes, numbers as ``_reduced``."""
    if not isinstance(value, Mapping) or len(value) != 1:
        return value
    ((kind, inner),) = value.items()
    if kind == "B" and isinstance(inner, str):
        return {"B": base64.b64decode(inner)}
    if kind == "BS" and isinstance(inner, list):
        return {"BS": [base64.b64decode(v) if isinstance(v, str) else v for v in inner]}
    if kind == "N":
        return {"N": _reduced(inner)}
    if kind == "NS" and isinstance(inner, list):
        return {"NS": [_reduced(v) for v in inner]}
    if kind == "M" and isinstance(inner, Mapping):
        return {"M": {name: _from_wire(v) for name, v in inner.items()}}
    if kind == "L" and isinstance(inner, list):
        return {"L": [_from_wire(v) for v in inner]}
    return value


def from_dynamodb_json(image: Mapping[str, Any]) -> dict[str, Any]:
    """An attribute map in DynamoDB JSON (a stream ``NewImage``) as plain values.

    Binary values may be bytes or, as in JSON from the wire, base64 strings. A number
    DynamoDB stores is read even when written with more than 38 digits, its trailing zeros
    (boto3's codec raises decimal.Rounded for ``1`` followed by 125 zeros).

    Raises:
        TypeError, ValueError, AttributeError, ArithmeticError: a value is not valid
            DynamoDB JSON.
    """
    return {name: plain(deserialize(_from_wire(value))) for name, value in image.items()}


def to_attribute_value(value: Any) -> dict[str, Any]:
    """One plain value as a DynamoDB JSON attribute value, e.g. ``{"M": {...}}``."""
    return serialize(dynamo_ready(value))


def to_dynamodb_json(item: Mapping[str, Any]) -> dict[str, Any]:
    """A plain mapping as a DynamoDB JSON attribute map (what PutItem's ``Item`` takes)."""
    return {name: to_attribute_value(value) for name, value in item.items()}
