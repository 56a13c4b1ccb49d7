"""Benchmark: N runs of 3 variants through the offline pipeline, item write to final status.

    .venv/bin/python bench/bench_local_runs.py --runs 100

Prints wall time from the first put_item to the last final status, runs per second, and
peak RSS of this process and of its children (the Batch jobs run as processes).
Target (issue "The offline local cloud"): 100 runs in <= 15 s and <= 600 MB on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections import Counter

from runledger.local.cloud import LocalPipeline, localize_request
from runledger.sam_template import REPO_ROOT


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    template = json.loads((REPO_ROOT / "events/requests/kmer-valid-local.json").read_text())
    template = localize_request(template, REPO_ROOT)
    with LocalPipeline(stack_name="runledger-bench") as pipeline:
        started = time.perf_counter()
        pks = []
        for i in range(args.runs):
            pks.append(pipeline.put_request({**template, "pk": f"RUN#bench-{i:04d}"}))
        runs = pipeline.wait_for(pks, timeout=args.timeout, interval=0.25)
        elapsed = time.perf_counter() - started
    statuses = Counter(run.status for run in runs.values())
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"runs={args.runs} variants/run=3 elapsed={elapsed:.1f}s "
        f"({args.runs / elapsed:.2f} runs/s) statuses={dict(statuses)} "
        f"peak_rss_self={own:.0f}MB peak_rss_largest_child={children:.0f}MB"
    )


if __name__ == "__main__":
    main()
