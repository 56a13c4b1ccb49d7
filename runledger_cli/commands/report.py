"""``runledger report``: one self-contained HTML page for one run.

runledger report RUN_ID (--stack NAME | --table NAME) [--endpoint-url URL] [-o FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from runledger_cli.errors import ExitStatus

DEFAULT_DIR = Path("reports")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "report",
        help="an HTML page for one run: graph, timeline, variants, cost",
        description="Read one run from the runs table and its execution history, and write "
        "one self-contained HTML page: the workflow graph coloured by what happened, a "
        "timeline of the states and Batch jobs, the variants and the cost breakdown. Works "
        "against a deployed stack (--stack, with your AWS credentials) or any endpoint "
        "(--table with --endpoint-url, e.g. a local cloud). Needs Graphviz (make system-deps).",
    )
    parser.add_argument("run_id", help="the run id (the request's pk without RUN#)")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", help="a deployed runledger stack: its outputs name the table")
    where.add_argument("--table", help="the runs table's name")
    parser.add_argument("--endpoint-url", help="send every AWS call here (a local cloud)")
    parser.add_argument("--region", help="AWS region (default: your AWS configuration's)")
    parser.add_argument(
        "-o", "--output", type=Path, help=f"file to write; default: {DEFAULT_DIR}/RUN_ID.html"
    )
    parser.add_argument(
        "--screenshot", type=Path, metavar="PNG", help="also save a PNG of the page (Chromium)"
    )
    parser.set_defaults(func=_report_command)


def _report_command(args: argparse.Namespace) -> int:
    import boto3

    from runledger_cli.graph import GraphvizMissingError
    from runledger_cli.ledger import LedgerError, run_id_of, table_from_stack
    from runledger_cli.report import (
        BrowserMissingError,
        fetch_run,
        report_path,
        screenshot,
        write_report,
    )

    run_id = run_id_of(str(args.run_id))
    session = boto3.session.Session(region_name=args.region)

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=args.endpoint_url)  # type: ignore[call-overload]

    try:
        table = args.table or table_from_stack(client("cloudformation"), args.stack)
        data = fetch_run(
            run_id, dynamodb=client("dynamodb"), stepfunctions=client("stepfunctions"), table=table
        )
        output = write_report(data, args.output or report_path(DEFAULT_DIR, run_id))
        print(f"wrote {output} (run {run_id}: {data.request.get('status')})")
        if args.screenshot:
            log = screenshot(output, args.screenshot)
            print(f"wrote {args.screenshot}")
            for error in log.errors:
                print(f"runledger report: the page logged an error: {error}", file=sys.stderr)
    except (LedgerError, GraphvizMissingError, BrowserMissingError) as exc:
        print(f"runledger report: {exc}", file=sys.stderr)
        return ExitStatus.USAGE
    return ExitStatus.OK
