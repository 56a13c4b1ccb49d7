"""``runledger local``: the offline local cloud.

runledger local run [REQUEST.json ...]   the whole pipeline offline, on sample requests
runledger local serve [--port N]         the same cloud as an endpoint, until Ctrl-C
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import errno
import json
import logging
import signal
import socket
import sys
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from runledger_cli.errors import ExitStatus, UsageError
from runledger_cli.sam_template import REPO_ROOT
from runledger_cli.terminal import one_line

if TYPE_CHECKING:
    from runledger_cli.ledger import RunRecord

#: What `runledger local run` runs without arguments: each sample workload's valid local
#: request, and the invalid ones.
DEFAULT_REQUESTS = (
    "events/requests/*-valid-local.json",
    "events/requests/kmer-invalid-*.json",
)


def _default_requests() -> list[Path]:
    found: list[Path] = []
    for pattern in DEFAULT_REQUESTS:
        found += sorted(REPO_ROOT.glob(pattern))
    return found


def _duration(request: dict[str, Any]) -> str:
    start: Any = request.get("claimed_at")
    end: Any = request.get("finished_at")
    try:
        seconds = (
            dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)
        ).total_seconds()
    except (TypeError, ValueError):  # not both there, or not times (a run not yet claimed)
        return "-"
    return f"{seconds:.1f}s"


def _cost(request: dict[str, Any]) -> str:
    from runledger.pricing import format_usd

    cost = request.get("cost")
    total = cost.get("total_usd") if isinstance(cost, dict) else None
    if isinstance(total, bool) or not isinstance(total, int | float) or not total:
        return "-"
    return format_usd(float(total))


def run_row(run: RunRecord) -> str:
    """The row of ``runledger local run``'s table for ``run``: one line, whatever the
    run's item holds (its id, status and note escaped; a cost or times of another type, as
    a request not yet claimed may carry them, shown as ``-``)."""
    ok = sum(v.get("status") == "SUCCEEDED" for v in run.variants.values())
    note = str(run.request.get("reason") or run.request.get("error") or "").replace("\n", "; ")
    return (
        f"{one_line(run.run_id):<36} {one_line(run.status):<10} "
        f"{f'{ok}/{len(run.variants)} ok':<12} {_duration(run.request):>9} "
        f"{_cost(run.request):>11}  {one_line(note[:60])}"
    )


def _text(value: Any, width: int) -> str:
    """A table cell: ``-`` when absent, one line, at most ``width`` characters."""
    text = "-" if value is None else one_line(str(value))
    return text if len(text) <= width else text[: width - 1] + "~"


def _seconds(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    return f"{value:.1f}s"


def job_rows(run: RunRecord) -> list[str]:
    """The table of one run's jobs, after the runs table: one row per job (a repeated
    variant's jobs are ``<variant>#<repeat>``), then each repeated variant's spread.
    Nothing for a run that ran no job. Whatever the items hold, each row is one line."""
    from runledger.pricing import format_usd

    if not run.variants:
        return []
    rows = [
        f"\n{one_line(run.run_id)} ({_text(run.request.get('workflow'), 40)})",
        f"  {'job':<28} {'capacity':<10} {'vCPU':>5} {'MiB':>6}  {'status':<10} "
        f"{'duration':>8} {'batch cost':>11}",
    ]
    for name, item in sorted(run.variants.items()):
        cost = item.get("cost")
        usd = cost.get("batch_usd") if isinstance(cost, dict) else None
        shown = "-"
        if not isinstance(usd, bool) and isinstance(usd, int | float):
            shown = format_usd(float(usd))
        rows.append(
            f"  {_text(name, 28):<28} {_text(item.get('capacity'), 10):<10} "
            f"{_text(item.get('vcpus'), 5):>5} {_text(item.get('memory_mib'), 6):>6}  "
            f"{_text(item.get('status'), 10):<10} {_seconds(item.get('duration_seconds')):>8} "
            f"{shown:>11}"
        )
    summary = run.request.get("summary")
    spreads = summary.get("repeats") if isinstance(summary, dict) else None
    for variant, spread in sorted(spreads.items()) if isinstance(spreads, dict) else ():
        if not isinstance(spread, dict):
            continue
        mean = spread.get("batch_usd_mean")
        rows.append(
            f"  {_text(variant, 40)}: {_text(spread.get('jobs'), 4)} jobs, "
            f"{_text(spread.get('succeeded'), 4)} ok, duration "
            f"{_seconds(spread.get('duration_min_seconds'))} min / "
            f"{_seconds(spread.get('duration_median_seconds'))} median / "
            f"{_seconds(spread.get('duration_max_seconds'))} max, mean batch cost "
            + (format_usd(float(mean)) if isinstance(mean, int | float) else "-")
        )
    return rows


_JSON_KINDS = {list: "an array", str: "a string", bool: "true or false", type(None): "null"}


def read_requests(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Each file's request item, its local input path made absolute; UsageError if a file
    is not one JSON object, its ``pk`` is not a run's key (``RUN#<run id>``), or two files
    hold the same run (the second would overwrite the first in the table)."""
    from runledger.models import PK_PREFIX
    from runledger_local.local_paths import localize_request

    requests: list[dict[str, Any]] = []
    seen: dict[str, Path] = {}
    for path in paths:
        try:
            item = _read_json(path)
            if not isinstance(item, dict):
                kind = _JSON_KINDS.get(type(item), "a number")
                raise UsageError(f"{path}: a request is one JSON object (a table item), not {kind}")
            run = item.get("pk")
            if isinstance(run, str):
                if run and not run.startswith(PK_PREFIX):
                    # The table's runs are RUN#<run id>: without it, nothing (report, cost,
                    # this command) can find the run by its id.
                    raise UsageError(
                        f"{path}: pk {run!r} is not a run's key: runs are {PK_PREFIX}<run id>"
                    )
                if run in seen:
                    raise UsageError(
                        f"{seen[run]} and {path} are both {run}: one would replace the other"
                    )
                seen[run] = path
            requests.append(localize_request(item, Path.cwd()))
        except RecursionError:  # reading it, or copying it: hundreds of levels deep
            raise UsageError(
                f"{path}: nested too deeply to read (DynamoDB takes at most 32 levels)"
            ) from None
    return requests


