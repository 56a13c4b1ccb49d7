"""template.yaml: the properties the product promises, checked on the template itself.

Read through runledger_cli.sam_template: as written (SAM) and after the SAM transform
(CloudFormation), so policies and tags SAM generates are checked too.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer
from moto.events.models import EventPattern

from runledger.closing import CLOSING_STATUSES, OPEN_RUN_STATUSES
from runledger_cli.sam_template import (
    REPO_ROOT,
    TEMPLATE_PATH,
    _load_both_in_child,
    load_both,
    load_cfn,
    load_sam,
    resources_of_type,
)

#: The template as SAM and as CloudFormation, as the local cloud reads them (``load_both``:
#: the on-disk cache make test fills before its workers start, so that collecting this
#: file in every worker does not import cfn-lint and the SAM translator). The tests of
#: ``load_both`` below compare it with ``load_sam``/``load_cfn`` in this process.
SAM, CFN = load_both()
RESOURCES = CFN["Resources"]
STACK_TAGS = {"project", "stage", "cost-center"}
_serialize = TypeSerializer().serialize


def only(resource_type: str) -> dict[str, Any]:
    found = resources_of_type(CFN, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    return next(iter(found.values()))["Properties"]


# ------------------------------------------------------------------ table
def test_runs_table_is_keyed_streamed_recoverable_encrypted_and_kept() -> None:
    """Runs are the ledger: no TTL expires them (nothing writes a ``ttl`` attribute)."""
    table = only("AWS::DynamoDB::Table")
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {
        "pk": "HASH",
        "sk": "RANGE",
    }
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    # Nothing reads the old image: the pipe's filter and input template use NewImage.
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert "TimeToLiveSpecification" not in table
    assert RESOURCES["RunsTable"]["DeletionPolicy"] == "Retain"


@pytest.mark.parametrize(
    ("resource_type", "name_property"),
    [
        ("AWS::DynamoDB::Table", "TableName"),
        ("AWS::S3::Bucket", "BucketName"),
        ("AWS::SQS::Queue", "QueueName"),
        ("AWS::Lambda::Function", "FunctionName"),
        ("AWS::StepFunctions::StateMachine", "StateMachineName"),
        ("AWS::Pipes::Pipe", "Name"),
        ("AWS::IAM::Role", "RoleName"),
        ("AWS::Batch::JobQueue", "JobQueueName"),
        ("AWS::Batch::ComputeEnvironment", "ComputeEnvironmentName"),
    ],
)
def test_no_hard_coded_resource_names_so_two_stacks_coexist(
    resource_type: str, name_property: str
) -> None:
    for logical_id, resource in resources_of_type(CFN, resource_type).items():
        name = resource.get("Properties", {}).get(name_property)
        # A name is allowed only when the stack's own name is part of it.
        assert name is None or (
            isinstance(name, dict) and "${AWS::StackName}" in str(name.get("Fn::Sub"))
        ), logical_id


# ------------------------------------------------------------------ pipe
PIPE = only("AWS::Pipes::Pipe")
STREAM = PIPE["SourceParameters"]["DynamoDBStreamParameters"]


def test_pipe_reads_the_runs_stream_into_the_workflow_fire_and_forget() -> None:
    assert PIPE["Source"] == {"Fn::GetAtt": ["RunsTable", "StreamArn"]}
    assert PIPE["Target"] == {"Ref": "RunWorkflow"}
    target = PIPE["TargetParameters"]["StepFunctionStateMachineParameters"]
    assert target["InvocationType"] == "FIRE_AND_FORGET"  # the only one Standard allows


def test_pipe_has_a_name_of_the_stack_that_its_failure_alarm_names() -> None:
    """The PipeName dimension of AWS/EventBridge/Pipes metrics needs the pipe's name.

    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-monitoring.html
    """
    assert PIPE["Name"] == {"Fn::Sub": "${AWS::StackName}-runs"}
    (alarm,) = [
        a["Properties"]
        for a in resources_of_type(CFN, "AWS::CloudWatch::Alarm").values()
        if a["Properties"]["Namespace"] == "AWS/EventBridge/Pipes"
    ]
    assert alarm["MetricName"] == "ExecutionFailed"
    assert alarm["Dimensions"] == [{"Name": "PipeName", "Value": PIPE["Name"]}]


def test_pipe_retries_ages_out_and_dead_letters_to_an_encrypted_queue() -> None:
    assert STREAM["StartingPosition"] in {"LATEST", "TRIM_HORIZON"}
    assert 1 <= STREAM["MaximumRetryAttempts"] <= 10
    assert 60 <= STREAM["MaximumRecordAgeInSeconds"] <= 86400
    dlq_ref = STREAM["DeadLetterConfig"]["Arn"]
    assert dlq_ref == {"Fn::GetAtt": ["PipeDeadLetterQueue", "Arn"]}
    queue = RESOURCES["PipeDeadLetterQueue"]["Properties"]
    assert queue.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in queue


def test_pipe_sends_one_record_per_execution_because_the_workflow_reads_element_zero() -> None:
    assert STREAM["BatchSize"] == 1
    asl = (REPO_ROOT / "statemachines" / "run_workflow.asl.json").read_text()
    assert "$states.input[0]" in asl


def test_pipe_logs_to_a_log_group_with_retention() -> None:
    log_group_ref = PIPE["LogConfiguration"]["CloudwatchLogsLogDestination"]["LogGroupArn"]
    logical_id = log_group_ref["Fn::GetAtt"][0]
    assert "RetentionInDays" in RESOURCES[logical_id]["Properties"]


def test_pipe_role_may_only_read_this_stream_start_this_workflow_and_dead_letter() -> None:
    role = RESOURCES[PIPE["RoleArn"]["Fn::GetAtt"][0]]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    by_resource = {json.dumps(s["Resource"], sort_keys=True): s["Action"] for s in statements}
    assert by_resource == {
        json.dumps({"Fn::GetAtt": ["RunsTable", "StreamArn"]}): [
            "dynamodb:DescribeStream",
            "dynamodb:GetRecords",
            "dynamodb:GetShardIterator",
        ],
        # https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-permissions.html
        # ListStreams has no resource type: granted on '*', alone in its statement.
        json.dumps("*"): "dynamodb:ListStreams",
        json.dumps({"Ref": "RunWorkflow"}): "states:StartExecution",
        json.dumps({"Fn::GetAtt": ["PipeDeadLetterQueue", "Arn"]}): "sqs:SendMessage",
        json.dumps({"Fn::Sub": "${PipeLogGroup.Arn}:*"}): [
            "logs:CreateLogStream",
            "logs:PutLogEvents",
        ],
    }


def stream_record(
    event_name: str, new: dict[str, Any] | None, old: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A DynamoDB stream record as Pipes sees it, for a table item given as plain JSON.

    The table's stream view is NEW_IMAGE: a record carries no old image, so ``old`` only
    gives a REMOVE its keys.
    """
    item = new or old or {}
    record: dict[str, Any] = {
        "eventID": "1",
        "eventName": event_name,
        "eventSource": "aws:dynamodb",
        "dynamodb": {
            "Keys": {"pk": _serialize(item["pk"]), "sk": _serialize(item["sk"])},
            "SequenceNumber": "100",
            "StreamViewType": "NEW_IMAGE",
        },
    }
    if new is not None:
        record["dynamodb"]["NewImage"] = {k: _serialize(v) for k, v in new.items()}
    return record


def passes_filter(record: dict[str, Any]) -> bool:
    patterns = [
        EventPattern.load(f["Pattern"])
        for f in PIPE["SourceParameters"]["FilterCriteria"]["Filters"]
    ]
    return any(p.matches_event(record) for p in patterns)


REQUEST = json.loads((REPO_ROOT / "events" / "requests" / "kmer-valid.json").read_text())


