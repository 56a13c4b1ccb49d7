"""Batch jobs run as local processes: attempts, retry strategy, timeouts, logs.

At most ``LocalCloud.max_running_jobs`` job processes run at once (two per core by
default, the local compute capacity); the others wait RUNNABLE, as jobs wait for a
compute environment's MaxvCpus on AWS. A job's process gets the host environment without
credentials, fake credentials, ``LocalCloud.batch_env``, the job definition's
environment, the ContainerOverrides environment and the ``AWS_BATCH_*`` variables (later
wins); ``python`` as the command's first word is this interpreter. In-process there is no
endpoint a job process could reach, so jobs that call AWS need server mode. Not
emulated: dependsOn, multi-node jobs, terminating the job when its execution is stopped.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from runledger_local import processes
from runledger_local.logs import get_logger
from runledger_local.runtime.lambdas import (
    FAKE_CREDENTIALS,
)

if TYPE_CHECKING:
    from runledger_local.runtime.faults import JobFault
    from runledger_local.runtime.local_cloud import LocalCloud

LOG = get_logger(__name__)


#: Host variables never passed to a local Batch job (real credentials, profiles).
_STRIPPED_HOST_ENV: Final[frozenset[str]] = frozenset(
    {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    }
)

#: Seconds between SIGTERM and SIGKILL when a job attempt times out (AWS waits 30 s).
BATCH_KILL_GRACE_SECONDS: Final[float] = 2.0
_BATCH_LOG_GROUP: Final[str] = "/aws/batch/job"
_PYTHON_COMMANDS: Final[frozenset[str]] = frozenset(
    {"python", "python3", f"python3.{sys.version_info.minor}"}
)


def default_job_slots() -> int:
    """Two job processes per core: enough to keep the cores busy while jobs wait on I/O."""
    return 2 * (os.cpu_count() or 1)


def job_tags(job: Any) -> dict[str, str]:
    return dict(job.backend.list_tags_for_resource(job.arn) or {})


def tags_match(tags: Mapping[str, str], match: Mapping[str, str]) -> bool:
    """Whether ``tags`` include every tag of ``match`` (how injected faults pick jobs)."""
    return all(tags.get(k) == v for k, v in match.items())


@dataclass
class LocalJob:
    """A Batch job run as a local process (one per submitted job)."""

    job: Any  # moto.batch.models.Job
    command: list[str]
    environment: dict[str, str]  # job definition + overrides, as describe_jobs shows
    retry_strategy: dict[str, Any]
    propagate_tags: bool
    done: threading.Event = field(default_factory=threading.Event)
    exit_code: int | None = None
    reason: str | None = None
    process: processes.JobProcess | None = None


def _epoch_ms(moment: dt.datetime | None = None) -> int:
    return int((moment or dt.datetime.now()).timestamp() * 1000)


def _glob_match(pattern: str, value: str) -> bool:
    # AWS Batch globs: exact match, or a prefix match when the pattern ends with '*'.
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    return value == pattern


def _retry_action(
    evaluate_on_exit: Sequence[Mapping[str, str]],
    exit_code: int | None,
    reason: str | None,
    status_reason: str | None,
) -> str:
    """RETRY or EXIT for a failed attempt, as AWS Batch's EvaluateOnExit decides."""
    for condition in evaluate_on_exit:
        checks = (
            ("onExitCode", "" if exit_code is None else str(exit_code)),
            ("onReason", reason or ""),
            ("onStatusReason", status_reason or ""),
        )
        if all(key not in condition or _glob_match(condition[key], value) for key, value in checks):
            return str(condition.get("action", "RETRY")).upper()
    return "RETRY"  # no condition matched: the job is retried


