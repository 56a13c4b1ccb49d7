"""The run request contract, and the shapes more than one Lambda step shares.

``RunRequest`` (with ``Variant`` and the workload's declared input) is the contract of a run
request and its documentation: the docstrings and field descriptions below are what the
README and ``RunRequest.model_json_schema()`` show. A request item in the runs table looks
like this (plain JSON; the table stores it as DynamoDB JSON)::

    {"pk": "RUN#kmer-2026-11-23-001", "sk": "REQUEST", "status": "REQUESTED",
     "workflow": "kmer-count", "cost_center": "genomics-lab",
     "input": {"uri": "s3://bucket/sample.fastq", "k": 21},
     "variants": [
       {"name": "od-1vcpu",   "vcpus": 1, "memory_mib": 2048, "capacity": "ON_DEMAND"},
       {"name": "spot-2vcpu", "vcpus": 2, "memory_mib": 4096, "capacity": "SPOT"}]}

The request models are strict (a number written as a string is an error, not coerced) and
forbid unknown attributes. The events and results of each Lambda step live with the step
(runledger.validation, .variants, .results, .summary and .closing), so that a handler
builds only its own models when it starts cold (docs/cold-start.md); those at the end of
this module are shared by the steps. Events are built by the state machine, not by
people: they are lax (``StepEvent``) and ignore attributes they do not use.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from runledger import compute
from runledger.compute import format_vcpus as format_vcpus  # re-exported
from runledger.workflows import workflows

RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$"
COST_CENTER_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
VARIANT_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,39}$"
PK_PREFIX = "RUN#"
REQUEST_SK = "REQUEST"
VARIANT_SK_PREFIX = "VARIANT#"
MAX_VARIANTS = 200
#: How often one variant may run (each repeat is its own job and VARIANT# item).
MAX_REPEATS = 10
#: Most jobs a run may hold: its variants' repeats summed.
MAX_JOBS = 1000
#: Largest request item accepted, as compact JSON of its DynamoDB JSON. It keeps the
#: request well inside Step Functions' 256 KiB state payload and is one EventBridge Pipes
#: request (Pipes bill every 64 KB of payload as one request).
MAX_REQUEST_BYTES = 64 * 1024

#: Attributes the workflow writes on a request item (or that exist on re-runs); the
#: validator ignores them, along with the table keys.
IGNORED_ATTRIBUTES = frozenset(
    {
        "pk",
        "sk",
        "status",
        "execution",
        "claimed_at",
        "started_at",
        "finished_at",
        "summary",
        "cost",
        "error",
        "cause",
        "reason",
        "attempt",
        "updated_at",
        "variant_count",
        "job_count",
        "ttl",
    }
)


def split_run_items(
    items: Iterable[Mapping[str, Any]],
) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
    """A run's items (plain values) as its REQUEST item (None if absent) and the VARIANT#
    items of the execution that owns the run, by variant name.

    A VARIANT# item another execution wrote is an older claim's: a re-run with fewer
    variants leaves them, and a stale execution may have written one before the newer
    claim reached that variant. It is not this run's result and is left out.
    """
    request: dict[str, Any] | None = None
    variants: dict[str, dict[str, Any]] = {}
    for item in items:
        sk = str(item.get("sk"))
        if sk == REQUEST_SK:
            request = dict(item)
        elif sk.startswith(VARIANT_SK_PREFIX):
            variants[sk.removeprefix(VARIANT_SK_PREFIX)] = dict(item)
    owner = request.get("execution") if request else None
    return request, {
        name: item for name, item in variants.items() if owner and item.get("execution") == owner
    }


#: Valid Fargate task sizes: vCPU -> the memory sizes (MiB) allowed with it (declared with
#: the other compute options' rules, runledger.compute).
FARGATE_MEMORY_MIB = compute.FARGATE_MEMORY_MIB

Capacity = Literal["ON_DEMAND", "SPOT"]
Architecture = Literal["x86_64", "arm64"]


def compact_number(value: float) -> int | float:
    """``2.0 -> 2``, ``0.25 -> 0.25``: whole numbers serialize as integers."""
    return int(value) if float(value).is_integer() else value


#: A vCPU count: a float that serializes as an int when whole (``2``, not ``2.0``).
Vcpus = Annotated[float, PlainSerializer(compact_number, return_type=int | float)]


class Variant(BaseModel):
    """One way to run the workload: a compute option, a CPU architecture, a size and a
    capacity type (runledger.compute has the rules and the declared options).

    ``compute`` is ``fargate`` (the default) or a declared EC2 option,
    ``ec2-<instance type>`` (template.yaml; e.g. ``ec2-m7i.xlarge``, ``ec2-m7g.xlarge``).
    On Fargate, ``vcpus`` and ``memory_mib`` must be a valid Fargate combination (see
    ``FARGATE_MEMORY_MIB``): 0.25 vCPU with 512, 1024 or 2048 MiB; 0.5 with 1024..4096;
    1 with 2048..8192; 2 with 4096..16384; 4 with 8192..30720 (steps of 1024); 8 with
    16384..61440 (steps of 4096); 16 with 32768..122880 (steps of 8192); Fargate Spot has
    no arm64. On EC2, whole vCPUs up to the instance's, memory up to 95% of the
    instance's (the ECS agent and the system keep the rest), and the instance's
    architecture.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: str = Field(
        pattern=VARIANT_NAME_PATTERN,
        description=(
            "Unique within the request; lowercase letters, digits and '-', at most 40 "
            "characters, starting with a letter or digit. Names the VARIANT#<name> item."
        ),
    )
    vcpus: Vcpus = Field(
        description="vCPUs: on Fargate 0.25, 0.5, 1, 2, 4, 8 or 16; on EC2 1..the instance's."
    )
    memory_mib: int = Field(
        description=(
            "Memory in MiB: a Fargate size for the vcpus, or on EC2 up to 95% of the instance's."
        )
    )
    capacity: Capacity = Field(
        description=("ON_DEMAND or SPOT (Fargate Spot or EC2 Spot: cheaper, can be reclaimed).")
    )
    architecture: Architecture = Field(
        default="x86_64",
        description="CPU architecture: x86_64 (default) or arm64 (AWS Graviton).",
    )
    compute: str = Field(
        default=compute.FARGATE,
        max_length=64,
        description=(
            "Where the job runs: fargate (default) or a declared EC2 compute option, "
            "ec2-<instance type> (e.g. ec2-m7g.xlarge)."
        ),
    )
    timeout_seconds: int = Field(
        default=3600,
        ge=60,
        le=86400,
        description="Batch attempt timeout in seconds, 60..86400 (default 3600).",
    )
    repeats: int = Field(
        default=1,
        ge=1,
        le=MAX_REPEATS,
        description=(
            f"How many times to run it, 1..{MAX_REPEATS} (default 1): each repeat is its own "
            "job and VARIANT#<name>#<repeat> item, so that the spread of its timings is "
            "measured."
        ),
    )

    @model_validator(mode="after")
    def _runs_on_its_compute(self) -> Variant:
        """The compute option's rules (runledger.compute.problems); the error names the
        attribute at fault (``attribute``), which the reason appends to the variant's."""
        found = compute.problems(
            self.compute, self.architecture, self.capacity, self.vcpus, self.memory_mib
        )
        if found:
            attribute, kind, message = found[0]
            raise PydanticCustomError(
                kind, "{message}", {"message": message, "attribute": attribute}
            )
        return self

    def placement(self, workflow: str) -> dict[str, str]:
        """The job queue and job definition of this variant's jobs (runledger.compute)."""
        return compute.placement(workflow, self.compute, self.architecture, self.capacity)


