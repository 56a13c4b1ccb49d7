"""Fix: a state's output is evaluated with the variables as they were before its Assign.

AWS: "Step Functions evaluates the Assign field and the Output field in parallel ...
the variable values are available in the next state" and OutputPath likewise sees the
values from before the state's own assignments (Step Functions developer guide,
"Passing data between states with variables", evaluation order; the AWS-recorded answer
for BASE_EVALUATION_ORDER_PASS_STATE is 42, the value assigned by the state before).
moto 5.2.5 writes each Assign at once, so the same state's OutputPath/Output (and a
Choice's Output) read the new values. Here the Assign's writes are held until the
state's output is done, then made (and traced for ``assignedVariables``); an attempt
that fails (retried or caught) assigns nothing. No moto issue found.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.patches._seams import Seam
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "assign_order"

#: The variable store attribute holding the held writes (None: write at once).
_PENDING: Final = "_runledger_pending_assign"

_STORE: Final = "moto.stepfunctions.parser.asl.eval.variable_store"
_STATE: Final = "moto.stepfunctions.parser.asl.component.state"
_ASSIGN_DECL_EVAL_BODY: Final = Seam(
    NAME,
    "moto.stepfunctions.parser.asl.component.common.assign.assign_decl",
    "AssignDecl._eval_body",
    ("self", "env"),
)
_VARIABLE_STORE_SET: Final = Seam(
    NAME, _STORE, "VariableStore.set", ("self", "variable_identifier", "variable_value")
)
_ILLEGAL_OUTER_SCOPE_WRITE: Final = Seam(NAME, _STORE, "IllegalOuterScopeWrite")
_OUTPUTS: Final[tuple[Seam, ...]] = (
    Seam(NAME, f"{_STATE}.state", "CommonStateField._eval_state_output", ("self", "env")),
    Seam(
        NAME, f"{_STATE}.exec.execute_state", "ExecutionState._eval_state_output", ("self", "env")
    ),
    Seam(NAME, f"{_STATE}.choice.state_choice", "StateChoice._eval_state_output", ("self", "env")),
)
_EVALUATE_WITH_TIMEOUT: Final = Seam(
    NAME, f"{_STATE}.exec.execute_state", "ExecutionState._evaluate_with_timeout", ("self", "env")
)


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    assign_owner, assign_attr, original_assign = _ASSIGN_DECL_EVAL_BODY.resolve()
    store_owner, store_attr, original_set = _VARIABLE_STORE_SET.resolve()
    _, _, illegal_write = _ILLEGAL_OUTER_SCOPE_WRITE.resolve()
    attempt_owner, attempt_attr, original_attempt = _EVALUATE_WITH_TIMEOUT.resolve()

    def assign_eval_body(self: Any, env: Any) -> None:
        store = env.variable_store
        pending = getattr(store, _PENDING, None)
        if pending is None:
            setattr(store, _PENDING, {})
        original_assign(self, env)  # its writes go to the held ones (set below)

    def set_variable(self: Any, variable_identifier: str, variable_value: Any) -> None:
        pending = getattr(self, _PENDING, None)
        if pending is None:
            original_set(self, variable_identifier, variable_value)
            return
        if variable_identifier in self._outer_scope:  # refused now, as moto's set does
            raise illegal_write(
                variable_identifier=variable_identifier, variable_value=variable_value
            )
        pending[variable_identifier] = variable_value

    def flush(store: Any) -> None:
        pending = getattr(store, _PENDING, None)
        if pending is None:
            return
        setattr(store, _PENDING, None)
        for identifier, value in pending.items():
            original_set(store, identifier, value)

    def with_flush(original: Callable[..., Any]) -> Callable[..., Any]:
        def eval_state_output(self: Any, env: Any) -> None:
            try:
                original(self, env)
            except BaseException:
                setattr(env.variable_store, _PENDING, None)  # the state failed: no writes
                raise
            flush(env.variable_store)

        return eval_state_output

    def evaluate_with_timeout(self: Any, env: Any) -> None:
        try:
            original_attempt(self, env)
        except BaseException:
            setattr(env.variable_store, _PENDING, None)  # a failed attempt assigns nothing
            raise

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(assign_owner, assign_attr, assign_eval_body))
        stack.enter_context(mock.patch.object(store_owner, store_attr, set_variable))
        stack.enter_context(mock.patch.object(attempt_owner, attempt_attr, evaluate_with_timeout))
        for seam in _OUTPUTS:
            owner, attr, original = seam.resolve()
            stack.enter_context(mock.patch.object(owner, attr, with_flush(original)))
        yield


SEAMS: Final[tuple[Seam, ...]] = (
    _ASSIGN_DECL_EVAL_BODY,
    _VARIABLE_STORE_SET,
    _ILLEGAL_OUTER_SCOPE_WRITE,
    *_OUTPUTS,
    _EVALUATE_WITH_TIMEOUT,
)
