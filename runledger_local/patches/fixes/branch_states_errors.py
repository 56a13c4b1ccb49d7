"""Fix: a ``States.*`` error leaving a Map iteration or a Parallel branch stays itself.

moto 5.2.5 re-reads the error that ended a Map iteration (``IterationWorker._eval_job``)
or a Parallel branch (``BranchesDecl._eval_body``) as a *custom* error name, whose
constructor refuses the ``States.`` prefix: an iteration that failed with
``States.Timeout`` or ``States.TaskFailed`` turned into ``States.Runtime`` ("Custom Error
Names MUST NOT begin with the prefix 'States.'"), which no Catch of the Map or Parallel
state could catch by its name. AWS passes the error on: the Map or Parallel state fails
with the iteration's or branch's error and cause, and its Retry and Catch see them ("If
any iteration fails ... the Map state fails", Developer Guide, "Map state"; recorded by
AWS in LocalStack's timeouts snapshot test_service_lambda_map_timeout: the execution
fails States.Timeout). A known ``States.*`` name becomes moto's own
``StatesErrorName`` (so ``States.TaskFailed`` in ErrorEquals does not match
``States.Timeout``, as on AWS); any other name is custom, as before. No moto issue found.
Delete this module when moto passes them on itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.patches._seams import Seam
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "branch_states_errors"
_ERROR_NAME_PACKAGE: Final = "moto.stepfunctions.parser.asl.component.common.error_name"
_MAP_ITERATION: Final = Seam(
    NAME,
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iteration_worker",
    "CustomErrorName",
)
_PARALLEL_BRANCHES: Final = Seam(
    NAME,
    "moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branches_decl",
    "CustomErrorName",
)
_STATES_ERROR_NAME: Final = Seam(
    NAME, f"{_ERROR_NAME_PACKAGE}.states_error_name", "StatesErrorName.from_name", ("error_name",)
)
_ILLEGAL_CUSTOM_ERROR_PREFIX: Final = Seam(
    NAME, f"{_ERROR_NAME_PACKAGE}.custom_error_name", "ILLEGAL_CUSTOM_ERROR_PREFIX"
)
SEAMS: Final[tuple[Seam, ...]] = (
    _MAP_ITERATION,
    _PARALLEL_BRANCHES,
    _STATES_ERROR_NAME,
    _ILLEGAL_CUSTOM_ERROR_PREFIX,
)


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    map_module, map_attribute, custom_error_name = _MAP_ITERATION.resolve()
    parallel_module, parallel_attribute, _ = _PARALLEL_BRANCHES.resolve()
    states_error_name = _STATES_ERROR_NAME.value
    prefix = _ILLEGAL_CUSTOM_ERROR_PREFIX.value

    def passed_on_error_name(error_name: str | None) -> Any:
        # Called as CustomErrorName(error_name=...) where these two modules name it.
        if error_name is not None and error_name.startswith(prefix):
            with contextlib.suppress(ValueError):
                return states_error_name(error_name)
            # A States.* name the grammar does not know: a plain name, unchecked.
            passed_on = custom_error_name.__new__(custom_error_name)
            passed_on.error_name = error_name
            return passed_on
        return custom_error_name(error_name=error_name)

    with (
        mock.patch.object(map_module, map_attribute, passed_on_error_name),
        mock.patch.object(parallel_module, parallel_attribute, passed_on_error_name),
    ):
        yield
