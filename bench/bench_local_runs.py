"""Benchmark: N runs of 3 variants through the offline pipeline, item write to final status.

    .venv/bin/python bench/bench_local_runs.py --runs 100 --repeat 3

Each repeat starts a fresh local cloud, writes N copies of
events/requests/kmer-valid-local.json and waits until every run is final. It prints, per
repeat and as the median: wall time from the first put_item to the last final status
(the latest ``finished_at`` the workflow wrote, so the once-a-second watching adds
nothing), runs per second, CPU seconds of this process until the watcher saw every run
final (the engine, moto, the handlers, the pipe, the watcher), the CPU seconds of the
Batch jobs that ended meanwhile (jobs_cpu: processes of their own, which the other core
runs), the CPU time of a fixed loop run just before (speed_check: the VM's speed drifts,
so compare repeats with it), the CPU seconds this process spent in garbage collections
meanwhile (gc, part of cpu),
and the peak memory of the whole process tree (this process, the job fork server and
the jobs running at that moment: the sum of their PSS, which splits the pages forked jobs
share with the fork server instead of counting them once per job; sampled every 0.1 s
from /proc by a process of its own, which it leaves out; the engine's own PSS is read
once a second and moved by its RSS in between, see RootPss). A second line per repeat
splits the engine's CPU by kind of thread (ThreadCpu): moto's Task-state and Map threads,
the server's request threads (the jobs' S3 calls), each function's handler, the pipe,
the watcher. The handlers' and the pipe's logs go to ``--log``
(reports/bench-local-runs.log), not among the figures.
Target (issue "The offline local cloud"): 100 runs in <= 15 s and <= 600 MB on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import math
import os
import re
import select
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

from runledger_cli.sam_template import REPO_ROOT
from runledger_local import processes

#: Where the handlers' and the pipe's JSON logs go (Powertools writes them to stdout, as
#: Lambda wants; 100 runs write about 1,600 lines), so that the figures stay readable.
DEFAULT_LOG = REPO_ROOT / "reports" / "bench-local-runs.log"
#: Every ``make bench`` adds one JSON line here (bench/README.md says how to read them).
DEFAULT_RESULTS = REPO_ROOT / "bench" / "results" / "local-runs.jsonl"


def _pss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0


def _rss_bytes(pid: int) -> int:
    """Resident set size from /proc/PID/statm: kernel counters, no walk of the page tables."""
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def tree_pss_bytes(
    root: int,
    exclude: int = 0,
    parents: dict[int, int] | None = None,
    root_pss: Callable[[int], int] = _pss_bytes,
) -> int:
    """Proportional set size of ``root`` and its descendants but ``exclude`` (Linux /proc).

    ``parents`` (pid -> parent pid) is kept between calls, so each call reads the parent
    of new processes only. ``root_pss`` gives the root's own PSS (default: read it).
    """
    known = {} if parents is None else parents
    children: dict[int, list[int]] = {}
    alive = {int(name) for name in os.listdir("/proc") if name.isdigit()}
    for pid in known.keys() - alive:
        del known[pid]
    for pid in alive:
        if pid not in known:
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
                known[pid] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
        if pid != exclude:
            children.setdefault(known[pid], []).append(pid)
    total, stack = root_pss(root), list(children.get(root, []))
    while stack:
        pid = stack.pop()
        with contextlib.suppress(OSError):  # ended meanwhile
            total += _pss_bytes(pid)
        stack.extend(children.get(pid, []))
    return total


class RootPss:
    """The PSS of one (big) process, read in full at most every ``full_every`` seconds.

    Reading smaps_rollup walks the process's page tables, holding its memory-map lock:
    10.5 ms for the engine at 300 MB. Ten times a second, that was most of the 3.1 CPU-s
    the sampler took in a repeat (1.0 s now), on a machine whose two CPUs the pipeline
    keeps busy. In between, the last PSS read is moved by how much the resident set size
    (statm: a counter, no walk) changed since: the pages the engine adds are its own, so
    they add as much to one as to the other (checked over 100 runs: within 2 MB of the
    PSS read a second later).
    """

    def __init__(self, full_every: float = 1.0) -> None:
        self.full_every = full_every
        self._read_at = -math.inf
        self._pss = self._rss = 0

    def __call__(self, pid: int) -> int:
        now = time.monotonic()
        if now - self._read_at >= self.full_every:
            self._pss, self._rss, self._read_at = _pss_bytes(pid), _rss_bytes(pid), now
            return self._pss
        return self._pss + _rss_bytes(pid) - self._rss


def watch_memory(root: int, interval: float = 0.1) -> None:
    """Print the peak tree PSS of ``root`` once this process's stdin closes."""
    peak, parents, me, root_pss = 0, dict[int, int](), os.getpid(), RootPss()
    while not select.select([sys.stdin], [], [], interval)[0]:
        peak = max(peak, tree_pss_bytes(root, exclude=me, parents=parents, root_pss=root_pss))
    last = tree_pss_bytes(root, exclude=me, parents=parents, root_pss=_pss_bytes)
    print(max(peak, last))


