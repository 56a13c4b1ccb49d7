"""Speed: the engine's defensive deep copies of state data copy JSON trees directly.

The engine deep-copies a state's input, result and stack at nearly every step, so a
state cannot change another's data; ``copy.deepcopy`` walks them generically, with its
memo.

Measured 2026-12-04, bench/bench_speed.py --mechanism json_copies --runs 30, --rounds 5
then --rounds 6: engine CPU 1.07x with it off (median of the 11 alternated pairs, range
0.87-1.14x), wall 1.06x (0.89-1.11x), the same memory.
"""

from __future__ import annotations

import contextlib
import copy
import types
from collections.abc import Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.logs import get_logger
from runledger_local.patches._seams import AdaptationBrokenError, Seam
from runledger_local.runtime.local_cloud import LocalCloud

LOG = get_logger(__name__)


_JSON_ATOMS: Final[frozenset[type]] = frozenset({str, int, float, bool, type(None)})

#: ASL engine modules whose ``copy.deepcopy`` calls copy state data: JSON values (inputs,
#: results, the context object, parameters, history events) and a few small objects.
_JSON_COPY_USERS: Final[tuple[str, ...]] = tuple(
    "moto.stepfunctions.parser.asl." + suffix
    for suffix in (
        "eval.states",
        "eval.environment",
        "eval.event.event_manager",
        "component.common.path.result_path",
        "component.common.string.string_expression",
        "component.state.exec.execute_state",
        "component.state.exec.state_map.state_map",
        "component.state.exec.state_task.service.state_task_service",
    )
)


NAME: Final = "json_copies"
SEAMS: Final[tuple[Seam, ...]] = tuple(Seam(NAME, module) for module in _JSON_COPY_USERS)


def json_copy(value: Any) -> Any:
    """``copy.deepcopy`` for JSON trees: plain dicts, lists and atoms are copied directly.

    Anything else (enums, datetimes, engine objects, dict subclasses) goes to
    ``copy.deepcopy``. Unlike it, a sub-tree that appears twice is copied twice, which
    JSON values (trees, never graphs) cannot tell apart.
    """
    kind = type(value)
    if kind in _JSON_ATOMS:
        return value
    if kind is dict:
        return {key: json_copy(item) for key, item in value.items()}
    if kind is list:
        return [json_copy(item) for item in value]
    return copy.deepcopy(value)


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    # The engine deep-copies a state's input, result and stack at nearly every step (a
    # defensive copy, so a state cannot change another's data); copy.deepcopy's generic
    # walk with its memo was a quarter of the engine's CPU time.
    shim = types.SimpleNamespace(deepcopy=json_copy, copy=copy.copy)
    modules = [seam.value for seam in SEAMS]
    for module in modules:
        if getattr(module, "copy", None) is not copy:
            raise AdaptationBrokenError(NAME, f"{module.__name__} no longer imports copy")
    with contextlib.ExitStack() as stack:
        for module in modules:
            stack.enter_context(mock.patch.object(module, "copy", shim))
        yield
