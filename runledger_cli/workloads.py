"""The workload declarations of a template (``Metadata.Workload`` on its job definitions),
as ``runledger/workloads.json`` holds them for the Lambda functions (runledger.workflows).

``python -m runledger_cli.workloads`` (``make workloads``) writes that file from
template.yaml; ``--check`` only says whether it is current (exit 1 if not). Each
declaration is checked as the functions will read it, and its job definition must be
named ``!Sub ${AWS::StackName}-workload-<Name>``: the state machine submits that name and
the workflow's policy allows only that prefix.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from runledger.workflows import WORKLOADS_FILE, WorkloadError, workflow_from_declaration
from runledger_cli.sam_template import REPO_ROOT, TEMPLATE_PATH, load_sam

#: Where the Lambda functions read the declarations (runledger is their layer's package).
CATALOGUE = REPO_ROOT / "runledger" / WORKLOADS_FILE
#: A workload's job definition name, as CloudFormation's !Sub writes it.
JOB_DEFINITION_NAME = "${AWS::StackName}-workload-%s"


def declared_workloads(sam: dict[str, Any]) -> list[dict[str, Any]]:
    """Every ``Metadata.Workload`` of the template's job definitions, by Name; raises
    ``WorkloadError`` for one the functions could not use or a misnamed job definition."""
    found: dict[str, dict[str, Any]] = {}
    for logical_id, resource in sam["Resources"].items():
        declaration = (resource.get("Metadata") or {}).get("Workload")
        if resource.get("Type") != "AWS::Batch::JobDefinition" or declaration is None:
            continue
        workflow = workflow_from_declaration(declaration)  # raises WorkloadError
        expected = JOB_DEFINITION_NAME % workflow.name
        name = (resource.get("Properties") or {}).get("JobDefinitionName")
        if name != {"Fn::Sub": expected}:
            raise WorkloadError(
                f"{logical_id}: workload {workflow.name!r} needs JobDefinitionName: "
                f"!Sub {expected}, got {name!r}"
            )
        if workflow.name in found:
            raise WorkloadError(f"{logical_id}: workload {workflow.name!r} is declared twice")
        found[workflow.name] = declaration
    return [found[name] for name in sorted(found)]


def catalogue_text(template: Path = TEMPLATE_PATH) -> str:
    """``workloads.json``'s text for ``template``."""
    return json.dumps(declared_workloads(load_sam(template)), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runledger_cli.workloads", description=__doc__)
    parser.add_argument("--template", type=Path, default=TEMPLATE_PATH)
    parser.add_argument("--output", type=Path, default=CATALOGUE)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    try:
        text = catalogue_text(args.template)
    except WorkloadError as exc:
        print(f"runledger workloads: {exc}", file=sys.stderr)
        return 2
    current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
    if args.check:
        if current != text:
            print(f"{args.output} is stale: run `make workloads`", file=sys.stderr)
            return 1
        return 0
    if current != text:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