def with_status(status: str, **extra: Any) -> dict[str, Any]:
    return {**REQUEST, "status": status, **extra}


def variant_item(status: str) -> dict[str, Any]:
    return {"pk": REQUEST["pk"], "sk": "VARIANT#od-1vcpu", "status": status, "name": "od-1vcpu"}


def test_filter_passes_a_new_request() -> None:
    assert passes_filter(stream_record("INSERT", with_status("REQUESTED")))


@pytest.mark.parametrize("previous", ["SUCCEEDED", "FAILED", "INVALID"])
def test_filter_passes_a_rerun_that_sets_status_back_to_requested(previous: str) -> None:
    record = stream_record("MODIFY", with_status("REQUESTED"), with_status(previous))
    assert passes_filter(record)


@pytest.mark.parametrize(
    ("label", "record"),
    [
        ("claim", stream_record("MODIFY", with_status("CLAIMED"), with_status("REQUESTED"))),
        ("running", stream_record("MODIFY", with_status("RUNNING"), with_status("CLAIMED"))),
        ("succeeded", stream_record("MODIFY", with_status("SUCCEEDED"), with_status("RUNNING"))),
        ("failed", stream_record("MODIFY", with_status("FAILED"), with_status("RUNNING"))),
        ("invalid", stream_record("MODIFY", with_status("INVALID"), with_status("CLAIMED"))),
        ("variant recorded", stream_record("INSERT", variant_item("SUCCEEDED"))),
        ("variant failed", stream_record("INSERT", variant_item("FAILED"))),
        (
            "variant re-recorded",
            stream_record("MODIFY", variant_item("SUCCEEDED"), variant_item("FAILED")),
        ),
        ("variant item with status REQUESTED", stream_record("INSERT", variant_item("REQUESTED"))),
        ("request deleted", stream_record("REMOVE", None, with_status("REQUESTED"))),
        (
            "request without status",
            stream_record("INSERT", {k: v for k, v in REQUEST.items() if k != "status"}),
        ),
        ("lower-case status", stream_record("INSERT", with_status("requested"))),
    ],
)
def test_filter_rejects_every_write_back_shape_so_the_pipe_never_loops(
    label: str, record: dict[str, Any]
) -> None:
    assert not passes_filter(record), label


def test_input_template_sends_the_key_and_the_delivery_and_no_image() -> None:
    """No image (an item may be larger than an execution input), and only what every
    stream record of the filter's items has or Pipes supplies: how Pipes renders a path
    a record lacks is not documented, so no placeholder may rely on it."""
    template = PIPE["TargetParameters"]["InputTemplate"]
    placeholders = set(re.findall(r"<([^<>]+)>", template))
    assert placeholders == {
        "$.dynamodb.Keys.pk.S",
        "$.eventID",
        "$.eventName",
        "$.dynamodb.SequenceNumber",
        "aws.pipes.event.ingestion-time",
    }


# ------------------------------------------------------------- state machine
STATE_MACHINE = SAM["Resources"]["RunWorkflow"]["Properties"]
ASL_TEXT = (REPO_ROOT / STATE_MACHINE["DefinitionUri"]).read_text()
ASL = json.loads(ASL_TEXT)


def walk_states(states: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {}
    for name, state in states.items():
        found[name] = state
        if state["Type"] == "Map":
            found |= walk_states(state["ItemProcessor"]["States"])
        for branch in state.get("Branches", []):
            found |= walk_states(branch["States"])
    return found


ALL_STATES = walk_states(ASL["States"])


def test_state_machine_is_standard_traced_logged_with_retention_and_tagged() -> None:
    assert STATE_MACHINE["Type"] == "STANDARD"
    assert STATE_MACHINE["Tracing"] == {"Enabled": True}
    logging = STATE_MACHINE["Logging"]
    assert logging["Level"] in {"ALL", "ERROR", "FATAL"}
    log_group = logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]
    assert "RetentionInDays" in SAM["Resources"][log_group["Fn::GetAtt"][0]]["Properties"]
    assert set(STATE_MACHINE["Tags"]) >= STACK_TAGS


def test_execution_data_is_logged_only_when_the_log_execution_data_parameter_says_so() -> None:
    """States and timings always; inputs, outputs and errors only with LogExecutionData.

    https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html
    """
    parameter = SAM["Parameters"]["LogExecutionData"]
    assert parameter["Default"] == "false"
    assert sorted(parameter["AllowedValues"]) == ["false", "true"]
    assert SAM["Conditions"]["LogsExecutionData"] == {
        "Fn::Equals": [{"Ref": "LogExecutionData"}, "true"]
    }
    logging = RESOURCES["RunWorkflow"]["Properties"]["LoggingConfiguration"]
    assert logging["IncludeExecutionData"] == {"Fn::If": ["LogsExecutionData", True, False]}


def test_traces_carry_no_run_data_because_no_handler_uses_tracer() -> None:
    """Lambda's active tracing (Globals: ``Tracing: Active``) records a segment per invoke,
    without the handler's response or exception; Powertools' Tracer, which would add them
    (and ~0.2-0.3 s of cold start), is used by no handler: docs/cold-start.md. So no
    function carries the POWERTOOLS_TRACER_* settings of a Tracer it does not have."""
    for props in resources_of_type(SAM, "AWS::Serverless::Function").values():
        source = (REPO_ROOT / props["Properties"]["CodeUri"] / "app.py").read_text()
        assert "Tracer" not in source
        assert "aws_xray_sdk" not in source
    for function in resources_of_type(CFN, "AWS::Lambda::Function").values():
        variables = function["Properties"]["Environment"]["Variables"]
        assert not [name for name in variables if name.startswith("POWERTOOLS_TRACE")]


def test_every_asl_placeholder_has_a_substitution_and_every_substitution_is_used() -> None:
    placeholders = set(re.findall(r"\$\{([A-Za-z0-9]+)\}", ASL_TEXT))
    assert placeholders == set(STATE_MACHINE["DefinitionSubstitutions"])


def test_asl_holds_no_arn_account_or_region() -> None:
    assert "arn:aws:" not in ASL_TEXT
    assert not re.search(r"\b\d{12}\b", ASL_TEXT)
    assert not re.search(r"\b(us|eu|ap|sa|ca|me|af)-[a-z]+-\d\b", ASL_TEXT)


def test_asl_uses_jsonata_has_a_timeout_and_a_comment_on_every_state() -> None:
    assert ASL["QueryLanguage"] == "JSONata"
    assert 0 < ASL["TimeoutSeconds"] <= 86400
    missing = [name for name, state in ALL_STATES.items() if not state.get("Comment")]
    assert missing == []


def test_validation_is_told_the_limits_the_workflow_runs_under() -> None:
    """StartRun's limits are the execution's own TimeoutSeconds, the Map's
    MaxConcurrency, the job definition's attempts and RunJob's queueing allowance: the
    same substitutions RunJob's TimeoutSeconds is built from."""
    limits = ALL_STATES["StartRun"]["Arguments"]["Payload"]["limits"]
    assert limits == {
        "run_timeout_seconds": ASL["TimeoutSeconds"],
        "max_concurrency": "{% ${MaxConcurrency} %}",
        "job_attempts": "{% ${JobAttempts} %}",
        "job_queue_seconds": "{% ${JobQueueSeconds} %}",
    }
    assert ALL_STATES["RunVariants"]["MaxConcurrency"] == limits["max_concurrency"]
    assert ALL_STATES["RunJob"]["TimeoutSeconds"] == (
        "{% $states.input.variant.timeout_seconds * ${JobAttempts} + ${JobQueueSeconds} %}"
    )
    substitutions = STATE_MACHINE["DefinitionSubstitutions"]
    assert substitutions["JobAttempts"] == {"Ref": "JobAttempts"}
    assert substitutions["MaxConcurrency"] == {"Ref": "MaxConcurrency"}
    for job in resources_of_type(CFN, "AWS::Batch::JobDefinition").values():
        assert job["Properties"]["RetryStrategy"]["Attempts"] == {"Ref": "JobAttempts"}


