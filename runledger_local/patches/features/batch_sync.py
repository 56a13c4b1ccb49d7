"""Feature: Batch jobs run as local processes, and ``batch:submitJob.sync`` works.

moto's Docker-less Batch backend marks every job SUCCEEDED at once. Here each job runs
its job definition's command (runledger_local.runtime.jobs: retry strategy, timeout, logs
in ``/aws/batch/job``), DescribeJobs reports the local jobs, and the Batch integration's
parameters and results are normalised to the botocore shape and back (PascalCase output as
Step Functions returns it; PropagateTags passes through, as the connect-batch docs allow).
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.logs import get_logger
from runledger_local.patches._seams import AdaptationBrokenError, Seam, seams_of
from runledger_local.runtime.jobs import (
    new_local_job,
    run_array_parent,
    run_job,
)
from runledger_local.runtime.local_cloud import LocalCloud

LOG = get_logger(__name__)

NAME: Final = "batch_local"


BATCH_TASK: Final[str] = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_batch"
)
_SUBMIT_EXTRAS = threading.local()


_OPERATION_MODELS: dict[tuple[str, str], Any] = {}
_OPERATION_MODELS_LOCK = threading.Lock()


def _operation_model(service: str, snake_action: str) -> Any:
    """botocore's model of an operation, loaded once (Map iterations ask concurrently)."""
    key = (service, snake_action)
    model = _OPERATION_MODELS.get(key)
    if model is None:
        with _OPERATION_MODELS_LOCK:
            model = _OPERATION_MODELS.get(key)
            if model is None:
                import botocore.session
                from botocore import xform_name

                service_model = botocore.session.get_session().get_service_model(service)
                for operation in service_model.operation_names:
                    if xform_name(operation) == snake_action:
                        model = service_model.operation_model(operation)
                        break
                else:
                    raise KeyError(f"{service} has no operation {snake_action}")
                _OPERATION_MODELS[key] = model
    return model


