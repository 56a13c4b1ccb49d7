"""runledger.dynamo's codec against boto3's TypeSerializer / TypeDeserializer.

Every value here goes through both; the answers (or the exceptions, type and message)
must be the same, with Decimals compared by their exact text (``1.0`` is not ``1.00``)
and boto3's ``Binary`` taken as the bytes it wraps.
"""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer

from runledger import dynamo

_boto3_serialize = TypeSerializer().serialize
_boto3_deserialize = TypeDeserializer().deserialize


def exact(value: Any) -> Any:
    """A comparable form that tells apart what ``==`` would not: types and Decimal digits."""
    if isinstance(value, Binary):
        value = value.value
    if isinstance(value, Decimal):
        return ("Decimal", str(value))
    if isinstance(value, bool | None):
        return value
    if isinstance(value, dict):
        return ("dict", tuple(sorted(((exact(k), exact(v)) for k, v in value.items()), key=repr)))
    if isinstance(value, list):
        return ("list", tuple(exact(v) for v in value))
    if isinstance(value, set | frozenset):
        return ("set", frozenset(exact(v) for v in value))
    return (type(value).__name__, value)


def outcome(function: Callable[[Any], Any], value: Any) -> Any:
    try:
        return ("ok", exact(function(value)))
    except Exception as exc:  # the exception is part of the answer
        return ("raised", type(exc), str(exc))


NUMBERS = [
    "0",
    "-0",
    "0.0",
    "00012",
    "1",
    "-1",
    "1.0",
    "1.50",
    "2048",
    "0.25",
    "1E+3",
    "1e3",
    "1E-7",
    "-4.2e-5",
    "123456789012345678901234567890123456.78",  # 38 digits
    "12345678901234567890123456789012345678",
    "123456789012345678901234567890123456789",  # 39: rounds, refused
    "1234567890123456789012345678901234567890",  # 40 with a trailing zero
    "9.9999999999999999999999999999999999999E+125",
    "1E+126",
    "1E+127",  # over Emax
    "1E-128",
    "1E-130",  # subnormal: refused
    "1E-200",
    " 1",
    "1_000",
    "",
    ".",
    "abc",
    "NaN",
    "Infinity",
    "-Infinity",
    "sNaN",
]

WIRE_VALUES: list[Any] = [
    {"NULL": True},
    {"NULL": False},
    {"BOOL": True},
    {"BOOL": False},
    {"BOOL": "yes"},
    {"S": ""},
    {"S": "text é 🧬"},
    {"s": "lower-case type key"},
    {"n": "7"},
    {"B": b"\x00\x01\x02"},
    {"B": bytearray(b"ab")},
    {"B": "not bytes"},
    {"B": 5},
    {"SS": ["a", "b", "a"]},
    {"SS": []},
    {"NS": ["1", "2.5", "1.0", "10"]},
    {"NS": ["1", "x"]},
    {"NS": []},
    {"BS": [b"a", b"b", b"a"]},
    {"BS": [b"a", "s"]},
    {"BS": [bytearray(b"a")]},
    {"L": []},
    {"L": [{"N": "1"}, {"S": "a"}, {"L": [{"NULL": True}]}, {"M": {}}]},
    {"M": {"a": {"N": "1.5"}, "b": {"M": {"c": {"SS": ["x"]}, "d": {"BS": [b"\xff"]}}}}},
    {"M": {"deep": {"L": [{"M": {"n": {"N": "1E+3"}}}, {"NS": ["3", "4"]}]}}},
    {"S": "a", "N": "1"},  # the first key decides
    {"N": 1},
    {"N": 1.5},
    {"N": 0.1},
    {"N": None},
    {"X": "unknown"},
    {7: "a key that is not a string"},
    {"L": "ab"},
    {"L": 5},
    {"M": "not a map"},
    {"M": {"a": "not an attribute value"}},
    {"M": {"a": {}}},
    {"SS": 5},
    {"SS": [["unhashable"]]},
    {},
    None,
    "",
    "a string",
    [{"S": "a"}],
    0,
    *({"N": text} for text in NUMBERS),
]


def ids(values: list[Any]) -> list[str]:
    """Test ids that are the same in every process (no addresses, no set orders)."""
    return [f"{index}-{type(value).__name__}" for index, value in enumerate(values)]


@pytest.mark.parametrize("value", WIRE_VALUES, ids=ids(WIRE_VALUES))
def test_deserialize_answers_as_boto3(value: Any) -> None:
    assert outcome(dynamo.deserialize, value) == outcome(_boto3_deserialize, value)


