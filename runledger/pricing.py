"""Estimate what a run costs: unit prices from ``prices.json`` times the run's usage.

This is the genomics-blog style estimate, not a bill. Every unit price, its source URL and
the date it was copied live in ``runledger/prices.json`` (us-east-1 list prices), read once
per process. Assumptions are named there too (Fargate Spot discount, Lambda duration).

Money is a ``float`` of USD, never rounded here: sums of a few dozen terms keep a relative
error near 1e-16, far below the cents anyone reads. Round only to show a number
(``format_usd``). A Batch job runs where its variant says (runledger.compute): on Fargate
at its architecture (``BATCH_ARCH``, x86_64, by default; Fargate Spot has no arm64), or
on an EC2 compute option's instance type; the Lambda functions run on ``LAMBDA_ARCH``
(arm64). tests/unit/test_pricing.py checks both against template.yaml.

Usage of one run with N variants, measured or modelled:

* Batch (measured): per variant, every attempt's startedAt..stoppedAt from the ``.sync``
  result, priced per attempt (``batch_job_cost``):

  - Fargate: the task's vCPU-hours and GB-hours at the architecture's prices, billed per
    second with a one-minute minimum (``fargate_cost``).
  - EC2 (Seqera's rule, docs.seqera.io/platform/24.2/monitoring/cloud-costs): the job's
    share of its instance for as long as it ran, ``hourly price x seconds / 3600 x
    max(job vCPUs / instance vCPUs, job MiB / instance MiB)`` (``ec2_cost``): the larger
    share is what the job keeps from other jobs. Idle instance time, scaling up and down
    and EBS are not charged to any job, so the sum of a run's jobs is below the bill.
  - Spot takes an assumed discount off the on-demand price (``fargate_spot_discount``,
    ``ec2_spot_discount`` in prices.json: assumptions, not Spot prices).
* Step Functions Standard (counted from the execution history when SummarizeRun can read
  it; else modelled): ``estimated_transitions(N)`` = 5 + 3N transitions (6 + 3N when
  every variant failed).
* Lambda (measured from the execution history when SummarizeRun can read it, see
  ``runledger.usage``; else modelled): ``lambda_invocations(N)`` = 2 + N invocations at
  the configured memory, each lasting the ``lambda_billed_seconds_per_invocation``
  assumption.
* EventBridge Pipes (modelled): 1 request (the request image is capped at 64 KiB, one
  Pipes chunk).
* DynamoDB on demand (modelled): ``dynamodb_writes(N)`` = 4 + N write request units.
  StartRun's claim returns the item it wrote, which costs no read units.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Arch = Literal["x86_64", "arm64"]
CapacityType = Literal["ON_DEMAND", "SPOT"]

SECONDS_PER_HOUR = 3600
MIB_PER_GIB = 1024
DEFAULT_LAMBDA_MEMORY_MB = 256
#: What a Batch job runs on unless its variant says otherwise (a variant's default
#: architecture, runledger.models.Variant).
BATCH_ARCH: Arch = "x86_64"
#: What the Lambda functions run on (Globals.Function.Architectures in template.yaml).
LAMBDA_ARCH: Arch = "arm64"


class UnitPrice(BaseModel):
    """One unit price: USD per ``unit``, where it was published and when it was copied."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    usd: float = Field(ge=0)
    unit: str
    source: str
    as_of: str


class PricedValue(BaseModel):
    """A pricing rule or assumption: a number with its reason and source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: float
    note: str
    source: str
    as_of: str


class InstanceSpec(BaseModel):
    """An EC2 instance type: its vCPUs, memory, architecture and on-demand price's key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vcpus: int = Field(gt=0)
    memory_mib: int = Field(gt=0)
    architecture: Arch
    price: str = Field(description="The key of its Linux on-demand hourly price in prices.")
    source: str
    as_of: str


