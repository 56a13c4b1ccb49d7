"""``runledger cost``: what runs cost, estimated and (with ``--actual``) billed.

runledger cost RUN_ID --table T             one run: by service and by variant
runledger cost --stack S --group-by day     all runs, summed per day (or run, workflow,
                                            cost-center)
runledger cost ... --actual                 Cost Explorer beside the estimate
runledger cost ... --format csv|json        for spreadsheets and scripts

The estimate is read from the runs table (runledger_cli.ledger, runledger_cli.costs);
nothing is recomputed here.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from runledger_cli.cost_constants import GROUPINGS, SERVICES
from runledger_cli.errors import ExitStatus, UsageError

FORMATS = ("table", "csv", "json")
_SMALL_PLACES = 8  # per-service amounts go down to USD 4e-7 (one Pipes request)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "cost",
        help="estimated (and actual) cost of runs",
        description="The estimated cost of one run (by service and variant) or of all runs "
        "grouped by run, workflow, cost center or day, read from the runs table. With "
        "--actual, Cost Explorer's cost for the runs' run-id tag is shown beside it (USD "
        "0.01 per Cost Explorer request; needs the tags activated as cost allocation tags).",
    )
    parser.add_argument("run_id", nargs="?", help="one run; default: all runs")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--table", help="the runs table's name")
    where.add_argument("--stack", help="a deployed stack: its RunsTableName output")
    parser.add_argument(
        "--endpoint-url",
        help="send every AWS call here (the local cloud, e.g. http://127.0.0.1:5000)",
    )
    parser.add_argument("--region", help="AWS region of the table/stack (default: boto3's)")
    parser.add_argument(
        "--group-by", choices=GROUPINGS, default="run", help="for all runs (default: run)"
    )
    parser.add_argument("--workflow", help="only runs of this workflow")
    parser.add_argument("--cost-center", help="only runs of this cost center")
    parser.add_argument("--since", type=dt.date.fromisoformat, help="runs from this day (UTC)")
    parser.add_argument("--until", type=dt.date.fromisoformat, help="runs up to this day (UTC)")
    parser.add_argument(
        "--actual", action="store_true", help="add Cost Explorer's cost of the run-id tag"
    )
    parser.add_argument("--format", choices=FORMATS, default="table", help="default: table")
    parser.set_defaults(func=_cost_command)


def _cost_command(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError

    from runledger_cli.costs import CostError
    from runledger_cli.ledger import LedgerError

    filters = (args.workflow, args.cost_center, args.since, args.until)
    if args.run_id and (any(f is not None for f in filters) or args.group_by != "run"):
        raise UsageError("give a RUN_ID or --group-by/--workflow/--cost-center/--since/--until")
    try:
        if args.run_id:
            return _one_run(args, sys.stdout)
        return _all_runs(args, sys.stdout)
    # BotoCoreError: no credentials, no endpoint.
    except (CostError, LedgerError, BotoCoreError) as exc:
        print(f"runledger cost: {exc}", file=sys.stderr)
        return ExitStatus.FAILED


def _client(args: argparse.Namespace, service: str, region: str | None = None) -> Any:
    import boto3

    return boto3.client(  # type: ignore[call-overload]
        service, region_name=region or args.region, endpoint_url=args.endpoint_url
    )


def _table(args: argparse.Namespace) -> str:
    from runledger_cli.ledger import table_from_stack

    if args.table:
        return str(args.table)
    return table_from_stack(_client(args, "cloudformation"), args.stack)


def _cost_explorer(args: argparse.Namespace) -> Any:
    # Cost Explorer answers in us-east-1 only (ce.us-east-1.amazonaws.com).
    return _client(args, "ce", region="us-east-1")


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


# --------------------------------------------------------------------------- one run


def _one_run(args: argparse.Namespace, out: TextIO) -> int:
    from runledger_cli.costs import caveats, run_actual, split_run_actual
    from runledger_cli.ledger import read_run

    table = _table(args)
    run = read_run(_client(args, "dynamodb"), table, args.run_id)
    by_service: dict[str, float] | None = None
    by_variant: dict[str, float] | None = None
    notes: list[str] = []
    actual = None
    if args.actual:
        actual = run_actual(_cost_explorer(args), run, _today())
        if actual is not None:
            by_service, by_variant = split_run_actual(actual)
        found = bool(actual and actual.amounts and not actual.unavailable)
        notes = caveats(actual, found=found, what=f"run-id={run.run_id}")
        if not found:
            by_service = by_variant = None
    cost = run.cost or {}
    usage = cost.get("usage", {})
    breakdown = cost.get("breakdown", {})
    services = [
        {
            "service": name,
            "basis": usage.get(name, {}).get("basis", ""),
            "usage": describe_usage(name, usage.get(name, {})),
            "estimate_usd": breakdown.get(name),
            "actual_usd": None if by_service is None else by_service.get(name),
        }
        for name in SERVICES
    ]
    services += [
        {"service": name, "basis": "", "usage": "tagged with the run", "estimate_usd": None,
         "actual_usd": usd}
        for name, usd in sorted((by_service or {}).items())
        if name not in SERVICES
    ]  # fmt: skip
    priced = cost.get("by_variant", {})
    variants = [
        variant_line(name, run.requested.get(name, {}), run.variants.get(name, {}))
        | {
            "estimate_usd": priced.get(name),
            "actual_usd": None if by_variant is None else by_variant.get(name),
        }
        for name in sorted(set(run.requested) | set(run.variants))
    ]
    if run.cost is None:
        notes.insert(
            0,
            f"No estimate on run {run.run_id}: it is {run.status}. The workflow prices runs "
            "that end SUCCEEDED or whose variants all failed; a run that failed otherwise "
            "may still have run jobs (see --actual).",
        )
    unpriced = cost.get("unpriced_variants") or []
    if unpriced:
        notes.insert(
            0,
            f"Not in the estimate: {', '.join(unpriced)} (failed, job times unknown; if the "
            "job ran, its cost is missing).",
        )
    report = {
        "run_id": run.run_id,
        "status": run.status,
        "workflow": run.workflow,
        "cost_center": run.cost_center,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "currency": cost.get("currency", "USD"),
        "estimate_usd": run.estimate_usd,
        "actual_usd": None if by_service is None else sum(by_service.values()),
        "price_region": cost.get("price_region"),
        "prices_as_of": cost.get("prices_as_of"),
        "services": services,
        "variants": variants,
        "actual_period": None if actual is None else [str(actual.start), str(actual.end)],
        "notes": notes,
    }
    if args.format == "json":
        json.dump(report, out, indent=2)
        out.write("\n")
    elif args.format == "csv":
        _run_csv(report, out)
    else:
        _run_table(report, out, show_actual=bool(args.actual))
    return ExitStatus.OK


def variant_line(name: str, requested: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """A variant's size (as requested), status and billed attempts (from its item).

    A FAILED item has no cost map: its attempts come from the Batch job description in
    its ``cause``, as the estimate took them (runledger.summary.failed_job_attempts).
    """
    from runledger.pricing import fargate_billed_seconds
    from runledger.summary import failed_job_attempts

    attempts, billed = item.get("attempts"), (item.get("cost") or {}).get("billed_seconds")
    if item.get("status") == "FAILED":
        found = failed_job_attempts(item.get("cause"))
        if found is not None:
            ran = [a.seconds for a in found if a.seconds is not None]
            attempts, billed = len(found), sum(fargate_billed_seconds(s) for s in ran)
    return {
        "variant": name,
        "status": item.get("status", "not recorded"),
        "capacity": item.get("capacity", requested.get("capacity")),
        "vcpus": item.get("vcpus", requested.get("vcpus")),
        "memory_mib": item.get("memory_mib", requested.get("memory_mib")),
        "attempts": attempts,
        "billed_seconds": billed,
        "duration_seconds": item.get("duration_seconds"),
    }


def describe_usage(service: str, usage: dict[str, Any]) -> str:
    """A service's recorded usage in words (empty for items priced before usage was kept)."""
    if not usage:
        return ""
    if service == "batch":
        return (
            f"{usage['jobs']} jobs, {usage['attempts']} tasks, {usage['billed_seconds']} s "
            f"billed: {usage['vcpu_seconds']:g} vCPU-s, {usage['gib_seconds']:g} GiB-s"
        )
    if service == "lambda":
        return (
            f"{usage['invocations']} calls x {usage['memory_mb']} MB x "
            f"{usage['seconds_per_invocation']:g} s ({usage['arch']})"
        )
    if service == "stepfunctions":
        return f"{usage['transitions']} state transitions"
    if service == "pipes":
        return f"{usage['requests']} request(s)"
    if service == "dynamodb":
        return f"{usage['write_request_units']} write request units"
    return ""


