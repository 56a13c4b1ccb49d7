"""``runledger graph``: draw the workflow (statemachines/run_workflow.asl.json) with Graphviz.

runledger graph [--format svg|png|dot] [-o FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from runledger_cli.errors import ExitStatus, UsageError


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "graph",
        help="draw the workflow as a graph (SVG or PNG)",
        description="Draw template.yaml's state machine as the Step Functions console does: "
        "states with their type, transitions, Choice rules, Catch edges (dashed), Map and "
        "Parallel states as boxes holding their inner states. Needs Graphviz (make "
        "system-deps).",
    )
    parser.add_argument("--format", choices=("svg", "png", "dot"), default="svg")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        help="file to write ('-' for standard output); default: docs/run_workflow.<format>",
    )
    parser.add_argument(
        "--definition", type=Path, help="an ASL file (default: the template's state machine)"
    )
    parser.set_defaults(func=_graph_command)


def _graph_command(args: argparse.Namespace) -> int:
    from runledger_cli.graph import (
        GraphvizMissingError,
        default_output,
        load_definition,
        render,
        workflow_graph,
    )

    if args.definition and not args.definition.is_file():
        raise UsageError(f"no such definition file: {args.definition}")
    graph = workflow_graph(load_definition(args.definition))
    try:
        data = render(graph, args.format)
    except GraphvizMissingError as exc:
        print(f"runledger graph: {exc}", file=sys.stderr)
        return ExitStatus.USAGE
    if str(args.output) == "-":
        sys.stdout.buffer.write(data)
        return ExitStatus.OK
    output: Path = args.output or default_output(args.format)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(data)
    print(f"wrote {output}")
    return ExitStatus.OK
