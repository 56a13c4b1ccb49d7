"""template.yaml: the properties the product promises, checked on the template itself.

Read through runledger.sam_template: as written (SAM) and after the SAM transform
(CloudFormation), so policies and tags SAM generates are checked too.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer
from moto.events.models import EventPattern

from runledger.sam_template import (
    REPO_ROOT,
    _load_both_in_child,
    load_cfn,
    load_sam,
    resources_of_type,
)

SAM = load_sam()
CFN = load_cfn()
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
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
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
    """A DynamoDB stream record as Pipes sees it, for a table item given as plain JSON."""
    item = new or old or {}
    record: dict[str, Any] = {
        "eventID": "1",
        "eventName": event_name,
        "eventSource": "aws:dynamodb",
        "dynamodb": {
            "Keys": {"pk": _serialize(item["pk"]), "sk": _serialize(item["sk"])},
            "SequenceNumber": "100",
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }
    if new is not None:
        record["dynamodb"]["NewImage"] = {k: _serialize(v) for k, v in new.items()}
    if old is not None:
        record["dynamodb"]["OldImage"] = {k: _serialize(v) for k, v in old.items()}
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


def test_input_template_keeps_the_key_and_new_image_and_drops_the_old_image() -> None:
    template = PIPE["TargetParameters"]["InputTemplate"]
    assert "<$.dynamodb.Keys.pk.S>" in template
    assert "<$.dynamodb.NewImage>" in template
    assert "OldImage" not in template


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


def test_claim_is_a_conditional_write_on_status_requested() -> None:
    claim = ASL["States"][ASL["StartAt"]]
    assert claim["Resource"].endswith(":::dynamodb:updateItem")
    assert claim["Arguments"]["ConditionExpression"] == "#status = :requested"
    caught = {c["ErrorEquals"][0]: c["Next"] for c in claim["Catch"]}
    assert ASL["States"][caught["DynamoDB.ConditionalCheckFailedException"]]["Type"] == "Succeed"


def test_every_status_write_after_the_claim_is_conditional_on_the_claiming_execution() -> None:
    for name, state in ALL_STATES.items():
        if state.get("Resource", "").endswith(":::dynamodb:updateItem") and name != "ClaimRun":
            assert "#execution = :execution" in state["Arguments"]["ConditionExpression"], name


def test_variant_concurrency_comes_from_the_max_concurrency_parameter() -> None:
    assert ALL_STATES["RunVariants"]["MaxConcurrency"] == "{% ${MaxConcurrency} %}"
    assert STATE_MACHINE["DefinitionSubstitutions"]["MaxConcurrency"] == {"Ref": "MaxConcurrency"}


# ------------------------------------------------------------------ Batch
def test_job_definition_is_fargate_with_timeout_retry_strategy_roles_and_logs() -> None:
    job = only("AWS::Batch::JobDefinition")
    assert job["PlatformCapabilities"] == ["FARGATE"]
    assert job["PropagateTags"] is True
    assert job["Timeout"]["AttemptDurationSeconds"] > 0
    retry = job["RetryStrategy"]
    assert retry["Attempts"] == {"Ref": "JobAttempts"}
    assert CFN["Parameters"]["JobAttempts"]["Default"] > 1
    actions = {rule["Action"] for rule in retry["EvaluateOnExit"]}
    assert actions == {"RETRY", "EXIT"}
    container = job["ContainerProperties"]
    assert {"JobRoleArn", "ExecutionRoleArn", "LogConfiguration"} <= set(container)
    # Fargate Spot has no arm64.
    assert container["RuntimePlatform"]["CpuArchitecture"] == "X86_64"


def test_job_definition_points_at_the_job_sources_in_jobs() -> None:
    metadata = SAM["Resources"]["KmerCountJobDefinition"]["Metadata"]
    context = REPO_ROOT / metadata["DockerContext"]
    assert (context / metadata["Dockerfile"]).is_file()
    command = SAM["Resources"]["KmerCountJobDefinition"]["Properties"]["ContainerProperties"][
        "Command"
    ]
    assert (context / command[-1]).is_file()


def test_on_demand_and_spot_queues_each_have_their_fargate_environment() -> None:
    kinds = {}
    for queue in resources_of_type(CFN, "AWS::Batch::JobQueue").values():
        (order,) = queue["Properties"]["ComputeEnvironmentOrder"]
        environment = RESOURCES[order["ComputeEnvironment"]["Ref"]]["Properties"]
        kinds[environment["ComputeResources"]["Type"]] = queue
    assert set(kinds) == {"FARGATE", "FARGATE_SPOT"}


def test_network_settings_are_parameters() -> None:
    for environment in resources_of_type(CFN, "AWS::Batch::ComputeEnvironment").values():
        resources = environment["Properties"]["ComputeResources"]
        assert resources["Subnets"] == {"Ref": "SubnetIds"}
        assert resources["SecurityGroupIds"] == {"Ref": "SecurityGroupIds"}


# ------------------------------------------------------------------ Lambda
FUNCTIONS = resources_of_type(SAM, "AWS::Serverless::Function")


def test_there_is_a_function_for_each_step_of_the_workflow() -> None:
    assert set(FUNCTIONS) == {
        "ValidateRequestFunction",
        "PrepareVariantFunction",
        "CollectMetricsFunction",
        "SummarizeRunFunction",
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
}
NOT_TAGGABLE = {"AWS::S3::BucketPolicy", "AWS::Lambda::LayerVersion"}


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
def test_alarms_watch_failed_executions_and_the_dead_letter_queue() -> None:
    watched = {
        (a["Properties"]["Namespace"], a["Properties"]["MetricName"])
        for a in resources_of_type(CFN, "AWS::CloudWatch::Alarm").values()
    }
    assert ("AWS/States", "ExecutionsFailed") in watched
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible") in watched


def test_outputs_name_the_table_workflow_pipe_and_queue() -> None:
    outputs = {name: o["Value"] for name, o in SAM["Outputs"].items()}
    assert outputs["RunsTableName"] == {"Ref": "RunsTable"}
    assert outputs["RunWorkflowArn"] == {"Ref": "RunWorkflow"}
    assert outputs["RunsPipeArn"] == {"Fn::GetAtt": ["RunsPipe", "Arn"]}
    assert outputs["PipeDeadLetterQueueUrl"] == {"Ref": "PipeDeadLetterQueue"}


# ------------------------------------------------------------------ samconfig
def test_samconfig_has_default_dev_prod_resolves_s3_lints_and_holds_no_account_id() -> None:
    text = (REPO_ROOT / "samconfig.toml").read_text()
    config = tomllib.loads(text)
    assert {"default", "dev", "prod"} <= set(config)
    for env in ("default", "dev", "prod"):
        assert config[env]["deploy"]["parameters"]["resolve_s3"] is True
        assert config[env]["validate"]["parameters"]["lint"] is True
    assert not re.search(r"\b\d{12}\b", text)


# ------------------------------------------------------------------ reading it
def _in_a_fresh_interpreter(code: str, result: str) -> dict[str, Any]:
    """Run ``code`` in a new Python; return ``result`` (an expression) and which of
    cfn-lint, the SAM translator and sympy it imported, as ``{"here": [...], "result": ...}``.
    """
    script = (
        f"import json, sys\n{code}\nresult = {result}\n"
        "here = sorted({'cfnlint', 'samtranslator', 'sympy'} & sys.modules.keys())\n"
        "print(json.dumps({'here': here, 'result': result}))\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    read: dict[str, Any] = json.loads(child.stdout)
    return read


def test_load_both_reads_the_template_in_a_child_and_keeps_cfn_lint_out_of_the_caller() -> None:
    read = _in_a_fresh_interpreter("from runledger.sam_template import load_both", "load_both()")
    assert read["here"] == []
    sam, cfn = read["result"]
    assert sam == json.loads(json.dumps(SAM, default=str))
    assert cfn == json.loads(json.dumps(CFN, default=str))


def test_read_ahead_starts_the_child_that_load_both_then_waits_for() -> None:
    # The local cloud starts moto while the child reads the template, not after.
    read = _in_a_fresh_interpreter(
        "import subprocess\n"
        "from runledger import sam_template\n"
        "started = []\n"
        "class Counted(subprocess.Popen):\n"
        "    def __init__(self, *args, **kwargs):\n"
        "        started.append(args[0])\n"
        "        super().__init__(*args, **kwargs)\n"
        "subprocess.Popen = Counted\n"
        "sam_template.read_ahead()\n"
        "reading = [child.poll() is None for child in sam_template._reading.values()]\n"
        "both = sam_template.load_both()",
        "[len(started), reading, len(sam_template._reading), both]",
    )
    assert read["here"] == []
    children, reading, left, (sam, cfn) = read["result"]
    assert reading == [True]  # read_ahead returned while its child was still reading
    assert children == 1  # load_both waited for that child instead of starting another
    assert left == 0
    assert sam == json.loads(json.dumps(SAM, default=str))
    assert cfn == json.loads(json.dumps(CFN, default=str))


def test_reports_and_graphs_read_the_template_without_cfn_lint_in_the_process() -> None:
    # `runledger local run` writes its reports at the end: they would import cfn-lint
    # (and sympy) into the engine's process, to read what the local cloud had read.
    read = _in_a_fresh_interpreter(
        "from runledger.sam_template import load_both\n"
        "load_both()  # as the local cloud does\n"
        "from runledger.graph import workflow_definition_path\n"
        "from runledger.report import table_output_key",
        "[str(workflow_definition_path()), table_output_key()]",
    )
    assert read["here"] == []
    definition, output = read["result"]
    machine = SAM["Resources"]["RunWorkflow"]["Properties"]["DefinitionUri"]
    assert definition == str(REPO_ROOT / machine)
    assert SAM["Outputs"][output]["Value"] == {"Ref": "RunsTable"}


def test_load_both_names_the_template_and_the_reason_it_cannot_be_read(tmp_path: Path) -> None:
    broken = tmp_path / "template.yaml"
    broken.write_text("Resources:\n  Table: [unclosed\n")
    with pytest.raises(ValueError, match=r"template\.yaml cannot be read: .*does not parse"):
        _load_both_in_child(broken)
