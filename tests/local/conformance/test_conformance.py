"""The project's conformance tier: state machines answered as AWS answers them.

Each file in ``cases/`` is one case, as data: a definition (JSONata, as the project's
workflow is, unless the case says otherwise), an input, what it needs in the cloud
(``setup``: boto3 calls, in order; ``functions``: Lambda handlers by name, as Python
source), AWS's answer (``expect``: the execution's final status and its output, or its
error and cause) and ``source``, where that answer comes from (an AWS documentation page,
or an answer AWS recorded: LocalStack's AWS-validated snapshot tests, by test id). The
cases cover every state type, integration and error path of statemachines/
run_workflow.asl.json (``test_the_cases_cover_the_workflow`` keeps it so).

In ``expect`` a string may hold placeholders for what differs from run to run:
``<uuid>``, ``<request-id>``, ``<arn-id>`` (the random part of an ARN) and ``<any>``; a
``{"json": ...}`` matches a string holding that JSON. A mismatch names the case and the
first difference.

``make test`` runs the cases marked ``"fast": true``; ``make conformance`` runs them all.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from runledger_local.patches import LocalCloud

CASES = Path(__file__).with_name("cases")
WORKFLOW = Path(__file__).parents[3] / "statemachines" / "run_workflow.asl.json"
ROLE_ARN = "arn:aws:iam::123456789012:role/conformance"
REGION = "us-east-1"
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
PLACEHOLDERS = {
    "<uuid>": r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    "<request-id>": r"[A-Za-z0-9-]+",
    "<arn-id>": r"[A-Za-z0-9-]+",
    "<any>": r"(?s:.*)",
}
_PLACEHOLDER = re.compile("|".join(map(re.escape, PLACEHOLDERS)))


def load_cases() -> list[dict[str, Any]]:
    cases = []
    for path in sorted(CASES.glob("*.json")):
        case = json.loads(path.read_text())
        case["name"] = path.stem
        cases.append(case)
    return cases


def case_params() -> list[Any]:
    return [
        pytest.param(
            case, id=case["name"], marks=[] if case.get("fast") else [pytest.mark.conformance]
        )
        for case in load_cases()
    ]


def first_difference(expected: Any, actual: Any, path: str = "$") -> str | None:
    """Where ``actual`` first departs from ``expected`` (placeholders allowed), or None."""
    if expected == "<any>":
        return None
    if isinstance(expected, dict) and set(expected) == {"json"} and isinstance(actual, str):
        try:
            parsed = json.loads(actual)
        except ValueError:
            return f"{path}: AWS has JSON, the engine {actual!r}"
        return first_difference(expected["json"], parsed, f"{path}(json)")
    if isinstance(expected, str) and _PLACEHOLDER.search(expected) and isinstance(actual, str):
        pattern = "".join(
            PLACEHOLDERS.get(part, re.escape(part))
            for part in re.split(f"({_PLACEHOLDER.pattern})", expected)
        )
        return (
            None
            if re.fullmatch(pattern, actual)
            else f"{path}: AWS {expected!r}, engine {actual!r}"
        )
    if type(expected) is not type(actual):
        return f"{path}: AWS {expected!r}, engine {actual!r}"
    if isinstance(expected, dict):
        for key in [*expected, *(k for k in actual if k not in expected)]:
            if key not in actual:
                return f"{path}.{key}: missing in the engine (AWS: {expected[key]!r})"
            if key not in expected:
                return f"{path}.{key}: only in the engine ({actual[key]!r})"
            found = first_difference(expected[key], actual[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(expected, list):
        if len(expected) != len(actual):
            return f"{path}: AWS has {len(expected)} items, the engine {len(actual)}"
        for index, (a, b) in enumerate(zip(expected, actual, strict=True)):
            found = first_difference(a, b, f"{path}[{index}]")
            if found:
                return found
        return None
    return None if expected == actual else f"{path}: AWS {expected!r}, engine {actual!r}"


def final_answer(described: dict[str, Any]) -> dict[str, Any]:
    """The execution's end as the cases state AWS's: status, then output or error/cause."""
    answer: dict[str, Any] = {"status": described["status"]}
    if described["status"] == "SUCCEEDED":
        answer["output"] = json.loads(described["output"])
    else:
        answer["error"] = described.get("error")
        answer["cause"] = described.get("cause")
    return answer


def run_case(case: dict[str, Any], cloud: LocalCloud, workdir: Path) -> dict[str, Any]:
    for name, source in case.get("functions", {}).items():
        code = workdir / "functions" / name
        code.mkdir(parents=True)
        (code / "app.py").write_text(source)
        cloud.register_function(name, code_dir=code)
    for call in case.get("setup", []):
        client = boto3.client(call["client"], region_name=REGION)
        getattr(client, call["call"])(**call.get("params", {}))
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine = sfn.create_state_machine(
        name=case["name"], definition=json.dumps(case["definition"]), roleArn=ROLE_ARN
    )["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps(case.get("input", {})))[
        "executionArn"
    ]
    deadline = time.monotonic() + float(case.get("timeout", 30))
    while (described := sfn.describe_execution(executionArn=arn))["status"] not in TERMINAL:
        if time.monotonic() > deadline:
            pytest.fail(f"case {case['name']}: still {described['status']} after the timeout")
        time.sleep(0.02)
    return final_answer(described)


@pytest.mark.parametrize("case", case_params())
def test_the_engine_answers_as_aws(
    case: dict[str, Any], local_cloud: LocalCloud, tmp_path: Path
) -> None:
    assert case["source"], f"case {case['name']} does not say where AWS's answer comes from"

    actual = run_case(case, local_cloud, tmp_path)

    difference = first_difference(case["expect"], actual)
    assert difference is None, f"case {case['name']}: {difference} (source: {case['source']})"


def _workflow_paths() -> set[str]:
    """Every state type, integration and caught or retried error of the workflow."""
    paths: set[str] = set()

    def walk(states: dict[str, Any]) -> None:
        for state in states.values():
            paths.add(f"state:{state['Type']}")
            if "Resource" in state:
                paths.add("resource:" + state["Resource"].split(":::", 1)[1])
            if state.get("Catch"):
                paths.add("catch:" + state["Type"])
            if state.get("Retry"):
                paths.add("retry:" + state["Type"])
            for catcher in state.get("Catch", []):
                paths.update(f"error:{e}" for e in catcher["ErrorEquals"] if e != "States.ALL")
            for branch in state.get("Branches", []):
                walk(branch["States"])
            if "ItemProcessor" in state:
                walk(state["ItemProcessor"]["States"])

    walk(json.loads(WORKFLOW.read_text())["States"])
    return paths


def test_the_cases_cover_the_workflow() -> None:
    covered = {path for case in load_cases() for path in case.get("covers", [])}

    missing = _workflow_paths() - covered

    assert not missing, f"no conformance case covers {sorted(missing)}"


def test_a_mismatch_names_the_first_difference() -> None:
    expected = {"status": "FAILED", "error": "States.Runtime", "cause": "<any>"}

    found = first_difference(
        expected, {"status": "FAILED", "error": "States.Timeout", "cause": "x"}
    )

    assert found == "$.error: AWS 'States.Runtime', engine 'States.Timeout'"
    assert first_difference({"c": {"json": {"a": "<uuid>"}}}, {"c": '{"a": "nope"}'}) == (
        "$.c(json).a: AWS '<uuid>', engine 'nope'"
    )
    assert first_difference(["Request ID: <request-id>;"], ["Request ID: ab-1;"]) is None
