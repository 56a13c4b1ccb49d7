"""Feature: moto's own settings the local cloud builds on.

State machine execution on, and the Docker-less Lambda and Batch backends (what
``/moto-api/config`` sets), for the duration of the local cloud.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Final
from unittest import mock

from runledger_local.patches._seams import Seam

NAME: Final = "configure_moto"
_DEFAULT_USER_CONFIG: Final = Seam(NAME, "moto.core.config", "default_user_config")
SEAMS: Final[tuple[Seam, ...]] = (_DEFAULT_USER_CONFIG,)


@contextlib.contextmanager
def apply() -> Iterator[None]:
    config = _DEFAULT_USER_CONFIG.value
    wanted = {
        "stepfunctions": {**config.get("stepfunctions", {}), "execute_state_machine": True},
        "lambda": {**config.get("lambda", {}), "use_docker": False},
        "batch": {**config.get("batch", {}), "use_docker": False},
    }
    with mock.patch.dict(config, wanted):
        yield