def speed_check() -> float:
    """CPU seconds of a fixed pure-Python loop: how fast this machine is right now.

    The VM this project is measured on runs the same code up to 70% slower from one
    minute to the next; a repeat's figures mean something only next to this one.
    """
    started = time.process_time()
    sum(i * i for i in range(3_000_000))
    return time.process_time() - started


class CollectionTime:
    """CPU seconds spent in garbage collections while registered (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, _info: dict[str, int]) -> None:
        # Collections never overlap (they hold the GIL), whichever thread runs them.
        if phase == "start":
            self._started = time.thread_time()
        else:
            self.seconds += time.thread_time() - self._started

    def __enter__(self) -> CollectionTime:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        gc.callbacks.remove(self)


#: What tells one thread of a kind from another: numbers, and ids such as Batch job ids.
_THREAD_IDS = re.compile(r"[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}|\d+")


def thread_kind(name: str) -> str:
    """A thread's name with its ids dropped: "Thread-12 (eval)" -> "Thread-# (eval)"."""
    return _THREAD_IDS.sub("#", name)


class ThreadCpu:
    """CPU seconds of the threads that start while registered, by kind (``thread_kind``).

    ``threading.Thread.run`` is wrapped, so each thread started meanwhile adds its own
    CPU time (``time.thread_time``) when it ends, so one still running is not in the
    figures yet; ``add`` counts others (the bench adds the thread that watches).
    """

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.threads: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._run = threading.Thread.run

    def __enter__(self) -> ThreadCpu:
        counted, add = self._run, self.add

        def run(thread: threading.Thread) -> None:
            started = time.thread_time()
            try:
                counted(thread)
            finally:
                add(thread.name, time.thread_time() - started)

        threading.Thread.run = run  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc_info: object) -> None:
        threading.Thread.run = self._run  # type: ignore[method-assign]

    def add(self, name: str, seconds: float) -> None:
        kind = thread_kind(name)
        with self._lock:
            self.seconds[kind] += seconds
            self.threads[kind] += 1

    def describe(self, top: int = 10) -> str:
        ranked = sorted(self.seconds.items(), key=lambda item: -item[1])
        shown = [f"{kind} x{self.threads[kind]} {seconds:.2f}s" for kind, seconds in ranked[:top]]
        rest = sum(seconds for _, seconds in ranked[top:])
        return ", ".join([*shown, f"others {rest:.2f}s"])