RunId = Annotated[
    str,
    Field(
        pattern=RUN_ID_PATTERN,
        description=(
            "The run's id, from the item's key pk = RUN#<run_id>: letters, digits, '.', "
            "'_' and '-', at most 80 characters, starting with a letter or digit."
        ),
    ),
]
CostCenter = Annotated[
    str,
    Field(
        pattern=COST_CENTER_PATTERN,
        description="Who pays: 1..64 letters, digits, '.', '_' or '-'. Tags every Batch job.",
    ),
]


class RunRequest(BaseModel):
    """A run request: the user-written attributes of a ``sk = REQUEST`` item.

    ``run_id`` comes from the key (``pk = RUN#<run_id>``). Attributes the workflow writes
    back (status, execution, summary, cost, ... see ``IGNORED_ATTRIBUTES``) are not part of
    the request. The whole item, as stored, must fit in ``MAX_REQUEST_BYTES``.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    run_id: RunId
    workflow: str = Field(description="A declared workload (template.yaml), e.g. 'kmer-count'.")
    cost_center: CostCenter
    input: dict[str, Any] = Field(
        description="The workload's input, as its declared schema says (kmer-count: uri, k)."
    )
    variants: list[Variant] = Field(
        min_length=1,
        max_length=MAX_VARIANTS,
        description=(
            f"1..{MAX_VARIANTS} variants with unique names; each runs as its repeats' Batch "
            f"jobs, at most {MAX_JOBS} in all."
        ),
    )

    @field_validator("workflow")
    @classmethod
    def _workflow_is_registered(cls, workflow: str) -> str:
        known = workflows()
        if workflow not in known:
            raise PydanticCustomError(
                "unknown_workflow",
                "unknown workflow {workflow}; known: {known}",
                {"workflow": repr(workflow)[:100], "known": ", ".join(sorted(known))},
            )
        return workflow

    @field_validator("variants")
    @classmethod
    def _variant_names_are_unique(cls, variants: list[Variant]) -> list[Variant]:
        seen: set[str] = set()
        for index, variant in enumerate(variants):
            if variant.name in seen:
                # ``index`` lets the reason point at variants.<index>.name.
                raise PydanticCustomError(
                    "duplicate_variant_name",
                    'duplicate variant name "{name}"',
                    {"name": variant.name, "index": index},
                )
            seen.add(variant.name)
        return variants

    @field_validator("variants")
    @classmethod
    def _jobs_fit_a_run(cls, variants: list[Variant]) -> list[Variant]:
        jobs = sum(variant.repeats for variant in variants)
        if jobs > MAX_JOBS:
            raise PydanticCustomError(
                "too_many_jobs",
                "the variants' repeats make {jobs} jobs; a run may hold at most {limit}",
                {"jobs": jobs, "limit": MAX_JOBS},
            )
        return variants

    @model_validator(mode="after")
    def _input_fits_the_workflow(self) -> RunRequest:
        """The input, checked against the workload's model. ``validate_request`` reports
        each of its problems by attribute (``input.k: ...``) and drops this summary."""
        try:
            workflows()[self.workflow].validated(self.input)
        except ValidationError as exc:
            raise PydanticCustomError(
                "workflow_input",
                "input does not fit workflow {workflow} ({count} problem(s))",
                {"workflow": repr(self.workflow), "count": exc.error_count()},
            ) from None
        return self


def job_key(name: str, repeat: int, repeats: int) -> str:
    """A job's key in its run: the variant's name, or ``<name>#<repeat>`` (from 1) when the
    variant repeats. It names the job's ``VARIANT#<key>`` item and its summary row."""
    return name if repeats == 1 else f"{name}#{repeat}"


