"""Admission: a request file PutItem would refuse is refused before the cloud starts,
with the attribute named (runledger_local.admission, runledger_local.dynamodb_rules)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from runledger_cli.sam_template import REPO_ROOT, load_both
from runledger_local.admission import request_problem

VALID = json.loads((REPO_ROOT / "events" / "requests" / "kmer-valid-local.json").read_text())


def nested(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = {"a": value}
    return value


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_both()[0]


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"pk": ""}, "the table's key attribute 'pk' must not be empty (PutItem refuses it)"),
        (
            {"pk": "RUN#" + "x" * 2045},
            "the table's key attribute 'pk' is 2,049 bytes; DynamoDB takes at most 2,048 for "
            "a partition key",
        ),
        (
            {"sk": "R" * 1025},
            "the table's key attribute 'sk' is 1,025 bytes; DynamoDB takes at most 1,024 for a "
            "sort key",
        ),
        (
            {"notes": "x" * 410_000},
            "the item is 410,",  # the rest is the size, then the limit
        ),
        # In words: it said "(inexact: ...", decimal's signal (a Python class) lowercased.
        ({"n": int("1" * 40)},
         "attribute 'n' holds a number DynamoDB cannot store (too many digits: at most 38"),
        ({"n": 10**127}, "attribute 'n' holds a number DynamoDB cannot store (too large: "),
        ({"n": 1e-200}, "attribute 'n' holds a number DynamoDB cannot store (too small: "),
        ({"": "x"}, "an attribute has an empty name (PutItem refuses it)"),
        ({"deep": nested(33)},
         "attribute 'deep': Nesting Levels have exceeded supported limits"),
    ],
)  # fmt: skip
def test_an_item_putitem_would_refuse_is_refused_naming_the_attribute(
    template: dict[str, Any], changes: dict[str, Any], problem: str
) -> None:
    found = request_problem(template, {**VALID, **changes})

    assert found is not None
    assert found.startswith(problem), found


def test_an_item_at_the_limits_is_admitted(template: dict[str, Any]) -> None:
    # 390 KB: under DynamoDB's 400 KB; the pipe sends only the key, so no input limit binds.
    at_limits = {**VALID, "pk": "RUN#" + "x" * 2044, "n": int("1" * 38), "notes": "x" * 390_000}

    assert request_problem(template, at_limits) is None


def test_an_item_whose_pipe_input_would_exceed_256_kb_is_refused(template: dict[str, Any]) -> None:
    """Read from the template: a pipe that sent the whole item would make an input
    StartExecution refuses, and the record would go to the DLQ."""
    whole_item = copy.deepcopy(template)
    target = whole_item["Resources"]["RunsPipe"]["Properties"]["TargetParameters"]
    target["InputTemplate"] = '{"pk": "<$.dynamodb.Keys.pk.S>", "image": <$.dynamodb.NewImage>}'

    found = request_problem(whole_item, {**VALID, "notes": "x" * 270_000})

    assert found is not None
    assert found.startswith("the pipe runledger-local-RunsPipe would start its run with an input")
    assert "StartExecution takes at most 262,144" in found
    assert request_problem(whole_item, {**VALID, "notes": "x" * 250_000}) is None
    assert request_problem(template, {**VALID, "notes": "x" * 270_000}) is None