def test_every_transition_targets_an_existing_state_in_its_scope() -> None:
    def check(states: dict[str, Any]) -> None:
        for name, state in states.items():
            targets = [state.get("Next"), state.get("Default")]
            targets += [c["Next"] for c in state.get("Choices", [])]
            targets += [c["Next"] for c in state.get("Catch", [])]
            for target in filter(None, targets):
                assert target in states, f"{name} -> {target}"
            if state["Type"] == "Map":
                check(state["ItemProcessor"]["States"])

    check(ASL["States"])


# The names as Step Functions reports them; test_error_names.py says where each comes from.
TRANSIENT = {
    "lambda": {
        "Lambda.ClientExecutionTimeoutException",
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
    },
    "batch": {"Batch.ServerException", "Batch.AWSBatchException"},
    "dynamodb": {
        "DynamoDB.ProvisionedThroughputExceededException",
        "DynamoDB.RequestLimitExceededException",
        "DynamoDB.ThrottlingException",
        "DynamoDB.InternalServerErrorException",
    },
}


@pytest.mark.parametrize("name", [n for n, s in ALL_STATES.items() if s["Type"] == "Task"])
def test_every_task_retries_its_transient_errors_with_backoff_and_jitter(name: str) -> None:
    state = ALL_STATES[name]
    service = state["Resource"].split(":::")[1].split(":")[0]
    retriers = state["Retry"]
    listed = [error for r in retriers for error in r["ErrorEquals"]]
    assert len(listed) == len(set(listed)), "an error is listed by two retriers"
    assert set(listed) == TRANSIENT[service], "retry exactly the transient errors"
    for retrier in retriers:
        assert retrier["BackoffRate"] > 1
        assert retrier["JitterStrategy"] == "FULL"


def test_every_task_outside_the_failure_path_is_caught() -> None:
    terminal = {"RecordVariantFailure"}  # its failure fails the Map, which is caught
    for name, state in ALL_STATES.items():
        if state["Type"] in {"Task", "Map"} and name not in terminal:
            assert any("States.ALL" in c["ErrorEquals"] for c in state.get("Catch", [])), name


def test_batch_jobs_carry_the_run_tags_and_propagate_them() -> None:
    run_job = ALL_STATES["RunJob"]
    assert run_job["Resource"].endswith(":::batch:submitJob.sync")
    assert set(run_job["Arguments"]["Tags"]) == {"run-id", "workflow", "variant", "cost-center"}
    assert run_job["Arguments"]["PropagateTags"] is True


def test_the_run_starts_with_start_run_whose_outcomes_are_caught_by_their_names() -> None:
    """StartRun (runledger.starting) claims, validates and marks the run; a duplicate
    delivery and an invalid request end the execution as a success, each at its own
    Succeed state; anything else is a failure for RecordFailure. Every name caught is an
    exception start_run raises (Lambda reports a handler's error by its class name)."""
    from runledger import starting

    start = ASL["States"][ASL["StartAt"]]
    assert start["Resource"].endswith(":::lambda:invoke")
    assert start["Arguments"]["FunctionName"] == "${StartRunFunctionArn}"
    caught = {c["ErrorEquals"][0]: c["Next"] for c in start["Catch"]}
    assert caught == {
        "AlreadyClaimed": "AlreadyClaimed",
        "RequestInvalid": "RequestInvalid",
        "States.ALL": "RecordFailure",
    }
    for error in ("AlreadyClaimed", "RequestInvalid"):
        assert ASL["States"][caught[error]]["Type"] == "Succeed"
        assert issubclass(getattr(starting, error), Exception)
        assert f"raise {error}(" in Path(starting.__file__).read_text()


def test_every_status_write_is_conditional_on_the_claiming_execution() -> None:
    writes = [
        name
        for name, state in ALL_STATES.items()
        if state.get("Resource", "").endswith(":::dynamodb:updateItem")
    ]
    assert writes == ["RecordResult", "RecordRunFailed", "RecordFailure"]
    for name in writes:
        assert "#execution = :execution" in ALL_STATES[name]["Arguments"]["ConditionExpression"]


def test_variant_concurrency_comes_from_the_max_concurrency_parameter() -> None:
    assert ALL_STATES["RunVariants"]["MaxConcurrency"] == "{% ${MaxConcurrency} %}"
    assert STATE_MACHINE["DefinitionSubstitutions"]["MaxConcurrency"] == {"Ref": "MaxConcurrency"}


# ------------------------------------------------------------------ Batch
#: Every workload's job definition, by logical id.
JOBS = {
    logical_id: resource["Properties"]
    for logical_id, resource in resources_of_type(CFN, "AWS::Batch::JobDefinition").items()
}


@pytest.mark.parametrize("logical_id", sorted(JOBS))
def test_job_definition_is_fargate_with_timeout_retry_strategy_roles_and_logs(
    logical_id: str,
) -> None:
    job = JOBS[logical_id]
    assert job["PlatformCapabilities"] in (["FARGATE"], ["EC2"])
    assert job["PropagateTags"] is True
    assert job["Timeout"]["AttemptDurationSeconds"] > 0
    retry = job["RetryStrategy"]
    assert retry["Attempts"] == {"Ref": "JobAttempts"}
    assert CFN["Parameters"]["JobAttempts"]["Default"] > 1
    actions = {rule["Action"] for rule in retry["EvaluateOnExit"]}
    assert actions == {"RETRY", "EXIT"}
    container = job["ContainerProperties"]
    assert {"JobRoleArn", "ExecutionRoleArn", "LogConfiguration"} <= set(container)


#: Properties only a Fargate job definition may carry (RegisterJobDefinition API
#: reference: runtimePlatform, fargatePlatformConfiguration and networkConfiguration are
#: for jobs on Fargate resources).
FARGATE_ONLY = {"RuntimePlatform", "FargatePlatformConfiguration", "NetworkConfiguration"}


@functools.cache
def written() -> dict[str, Any]:
    """The template as written, its Fn::ForEach loops (and their FindInMap) not expanded."""
    from cfnlint.decode import decode  # dev dependency

    return dict(decode(str(TEMPLATE_PATH))[0])


def platforms() -> dict[str, Any]:
    """Mappings.Platforms: the platforms every workload has a job definition for."""
    return dict(written()["Mappings"]["Platforms"])


def test_every_workload_has_a_job_definition_per_platform_fargate_properties_on_fargate() -> None:
    by_workload: dict[str, dict[str, dict[str, Any]]] = {}
    for logical_id, job in JOBS.items():
        workload = SAM["Resources"][logical_id]["Metadata"]["Workload"]["Name"]
        platform = job["JobDefinitionName"]["Fn::Sub"].rsplit("-", 1)[1]
        by_workload.setdefault(workload, {})[platform] = job
    assert set(by_workload) == {"kmer-count", "fastq-compress"}
    for jobs in by_workload.values():
        assert set(jobs) == set(platforms()) == {"FargateX8664", "FargateArm64", "Ec2"}
        for platform, job in jobs.items():
            container = job["ContainerProperties"]
            assert job["PlatformCapabilities"] == [platforms()[platform]["Capability"]]
            if platforms()[platform]["Capability"] == "FARGATE":
                assert set(container) >= FARGATE_ONLY
                assert container["RuntimePlatform"] == {
                    "OperatingSystemFamily": "LINUX",
                    "CpuArchitecture": platforms()[platform]["CpuArchitecture"],
                }
                assert container["NetworkConfiguration"] == {
                    "AssignPublicIp": {"Ref": "AssignPublicIp"}
                }
            else:
                assert not FARGATE_ONLY & set(container)

        # One declaration: the platforms' job definitions differ only where they must.
        def common(job: dict[str, Any]) -> dict[str, Any]:
            rest = {
                k: v
                for k, v in job.items()
                if k not in {"JobDefinitionName", "PlatformCapabilities"}
            }
            rest["ContainerProperties"] = {
                k: v for k, v in job["ContainerProperties"].items() if k not in FARGATE_ONLY
            }
            return rest

        assert len({json.dumps(common(job), sort_keys=True) for job in jobs.values()}) == 1