def _normalise_parameters(
    self: Any,
    parameters: dict[str, Any],
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    # What upstream (LocalStack) does for every service: map the ASL's PascalCase
    # parameters onto the botocore input shape (JobName -> jobName, ...).
    model = _operation_model(
        self._get_boto_service_name(boto_service_name),
        self._get_boto_service_action(service_action_name),
    )
    if model.input_shape is not None:
        self._to_boto_request(parameters, model.input_shape)


def _normalise_response(
    self: Any,
    response: Any,
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    # ...and the botocore response back to the PascalCase Step Functions returns.
    model = _operation_model(
        self._get_boto_service_name(boto_service_name),
        self._get_boto_service_action(service_action_name),
    )
    if model.output_shape is not None:
        self._from_boto_response(response, model.output_shape)


#: Private helpers of moto's Job and Batch task that the local jobs call.
_JOB_HELPERS: Final = seams_of(
    NAME,
    "moto.batch.models",
    ("Job._add_parameters_to_command", "Job._get_attempt_duration", "Job._mark_stopped"),
) + seams_of(
    NAME,
    BATCH_TASK,
    (
        "StateTaskServiceBatch._to_boto_request",
        "StateTaskServiceBatch._from_boto_response",
        "StateTaskServiceBatch._get_boto_service_action",
    ),
)
_BATCH_SIMPLE_BACKEND_MARK_JOB_AS_FINISHED: Final = Seam(
    NAME,
    "moto.batch_simple.models",
    "BatchSimpleBackend._mark_job_as_finished",
    ("self", "include_start_attempt", "job"),
)
_BATCH_RESPONSE_SUBMITJOB: Final = Seam(
    NAME, "moto.batch.responses", "BatchResponse.submitjob", ("self",)
)
_JOB_DESCRIBE: Final = Seam(NAME, "moto.batch.models", "Job.describe", ("self",))
_BATCH_BACKEND_DESCRIBE_JOBS: Final = Seam(
    NAME, "moto.batch.models", "BatchBackend.describe_jobs", ("self", "jobs")
)
_STATE_TASK_SERVICE_BATCH: Final = Seam(NAME, BATCH_TASK, "StateTaskServiceBatch")
_SUPPORTED_API_PARAM_BINDINGS: Final = Seam(NAME, BATCH_TASK, "_SUPPORTED_API_PARAM_BINDINGS")


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    mark_owner, mark_attr, _ = _BATCH_SIMPLE_BACKEND_MARK_JOB_AS_FINISHED.resolve()
    submit_owner, submit_attr, original_submit = _BATCH_RESPONSE_SUBMITJOB.resolve()
    describe_owner, describe_attr, original_describe = _JOB_DESCRIBE.resolve()
    jobs_owner, jobs_attr, _ = _BATCH_BACKEND_DESCRIBE_JOBS.resolve()
    for seam in _JOB_HELPERS:
        seam.resolve()
    _, _, task_class = _STATE_TASK_SERVICE_BATCH.resolve()
    _, _, supported = _SUPPORTED_API_PARAM_BINDINGS.resolve()
    if "submitjob" not in supported:
        raise AdaptationBrokenError(NAME, "moto no longer lists batch:submitJob parameters")

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

    def mark_job_as_finished(self: Any, include_start_attempt: bool, job: Any) -> None:
        # Instead of marking the job SUCCEEDED at once: run it.
        self.backend._jobs[job.job_id] = job
        local = new_local_job(job, getattr(_SUBMIT_EXTRAS, "value", None) or {})
        cloud._register_job(local)
        target = run_job if include_start_attempt else run_array_parent
        threading.Thread(
            target=target, args=(cloud, local), name=f"batch-{job.job_id}", daemon=True
        ).start()

    def describe(self: Any) -> dict[str, Any]:
        result: dict[str, Any] = original_describe(self)
        local = cloud._local_job(self.job_id)
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
        result["attempts"] = copy.deepcopy(self.attempts)
        result["propagateTags"] = local.propagate_tags
        result["retryStrategy"] = copy.deepcopy(local.retry_strategy)
        result["platformCapabilities"] = list(self.job_definition.platform_capabilities or [])
        return result

    def describe_jobs(self: Any, jobs: list[str] | None) -> list[dict[str, Any]]:
        # moto iterates the live job dict, which concurrent SubmitJobs (Map iterations)
        # resize: "dictionary changed size during iteration". Iterate a snapshot.
        wanted = set(jobs or [])
        return [
            job.describe()
            for job_id, job in list(self._jobs.items())
            if not wanted or job_id in wanted or job.arn in wanted
        ]

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(mark_owner, mark_attr, mark_job_as_finished))
        stack.enter_context(mock.patch.object(submit_owner, submit_attr, submitjob))
        stack.enter_context(mock.patch.object(describe_owner, describe_attr, describe))
        stack.enter_context(mock.patch.object(jobs_owner, jobs_attr, describe_jobs))
        stack.enter_context(
            mock.patch.object(task_class, "_normalise_parameters", _normalise_parameters)
        )
        stack.enter_context(
            mock.patch.object(task_class, "_normalise_response", _normalise_response)
        )
        # AWS accepts PropagateTags in the Batch integration (connect-batch docs); moto
        # silently drops parameters missing from its list, and PropagateTags is.
        stack.enter_context(
            mock.patch.dict(supported, {"submitjob": {*supported["submitjob"], "PropagateTags"}})
        )
        try:
            yield
        finally:
            cloud._stop_jobs()


SEAMS: Final[tuple[Seam, ...]] = (
    *_JOB_HELPERS,
    _BATCH_SIMPLE_BACKEND_MARK_JOB_AS_FINISHED,
    _BATCH_RESPONSE_SUBMITJOB,
    _JOB_DESCRIBE,
    _BATCH_BACKEND_DESCRIBE_JOBS,
    _STATE_TASK_SERVICE_BATCH,
    _SUPPORTED_API_PARAM_BINDINGS,
)
