"""Fix: Batch refuses a job whose job definition's platform is not its queue's.

A job queue's compute environments are all Fargate (``FARGATE``, ``FARGATE_SPOT``) or all
EC2 (``EC2``, ``SPOT``): "EC2 and Fargate compute environments can't be mixed"
(https://docs.aws.amazon.com/batch/latest/userguide/fargate-job-queues.html). A job
definition's ``platformCapabilities`` (``EC2`` when absent, "To run the job on Fargate
resources, specify FARGATE": RegisterJobDefinition API reference) must be its queue's:
AWS refuses a Fargate job definition submitted to an EC2 queue, and the other way round,
with a ClientException. moto 5.2.5 accepts every pair and runs the job, so a template
whose state machine sent a job to the wrong queue ran offline and would fail on AWS. No
moto issue found: a moto bug (a validation missing), fixed here at SubmitJob. The message
below is ours (not AWS's words, which this machine cannot record); the error code is
AWS's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.patches._seams import Seam
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "batch_platforms"
_SUBMIT_JOB: Final = Seam(NAME, "moto.batch_simple.models", "BatchSimpleBackend.submit_job")
_CLIENT_EXCEPTION: Final = Seam(NAME, "moto.batch.exceptions", "ClientException")
SEAMS: Final[tuple[Seam, ...]] = (_SUBMIT_JOB, _CLIENT_EXCEPTION)
#: A compute environment's type -> the platform capability of the jobs it runs.
PLATFORM_OF: Final = {"FARGATE": "FARGATE", "FARGATE_SPOT": "FARGATE", "EC2": "EC2", "SPOT": "EC2"}


def mismatch(job_definition: Any, queue: Any) -> str | None:
    """Why ``job_definition`` (moto's) cannot run on ``queue`` (moto's), or None."""
    wanted = set(job_definition.platform_capabilities or ["EC2"])
    offered = {
        PLATFORM_OF.get(str((env.compute_resources or {}).get("type")), "EC2")
        for env in queue.environments
    }
    if not offered or offered <= wanted:
        return None
    return (
        f"job definition {job_definition.name} has platformCapabilities "
        f"{sorted(wanted)}, but job queue {queue.name} runs {'/'.join(sorted(offered))} "
        "compute environments"
    )


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    del cloud
    backend_class, attribute, original = _SUBMIT_JOB.resolve()
    client_exception = _CLIENT_EXCEPTION.value

    def submit_job(
        self: Any, job_name: str, job_def_id: str, job_queue: str, *args: Any, **kwargs: Any
    ) -> Any:
        job_definition = self.get_job_definition(job_def_id)
        queue = self.get_job_queue(job_queue)
        if job_definition is not None and queue is not None:  # else moto says which is missing
            problem = mismatch(job_definition, queue)
            if problem:
                raise client_exception(problem)
        return original(self, job_name, job_def_id, job_queue, *args, **kwargs)

    with mock.patch.object(backend_class, attribute, submit_job):
        yield