#: Every compute option's compute environments by their queue: {option: {capacity: CE}}.
def compute_options() -> dict[str, dict[str, dict[str, Any]]]:
    found: dict[str, dict[str, dict[str, Any]]] = {}
    capacity = {"FARGATE": "ON_DEMAND", "FARGATE_SPOT": "SPOT", "EC2": "ON_DEMAND", "SPOT": "SPOT"}
    for queue in resources_of_type(CFN, "AWS::Batch::JobQueue").values():
        (order,) = queue["Properties"]["ComputeEnvironmentOrder"]
        environment = RESOURCES[order["ComputeEnvironment"]["Ref"]]["Properties"]
        kind = environment["ComputeResources"]["Type"]
        types = environment["ComputeResources"].get("InstanceTypes")
        option = "fargate" if kind.startswith("FARGATE") else f"ec2-{types[0]}"
        name = queue["Properties"]["JobQueueName"]["Fn::Sub"]
        found.setdefault(option, {})[capacity[kind]] = {"environment": environment, "queue": name}
    return found


def test_every_ec2_compute_option_has_on_demand_and_spot_environments_and_queues() -> None:
    """BEST_FIT_PROGRESSIVE On-Demand, SPOT_PRICE_CAPACITY_OPTIMIZED Spot, one instance
    type, the ECS instance profile, ECS_AL2023, the stack's network.

    https://docs.aws.amazon.com/batch/latest/userguide/allocation-strategies.html
    https://docs.aws.amazon.com/batch/latest/APIReference/API_Ec2Configuration.html
    """
    options = compute_options()
    ec2 = {name: o for name, o in options.items() if name != "fargate"}
    assert set(ec2) == {"ec2-m7i.xlarge", "ec2-m7g.xlarge"}
    assert set(options["fargate"]) == {"ON_DEMAND", "SPOT"}
    profile = RESOURCES["Ec2InstanceProfile"]["Properties"]
    assert profile["Roles"] == [{"Ref": "Ec2InstanceRole"}]
    role = RESOURCES["Ec2InstanceRole"]["Properties"]
    assert role["ManagedPolicyArns"] == [
        {
            "Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/"
            "AmazonEC2ContainerServiceforEC2Role"
        }
    ]
    for name, by_capacity in ec2.items():
        assert set(by_capacity) == {"ON_DEMAND", "SPOT"}
        instance_type = name.removeprefix("ec2-")
        strategies = {
            "ON_DEMAND": ("EC2", "BEST_FIT_PROGRESSIVE"),
            "SPOT": ("SPOT", "SPOT_PRICE_CAPACITY_OPTIMIZED"),
        }
        for capacity, found in by_capacity.items():
            resources = found["environment"]["ComputeResources"]
            assert (resources["Type"], resources["AllocationStrategy"]) == strategies[capacity]
            assert resources["InstanceTypes"] == [instance_type]
            assert resources["InstanceRole"] == {"Fn::GetAtt": ["Ec2InstanceProfile", "Arn"]}
            assert resources["Ec2Configuration"] == [{"ImageType": "ECS_AL2023"}]
            assert resources["MinvCpus"] == 0
            suffix = {"ON_DEMAND": "on-demand", "SPOT": "spot"}[capacity]
            plain = "".join(c for c in instance_type if c.isalnum())
            assert found["queue"] == f"${{AWS::StackName}}-ec2-{plain}-{suffix}"


def test_compute_catalogue_is_current_and_every_ec2_option_is_priced() -> None:
    from runledger_cli.workloads import COMPUTE_CATALOGUE, compute_text

    assert COMPUTE_CATALOGUE.read_text() == compute_text(), "run `make workloads`"
    from runledger.pricing import price_book

    book = price_book()
    for name, option in json.loads(compute_text())["options"].items():
        if option["kind"] == "ec2":
            spec = book.instance(option["instance_type"])
            assert book.usd(spec.price) > 0, name


#: The sample workload's job definition; every other retries as it does (test below).
JOB = JOBS["KmerCountFargateX8664JobDefinition"]


def test_every_workload_job_definition_retries_as_the_sample_s() -> None:
    assert len(JOBS) >= 2
    assert all(job["RetryStrategy"] == JOB["RetryStrategy"] for job in JOBS.values())


def test_job_definition_is_named_after_the_stack_and_its_attempts_are_a_parameter() -> None:
    """GetAtt of a job definition has JobDefinitionArn only (CloudFormation schema), so the
    workflow's policy names it by this name.

    https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-batch-jobdefinition.html
    https://docs.aws.amazon.com/batch/latest/APIReference/API_RetryStrategy.html (1-10)
    """
    for logical_id, job in JOBS.items():
        workload = SAM["Resources"][logical_id]["Metadata"]["Workload"]["Name"]
        name = job["JobDefinitionName"]["Fn::Sub"]
        assert name.startswith("${AWS::StackName}-workload-" + workload + "-")
        assert name.rsplit("-", 1)[1] in platforms()
    assert JOB["RetryStrategy"]["Attempts"] == {"Ref": "JobAttempts"}
    attempts = SAM["Parameters"]["JobAttempts"]
    assert (attempts["Type"], attempts["Default"]) == ("Number", 3)
    assert (attempts["MinValue"], attempts["MaxValue"]) == (1, 10)


# EvaluateOnExit: OnReason/OnStatusReason are letters, numbers, periods, colons and white
# space, with an optional trailing '*'; OnExitCode digits with an optional trailing '*';
# up to 512 characters; at most 5 rules.
# https://docs.aws.amazon.com/batch/latest/APIReference/API_EvaluateOnExit.html
_GRAMMAR = {
    "OnReason": re.compile(r"[A-Za-z0-9.: \t]*\*?"),
    "OnStatusReason": re.compile(r"[A-Za-z0-9.: \t]*\*?"),
    "OnExitCode": re.compile(r"[0-9]*\*?"),
}


def fits_batch_grammar(key: str, pattern: str) -> bool:
    return len(pattern) <= 512 and bool(_GRAMMAR[key].fullmatch(pattern))


@pytest.mark.parametrize(
    ("key", "pattern", "fits"),
    [
        ("OnStatusReason", "*SpotInterruption*", False),  # a leading '*' is not allowed
        ("OnStatusReason", "Your Spot Task was interrupted*", True),
        ("OnReason", "CannotPullContainerError: ref*", True),
        ("OnReason", "Error (pull)*", False),
        ("OnExitCode", "7*", True),
        ("OnExitCode", "-1", False),
    ],
)
def test_the_grammar_check_tells_allowed_patterns_from_refused_ones(
    key: str, pattern: str, fits: bool
) -> None:
    assert fits_batch_grammar(key, pattern) is fits


def test_every_retry_rule_fits_the_batch_grammar_and_there_are_at_most_five() -> None:
    rules = JOB["RetryStrategy"]["EvaluateOnExit"]
    assert 1 <= len(rules) <= 5
    for rule in rules:
        conditions = set(rule) - {"Action"}
        assert conditions, rule
        assert conditions <= set(_GRAMMAR), rule
        assert rule["Action"].upper() in {"RETRY", "EXIT"}
        for key in conditions:
            assert fits_batch_grammar(key, rule[key]), rule
    assert rules[-1] == {"OnReason": "*", "Action": "EXIT"}


