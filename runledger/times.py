"""How the workflow writes times: one formatter for every step (a leaf: no models).

``claimed_at`` is Step Functions' ``EnteredTime``; the times the functions write
(``started_at``, ``finished_at``) and the ones CloseRun compares with it must be written
the same way, so that they compare as strings.
"""

from __future__ import annotations

import datetime as dt


def workflow_time(moment: dt.datetime | None = None) -> str:
    """``moment`` (default: now) as Step Functions writes ``EnteredTime``: UTC,
    milliseconds, ``Z`` (``2026-11-23T08:00:01.234Z``)."""
    utc = (moment or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")
