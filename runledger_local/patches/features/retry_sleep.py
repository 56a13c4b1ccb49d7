"""Feature: Retry intervals scaled by ``LocalCloud.retry_sleep_scale`` (0: no waiting).

moto's retrier sleeps each ``IntervalSeconds`` x ``BackoffRate`` for real; offline a run
need not wait for them, but the history still shows every attempt.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.patches._seams import AdaptationBrokenError, Seam
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "retry_sleep"
_RETRIER: Final = "moto.stepfunctions.parser.asl.component.common.retry.retrier_decl"
_TIME: Final = Seam(NAME, _RETRIER, "time")
_EVAL_BODY: Final = Seam(NAME, _RETRIER, "RetrierDecl._eval_body", ("self", "env"))
SEAMS: Final[tuple[Seam, ...]] = (_TIME, _EVAL_BODY)


class _ScaledTime:
    """Stands in for the ``time`` module inside moto's retrier: scaled sleeps."""

    def __init__(self, cloud: LocalCloud) -> None:
        self._cloud = cloud

    def sleep(self, seconds: float) -> None:
        scaled = seconds * self._cloud.retry_sleep_scale
        if scaled > 0:
            time.sleep(scaled)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(time, attribute)


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    owner, attribute, current = _TIME.resolve()
    if current is not time:
        raise AdaptationBrokenError(NAME, f"{_RETRIER} no longer sleeps through module 'time'")
    _EVAL_BODY.resolve()
    with mock.patch.object(owner, attribute, _ScaledTime(cloud)):
        yield