def batch_decision(exit_code: int | None, reason: str, status_reason: str) -> str:
    """What Batch does after a failed attempt: the first rule whose conditions all match
    (exact, or a prefix when the pattern ends with '*'); RETRY when none does."""
    values = {
        "OnExitCode": "" if exit_code is None else str(exit_code),
        "OnReason": reason,
        "OnStatusReason": status_reason,
    }

    def matches(pattern: str, value: str) -> bool:
        return value.startswith(pattern[:-1]) if pattern.endswith("*") else value == pattern

    for rule in JOB["RetryStrategy"]["EvaluateOnExit"]:
        if all(matches(rule[k], values[k]) for k in rule if k != "Action"):
            return str(rule["Action"]).upper()
    return "RETRY"


@pytest.mark.parametrize(
    ("exit_code", "reason", "status_reason", "action"),
    [
        # ECS's stopped reason for an interrupted Fargate Spot task:
        # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-capacity-providers.html
        (None, "", "Your Spot Task was interrupted.", "RETRY"),
        (
            None,
            "CannotPullContainerError: pull image manifest has been retried 5 time(s)",
            "Task failed to start",
            "RETRY",
        ),
        (75, "", "Essential container in task exited", "RETRY"),  # EX_TEMPFAIL
        (2, "", "Essential container in task exited", "EXIT"),  # bad input
        (137, "OutOfMemoryError: Container killed due to memory usage", "", "EXIT"),
    ],
)
def test_retry_rules_retry_spot_reclaims_image_pulls_and_exit_75_only(
    exit_code: int | None, reason: str, status_reason: str, action: str
) -> None:
    assert batch_decision(exit_code, reason, status_reason) == action


def test_job_definition_points_at_the_job_sources_in_jobs() -> None:
    metadata = SAM["Resources"]["KmerCountEc2JobDefinition"]["Metadata"]
    context = REPO_ROOT / metadata["DockerContext"]
    assert (context / metadata["Dockerfile"]).is_file()
    command = SAM["Resources"]["KmerCountEc2JobDefinition"]["Properties"]["ContainerProperties"][
        "Command"
    ]
    assert (context / command[-1]).is_file()


def test_on_demand_and_spot_queues_each_have_their_fargate_environment() -> None:
    fargate = compute_options()["fargate"]
    kinds = {c: found["environment"]["ComputeResources"]["Type"] for c, found in fargate.items()}
    assert kinds == {"ON_DEMAND": "FARGATE", "SPOT": "FARGATE_SPOT"}
    assert fargate["ON_DEMAND"]["queue"] == "${AWS::StackName}-fargate-on-demand"
    assert fargate["SPOT"]["queue"] == "${AWS::StackName}-fargate-spot"


def test_network_settings_are_parameters() -> None:
    for environment in resources_of_type(CFN, "AWS::Batch::ComputeEnvironment").values():
        resources = environment["Properties"]["ComputeResources"]
        assert resources["Subnets"] == {"Ref": "SubnetIds"}
        assert resources["SecurityGroupIds"] == {"Ref": "SecurityGroupIds"}


# ------------------------------------------------------------------ Lambda
FUNCTIONS = resources_of_type(SAM, "AWS::Serverless::Function")


def test_there_is_a_function_for_each_step_of_the_workflow() -> None:
    assert set(FUNCTIONS) == {
        "StartRunFunction",
        "CollectMetricsFunction",
        "SummarizeRunFunction",
        "CloseRunFunction",  # outside the workflow: closes runs it cannot (below)
    }


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_function_code_folder_has_a_thin_handler_and_requirements(logical_id: str) -> None:
    props = FUNCTIONS[logical_id]["Properties"]
    folder = REPO_ROOT / props["CodeUri"]
    module, attribute = props["Handler"].split(".")
    source = (folder / f"{module}.py").read_text()
    assert f"def {attribute}(" in source
    assert (folder / "requirements.txt").is_file()
    assert "from runledger" in source, "domain code comes from the shared package"


