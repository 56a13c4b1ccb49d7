"""Close a run: compare its variants and price it.

``summarize_run`` takes every variant's outcome (collect_metrics' result, or the failure
the state machine caught), names the fastest and the cheapest succeeded variant, and
estimates the run's cost with ``runledger.pricing``. A run where no variant succeeded is
a failed run: ``AllVariantsFailedError`` travels to the state machine, which records it.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

from runledger import pricing
from runledger.dynamo import to_attribute_value
from runledger.models import (
    Cheapest,
    CostBreakdown,
    Fastest,
    RunCost,
    RunResult,
    RunSummary,
    SummarizeRunEvent,
    VariantFailed,
    VariantSucceeded,
)

logger = Logger(child=True)


class AllVariantsFailedError(Exception):
    """No variant of the run succeeded; the message lists each variant and its error."""


class VariantMismatchError(ValueError):
    """The outcomes do not match the request's variants (a wiring bug, not a user error)."""


def summarize_run(
    event: SummarizeRunEvent, lambda_memory_mb: int = pricing.DEFAULT_LAMBDA_MEMORY_MB
) -> RunResult:
    """Summarize and price a run from its variants' outcomes.

    Failed variants count in the summary but add no Batch cost (their job times are not
    known here). Ties for fastest and cheapest go to the variant listed first.

    Raises:
        AllVariantsFailedError: no variant succeeded.
        VariantMismatchError: an outcome is missing, extra or repeated.
    """
    requested = [variant.name for variant in event.request.variants]
    reported = [outcome.name for outcome in event.variants]
    if sorted(requested) != sorted(reported):
        raise VariantMismatchError(f"request has variants {requested}, outcomes are for {reported}")

    succeeded = [o for o in event.variants if isinstance(o, VariantSucceeded)]
    failed = [o for o in event.variants if isinstance(o, VariantFailed)]
    if not succeeded:
        details = ", ".join(f"{o.name} ({o.error or 'unknown error'})" for o in failed)
        raise AllVariantsFailedError(f"all {len(failed)} variants failed: {details}")

    fastest = min(succeeded, key=lambda o: o.duration_seconds)
    cheapest = min(succeeded, key=lambda o: o.cost.batch_usd)
    summary = RunSummary(
        variants_total=len(event.variants),
        variants_succeeded=len(succeeded),
        variants_failed=len(failed),
        failed_variants=[o.name for o in failed],
        fastest=Fastest(name=fastest.name, duration_seconds=fastest.duration_seconds),
        cheapest=Cheapest(name=cheapest.name, batch_usd=cheapest.cost.batch_usd),
    )

    by_variant = {o.name: o.cost.batch_usd for o in succeeded}
    estimate = pricing.estimate_run_cost(
        batch_usd=sum(by_variant.values()),
        n_variants=len(event.variants),
        transitions=event.transitions_estimate,
        lambda_memory_mb=lambda_memory_mb,
    )
    book = pricing.price_book()
    cost = RunCost(
        total_usd=estimate.total,
        breakdown=CostBreakdown(
            batch=estimate.batch,
            stepfunctions=estimate.stepfunctions,
            lambda_=estimate.lambda_,
            pipes=estimate.pipes,
            dynamodb=estimate.dynamodb,
        ),
        by_variant=by_variant,
        price_region=book.region,
        prices_as_of=book.as_of,
    )
    logger.info(
        "run summarized",
        extra={
            "run_id": event.run_id,
            "variants_succeeded": summary.variants_succeeded,
            "variants_failed": summary.variants_failed,
            "total_usd": cost.total_usd,
        },
    )
    return RunResult(
        summary=summary,
        cost=cost,
        attributes={
            "summary": to_attribute_value(summary.model_dump(mode="json")),
            "cost": to_attribute_value(cost.model_dump(mode="json")),
        },
    )