PYTHON_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**64,
    10**38 - 1,
    10**38,
    10**39,
    "",
    "text",
    b"",
    b"\x00bytes",
    bytearray(b"ba"),
    Binary(b"boto3 binary"),
    Decimal("0.1"),
    Decimal("1.000"),
    Decimal("-0"),
    Decimal("1E+3"),
    Decimal("1E+126"),
    Decimal("1E+127"),
    Decimal("1E-130"),
    Decimal("12345678901234567890123456789012345678"),
    Decimal("123456789012345678901234567890123456789"),
    Decimal("NaN"),
    Decimal("sNaN"),
    Decimal("-NaN"),
    Decimal("Infinity"),
    Decimal("-Infinity"),
    0.5,
    {1, 2, 3},
    {Decimal("1.5"), 2},
    {"a", "b"},
    {b"a", b"b"},
    {b"a", Binary(b"b")},
    frozenset({"frozen"}),
    set(),
    {1, "a"},
    {1.5},
    {"a": 1}.keys(),
    [],
    (),
    [1, "a", None, [True, {"k": Decimal("2.50")}]],
    ("t", 1),
    {"m": {"n": {"l": [b"x", {"y"}, {Decimal(3)}]}}},
    {1: "a key that is not a string"},
    {"float inside": [0.25]},
    object(),
    complex(1, 2),
    [{"ok": 1}, {"bad": 1.5}],
]


@pytest.mark.parametrize("value", PYTHON_VALUES, ids=ids(PYTHON_VALUES))
def test_serialize_answers_as_boto3(value: Any) -> None:
    assert outcome(dynamo.serialize, value) == outcome(_boto3_serialize, value)


def random_value(rng: random.Random, depth: int = 0) -> Any:
    kinds = ["none", "bool", "int", "decimal", "str", "bytes", "ns", "ss", "bs"]
    if depth < 3:
        kinds += ["list", "map"] * 2
    kind = rng.choice(kinds)
    if kind == "none":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.randint(-(10**40), 10**40) if rng.random() < 0.2 else rng.randint(-999, 999)
    if kind == "decimal":
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 40)))
        return Decimal(f"{rng.choice(['', '-'])}{digits}E{rng.randint(-140, 130)}")
    if kind == "str":
        return "".join(rng.choice("aé🧬 \n0") for _ in range(rng.randint(0, 5)))
    if kind == "bytes":
        return rng.randbytes(rng.randint(0, 4))
    if kind == "ns":
        return {rng.randint(-50, 50) for _ in range(rng.randint(0, 4))}
    if kind == "ss":
        return {rng.choice("abcdef") * rng.randint(1, 3) for _ in range(rng.randint(0, 4))}
    if kind == "bs":
        return {rng.randbytes(2) for _ in range(rng.randint(0, 3))}
    if kind == "list":
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {f"k{i}": random_value(rng, depth + 1) for i in range(rng.randint(0, 4))}


@pytest.mark.parametrize("seed", range(20))
def test_random_values_go_both_ways_as_with_boto3(seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
    for _ in range(50):
        value = random_value(rng)
        ours, theirs = outcome(dynamo.serialize, value), outcome(_boto3_serialize, value)
        assert ours == theirs, value
        if ours[0] == "ok":
            wire = _boto3_serialize(value)
            assert outcome(dynamo.deserialize, wire) == outcome(_boto3_deserialize, wire)


def test_from_dynamodb_json_is_boto3_then_plain() -> None:
    """What the module built on boto3 before: deserialize, then int/float and bytes."""
    wire = {
        "n": {"N": "12345678901234567890123456789012345678"},
        "f": {"N": "0.125"},
        "b64": {"B": "AAEC"},
        "set": {"BS": ["AAE=", "AAI="]},
        "nested": {"M": {"l": {"L": [{"NS": ["1", "2.5"]}, {"B": b"raw"}]}}},
    }
    expected = {
        name: dynamo.plain(_boto3_deserialize(dynamo._from_wire(value)))
        for name, value in wire.items()
    }
    assert exact(dynamo.from_dynamodb_json(wire)) == exact(expected)
    assert dynamo.from_dynamodb_json(wire)["n"] == 12345678901234567890123456789012345678


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("1" + "0" * 125, 10**125),  # found by the fuzz tier: boto3's codec raised Rounded
        ("-25" + "0" * 60, -25 * 10**60),
        ("0." + "0" * 60 + "5", 5e-61),
        ("1" * 38 + "0" * 3, int("1" * 38) * 1000),
        ("1" + "0" * 39, 10**39),
    ],
)
def test_from_dynamodb_json_reads_numbers_dynamodb_stores_written_with_trailing_zeros(
    text: str, number: float
) -> None:
    assert dynamo.from_dynamodb_json({"n": {"N": text}, "s": {"NS": [text]}}) == {
        "n": number,
        "s": {number},
    }


def test_from_dynamodb_json_still_refuses_numbers_dynamodb_cannot_store() -> None:
    with pytest.raises(ArithmeticError):
        dynamo.from_dynamodb_json({"n": {"N": "1" * 39 + "0" * 3}})  # 39 significant digits


def test_plain_still_unwraps_boto3_binary() -> None:
    """Values boto3 read (the local cloud's, the CLI's) may hold its Binary wrapper."""
    assert dynamo.plain({"b": Binary(b"x"), "bs": {Binary(b"y")}}) == {"b": b"x", "bs": {b"y"}}


def test_the_codec_imports_no_boto3() -> None:
    code = "import sys, runledger.dynamo; print(sorted({'boto3', 'botocore'} & set(sys.modules)))"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert child.stdout.strip() == "[]"
