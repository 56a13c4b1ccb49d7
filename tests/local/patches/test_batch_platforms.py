"""The batch_platforms patch: SubmitJob refuses a job definition whose platform
capabilities are not its queue's compute environments' (Fargate vs EC2), as AWS does."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from patch_helpers import aws

from runledger_local.patches import LocalCloud

CONTAINER = {
    "image": "runledger/kmer:local",
    "command": ["python", "-c", "pass"],
    "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "2048"}],
}


def _queues(batch: Any) -> dict[str, str]:
    """One queue per compute environment type, by that type."""
    ec2 = aws("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="g", Description="g", VpcId=vpc)["GroupId"]
    iam = aws("iam")
    role = iam.create_role(RoleName="batch-service", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    iam.create_role(RoleName="instance", AssumeRolePolicyDocument="{}")
    profile = iam.create_instance_profile(InstanceProfileName="instance")["InstanceProfile"]
    network = {"maxvCpus": 8, "subnets": [subnet], "securityGroupIds": [group]}
    resources = {
        "FARGATE": {"type": "FARGATE", **network},
        "FARGATE_SPOT": {"type": "FARGATE_SPOT", **network},
        "EC2": {
            "type": "EC2",
            "minvCpus": 0,
            "instanceTypes": ["m7g.xlarge"],
            "instanceRole": profile["Arn"],
            **network,
        },
        "SPOT": {
            "type": "SPOT",
            "allocationStrategy": "SPOT_PRICE_CAPACITY_OPTIMIZED",
            "minvCpus": 0,
            "instanceTypes": ["m7i.xlarge"],
            "instanceRole": profile["Arn"],
            **network,
        },
    }
    queues = {}
    for kind, compute in resources.items():
        environment = batch.create_compute_environment(
            computeEnvironmentName=f"ce-{kind}",
            type="MANAGED",
            state="ENABLED",
            computeResources=compute,
            serviceRole=role,
        )["computeEnvironmentArn"]
        queues[kind] = batch.create_job_queue(
            jobQueueName=f"q-{kind}",
            state="ENABLED",
            priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": environment}],
        )["jobQueueName"]
    return queues


def test_batch_platforms_a_job_runs_only_on_a_queue_of_its_platform(
    local_cloud: LocalCloud,
) -> None:
    batch = aws("batch")
    queues = _queues(batch)
    batch.register_job_definition(
        jobDefinitionName="on-fargate",
        type="container",
        platformCapabilities=["FARGATE"],
        containerProperties={
            **CONTAINER,
            "runtimePlatform": {"operatingSystemFamily": "LINUX", "cpuArchitecture": "ARM64"},
        },
    )
    batch.register_job_definition(
        jobDefinitionName="on-ec2",
        type="container",
        platformCapabilities=["EC2"],
        containerProperties=CONTAINER,
    )
    # No platformCapabilities: EC2 (RegisterJobDefinition API reference).
    batch.register_job_definition(
        jobDefinitionName="default", type="container", containerProperties=CONTAINER
    )
    accepted = {
        (definition, kind): batch.submit_job(
            jobName="j", jobQueue=queues[kind], jobDefinition=definition
        )["jobId"]
        for definition, kinds in (
            ("on-fargate", ("FARGATE", "FARGATE_SPOT")),
            ("on-ec2", ("EC2", "SPOT")),
            ("default", ("EC2",)),
        )
        for kind in kinds
    }
    refused = {}
    for definition, kind in (
        ("on-fargate", "EC2"),
        ("on-fargate", "SPOT"),
        ("on-ec2", "FARGATE"),
        ("default", "FARGATE_SPOT"),
    ):
        with pytest.raises(ClientError) as raised:
            batch.submit_job(jobName="j", jobQueue=queues[kind], jobDefinition=definition)
        refused[(definition, kind)] = raised.value.response["Error"]

    assert len(accepted) == 5
    assert all(accepted.values())
    assert {error["Code"] for error in refused.values()} == {"ClientException"}
    assert refused[("on-fargate", "EC2")]["Message"] == (
        "job definition on-fargate has platformCapabilities ['FARGATE'], but job queue "
        "q-EC2 runs EC2 compute environments"
    )
    assert "['EC2']" in refused[("default", "FARGATE_SPOT")]["Message"]