def one_repeat(runs: int, timeout: float, threads: ThreadCpu) -> dict[str, float]:
    # Imported here, not at the top: the memory sampler runs this script too, and moto's
    # import would cost it about 0.7 CPU-s while the cloud starts.
    from runledger_local.cloud import LocalPipeline
    from runledger_local.local_paths import localize_request

    item = localize_request(
        json.loads((REPO_ROOT / "events/requests/kmer-valid-local.json").read_text()), REPO_ROOT
    )
    # Sampled from a process of its own: reading /proc takes CPU, and in this process it
    # would also take the GIL from the engine it measures.
    sampler = subprocess.Popen(  # noqa: S603 - this script
        [sys.executable, __file__, "--watch-memory", str(os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    # Older revisions (bench/alternate.py runs them with this script) cannot tell.
    jobs_cpu = getattr(processes, "jobs_cpu_seconds", lambda: math.nan)
    with threads, LocalPipeline(stack_name="runledger-bench") as pipeline:
        cpu, jobs, started = time.process_time(), jobs_cpu(), dt.datetime.now(dt.UTC)
        watcher = time.thread_time()
        with CollectionTime() as collections:
            pks = [pipeline.put_request({**item, "pk": f"RUN#bench-{i:04d}"}) for i in range(runs)]
            # Polled once a second: the watcher shares the GIL with the engine it watches.
            final = pipeline.wait_for(pks, timeout=timeout, interval=1.0)
            cpu, jobs = time.process_time() - cpu, jobs_cpu() - jobs
        threads.add("MainThread (the watcher)", time.thread_time() - watcher)
    peak = int(sampler.communicate(timeout=30)[0])  # closing its stdin stops it
    statuses = Counter(run.status for run in final.values())
    if statuses != {"SUCCEEDED": runs}:
        raise SystemExit(f"not every run succeeded: {dict(statuses)}")
    # The workflow stamps finished_at when it enters its final write (RecordResult).
    last = max(dt.datetime.fromisoformat(run.request["finished_at"]) for run in final.values())
    return {
        "wall_s": (last - started).total_seconds(),
        "cpu_s": cpu,
        "jobs_cpu_s": jobs,
        "gc_s": collections.seconds,
        "peak_mb": peak / 2**20,
    }


def describe(result: dict[str, float], runs: int) -> str:
    return (
        f"wall={result['wall_s']:.1f}s ({runs / result['wall_s']:.2f} runs/s) "
        f"cpu={result['cpu_s']:.1f}s peak_tree_pss={result['peak_mb']:.0f}MB "
        f"jobs_cpu={result['jobs_cpu_s']:.1f}s gc={result['gc_s']:.2f}s "
        f"speed_check={result['speed_check_s']:.2f}s"
    )


def _commit() -> str:
    """The commit measured, with ``+dirty`` when the working tree differs from it."""

    def git(*args: str) -> str:
        answer = subprocess.run(  # noqa: S603 - git, on this repository
            ["git", *args],  # noqa: S607 - git from PATH, as make finds it
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        return answer.stdout.strip() if answer.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def result_record(
    results: list[dict[str, float]], runs: int, when: dt.datetime, commit: str
) -> dict[str, object]:
    """The JSON line one bench adds to the results file: when, what, and its figures."""
    median = {key: statistics.median(r[key] for r in results) for key in results[0]}
    return {
        "date": when.isoformat(timespec="seconds"),
        "commit": commit,
        "runs": runs,
        "variants_per_run": 3,
        "repeats": len(results),
        "cpus": os.cpu_count(),
        "speed_check_s": [round(r["speed_check_s"], 3) for r in results],
        "median": {key: round(value, 3) for key, value in median.items()},
        "peak_mb_max": round(max(r["peak_mb"] for r in results), 1),
        "each": [{key: round(value, 3) for key, value in r.items()} for r in results],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument(
        "--log",
        type=Path,
        default=DEFAULT_LOG,
        help="file the handlers' and the pipe's logs are written to (default: %(default)s)",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=DEFAULT_RESULTS,
        help="JSON-lines file this run's record is appended to (default: %(default)s)",
    )
    parser.add_argument("--watch-memory", type=int, metavar="PID", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.watch_memory:
        watch_memory(args.watch_memory)
        return
    args.log.parent.mkdir(parents=True, exist_ok=True)
    print(f"handler and pipe logs: {args.log}", flush=True)
    results = []
    with args.log.open("w", encoding="utf-8") as log:
        for number in range(1, args.repeat + 1):
            check = speed_check()
            threads = ThreadCpu()
            with contextlib.redirect_stdout(log):
                result = {**one_repeat(args.runs, args.timeout, threads), "speed_check_s": check}
            results.append(result)
            line = f"repeat {number}: runs={args.runs} variants/run=3 {describe(result, args.runs)}"
            print(line, f"  engine CPU by thread: {threads.describe()}", sep="\n", flush=True)
    median = {key: statistics.median(r[key] for r in results) for key in results[0]}
    print(f"median of {args.repeat}: {describe(median, args.runs)} (target: <= 15 s, <= 600 MB)")
    record = result_record(results, args.runs, dt.datetime.now(dt.UTC), _commit())
    args.results.parent.mkdir(parents=True, exist_ok=True)
    with args.results.open("a", encoding="utf-8") as out:
        out.write(json.dumps(record, sort_keys=True) + "\n")
    print(f"recorded in {args.results}")


if __name__ == "__main__":
    main()
