"""``LocalCloud``: the settings and registries of the active local cloud.

Registered Lambda functions, running Batch jobs and their capacity, injected faults
(``inject_job_exit``, ``hold_next_job``, ``inject_lambda_error``, ``inject_task_fault``),
and the settings every
patch reads (``endpoint_url``, ``batch_workdir``, ``batch_env``, ``lambda_env``,
``retry_sleep_scale``, ``speed``). ``runledger_local.patches.local_aws`` makes one.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from runledger_local.logs import get_logger
from runledger_local.runtime.faults import JobFault, TaskFault
from runledger_local.runtime.jobs import (
    LocalJob,
    default_job_slots,
    job_tags,
    kill_job_process,
    tags_match,
)
from runledger_local.runtime.lambdas import (
    FAKE_CREDENTIALS,
    INVOCATION,
    LAMBDA_LOCK,
    InProcessFunction,
    LambdaSpec,
    LocalLambdaContext,
    environ,
    error_payload,
    function_name_of,
    json_default,
    output_into,
    route_output,
    sys_path,
)

LOG = get_logger(__name__)


class LocalCloud:
    """Settings and registries of the active local cloud (see the module docstring)."""

    def __init__(
        self,
        *,
        endpoint_url: str | None = None,
        batch_workdir: Path | None = None,
        batch_env: Mapping[str, str] | None = None,
        lambda_env: Mapping[str, str] | None = None,
        retry_sleep_scale: float = 0.0,
        speed: bool = True,
    ) -> None:
        #: Server mode: the moto server URL (given to handlers and jobs as AWS_ENDPOINT_URL).
        self.endpoint_url = endpoint_url
        #: Working directory of Batch job processes (a job definition's own in
        #: ``batch_workdirs``, by its name, wins).
        self.batch_workdir = batch_workdir or Path.cwd()
        self.batch_workdirs: dict[str, Path] = {}
        #: Folders put first on a job definition's PYTHONPATH, by its name: its named build
        #: contexts (Metadata.DockerBuildContexts), whose modules its image has beside the
        #: program.
        self.batch_pythonpaths: dict[str, list[Path]] = {}
        #: Extra environment for every Batch job (the job definition's own env wins).
        self.batch_env: dict[str, str] = dict(batch_env or {})
        #: Extra environment for every Lambda handler (the function's own env wins).
        self.lambda_env: dict[str, str] = dict(lambda_env or {})
        #: Factor applied to Retry intervals (0 = retry at once, 1 = real waiting).
        self.retry_sleep_scale = retry_sleep_scale
        #: Speed mechanisms on (runledger_local.patches.SPEED; forked Python jobs).
        self.speed = speed
        #: Injected job failures: (tags to match, end per attempt); see inject_job_exit.
        self.job_faults: list[tuple[dict[str, str], tuple[JobFault, ...]]] = []
        #: Injected Task state faults: (run id, state) -> [(where, fault)] left; see
        #: inject_task_fault.
        self.task_faults: dict[tuple[str, str], list[tuple[str | None, TaskFault]]] = {}
        #: Held jobs: (tags to match, release); see hold_next_job.
        self.job_holds: list[tuple[dict[str, str], threading.Event]] = []
        #: Injected Lambda service errors: function name -> [code, HTTP status, times left].
        self.lambda_faults: dict[str, list[Any]] = {}
        self._faults_lock = threading.Lock()
        self._functions: dict[str, InProcessFunction] = {}
        self._jobs: dict[str, LocalJob] = {}
        self._jobs_lock = threading.Lock()
        #: Batch job processes running at once: the local compute capacity. Other jobs
        #: wait RUNNABLE, as on AWS when a compute environment is at its MaxvCpus; each
        #: running job holds 25-40 MB of its own. Settable.
        self.max_running_jobs = default_job_slots()
        self._job_slots = threading.Condition()
        self._running_jobs = 0

    # ---- Batch -------------------------------------------------------------------
    def _acquire_job_slot(self, job: Any) -> bool:
        """Wait (RUNNABLE) for a free slot; False if the job was cancelled meanwhile."""
        with self._job_slots:
            while self._running_jobs >= max(1, self.max_running_jobs):
                if job.stop:
                    return False
                self._job_slots.wait(1.0)  # a cancelled job leaves the queue within 1 s
            self._running_jobs += 1
            return True

    def _release_job_slot(self) -> None:
        with self._job_slots:
            self._running_jobs -= 1
            self._job_slots.notify()

    def inject_job_exit(
        self, tags: Mapping[str, str], exit_codes: Sequence[int | JobFault]
    ) -> None:
        """Make jobs whose tags include ``tags`` end attempt n as ``exit_codes[n-1]`` says:
        an exit code, or a ``JobFault`` (killed for its memory, a reclaimed Spot task).

        The attempt runs a stand-in process instead of the job's command (none for a
        reclaimed Spot task), so retry strategies, ``.sync`` failures and write-backs are
        exercised with the real exit code and reasons; attempts beyond the list run the
        real command.
        """
        ends = tuple(e if isinstance(e, JobFault) else JobFault.exit(e) for e in exit_codes)
        self.job_faults.append((dict(tags), ends))

    def inject_task_fault(
        self, run_id: str, state: str, *faults: TaskFault, where: str | None = None
    ) -> None:
        """Answer the next ``len(faults)`` service calls of Task state ``state`` in
        executions of run ``run_id`` (their input's ``pk`` is ``RUN#<run_id>``) with
        ``faults``, one per call, in order; later calls are made for real. ``where``: only
        the calls whose parameters contain that text (a variant's name, to fault one Map
        iteration of several).

        Raised where moto's engine calls the service (the ``task_faults`` patch), so the
        state's Retry and Catch see the error name Step Functions reports for it.
        """
        with self._faults_lock:
            pending = self.task_faults.setdefault((run_id, state), [])
            pending.extend((where, fault) for fault in faults)

    def _take_task_fault(
        self, run_id: str, state: str, parameters: Callable[[], str]
    ) -> TaskFault | None:
        """The next fault for this call, or None; ``parameters()`` is its parameters' text."""
        if not self.task_faults:
            return None
        with self._faults_lock:
            pending = self.task_faults.get((run_id, state))
            if not pending:
                return None
            text = parameters() if any(where is not None for where, _ in pending) else ""
            for index, (where, fault) in enumerate(pending):
                if where is None or where in text:
                    del pending[index]
                    return fault
            return None

    def hold_next_job(self, tags: Mapping[str, str]) -> threading.Event:
        """Hold the next job whose tags include ``tags`` RUNNING, before its command
        starts, until the returned event is set (or the job is terminated).

        A run can so be kept in flight at a known point: to re-run it meanwhile, or to
        time it out. Only that one job waits; later jobs with the same tags do not.
        """
        release = threading.Event()
        with self._faults_lock:
            self.job_holds.append((dict(tags), release))
        return release

    def _take_hold(self, job: Any) -> threading.Event | None:
        if not self.job_holds:
            return None
        tags = job_tags(job)
        with self._faults_lock:
            for index, (match, release) in enumerate(self.job_holds):
                if tags_match(tags, match):
                    del self.job_holds[index]
                    return release
        return None

    def _injected_exit(self, job: Any, attempt: int) -> JobFault | None:
        if not self.job_faults:
            return None
        tags = job_tags(job)
        for match, codes in self.job_faults:
            if attempt <= len(codes) and tags_match(tags, match):
                return codes[attempt - 1]
        return None

    # ---- Lambda ------------------------------------------------------------------
    def inject_lambda_error(
        self,
        name_or_arn: str,
        times: int,
        code: str = "TooManyRequestsException",
        status: int = 429,
    ) -> None:
        """Answer the next ``times`` invokes of a function with a Lambda service error.

        The error comes from the Lambda API (throttling by default: 429
        ``TooManyRequestsException``), before the handler runs, so a Step Functions task
        sees ``Lambda.<code>`` and its Retry applies, as on AWS.
        """
        with self._faults_lock:
            self.lambda_faults[function_name_of(name_or_arn)] = [code, status, times]

    def _lambda_fault_pending(self, name: str) -> bool:
        with self._faults_lock:
            fault = self.lambda_faults.get(name)
            return bool(fault and fault[2] > 0)

    def _injected_lambda_error(self, name: str) -> tuple[str, int] | None:
        with self._faults_lock:
            fault = self.lambda_faults.get(name)
            if not fault or fault[2] <= 0:
                return None
            fault[2] -= 1
            return str(fault[0]), int(fault[1])

    def register_function(
        self,
        name_or_arn: str,
        *,
        code_dir: Path,
        handler: str = "app.lambda_handler",
        environment: Mapping[str, str] | None = None,
        timeout: float = 3.0,
        memory_mb: int = 128,
        extra_paths: Iterable[Path] = (),
    ) -> LambdaSpec:
        """Serve invokes of ``name_or_arn`` with ``handler`` from ``code_dir``.

        The handler module is imported by file path under a unique module name on the
        first invoke; ``code_dir`` and ``extra_paths`` (e.g. a layer's ``python/``) are on
        ``sys.path`` while it is imported and runs. Defaults are Lambda's (3 s, 128 MB).
        """
        name = function_name_of(name_or_arn)
        spec = LambdaSpec(
            name=name,
            code_dir=Path(code_dir),
            handler=handler,
            environment=dict(environment or {}),
            timeout=float(timeout),
            memory_mb=int(memory_mb),
            extra_paths=tuple(Path(p) for p in extra_paths),
        )
        if not spec.module_file.is_file():
            raise FileNotFoundError(f"handler module {spec.module_file} does not exist")
        old = self._functions.get(name)
        if old is not None:
            sys.modules.pop(old.module_name, None)
        self._functions[name] = InProcessFunction(spec)
        return spec

    def registered_function(self, name_or_arn: str) -> LambdaSpec | None:
        function = self._functions.get(function_name_of(name_or_arn))
        return None if function is None else function.spec

    def _lambda_environment(self, spec: LambdaSpec, region: str, context: Any) -> dict[str, str]:
        env = {
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": context.log_group_name,
            "AWS_LAMBDA_LOG_STREAM_NAME": context.log_stream_name,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python3.{sys.version_info.minor}",
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "_HANDLER": spec.handler,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            **FAKE_CREDENTIALS,
        }
        if self.endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.endpoint_url
        env.update(self.lambda_env)
        env.update(spec.environment)
        return env

    def _invoke(
        self, name: str, event: Any, region: str, account: str, log: io.StringIO | None = None
    ) -> tuple[bytes, bool]:
        """Run a registered handler; returns (payload, is_function_error). With ``log``,
        the invocation's log is written into it as Lambda's runtime writes it to
        CloudWatch: START, what the handler printed or logged, the runtime's error or
        timeout line, END and REPORT (without Max Memory Used: one process holds all)."""
        function = self._functions[name]
        spec = function.spec
        request_id = str(uuid.uuid4())
        chain: str = getattr(INVOCATION, "chain", None) or request_id
        arn = f"arn:aws:lambda:{region}:{account}:function:{spec.name}"
        context = LocalLambdaContext(spec, arn, request_id, time.monotonic() + spec.timeout)
        outcome: dict[str, Any] = {}
        finished = threading.Event()

        def run() -> None:
            INVOCATION.chain = chain
            with output_into(log):
                try:
                    outcome["result"] = function.handler()(event, context)
                except BaseException as exc:  # the runtime reports every exception
                    outcome["error"] = exc
                finally:
                    finished.set()

        route_output()
        LAMBDA_LOCK.acquire(chain, getattr(INVOCATION, "priority", None) or time.time())
        try:
            env = self._lambda_environment(spec, region, context)
            with environ(env), sys_path((spec.code_dir, *spec.extra_paths)):
                if log is not None:
                    log.write(f"START RequestId: {request_id} Version: $LATEST\n")
                started = time.monotonic()
                worker = threading.Thread(target=run, name=f"lambda-{spec.name}", daemon=True)
                worker.start()
                on_time = finished.wait(spec.timeout)
                duration = (time.monotonic() - started) * 1000
        finally:
            LAMBDA_LOCK.release()

        payload, failed = self._outcome(spec, request_id, outcome, on_time)
        if log is not None:
            if not on_time:
                now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
                log.write(
                    f"{now[:-6]}Z {request_id} Task timed out after {spec.timeout:.2f} seconds\n"
                )
            elif failed and "error" in outcome:
                error = json.loads(payload)
                log.write(f"[ERROR] {error['errorType']}: {error['errorMessage']}\n")
                log.write("Traceback (most recent call last):\n" + "".join(error["stackTrace"]))
            log.write(
                f"END RequestId: {request_id}\nREPORT RequestId: {request_id}\t"
                f"Duration: {duration:.2f} ms\tBilled Duration: {math.ceil(duration)} ms\t"
                f"Memory Size: {spec.memory_mb} MB\t\n"
            )
        return payload, failed

    @staticmethod
    def _outcome(
        spec: LambdaSpec, request_id: str, outcome: dict[str, Any], on_time: bool
    ) -> tuple[bytes, bool]:
        if not on_time:
            LOG.warning("Lambda %s timed out after %.2f s", spec.name, spec.timeout)
            message = (
                f"RequestId: {request_id} Error: Task timed out after {spec.timeout:.2f} seconds"
            )
            return error_payload("Sandbox.Timedout", message, request_id, []), True
        if "error" in outcome:
            exc: BaseException = outcome["error"]
            frames = [
                frame
                for frame in traceback.extract_tb(exc.__traceback__)
                if frame.filename != __file__
            ]
            error_type = getattr(exc, "error_type", None) or type(exc).__name__
            LOG.info("Lambda %s raised %s: %s", spec.name, error_type, exc)
            stack = traceback.format_list(frames)
            return error_payload(error_type, str(exc), request_id, stack), True
        result = outcome["result"]
        if isinstance(result, bytes):
            # The Python runtime sends bytes as they are, not as JSON (awslambdaric's
            # LambdaMarshaller.marshal_response: "application/unknown"): the payload.
            return result, False
        try:
            return json.dumps(result, default=json_default).encode(), False
        except (TypeError, ValueError) as exc:
            message = f"Unable to marshal response: {exc}"
            return error_payload("Runtime.MarshalError", message, request_id, []), True

    # ---- Batch -------------------------------------------------------------------
    def _register_job(self, local: LocalJob) -> None:
        with self._jobs_lock:
            self._jobs[local.job.job_id] = local

    def _local_job(self, job_id: str | None) -> LocalJob | None:
        if job_id is None:
            return None
        with self._jobs_lock:
            return self._jobs.get(job_id)

    def _stop_jobs(self) -> None:
        with self._jobs_lock:
            running = [job for job in self._jobs.values() if not job.done.is_set()]
        for local in running:
            local.job.stop = True
            if local.process is not None and local.process.poll() is None:
                kill_job_process(local.process, graceful=False)
        for local in running:
            local.done.wait(5)
