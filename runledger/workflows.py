"""The workflow registry: which workloads a run request may name, and what each one needs.

A workflow is a Batch job definition (template.yaml) plus, here, the model of its
``input`` and the environment variables its container reads. Only ``kmer-count`` exists
today. Adding a workflow means: a job under ``jobs/``, a job definition and an ASL lookup
entry in template.yaml / statemachines, an input model and a ``Workflow`` entry below, and
widening ``WorkflowInput`` in this module into a union.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from runledger.storage import LocationError, parse_location


class KmerCountInput(BaseModel):
    """Input of the ``kmer-count`` workflow: count k-mers of one FASTA/FASTQ file.

    Example: ``{"uri": "s3://my-bucket/samples/sample.fastq", "k": 21}``.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    uri: str = Field(
        min_length=1,
        max_length=2048,
        description="The FASTA or FASTQ file (optionally gzip-compressed): s3://bucket/key.",
    )
    k: int = Field(ge=1, le=31, description="k-mer length, 1..31.")

    @field_validator("uri")
    @classmethod
    def _uri_is_a_location(cls, uri: str) -> str:
        try:
            parse_location(uri)
        except LocationError as exc:
            raise PydanticCustomError("location", "{problem}", {"problem": str(exc)}) from exc
        return uri


def _kmer_count_environment(data: KmerCountInput) -> dict[str, str]:
    return {"RUNLEDGER_INPUT_URI": data.uri, "RUNLEDGER_KMER_K": str(data.k)}


def _kmer_count_inputs(data: KmerCountInput) -> dict[str, str]:
    return {"uri": data.uri}


#: The type of ``RunRequest.input``: the union of every workflow's input model.
#: (One workflow today; becomes ``KmerCountInput | OtherInput`` when one is added.)
WorkflowInput = KmerCountInput


@dataclass(frozen=True, slots=True)
class Workflow[InputT: BaseModel]:
    """One registered workflow.

    Attributes:
        name: the value of a request's ``workflow`` attribute.
        description: one line for docs and the CLI.
        input_model: the pydantic model of the request's ``input``.
        environment: the workflow-specific container environment for a validated input.
        inputs: the locations the job reads, by their field in ``input``.
    """

    name: str
    description: str
    input_model: type[InputT]
    environment: Callable[[InputT], dict[str, str]]
    inputs: Callable[[InputT], dict[str, str]]

    def job_environment(self, raw_input: Mapping[str, Any] | BaseModel) -> dict[str, str]:
        """Validate ``raw_input`` against the input model and build the job's environment."""
        if isinstance(raw_input, BaseModel):
            raw_input = raw_input.model_dump()
        return self.environment(self.input_model.model_validate(raw_input))


KMER_COUNT = Workflow(
    name="kmer-count",
    description="Count canonical k-mers, reads, bases and GC content of a FASTA/FASTQ file.",
    input_model=KmerCountInput,
    environment=_kmer_count_environment,
    inputs=_kmer_count_inputs,
)

#: Every workflow a request may name, by name.
WORKFLOWS: Mapping[str, Workflow[Any]] = {KMER_COUNT.name: KMER_COUNT}


class UnknownWorkflowError(ValueError):
    """A workflow name that is not in ``WORKFLOWS``."""


def get_workflow(name: str) -> Workflow[Any]:
    """The registered workflow called ``name``.

    Raises:
        UnknownWorkflowError: no such workflow.
    """
    try:
        return WORKFLOWS[name]
    except KeyError:
        known = ", ".join(sorted(WORKFLOWS))
        raise UnknownWorkflowError(f"unknown workflow {name!r}; known: {known}") from None
