"""Benchmark: the CPU of one local Batch job, forked warm (runledger_local.processes).

    .venv/bin/python bench/bench_jobs.py --jobs 80 --repeat 3

Starts the local cloud (for its S3 endpoint), then runs the kmer-count job of
jobs/kmer_count on events/data/sample.fastq ``--jobs`` times, one after another, exactly
as a Batch job of the pipeline is started (python SCRIPT forked from the job fork server,
its results written to the stack's bucket), and prints the mean and median CPU seconds a
job took (utime + stime of the ended process, from /proc: 10 ms ticks, hence the mean).
Jobs take half the CPU of ``make bench``; this isolates them from the engine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from runledger_cli.sam_template import REPO_ROOT
from runledger_local import processes
from runledger_local.cloud import LocalPipeline

SCRIPT = REPO_ROOT / "jobs" / "kmer_count" / "kmer_count.py"


def one_repeat(pipeline: LocalPipeline, jobs: int) -> list[float]:
    bucket = pipeline.client("s3").list_buckets()["Buckets"][0]["Name"]
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": pipeline.endpoint_url,
        "AWS_REGION": "us-east-1",
        "RUNLEDGER_INPUT_URI": str(REPO_ROOT / "events" / "data" / "sample.fastq"),
        "RUNLEDGER_KMER_K": "21",
        "RUNLEDGER_RUN_ID": "bench-jobs",
        # The job's shared module (its job definition's DockerBuildContexts, as the local
        # cloud puts them on a job's path).
        "PYTHONPATH": os.pathsep.join(
            str(path)
            for path in pipeline.cloud.batch_pythonpaths[
                f"{pipeline.stack_name}-workload-kmer-count"
            ]
        ),
    }
    spent = []
    for number in range(jobs):
        env["RUNLEDGER_RESULTS_URI"] = f"s3://{bucket}/bench-jobs/{number}.json"
        before = processes.jobs_cpu_seconds()
        with tempfile.NamedTemporaryFile(prefix="bench-job-") as output:
            job = processes.start(
                [sys.executable, str(SCRIPT)], cwd=SCRIPT.parent, env=env, output=output
            )
            if job.wait() != 0:
                raise SystemExit(f"job {number} failed:\n{Path(output.name).read_text()}")
        spent.append(processes.jobs_cpu_seconds() - before)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=80)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    means = []
    with LocalPipeline(stack_name="runledger-bench-jobs") as pipeline:
        for number in range(1, args.repeat + 1):
            spent = one_repeat(pipeline, args.jobs)
            means.append(statistics.mean(spent))
            print(
                f"repeat {number}: jobs={args.jobs} cpu/job mean={1000 * means[-1]:.1f}ms "
                f"median={1000 * statistics.median(spent):.0f}ms",
                flush=True,
            )
    print(f"median of {args.repeat}: cpu/job mean={1000 * statistics.median(means):.1f}ms")


if __name__ == "__main__":
    main()