def each_job(variants: Iterable[Variant]) -> Iterator[tuple[int, Variant, int, str]]:
    """Every job of a run's variants, in order (each variant's repeats in turn), as
    ``(variant index, variant, repeat, key)``."""
    for index, variant in enumerate(variants):
        for repeat in range(1, variant.repeats + 1):
            yield index, variant, repeat, job_key(variant.name, repeat, variant.repeats)


def jobs_of(variants: Iterable[Variant]) -> dict[str, Variant]:
    """Every job of a run's variants, by key, in order: each variant's repeats in turn."""
    return {key: variant for _, variant, _, key in each_job(variants)}


def run_id_from_pk(pk: str) -> str:
    """``"RUN#abc" -> "abc"``; raises ``ValueError`` when ``pk`` lacks the prefix."""
    if not pk.startswith(PK_PREFIX):
        raise ValueError(f"must look like {PK_PREFIX}<run_id>")
    return pk.removeprefix(PK_PREFIX)


# --------------------------------------------------------------------------- shared by the steps


class StepEvent(BaseModel):
    """Base of the events the state machine sends: lax, unknown keys ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class AttemptTime(BaseModel):
    """One attempt of a Batch job (one Fargate task): epoch milliseconds, absent if unknown.

    An attempt that never started (no ``started_at``) ran no task and costs nothing.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    started_at: int | None = Field(default=None, ge=0)
    stopped_at: int | None = Field(default=None, ge=0)

    @property
    def seconds(self) -> float | None:
        """How long the attempt ran, or None when it has no start or no stop."""
        if self.started_at is None or self.stopped_at is None:
            return None
        return max(0, self.stopped_at - self.started_at) / 1000


class VariantCost(BaseModel):
    """A variant's Batch (Fargate) cost: USD and the billed usage behind it, every attempt."""

    batch_usd: float
    attempts_billed: int = Field(description="Attempts that ran a Fargate task.")
    billed_seconds: int = Field(description="Fargate billed seconds, summed over attempts.")
    vcpu_seconds: float
    gib_seconds: float


class VariantSucceeded(BaseModel):
    """collect_metrics' result; one item of summarize_run's ``variants``.

    ``attributes`` (the VARIANT# item in DynamoDB JSON, without keys) is set by
    collect_metrics; the state machine drops it after writing the item.
    """

    model_config = ConfigDict(extra="ignore")

    name: str
    status: Literal["SUCCEEDED"] = "SUCCEEDED"
    capacity: Capacity
    vcpus: Vcpus
    memory_mib: int
    job_id: str
    attempts: int
    duration_seconds: float
    metrics: dict[str, Any]
    cost: VariantCost
    attributes: dict[str, Any] | None = None
