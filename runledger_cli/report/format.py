"""Values as the page writes them: durations, moments, dollars, failure causes."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from runledger.pricing import format_usd
from runledger_cli.report.history import job_timeline

UTC = dt.UTC


def seconds(value: float | None) -> str:
    """``12.3 s``, ``4 min 5 s``, ``1 h 2 min``; "-" when unknown."""
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.1f} s"
    minutes, rest = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def when(value: Any) -> str:
    """A moment (datetime or ISO text) in UTC to the second; text that is not one as it is."""
    if isinstance(value, dt.datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, str) and value:
        try:
            return when(dt.datetime.fromisoformat(value))
        except ValueError:
            return value
    return "-"


def usd(value: Any) -> str:
    """Dollars as the cost tables show them; "-" when not a number."""
    if not isinstance(value, int | float):
        return "-"
    return "< $0.000001" if 0 < value < 0.0000005 else format_usd(float(value))


def cause_summary(cause: str) -> str:
    """A failure cause for people: a Batch job's status reason and exit code, or the text."""
    job = job_timeline(cause)
    if job:
        codes = [a.exit_code for a in job.attempts if a.exit_code is not None]
        exit_text = f"exit code {codes[-1]}" if codes else "no exit code"
        return f"Batch job {job.status or 'FAILED'}: {exit_text} ({job.reason or 'no reason'})"
    try:
        parsed = json.loads(cause)
    except (TypeError, ValueError):
        parsed = None
    if isinstance(parsed, dict) and "errorMessage" in parsed:  # a Lambda function's error
        return str(parsed.get("errorType", "")) + ": " + str(parsed["errorMessage"])
    return cause if len(cause) <= 300 else cause[:299] + "…"
