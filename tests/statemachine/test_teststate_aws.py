"""Optional tier, ``pytest -m aws``: the same test cases through the AWS TestState API.

Each test case of MockConfigFile.json is walked state by state with TestState (``stateName``
in the full, template-resolved definition): a Task gets its next mocked outcome as ``mock``
(``result`` or ``errorOutput``), numbered by invocation as on Step Functions Local; a Map
state's items are selected by its ItemSelector (a Pass state of that Output, tested with the
item in its context), its iterations walked through its ItemProcessor, and the Map is then
tested with their outputs as its mocked result. The walk must enter the same states, end the
same way and cost the same transitions as the local execution of the case. Needs AWS
credentials (a profile or environment variables; ``SFN_TEST_ROLE_ARN`` optionally names the
role TestState assumes); skipped with the reason otherwise. ``make test`` leaves it out
(``-m "not aws"``).

The walker is also exercised offline, against botocore's Stubber (requests checked against the
TestState API model), for two short paths and a Map with an ItemSelector.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from sfn_harness import PIPE_INPUT, STATE_MACHINE_NAME, Workflow, case_mocks, mocked_responses

#: The host's AWS settings, read before the suite's autouse fixture swaps in fake credentials.
_HOST_AWS_ENV = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
#: The Pass state the walker evaluates a Map's ItemSelector in.
ITEM_SELECTOR = "ItemSelector"


@dataclass
class Walk:
    """A test case walked through TestState."""

    entered: list[str] = field(default_factory=list)
    transitions: int = 0
    status: str = "RUNNING"
    output: Any = None
    error: str | None = None
    cause: str | None = None


class TestStateWalker:
    """Drives one test case through the TestState API, state by state."""

    __test__ = False  # not a pytest test class

    def __init__(self, sfn: Any, definition: Mapping[str, Any], case: str) -> None:
        self.sfn = sfn
        self.definition = definition
        self.case = case
        self.invocations: Counter[str] = Counter()
        self.execution_id = (
            f"arn:aws:states:us-east-1:123456789012:execution:{STATE_MACHINE_NAME}:{uuid.uuid4()}"
        )
        self.walk = Walk()

    def run(self, execution_input: Any) -> Walk:
        status, output, error, cause = self._machine(self.definition, execution_input, {})
        self.walk.status, self.walk.output = status, output if status == "SUCCEEDED" else None
        self.walk.error, self.walk.cause = error, cause
        return self.walk

    # One state machine (or a Map's ItemProcessor), from StartAt to its end.
    def _machine(
        self, machine: Mapping[str, Any], state_input: Any, variables: dict[str, Any]
    ) -> tuple[str, Any, str | None, str | None]:
        name: str | None = machine["StartAt"]
        while name is not None:
            self.walk.entered.append(name)
            self.walk.transitions += 1
            answer = self._state(machine, name, state_input, variables)
            if answer["status"] == "FAILED":
                return "FAILED", None, answer.get("error"), answer.get("cause")
            state_input = json.loads(answer["output"]) if answer.get("output") else None
            inspected = answer.get("inspectionData", {}).get("variables")
            if inspected:
                variables = json.loads(inspected)
            name = answer.get("nextState")
        return "SUCCEEDED", state_input, None, None

    def _state(
        self, machine: Mapping[str, Any], name: str, state_input: Any, variables: dict[str, Any]
    ) -> dict[str, Any]:
        state = machine["States"][name]
        request: dict[str, Any] = {
            "definition": json.dumps({**self.definition, **machine}),
            "stateName": name,
            "input": json.dumps(state_input),
            "variables": json.dumps(variables),
            "inspectionLevel": "DEBUG",
        }
        if os.environ.get("SFN_TEST_ROLE_ARN"):
            request["roleArn"] = os.environ["SFN_TEST_ROLE_ARN"]
        if state["Type"] == "Map":
            request["mock"] = self._map_result(name, state, state_input, variables)
            request["context"] = self._context(name, 0)
            return dict(self.sfn.test_state(**request))
        if state["Type"] != "Task":
            return dict(self.sfn.test_state(**request))
        retry = 0
        while True:
            outcome = mocked_responses(self.case, name)[self.invocations[name]]
            self.invocations[name] += 1
            request["mock"] = (
                {"result": json.dumps(outcome["Return"]), "fieldValidationMode": "PRESENT"}
                if "Return" in outcome
                else {
                    "errorOutput": {
                        "error": outcome["Throw"]["Error"],
                        "cause": outcome["Throw"]["Cause"],
                    }
                }
            )
            request["context"] = self._context(name, retry)
            request["stateConfiguration"] = {"retrierRetryCount": retry}
            answer = dict(self.sfn.test_state(**request))
            if answer["status"] != "RETRIABLE":
                return answer
            retry += 1
            self.walk.transitions += 1  # a retry is a billed transition

    def _map_result(
        self, name: str, state: Mapping[str, Any], state_input: Any, variables: dict[str, Any]
    ) -> dict[str, Any]:
        if state.get("Items") != "{% $states.input %}":
            raise NotImplementedError("the walker maps over the state input only")
        processor = state["ItemProcessor"]
        inner = {"StartAt": processor["StartAt"], "States": processor["States"]}
        outputs = []
        for item in self._select_items(name, state, state_input, variables):
            status, output, error, cause = self._machine(inner, item, dict(variables))
            if status == "FAILED":
                return {"errorOutput": {"error": error or "", "cause": cause or ""}}
            outputs.append(output)
        return {"result": json.dumps(outputs), "fieldValidationMode": "NONE"}

    def _select_items(
        self, name: str, state: Mapping[str, Any], state_input: Any, variables: dict[str, Any]
    ) -> list[Any]:
        """Each iteration's input: the item through the Map's ItemSelector, evaluated by
        TestState as the Output of a Pass state whose context holds the item (Map.Item)."""
        selector = state.get("ItemSelector")
        if selector is None:
            return list(state_input)
        selection = {
            "QueryLanguage": self.definition.get("QueryLanguage", "JSONPath"),
            "StartAt": ITEM_SELECTOR,
            "States": {ITEM_SELECTOR: {"Type": "Pass", "Output": selector, "End": True}},
        }
        selected = []
        for index, item in enumerate(state_input):
            request: dict[str, Any] = {
                "definition": json.dumps(selection),
                "stateName": ITEM_SELECTOR,
                "input": json.dumps(state_input),
                "variables": json.dumps(variables),
                "inspectionLevel": "DEBUG",
                "context": self._context(name, 0, {"Index": index, "Value": item}),
            }
            if os.environ.get("SFN_TEST_ROLE_ARN"):
                request["roleArn"] = os.environ["SFN_TEST_ROLE_ARN"]
            answer = dict(self.sfn.test_state(**request))
            if answer["status"] != "SUCCEEDED":
                raise AssertionError(f"{name}: ItemSelector failed on item {index}: {answer}")
            selected.append(json.loads(answer["output"]))
        return selected

    def _context(self, state: str, retry: int, item: Mapping[str, Any] | None = None) -> str:
        now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        context: dict[str, Any] = {
            "Execution": {"Id": self.execution_id, "Name": self.execution_id.rsplit(":")[-1]},
            "State": {"Name": state, "EnteredTime": now, "RetryCount": retry},
            "StateMachine": {"Name": STATE_MACHINE_NAME},
        }
        if item is not None:
            context["Map"] = {"Item": dict(item)}
        return json.dumps(context)


# ------------------------------------------------------------------------ the aws tier
@pytest.fixture(scope="module")
def aws_stepfunctions() -> Any:
    """A Step Functions client on the host's real credentials, or skip saying why.

    Module-scoped and listed before ``workflow`` so a skip comes before the local cloud starts.
    """
    with pytest.MonkeyPatch.context() as env:
        for name in [n for n in os.environ if n.startswith("AWS_")]:
            env.delenv(name)
        for name, value in _HOST_AWS_ENV.items():
            env.setenv(name, value)
        session = boto3.Session()
        credentials = session.get_credentials()
        if credentials is None:
            pytest.skip("no AWS credentials (profile or AWS_* variables) for the TestState tier")
        frozen = credentials.get_frozen_credentials()
        if frozen.access_key == "testing":
            pytest.skip("only the fake 'testing' credentials are set; TestState needs real ones")
        region = session.region_name or "us-east-1"
    return boto3.client(
        "stepfunctions",
        region_name=region,
        aws_access_key_id=frozen.access_key,
        aws_secret_access_key=frozen.secret_key,
        aws_session_token=frozen.token,
    )


@pytest.mark.aws
@pytest.mark.parametrize("case", sorted(case_mocks()))
def test_case_walks_the_same_path_through_the_teststate_api(
    case: str, aws_stepfunctions: Any, workflow: Workflow
) -> None:
    local = workflow.run(case)
    walker = TestStateWalker(aws_stepfunctions, workflow.definition, case)
    walk = walker.run(json.loads(PIPE_INPUT.read_text()))

    assert walk.entered == local.entered
    assert (walk.status, walk.error, walk.cause) == (local.status, local.error, local.cause)
    assert walk.output == local.output
    assert walk.transitions == local.transitions


# ------------------------------------------------------------- the walker, offline
DEFINITION: dict[str, Any] = {
    "QueryLanguage": "JSONata",
    "StartAt": "StartRun",
    "States": {
        "StartRun": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke"},
        "AlreadyClaimed": {"Type": "Succeed"},
        "RecordFailure": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:updateItem"},
        "RunFailed": {"Type": "Fail"},
    },
}
ITEM_SELECTOR_OUTPUT = {
    "variant": "{% $states.context.Map.Item.Value %}",
    "job_name": "{% $run.job_name_prefix & '-' & $states.context.Map.Item.Value.name %}",
}
MAP_DEFINITION: dict[str, Any] = {
    "QueryLanguage": "JSONata",
    "StartAt": "RunVariants",
    "States": {
        "RunVariants": {
            "Type": "Map",
            "Items": "{% $states.input %}",
            "ItemSelector": ITEM_SELECTOR_OUTPUT,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "RunJob",
                "States": {
                    "RunJob": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::batch:submitJob.sync",
                        "End": True,
                    }
                },
            },
            "End": True,
        }
    },
}


class JSONText:
    """Equals a JSON text that holds at least ``expected`` (a Stubber parameter matcher)."""

    def __init__(self, expected: Mapping[str, Any]) -> None:
        self.expected = expected

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, str):
            return False
        found = json.loads(other)
        return isinstance(found, dict) and all(found.get(k) == v for k, v in self.expected.items())

    def __repr__(self) -> str:
        return f"<JSON text with {self.expected!r}>"


def _expect(stub: Stubber, state: str, answer: dict[str, Any], mock: Any = None) -> None:
    expected: dict[str, Any] = {
        "definition": ANY,
        "stateName": state,
        "input": ANY,
        "variables": ANY,
        "inspectionLevel": "DEBUG",
    }
    if mock is not None:
        expected |= {"mock": mock, "context": ANY, "stateConfiguration": {"retrierRetryCount": 0}}
    stub.add_response("test_state", answer, expected)


def _return(case: str, state: str, invocation: int = 0) -> dict[str, Any]:
    returned = mocked_responses(case, state)[invocation]["Return"]
    return {"result": json.dumps(returned), "fieldValidationMode": "PRESENT"}


def _throw(case: str, state: str) -> dict[str, Any]:
    thrown = mocked_responses(case, state)[0]["Throw"]
    return {"errorOutput": {"error": thrown["Error"], "cause": thrown["Cause"]}}


def test_walker_sends_each_states_mock_and_follows_a_caught_error() -> None:
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    thrown = mocked_responses("DuplicateDelivery", "StartRun")[0]["Throw"]
    caught = {"Error": thrown["Error"], "Cause": thrown["Cause"]}
    with Stubber(sfn) as stub:
        _expect(
            stub,
            "StartRun",
            {"status": "CAUGHT_ERROR", "nextState": "AlreadyClaimed", "output": json.dumps(caught)},
            _throw("DuplicateDelivery", "StartRun"),
        )
        _expect(stub, "AlreadyClaimed", {"status": "SUCCEEDED", "output": json.dumps(caught)})
        walk = TestStateWalker(sfn, DEFINITION, "DuplicateDelivery").run([{"pk": "RUN#1"}])
        stub.assert_no_pending_responses()

    assert caught["Error"] == "AlreadyClaimed"
    assert walk == Walk(["StartRun", "AlreadyClaimed"], 2, "SUCCEEDED", caught, None, None)


def test_walker_ends_failed_with_the_fail_states_error() -> None:
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    case = "StartRunFails"
    with Stubber(sfn) as stub:
        _expect(
            stub,
            "StartRun",
            {"status": "CAUGHT_ERROR", "nextState": "RecordFailure", "output": "{}"},
            _throw(case, "StartRun"),
        )
        _expect(
            stub,
            "RecordFailure",
            {"status": "SUCCEEDED", "nextState": "RunFailed", "output": "{}"},
            _return(case, "RecordFailure"),
        )
        _expect(stub, "RunFailed", {"status": "FAILED", "error": "Sandbox.Timedout", "cause": "x"})
        walk = TestStateWalker(sfn, DEFINITION, case).run([{"pk": "RUN#1"}])
        stub.assert_no_pending_responses()

    assert walk.entered == ["StartRun", "RecordFailure", "RunFailed"]
    assert (walk.status, walk.error, walk.cause, walk.transitions) == (
        "FAILED",
        "Sandbox.Timedout",
        "x",
        3,
    )


def test_walker_runs_each_iteration_on_its_item_through_the_item_selector() -> None:
    """GIVEN a Map with an ItemSelector THEN each item is selected by TestState (a Pass state
    of the selector, the item in its context's Map.Item) and each iteration's first state
    gets its selection as input; the selector is no state: it costs no transition."""
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    case = "HappyPath"
    variants = mocked_responses(case, "StartRun")[0]["Return"]["Payload"]["request"]["variants"]
    items = variants[:2]
    selected = [{"variant": v, "job_name": f"kmer-2026-11-23-001-{v['name']}"} for v in items]
    finished = [{"job_id": f"job-{v['name']}"} for v in items]
    selection_definition = {
        "QueryLanguage": "JSONata",
        "StartAt": ITEM_SELECTOR,
        "States": {ITEM_SELECTOR: {"Type": "Pass", "Output": ITEM_SELECTOR_OUTPUT, "End": True}},
    }
    with Stubber(sfn) as stub:
        for index, (item, selection) in enumerate(zip(items, selected, strict=True)):
            stub.add_response(
                "test_state",
                {"status": "SUCCEEDED", "output": json.dumps(selection)},
                {
                    "definition": JSONText(selection_definition),
                    "stateName": ITEM_SELECTOR,
                    "input": json.dumps(items),
                    "variables": "{}",
                    "inspectionLevel": "DEBUG",
                    "context": JSONText({"Map": {"Item": {"Index": index, "Value": item}}}),
                },
            )
        for index, (selection, job) in enumerate(zip(selected, finished, strict=True)):
            stub.add_response(
                "test_state",
                {"status": "SUCCEEDED", "output": json.dumps(job)},
                {
                    "definition": ANY,
                    "stateName": "RunJob",
                    "input": json.dumps(selection),
                    "variables": "{}",
                    "inspectionLevel": "DEBUG",
                    "mock": _return(case, "RunJob", index),
                    "context": ANY,
                    "stateConfiguration": {"retrierRetryCount": 0},
                },
            )
        stub.add_response(
            "test_state",
            {"status": "SUCCEEDED", "output": json.dumps(finished)},
            {
                "definition": ANY,
                "stateName": "RunVariants",
                "input": json.dumps(items),
                "variables": "{}",
                "inspectionLevel": "DEBUG",
                "mock": {"result": json.dumps(finished), "fieldValidationMode": "NONE"},
                "context": ANY,
            },
        )
        walk = TestStateWalker(sfn, MAP_DEFINITION, case).run(items)
        stub.assert_no_pending_responses()

    assert walk == Walk(["RunVariants", "RunJob", "RunJob"], 3, "SUCCEEDED", finished, None, None)
