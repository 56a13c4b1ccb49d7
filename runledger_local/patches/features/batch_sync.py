"""Feature: Batch jobs run as local processes, and ``batch:submitJob.sync`` works.

moto's Docker-less Batch backend (``batch_simple``) marks every job SUCCEEDED at once.
Here, in moto's own pattern (a sibling backend overriding what it must, as
``batch_simple`` overrides ``_mark_job_as_finished``), ``LocalBatchBackend`` serves the
Batch API: each job runs its job definition's command (runledger_local.runtime.jobs:
retry strategy, timeout, logs in ``/aws/batch/job``), and DescribeJobs reports the local
jobs (command, environment, exit code, reason, attempts, retry strategy). Its state stays
in moto's Batch backend, as ``batch_simple``'s does.

Patched: which backend the Batch API uses (``BatchResponse.batch_backend``), SubmitJob's
request handler (moto drops ``propagateTags`` and ``retryStrategy``, which the jobs need),
and the Batch integration's parameter list, which lacks ``PropagateTags`` (AWS accepts it:
connect-batch docs). The integration's parameters and results are mapped to and from the
botocore shape by ``service_shapes``.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Iterator
from typing import Any, ClassVar, Final
from unittest import mock

from moto.batch.models import Job
from moto.batch_simple.models import BatchSimpleBackend
from moto.core.base_backend import BackendDict

from runledger_local.logs import get_logger
from runledger_local.patches._seams import AdaptationBrokenError, Seam, seams_of
from runledger_local.runtime.jobs import new_local_job, run_array_parent, run_job
from runledger_local.runtime.local_cloud import LocalCloud

LOG = get_logger(__name__)

NAME: Final = "batch_local"
BATCH_TASK: Final[str] = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_batch"
)
_SUBMIT_EXTRAS = threading.local()

#: Private helpers of moto's Job that the local jobs call (runledger_local.runtime.jobs).
_JOB_HELPERS: Final = seams_of(
    NAME,
    "moto.batch.models",
    ("Job._add_parameters_to_command", "Job._get_attempt_duration", "Job._mark_stopped"),
)
#: What LocalBatchBackend overrides, with the parameters it keeps.
_OVERRIDDEN: Final = (
    Seam(
        NAME,
        "moto.batch_simple.models",
        "BatchSimpleBackend._mark_job_as_finished",
        ("self", "include_start_attempt", "job"),
    ),
    Seam(NAME, "moto.batch.models", "BatchBackend.describe_jobs", ("self", "jobs")),
    Seam(NAME, "moto.batch.models", "Job.describe", ("self",)),
)
#: Which backend the Batch API serves from (moto: by its use_docker setting).
_RESPONSE_BACKEND: Final = Seam(NAME, "moto.batch.responses", "BatchResponse.batch_backend")
_BATCH_RESPONSE_SUBMITJOB: Final = Seam(
    NAME, "moto.batch.responses", "BatchResponse.submitjob", ("self",)
)
_SUPPORTED_API_PARAM_BINDINGS: Final = Seam(NAME, BATCH_TASK, "_SUPPORTED_API_PARAM_BINDINGS")
SEAMS: Final[tuple[Seam, ...]] = (
    *_JOB_HELPERS,
    *_OVERRIDDEN,
    _RESPONSE_BACKEND,
    _BATCH_RESPONSE_SUBMITJOB,
    _SUPPORTED_API_PARAM_BINDINGS,
)


class LocalBatchBackend(BatchSimpleBackend):
    """moto's Docker-less Batch backend whose jobs run as local processes."""

    #: The active local cloud (set while ``apply`` is entered).
    cloud: ClassVar[LocalCloud | None] = None
    #: What this class serves itself; batch_simple hands every other name to moto's
    #: Batch backend, which keeps the state (queues, job definitions, jobs).
    _OWN: ClassVar[frozenset[str]] = frozenset({"_mark_job_as_finished", "describe_jobs"})

    def __getattribute__(self, name: str) -> Any:
        if name in LocalBatchBackend._OWN:
            return object.__getattribute__(self, name)
        return super().__getattribute__(name)

    def _mark_job_as_finished(self, include_start_attempt: bool, job: Job) -> None:
        # Instead of marking the job SUCCEEDED at once: run it.
        cloud = LocalBatchBackend.cloud
        if cloud is None:
            super()._mark_job_as_finished(include_start_attempt, job)
            return
        self.backend._jobs[job.job_id] = job
        local = new_local_job(job, getattr(_SUBMIT_EXTRAS, "value", None) or {})
        cloud._register_job(local)
        target = run_job if include_start_attempt else run_array_parent
        threading.Thread(
            target=target, args=(cloud, local), name=f"batch-{job.job_id}", daemon=True
        ).start()

    def describe_jobs(self, jobs: list[str] | None) -> list[dict[str, Any]]:
        # moto iterates the live job dict, which concurrent SubmitJobs (Map iterations)
        # resize: "dictionary changed size during iteration". Iterate a snapshot.
        wanted = set(jobs or [])
        return [
            LocalBatchBackend._describe(job)
            for job_id, job in list(self.backend._jobs.items())
            if not wanted or job_id in wanted or job.arn in wanted
        ]

    @staticmethod
    def _describe(job: Job) -> dict[str, Any]:
        """moto's description of ``job``, with what its local run knows."""
        result: dict[str, Any] = job.describe()
        cloud = LocalBatchBackend.cloud
        local = cloud._local_job(job.job_id) if cloud is not None else None
        if local is None:
            return result
        container = result.get("container")
        if isinstance(container, dict):
            container["command"] = list(local.command)
            container["environment"] = [
                {"name": key, "value": value} for key, value in local.environment.items()
            ]
            if local.exit_code is not None:
                container["exitCode"] = local.exit_code
            if local.reason is not None:
                container["reason"] = local.reason
        result["attempts"] = copy.deepcopy(job.attempts)
        result["propagateTags"] = local.propagate_tags
        result["retryStrategy"] = copy.deepcopy(local.retry_strategy)
        result["platformCapabilities"] = list(job.job_definition.platform_capabilities or [])
        return result


