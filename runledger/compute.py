"""The compute options a variant may name, and where each variant's job goes.

A variant runs on a compute option (its ``compute``) and a CPU architecture (its
``architecture``: ``x86_64``, the default, or ``arm64``, AWS Graviton):

* ``fargate`` (the default): Fargate for ``ON_DEMAND``, Fargate Spot for ``SPOT``, at a
  Fargate task size. Fargate Spot has no arm64 capacity.
* ``ec2-<instance type>`` (e.g. ``ec2-m7g.xlarge``): Batch-managed EC2 instances of that
  one type, On-Demand or Spot. Each is declared once in template.yaml, an item of the
  ``Ec2ComputeOptions`` loop; its vCPUs, memory and architecture are in prices.json
  (``instances``) beside its hourly price.

``make workloads`` copies every option (its two queues) and every workload's job
definition per platform from the template into ``compute.json`` beside this module (the
Lambda functions cannot read the template; a test keeps the copy current), as it does
``workloads.json``. ``RUNLEDGER_COMPUTE`` names another file (the local cloud writes one
from the template it runs). ``problems`` says what is wrong with a variant's choice, each
problem by attribute; ``placement`` names the queue and the job definition a variant's
jobs are submitted to, without the ``<stack>-`` / ``<stack>-workload-`` prefixes that
RunJob adds (the state machine's JobQueuePrefix and WorkloadJobDefinitionPrefix).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    from runledger.pricing import InstanceSpec

#: The catalogue file's name, beside this module, and the variable naming another one.
COMPUTE_FILE = "compute.json"
COMPUTE_ENV = "RUNLEDGER_COMPUTE"
#: The two kinds of compute option (``fargate`` is also the Fargate option's name).
Kind = Literal["fargate", "ec2"]
FARGATE: Final[Kind] = "fargate"
EC2: Final[Kind] = "ec2"
#: The share of an instance's memory a job may ask for: the ECS agent and the operating
#: system keep some of it, so a job asking for all of it is never placed ("AWS Batch
#: reserves ... memory for the ECS agent and other system processes"; about 5%, rounded
#: down): https://docs.aws.amazon.com/batch/latest/userguide/memory-management.html
EC2_MEMORY_FRACTION = 0.95
#: The least memory a Batch container may have (ResourceRequirement MEMORY):
#: https://docs.aws.amazon.com/batch/latest/APIReference/API_ResourceRequirement.html
MIN_MEMORY_MIB = 4

#: Valid Fargate task sizes: vCPU -> the memory sizes (MiB) allowed with it.
#: https://docs.aws.amazon.com/batch/latest/APIReference/API_ResourceRequirement.html
FARGATE_MEMORY_MIB: Mapping[float, Sequence[int]] = {
    0.25: (512, 1024, 2048),
    0.5: range(1024, 4096 + 1, 1024),
    1: range(2048, 8192 + 1, 1024),
    2: range(4096, 16384 + 1, 1024),
    4: range(8192, 30720 + 1, 1024),
    8: range(16384, 61440 + 1, 4096),
    16: range(32768, 122880 + 1, 8192),
}


def platform_key(kind: Kind, architecture: str | None) -> str:
    """Which job definition a job needs: ``fargate/x86_64``, ``fargate/arm64`` (a Fargate
    job definition fixes its architecture) or ``ec2`` (one serves every instance: the
    instance pulls its architecture's image from the multi-arch manifest)."""
    return EC2 if kind == EC2 else f"{FARGATE}/{architecture}"


@dataclass(frozen=True, slots=True)
class ComputeOption:
    """One declared compute option: its kind, instance type (EC2) and queue per capacity."""

    name: str
    kind: Kind
    job_queues: Mapping[str, str]
    instance_type: str | None = None

    def instance(self) -> InstanceSpec:
        """The EC2 instance type's vCPUs, memory and architecture (prices.json)."""
        if self.instance_type is None:
            raise ValueError(f"{self.name} is not an EC2 compute option")
        # The price book (pydantic models and prices.json) only for an EC2 option: a run of
        # Fargate variants never reads it, so StartRun's cold import leaves it out.
        from runledger.pricing import price_book

        return price_book().instance(self.instance_type)


@dataclass(frozen=True, slots=True)
class Catalogue:
    """compute.json: the options by name and each workload's job definition by platform."""

    options: Mapping[str, ComputeOption]
    job_definitions: Mapping[str, Mapping[str, str]]


@cache
def _load(path: str | None) -> Catalogue:
    if path:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    else:
        data = json.loads(
            resources.files("runledger").joinpath(COMPUTE_FILE).read_text(encoding="utf-8")
        )
    options = {
        name: ComputeOption(
            name=name,
            kind=entry["kind"],
            job_queues=dict(entry["job_queues"]),
            instance_type=entry.get("instance_type"),
        )
        for name, entry in data["options"].items()
    }
    return Catalogue(options=options, job_definitions=data["job_definitions"])


def catalogue() -> Catalogue:
    """The declared compute options (``RUNLEDGER_COMPUTE``, else ``compute.json``)."""
    return _load(os.environ.get(COMPUTE_ENV) or None)


def format_vcpus(vcpus: float) -> str:
    """A vCPU count as AWS Batch wants it in a resource requirement: "0.25", "0.5", "1", "2"."""
    return str(int(vcpus)) if float(vcpus).is_integer() else str(vcpus)


def _memory_choices(vcpus: float) -> str:
    sizes = FARGATE_MEMORY_MIB[vcpus]
    if isinstance(sizes, range):
        return f"{sizes.start}..{sizes[-1]} in steps of {sizes.step}"
    return ", ".join(str(size) for size in sizes[:-1]) + f" or {sizes[-1]}"


def ec2_memory_limit(instance: InstanceSpec) -> int:
    """The most memory (MiB) a job may ask for on one instance: ``EC2_MEMORY_FRACTION``
    of the instance's, rounded down."""
    return math.floor(instance.memory_mib * EC2_MEMORY_FRACTION)


def problems(
    compute: str, architecture: str, capacity: str, vcpus: float, memory_mib: int
) -> list[tuple[str, str, str]]:
    """What is wrong with a variant's compute choice, as ``(attribute, error type,
    message)``; empty when it can run. The first problem found in this order: the option
    is unknown; on Fargate, the vCPUs, the memory for them, Spot with arm64; on EC2, whole
    vCPUs within the instance's, memory within ``ec2_memory_limit``, the architecture
    the instance's."""
    options = catalogue().options
    option = options.get(compute)
    if option is None:
        known = ", ".join(sorted(options))
        return [
            ("compute", "unknown_compute", f"unknown compute option {compute!r}; known: {known}")
        ]
    if option.kind == FARGATE:
        if vcpus not in FARGATE_MEMORY_MIB:
            allowed = ", ".join(format_vcpus(size) for size in FARGATE_MEMORY_MIB)
            return [
                ("vcpus", "fargate_vcpus", f"must be one of {allowed}, got {format_vcpus(vcpus)}")
            ]
        if memory_mib not in FARGATE_MEMORY_MIB[vcpus]:
            return [
                (
                    "memory_mib",
                    "fargate_combination",
                    f"{memory_mib} is not a Fargate size for {format_vcpus(vcpus)} vCPU; "
                    f"use {_memory_choices(vcpus)}",
                )
            ]
        if capacity == "SPOT" and architecture != "x86_64":
            return [
                (
                    "architecture",
                    "fargate_spot_arch",
                    "Fargate Spot has no arm64 capacity; use capacity ON_DEMAND for arm64, "
                    "or architecture x86_64 for Spot",
                )
            ]
        return []
    instance = option.instance()
    where = (
        f"{compute} ({instance.vcpus} vCPUs, {instance.memory_mib} MiB, {instance.architecture})"
    )
    if not float(vcpus).is_integer() or vcpus < 1:
        return [
            (
                "vcpus",
                "ec2_vcpus",
                f"must be a whole number of vCPUs on EC2, got {format_vcpus(vcpus)}",
            )
        ]
    if vcpus > instance.vcpus:
        return [
            (
                "vcpus",
                "ec2_vcpus",
                f"at most {instance.vcpus} on {where}, got {format_vcpus(vcpus)}",
            )
        ]
    limit = ec2_memory_limit(instance)
    if not MIN_MEMORY_MIB <= memory_mib <= limit:
        return [
            (
                "memory_mib",
                "ec2_memory",
                f"must be {MIN_MEMORY_MIB}..{limit} on {where}: the ECS agent and the system "
                f"keep about {100 - round(EC2_MEMORY_FRACTION * 100)}% of it; got {memory_mib}",
            )
        ]
    if architecture != instance.architecture:
        return [
            (
                "architecture",
                "ec2_architecture",
                f"{compute} is {instance.architecture}, got {architecture}; name an "
                f"{architecture} compute option or set architecture {instance.architecture}",
            )
        ]
    return []


def placement(workflow: str, compute: str, architecture: str, capacity: str) -> dict[str, str]:
    """The job queue and job definition (names without the stack's prefixes) of a valid
    variant of ``workflow``: ``{"job_queue": ..., "job_definition": ...}``.

    Raises:
        KeyError: an option, capacity or workload's platform the catalogue lacks (a
            variant ``problems`` passed never does).
    """
    known = catalogue()
    option = known.options[compute]
    definitions: Mapping[str, Any] = known.job_definitions[workflow]
    return {
        "job_queue": option.job_queues[capacity],
        "job_definition": definitions[platform_key(option.kind, architecture)],
    }
