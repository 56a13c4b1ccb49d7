"""What runs cost: the estimate written on the runs table, beside the bill (Cost Explorer).

The estimate is the ``cost`` map the workflow writes on a run's REQUEST item when the run
succeeds (runledger.summary): unit prices from prices.json times the run's usage. The
actual cost is what Cost Explorer's GetCostAndUsage reports for the run's ``run-id`` cost
allocation tag, which only the Batch jobs (their ECS tasks, through PropagateTags) carry.

Runs come from the table through runledger_cli.ledger (``read_run``, ``read_runs``).

* ``group_runs``: estimates (and actuals) summed by run, workflow, cost center or day.
* ``run_actual``, ``runs_actual``: GetCostAndUsage, every page, as USD per group key.
* ``caveats``: why actual cost may be missing, said once, next to the numbers.

Nothing here prints; runledger_cli.commands.cost renders tables, CSV and JSON.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from botocore.exceptions import ClientError

from runledger_cli.cost_constants import GroupBy
from runledger_cli.ledger import RunRecord, aws_message

if TYPE_CHECKING:
    from mypy_boto3_ce import CostExplorerClient
    from mypy_boto3_ce.type_defs import (
        ExpressionTypeDef,
        GetCostAndUsageRequestTypeDef,
        GroupDefinitionTypeDef,
    )

#: The per-run tags every Batch job carries (the RunJob state's Tags).
RUN_TAG, VARIANT_TAG, WORKFLOW_TAG, COST_CENTER_TAG = "run-id", "variant", "workflow", "cost-center"
#: Cost Explorer's SERVICE dimension values -> the estimate's service. Fargate tasks of
#: Batch jobs are billed as Amazon Elastic Container Service.
CE_SERVICES = {
    "Amazon Elastic Container Service": "batch",
    "AWS Batch": "batch",
    "AWS Lambda": "lambda",
    "AWS Step Functions": "stepfunctions",
    "Amazon EventBridge": "pipes",
    "Amazon DynamoDB": "dynamodb",
}
CE_METRIC = "UnblendedCost"
#: Cost Explorer keeps the current month and the 12 before it.
CE_MONTHS_KEPT = 13

CAVEATS = (
    "Tags reach the bill only once activated: activate run-id, workflow, variant and "
    "cost-center as cost allocation tags (Billing and Cost Management > Cost allocation "
    "tags). A new tag key takes up to 24 hours to be offered for activation, and "
    "activation does not tag costs from before it.",
    "Cost Explorer lags: a run's cost appears up to 24 hours after it ran, and AWS marks "
    "the latest days as estimated.",
    "Only the Batch jobs carry a run's tags (their Fargate tasks, through PropagateTags). "
    "Lambda, Step Functions, Pipes and DynamoDB are shared by all runs: compare the actual "
    "cost with the estimate's batch part.",
    "Jobs on EC2 compute environments share instances: their per-job cost needs Split Cost "
    "Allocation Data (Billing preferences), which adds task-level lines to Cost and Usage "
    "Reports, not to Cost Explorer.",
)


class CostError(Exception):
    """A Cost Explorer error the user should read (access denied, bad period...)."""


# --------------------------------------------------------------------------- runs


def select_runs(
    runs: Iterable[RunRecord],
    *,
    workflow: str | None = None,
    cost_center: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> list[RunRecord]:
    """The runs of ``workflow`` and ``cost_center`` that started from ``since`` to ``until``."""
    chosen = []
    for run in runs:
        if workflow is not None and run.workflow != workflow:
            continue
        if cost_center is not None and run.cost_center != cost_center:
            continue
        day = run.day
        if (since or until) and day is None:
            continue
        if (since and day and day < since) or (until and day and day > until):
            continue
        chosen.append(run)
    return chosen


# --------------------------------------------------------------------------- groups


@dataclass
class Group:
    """Runs that share a key: how many, their statuses, estimate and actual cost."""

    key: str
    runs: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    estimate_usd: float = 0.0
    batch_estimate_usd: float = 0.0
    unpriced_runs: int = 0
    actual_usd: float | None = None


def group_key(run: RunRecord, by: GroupBy) -> str:
    """The value of ``run`` for the grouping ``by`` ("-" when the item lacks it)."""
    if by == "run":
        return run.run_id
    if by == "workflow":
        return run.workflow or "-"
    if by == "cost-center":
        return run.cost_center or "-"
    day = run.day
    return day.isoformat() if day else "-"


def group_runs(
    runs: Sequence[RunRecord], by: GroupBy, actual_by_run: dict[str, float] | None = None
) -> list[Group]:
    """Sum the runs' estimates (and, given ``actual_by_run``, actual costs) per group.

    Runs without an estimate (INVALID, FAILED, still running) count in ``unpriced_runs``.
    Groups come sorted by key; runs by the day they started, then id.
    """
    groups: dict[str, Group] = {}
    ordered = sorted(runs, key=lambda r: (r.started_at or "", r.run_id)) if by == "run" else runs
    for run in ordered:
        key = group_key(run, by)
        group = groups.setdefault(key, Group(key=key))
        group.runs += 1
        group.statuses[run.status] += 1
        if run.estimate_usd is None:
            group.unpriced_runs += 1
        else:
            group.estimate_usd += run.estimate_usd
            group.batch_estimate_usd += run.batch_estimate_usd or 0.0
        if actual_by_run is not None:
            group.actual_usd = (group.actual_usd or 0.0) + actual_by_run.get(run.run_id, 0.0)
    found = list(groups.values())
    return found if by == "run" else sorted(found, key=lambda g: g.key)


# --------------------------------------------------------------------------- Cost Explorer


@dataclass
class Actual:
    """Cost Explorer's answer: USD per group key (tag values, or service and tag value)."""

    start: dt.date
    end: dt.date  # exclusive, as Cost Explorer's TimePeriod
    amounts: dict[tuple[str, ...], float] = field(default_factory=dict)
    estimated: bool = False
    requests: int = 0
    unavailable: bool = False

    def total(self) -> float:
        return sum(self.amounts.values())