def _run_table(report: dict[str, Any], out: TextIO, *, show_actual: bool) -> None:
    out.write(
        f"run {report['run_id']}  {report['status']}  workflow {report['workflow'] or '-'}  "
        f"cost center {report['cost_center'] or '-'}\n"
    )
    if report["prices_as_of"]:
        out.write(
            f"estimate: prices.json {report['price_region']} as of {report['prices_as_of']}\n"
        )
    out.write("\n")
    headers = ["service", "basis", "usage", "estimate"] + (["actual"] if show_actual else [])
    rows = [
        [s["service"], s["basis"], s["usage"], usd(s["estimate_usd"], _SMALL_PLACES)]
        + ([usd(s["actual_usd"], _SMALL_PLACES)] if show_actual else [])
        for s in report["services"]
    ]
    rows.append(
        ["total", "", "", usd(report["estimate_usd"], _SMALL_PLACES)]
        + ([usd(report["actual_usd"], _SMALL_PLACES)] if show_actual else [])
    )
    render_table(headers, rows, out, numeric={3, 4})
    if report["variants"]:
        out.write("\n")
        headers = ["variant", "status", "capacity", "vCPU", "MiB", "attempts", "billed s"]
        headers += ["estimate"] + (["actual"] if show_actual else [])
        rows = [
            [
                v["variant"],
                str(v["status"] or "-"),
                str(v["capacity"] or "-"),
                _cell(v["vcpus"]),
                _cell(v["memory_mib"]),
                _cell(v["attempts"]),
                _cell(v["billed_seconds"]),
                usd(v["estimate_usd"], _SMALL_PLACES),
            ]
            + ([usd(v["actual_usd"], _SMALL_PLACES)] if show_actual else [])
            for v in report["variants"]
        ]
        render_table(headers, rows, out, numeric={3, 4, 5, 6, 7, 8})
    _notes(report["notes"], out)


