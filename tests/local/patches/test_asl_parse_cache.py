"""The asl_parse_cache patch, proved through boto3 against moto."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from patch_helpers import (
    STATEMACHINES,
    aws,
    create_state_machine,
    output,
    run_execution,
)

from runledger_local.patches import AdaptationBrokenError, LocalCloud, local_aws


# ---------------------------------------------------------------------- asl_parse_cache
def test_asl_parse_cache_builds_a_definition_once_with_every_heap_key_set(
    local_cloud: LocalCloud,
) -> None:
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
    from moto.stepfunctions.parser.asl.parse.asl_parser import (
        AmazonStateLanguageParser,
        ASLParserException,
    )

    definition = (STATEMACHINES / "jsonata_workflow.asl.json").read_text()
    first_program, first_tree = AmazonStateLanguageParser.parse(definition)
    second_program, second_tree = AmazonStateLanguageParser.parse(definition)
    assert second_tree is first_tree
    assert second_program is first_program
    components = _components(first_program, EvalComponent)
    assert len(components) > 50  # the walk reached the Map's inner states too
    assert all(c._EvalComponent__heap_key is not None for c in components)
    with pytest.raises(ASLParserException):
        AmazonStateLanguageParser.parse('{"StartAt": "P", "States": {"P": {"Type": "Nope"}}}')


def test_asl_parse_cache_parses_each_jsonpath_once(local_cloud: LocalCloud) -> None:
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    # The parse ResultPath and extract_json use is a cache that answers one object per path.
    assert result_path.parse("$.result") is result_path.parse("$.result")
    assert json_path.parse("$.items[*].id") is json_path.parse("$.items[*].id")
    # ... and the shared parsed paths still read and write each execution's own data.
    assert json_path.extract_json("$.items[*].id", {"items": [{"id": 1}, {"id": 2}]}) == [1, 2]
    assert json_path.extract_json("$.items[*].id", {"items": [{"id": 3}]}) == [3]
    sfn = aws("stepfunctions")
    definition = {
        "StartAt": "Keep",
        "States": {
            "Keep": {"Type": "Pass", "Result": {"n": 1}, "ResultPath": "$.kept", "End": True}
        },
    }
    arn = create_state_machine(sfn, "result-path", definition)
    for tag in ("a", "b"):
        assert output(run_execution(sfn, arn, {"tag": tag})) == {"tag": tag, "kept": {"n": 1}}


def test_asl_parse_cache_fails_loudly_when_the_engine_stops_importing_parse(
    aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.stepfunctions.parser.asl.component.common.path import result_path

    monkeypatch.setattr(result_path, "parse", lambda string: None)

    with pytest.raises(AdaptationBrokenError, match="'asl_parse_cache'"), local_aws():
        pass


def test_asl_parse_cache_concurrent_executions_of_one_program_stay_independent(
    local_cloud: LocalCloud,
) -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Double",
        "States": {
            "Double": {
                "Type": "Map",
                "Items": "{% $states.input.values %}",
                "MaxConcurrency": 2,
                "ItemProcessor": {
                    "StartAt": "Times",
                    "States": {
                        "Times": {
                            "Type": "Pass",
                            "Output": "{% $states.input * 2 %}",
                            "Next": "Wait",
                        },
                        "Wait": {"Type": "Wait", "Seconds": 0, "End": True},
                    },
                },
                "Assign": {"tag": "{% $states.input.tag %}"},
                "Output": "{% $states.result %}",
                "Next": "Report",
            },
            # Not in the Map's own Output: a state's Output sees the variables from before
            # its Assign (as on AWS), so $tag is read in the next state.
            "Report": {
                "Type": "Pass",
                "Output": "{% {'tag': $tag, 'doubled': $states.input} %}",
                "End": True,
            },
        },
    }
    sfn = aws("stepfunctions")
    arn = create_state_machine(sfn, "shared-program", definition)
    inputs = [{"tag": f"t{n}", "values": list(range(n, n + 5))} for n in range(12)]
    arns = [
        sfn.start_execution(stateMachineArn=arn, input=json.dumps(payload))["executionArn"]
        for payload in inputs
    ]
    outputs = []
    for execution_arn in arns:
        deadline = time.monotonic() + 20
        while (described := sfn.describe_execution(executionArn=execution_arn))[
            "status"
        ] == "RUNNING":
            assert time.monotonic() < deadline, execution_arn
            time.sleep(0.02)
        outputs.append(output(described))
    assert outputs == [
        {"tag": payload["tag"], "doubled": [2 * v for v in payload["values"]]} for payload in inputs
    ]


def _components(root: Any, component_class: type) -> list[Any]:
    found, seen, stack = [], set(), [root]
    while stack:
        value = stack.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, component_class):
            found.append(value)
        if type(value).__module__.startswith("moto.stepfunctions") and hasattr(value, "__dict__"):
            stack.extend(vars(value).values())
        elif isinstance(value, list | tuple | dict):
            stack.extend(value.values() if isinstance(value, dict) else value)
    return found