class PriceBook(BaseModel):
    """The parsed ``prices.json``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    region: str
    currency: Literal["USD"]
    as_of: str
    note: str
    prices: dict[str, UnitPrice]
    rules: dict[str, PricedValue]
    assumptions: dict[str, PricedValue]
    instances: dict[str, InstanceSpec] = Field(default_factory=dict)

    def usd(self, name: str) -> float:
        """The unit price called ``name`` (a key of ``prices``)."""
        return self.prices[name].usd

    def instance(self, instance_type: str) -> InstanceSpec:
        """The EC2 instance type's facts (raises ``KeyError`` for one not listed)."""
        return self.instances[instance_type]


@functools.cache
def price_book() -> PriceBook:
    """The price book shipped with the package, loaded and validated once per process."""
    text = resources.files("runledger").joinpath("prices.json").read_text(encoding="utf-8")
    return PriceBook.model_validate(json.loads(text))


@dataclass(frozen=True, slots=True)
class FargateCost:
    """The cost of one Fargate task and the billed usage behind it."""

    usd: float
    billed_seconds: int
    vcpu_seconds: float
    gib_seconds: float


def fargate_billed_seconds(seconds: float) -> int:
    """Seconds Fargate bills for a task that ran ``seconds``: rounded up, at least the minimum."""
    minimum = int(price_book().rules["fargate_minimum_billed_seconds"].value)
    return max(minimum, math.ceil(seconds))


def fargate_cost(
    vcpus: float,
    memory_mib: int,
    seconds: float,
    capacity: CapacityType,
    arch: Arch = BATCH_ARCH,
) -> FargateCost:
    """Price one Fargate task of ``vcpus`` and ``memory_mib`` that ran for ``seconds``.

    Billed time is ``fargate_billed_seconds(seconds)``. Memory is priced per GB-hour with
    1 GB = 1024 MiB (Fargate's sizes are GiB). SPOT takes the assumed Spot discount off the
    on-demand price. Batch's startedAt..stoppedAt excludes image pull time, which Fargate
    also bills, so this slightly underestimates.

    Raises:
        ValueError: negative ``seconds``, or SPOT with arm64 (Fargate Spot is x86_64 only).
    """
    if seconds < 0:
        raise ValueError(f"seconds must be >= 0, got {seconds}")
    if capacity == "SPOT" and arch != "x86_64":
        raise ValueError("Fargate Spot runs x86_64 tasks only")
    book = price_book()
    billed = fargate_billed_seconds(seconds)
    vcpu_seconds = vcpus * billed
    gib_seconds = memory_mib / MIB_PER_GIB * billed
    usd = (
        vcpu_seconds * book.usd(f"fargate_linux_{arch}_vcpu_hour")
        + gib_seconds * book.usd(f"fargate_linux_{arch}_gb_hour")
    ) / SECONDS_PER_HOUR
    if capacity == "SPOT":
        usd *= 1 - book.assumptions["fargate_spot_discount"].value
    return FargateCost(
        usd=usd, billed_seconds=billed, vcpu_seconds=vcpu_seconds, gib_seconds=gib_seconds
    )


def ec2_cost(
    vcpus: float, memory_mib: int, seconds: float, capacity: CapacityType, instance_type: str
) -> FargateCost:
    """Price one attempt of a job on an EC2 ``instance_type`` that ran ``seconds``.

    Seqera's rule (docs.seqera.io/platform/24.2/monitoring/cloud-costs): the instance's
    hourly price x ``seconds`` / 3600 x max(``vcpus`` / instance vCPUs, ``memory_mib`` /
    instance MiB). No minimum: EC2 bills the instance, not the job, per second. SPOT takes
    the ``ec2_spot_discount`` assumption off the on-demand price. ``billed_seconds`` is the
    run time rounded up; the vCPU- and GiB-seconds are the job's own.

    Raises:
        ValueError: negative ``seconds``.
        KeyError: an instance type prices.json does not list.
    """
    if seconds < 0:
        raise ValueError(f"seconds must be >= 0, got {seconds}")
    book = price_book()
    instance = book.instance(instance_type)
    share = max(vcpus / instance.vcpus, memory_mib / instance.memory_mib)
    usd = book.usd(instance.price) * seconds / SECONDS_PER_HOUR * share
    if capacity == "SPOT":
        usd *= 1 - book.assumptions["ec2_spot_discount"].value
    return FargateCost(
        usd=usd,
        billed_seconds=math.ceil(seconds),
        vcpu_seconds=vcpus * seconds,
        gib_seconds=memory_mib / MIB_PER_GIB * seconds,
    )


