"""The item_batcher patch, proved through boto3 against moto.

Expected answers: LocalStack's AWS-validated
test_reference_in_map_state_max_items_path[MAP_STATE_REFERENCE_IN_MAX_PER_BATCH_PATH]
(its recorded output is the first test's), and AWS's "ItemBatcher (Map)" page: each
child gets ``{"Items": [...]}`` (and ``"BatchInput"``), at most MaxItemsPerBatch items
and MaxInputBytesPerBatch bytes; in JSONata the fields may be expressions.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from patch_helpers import aws, create_state_machine, output, run_execution

from runledger_local.patches import LocalCloud
from runledger_local.patches.features.item_batcher import (
    MARKER,
    batches,
    carry_item_batchers,
    uncarried,
)

_STATEMENTS = [
    {"verdict": "true", "statement_date": "6/11/2008", "statement_source": "speech"},
    {"verdict": "false", "statement_date": "6/7/2022", "statement_source": "television"},
    {"verdict": "mostly-true", "statement_date": "5/18/2016", "statement_source": "news"},
    {"verdict": "false", "statement_date": "5/18/2024", "statement_source": "x"},
]
_PASS_BATCH = {"StartAt": "ProcessBatch", "States": {"ProcessBatch": {"Type": "Pass", "End": True}}}


def _processor(mode: str = "DISTRIBUTED") -> dict[str, Any]:
    config = {"Mode": mode, "ExecutionType": "STANDARD"} if mode == "DISTRIBUTED" else {}
    return {"ProcessorConfig": {"Mode": mode, **config}, **_PASS_BATCH}


def _map(batcher: Any, *, jsonata: bool = False, **fields: Any) -> dict[str, Any]:
    state = {"Type": "Map", "ItemBatcher": batcher, "ItemProcessor": _processor(), "End": True}
    state.update(fields)
    machine: dict[str, Any] = {"StartAt": "BatchMapState", "States": {"BatchMapState": state}}
    if jsonata:
        machine["QueryLanguage"] = "JSONata"
    return machine


def _run(local_cloud: LocalCloud, definition: dict[str, Any], payload: Any) -> Any:
    del local_cloud
    sfn = aws("stepfunctions")
    return output(run_execution(sfn, create_state_machine(sfn, "batcher", definition), payload))


def test_item_batcher_reads_its_limits_from_variables_as_aws_recorded(
    local_cloud: LocalCloud,
) -> None:
    # LocalStack's MAP_STATE_REFERENCE_IN_MAX_PER_BATCH_PATH, as AWS answered it: the
    # variables hold strings, and "2" is two items per batch.
    s3 = aws("s3")
    s3.create_bucket(Bucket="bucket-name")
    s3.put_object(Bucket="bucket-name", Key="file.json", Body=json.dumps(_STATEMENTS))
    batch_map = _map(
        {
            "MaxItemsPerBatchPath": "$maxItemsPerBatch",
            "MaxInputBytesPerBatchPath": "$maxBytesPerBatch",
        },
        MaxConcurrency=1,
        ItemReader={
            "ReaderConfig": {"InputType": "JSON", "MaxItems": 4},
            "Resource": "arn:aws:states:::s3:getObject",
            "Parameters": {"Bucket.$": "$.Bucket", "Key.$": "$.Key"},
        },
    )["States"]["BatchMapState"]
    definition = {
        "StartAt": "Start",
        "States": {
            "Start": {
                "Type": "Pass",
                "Assign": {"maxItemsPerBatch": "2", "maxBytesPerBatch": "15000"},
                "Next": "BatchMapState",
            },
            "BatchMapState": batch_map,
        },
    }

    result = _run(local_cloud, definition, {"Bucket": "bucket-name", "Key": "file.json"})

    assert result == [{"Items": _STATEMENTS[:2]}, {"Items": _STATEMENTS[2:]}]


def test_item_batcher_evaluates_jsonata_limits_and_batch_input(local_cloud: LocalCloud) -> None:
    definition = _map(
        {
            "MaxItemsPerBatch": "{% $states.input.size %}",
            "MaxInputBytesPerBatch": "{% $states.input.bytes %}",
            "BatchInput": {"label": "{% $states.input.label %}", "fixed": 1},
        },
        jsonata=True,
        Items="{% $states.input.items %}",
    )

    result = _run(
        local_cloud, definition, {"size": 3, "bytes": 10000, "label": "L", "items": list(range(7))}
    )

    batch_input = {"label": "L", "fixed": 1}
    assert result == [
        {"Items": [0, 1, 2], "BatchInput": batch_input},
        {"Items": [3, 4, 5], "BatchInput": batch_input},
        {"Items": [6], "BatchInput": batch_input},
    ]


def test_item_batcher_applies_a_jsonpath_batch_input_template_and_the_item_selector_per_item(
    local_cloud: LocalCloud,
) -> None:
    definition = _map(
        {"MaxItemsPerBatch": 2, "BatchInput": {"run.$": "$.run", "kind": "batch"}},
        ItemsPath="$.items",
        ItemSelector={"value.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index"},
    )

    result = _run(local_cloud, definition, {"run": "r-1", "items": ["a", "b", "c"]})

    batch_input = {"run": "r-1", "kind": "batch"}
    assert result == [
        {
            "Items": [{"value": "a", "index": 0}, {"value": "b", "index": 1}],
            "BatchInput": batch_input,
        },
        {"Items": [{"value": "c", "index": 2}], "BatchInput": batch_input},
    ]


def test_item_batcher_keeps_each_batch_under_its_byte_limit(local_cloud: LocalCloud) -> None:
    items = ["x" * 40] * 5  # 42 bytes each as JSON
    # {"Items":[...]} is 12 bytes, each further item 43: two items are 97 bytes, three 140.
    definition = _map({"MaxInputBytesPerBatch": 100}, ItemsPath="$")

    result = _run(local_cloud, definition, items)

    assert [len(batch["Items"]) for batch in result] == [2, 2, 1]


def test_item_batcher_keeps_definitions_that_differ_only_in_their_batcher_apart(
    local_cloud: LocalCloud,
) -> None:
    sfn = aws("stepfunctions")
    two = create_state_machine(sfn, "two", _map({"MaxItemsPerBatch": 2}, ItemsPath="$"))
    three = create_state_machine(sfn, "three", _map({"MaxItemsPerBatch": 3}, ItemsPath="$"))

    assert output(run_execution(sfn, two, [1, 2, 3])) == [{"Items": [1, 2]}, {"Items": [3]}]
    assert output(run_execution(sfn, three, [1, 2, 3])) == [{"Items": [1, 2, 3]}]


def test_item_batcher_fails_the_state_on_a_limit_that_is_no_positive_integer(
    local_cloud: LocalCloud,
) -> None:
    sfn = aws("stepfunctions")
    definition = _map({"MaxItemsPerBatchPath": "$.size"}, ItemsPath="$.items")
    arn = create_state_machine(sfn, "bad-size", definition)

    described = run_execution(sfn, arn, {"size": "many", "items": [1]})

    assert described["status"] == "FAILED"
    assert described["error"] == "States.Runtime"
    assert "MaxItemsPerBatch" in described["cause"]


@pytest.mark.parametrize(
    ("batcher", "jsonata", "mode", "message"),
    [
        ({"MaxItemsPerBatch": 2, "MaxItemsPerBatchPath": "$.n"}, False, "DISTRIBUTED", "both"),
        ({"MaxItemsPerBatch": 0}, False, "DISTRIBUTED", "positive integer"),
        ({"MaxItemsPerBatch": "{% 2 %}"}, False, "DISTRIBUTED", "positive integer"),
        ({"MaxItemsPerBatchPath": "$.n"}, True, "DISTRIBUTED", "not supported in JSONata"),
        ({"MaxItemsPerBatch": 2}, False, "INLINE", "DISTRIBUTED"),
        ({"MaxItems": 2}, False, "DISTRIBUTED", "not supported"),
    ],
    ids=["both", "zero", "jsonata_in_jsonpath", "path_in_jsonata", "inline", "unknown_field"],
)
def test_item_batcher_refuses_what_is_no_item_batcher_at_create(
    local_cloud: LocalCloud, batcher: dict[str, Any], jsonata: bool, mode: str, message: str
) -> None:
    sfn = aws("stepfunctions")
    definition = _map(batcher, jsonata=jsonata, ItemProcessor=_processor(mode))

    with pytest.raises(ClientError) as raised:
        create_state_machine(sfn, "bad-batcher", definition)

    error = raised.value.response["Error"]
    assert error["Code"] == "InvalidDefinition"
    assert message in error["Message"]


def test_carry_item_batchers_moves_each_batcher_into_its_comment_and_back() -> None:
    inner = _map({"MaxItemsPerBatch": 5}, Comment="inner's own")
    definition = _map({"MaxItemsPerBatch": 2}, ItemProcessor={**_processor(), **inner})

    carried = json.loads(carry_item_batchers(json.dumps(definition)))

    outer_state = carried["States"]["BatchMapState"]
    inner_state = outer_state["ItemProcessor"]["States"]["BatchMapState"]
    assert "ItemBatcher" not in outer_state
    assert "ItemBatcher" not in inner_state
    assert outer_state["Comment"].startswith(MARKER)
    assert uncarried(outer_state["Comment"]) == ({"MaxItemsPerBatch": 2}, None)
    assert uncarried(inner_state["Comment"]) == ({"MaxItemsPerBatch": 5}, "inner's own")
    assert uncarried("a plain comment") is None
    plain = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    assert carry_item_batchers(plain) is plain


def test_batches_fills_each_batch_up_to_both_limits() -> None:
    assert batches([1, 2, 3, 4, 5], max_items=2, max_bytes=1000) == [
        {"Items": [1, 2]},
        {"Items": [3, 4]},
        {"Items": [5]},
    ]
    # {"Items":[1,2]} is 15 bytes: a third item would make 17.
    assert batches([1, 2, 3], max_items=None, max_bytes=15) == [{"Items": [1, 2]}, {"Items": [3]}]
    assert batches(["too large"], max_items=None, max_bytes=5) == [{"Items": ["too large"]}]
    assert batches([], max_items=1, max_bytes=100) == []


def test_item_batcher_a_refused_jsonata_batcher_leaves_later_jsonpath_definitions_alone(
    local_cloud: LocalCloud,
) -> None:
    # moto's Preprocessor shares its QueryLanguage scopes between parses and popped them
    # only on success: a refusal inside a JSONata machine made every later JSONPath
    # definition "Unsupported declaration in QueryLanguage=JSONPath block".
    sfn = aws("stepfunctions")
    with pytest.raises(ClientError):
        create_state_machine(sfn, "refused", _map({"MaxItemsPerBatchPath": "$.n"}, jsonata=True))
    later = {
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Parameters": {"a.$": "$.a"}, "End": True}},
    }

    arn = create_state_machine(sfn, "later", later)

    assert output(run_execution(sfn, arn, {"a": 1})) == {"a": 1}