def _run_csv(report: dict[str, Any], out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["run_id", "section", "name", "basis", "usage", "estimate_usd", "actual_usd"])
    run_id = report["run_id"]
    for s in report["services"]:
        writer.writerow(
            [run_id, "service", s["service"], s["basis"], s["usage"],
             _num(s["estimate_usd"]), _num(s["actual_usd"])]
        )  # fmt: skip
    for v in report["variants"]:
        writer.writerow(
            [run_id, "variant", v["variant"], "", "", _num(v["estimate_usd"]),
             _num(v["actual_usd"])]
        )  # fmt: skip
    writer.writerow(
        [run_id, "total", "", "", "", _num(report["estimate_usd"]), _num(report["actual_usd"])]
    )


# --------------------------------------------------------------------------- all runs


def _all_runs(args: argparse.Namespace, out: TextIO) -> int:
    from runledger_cli.costs import (
        actual_by_run,
        caveats,
        group_runs,
        runs_actual,
        select_runs,
    )
    from runledger_cli.ledger import read_runs

    table = _table(args)
    runs = select_runs(
        read_runs(_client(args, "dynamodb"), table),
        workflow=args.workflow,
        cost_center=args.cost_center,
        since=args.since,
        until=args.until,
    )
    per_run: dict[str, float] | None = None
    notes: list[str] = []
    actual = None
    if args.actual and runs:
        actual = runs_actual(
            _cost_explorer(args),
            runs,
            _today(),
            workflow=args.workflow,
            cost_center=args.cost_center,
        )
        found = False
        if actual is not None:
            per_run, others = actual_by_run(actual, runs)
            found = bool(per_run) and not actual.unavailable
            if others:
                notes.append(
                    f"Cost Explorer also has cost for {len(others)} run-id(s) not in table "
                    f"{table} (left out): {', '.join(others[:5])}"
                    + (" ..." if len(others) > 5 else "")
                )
        notes += caveats(actual, found=found, what=f"the run-id of these {len(runs)} runs")
        if not found:
            per_run = None
    groups = group_runs(runs, args.group_by, per_run)
    if not runs:
        notes.insert(0, f"No runs in table {table} match.")
    if any(g.unpriced_runs for g in groups):
        notes.insert(
            0,
            "Runs that are unfinished, INVALID, or FAILED outside their variants have no "
            "estimate (counted in 'no estimate'); such a run may still have run jobs "
            "(see --actual).",
        )
    rows = [
        {
            args.group_by: g.key,
            "runs": g.runs,
            "statuses": _statuses(g.statuses),
            "no_estimate": g.unpriced_runs,
            "estimate_usd": None if g.runs == g.unpriced_runs else g.estimate_usd,
            "batch_estimate_usd": None if g.runs == g.unpriced_runs else g.batch_estimate_usd,
            "actual_usd": g.actual_usd,
        }
        for g in groups
    ]
    if args.format == "json":
        json.dump(
            {
                "table": table,
                "group_by": args.group_by,
                "currency": "USD",
                "groups": rows,
                "estimate_usd": sum(g.estimate_usd for g in groups),
                "actual_usd": None if per_run is None else sum(per_run.values()),
                "actual_period": None if actual is None else [str(actual.start), str(actual.end)],
                "notes": notes,
            },
            out,
            indent=2,
        )
        out.write("\n")
        return ExitStatus.OK
    if args.format == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(list(rows[0]) if rows else [args.group_by, "runs"])
        for row in rows:
            writer.writerow(
                [_num(v) if isinstance(v, float) or v is None else v for v in row.values()]
            )
        return ExitStatus.OK
    show_actual = bool(args.actual)
    headers = [args.group_by, "runs", "statuses", "no estimate", "estimate", "batch part"]
    headers += ["actual"] if show_actual else []
    lines: list[list[str]] = []
    for g in groups:
        cells = [g.key, str(g.runs), _statuses(g.statuses), str(g.unpriced_runs)]
        if g.runs == g.unpriced_runs:
            cells += ["-", "-"]
        else:
            cells += [usd(g.estimate_usd), usd(g.batch_estimate_usd)]
        lines.append(cells + ([usd(g.actual_usd)] if show_actual else []))
    if len(groups) > 1:
        total = ["total", str(sum(g.runs for g in groups)), ""]
        total += [str(sum(g.unpriced_runs for g in groups))]
        total += [usd(sum(g.estimate_usd for g in groups))]
        total += [usd(sum(g.batch_estimate_usd for g in groups))]
        if show_actual:
            total.append(usd(None if per_run is None else sum(per_run.values())))
        lines.append(total)
    render_table(headers, lines, out, numeric={1, 3, 4, 5, 6})
    _notes(notes, out)
    return ExitStatus.OK


# --------------------------------------------------------------------------- output


def usd(amount: float | None, places: int = 6) -> str:
    """Money for the terminal; "-" when unknown."""
    from runledger.pricing import format_usd

    return "-" if amount is None else format_usd(amount, places)


def _num(value: float | None) -> str:
    """Money for CSV: the full float (spreadsheets round for themselves), empty if unknown."""
    return "" if value is None else repr(float(value))


def _statuses(statuses: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))


def _cell(value: Any) -> str:
    """A number (or text) for a table cell: floats as %g, "-" when unknown."""
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def render_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO, numeric: set[int]
) -> None:
    """Columns padded to their widest cell; ``numeric`` columns right-aligned."""
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            str(cell).rjust(width) if i in numeric else str(cell).ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip() + "\n"

    out.write(line(headers))
    out.write(line(["-" * width for width in widths]))
    for row in rows:
        out.write(line(row))


def _notes(notes: Sequence[str], out: TextIO) -> None:
    for note in notes:
        out.write(f"\nnote: {note}")
    if notes:
        out.write("\n")