@dataclass(frozen=True, slots=True)
class BatchJobCost:
    """A Batch job priced over every attempt: each attempt is one Fargate task, billed alone."""

    usd: float
    attempts: int
    billed_seconds: int
    vcpu_seconds: float
    gib_seconds: float


def batch_job_cost(
    vcpus: float,
    memory_mib: int,
    capacity: CapacityType,
    attempt_seconds: Sequence[float],
    arch: Arch = BATCH_ARCH,
    instance_type: str | None = None,
) -> BatchJobCost:
    """Price a Batch job whose attempts ran ``attempt_seconds`` each: ``fargate_cost`` each
    at ``arch``, or ``ec2_cost`` each on ``instance_type`` when one is given (an EC2
    compute option's).

    A retried job (Spot reclaim, transient exit) pays for every attempt, each with its
    own one-minute minimum on Fargate. No attempts costs nothing.
    """
    tasks = [
        fargate_cost(vcpus, memory_mib, seconds, capacity, arch)
        if instance_type is None
        else ec2_cost(vcpus, memory_mib, seconds, capacity, instance_type)
        for seconds in attempt_seconds
    ]
    return BatchJobCost(
        usd=sum(task.usd for task in tasks),
        attempts=len(tasks),
        billed_seconds=sum(task.billed_seconds for task in tasks),
        vcpu_seconds=sum(task.vcpu_seconds for task in tasks),
        gib_seconds=sum(task.gib_seconds for task in tasks),
    )


def lambda_billed_seconds_per_invocation() -> float:
    """The assumed billed duration of one Lambda invocation (prices.json assumptions)."""
    return price_book().assumptions["lambda_billed_seconds_per_invocation"].value


def lambda_cost(
    invocations: int,
    memory_mb: int = DEFAULT_LAMBDA_MEMORY_MB,
    billed_seconds: float | None = None,
    arch: Arch = LAMBDA_ARCH,
) -> float:
    """USD for ``invocations`` Lambda calls at ``memory_mb`` lasting ``billed_seconds`` each.

    Requests plus GB-seconds (1 GB = 1024 MB). ``billed_seconds`` defaults to the
    ``lambda_billed_seconds_per_invocation`` assumption. The free tier is ignored.
    """
    book = price_book()
    if billed_seconds is None:
        billed_seconds = lambda_billed_seconds_per_invocation()
    gb_seconds = invocations * (memory_mb / 1024) * billed_seconds
    return invocations * book.usd("lambda_request") + gb_seconds * book.usd(
        f"lambda_{arch}_gb_second"
    )


def stepfunctions_cost(transitions: int) -> float:
    """USD for ``transitions`` Standard workflow state transitions (free tier ignored)."""
    return transitions * price_book().usd("stepfunctions_standard_state_transition")


def pipes_cost(requests: int = 1) -> float:
    """USD for ``requests`` EventBridge Pipes requests (events that pass the filter)."""
    return requests * price_book().usd("pipes_request")


def dynamodb_write_cost(write_request_units: int) -> float:
    """USD for ``write_request_units`` on-demand DynamoDB write request units."""
    return write_request_units * price_book().usd("dynamodb_on_demand_write_request_unit")


def estimated_transitions(n_variants: int, *, all_failed: bool = False) -> int:
    """State transitions of a run with ``n_variants`` variants: ``5 + 3 * n``.

    Five run-level states (StartRun, RunVariants, SummarizeRun, DidAnyVariantSucceed,
    RecordResult) and three per job: the Distributed Map's start of the job's child
    execution (billed as a transition, step-functions/latest/dg/concepts-transitions.html),
    RunJob and CollectMetrics (which records the job's item itself), as in
    statemachines/run_workflow.asl.json. It was 8 + 4n before StartRun took over the claim,
    the check and the mark, RunJob built its job in JSONata, and CollectMetrics took over
    RecordVariant's write. A run whose variants all failed ends with RecordRunFailed and
    RunFailed instead of RecordResult: one more. Every Retry attempt adds one; a failed job
    takes a path as long (RunJob, RecordVariantFailure) or, unrecorded, one longer.
    """
    return 5 + 3 * n_variants + (1 if all_failed else 0)


