"""Harness for the state machine tests in Step Functions Local's mock format, over boto3.

Every test case in ``MockConfigFile.json`` (Step Functions Local's format) mocks each Task
state it reaches, so an execution of ``<state machine arn>#<TestCase>`` runs the real ASL
(statemachines/run_workflow.asl.json, substitutions resolved from template.yaml) without
calling any service.

``open_workflow()`` (the ``workflow`` fixture) talks to a Step Functions endpoint with boto3:

* by default the embedded local cloud (``LocalPipeline``: moto behind a loopback server,
  the state machine created from template.yaml, ``SFN_MOCK_CONFIG`` naming the file);
* with ``SFN_ENDPOINT=http://host:port`` that endpoint instead: the fixture creates the
  state machine there from the same template-resolved definition (resource names are
  placeholders, as every task is mocked). The endpoint must load this same file itself
  (its own ``SFN_MOCK_CONFIG``) and run JSONata.

The state machine is created with ``MaxConcurrency=1`` (a template parameter), as Step
Functions Local asks for Map states: mocked responses are numbered by invocation of the
state across the execution (Map iterations and retries included), so iterations must run
in a known order. RunVariants is a Distributed Map: each iteration is a child workflow
execution with its own history, run under the parent's test case; an ``Execution`` reads the
parent's history and each child's (ListMapRuns, ListExecutions by Map Run,
GetExecutionHistory).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3
import pytest

from runledger.usage import child_executions, execution_history
from runledger_cli.sam_template import REPO_ROOT, load_both, parameter_defaults
from runledger_local.cloud import LocalPipeline, state_machine_definition
from runledger_local.intrinsics import Scope, UnresolvableError

HERE = Path(__file__).parent
MOCK_CONFIG = HERE / "MockConfigFile.json"
#: What every test case starts with: the pipe's input for the sample request.
PIPE_INPUT = REPO_ROOT / "events" / "pipe_input.json"
STACK_NAME = "runledger"
STATE_MACHINE_ID = "RunWorkflow"  # logical id in template.yaml
#: The name the state machine gets (LocalPipeline names resources <stack>-<logical id>);
#: MockConfigFile.json's "StateMachines" key must be this.
STATE_MACHINE_NAME = f"{STACK_NAME}-{STATE_MACHINE_ID}"
PARAMETERS = {"MaxConcurrency": 1}
EXECUTION_TIMEOUT_SECONDS = 60.0
POLL_SECONDS = 0.1  # each DescribeExecution costs the engine CPU: do not poll harder
_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


# ----------------------------------------------------------------------------- the ASL
def all_states(definition: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state of a definition by name, including those inside Map/Parallel states."""
    found: dict[str, dict[str, Any]] = {}
    for name, state in definition["States"].items():
        found[name] = state
        inner_machines = [state.get("ItemProcessor") or state.get("Iterator")]
        for inner in [*inner_machines, *state.get("Branches", [])]:
            if inner:
                found.update(all_states(inner))
    return found


def mock_config() -> dict[str, Any]:
    return dict(json.loads(MOCK_CONFIG.read_text()))


def case_mocks() -> dict[str, dict[str, str]]:
    """Test case name -> {state name: mocked response name}, for our state machine."""
    machine = mock_config()["StateMachines"].get(STATE_MACHINE_NAME, {})
    return dict(machine.get("TestCases", {}))


def mocked_responses(case: str, state: str) -> list[dict[str, Any]]:
    """The mocked outcomes of ``state`` in ``case``, one per invocation ("0-2" expanded):
    ``{"Return": result}`` or ``{"Throw": {"Error", "Cause"}}``."""
    config = mock_config()
    responses = config["MockedResponses"][case_mocks()[case][state]]
    expanded: list[dict[str, Any]] = []
    for key, outcome in sorted(responses.items(), key=lambda kv: int(kv[0].split("-")[0])):
        first, _, last = key.partition("-")
        expanded += [outcome] * (int(last or first) - int(first) + 1)
    return expanded


def lambda_payloads(case: str, state: str) -> list[Any]:
    """The Payload of each mocked Lambda result of ``state`` in ``case`` (Returns only)."""
    return [o["Return"]["Payload"] for o in mocked_responses(case, state) if "Return" in o]


