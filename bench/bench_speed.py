"""Measure one speed mechanism as a ratio: the pipeline with it on, then off, alternated.

    .venv/bin/python bench/bench_speed.py --mechanism client_cache --rounds 6 --runs 20
    .venv/bin/python bench/bench_speed.py --list

Each round runs the offline pipeline (LocalPipeline, everything else as usual) twice, in a
fresh interpreter each time: once with the mechanism on, once with it off; the order
flips every round (on-off, off-on, ...), so a drift of the machine's speed within a round
falls on both sides. One interpreter per side because only one local cloud may be active
per process, and a patch or cache one side left must not reach the other. A side writes
``--runs`` copies of events/requests/kmer-valid-local.json (3 variants each) and waits
until every run is final (``--waves``: in waves, each written once the last is final;
``--progress``: watched as ``runledger local run`` watches, every run read at each poll).

A mechanism is a speed patch (runledger_local.patches.speed: off = every patch but it),
``speed`` (every speed mechanism: ``LocalPipeline(speed=False)``, the headline), or one of
the speed paths that are not patches (see MECHANISMS). Per side it measures the engine
process's CPU seconds while the runs ran (``time.process_time``: every thread of it), the
CPU of the Batch jobs that ended meanwhile (``processes.jobs_cpu_seconds``), the wall
time from the first request written to the last ``finished_at`` the workflow wrote, the
pipeline's start (wall and CPU of entering ``LocalPipeline``), the engine's peak and final
RSS, and the objects the garbage collector tracks once the runs are final.

Prints one JSON line per side and round (also appended to ``--out``), then a summary line:
each figure's median per side, the ratio of the medians (off / on: above 1, the mechanism
saves), and the ratio of each alternated pair (median, min, max). Not a test: the figures
go in the mechanisms' docstrings.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "bench" / "results" / "speed-ratios.jsonl"
DEFAULT_LOG = REPO / "reports" / "bench-speed.log"
RESULT = "bench-speed-result: "


def _no_frozen_heap() -> None:
    import runledger_local.cloud

    runledger_local.cloud.frozen_heap = contextlib.nullcontext  # type: ignore[assignment]


def _no_read_ahead() -> None:
    import runledger_local.cloud

    runledger_local.cloud.read_ahead = lambda path=None: None  # type: ignore[misc]


def _no_jsonata_cache() -> None:
    from runledger_local.patches.features import jsonata

    jsonata._compiled_jsonata = jsonata._compile_jsonata  # type: ignore[assignment]


def _no_job_niceness() -> None:
    from runledger_local import processes

    processes.JOB_NICENESS = 0  # min(19, the engine's + 0): jobs at the engine's priority


def _no_wire_json_client() -> None:
    import boto3

    import runledger_local.cloud

    runledger_local.cloud.wire_json_client = boto3.client  # type: ignore[assignment]


#: The speed paths that are not patch modules: name -> (what turns it off in the side's
#: interpreter before the pipeline starts, environment variables to set, what it is).
MECHANISMS: dict[str, tuple[Callable[[], None] | None, dict[str, str], str]] = {
    "fork_server": (
        None,
        {"RUNLEDGER_LOCAL_JOBS": "subprocess"},
        "Python jobs forked from a warm fork server (runledger_local.processes)",
    ),
    "frozen_heap": (_no_frozen_heap, {}, "gc.freeze once the stack exists (cloud.frozen_heap)"),
    "read_ahead": (
        _no_read_ahead,
        {},
        "the template read in a child meanwhile (runledger_cli.sam_template.read_ahead)",
    ),
    "jsonata_cache": (
        _no_jsonata_cache,
        {},
        "JSONata expressions parsed once (features/jsonata._evaluate_jsonata cached=)",
    ),
    "job_niceness": (
        _no_job_niceness,
        {},
        "jobs run JOB_NICENESS nicer than the engine (runledger_local.processes)",
    ),
    "wire_json_client": (
        _no_wire_json_client,
        {},
        "the pipe reads stream records as wire JSON (runledger_local.pipe_records)",
    ),
}


def mechanisms() -> list[str]:
    from runledger_local.patches import SPEED

    return ["speed", *sorted(SPEED), *MECHANISMS]


def _ignore(_runs: object) -> None:
    pass


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def one_side(
    mechanism: str, on: bool, runs: int, timeout: float, waves: int = 1, progress: bool = False
) -> dict[str, Any]:
    """One side's figures, measured in this (fresh) interpreter."""
    from bench_local_runs import speed_check  # bench/, this script's folder, is on sys.path

    check = speed_check()
    from runledger_cli.sam_template import REPO_ROOT
    from runledger_local import processes
    from runledger_local.cloud import LocalPipeline
    from runledger_local.local_paths import localize_request
    from runledger_local.patches import ADAPTATIONS

    options: dict[str, Any] = {}
    if not on:
        if mechanism == "speed":
            options["speed"] = False
        elif mechanism in MECHANISMS:
            turn_off = MECHANISMS[mechanism][0]
            if turn_off is not None:
                turn_off()
        else:
            options["adapters"] = [name for name in ADAPTATIONS if name != mechanism]
    item = localize_request(
        json.loads((REPO_ROOT / "events/requests/kmer-valid-local.json").read_text()), REPO_ROOT
    )
    wall0, cpu0 = time.perf_counter(), time.process_time()
    with LocalPipeline(stack_name="runledger-bench", **options) as pipeline:
        startup_wall, startup_cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        jobs, started = processes.jobs_cpu_seconds(), dt.datetime.now(dt.UTC)
        cpu = time.process_time()
        final = {}
        for wave in range(waves):  # one after another, as requests reach `local serve`
            numbers = range(wave * runs // waves, (wave + 1) * runs // waves)
            pks = [pipeline.put_request({**item, "pk": f"RUN#bench-{i:04d}"}) for i in numbers]
            if progress:  # as `runledger local run` watches: every run read at every poll
                final.update(pipeline.wait_for(pks, timeout=timeout, on_progress=_ignore))
            else:
                final.update(pipeline.wait_for(pks, timeout=timeout, interval=0.5))
        cpu, jobs = time.process_time() - cpu, processes.jobs_cpu_seconds() - jobs
        gc.collect()
        objects, rss_end = len(gc.get_objects()), _rss_mb()
        from moto.stepfunctions.parser.utils import TMP_THREADS

        tmp_threads = len(TMP_THREADS)
    statuses: dict[str, int] = {}
    for run in final.values():
        statuses[run.status] = statuses.get(run.status, 0) + 1
    if statuses != {"SUCCEEDED": runs}:
        raise SystemExit(f"not every run succeeded: {statuses}")
    last = max(dt.datetime.fromisoformat(run.request["finished_at"]) for run in final.values())
    return {
        "engine_cpu_s": round(cpu, 3),
        "jobs_cpu_s": round(jobs, 3),
        "wall_s": round((last - started).total_seconds(), 3),
        "startup_wall_s": round(startup_wall, 3),
        "startup_cpu_s": round(startup_cpu, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_end_mb": round(rss_end, 1),
        "gc_objects_end": objects,
        "tmp_threads_end": tmp_threads,
        "speed_check_s": round(check, 3),
    }


def _child(args: argparse.Namespace) -> None:
    args.log.parent.mkdir(parents=True, exist_ok=True)
    with args.log.open("a", encoding="utf-8") as log, contextlib.redirect_stdout(log):
        figures = one_side(
            args.mechanism, args.side == "on", args.runs, args.timeout, args.waves, args.progress
        )
    print(RESULT + json.dumps(figures), flush=True)


def _run_side(args: argparse.Namespace, side: str, number: int) -> dict[str, Any]:
    env = dict(os.environ)
    if side == "off" and args.mechanism in MECHANISMS:
        env.update(MECHANISMS[args.mechanism][1])
    command = [sys.executable, __file__, "--child", "--side", side]
    command += ["--mechanism", args.mechanism, "--runs", str(args.runs)]
    command += ["--waves", str(args.waves), "--timeout", str(args.timeout)]
    command += ["--log", str(args.log), *(["--progress"] if args.progress else [])]
    done = subprocess.run(  # noqa: S603 - this script, with this interpreter
        command, env=env, capture_output=True, text=True, check=False, cwd=REPO
    )
    lines = [x for x in done.stdout.splitlines() if x.startswith(RESULT)]
    if done.returncode or not lines:
        raise SystemExit(
            f"{args.mechanism} {side} failed:\n{done.stdout[-2000:]}{done.stderr[-4000:]}"
        )
    return {
        "mechanism": args.mechanism,
        "side": side,
        "round": number,
        "runs": args.runs,
        "waves": args.waves,
        "progress": args.progress,
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load1": round(os.getloadavg()[0], 2),
        **json.loads(lines[-1].removeprefix(RESULT)),
    }


def _order(number: int) -> Iterator[str]:
    return iter(("on", "off") if number % 2 else ("off", "on"))


def summary(mechanism: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per side, the ratio of medians (off / on) and of each pair (median, range)."""
    figures = [key for key in rows[0] if key.endswith(("_s", "_mb", "_end"))]
    sides = {side: [row for row in rows if row["side"] == side] for side in ("on", "off")}
    result: dict[str, Any] = {"mechanism": mechanism, "summary": True, "pairs": len(sides["on"])}
    for key in figures:
        on = [row[key] for row in sides["on"]]
        off = [row[key] for row in sides["off"]]
        pairs = sorted(b / a for a, b in zip(on, off, strict=True) if a)
        median_on, median_off = statistics.median(on), statistics.median(off)
        result[key] = {
            "on": median_on,
            "off": median_off,
            "ratio": round(median_off / median_on, 3) if median_on else None,
            "pairs": [round(statistics.median(pairs), 3), round(pairs[0], 3), round(pairs[-1], 3)]
            if pairs
            else None,
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mechanism", help="a name --list prints")
    parser.add_argument("--rounds", type=int, default=5, help="alternated pairs")
    parser.add_argument("--runs", type=int, default=20, help="requests per side")
    parser.add_argument(
        "--waves", type=int, default=1, help="write the runs in N waves, each after the last ended"
    )
    parser.add_argument(
        "--progress",
        action="store_true",
        help="watch as `runledger local run` does: every run read at every 0.1 s poll",
    )
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON lines appended here")
    parser.add_argument("--log", type=Path, default=DEFAULT_LOG, help="handlers' and pipe's logs")
    parser.add_argument("--list", action="store_true", help="print the mechanisms and exit")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--side", choices=("on", "off"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.list:
        for name in mechanisms():
            print(name, "-", MECHANISMS[name][2] if name in MECHANISMS else "speed patch")
        return
    if args.mechanism not in mechanisms():
        parser.error(f"--mechanism: one of {', '.join(mechanisms())}")
    if args.child:
        _child(args)
        return
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    with args.out.open("a", encoding="utf-8") as out:
        for number in range(1, args.rounds + 1):
            for side in _order(number):
                row = _run_side(args, side, number)
                rows.append(row)
                print(json.dumps(row), flush=True)
                out.write(json.dumps(row) + "\n")
                out.flush()
        final = summary(args.mechanism, rows)
        final.update(rounds=args.rounds, runs=args.runs, waves=args.waves, progress=args.progress)
        print(json.dumps(final), flush=True)
        out.write(json.dumps(final) + "\n")


if __name__ == "__main__":
    main()
