"""A workload is declared once: a third one, added to a copy of the project by a loop of
its job definition over the platforms with its ``Metadata.Workload`` and a job folder, and
nothing else (no Python, no state machine or policy change), runs a request through the
local cloud on Fargate x86_64, Fargate arm64 and EC2; a request breaking its declared
input ends INVALID naming the attribute."""

from __future__ import annotations

import json
from pathlib import Path

from runledger_cli.sam_template import REPO_ROOT
from runledger_cli.workloads import main as workloads_main
from runledger_local.cloud import LocalPipeline

#: The third workload's job: counts the words of its input text at least so long, and
#: writes them as its metrics where RUNLEDGER_RESULTS_URI says (S3: the local cloud's),
#: with the module the jobs share (jobs/common, its declared build context "common").
PROGRAM = """\
import json, os
import runledger_job

words = [w for w in os.environ["RUNLEDGER_TEXT"].split()
         if len(w) >= int(os.environ.get("RUNLEDGER_MIN_LENGTH", "1"))]
metrics = {"words": len(words), "variant": os.environ["RUNLEDGER_VARIANT"]}
runledger_job.write_results(os.environ["RUNLEDGER_RESULTS_URI"], metrics)
print(json.dumps(metrics))
"""

#: The declaration, as a user adds it to template.yaml (YAML, appended under Resources).
DECLARATION = """\
  Fn::ForEach::WordCountJobDefinitions:
    - Platform
    - [FargateX8664, FargateArm64, Ec2]
    - WordCount${Platform}JobDefinition:
        Type: AWS::Batch::JobDefinition
        Metadata:
          DockerContext: jobs/word_count
          Dockerfile: Dockerfile
          DockerBuildContexts: {common: jobs/common}
          Workload:
            Name: word-count
            Description: Count the words of a text at least min_length long.
            Input:
              type: object
              required: [text]
              properties:
                text: {type: string, minLength: 1, maxLength: 1000}
                min_length: {type: integer, minimum: 1, maximum: 20}
            Environment:
              RUNLEDGER_TEXT: text
              RUNLEDGER_MIN_LENGTH: min_length
            Reads: []
        Properties:
          JobDefinitionName: !Sub ${AWS::StackName}-workload-word-count-${Platform}
          Type: container
          PlatformCapabilities: [!FindInMap [Platforms, !Ref Platform, Capability]]
          ContainerProperties:
            Image: !Sub ${JobImagePrefix}/word-count:${JobImageTag}
            Command: [python, word_count.py]
            JobRoleArn: !GetAtt JobRole.Arn
            ExecutionRoleArn: !GetAtt JobExecutionRole.Arn
            ResourceRequirements:
              - {Type: VCPU, Value: '1'}
              - {Type: MEMORY, Value: '2048'}
            Fn::ForEach::FargateOnly:
              - Suffix
              - !FindInMap [Platforms, !Ref Platform, FargateOnly]
              - RuntimePlatform${Suffix}:
                  OperatingSystemFamily: LINUX
                  CpuArchitecture: !FindInMap [Platforms, !Ref Platform, CpuArchitecture]
"""


def project_with_a_third_workload(root: Path) -> Path:
    """A copy of the project (its folders linked) whose template declares word-count."""
    for entry in REPO_ROOT.iterdir():
        if entry.name not in ("template.yaml", "jobs", ".git", ".venv"):
            (root / entry.name).symlink_to(entry)
    (root / "jobs").mkdir()
    for folder in (REPO_ROOT / "jobs").iterdir():
        (root / "jobs" / folder.name).symlink_to(folder)
    job = root / "jobs" / "word_count"
    job.mkdir()
    (job / "word_count.py").write_text(PROGRAM)
    text = (REPO_ROOT / "template.yaml").read_text()
    head, outputs = text.split("\nOutputs:", 1)
    template = root / "template.yaml"
    template.write_text(f"{head}\n{DECLARATION}\nOutputs:{outputs}")  # Resources end there
    return template


def request(run_id: str, text_input: dict[str, object]) -> dict[str, object]:
    return {
        "pk": f"RUN#{run_id}",
        "sk": "REQUEST",
        "status": "REQUESTED",
        "workflow": "word-count",
        "cost_center": "genomics-lab",
        "input": text_input,
        "variants": [
            {"name": "od-1vcpu", "vcpus": 1, "memory_mib": 2048, "capacity": "ON_DEMAND"},
            {
                "name": "od-arm64",
                "vcpus": 1,
                "memory_mib": 2048,
                "capacity": "ON_DEMAND",
                "architecture": "arm64",
            },
            {
                "name": "ec2-m7g",
                "vcpus": 2,
                "memory_mib": 4096,
                "capacity": "SPOT",
                "architecture": "arm64",
                "compute": "ec2-m7g.xlarge",
            },
        ],
    }


def test_a_workload_declared_in_the_template_alone_runs_through_the_local_cloud(
    tmp_path: Path,
) -> None:
    template = project_with_a_third_workload(tmp_path)
    catalogue, compute = tmp_path / "catalogue.json", tmp_path / "compute.json"
    written = ["--output", str(catalogue), "--compute-output", str(compute)]
    assert workloads_main(["--template", str(template), *written]) == 0
    names = [w["Name"] for w in json.loads(catalogue.read_text())]
    assert "word-count" in names
    assert len(names) == len(set(names)) >= 3
    assert json.loads(compute.read_text())["job_definitions"]["word-count"] == {
        "ec2": "word-count-Ec2",
        "fargate/arm64": "word-count-FargateArm64",
        "fargate/x86_64": "word-count-FargateX8664",
    }

    with LocalPipeline(template=template, stack_name="runledger-wl") as local:
        good = local.put_request(
            request("wl-good", {"text": "the quick brown fox", "min_length": 4})
        )
        bad = local.put_request(request("wl-bad", {"text": "x", "min_length": 99}))
        runs = local.wait_for([good, bad], timeout=60)

    assert runs[good].status == "SUCCEEDED", runs[good].request.get("reason")
    variants = runs[good].variants
    assert set(variants) == {"od-1vcpu", "od-arm64", "ec2-m7g"}  # on every platform
    for variant in variants.values():
        assert variant["metrics"]["words"] == 2  # quick, brown
    assert runs[bad].status == "INVALID"
    assert runs[bad].request["reason"] == (
        "input.min_length: Input should be less than or equal to 20"
    )