def test_functions_run_python_313_on_arm64_with_powertools_and_tracing() -> None:
    function_globals = SAM["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]
    assert function_globals["Tracing"] == "Active"
    assert function_globals["Layers"] == [{"Ref": "RunledgerLayer"}]
    assert "POWERTOOLS_SERVICE_NAME" in function_globals["Environment"]["Variables"]
    for function in resources_of_type(CFN, "AWS::Lambda::Function").values():
        assert function["Properties"]["Runtime"] == "python3.13"


def _pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        requirement = line.split("#", 1)[0].strip()
        if "==" in requirement:
            name, version = requirement.split("==", 1)
            pins[re.sub(r"[-_.]+", "-", name.split("[")[0]).lower()] = version
    return pins


def test_the_layer_ships_the_package_once_at_the_versions_the_tests_run_on() -> None:
    layer_dir = REPO_ROOT / SAM["Resources"]["RunledgerLayer"]["Properties"]["ContentUri"]
    assert (layer_dir / "runledger").resolve() == REPO_ROOT / "runledger"
    layer = _pins((layer_dir / "requirements.txt").read_text().splitlines())
    tested = _pins((REPO_ROOT / "constraints.txt").read_text().splitlines())
    assert {name: tested.get(name) for name in layer} == layer
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    runtime = _pins(pyproject["project"]["dependencies"])
    assert {name: layer.get(name) for name in runtime} == runtime


# ------------------------------------------------------------------ IAM
def iam_statements() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for logical_id, resource in RESOURCES.items():
        props = resource.get("Properties", {})
        documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
        if resource["Type"] in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
            documents.append(props["PolicyDocument"])
        for document in documents:
            found += [(logical_id, s) for s in document["Statement"]]
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_iam_statement_allows_every_action() -> None:
    for logical_id, statement in iam_statements():
        for action in as_list(statement["Action"]):
            assert action != "*", logical_id
            assert not action.endswith(":*"), (logical_id, action)


# Actions AWS offers no resource-level permission for.
RESOURCE_STAR_ALLOWED = {
    "batch:DescribeJobs",
    "dynamodb:ListStreams",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}


def test_resource_star_only_where_the_action_has_no_resource_level_permission() -> None:
    for logical_id, statement in iam_statements():
        if statement.get("Effect") == "Allow" and "*" in as_list(statement.get("Resource")):
            assert set(as_list(statement["Action"])) <= RESOURCE_STAR_ALLOWED, logical_id


def role_statements(logical_id: str) -> list[dict[str, Any]]:
    props = RESOURCES[logical_id]["Properties"]
    return [s for p in props.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]


def statements_with(logical_id: str, action: str) -> list[dict[str, Any]]:
    return [s for s in role_statements(logical_id) if action in as_list(s["Action"])]


#: Every declared workload's job definition, any revision (named <stack>-workload-<name>).
JOB_DEFINITION_ARNS = [
    {
        "Fn::Sub": "arn:${AWS::Partition}:batch:${AWS::Region}:${AWS::AccountId}"
        ":job-definition/${AWS::StackName}-workload-*"
    }
]


def test_the_workflow_submits_jobs_to_its_queues_and_job_definition_and_tags_only_jobs() -> None:
    """SubmitJob is authorized on job-queue and job-definition; tagging the new job needs
    batch:TagResource on job/*.

    https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsbatch.html
    https://docs.aws.amazon.com/batch/latest/userguide/tag-resources.html
    """
    (submit,) = statements_with("RunWorkflowRole", "batch:SubmitJob")
    assert submit["Action"] == "batch:SubmitJob"
    queues = "arn:${AWS::Partition}:batch:${AWS::Region}:${AWS::AccountId}:job-queue/"
    assert submit["Resource"] == [
        {"Fn::Sub": queues + "${AWS::StackName}-fargate-*"},
        {"Fn::Sub": queues + "${AWS::StackName}-ec2-*"},
        *JOB_DEFINITION_ARNS,
    ]
    # Every queue and job definition of every compute option and platform is covered.
    for option in compute_options().values():
        for found in option.values():
            name = found["queue"].removeprefix("${AWS::StackName}-")
            assert name.startswith(("fargate-", "ec2-")), name
    for job in JOBS.values():
        assert job["JobDefinitionName"]["Fn::Sub"].startswith("${AWS::StackName}-workload-")
    (tag,) = statements_with("RunWorkflowRole", "batch:TagResource")
    assert tag["Action"] == "batch:TagResource"
    assert tag["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:batch:${AWS::Region}:${AWS::AccountId}:job/*"
    }
    # The job definition is named, never read through GetAtt (it has only the ARN).
    assert "JobDefinition.JobDefinitionName" not in json.dumps(CFN)


def test_collect_metrics_reads_only_the_runs_prefix_and_writes_only_items_of_the_table() -> None:
    """PutItem on the runs table (the job's item); GetObject under runs/ only; ListBucket
    (so that a missing object is NoSuchKey, not AccessDenied) only for the runs/ prefix.

    https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/amazon-s3-policy-keys.html
    """
    statements = role_statements("CollectMetricsFunctionRole")
    assert [(s["Action"], s["Resource"], s.get("Condition")) for s in statements] == [
        ("dynamodb:PutItem", {"Fn::GetAtt": ["RunsTable", "Arn"]}, None),
        ("s3:GetObject", {"Fn::Sub": "${ResultsBucket.Arn}/runs/*"}, None),
        (
            "s3:ListBucket",
            {"Fn::GetAtt": ["ResultsBucket", "Arn"]},
            {"StringLike": {"s3:prefix": "runs/*"}},
        ),
    ]


def job_role_grants() -> dict[str, Any]:
    """JobRole's resources by action (a statement may list several actions)."""
    return {
        action: statement["Resource"]
        for statement in role_statements("JobRole")
        for action in (
            [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        )
    }


def test_the_job_reads_only_inputs_and_writes_only_runs_of_the_results_bucket() -> None:
    by_action = job_role_grants()
    assert by_action["s3:AbortMultipartUpload"] == by_action["s3:PutObject"]
    assert by_action["s3:PutObject"] == {"Fn::Sub": "${ResultsBucket.Arn}/runs/*"}
    read = json.dumps(by_action["s3:GetObject"])
    assert "${ResultsBucket}/inputs/*" in read
    assert "${ResultsBucket}/*" not in read


def test_validation_checks_inputs_against_exactly_what_the_job_may_read() -> None:
    """StartRun's INPUT_LOCATIONS, each URI prefix written as the ARN pattern it
    means, is the job role's GetObject resources, with and without an input bucket."""
    grants = job_role_grants()["s3:GetObject"]
    function = RESOURCES["StartRunFunction"]["Properties"]
    locations = function["Environment"]["Variables"]["INPUT_LOCATIONS"]
    assert grants["Fn::If"][0] == locations["Fn::If"][0] == "HasInputBucket"
    for granted, prefixes in zip(grants["Fn::If"][1:], locations["Fn::If"][1:], strict=True):
        as_arns = [
            "arn:${AWS::Partition}:s3:::" + prefix.removeprefix("s3://") + "*"
            for prefix in prefixes["Fn::Sub"].split()
        ]
        assert as_arns == [g["Fn::Sub"] for g in granted]


@pytest.mark.parametrize("logical_id", ["PipeRole", "JobRole", "JobExecutionRole"])
def test_service_roles_trust_their_service_only_on_behalf_of_this_account(
    logical_id: str,
) -> None:
    """Confused-deputy guard (aws:SourceAccount or aws:SourceArn of this account).

    https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html
    SAM's state machine and function roles are generated: AWS::Serverless::StateMachine
    has no property for its role's trust policy (only Role, RolePath,
    PermissionsBoundary), so the workflow's role keeps SAM's.
    """
    document = RESOURCES[logical_id]["Properties"]["AssumeRolePolicyDocument"]
    for statement in document["Statement"]:
        condition = json.dumps(statement["Condition"])
        assert '"aws:SourceAccount": {"Ref": "AWS::AccountId"}' in condition or (
            "aws:SourceArn" in condition and "${AWS::AccountId}" in condition
        ), logical_id


# ------------------------------------------------------------------ tags
TAGGABLE = {
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "AWS::SQS::Queue",
    "AWS::Logs::LogGroup",
    "AWS::IAM::Role",
    "AWS::Pipes::Pipe",
    "AWS::StepFunctions::StateMachine",
    "AWS::Lambda::Function",
    "AWS::Batch::ComputeEnvironment",
    "AWS::Batch::JobQueue",
    "AWS::Batch::JobDefinition",
    "AWS::CloudWatch::Alarm",
    "AWS::Events::Rule",
}
NOT_TAGGABLE = {
    "AWS::S3::BucketPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::Lambda::LayerVersion",
    "AWS::Lambda::Permission",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::IAM::InstanceProfile",  # no Tags property in its CloudFormation schema
}


def tag_keys(tags: Any) -> set[str]:
    if isinstance(tags, dict):
        return set(tags)
    return {tag["Key"] for tag in tags or []}


def test_every_resource_type_is_classified_as_taggable_or_not() -> None:
    assert {r["Type"] for r in RESOURCES.values()} <= TAGGABLE | NOT_TAGGABLE


@pytest.mark.parametrize(
    "logical_id", sorted(k for k, r in RESOURCES.items() if r["Type"] in TAGGABLE)
)
def test_every_taggable_resource_carries_the_stack_tags_from_parameters(logical_id: str) -> None:
    tags = RESOURCES[logical_id]["Properties"].get("Tags")
    assert tag_keys(tags) >= STACK_TAGS, logical_id
    values = tags if isinstance(tags, dict) else {t["Key"]: t["Value"] for t in tags}
    assert values["stage"] == {"Ref": "Stage"}
    assert values["cost-center"] == {"Ref": "CostCenter"}


# ------------------------------------------------------------ alarms, outputs
ALARMS = {
    (a["Properties"]["Namespace"], a["Properties"]["MetricName"]): a["Properties"]
    for a in resources_of_type(CFN, "AWS::CloudWatch::Alarm").values()
}


def test_alarms_watch_failed_timed_out_and_aborted_runs_the_pipe_and_the_dead_letters() -> None:
    """Step Functions counts failed, timed-out and aborted executions in three metrics.

    https://docs.aws.amazon.com/step-functions/latest/dg/procedure-cw-metrics.html
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-monitoring.html
    """
    assert set(ALARMS) >= {
        ("AWS/States", "ExecutionsFailed"),
        ("AWS/States", "ExecutionsTimedOut"),
        ("AWS/States", "ExecutionsAborted"),
        ("AWS/EventBridge/Pipes", "ExecutionFailed"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    }
    for metric in ("ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"):
        alarm = ALARMS[("AWS/States", metric)]
        assert alarm["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": "RunWorkflow"}}]
    # ExecutionsFailed counts neither timed-out nor aborted executions: its alarm says so.
    failed = ALARMS[("AWS/States", "ExecutionsFailed")]["AlarmDescription"]
    assert "timed out" not in failed
    assert "abort" not in failed


def test_every_alarm_counts_any_occurrence_and_notifies_the_optional_topic() -> None:
    for alarm in ALARMS.values():
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
        assert alarm["TreatMissingData"] == "notBreaching"
        assert alarm["AlarmActions"] == {
            "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
        }


def test_dead_letter_queues_each_have_an_alarm_on_visible_messages() -> None:
    watched = {
        alarm["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for alarm in resources_of_type(CFN, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    }
    assert (
        watched
        == set(resources_of_type(CFN, "AWS::SQS::Queue"))
        == {
            "PipeDeadLetterQueue",
            "CloseRunDeadLetterQueue",
        }
    )


# ------------------------------------------------------------------ closing runs
CLOSE_RULE = RESOURCES["CloseRunRule"]["Properties"]


def test_execution_status_changes_that_close_a_run_reach_close_run() -> None:
    """The rule passes the run workflow's FAILED, TIMED_OUT and ABORTED status changes,
    the statuses CloseRun acts on, and no other state machine's.
    https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html"""
    pattern = CLOSE_RULE["EventPattern"]
    assert pattern["source"] == ["aws.states"]
    assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert set(pattern["detail"]["status"]) == CLOSING_STATUSES
    assert pattern["detail"]["stateMachineArn"] == [{"Ref": "RunWorkflow"}]
    (target,) = CLOSE_RULE["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["CloseRunFunction", "Arn"]}
    permission = RESOURCES["CloseRunInvokePermission"]["Properties"]
    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["SourceArn"] == {"Fn::GetAtt": ["CloseRunRule", "Arn"]}


def test_status_changes_close_run_cannot_take_are_kept_in_its_dead_letter_queue() -> None:
    """Undeliverable events (rule DLQ) and failed invokes (on-failure destination) land in
    the same queue, whose policy lets EventBridge send for this rule only.
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html"""
    queue = {"Fn::GetAtt": ["CloseRunDeadLetterQueue", "Arn"]}
    (target,) = CLOSE_RULE["Targets"]
    assert target["DeadLetterConfig"] == {"Arn": queue}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    invoke = RESOURCES["CloseRunFunctionEventInvokeConfig"]["Properties"]
    assert invoke["DestinationConfig"]["OnFailure"]["Destination"] == queue
    (statement,) = RESOURCES["CloseRunDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"][
        "Statement"
    ]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    rule_arn = statement["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::Sub"]
    assert rule_arn.endswith(":rule/" + CLOSE_RULE["Name"]["Fn::Sub"])


def test_close_run_may_only_change_run_items_and_read_run_workflow_executions() -> None:
    statements = [
        statement
        for policy in RESOURCES["CloseRunFunctionRole"]["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    actions = {
        action: statement["Resource"]
        for statement in statements
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    }
    for action in ("dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:DeleteItem"):
        assert actions[action] == {"Fn::GetAtt": ["RunsTable", "Arn"]}
    assert ":execution:${RunWorkflow.Name}:*" in actions["states:DescribeExecution"]["Fn::Sub"]
    assert actions["sqs:SendMessage"] == {"Fn::GetAtt": ["CloseRunDeadLetterQueue", "Arn"]}
    assert set(actions) == {
        "dynamodb:UpdateItem",
        "dynamodb:Query",
        "dynamodb:DeleteItem",
        "states:DescribeExecution",
        "sqs:SendMessage",
    }


def test_close_run_treats_as_open_exactly_the_statuses_the_workflow_writes_before_the_end() -> None:
    """CLAIMED and RUNNING (StartRun's claim and mark) are the only statuses an execution
    leaves behind when it stops without recording its end: the ones RecordFailure may
    still fail, and the ones runledger.starting writes."""
    from runledger import starting

    values = ALL_STATES["RecordFailure"]["Arguments"]["ExpressionAttributeValues"]
    assert {values[":claimed"]["S"], values[":running"]["S"]} == set(OPEN_RUN_STATUSES)
    source = Path(starting.__file__).read_text()
    for status in OPEN_RUN_STATUSES:
        assert f'{{"S": "{status}"}}' in source


# ------------------------------------------------------------------ results bucket
BUCKET = RESOURCES["ResultsBucket"]


def test_results_bucket_is_retained_with_the_stack_s_deletion() -> None:
    """CloudFormation cannot delete a bucket that holds objects (versions included): the
    bucket is retained, and the README says how to empty and delete it.

    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html
    """
    assert (BUCKET["DeletionPolicy"], BUCKET["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert BUCKET["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    readme = (REPO_ROOT / "README.md").read_text()
    cleanup = readme.split("## Clean up", 1)[1]
    assert "object_versions.delete()" in cleanup  # versions and delete markers
    assert "delete-bucket" in cleanup


def test_results_bucket_uses_sse_s3_without_a_bucket_key() -> None:
    """S3 Bucket Keys apply to SSE-KMS; with SSE-S3 (AES256) the setting does nothing.

    https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html
    """
    (rule,) = BUCKET["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule == {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}


# ------------------------------------------------------------------ checkov
def checkov_skips() -> list[tuple[str, dict[str, Any]]]:
    return [
        (logical_id, skip)
        for logical_id, resource in SAM["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]


def test_every_checkov_skip_names_a_check_and_gives_a_reason() -> None:
    skips = checkov_skips()
    assert skips
    for logical_id, skip in skips:
        assert set(skip) == {"id", "comment"}, logical_id
        assert re.fullmatch(r"CKV_AWS_\d+", skip["id"]), logical_id
        assert len(skip["comment"]) >= 40, (logical_id, skip["id"])


def test_the_sqs_encryption_skip_is_called_a_known_false_positive() -> None:
    queue_skips = {i: s for i, s in checkov_skips() if s["id"] == "CKV_AWS_27"}
    assert set(queue_skips) == set(resources_of_type(CFN, "AWS::SQS::Queue"))
    for logical_id, skip in queue_skips.items():
        assert "false positive" in skip["comment"].lower()
        assert RESOURCES[logical_id]["Properties"]["SqsManagedSseEnabled"] is True


def test_skips_reach_the_transformed_template_that_checkov_reads() -> None:
    """make check runs checkov on the transformed template too: SAM keeps Metadata."""
    for logical_id, skip in checkov_skips():
        metadata = RESOURCES[logical_id].get("Metadata", {})
        assert skip in metadata["checkov"]["skip"], logical_id


def test_outputs_name_the_table_workflow_pipe_and_queue() -> None:
    outputs = {name: o["Value"] for name, o in SAM["Outputs"].items()}
    assert outputs["RunsTableName"] == {"Ref": "RunsTable"}
    assert outputs["RunWorkflowArn"] == {"Ref": "RunWorkflow"}
    assert outputs["RunsPipeArn"] == {"Fn::GetAtt": ["RunsPipe", "Arn"]}
    assert outputs["PipeDeadLetterQueueUrl"] == {"Ref": "PipeDeadLetterQueue"}
    assert outputs["CloseRunDeadLetterQueueUrl"] == {"Ref": "CloseRunDeadLetterQueue"}


# ------------------------------------------------------------------ samconfig
def test_samconfig_has_default_dev_prod_resolves_s3_lints_and_holds_no_account_id() -> None:
    text = (REPO_ROOT / "samconfig.toml").read_text()
    config = tomllib.loads(text)
    assert {"default", "dev", "prod"} <= set(config)
    for env in ("default", "dev", "prod"):
        assert config[env]["deploy"]["parameters"]["resolve_s3"] is True
        assert config[env]["validate"]["parameters"]["lint"] is True
    assert not re.search(r"\b\d{12}\b", text)


def overrides(env: str) -> dict[str, str]:
    text = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text())[env]["deploy"]["parameters"]
    return dict(re.findall(r'(\w+)="([^"]*)"', text["parameter_overrides"]))


def test_prod_keeps_run_data_out_of_logs_and_traces_and_dev_keeps_it_in() -> None:
    assert overrides("prod")["LogExecutionData"] == "false"
    assert overrides("dev")["LogExecutionData"] == "true"
    assert overrides("default")["LogExecutionData"] == "true"
    for env in ("default", "dev", "prod"):
        assert set(overrides(env)) <= set(SAM["Parameters"]), env


def test_the_deploy_guide_lists_every_parameter_with_its_default() -> None:
    guide = (REPO_ROOT / "docs" / "deploy.md").read_text()
    deploy = guide.split("\n## ", 1)[0]  # before "Verify a deployed stack"
    for name, spec in SAM["Parameters"].items():
        (row,) = [line for line in deploy.splitlines() if line.startswith(f"| `{name}`")]
        default = spec.get("Default")
        if default not in (None, ""):
            assert f"`{default}`" in row, name


# ------------------------------------------------------------------ reading it
def _in_a_fresh_interpreter(
    code: str, result: str, cache_dir: Path | None = None
) -> dict[str, Any]:
    """Run ``code`` in a new Python; return ``result`` (an expression) and which of
    cfn-lint, the SAM translator and sympy it imported, as ``{"here": [...], "result": ...}``.
    The template cache is ``cache_dir``, or off without one (a child always reads).
    """
    script = (
        f"import json, sys\n{code}\nresult = {result}\n"
        "here = sorted({'cfnlint', 'samtranslator', 'sympy'} & sys.modules.keys())\n"
        "print(json.dumps({'here': here, 'result': result}))\n"
    )
    env = {**os.environ, "RUNLEDGER_CACHE_DIR": str(cache_dir or "")}
    child = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env
    )
    read: dict[str, Any] = json.loads(child.stdout)
    return read


_COUNTING_CHILDREN = (
    "import subprocess\n"
    "from runledger_cli import sam_template\n"
    "started = []\n"
    "class Counted(subprocess.Popen):\n"
    "    def __init__(self, *args, **kwargs):\n"
    "        started.append(args[0])\n"
    "        super().__init__(*args, **kwargs)\n"
    "subprocess.Popen = Counted\n"
)


@pytest.fixture(scope="module")
def first_reader(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A new Python that reads the template as ``runledger local run`` does (read_ahead
    while moto starts, load_both, then the graph's and the report's imports), with an
    empty template cache of its own: one child for every test below, not one each."""
    cache = tmp_path_factory.mktemp("template-cache")
    read = _in_a_fresh_interpreter(
        _COUNTING_CHILDREN + "sam_template.read_ahead()\n"
        "reading = [child.poll() is None for child in sam_template._reading.values()]\n"
        "both = sam_template.load_both()  # as the local cloud does\n"
        "from runledger_cli.graph import workflow_definition_path\n"
        "from runledger_cli.ledger import table_output_key\n"
        "import runledger_cli.report",
        "[len(started), reading, len(sam_template._reading), both,"
        " str(workflow_definition_path()), table_output_key()]",
        cache,
    )
    read["cache"] = cache
    return read


def test_a_second_process_reads_the_template_from_the_cache_without_a_child(
    first_reader: dict[str, Any],
) -> None:
    cache = first_reader["cache"]
    second = _in_a_fresh_interpreter(
        _COUNTING_CHILDREN + "sam_template.read_ahead()\nboth = sam_template.load_both()",
        "[len(started), both]",
        cache,
    )

    assert first_reader["result"][0] == 1  # the first reads in a child and keeps what it printed
    assert second["result"][0] == 0  # no child, not even read_ahead's
    assert second["result"][1] == first_reader["result"][3]
    assert second["here"] == []
    assert len(list(cache.glob("template-*.json"))) == 1


def test_the_cache_is_keyed_by_the_template_and_off_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runledger_cli.sam_template import cache_file

    template = tmp_path / "template.yaml"
    template.write_text("Resources: {}\n")
    monkeypatch.setenv("RUNLEDGER_CACHE_DIR", str(tmp_path / "cache"))
    before = cache_file(template)
    template.write_text("Resources: {A: {Type: AWS::SNS::Topic}}\n")

    assert before is not None
    assert before.parent == tmp_path / "cache"
    assert cache_file(template) != before  # another template, another entry
    monkeypatch.setenv("RUNLEDGER_CACHE_DIR", "")
    assert cache_file(template) is None


def test_load_both_reads_the_template_in_a_child_and_keeps_cfn_lint_out_of_the_caller(
    first_reader: dict[str, Any],
) -> None:
    assert first_reader["here"] == []
    sam, cfn = first_reader["result"][3]
    # The child's reading is this process's own (cfn-lint and the translator, here).
    assert sam == json.loads(json.dumps(load_sam(), default=str))
    assert cfn == json.loads(json.dumps(load_cfn(), default=str))
    assert (sam, cfn) == (SAM, CFN)  # and the module's, read through the cache


def test_read_ahead_starts_the_child_that_load_both_then_waits_for(
    first_reader: dict[str, Any],
) -> None:
    # The local cloud starts moto while the child reads the template, not after.
    children, reading, left, (sam, cfn), _, _ = first_reader["result"]
    assert reading == [True]  # read_ahead returned while its child was still reading
    assert children == 1  # load_both waited for that child instead of starting another
    assert left == 0
    assert sam == json.loads(json.dumps(load_sam(), default=str))
    assert cfn == json.loads(json.dumps(load_cfn(), default=str))


def test_reports_and_graphs_read_the_template_without_cfn_lint_in_the_process(
    first_reader: dict[str, Any],
) -> None:
    # `runledger local run` writes its reports at the end: they would import cfn-lint
    # (and sympy) into the engine's process, to read what the local cloud had read.
    assert first_reader["here"] == []
    definition, output = first_reader["result"][4:]
    machine = SAM["Resources"]["RunWorkflow"]["Properties"]["DefinitionUri"]
    assert definition == str(REPO_ROOT / machine)
    assert SAM["Outputs"][output]["Value"] == {"Ref": "RunsTable"}


def test_load_both_names_the_template_and_the_reason_it_cannot_be_read(tmp_path: Path) -> None:
    broken = tmp_path / "template.yaml"
    broken.write_text("Resources:\n  Table: [unclosed\n")
    with pytest.raises(ValueError, match=r"template\.yaml cannot be read: .*does not parse"):
        _load_both_in_child(broken)


# ------------------------------------------------------- language extensions (Fn::ForEach)
def test_the_template_loops_with_language_extensions_and_load_sam_expands_every_loop() -> None:
    """CloudFormation runs AWS::LanguageExtensions before the SAM transform; load_sam does
    the same with cfn-lint's (private) expander, which must leave every other intrinsic
    (Fn::If, Ref of parameters, conditions) as written."""
    sam, written_ = load_sam(), written()
    assert written_["Transform"] == ["AWS::LanguageExtensions", "AWS::Serverless-2016-10-31"]
    loops = [k for k in written_["Resources"] if k.startswith("Fn::ForEach::")]
    assert sorted(loops) == [
        "Fn::ForEach::Ec2ComputeOptions",
        "Fn::ForEach::FastqCompressJobDefinitions",
        "Fn::ForEach::KmerCountJobDefinitions",
    ]
    assert sam["Transform"] == "AWS::Serverless-2016-10-31"
    assert "Fn::ForEach" not in json.dumps(sam, default=str)
    assert "&{" not in json.dumps(sam, default=str)
    assert sam["Conditions"] == written_["Conditions"]
    assert sam["Resources"]["RunsTable"] == written_["Resources"]["RunsTable"]
    variables = sam["Resources"]["StartRunFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["INPUT_LOCATIONS"]["Fn::If"][0] == "HasInputBucket"
    # Each loop's fragment, once per item: 4 resources per EC2 option, 3 per workload.
    assert len(sam["Resources"]) == len(written_["Resources"]) - 3 + 2 * 4 + 2 * 3


def test_the_expander_load_sam_relies_on_is_the_pinned_cfn_lint() -> None:
    """cfnlint.template.transforms._language_extensions is private: the pin in
    pyproject.toml is the version these tests proved it with."""
    from importlib.metadata import version

    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    pins = [
        d
        for d in pyproject["project"]["optional-dependencies"]["dev"]
        if d.startswith("cfn-lint==")
    ]
    assert pins == [f"cfn-lint=={version('cfn-lint')}"]