local_batch_backends: Final = BackendDict(LocalBatchBackend, "batch")


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    for seam in (*_JOB_HELPERS, *_OVERRIDDEN):
        seam.resolve()
    response_class, backend_attribute, _ = _RESPONSE_BACKEND.resolve()
    submit_owner, submit_attr, original_submit = _BATCH_RESPONSE_SUBMITJOB.resolve()
    _, _, supported = _SUPPORTED_API_PARAM_BINDINGS.resolve()
    if "submitjob" not in supported:
        raise AdaptationBrokenError(NAME, "moto no longer lists batch:submitJob parameters")

    def batch_backend(self: Any) -> LocalBatchBackend:
        return local_batch_backends[self.current_account][self.region]

    def submitjob(self: Any) -> Any:
        # moto drops these SubmitJob parameters; the job runner needs them.
        _SUBMIT_EXTRAS.value = {
            "propagateTags": self._get_param("propagateTags"),
            "retryStrategy": self._get_param("retryStrategy"),
        }
        try:
            return original_submit(self)
        finally:
            _SUBMIT_EXTRAS.value = None

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(LocalBatchBackend, "cloud", cloud))
        stack.enter_context(
            mock.patch.object(response_class, backend_attribute, property(batch_backend))
        )
        stack.enter_context(mock.patch.object(submit_owner, submit_attr, submitjob))
        # AWS accepts PropagateTags in the Batch integration (connect-batch docs); moto
        # silently drops parameters missing from its list, and PropagateTags is.
        stack.enter_context(
            mock.patch.dict(supported, {"submitjob": {*supported["submitjob"], "PropagateTags"}})
        )
        try:
            yield
        finally:
            cloud._stop_jobs()