def kill_job_process(process: processes.JobProcess, *, graceful: bool) -> None:
    def send(sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            try:
                os.killpg(process.pid, sig)  # the job's process group (its own session)
            except ProcessLookupError:  # not yet its own group leader
                os.kill(process.pid, sig)

    if graceful:
        send(signal.SIGTERM)
        try:
            process.wait(BATCH_KILL_GRACE_SECONDS)
            return
        except subprocess.TimeoutExpired:
            pass
    send(signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)


def _env_list(values: Any) -> dict[str, str]:
    return {item["name"]: str(item.get("value", "")) for item in values or [] if "name" in item}


def new_local_job(job: Any, extras: Mapping[str, Any]) -> LocalJob:
    definition = job.job_definition
    container = definition.container_properties or {}
    overrides = copy.deepcopy(job.container_overrides or {})
    command = overrides.get("command") or container.get("command") or []
    environment = _env_list(container.get("environment"))
    environment.update(_env_list(overrides.get("environment")))
    retry_strategy = extras.get("retryStrategy") or definition.retry_strategy or {}
    propagate = extras.get("propagateTags")
    if propagate is None:
        propagate = bool(getattr(definition, "propagate_tags", False))
    return LocalJob(
        job=job,
        command=list(job._add_parameters_to_command(command)),
        environment=environment,
        retry_strategy=dict(retry_strategy),
        propagate_tags=bool(propagate),
    )


def _job_process_env(cloud: LocalCloud, local: LocalJob, attempt: int) -> dict[str, str]:
    job = local.job
    env = {k: v for k, v in os.environ.items() if k not in _STRIPPED_HOST_ENV}
    region = job.job_definition._region
    env.update({"AWS_REGION": region, "AWS_DEFAULT_REGION": region, **FAKE_CREDENTIALS})
    if cloud.endpoint_url:
        env["AWS_ENDPOINT_URL"] = cloud.endpoint_url
    env.update(cloud.batch_env)
    env.update(local.environment)
    queue = job.job_queue
    env.update(
        {
            "AWS_BATCH_JOB_ID": job.job_id,
            "AWS_BATCH_JOB_ATTEMPT": str(attempt),
            "AWS_BATCH_JQ_NAME": queue.name,
            "AWS_BATCH_CE_NAME": _compute_environment_name(queue),
        }
    )
    index = (job.array_properties or {}).get("index")
    if index is not None:
        env["AWS_BATCH_JOB_ARRAY_INDEX"] = str(index)
    shared = cloud.batch_pythonpaths.get(job.job_definition.name)
    if shared:  # the job definition's build contexts, importable as in its image
        env["PYTHONPATH"] = os.pathsep.join(
            [*map(str, shared), *filter(None, [env.get("PYTHONPATH")])]
        )
    return env


def _compute_environment_name(queue: Any) -> str:
    order = getattr(queue, "env_order_json", None) or []
    if order:
        return str(order[0].get("computeEnvironment", "")).rsplit("/", 1)[-1]
    return "local"


def _resolve_command(command: Sequence[str]) -> list[str]:
    resolved = list(command)
    if resolved and resolved[0] in _PYTHON_COMMANDS:
        resolved[0] = sys.executable
    return resolved


def _put_job_logs(job: Any, stream: str, output: bytes, started_ms: int) -> None:
    lines = output.decode(errors="replace").splitlines()
    for line in lines:
        LOG.debug("batch %s: %s", job.job_name, line)
    try:
        logs = job._log_backend
        logs.ensure_log_group(_BATCH_LOG_GROUP)
        logs.ensure_log_stream(_BATCH_LOG_GROUP, stream)
        if lines:
            events = [{"timestamp": started_ms, "message": line} for line in lines]
            logs.put_log_events(_BATCH_LOG_GROUP, stream, events)
    except Exception:  # logs are a convenience; never fail the job for them
        LOG.debug("could not store logs for job %s", job.job_id, exc_info=True)


class _NoContainerExit(Exception):
    """An injected attempt end without a container exit (a reclaimed Spot task)."""


def _stand_in(fault: JobFault) -> list[str]:
    """The process an injected attempt runs instead of the job's command."""
    if fault.killed:
        kill = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
        return [sys.executable, "-c", f"print('injected: killed'); {kill}"]
    code = fault.exit_code
    return [sys.executable, "-c", f"print('injected exit {code}'); exit({code})"]


def _run_attempt(cloud: LocalCloud, local: LocalJob, number: int) -> dict[str, Any]:
    """Run one attempt; returns the AWS-shaped attempt detail."""
    job = local.job
    stream = f"{job.job_definition.name}/default/{uuid.uuid4().hex}"
    job.log_stream_name = stream
    started = dt.datetime.now()
    job.job_started_at = started
    job.status = "RUNNING"
    duration = job._get_attempt_duration()
    exit_code: int | None = None
    reason: str | None = None
    status_reason = "Essential container in task exited"
    hold = cloud._take_hold(job) if number == 1 else None
    while hold is not None and not hold.wait(0.05) and not job.stop:
        pass  # held by hold_next_job; a terminated job is stopped below, as any other
    with tempfile.NamedTemporaryFile(prefix="runledger-job-") as output:
        command = _resolve_command(local.command)
        injected = cloud._injected_exit(job, number)
        if injected is not None:
            command = _stand_in(injected)
            reason = injected.reason
        try:
            if injected is not None and injected.exit_code is None:
                raise _NoContainerExit(injected.status_reason)
            if not command:
                raise FileNotFoundError("the job definition has no command")
            local.process = processes.start(
                command,
                cwd=cloud.batch_workdirs.get(job.job_definition.name, cloud.batch_workdir),
                env=_job_process_env(cloud, local, number),
                output=output,
                speed=cloud.speed,
            )
        except _NoContainerExit as no_exit:
            status_reason = str(no_exit)  # the task was stopped under it (Spot)
        except OSError as exc:
            reason = f"CannotStartContainerError: {exc}"
            status_reason = "Task failed to start"
        else:
            deadline = None if duration is None else time.monotonic() + float(duration)
            while local.process.poll() is None:
                if job.stop:
                    status_reason = job.job_stopped_reason or "Job terminated"
                    kill_job_process(local.process, graceful=True)
                    break
                if deadline is not None and time.monotonic() > deadline:
                    status_reason = "Job attempt duration exceeded timeout"
                    kill_job_process(local.process, graceful=True)
                    break
                with contextlib.suppress(subprocess.TimeoutExpired):
                    local.process.wait(0.05)
            returncode = local.process.wait()
            exit_code = returncode if returncode >= 0 else 128 - returncode  # as Docker
        stopped = dt.datetime.now()
        output.seek(0)
        _put_job_logs(job, stream, output.read(), _epoch_ms(started))
    container: dict[str, Any] = {
        "containerInstanceArn": "local",
        "taskArn": f"arn:aws:ecs:{job.job_definition._region}:local:task/{uuid.uuid4().hex}",
        "logStreamName": stream,
        "networkInterfaces": [],
    }
    if exit_code is not None:
        container["exitCode"] = exit_code
    if reason is not None:
        container["reason"] = reason
    return {
        "container": container,
        "startedAt": _epoch_ms(started),
        "stoppedAt": _epoch_ms(stopped),
        "statusReason": status_reason,
    }


def run_job(cloud: LocalCloud, local: LocalJob) -> None:
    job = local.job
    try:
        strategy = local.retry_strategy
        allowed = min(10, max(1, int(strategy.get("attempts", 1) or 1)))
        succeeded = False
        status_reason = None
        for number in range(1, allowed + 1):
            job.status = "RUNNABLE"
            if not cloud._acquire_job_slot(job):
                status_reason = job.job_stopped_reason or "Job cancelled while RUNNABLE"
                break
            try:
                attempt = _run_attempt(cloud, local, number)
            finally:
                cloud._release_job_slot()
            job.attempts.append(attempt)
            container = attempt["container"]
            local.exit_code = container.get("exitCode")
            local.reason = container.get("reason")
            status_reason = attempt["statusReason"]
            if local.exit_code == 0 and not job.stop:
                succeeded = True
                break
            timed_out = status_reason == "Job attempt duration exceeded timeout"
            if job.stop or timed_out or number == allowed:
                break  # timeouts and cancellations are never retried
            action = _retry_action(
                strategy.get("evaluateOnExit") or [],
                local.exit_code,
                local.reason,
                status_reason,
            )
            if action == "EXIT":
                break
        job.exit_code = local.exit_code
        job.job_stopped_reason = status_reason
        job._mark_stopped(success=succeeded)
    except Exception as exc:
        LOG.exception("local Batch job %s crashed", job.job_id)
        job.job_stopped_reason = f"Local runner error: {exc}"
        job._mark_stopped(success=False)
    finally:
        local.process = None
        local.done.set()


def run_array_parent(cloud: LocalCloud, local: LocalJob) -> None:
    job = local.job
    prefix = f"{job.job_id}:"
    with cloud._jobs_lock:
        children = [j for key, j in cloud._jobs.items() if key.startswith(prefix)]
    for child in children:
        child.done.wait()
    job._mark_stopped(success=all(child.job.status == "SUCCEEDED" for child in children))
    local.done.set()
