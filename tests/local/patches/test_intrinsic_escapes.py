"""The intrinsic_escapes patch, proved through boto3 against moto.

Expected answer: AWS's "Intrinsic functions" page (only ``\\'``, ``\\{``, ``\\}``, ``\\\\``
escape in an intrinsic string literal) and LocalStack's AWS-validated scenario
test_escape_sequences_illegal_intrinsic_function: CreateStateMachine answers
InvalidDefinition for a literal escaping ``"``.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from patch_helpers import aws, create_state_machine, output, run_execution

from runledger_local.patches import LocalCloud
from runledger_local.patches.fixes.intrinsic_escapes import illegal_escapes


def _pass(expression: str, *, result: bool = False) -> dict[str, Any]:
    field = "Result" if result else "Parameters"
    state = {"Type": "Pass", field: {"value.$": expression}, "End": True}
    return {"StartAt": "Escape", "States": {"Escape": state}}


@pytest.mark.parametrize(
    "expression",
    [
        # LocalStack's two AWS-validated illegal cases, as the definition's JSON decodes them.
        'States.StringToJson(\'{"text":"An \\"escaped double quote\\" here"}\')',
        "States.Format('He said, \\\"Hello, {}!\\\"', 'Test \\\"Name\\\" Here')",
        "States.Format('{} \\\\ \\t', 'x')",  # \\ is an escape, backslash-t is none
    ],
    ids=["string_to_json_quote", "format_quote", "format_tab"],
)
def test_intrinsic_escapes_refuses_an_illegal_escape_at_create(
    local_cloud: LocalCloud, expression: str
) -> None:
    sfn = aws("stepfunctions")

    with pytest.raises(ClientError) as raised:
        create_state_machine(sfn, "illegal-escape", _pass(expression))

    error = raised.value.response["Error"]
    assert error["Code"] == "InvalidDefinition"
    assert error["Message"].startswith("Invalid State Machine Definition: ")
    assert "Illegal escape sequence" in error["Message"]
    assert not sfn.list_state_machines()["stateMachines"]


@pytest.mark.parametrize(
    "expression",
    [
        "States.Format('it\\'s {}', 'x')",
        "States.Format('\\{literal\\} {}', 'x')",
        "States.Format('a \\\\ {}', 'x')",
    ],
    ids=["quote", "braces", "backslash"],
)
def test_intrinsic_escapes_accepts_the_four_legal_escapes(
    local_cloud: LocalCloud, expression: str
) -> None:
    sfn = aws("stepfunctions")

    create_state_machine(sfn, "legal-escape", _pass(expression))

    assert len(sfn.list_state_machines()["stateMachines"]) == 1


def test_intrinsic_escapes_takes_a_json_escaped_quote_as_a_plain_quote(
    local_cloud: LocalCloud,
) -> None:
    # The definition's JSON writes the quotes as \" (LocalStack's AWS-validated
    # test_json_merge_escaped_argument does): no escape of the intrinsic function.
    sfn = aws("stepfunctions")
    arn = create_state_machine(sfn, "json-quote", _pass('States.StringToJson(\'{"a": "b"}\')'))

    assert output(run_execution(sfn, arn, {})) == {"value": {"a": "b"}}


def test_intrinsic_escapes_leaves_a_result_field_alone(local_cloud: LocalCloud) -> None:
    sfn = aws("stepfunctions")
    text = 'States.StringToJson(\'{"text":"An \\"escaped\\" here"}\')'
    arn = create_state_machine(sfn, "result-escape", _pass(text, result=True))

    assert output(run_execution(sfn, arn, {})) == {"value.$": text}  # Result is not evaluated


def test_illegal_escapes_reads_each_escape_once() -> None:
    assert illegal_escapes("a\\\\nb") == []  # an escaped backslash, then a plain n
    assert illegal_escapes("a\\\\\\nb") == ["\\n"]
    assert illegal_escapes("\\'\\{\\}") == []
