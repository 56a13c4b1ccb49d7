"""Plain values <-> DynamoDB JSON."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from boto3.dynamodb.types import TypeDeserializer

from runledger.dynamo import from_dynamodb_json, to_attribute_value, to_dynamodb_json


def test_floats_are_stored_through_their_short_decimal_form() -> None:
    assert to_attribute_value(0.1) == {"N": "0.1"}
    assert to_attribute_value(1.0e-7) == {"N": "1E-7"}


def test_nested_values_serialize_to_dynamodb_json() -> None:
    item = {"m": {"f": 0.5, "i": 3, "b": True, "n": None, "l": [1, "a", [2.5]], "t": ("x",)}}
    assert to_dynamodb_json(item) == {
        "m": {
            "M": {
                "f": {"N": "0.5"},
                "i": {"N": "3"},
                "b": {"BOOL": True},
                "n": {"NULL": True},
                "l": {"L": [{"N": "1"}, {"S": "a"}, {"L": [{"N": "2.5"}]}]},
                "t": {"L": [{"S": "x"}]},
            }
        }
    }


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_numbers_dynamodb_cannot_store_are_refused(value: float) -> None:
    with pytest.raises(ValueError, match="DynamoDB cannot store"):
        to_attribute_value({"x": [value]})


def test_numbers_come_back_as_int_when_whole_and_float_otherwise() -> None:
    plain = from_dynamodb_json(
        {"a": {"N": "2048"}, "b": {"N": "0.25"}, "c": {"N": "4.0"}, "d": {"L": [{"N": "1E+3"}]}}
    )
    assert plain == {"a": 2048, "b": 0.25, "c": 4, "d": [1000]}
    assert [type(plain[k]) for k in "abc"] == [int, float, int]
    assert type(plain["d"][0]) is int


def test_round_trip_keeps_plain_values() -> None:
    item = {"s": "x", "i": 7, "f": 0.125, "m": {"l": [1, 2.5, "z", None, False]}}
    assert from_dynamodb_json(to_dynamodb_json(item)) == item


def test_base64_binary_from_the_wire_is_decoded_like_boto3_bytes() -> None:
    wire = {"b": {"B": "AAEC"}, "nested": {"M": {"bs": {"BS": ["AAE="]}}}}
    assert from_dynamodb_json(wire) == {"b": b"\x00\x01\x02", "nested": {"bs": {b"\x00\x01"}}}


def test_sets_stay_sets_of_plain_numbers() -> None:
    assert from_dynamodb_json({"ns": {"NS": ["1", "2.5"]}}) == {"ns": {1, 2.5}}


def test_serialized_output_is_what_boto3_would_deserialize_back() -> None:
    value = to_attribute_value({"cost": 0.0013})
    assert TypeDeserializer().deserialize(value) == {"cost": Decimal("0.0013")}