def lambda_invocations(n_variants: int) -> int:
    """Lambda invocations of a run: ``2 + n`` (start, summarize; collect for each variant)."""
    return 2 + n_variants


def dynamodb_writes(n_variants: int) -> int:
    """Write request units of a run: ``4 + n``.

    The request put (by whoever starts the run), StartRun's claim and mark, one put per
    variant, record the result. Assumes every item is at most 1 KB (a larger item costs
    one unit per started KB; an update is sized by the larger of the item before and
    after, and a finished run item with its summary and cost is about 2 KB) and leaves out
    stream reads by the pipe.
    """
    return 4 + n_variants


@dataclass(frozen=True, slots=True)
class OrchestrationUsage:
    """The modelled usage of everything around the Batch jobs in one run."""

    transitions: int
    lambda_invocations: int
    lambda_memory_mb: int
    lambda_seconds_per_invocation: float
    lambda_arch: Arch
    pipes_requests: int
    dynamodb_write_request_units: int

    @property
    def lambda_gb_seconds(self) -> float:
        """Invocations x memory (GB, 1 GB = 1024 MB) x billed seconds per invocation."""
        return (
            self.lambda_invocations
            * self.lambda_memory_mb
            / 1024
            * (self.lambda_seconds_per_invocation)
        )


@dataclass(frozen=True, slots=True)
class RunCostEstimate:
    """A run's estimated cost by service, USD, and the orchestration usage priced."""

    batch: float
    stepfunctions: float
    lambda_: float
    pipes: float
    dynamodb: float
    usage: OrchestrationUsage

    @property
    def total(self) -> float:
        """The sum of the services."""
        return self.batch + self.stepfunctions + self.lambda_ + self.pipes + self.dynamodb


def estimate_run_cost(
    batch_usd: float,
    n_variants: int,
    transitions: int | None = None,
    lambda_memory_mb: int = DEFAULT_LAMBDA_MEMORY_MB,
    *,
    all_failed: bool = False,
    lambda_seconds: Sequence[float] | None = None,
) -> RunCostEstimate:
    """Price a run of ``n_variants`` whose Batch jobs cost ``batch_usd`` in total.

    ``transitions`` defaults to ``estimated_transitions(n_variants, all_failed=...)``.
    ``lambda_seconds`` are the measured billed seconds of each Lambda invocation; without
    them, ``lambda_invocations(n_variants)`` calls of the assumed duration are priced.
    """
    if transitions is None:
        transitions = estimated_transitions(n_variants, all_failed=all_failed)
    if lambda_seconds is None:
        invocations, per_call = (
            lambda_invocations(n_variants),
            lambda_billed_seconds_per_invocation(),
        )
    else:
        invocations = len(lambda_seconds)
        per_call = sum(lambda_seconds) / invocations if invocations else 0.0
    usage = OrchestrationUsage(
        transitions=transitions,
        lambda_invocations=invocations,
        lambda_memory_mb=lambda_memory_mb,
        lambda_seconds_per_invocation=per_call,
        lambda_arch=LAMBDA_ARCH,
        pipes_requests=1,
        dynamodb_write_request_units=dynamodb_writes(n_variants),
    )
    return RunCostEstimate(
        batch=batch_usd,
        stepfunctions=stepfunctions_cost(usage.transitions),
        lambda_=lambda_cost(
            usage.lambda_invocations,
            memory_mb=usage.lambda_memory_mb,
            billed_seconds=usage.lambda_seconds_per_invocation,
            arch=usage.lambda_arch,
        ),
        pipes=pipes_cost(usage.pipes_requests),
        dynamodb=dynamodb_write_cost(usage.dynamodb_write_request_units),
        usage=usage,
    )


def format_usd(amount: float, places: int = 6) -> str:
    """Money for people: ``0.00123456789 -> "$0.001235"``. The only place USD is rounded."""
    return f"${amount:,.{places}f}"
