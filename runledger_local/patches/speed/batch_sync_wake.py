"""Speed: a ``batch:submitJob.sync`` task wakes when its local job ends.

moto's ``.sync`` resolver polls DescribeJobs every 0.5 s. Here the task waits on the local
job's end (checking that the execution still runs, so a stop is noticed within 0.5 s),
then describes the job once; a job still queued or running is not described at all (its
answer would be None anyway). After ``BATCH_SYNC_WAIT_SECONDS`` it hands back to moto's
loop, so a long job costs one describe per interval.

Measured 2026-12-04, bench/bench_speed.py --mechanism batch_sync_wake --rounds 5 --runs
30: engine CPU 1.12x with it off (median of 5 alternated pairs, range 1.00-1.20x), wall
1.15x (1.02-1.20x), the same memory.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any, Final
from unittest import mock

from runledger_local.patches._seams import Seam
from runledger_local.patches.features.batch_sync import BATCH_TASK
from runledger_local.runtime.local_cloud import LocalCloud

NAME: Final = "batch_sync_wake"
#: Seconds a ``.sync`` poll waits for the local job to end before handing back to moto's
#: polling loop (which then sleeps 0.5 s): long jobs cost one describe per this interval.
BATCH_SYNC_WAIT_SECONDS: Final[float] = 10.0
_BUILD_SYNC_RESOLVER: Final = Seam(
    NAME,
    BATCH_TASK,
    "StateTaskServiceBatch._build_sync_resolver",
    ("self", "env", "resource_runtime_part", "normalised_parameters", "state_credentials"),
)
SEAMS: Final[tuple[Seam, ...]] = (_BUILD_SYNC_RESOLVER,)


@contextlib.contextmanager
def apply(cloud: LocalCloud) -> Iterator[None]:
    task_class, attribute, original_build = _BUILD_SYNC_RESOLVER.resolve()

    def build_sync_resolver(
        self: Any,
        env: Any,
        resource_runtime_part: Any,
        normalised_parameters: Any,
        state_credentials: Any,
    ) -> Any:
        submission = env.stack[-1] if env.stack else None
        job_id = submission.get("JobId") if isinstance(submission, dict) else None
        resolver = original_build(
            self, env, resource_runtime_part, normalised_parameters, state_credentials
        )
        local = cloud._local_job(job_id)
        if resolver is None or local is None:
            return resolver

        def resolve_or_wait() -> Any:
            # Instead of moto's fixed 0.5 s polling: wake up when the job ends (checking
            # that the execution still runs), then describe the job. A job still queued
            # or running is not described at all: its answer would be None anyway.
            deadline = time.monotonic() + BATCH_SYNC_WAIT_SECONDS
            while not local.done.is_set() and env.is_running():
                if time.monotonic() >= deadline:
                    return None  # moto calls again after its own short sleep
                local.done.wait(0.5)  # a stopped execution is noticed within 0.5 s
            return resolver()

        return resolve_or_wait

    with mock.patch.object(task_class, attribute, build_sync_resolver):
        yield
