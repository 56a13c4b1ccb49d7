"""The speed switch: ``RUNLEDGER_LOCAL_SPEED`` (on unless 0/off/false/no).

A leaf module, so that ``runledger local run`` can read the switch (the template cache
follows it) and refuse bad input before it imports moto and the patches.
"""

from __future__ import annotations

import os
from typing import Final

#: Set to 0 (or off/false/no) to run the local cloud with every speed mechanism off.
SPEED_VARIABLE: Final = "RUNLEDGER_LOCAL_SPEED"


def speed_from_env() -> bool:
    """Whether speed mechanisms are on (``RUNLEDGER_LOCAL_SPEED``; on unless 0/off/false/no)."""
    return os.environ.get(SPEED_VARIABLE, "1").strip().lower() not in {"0", "off", "false", "no"}
