"""The workload declarations of a template (``Metadata.Workload`` on its job definitions),
as ``runledger/workloads.json`` holds them for the Lambda functions (runledger.workflows),
and its compute options and job definitions per platform, as ``runledger/compute.json``
holds them (runledger.compute).

``python -m runledger_cli.workloads`` (``make workloads``) writes both files from
template.yaml (its ``Fn::ForEach`` loops expanded); ``--check`` only says whether they are
current (exit 1 if not). Each declaration is checked as the functions will read it. A
workload's job definitions (one per platform, from its loop) must be named
``!Sub ${AWS::StackName}-workload-<Name>-<platform>`` and carry the same declaration; a job
queue ``!Sub ${AWS::StackName}-<option>-on-demand|spot``: the state machine submits those
names and the workflow's policy allows only those prefixes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from runledger.compute import COMPUTE_FILE, EC2, FARGATE, Kind, platform_key
from runledger.workflows import WORKLOADS_FILE, WorkloadError, workflow_from_declaration
from runledger_cli.sam_template import REPO_ROOT, TEMPLATE_PATH, load_both

#: Where the Lambda functions read the declarations (runledger is their layer's package).
CATALOGUE = REPO_ROOT / "runledger" / WORKLOADS_FILE
#: Where the Lambda functions read the compute options (runledger.compute).
COMPUTE_CATALOGUE = REPO_ROOT / "runledger" / COMPUTE_FILE
#: A workload's job definition name (+ "-<platform>"), as CloudFormation's !Sub writes it.
JOB_DEFINITION_NAME = "${AWS::StackName}-workload-%s"
#: What every name the state machine submits starts with (its JobQueuePrefix).
STACK_PREFIX = "${AWS::StackName}-"


def declared_workloads(sam: dict[str, Any]) -> list[dict[str, Any]]:
    """Every ``Metadata.Workload`` of the template's job definitions, by Name; raises
    ``WorkloadError`` for one the functions could not use or a misnamed job definition."""
    found: dict[str, dict[str, Any]] = {}
    for logical_id, resource in sam["Resources"].items():
        declaration = (resource.get("Metadata") or {}).get("Workload")
        if resource.get("Type") != "AWS::Batch::JobDefinition" or declaration is None:
            continue
        workflow = workflow_from_declaration(declaration)  # raises WorkloadError
        _job_definition_suffix(logical_id, resource, workflow.name)  # raises WorkloadError
        if workflow.name in found and _plain(found[workflow.name]) != _plain(declaration):
            raise WorkloadError(
                f"{logical_id}: workload {workflow.name!r} is declared twice, differently"
            )
        found[workflow.name] = declaration
    return [found[name] for name in sorted(found)]


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _job_definition_suffix(logical_id: str, resource: dict[str, Any], workload: str) -> str:
    """``<platform>`` of a workload's job definition, named
    ``<stack>-workload-<Name>-<platform>``."""
    expected = JOB_DEFINITION_NAME % workload + "-"
    name = (resource.get("Properties") or {}).get("JobDefinitionName")
    text = name.get("Fn::Sub") if isinstance(name, dict) else None
    if not isinstance(text, str) or not text.startswith(expected) or "$" in text[len(expected) :]:
        raise WorkloadError(
            f"{logical_id}: workload {workload!r} needs JobDefinitionName: "
            f"!Sub {expected}<platform>, got {name!r}"
        )
    return text[len(expected) :]


def _job_platform(logical_id: str, properties: dict[str, Any]) -> str:
    """``platform_key`` of a job definition: its capability and, on Fargate, architecture."""
    capabilities = properties.get("PlatformCapabilities") or ["EC2"]
    if capabilities not in (["EC2"], ["FARGATE"]):
        raise WorkloadError(f"{logical_id}: PlatformCapabilities must be [EC2] or [FARGATE]")
    runtime = (properties.get("ContainerProperties") or {}).get("RuntimePlatform") or {}
    if capabilities == ["EC2"]:
        if runtime:
            raise WorkloadError(f"{logical_id}: an EC2 job definition has no RuntimePlatform")
        return platform_key(EC2, None)
    architecture = {"X86_64": "x86_64", "ARM64": "arm64"}.get(
        str(runtime.get("CpuArchitecture", "X86_64"))
    )
    if architecture is None:
        raise WorkloadError(f"{logical_id}: CpuArchitecture must be X86_64 or ARM64")
    return platform_key(FARGATE, architecture)


#: Compute environment type -> (the option's kind, the capacity its queue serves).
_CE_TYPES: dict[str, tuple[Kind, str]] = {
    "FARGATE": (FARGATE, "ON_DEMAND"),
    "FARGATE_SPOT": (FARGATE, "SPOT"),
    "EC2": (EC2, "ON_DEMAND"),
    "SPOT": (EC2, "SPOT"),
}


def declared_compute(sam: dict[str, Any]) -> dict[str, Any]:
    """The template's compute options (from its job queues and their compute
    environments) and every workload's job definition per platform, as compute.json holds
    them; raises ``WorkloadError`` for a queue or job definition the workflow could not
    submit by name, or an option that lacks a capacity or a workload that lacks a platform."""
    resources = sam["Resources"]
    options: dict[str, dict[str, Any]] = {}
    for logical_id, resource in sorted(resources.items()):
        if resource.get("Type") != "AWS::Batch::JobQueue":
            continue
        props = resource.get("Properties") or {}
        name = props.get("JobQueueName")
        text = name.get("Fn::Sub") if isinstance(name, dict) else None
        if not isinstance(text, str) or not text.startswith(STACK_PREFIX):
            raise WorkloadError(
                f"{logical_id}: a job queue needs JobQueueName: !Sub {STACK_PREFIX}<option>-..."
            )
        order = props.get("ComputeEnvironmentOrder") or []
        refs = [(entry.get("ComputeEnvironment") or {}).get("Ref") for entry in order]
        if len(refs) != 1 or refs[0] not in resources:
            raise WorkloadError(f"{logical_id}: a job queue needs one compute environment")
        compute = (resources[refs[0]].get("Properties") or {}).get("ComputeResources") or {}
        kind, capacity = _CE_TYPES[str(compute.get("Type"))]
        option: dict[str, Any] = {"kind": kind}
        if kind == EC2:
            types = compute.get("InstanceTypes") or []
            if len(types) != 1 or not isinstance(types[0], str):
                raise WorkloadError(f"{refs[0]}: an EC2 compute option has one instance type")
            option["instance_type"] = types[0]
        option_name = FARGATE if kind == FARGATE else f"{EC2}-{option['instance_type']}"
        queue = text.removeprefix(STACK_PREFIX)
        suffix = {"ON_DEMAND": "-on-demand", "SPOT": "-spot"}[capacity]
        if "$" in queue or not queue.endswith(suffix):
            raise WorkloadError(f"{logical_id}: JobQueueName must end {suffix}, got {text!r}")
        entry = options.setdefault(option_name, {**option, "job_queues": {}})
        if capacity in entry["job_queues"]:
            raise WorkloadError(f"{logical_id}: {option_name} has two {capacity} queues")
        entry["job_queues"][capacity] = queue
    for option_name, entry in options.items():
        absent = sorted({"ON_DEMAND", "SPOT"} - set(entry["job_queues"]))
        if absent:
            raise WorkloadError(f"compute option {option_name}: no {', '.join(absent)} queue")
    definitions: dict[str, dict[str, str]] = {}
    for logical_id, resource in sorted(resources.items()):
        declaration = (resource.get("Metadata") or {}).get("Workload")
        if resource.get("Type") != "AWS::Batch::JobDefinition" or declaration is None:
            continue
        workload = str(declaration.get("Name"))
        suffix = _job_definition_suffix(logical_id, resource, workload)
        platform = _job_platform(logical_id, resource.get("Properties") or {})
        by_platform = definitions.setdefault(workload, {})
        if platform in by_platform:
            raise WorkloadError(f"{logical_id}: workload {workload!r} has two {platform} ones")
        by_platform[platform] = f"{workload}-{suffix}"
    platforms = (
        {platform_key(EC2, None)} if any(e["kind"] == EC2 for e in options.values()) else set()
    )
    platforms |= {platform_key(FARGATE, a) for a in ("x86_64", "arm64")}
    for workload, by_platform in definitions.items():
        lacking = sorted(platforms - set(by_platform))
        if lacking:
            raise WorkloadError(f"workload {workload!r}: no job definition for {lacking}")
    return {"options": options, "job_definitions": definitions}


def compute_text(template: Path = TEMPLATE_PATH) -> str:
    """``compute.json``'s text for ``template``."""
    return json.dumps(declared_compute(load_both(template)[0]), indent=2, sort_keys=True) + "\n"


def catalogue_text(template: Path = TEMPLATE_PATH) -> str:
    """``workloads.json``'s text for ``template``."""
    return json.dumps(declared_workloads(load_both(template)[0]), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runledger_cli.workloads", description=__doc__)
    parser.add_argument("--template", type=Path, default=TEMPLATE_PATH)
    parser.add_argument("--output", type=Path, default=CATALOGUE)
    parser.add_argument("--compute-output", type=Path, default=COMPUTE_CATALOGUE)
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is stale")
    args = parser.parse_args(argv)
    try:
        texts = {
            args.output: catalogue_text(args.template),
            args.compute_output: compute_text(args.template),
        }
    except WorkloadError as exc:
        print(f"runledger workloads: {exc}", file=sys.stderr)
        return 2
    stale = 0
    for output, text in texts.items():
        current = output.read_text(encoding="utf-8") if output.exists() else None
        if current == text:
            continue
        if args.check:
            print(f"{output} is stale: run `make workloads`", file=sys.stderr)
            stale = 1
        else:
            output.write_text(text, encoding="utf-8")
            print(f"wrote {output}")
    return stale


if __name__ == "__main__":
    raise SystemExit(main())