# ------------------------------------------------------------------------- executions
def _timestamp(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _state_of(by_id: Mapping[int, Mapping[str, Any]], event: Mapping[str, Any]) -> str:
    """The state an event belongs to: follow previousEventId back to its StateEntered."""
    current: Mapping[str, Any] | None = event
    while current is not None:
        if "stateEnteredEventDetails" in current:
            return str(current["stateEnteredEventDetails"]["name"])
        current = by_id.get(current.get("previousEventId", 0))
    raise AssertionError(f"event {event['id']} ({event['type']}) belongs to no state")


@dataclass(frozen=True)
class ChildExecution:
    """One child workflow execution a Distributed Map started: its own history (AWS:
    "each child workflow execution has its own execution history")."""

    arn: str
    status: str
    input: Any
    output: Any
    events: list[dict[str, Any]] = field(repr=False)

    @cached_property
    def entered(self) -> list[str]:
        return [
            e["stateEnteredEventDetails"]["name"]
            for e in self.events
            if "stateEnteredEventDetails" in e
        ]


@dataclass(frozen=True)
class Execution:
    """One finished execution of a test case: its description, its own history and those
    of the child workflow executions its Distributed Map started (in start order: with
    MaxConcurrency 1, item order). Every reading below covers the parent and its children:
    a state is in one of them only (the Map's states in the children)."""

    case: str
    arn: str
    status: str
    output: Any
    error: str | None
    cause: str | None
    events: list[dict[str, Any]] = field(repr=False)
    children: tuple[ChildExecution, ...] = ()

    @cached_property
    def _histories(self) -> list[tuple[list[dict[str, Any]], dict[int, dict[str, Any]]]]:
        """Each history (the parent's, then each child's) with its events by id."""
        return [
            (events, {event["id"]: event for event in events})
            for events in [self.events, *(child.events for child in self.children)]
        ]

    def _of_type(self, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """(state, event) of every event of type ``kind``, the parent's first."""
        for events, by_id in self._histories:
            for event in events:
                if event["type"] == kind:
                    yield _state_of(by_id, event), event

    @cached_property
    def entered(self) -> list[str]:
        """The states entered, in order: the parent's, with its children's (one at a time,
        in item order) where its Map Run started."""
        entered: list[str] = []
        for event in self.events:
            if "stateEnteredEventDetails" in event:
                entered.append(event["stateEnteredEventDetails"]["name"])
            elif event["type"] == "MapRunStarted":
                entered += [state for child in self.children for state in child.entered]
        return entered

    def entered_at(self, state: str) -> list[dt.datetime]:
        return [
            _timestamp(e["timestamp"])
            for events, _ in self._histories
            for e in events
            if e.get("stateEnteredEventDetails", {}).get("name") == state
        ]

    def scheduled(self, state: str) -> list[dict[str, Any]]:
        """The parameters of every call a Task state made (its TaskScheduled events), in order:
        what the ASL sent to the service, after JSONata evaluation."""
        return [
            json.loads(e["taskScheduledEventDetails"]["parameters"])
            for name, e in self._of_type("TaskScheduled")
            if name == state
        ]

    @cached_property
    def attempts(self) -> Counter[str]:
        """State name -> service calls made (TaskScheduled events), retries included."""
        return Counter(name for name, _ in self._of_type("TaskScheduled"))

    def retries(self, state: str) -> int:
        """Calls a Task state made beyond one per time it was entered."""
        return self.attempts[state] - self.entered.count(state)

    @cached_property
    def transitions(self) -> int:
        """Billed state transitions: one per state entered (the children's included), one
        per retry (AWS counts retries as transitions) and one per child workflow execution
        started (a Distributed Map's child start is billed as a transition)."""
        retried = sum(self.retries(state) for state in self.attempts)
        return len(self.entered) + retried + len(self.children)

    @cached_property
    def task_failures(self) -> list[tuple[str, str, str]]:
        """(state, error, cause) of every TaskFailed event, in time order (the parent's and
        its children's)."""
        failed = sorted(self._of_type("TaskFailed"), key=lambda f: _timestamp(f[1]["timestamp"]))
        return [
            (
                name,
                e["taskFailedEventDetails"]["error"],
                e["taskFailedEventDetails"].get("cause", ""),
            )
            for name, e in failed
        ]


def _children(sfn: Any, arn: str) -> tuple[ChildExecution, ...]:
    """The child workflow executions ``arn``'s Distributed Map started, oldest first, each
    with its description and full history (ListMapRuns, ListExecutions(mapRunArn),
    DescribeExecution, GetExecutionHistory: runledger.usage's readers)."""
    children = []
    listed = sorted(child_executions(sfn, arn), key=lambda c: _timestamp(c["startDate"]))
    for listing in listed:
        described = sfn.describe_execution(executionArn=listing["executionArn"])
        assert described["status"] in _TERMINAL, described  # the parent ended after them
        children.append(
            ChildExecution(
                arn=listing["executionArn"],
                status=described["status"],
                input=json.loads(described["input"]),
                output=json.loads(described["output"]) if described.get("output") else None,
                events=execution_history(sfn, listing["executionArn"]),
            )
        )
    return tuple(children)


@dataclass
class Workflow:
    """The state machine under test, behind a Step Functions endpoint."""

    sfn: Any
    arn: str
    definition: dict[str, Any]
    substitutions: dict[str, Any]
    endpoint: str
    _runs: dict[str, Execution] = field(default_factory=dict)

    def run(self, case: str) -> Execution:
        """Execute ``arn#case`` on ``events/pipe_input.json`` until it ends. Each test case
        runs once per module; later calls return the same execution."""
        if case in self._runs:
            return self._runs[case]
        mocks = case_mocks().get(case)
        assert mocks is not None, f"no test case {case!r} for {STATE_MACHINE_NAME} in {MOCK_CONFIG}"
        arn = self.sfn.start_execution(
            stateMachineArn=f"{self.arn}#{case}", input=PIPE_INPUT.read_text()
        )["executionArn"]
        deadline = time.monotonic() + EXECUTION_TIMEOUT_SECONDS
        while (described := self.sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            if time.monotonic() > deadline:
                pytest.fail(f"{case}: still RUNNING after {EXECUTION_TIMEOUT_SECONDS:.0f} s")
            time.sleep(POLL_SECONDS)
        assert described["status"] in _TERMINAL, described
        pages = self.sfn.get_paginator("get_execution_history").paginate(executionArn=arn)
        execution = Execution(
            case=case,
            arn=arn,
            status=described["status"],
            output=json.loads(described["output"]) if described.get("output") else None,
            error=described.get("error"),
            cause=described.get("cause"),
            events=[event for page in pages for event in page["events"]],
            children=_children(self.sfn, arn),
        )
        # A test case must mock every Task state it reaches: an unmocked one would call the
        # real service behind the endpoint.
        states = all_states(self.definition)
        unmocked = sorted(
            {s for s in execution.entered if states[s]["Type"] == "Task"} - set(mocks)
        )
        assert not unmocked, f"test case {case} reaches Task states it does not mock: {unmocked}"
        self._runs[case] = execution
        return execution


# ------------------------------------------------------------------------- endpoints
def _state_machine_resources() -> tuple[dict[str, Any], dict[str, Any]]:
    sam, cfn = load_both()
    return cfn["Resources"][STATE_MACHINE_ID], sam["Resources"][STATE_MACHINE_ID]


class _PlaceholderScope(Scope):
    """Resolves the template against resources that exist nowhere: every Ref is
    ``<stack>-<logical id>``, every GetAtt an ARN naming it. Used for SFN_ENDPOINT, where
    every task is mocked and only the names' consistency matters."""

    def ref(self, name: str) -> Any:
        try:
            return super().ref(name)
        except UnresolvableError:
            return f"{self.stack_name}-{name}"

    def get_att(self, logical_id: str, attribute: str) -> Any:
        return (
            f"arn:aws:placeholder:{self.region}:{self.account_id}:"
            f"{self.stack_name}-{logical_id}/{attribute}"
        )


def _remote_workflow(endpoint: str) -> Workflow:
    cfn = load_both()[1]
    scope = _PlaceholderScope(
        parameters={**parameter_defaults(cfn), **PARAMETERS},
        conditions=cfn.get("Conditions", {}),
        stack_name=STACK_NAME,
    )
    definition, substitutions = state_machine_definition(*_state_machine_resources(), scope)
    sfn = boto3.client(
        "stepfunctions",
        endpoint_url=endpoint,
        region_name=scope.region,
        # Never real credentials: local endpoints accept any.
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    role = f"arn:aws:iam::{scope.account_id}:role/{STACK_NAME}-{STATE_MACHINE_ID}Role"
    try:
        arn = sfn.create_state_machine(
            name=STATE_MACHINE_NAME, definition=definition, roleArn=role
        )["stateMachineArn"]
    except sfn.exceptions.StateMachineAlreadyExists:
        pages = sfn.get_paginator("list_state_machines").paginate()
        arn = next(
            m["stateMachineArn"]
            for page in pages
            for m in page["stateMachines"]
            if m["name"] == STATE_MACHINE_NAME
        )
        sfn.update_state_machine(stateMachineArn=arn, definition=definition, roleArn=role)
    return Workflow(sfn, arn, json.loads(definition), substitutions, endpoint)


@contextlib.contextmanager
def open_workflow() -> Iterator[Workflow]:
    """The state machine of template.yaml behind a Step Functions endpoint (module doc)."""
    endpoint = os.environ.get("SFN_ENDPOINT")
    if endpoint:
        yield _remote_workflow(endpoint)
        return
    with LocalPipeline(
        stack_name=STACK_NAME, parameters=PARAMETERS, mock_config_file=MOCK_CONFIG
    ) as local:
        # The tests start executions themselves: the pipe has nothing to deliver, and its
        # idle polling would take CPU from the engine.
        assert local.pipe.stop(), "the local pipe runner did not stop"
        definition, substitutions = state_machine_definition(
            *_state_machine_resources(), local.scope
        )
        yield Workflow(
            local.client("stepfunctions"),
            local.state_machine_arn,
            json.loads(definition),
            substitutions,
            local.endpoint_url,
        )
