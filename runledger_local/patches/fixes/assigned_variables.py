"""Fix: ``assignedVariables`` in a StateExited event holds each value as JSON text.

AWS: "assignedVariables: Map of variable name and value as a serialized JSON
representation" (Step Functions API reference, StateExitedEventDetails); the recorded
answers have ``"varname2": "\\"varname2\\""`` and ``"constant_lst": "[null,0,...]"``.
moto 5.2.5 writes a string value as ``f'"{value}"'``, unescaped, so a value with a
quote, a backslash or a newline (a Lambda error's Cause, a JSON string) is not JSON:
a client parsing the history fails on it. Here every value is encoded the way moto
encodes the others. No moto issue found.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.patches._seams import Seam
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "assigned_variables"

_GET_ASSIGNED_VARIABLES: Final = Seam(
    NAME,
    "moto.stepfunctions.parser.asl.eval.variable_store",
    "VariableStore.get_assigned_variables",
    ("self",),
)
_TO_JSON_STR: Final = Seam(NAME, "moto.stepfunctions.parser.asl.utils.encoding", "to_json_str")


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    owner, attr, _ = _GET_ASSIGNED_VARIABLES.resolve()
    _, _, to_json_str = _TO_JSON_STR.resolve()

    def get_assigned_variables(self: Any) -> dict[str, str]:
        return {
            identifier: to_json_str(self.get(identifier), separators=(",", ":"))
            for identifier in sorted(self._declaration_tracing)
        }

    with mock.patch.object(owner, attr, get_assigned_variables):
        yield


SEAMS: Final[tuple[Seam, ...]] = (_GET_ASSIGNED_VARIABLES, _TO_JSON_STR)