def _read_json(path: Path) -> Any:
    """The JSON document in ``path``; UsageError saying why if it cannot be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise UsageError(f"{path}: not valid JSON: {exc.msg} ({where})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read it: {exc}") from None
    except ValueError:  # the reader's limit on an integer's digits
        raise UsageError(
            f"{path}: not valid JSON for a request: a number of more than "
            f"{sys.get_int_max_str_digits():,} digits (DynamoDB numbers have at most 38)"
        ) from None


@contextlib.contextmanager
def _engine_logs_to(stream: TextIO) -> Iterator[None]:
    """While inside, records of the root logger's handlers (moto's ERRORs when one of its
    executions fails, among them) and uncaught exceptions of threads go to ``stream``."""
    root = logging.getLogger()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(logging.BASIC_FORMAT))
    before, hook = root.handlers[:], threading.excepthook

    def thread_died(args: threading.ExceptHookArgs) -> None:
        name = args.thread.name if args.thread else "a thread"
        error = (args.exc_type, args.exc_value, args.exc_traceback)
        logging.getLogger("threading").error("%s died", name, exc_info=error)  # type: ignore[arg-type]

    root.handlers[:] = [handler]
    threading.excepthook = thread_died
    try:
        yield
    finally:
        root.handlers[:] = before
        threading.excepthook = hook


def local_run(paths: Sequence[Path], timeout: float, reports: Path | None = None) -> int:
    requests = read_requests(paths)  # refused before the local cloud's imports (moto)

    from runledger_cli.sam_template import TEMPLATE_PATH, load_both
    from runledger_local.admission import request_problem
    from runledger_local.speed_switch import speed_from_env

    # Refused before the cloud starts: written, they would wait for the timeout and start
    # nothing (the template is read in a child, and the cloud reuses what it read).
    template = load_both(TEMPLATE_PATH, cache=speed_from_env())[0]
    problems = [
        f"{path}: {problem}"
        for path, item in zip(paths, requests, strict=True)
        if (problem := request_problem(template, item))
    ]
    if problems:
        raise UsageError("; ".join(problems))

    from runledger_local.cloud import TERMINAL, LocalPipeline

    print(f"starting the local cloud from {REPO_ROOT / 'template.yaml'} ...", flush=True)
    last = ""

    def progress(runs: dict[str, RunRecord]) -> None:
        nonlocal last
        statuses = Counter(run.status for run in runs.values())
        variants = Counter(
            str(v.get("status")) for run in runs.values() for v in run.variants.values()
        )
        line = "runs: " + ", ".join(f"{n} {one_line(s)}" for s, n in sorted(statuses.items()))
        if variants:
            line += " | variants: " + ", ".join(
                f"{n} {one_line(s)}" for s, n in sorted(variants.items())
            )
        if line != last:
            print(line, file=terminal, flush=True)
            last = line

    # The handlers' and the pipe's JSON logs (Powertools writes them to stdout, as Lambda
    # wants) and the engine's own (moto's, through logging) go to a file, so the terminal
    # shows progress and results only.
    log_path = (reports or Path.cwd()) / "local-run.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    terminal = sys.stdout
    with (
        log_path.open("w", encoding="utf-8") as log,
        contextlib.redirect_stdout(log),
        _engine_logs_to(log),
        LocalPipeline() as pipeline,
    ):
        print(
            f"writing {len(requests)} request(s) to table {pipeline.table_name}",
            file=terminal,
            flush=True,
        )
        pks = [pipeline.put_request(item) for item in requests]
        interrupted = False
        try:
            runs = pipeline.wait_for(pks, timeout=timeout, on_progress=progress)
        except (TimeoutError, KeyboardInterrupt) as exc:  # show where the runs stand
            interrupted = isinstance(exc, KeyboardInterrupt)
            runs = {pk: pipeline.read_run(pk) for pk in pks}
        unfinished = [one_line(run.run_id) for run in runs.values() if run.status not in TERMINAL]
        counters = pipeline.pipe.counters
        if reports:  # one HTML page per run (runledger_cli.report): ~60 ms each
            from runledger_cli.report import report_lines

            print(f"writing {len(pks)} report(s) to {reports} ...", file=terminal, flush=True)
            written = report_lines(pipeline, [runs[pk].run_id for pk in pks], reports)

    print()
    print(f"{'run':<36} {'status':<10} {'variants':<12} {'duration':>9} {'est. cost':>11}  note")
    failed = 0
    for pk in pks:
        run = runs[pk]
        failed += run.status == "FAILED"
        print(run_row(run))
    for pk in pks:
        for row in job_rows(runs[pk]):
            print(row)
    print(
        f"\npipe: {counters.records_read} stream records read, "
        f"{counters.records_filtered_out} write-backs filtered out, "
        f"{counters.executions_started} executions started, {counters.records_to_dlq} to DLQ"
    )
    if reports:
        print(f"\n{written}")
    print(f"\nhandler and pipe logs: {log_path}")
    if interrupted:
        print(f"runledger: interrupted; not final: {', '.join(unfinished)}", file=sys.stderr)
        return ExitStatus.INTERRUPTED
    if unfinished:
        print(
            f"runledger: {len(unfinished)} run(s) not final after {timeout:g} s "
            f"(--timeout waits longer): {', '.join(unfinished)}",
            file=sys.stderr,
        )
    return ExitStatus.FAILED if failed or unfinished else ExitStatus.OK


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    local = commands.add_parser("local", help="the offline local cloud").add_subparsers(
        dest="local_command", required=True
    )
    run = local.add_parser(
        "run",
        help="run requests through the whole pipeline offline",
        description="Build template.yaml's stack in an embedded moto cloud, write the "
        "requests to the runs table and follow them to their final status. Exit code 1 if "
        "any run ends FAILED or is not final after --timeout, 2 if a request file would "
        "start no run (refused before anything is written), 130 at Ctrl-C.",
    )
    run.add_argument(
        "requests",
        nargs="*",
        type=Path,
        help="request items (JSON); default: " + " ".join(DEFAULT_REQUESTS),
    )
    run.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for all runs (300)"
    )
    run.add_argument(
        "--reports", type=Path, default=Path("reports"), help="where to write one HTML page per run"
    )
    run.set_defaults(func=_run_command)

    serve = local.add_parser(
        "serve",
        help="keep the local cloud up as an endpoint (Step Functions Local for this project)",
        description="Build template.yaml's stack in a moto server on HOST:PORT, with the pipe "
        "runner and the Batch job runner active, and keep it up until Ctrl-C (or SIGTERM). "
        "boto3, the AWS CLI and tests reach it with endpoint_url / AWS_ENDPOINT_URL and any "
        "credentials; an item written to the runs table starts a run as on AWS.",
    )
    serve.add_argument("--port", type=int, default=4566, help="port to listen on (0: any free)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    serve.add_argument(
        "--mock-config",
        type=Path,
        help="Step Functions Local MockConfigFile for start_execution(arn#TestCase)",
    )
    serve.set_defaults(func=_serve_command)


def _run_command(args: argparse.Namespace) -> int:

    paths = args.requests or _default_requests()
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise UsageError(f"no such request file: {', '.join(missing)}")
    try:
        return local_run(paths, args.timeout, args.reports)
    except KeyboardInterrupt:  # while the cloud started or stopped: nothing to show
        print("runledger: interrupted", file=sys.stderr)
        return ExitStatus.INTERRUPTED


def _serve_command(args: argparse.Namespace) -> int:

    if args.mock_config is not None and not args.mock_config.is_file():
        raise UsageError(f"no such mock config file: {args.mock_config}")
    return local_serve(args.host, args.port, args.mock_config)


def local_serve(host: str, port: int, mock_config: Path | None) -> int:
    """Serve until SIGINT or SIGTERM; 0 on a clean stop."""
    taken = _listen_problem(host, port)  # said at once, not after the cloud's start
    if taken is not None:
        return _cannot_listen(host, port, taken)
    from runledger_local.cloud import REGION, LocalPipeline

    stop = threading.Event()
    print(f"starting the local cloud from {REPO_ROOT / 'template.yaml'} ...", flush=True)
    try:
        pipeline = LocalPipeline(host=host, port=port, mock_config_file=mock_config)
        with pipeline:
            # Only once the cloud is up (until then Ctrl-C and SIGTERM act as usual), and
            # before saying so, so a Ctrl-C right after the banner stops it cleanly.
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, lambda *_: stop.set())
            print(
                f"runledger local cloud on {pipeline.endpoint_url} (Ctrl-C stops it)\n"
                f"  runs table     {pipeline.table_name}\n"
                f"  state machine  {pipeline.state_machine_arn}\n"
                f"  pipe           {pipeline.pipe.name}: stream -> filter -> state machine\n"
                f"use it with:\n"
                f"  export AWS_ENDPOINT_URL={pipeline.endpoint_url} AWS_DEFAULT_REGION={REGION} "
                f"AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing",
                flush=True,
            )
            stop.wait()
            print("stopping ...", flush=True)
    except OSError as exc:
        if exc.errno not in _LISTEN_ERRORS:
            raise
        return _cannot_listen(host, port, exc)
    print("stopped", flush=True)
    return ExitStatus.OK


_LISTEN_ERRORS = (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES)


def _listen_problem(host: str, port: int) -> OSError | None:
    """Why the server could not listen on ``host:port`` (bound as it binds), if it could
    not; None for any free port (``port`` 0) or an error the server itself would say."""
    if port == 0:
        return None
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
            probe.bind(address)
    except OSError as exc:
        return exc if exc.errno in _LISTEN_ERRORS else None
    return None


def _cannot_listen(host: str, port: int, exc: OSError) -> int:
    print(f"runledger local serve: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
    return ExitStatus.FAILED
