"""Prepare one variant's Batch job: name, resource overrides, environment, results location.

``prepare_variant`` turns a variant of a run into the SubmitJob pieces the state machine
needs and decides where the job writes its metrics (``runledger.results`` reads them back).
It imports no AWS SDK: the function has nothing to call.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from aws_lambda_powertools import Logger
from pydantic import BaseModel, Field

from runledger.models import CostCenter, RunId, StepEvent, Variant, format_vcpus
from runledger.storage import join_uri
from runledger.workflows import get_workflow

logger = Logger(child=True)

MAX_JOB_NAME = 128
METRICS_FILE = "metrics.json"
_NOT_IN_JOB_NAME = re.compile(r"[^A-Za-z0-9_-]")


class PrepareVariantEvent(StepEvent):
    """prepare_variant's event: the run's identity and input plus one variant."""

    run_id: RunId
    workflow: str
    cost_center: CostCenter
    input: dict[str, Any]
    variant: Variant


class ResourceRequirement(BaseModel):
    """A Batch ContainerOverrides resource requirement (``Type`` VCPU or MEMORY)."""

    Type: Literal["VCPU", "MEMORY"]
    Value: str


class EnvironmentVariable(BaseModel):
    """A Batch ContainerOverrides environment variable."""

    Name: str
    Value: str


class ContainerOverrides(BaseModel):
    """Batch SubmitJob ``ContainerOverrides``, in the Step Functions (PascalCase) shape."""

    ResourceRequirements: list[ResourceRequirement]
    Environment: list[EnvironmentVariable]


class PreparedJob(BaseModel):
    """prepare_variant's result: what RunJob submits and where the job writes its metrics."""

    job_name: str = Field(description="<run_id>-<variant> in [A-Za-z0-9_-], <= 128 chars.")
    results_uri: str = Field(description="Where the job writes metrics.json.")
    container_overrides: ContainerOverrides
    timeout_seconds: int = Field(description="The variant's Batch attempt timeout.")


def batch_job_name(run_id: str, variant_name: str) -> str:
    """``<run_id>-<variant>`` with every character outside ``[A-Za-z0-9_-]`` made ``-``, <= 128."""
    return _NOT_IN_JOB_NAME.sub("-", f"{run_id}-{variant_name}")[:MAX_JOB_NAME]


def results_uri(results_base: str, run_id: str, variant_name: str) -> str:
    """Where a variant's job writes its metrics: ``<base>/runs/<run_id>/<variant>/metrics.json``.

    ``results_base`` is ``RESULTS_BUCKET``: a bucket name (-> ``s3://bucket/runs/...``) on
    AWS; the local cloud may pass ``file:///dir`` or a directory path instead.
    """
    return join_uri(results_base, "runs", run_id, variant_name, METRICS_FILE)


def prepare_variant(event: PrepareVariantEvent, results_base: str) -> PreparedJob:
    """Build the Batch job for one variant of a run.

    Raises:
        UnknownWorkflowError: the workflow is not registered.
        pydantic.ValidationError: the input does not fit the workflow's input model.
    """
    workflow = get_workflow(event.workflow)
    variant = event.variant
    uri = results_uri(results_base, event.run_id, variant.name)
    environment = {
        **workflow.job_environment(event.input),
        "RUNLEDGER_RESULTS_URI": uri,
        "RUNLEDGER_RUN_ID": event.run_id,
        "RUNLEDGER_VARIANT": variant.name,
    }
    job = PreparedJob(
        job_name=batch_job_name(event.run_id, variant.name),
        results_uri=uri,
        container_overrides=ContainerOverrides(
            ResourceRequirements=[
                ResourceRequirement(Type="VCPU", Value=format_vcpus(variant.vcpus)),
                ResourceRequirement(Type="MEMORY", Value=str(variant.memory_mib)),
            ],
            Environment=[
                EnvironmentVariable(Name=name, Value=value)
                for name, value in sorted(environment.items())
            ],
        ),
        timeout_seconds=variant.timeout_seconds,
    )
    logger.info(
        "variant prepared",
        extra={"run_id": event.run_id, "variant": variant.name, "job_name": job.job_name},
    )
    return job