def ce_period(days: Iterable[dt.date], today: dt.date) -> tuple[dt.date, dt.date] | None:
    """Cost Explorer's TimePeriod covering ``days`` (end exclusive), within what it keeps.

    None when nothing of it is left: every day is older than the 13 months kept.
    """
    known = sorted(days)
    if not known:
        return None
    oldest_kept = _months_before(today.replace(day=1), CE_MONTHS_KEPT - 1)
    start = max(known[0], oldest_kept)
    end = min(known[-1], today) + dt.timedelta(days=1)
    return (start, end) if start < end else None


def _months_before(first_of_month: dt.date, months: int) -> dt.date:
    index = first_of_month.year * 12 + first_of_month.month - 1 - months
    return dt.date(index // 12, index % 12 + 1, 1)


def get_cost_and_usage(
    ce: CostExplorerClient,
    period: tuple[dt.date, dt.date],
    group_by: Sequence[tuple[Literal["DIMENSION", "TAG"], str]],
    expression: ExpressionTypeDef | None = None,
) -> Actual:
    """GetCostAndUsage, DAILY, ``CE_METRIC``, every page (NextPageToken), summed per key.

    Tag group keys come back as ``"<tag>$<value>"``; the values are kept (``""`` for
    untagged cost). Each request costs USD 0.01 (``Actual.requests`` counts them).
    DataUnavailableException is an answer (``unavailable``), not an error.

    Raises:
        CostError: any other Cost Explorer error (access denied, bad period, ...).
    """
    start, end = period
    actual = Actual(start=start, end=end)
    groups: list[GroupDefinitionTypeDef] = [{"Type": t, "Key": k} for t, k in group_by]
    request: GetCostAndUsageRequestTypeDef = {
        "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
        "Granularity": "DAILY",
        "Metrics": [CE_METRIC],
        "GroupBy": groups,
    }
    if expression is not None:
        request["Filter"] = expression
    amounts: defaultdict[tuple[str, ...], float] = defaultdict(float)
    while True:
        try:
            page = ce.get_cost_and_usage(**request)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "DataUnavailableException":
                actual.unavailable = True
                break
            raise CostError(f"Cost Explorer: {aws_message(exc)}") from exc
        actual.requests += 1
        for result in page.get("ResultsByTime", []):
            actual.estimated |= bool(result.get("Estimated"))
            for group in result.get("Groups", []):
                keys = tuple(
                    _group_value(kind, key, value)
                    for (kind, key), value in zip(group_by, group["Keys"], strict=True)
                )
                metric = group.get("Metrics", {}).get(CE_METRIC, {})
                amounts[keys] += float(metric.get("Amount", 0))
        token = page.get("NextPageToken")
        if not token:
            break
        request["NextPageToken"] = token
    actual.amounts = dict(amounts)
    return actual


def _group_value(kind: str, key: str, value: str) -> str:
    if kind == "TAG":
        return value.removeprefix(key + "$")
    return value


def _tag(key: str, values: Sequence[str]) -> ExpressionTypeDef:
    return {"Tags": {"Key": key, "Values": list(values), "MatchOptions": ["EQUALS"]}}


def run_actual(ce: CostExplorerClient, run: RunRecord, today: dt.date) -> Actual | None:
    """Cost tagged ``run-id = run.run_id``, by (service, variant); None if out of range."""
    days = [d for d in (run.day, run.last_day) if d is not None]
    period = ce_period(days, today)
    if period is None:
        return None
    return get_cost_and_usage(
        ce, period, [("DIMENSION", "SERVICE"), ("TAG", VARIANT_TAG)], _tag(RUN_TAG, [run.run_id])
    )


def runs_actual(
    ce: CostExplorerClient,
    runs: Sequence[RunRecord],
    today: dt.date,
    *,
    workflow: str | None = None,
    cost_center: str | None = None,
) -> Actual | None:
    """Cost grouped by the ``run-id`` tag over the runs' days, filtered by the other tags.

    None when there is no run, or their days are older than Cost Explorer keeps.
    """
    days = [d for run in runs for d in (run.day, run.last_day) if d is not None]
    period = ce_period(days, today)
    if period is None:
        return None
    filters = [
        _tag(tag, [value])
        for tag, value in ((WORKFLOW_TAG, workflow), (COST_CENTER_TAG, cost_center))
        if value is not None
    ]
    expression: ExpressionTypeDef | None = None
    if len(filters) == 1:
        expression = filters[0]
    elif filters:
        expression = {"And": filters}
    return get_cost_and_usage(ce, period, [("TAG", RUN_TAG)], expression)


def actual_by_run(actual: Actual, runs: Sequence[RunRecord]) -> tuple[dict[str, float], list[str]]:
    """USD per run id of ``runs``, and the other tagged run ids Cost Explorer reported.

    Cost with an empty ``run-id`` (everything untagged) is left out.
    """
    known = {run.run_id for run in runs}
    found: dict[str, float] = {}
    others: list[str] = []
    for (run_id,), usd in actual.amounts.items():
        if run_id in known:
            found[run_id] = found.get(run_id, 0.0) + usd
        elif run_id:
            others.append(run_id)
    return found, sorted(others)


def split_run_actual(actual: Actual) -> tuple[dict[str, float], dict[str, float]]:
    """A run's actual cost by estimate service (``other:<name>`` if unknown) and by variant."""
    by_service: defaultdict[str, float] = defaultdict(float)
    by_variant: defaultdict[str, float] = defaultdict(float)
    for (service, variant), usd in actual.amounts.items():
        by_service[CE_SERVICES.get(service, f"other:{service}")] += usd
        by_variant[variant or "-"] += usd
    return dict(by_service), dict(by_variant)


def caveats(actual: Actual | None, *, found: bool, what: str) -> list[str]:
    """Notes to print beside actual cost: why it may be missing, and what it covers.

    ``found``: Cost Explorer reported cost for the runs asked about; ``what`` names them
    ("run-id=abc", "these 12 runs").
    """
    if actual is None:
        return [f"No actual cost for {what}: Cost Explorer keeps the last 13 months only."]
    notes: list[str] = []
    window = f"{actual.start.isoformat()} .. {actual.end.isoformat()} (exclusive)"
    if actual.unavailable:
        notes.append(f"Cost Explorer has no data yet for {window} (DataUnavailableException).")
    elif not found:
        notes.append(f"Cost Explorer has no cost tagged {what} for {window}.")
    elif actual.estimated:
        notes.append("AWS marks some of these days as estimated: the bill is not final yet.")
    if not found or actual.unavailable:
        notes.extend(CAVEATS)
    else:
        notes.append(CAVEATS[2])
    notes.append(
        f"{actual.requests} Cost Explorer request(s) at USD 0.01 each; metric {CE_METRIC}."
    )
    return notes
